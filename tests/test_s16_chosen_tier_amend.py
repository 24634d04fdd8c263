"""An opening order pays its chosen tier's extra even when MRG-060 asks nothing; a risk limit raised over resting
orders pays what they would hold (MRG-061, MRG-067, SetRiskLimit; review14_1, session 17).

Found by review14_1 (/work/coord/repro16/review14_1.py).  Session 16 added the chosen-tier extras (``Risk.
held_tier_extras``, ``OrderEntry._chosen_tier_extra``) only inside ``if requirement > 0``.  MRG-060's requirement is
0 whenever the contract's order margin does not rise -- an inverse buy amended up in price lowers it -- and
SetRiskLimit charged the chosen tier's extra of positions only.  So an owner with 2,500,000 XBt rested a buy of
105,300 XBTUSD at 48,500.00, raised its risk limit to tier 40 (no position: nothing charged) and amended the buy up
into an ask at 49,500.00: accepted, filled, equity ~4.47M against a chosen-tier maintenance of ~43.8M, no price move.
Without the amendment a maker's sell filled the same buy; after the raise a Withdraw took the money as well.

Now: ``OrderEntry.order_requirement`` charges an order that opens contracts the extra of its fill even when MRG-060's
figure is ≤ 0 (the general path, the fast path, AmendOrder); ``Risk.cross_tier_extras`` (so ``held_tier_extras``,
withdrawals, transfers, SetLeverage and SetRiskLimit) counts what a cross position's resting orders would add at its
chosen tier if their larger side filled (``Risk.resting_tier_extra``).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from perpspec.engine.core import commands as c
from perpspec.engine.core import entry_plain
from perpspec.engine.core.events import Accepted, Event, Reason, Rejected
from perpspec.engine.core.exchange import Engine

X, E = "XBTUSD", "ETHUSD"
XBT_MARK, ETH_MARK = 5_000_000, 300_000
OWNER, MAKER = 1, 2


def ok(engine: Engine, command: object) -> list[Event]:
    events = engine.process(command)  # type: ignore[arg-type]
    assert isinstance(events[-1], Accepted), (command, events[-1])
    return events


def engine_with(deposit: int) -> Engine:
    engine = Engine()
    for s, mark in ((X, XBT_MARK), (E, ETH_MARK)):
        ok(engine, c.PriceUpdate(time_ms=0, symbol=s, mark_price=mark, index_price=mark))
    for account, amount in ((OWNER, deposit), (MAKER, 10**11)):
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    return engine


def highest_tier(engine: Engine, top: int = 40) -> int:
    """The highest tier up to ``top`` SetRiskLimit accepts for the owner's XBTUSD (0: none)."""
    inst = engine.instrument_map[X]
    for tier in range(top, 0, -1):
        command = c.SetRiskLimit(time_ms=2, account=OWNER, symbol=X, risk_limit=inst.risk_limit + tier * inst.risk_step)
        if isinstance(engine.process(command)[-1], Accepted):
            return tier
    return 0


def below(engine: Engine, symbol: str = X) -> bool:
    account = engine.accounts[OWNER]
    ps = account.positions.get(symbol)
    return ps is not None and ps.qty != 0 and engine.risk.below_maintenance(account, symbol)


def test_review14_1_a_risk_limit_raised_over_a_resting_buy_pays_its_extra_and_the_amendment_leaves_no_deficit() -> None:
    """The reproducer: the raise is refused at every tier (the buy's extra at tier 1 is more than the 2.5M left free);
    the amendment is then an ordinary one at the base tier and the pool stays above maintenance."""
    engine = engine_with(2_500_000)
    ok(engine, c.PlaceOrder(time_ms=1, account=OWNER, symbol=X, side="Buy", order_qty=105_300, price=4_850_000))
    assert highest_tier(engine) == 0
    ok(engine, c.PlaceOrder(time_ms=3, account=MAKER, symbol=X, side="Sell", order_qty=105_300, price=4_950_000))
    [order_id] = list(engine.accounts[OWNER].positions[X].orders)
    engine.process(c.AmendOrder(time_ms=4, account=OWNER, order_id=order_id, price=4_950_000))
    assert not below(engine)


