"""MRG-067's clean-up with a chosen tier on the traded contract (helper mut18, session 17; hand mutants of session 16's
lines in ``engine/core/fills.py`` and ``engine/core/risk.py``).

* MRG-067 cancels the trader's resting orders in the traded contract, newest first, only while its available balance
  net of what the chosen tiers hold (MRG-061's figure) is below zero.  Since session 17 that figure includes what the
  resting orders would add at the chosen tier (``Risk.resting_tier_extra``), so a cancellation lowers it: the loop
  reads it again after each one.  Here the owner holds XBTUSD at tier 5 and ETHUSD at tier 1, and flips its ETHUSD long
  to a short: its far take-profits (sell 90, then sell 10, at 30,000.00) become opening orders.  Cancelling the 10 is
  enough; the 90 stays.  The mutant not reading the figure again (the 10's extra still held) cancelled the 90 too.
* ``Risk.resting_tier_extra`` is 0 for an isolated position: its chosen tier holds its own margin, not the cross
  pool's, so what the cross pool holds (``held_tier_extras``) and a withdrawal are not touched by it (the mutant
  without the ``leverage != CROSS`` test held the isolated position's resting extra from the cross balance).
* ``Risk.resting_tier_extra``'s figure: the gap (``posInit + posComm`` at the chosen tier less at the own steps) of
  the position after the larger side of its resting orders filled, less the position's own gap, each side filled on
  its own from the position (exact figures; four hand mutants of the two passes and of the subtraction).
  Orders that only reduce add nothing; with no position the buy's gap is held to the satoshi.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Execution
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.fills import UNFUNDED_TEXT
from perpspec.rules.liquidation import compute_requirement
from perpspec.rules.margin import CROSS
from perpspec.rules.position import Position, apply_fill
from tests.test_s16_chosen_tier_orders import ETH_MARK, MAKER, OWNER, XBT_MARK, E, X, below, ok


def flip_with_two_take_profits(deposit: int) -> tuple[Engine, list[tuple[int, str]]]:
    """The owner long 100,000 XBTUSD at tier 5 and 400 ETHUSD at tier 1, resting sells of 90 then 10 ETHUSD at
    30,000.00; it sells 500 ETHUSD at the mark (short 100).  The cancellations of that last command."""
    engine = Engine()
    xbt, eth = engine.instrument_map[X], engine.instrument_map[E]
    for who, amount in ((OWNER, deposit), (MAKER, 10**13), (3, 10**13)):
        ok(engine, c.VerifyAccount(time_ms=0, account=who))
        ok(engine, c.Deposit(time_ms=0, account=who, asset="XBt", amount=amount))
    for s, mark in ((X, XBT_MARK), (E, ETH_MARK)):
        ok(engine, c.PriceUpdate(time_ms=0, symbol=s, mark_price=mark, index_price=mark))
    for command in (
        c.PlaceOrder(time_ms=0, account=MAKER, symbol=X, side="Sell", order_qty=100_000, price=XBT_MARK),
        c.PlaceOrder(time_ms=0, account=OWNER, symbol=X, side="Buy", order_qty=100_000, price=XBT_MARK),
        c.SetRiskLimit(time_ms=0, account=OWNER, symbol=X, risk_limit=xbt.risk_limit + 5 * xbt.risk_step),
        c.PlaceOrder(time_ms=0, account=MAKER, symbol=E, side="Sell", order_qty=400, price=ETH_MARK),
        c.PlaceOrder(time_ms=0, account=OWNER, symbol=E, side="Buy", order_qty=400, price=ETH_MARK),
        c.SetRiskLimit(time_ms=0, account=OWNER, symbol=E, risk_limit=eth.risk_limit + eth.risk_step),
        c.PlaceOrder(time_ms=0, account=OWNER, symbol=E, side="Sell", order_qty=90, price=3_000_000),
        c.PlaceOrder(time_ms=0, account=OWNER, symbol=E, side="Sell", order_qty=10, price=3_000_000),
        c.PlaceOrder(time_ms=0, account=3, symbol=E, side="Buy", order_qty=500, price=ETH_MARK),
    ):
        ok(engine, command)
    events = ok(engine, c.PlaceOrder(time_ms=0, account=OWNER, symbol=E, side="Sell", order_qty=500, price=ETH_MARK))
    return engine, [(e.order_id, e.text) for e in events if isinstance(e, Execution) and e.exec_type == "Canceled"]


def test_mrg_067_reads_the_chosen_tiers_figure_again_after_each_cancellation() -> None:
    engine, cancels = flip_with_two_take_profits(17_100_000)
    account = engine.accounts[OWNER]
    assert account.positions[E].qty == -100
    assert cancels == [(6, UNFUNDED_TEXT)]  # the newest, the 10: enough
    assert sorted(account.positions[E].orders) == [5]  # the 90 stays
    assert engine.risk.resting_tier_extra(engine.instrument_map[E], account.positions[E]) > 0  # the 90's, at tier 1
    held = engine.risk.held_tier_extras(account, "XBt")
    assert engine.available(OWNER, "XBt") - held >= 0  # and it is funded: MRG-067 had no reason to cancel it
    assert not below(engine, E)


def test_mrg_067_cancels_both_when_the_first_cancellation_is_not_enough() -> None:
    """200,000 XBt less: cancelling the 10 leaves the balance net of the chosen tiers below zero, so the 90 goes."""
    engine, cancels = flip_with_two_take_profits(16_900_000)
    assert cancels == [(6, UNFUNDED_TEXT), (5, UNFUNDED_TEXT)]
    assert not engine.accounts[OWNER].positions[E].orders


def test_mrg_061_an_isolated_positions_resting_orders_hold_nothing_of_the_cross_pool() -> None:
    """An isolated XBTUSD long at tier 5 with a resting buy: the cross pool holds no chosen-tier extra for it, so all
    of the cross balance can be withdrawn."""
    engine = Engine()
    inst = engine.instrument_map[X]
    for who, amount in ((OWNER, 100_000_000), (MAKER, 10**13)):
        ok(engine, c.VerifyAccount(time_ms=0, account=who))
        ok(engine, c.Deposit(time_ms=0, account=who, asset="XBt", amount=amount))
    ok(engine, c.PriceUpdate(time_ms=0, symbol=X, mark_price=XBT_MARK, index_price=XBT_MARK))
    ok(engine, c.SetLeverage(time_ms=0, account=OWNER, symbol=X, leverage_hundredths=1_000))  # isolated at 10x
    ok(engine, c.PlaceOrder(time_ms=0, account=MAKER, symbol=X, side="Sell", order_qty=100_000, price=XBT_MARK))
    ok(engine, c.PlaceOrder(time_ms=0, account=OWNER, symbol=X, side="Buy", order_qty=100_000, price=XBT_MARK))
    ok(engine, c.SetRiskLimit(time_ms=0, account=OWNER, symbol=X, risk_limit=inst.risk_limit + 5 * inst.risk_step))
    ok(engine, c.PlaceOrder(time_ms=0, account=OWNER, symbol=X, side="Buy", order_qty=10_000, price=4_000_000))
    account = engine.accounts[OWNER]
    ps = account.positions[X]
    assert (ps.chosen_tier, ps.qty, len(ps.orders)) == (5, 100_000, 1)
    assert engine.risk.resting_tier_extra(inst, ps) == 0
    assert engine.risk.held_tier_extras(account, "XBt") == 0
    withdrawable = engine.desk.withdrawable(account, "XBt")
    assert withdrawable == engine.available(OWNER, "XBt") > 0
    ok(engine, c.Withdraw(time_ms=1, account=OWNER, asset="XBt", amount=withdrawable))


def test_mrg_061_the_resting_orders_extra_is_the_larger_sides_fill_less_the_positions_own() -> None:
    """The owner long 100,000 XBTUSD at 50,000.00 at tier 5 (the position's own gap 5,003,750), a resting buy of 50,000
    at 40,000.00 and a resting sell of 300,000 at 60,000.00.  One side fills, not both (MRG-045): the buys would leave a
    long of 150,000 (gap 8,131,094), the sells a short of 200,000 (gap 8,339,600), so tier 5 holds 8,339,600 in all,
    3,335,850 of it for the orders.  The mutants filling only the buys, filling the sells after the buys, filling
    every order on both passes, or not taking the position's own gap off, each held a different figure."""
    engine = Engine()
    inst = engine.instrument_map[X]
    for who, amount in ((OWNER, 10**9), (MAKER, 10**13)):
        ok(engine, c.VerifyAccount(time_ms=0, account=who))
        ok(engine, c.Deposit(time_ms=0, account=who, asset="XBt", amount=amount))
    ok(engine, c.PriceUpdate(time_ms=0, symbol=X, mark_price=XBT_MARK, index_price=XBT_MARK))
    ok(engine, c.PlaceOrder(time_ms=0, account=MAKER, symbol=X, side="Sell", order_qty=100_000, price=XBT_MARK))
    ok(engine, c.PlaceOrder(time_ms=0, account=OWNER, symbol=X, side="Buy", order_qty=100_000, price=XBT_MARK))
    ok(engine, c.SetRiskLimit(time_ms=0, account=OWNER, symbol=X, risk_limit=inst.risk_limit + 5 * inst.risk_step))
    ok(engine, c.PlaceOrder(time_ms=0, account=OWNER, symbol=X, side="Buy", order_qty=50_000, price=4_000_000))
    ok(engine, c.PlaceOrder(time_ms=0, account=OWNER, symbol=X, side="Sell", order_qty=300_000, price=6_000_000))
    account = engine.accounts[OWNER]
    ps = account.positions[X]

    def gap(position: Position) -> int:
        chosen = compute_requirement(inst, position, CROSS, 5)
        own = compute_requirement(inst, position, CROSS, 0)
        return chosen.pos_init + chosen.pos_comm - own.pos_init - own.pos_comm

    buys, _ = apply_fill(inst, ps.position, 50_000, 4_000_000)
    sells, _ = apply_fill(inst, ps.position, -300_000, 6_000_000)
    assert (gap(ps.position), gap(buys), gap(sells)) == (5_003_750, 8_131_094, 8_339_600)
    assert engine.risk.cross_tier_extra(inst, ps) == 5_003_750
    assert engine.risk.resting_tier_extra(inst, ps) == 8_339_600 - 5_003_750
    assert engine.risk.held_tier_extras(account, "XBt") == 8_339_600


def _owner(deposit: int = 10**9) -> Engine:
    engine = Engine()
    for who, amount in ((OWNER, deposit), (MAKER, 10**13)):
        ok(engine, c.VerifyAccount(time_ms=0, account=who))
        ok(engine, c.Deposit(time_ms=0, account=who, asset="XBt", amount=amount))
    ok(engine, c.PriceUpdate(time_ms=0, symbol=X, mark_price=XBT_MARK, index_price=XBT_MARK))
    return engine


def _gap(engine: Engine, position: Position, tier: int) -> int:
    inst = engine.instrument_map[X]
    chosen = compute_requirement(inst, position, CROSS, tier)
    own = compute_requirement(inst, position, CROSS, 0)
    return chosen.pos_init + chosen.pos_comm - own.pos_init - own.pos_comm


def test_mrg_061_resting_orders_that_only_reduce_add_nothing_to_what_the_tier_holds() -> None:
    """Long 100,000 at tier 5 with a resting sell of 60,000 (a take-profit: it only reduces): the tier holds the
    position's own gap, 5,003,750, and nothing for the order (the mutant ``max(1, …)`` held 1 XBt more)."""
    engine = _owner()
    inst = engine.instrument_map[X]
    ok(engine, c.PlaceOrder(time_ms=0, account=MAKER, symbol=X, side="Sell", order_qty=100_000, price=XBT_MARK))
    ok(engine, c.PlaceOrder(time_ms=0, account=OWNER, symbol=X, side="Buy", order_qty=100_000, price=XBT_MARK))
    ok(engine, c.SetRiskLimit(time_ms=0, account=OWNER, symbol=X, risk_limit=inst.risk_limit + 5 * inst.risk_step))
    ok(engine, c.PlaceOrder(time_ms=0, account=OWNER, symbol=X, side="Sell", order_qty=60_000, price=6_000_000))
    account = engine.accounts[OWNER]
    ps = account.positions[X]
    assert engine.risk.resting_tier_extra(inst, ps) == 0
    assert engine.risk.held_tier_extras(account, "XBt") == 5_003_750 == _gap(engine, ps.position, 5)


def test_mrg_061_a_resting_buy_and_no_position_hold_exactly_the_buys_gap() -> None:
    """No position, tier 5 chosen, a resting buy of 100,000 at 48,500.00: the tier holds the gap of the long the buy
    would open, to the satoshi (the mutant ``max(1, base)`` held 1 XBt less)."""
    engine = _owner()
    inst = engine.instrument_map[X]
    ok(engine, c.SetRiskLimit(time_ms=0, account=OWNER, symbol=X, risk_limit=inst.risk_limit + 5 * inst.risk_step))
    ok(engine, c.PlaceOrder(time_ms=0, account=OWNER, symbol=X, side="Buy", order_qty=100_000, price=4_850_000))
    account = engine.accounts[OWNER]
    ps = account.positions[X]
    opened, _ = apply_fill(inst, ps.position, 100_000, 4_850_000)
    expected = _gap(engine, opened, 5)
    assert expected > 0
    assert engine.risk.resting_tier_extra(inst, ps) == expected
    assert engine.risk.held_tier_extras(account, "XBt") == expected


def test_mrg_061_a_one_contract_buy_fills_with_the_other_buys() -> None:
    """ETHUSD (lot 1), tier 1, no position, resting buys of 1 and 10 contracts: one side fills whole, so the tier
    holds the gap of a long of 11 (the mutant sorting orders by ``signed > 1`` put the 1-contract buy with the sells
    and held the gap of 10)."""
    engine = _owner()
    inst = engine.instrument_map[E]
    ok(engine, c.PriceUpdate(time_ms=0, symbol=E, mark_price=ETH_MARK, index_price=ETH_MARK))
    ok(engine, c.SetRiskLimit(time_ms=0, account=OWNER, symbol=E, risk_limit=inst.risk_limit + inst.risk_step))
    for qty in (1, 10):
        ok(engine, c.PlaceOrder(time_ms=0, account=OWNER, symbol=E, side="Buy", order_qty=qty, price=ETH_MARK - 1_000))
    account = engine.accounts[OWNER]
    ps = account.positions[E]

    def gap(position: Position) -> int:
        chosen = compute_requirement(inst, position, CROSS, 1)
        own = compute_requirement(inst, position, CROSS, 0)
        return chosen.pos_init + chosen.pos_comm - own.pos_init - own.pos_comm

    eleven, _ = apply_fill(inst, ps.position, 11, ETH_MARK - 1_000)
    ten, _ = apply_fill(inst, ps.position, 10, ETH_MARK - 1_000)
    assert gap(eleven) > gap(ten) > 0
    assert engine.risk.resting_tier_extra(inst, ps) == gap(eleven)