def test_review14_1_a_makers_fill_of_the_buy_after_the_raise_leaves_no_deficit() -> None:
    """Without the amendment: a maker sells into the resting buy.  The raise was refused, so the fill is at tier 0."""
    engine = engine_with(2_500_000)
    ok(engine, c.PlaceOrder(time_ms=1, account=OWNER, symbol=X, side="Buy", order_qty=105_300, price=4_850_000))
    assert highest_tier(engine) == 0
    ok(engine, c.PlaceOrder(time_ms=3, account=MAKER, symbol=X, side="Sell", order_qty=105_300, price=4_850_000))
    assert engine.accounts[OWNER].positions[X].qty == 105_300
    assert not below(engine)


def test_the_raise_is_charged_the_resting_buys_extra_and_a_withdrawal_cannot_take_it() -> None:
    """60,000,000 XBt: tier 40 is affordable over the resting buy, and the buy's extra is held from then on, so a
    Withdraw can take only what is left; the maker's fill then leaves the pool above maintenance at tier 40."""
    engine = engine_with(60_000_000)
    ok(engine, c.PlaceOrder(time_ms=1, account=OWNER, symbol=X, side="Buy", order_qty=105_300, price=4_850_000))
    assert highest_tier(engine) == 40
    account = engine.accounts[OWNER]
    held = engine.risk.held_tier_extras(account, "XBt")
    ps = account.positions[X]
    assert held == engine.risk.resting_tier_extra(engine.instrument_map[X], ps) > 40_000_000
    withdrawable = engine.desk.withdrawable(account, "XBt")
    assert withdrawable < 60_000_000 - held
    refused = engine.process(c.Withdraw(time_ms=3, account=OWNER, asset="XBt", amount=withdrawable + 1))[-1]
    assert isinstance(refused, Rejected)
    ok(engine, c.Withdraw(time_ms=3, account=OWNER, asset="XBt", amount=withdrawable))
    ok(engine, c.PlaceOrder(time_ms=4, account=MAKER, symbol=X, side="Sell", order_qty=105_300, price=4_850_000))
    assert ps.qty == 105_300
    assert ps.chosen_tier == 40
    assert not below(engine)


def owner_with_a_loss() -> tuple[Engine, int]:
    """25,000,000 XBt, long 1,000 ETHUSD, a resting XBTUSD buy at tier 10 (affordable), then the ETHUSD mark falls
    to 2,800.00: MRG-050's available balance net of what the tier holds is now far below zero, though no pool is
    below maintenance.  Returns the engine and the buy's order id."""
    engine = engine_with(25_000_000)
    inst = engine.instrument_map[X]
    ok(engine, c.PlaceOrder(time_ms=0, account=MAKER, symbol=E, side="Sell", order_qty=1_000, price=ETH_MARK))
    ok(engine, c.PlaceOrder(time_ms=0, account=OWNER, symbol=E, side="Buy", order_qty=1_000, price=ETH_MARK))
    ok(engine, c.PlaceOrder(time_ms=1, account=OWNER, symbol=X, side="Buy", order_qty=105_300, price=4_850_000))
    ok(engine, c.SetRiskLimit(time_ms=2, account=OWNER, symbol=X, risk_limit=inst.risk_limit + 10 * inst.risk_step))
    ok(engine, c.PriceUpdate(time_ms=3, symbol=E, mark_price=280_000, index_price=280_000))
    account = engine.accounts[OWNER]
    assert engine.available(OWNER, "XBt") - engine.risk.held_tier_extras(account, "XBt") < 0
    assert not engine.risk.below_maintenance(account, E)
    ok(engine, c.PlaceOrder(time_ms=3, account=MAKER, symbol=X, side="Sell", order_qty=105_300, price=4_950_000))
    [order_id] = list(account.positions[X].orders)
    return engine, order_id


def test_mrg_061_an_amendment_mrg_060_charges_nothing_still_pays_the_fills_chosen_tier_extra() -> None:
    """The inverse buy amended up into the ask lowers its order margin (MRG-060: 0), but its fill would add tier 10's
    extra to a pool that cannot pay it: refused, nothing changed (before: accepted, filled, below maintenance)."""
    engine, order_id = owner_with_a_loss()
    refused = engine.process(c.AmendOrder(time_ms=4, account=OWNER, order_id=order_id, price=4_950_000))[-1]
    assert isinstance(refused, Rejected)
    assert refused.reason is Reason.INSUFFICIENT_MARGIN
    assert refused.text.startswith("needs 10644331, ")
    assert engine.registry.live_orders[order_id].price == 4_850_000
    assert engine.accounts[OWNER].positions[X].qty == 0
    assert not below(engine)


def offer_then_tier(deposit: int) -> Engine:
    """The owner rests an offer of 200,000 XBTUSD at 55,000.00 and raises its risk limit to tier 5 over it."""
    engine = engine_with(deposit)
    inst = engine.instrument_map[X]
    ok(engine, c.PlaceOrder(time_ms=1, account=OWNER, symbol=X, side="Sell", order_qty=200_000, price=5_500_000))
    ok(engine, c.SetRiskLimit(time_ms=1, account=OWNER, symbol=X, risk_limit=inst.risk_limit + 5 * inst.risk_step))
    engine.stream.time_ms = 1
    return engine


def test_mrg_061_an_opening_orders_requirement_is_at_least_its_fills_chosen_tier_extra() -> None:
    """``OrderEntry.order_requirement`` (the general path, the fast path and AmendOrder all call it when MRG-060's
    figure is ≤ 0 at a chosen tier): a buy of 100,000 under a resting offer at tier 5 needs its fill's extra even
    when MRG-060 gives 0 or less; above 0 the extra is added as before."""
    engine = offer_then_tier(25_000_000)
    inst = engine.instrument_map[X]
    ps = engine.accounts[OWNER].positions[X]
    extra = engine.entry._chosen_tier_extra(inst, ps, 100_000, 4_900_000)
    assert extra == 5_105_876
    for requirement in (0, -1_000_000):
        assert engine.entry.order_requirement(inst, ps, 100_000, 4_900_000, requirement) == extra
    assert engine.entry.order_requirement(inst, ps, 100_000, 4_900_000, 7) == extra + 7
    ps.chosen_tier = 0  # the base tier: MRG-060's figure as it is
    assert engine.entry.order_requirement(inst, ps, 100_000, 4_900_000, 0) == 0


def test_mrg_061_a_pure_reduction_is_never_charged_an_extra() -> None:
    """A sell no larger than the long position reduces it: MRG-061's requirement stays MRG-060's."""
    engine = engine_with(60_000_000)
    inst = engine.instrument_map[X]
    ok(engine, c.PlaceOrder(time_ms=0, account=MAKER, symbol=X, side="Sell", order_qty=100_000, price=XBT_MARK))
    ok(engine, c.PlaceOrder(time_ms=0, account=OWNER, symbol=X, side="Buy", order_qty=100_000, price=XBT_MARK))
    ok(engine, c.SetRiskLimit(time_ms=1, account=OWNER, symbol=X, risk_limit=inst.risk_limit + 5 * inst.risk_step))
    ps = engine.accounts[OWNER].positions[X]
    for qty in (500, 50_000, 100_000):
        assert engine.entry.order_requirement(inst, ps, -qty, XBT_MARK, 0) == 0
    assert engine.entry.order_requirement(inst, ps, -100_500, XBT_MARK, 0) >= 0


# -- generated: orders, price-only amendments that lower the order margin, risk limits raised between placing and
# filling, withdrawals and makers' fills; the owner's pool never goes below maintenance at its chosen tier ---------

STEPS = st.lists(
    st.tuples(
        st.sampled_from(["place", "place", "reprice", "amend", "tier", "tier", "fill", "fill", "withdraw"]),
        st.sampled_from([X, X, E]),
        st.sampled_from(["Buy", "Sell"]),
        st.sampled_from([1, 2, 5, 20, 100, 200]),  # lots (XBTUSD ×500, ETHUSD ×10)
        st.integers(-5, 5),  # price: mark ± steps of 0.2%
        st.integers(0, 40),  # tier / order choice
    ),
    min_size=1,
    max_size=12,
)


def pools_below(engine: Engine) -> dict[str, bool]:
    account = engine.accounts[OWNER]
    return {engine.risk.pool_key(account, s): engine.risk.below_maintenance(account, s)
            for s, ps in account.positions.items() if ps.qty}


REVIEW14_1 = [("place", X, "Buy", 200, -3, 0), ("tier", X, "Buy", 1, 0, 40), ("reprice", X, "Buy", 1, 1, 0)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(STEPS, st.sampled_from([2_500_000, 10_000_000, 30_000_000, 60_000_000]))
@example(REVIEW14_1, 2_500_000)  # the reproducer
@example([*REVIEW14_1[:2], ("fill", X, "Sell", 1, 0, 0)], 2_500_000)  # a maker's fill instead of the amendment
@example([*REVIEW14_1[:2], ("withdraw", X, "Buy", 1, 0, 0), ("fill", X, "Sell", 1, 0, 0)], 60_000_000)
def test_no_owner_command_or_makers_fill_takes_the_pool_below_maintenance_at_its_chosen_tier(
    steps: list[tuple[str, str, str, int, int, int]], deposit: int
) -> None:
    """No price move: after every accepted command of the owner (PlaceOrder, AmendOrder moving only the price or the
    quantity too, SetRiskLimit at the highest tier it accepts, the largest Withdraw) and every maker's order filling
    the owner's resting orders, no pool of the owner is below maintenance unless it was before."""
    engine = engine_with(deposit)
    account = engine.accounts[OWNER]
    for n, (kind, symbol, side, lots, step, choice) in enumerate(steps):
        inst = engine.instrument_map[symbol]
        mark = XBT_MARK if symbol == X else ETH_MARK
        tick_step = mark // 500 // inst.tick_size * inst.tick_size
        price = mark + step * tick_step
        qty = lots * (500 if symbol == X else 10)
        command: Any
        live = sorted(account.orders)
        if kind == "place":
            command = c.PlaceOrder(time_ms=1, account=OWNER, symbol=symbol, side=side, order_qty=qty, price=price)
        elif kind in ("reprice", "amend"):
            if not live:
                continue
            order = engine.registry.live_orders[live[choice % len(live)]]
            oinst = engine.instrument_map[order.symbol]
            omark = XBT_MARK if order.symbol == X else ETH_MARK
            oprice = omark + step * (omark // 500 // oinst.tick_size * oinst.tick_size)
            # a price only (an inverse buy moved up or a quanto sell moved down lowers MRG-060's figure), or both
            command = (c.AmendOrder(time_ms=1, account=OWNER, order_id=order.order_id, price=oprice) if kind == "reprice"
                       else c.AmendOrder(time_ms=1, account=OWNER, order_id=order.order_id, price=oprice,
                                         order_qty=order.cum_qty + lots * oinst.lot_size))
        elif kind == "tier":
            before = pools_below(engine)
            for tier in range(choice, 0, -1):
                if isinstance(engine.process(c.SetRiskLimit(time_ms=1, account=OWNER, symbol=symbol,
                                                            risk_limit=inst.risk_limit + tier * inst.risk_step))[-1],
                              Accepted):
                    break
            for pool, is_below in pools_below(engine).items():
                assert not is_below or before.get(pool, False), (n, "tier", pool)
            continue
        elif kind == "withdraw":
            amount = engine.desk.withdrawable(account, "XBt")
            if amount <= 0:
                continue
            command = c.Withdraw(time_ms=1, account=OWNER, asset="XBt", amount=amount)
        else:  # a maker fills the owner's resting order in full at its price (not the owner's decision: judged too)
            if not live:
                continue
            order = engine.registry.live_orders[live[choice % len(live)]]
            command = c.PlaceOrder(time_ms=1, account=MAKER, symbol=order.symbol, side="Sell" if order.is_buy else "Buy",
                                   order_qty=order.leaves_qty, price=order.price, time_in_force="ImmediateOrCancel")
        before = pools_below(engine)
        events = engine.process(command)
        if isinstance(events[-1], Accepted):
            for pool, is_below in pools_below(engine).items():
                assert not is_below or before.get(pool, False), (n, command, pool)


# -- the fast path against the general path, with chosen tiers -----------------------------------------------------


def test_the_fast_path_gives_the_general_paths_events_and_state_with_chosen_tiers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """tests/test_entry_plain.py's comparison (the plain resting path on and off; the lean sweep on and off, as
    tests/test_entry_sweep.py) over a stream where accounts choose risk tiers between their orders, amend prices and
    trade: the same events and state hash either way."""
    import random

    from perpspec.engine.core import exchange as exchange_module

    rng = random.Random(17)
    commands: list[Any] = [c.PriceUpdate(time_ms=0, symbol=X, mark_price=XBT_MARK, index_price=XBT_MARK)]
    for account, amount in ((1, 3_000_000), (2, 30_000_000), (3, 10**10), (4, 80_000_000)):
        commands += [c.VerifyAccount(time_ms=0, account=account),
                     c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount)]
    inst = Engine().instrument_map[X]
    for step in range(600):
        account = rng.choice((1, 2, 3, 4))
        roll = rng.random()
        if roll < 0.15:
            commands.append(c.SetRiskLimit(time_ms=0, account=account, symbol=X,
                                           risk_limit=inst.risk_limit + rng.choice((0, 1, 3, 8, 20, 40)) * inst.risk_step))
        elif roll < 0.25:
            commands.append(c.AmendOrder(time_ms=0, account=account, order_id=rng.randint(1, step + 1),
                                         price=XBT_MARK + rng.randint(-8, 8) * 5_000))
        else:
            commands.append(c.PlaceOrder(time_ms=0, account=account, symbol=X, side=rng.choice(("Buy", "Sell")),
                                         order_qty=rng.choice((500, 5_000, 50_000, 100_000)),
                                         price=XBT_MARK + rng.randint(-8, 8) * 5_000))

    def run(fast: bool) -> tuple[list[Event], str, int]:
        with monkeypatch.context() as patch:
            calls = [0]

            real = entry_plain.place_resting

            def handled(entry: Any, values: tuple[object, ...]) -> int:
                placed = real(entry, values)
                if placed != entry_plain.NOT_HANDLED:
                    account = entry.ledger.accounts[values[1]]
                    calls[0] += any(ps.chosen_tier for ps in account.positions.values())
                return placed

            patch.setattr(exchange_module, "place_resting",
                          handled if fast else (lambda entry, values: entry_plain.NOT_HANDLED))
            patch.setattr(entry_plain, "SWEEPS", fast)
            engine = Engine()
            events: list[Event] = []
            for command in commands:
                events.extend(engine.process(command))
            return events, engine.state_hash(), calls[0]

    fast_events, fast_hash, at_tiers = run(True)
    slow_events, slow_hash, _ = run(False)
    assert fast_events == slow_events
    assert fast_hash == slow_hash
    assert at_tiers > 0  # the fast path took orders of accounts at a chosen tier
    refused = [e for e in slow_events if isinstance(e, Rejected) and e.command == "SetRiskLimit"]
    assert refused
    assert len(refused) < sum(1 for x in commands if isinstance(x, c.SetRiskLimit))
