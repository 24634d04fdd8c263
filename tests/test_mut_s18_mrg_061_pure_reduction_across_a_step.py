"""MRG-061: a pure reduction is never charged a chosen-tier extra, even one that crosses the position's own risk step
(helper mut18, session 17; a hand mutant of ``OrderEntry.order_requirement``).

``order_requirement`` adds the chosen tier's extra of an order's fill when MRG-060 asks nothing only for an order that
opens contracts (``|signed|`` beyond what it can reduce).  A reduction that takes a position below one of its own risk
steps *raises* the gap between the chosen tier and the own steps (the own tier falls, the chosen one stays), so
``_chosen_tier_extra`` is positive for it; without the reduction test the mutant charged it and refused the owner's
sell.  Here the owner is long 10,500,000 XBTUSD at 50,000.00 (210 XBT: own step 1 of the 200 XBT base and 150 XBT
steps) at tier 3, the mark falls to 49,500.00, and a sell of 510,000 (to 9,990,000, 199.8 XBT: own step 0) is accepted.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.exchange import Engine
from tests.test_s16_chosen_tier_orders import ETH_MARK, MAKER, OWNER, XBT_MARK, E, X, below, ok


def test_mrg_061_a_pure_reduction_crossing_an_own_risk_step_is_accepted_at_a_chosen_tier() -> None:
    engine = Engine()
    inst = engine.instrument_map[X]
    for who, amount in ((OWNER, 7 * 10**8), (MAKER, 10**13)):
        ok(engine, c.VerifyAccount(time_ms=0, account=who))
        ok(engine, c.Deposit(time_ms=0, account=who, asset="XBt", amount=amount))
    ok(engine, c.PriceUpdate(time_ms=0, symbol=X, mark_price=XBT_MARK, index_price=XBT_MARK))
    ok(engine, c.SetRiskLimit(time_ms=0, account=MAKER, symbol=X, risk_limit=inst.risk_limit + inst.risk_step))
    ok(engine, c.SetRiskLimit(time_ms=0, account=OWNER, symbol=X, risk_limit=inst.risk_limit + 3 * inst.risk_step))
    for qty in (10_000_000, 500_000):  # maxOrderQty is 10,000,000
        ok(engine, c.PlaceOrder(time_ms=0, account=MAKER, symbol=X, side="Sell", order_qty=qty, price=XBT_MARK))
        ok(engine, c.PlaceOrder(time_ms=0, account=OWNER, symbol=X, side="Buy", order_qty=qty, price=XBT_MARK))
    account = engine.accounts[OWNER]
    ps = account.positions[X]
    assert (ps.qty, ps.chosen_tier) == (10_500_000, 3)
    ok(engine, c.PriceUpdate(time_ms=1, symbol=X, mark_price=4_950_000, index_price=4_950_000))
    assert (ps.qty, ps.chosen_tier) == (10_500_000, 3)  # not liquidated
    assert engine.available(OWNER, "XBt") - engine.risk.held_tier_extras(account, "XBt") < 0  # nothing free
    ok(engine, c.PlaceOrder(time_ms=2, account=MAKER, symbol=X, side="Buy", order_qty=510_000, price=4_950_000))
    ok(engine, c.PlaceOrder(time_ms=2, account=OWNER, symbol=X, side="Sell", order_qty=510_000, price=4_950_000))
    assert ps.qty == 9_990_000
    assert not below(engine)


def test_mrg_061_a_buy_adding_to_a_long_is_an_opening_order_charged_its_extra() -> None:
    """``order_requirement``'s reduction test reads the order's own side: a buy on a long reduces nothing (``reducible``
    of a buy is the short's size, 0 here), so with MRG-060 at 0 it is charged its fill's chosen-tier extra.  The
    mutant asking what a *sell* could reduce (the whole long) took a buy of up to 100,000 for a reduction, free."""
    engine = Engine()
    inst = engine.instrument_map[X]
    for who, amount in ((OWNER, 60_000_000), (MAKER, 10**13)):
        ok(engine, c.VerifyAccount(time_ms=0, account=who))
        ok(engine, c.Deposit(time_ms=0, account=who, asset="XBt", amount=amount))
    ok(engine, c.PriceUpdate(time_ms=0, symbol=X, mark_price=XBT_MARK, index_price=XBT_MARK))
    ok(engine, c.PlaceOrder(time_ms=0, account=MAKER, symbol=X, side="Sell", order_qty=100_000, price=XBT_MARK))
    ok(engine, c.PlaceOrder(time_ms=0, account=OWNER, symbol=X, side="Buy", order_qty=100_000, price=XBT_MARK))
    ok(engine, c.SetRiskLimit(time_ms=1, account=OWNER, symbol=X, risk_limit=inst.risk_limit + 5 * inst.risk_step))
    ps = engine.accounts[OWNER].positions[X]
    for qty in (500, 50_000, 100_000):
        extra = engine.entry._chosen_tier_extra(inst, ps, qty, XBT_MARK)
        assert extra > 0
        assert engine.entry.order_requirement(inst, ps, qty, XBT_MARK, 0) == extra
        assert engine.entry.order_requirement(inst, ps, -qty, XBT_MARK, 0) == 0  # a sell of as much reduces


def test_mrg_061_an_mrg_060_figure_of_one_satoshi_gets_the_extra_added() -> None:
    """``order_requirement`` adds the extra to any positive MRG-060 figure, 1 included (the mutant ``requirement > 1``
    sent a figure of 1 to the second branch, which asks the extra alone: one satoshi short)."""
    engine = Engine()
    inst = engine.instrument_map[X]
    for who, amount in ((OWNER, 60_000_000), (MAKER, 10**13)):
        ok(engine, c.VerifyAccount(time_ms=0, account=who))
        ok(engine, c.Deposit(time_ms=0, account=who, asset="XBt", amount=amount))
    ok(engine, c.PriceUpdate(time_ms=0, symbol=X, mark_price=XBT_MARK, index_price=XBT_MARK))
    ok(engine, c.SetRiskLimit(time_ms=1, account=OWNER, symbol=X, risk_limit=inst.risk_limit + 5 * inst.risk_step))
    ps = engine.accounts[OWNER].positions[X]
    extra = engine.entry._chosen_tier_extra(inst, ps, 100_000, XBT_MARK)
    assert extra > 0
    assert [engine.entry.order_requirement(inst, ps, 100_000, XBT_MARK, r) for r in (0, 1, 2)] == [extra, extra + 1, extra + 2]


def test_mrg_061_tier_1_and_a_one_contract_buy_are_charged_like_any_opening_order() -> None:
    """ETHUSD (lot 1): the owner long 100 at tier 1.  A buy of 1 contract (and of 10) adds to the long: with MRG-060 at
    0 it is charged its fill's extra at tier 1 (the mutants ``chosen_tier == 1`` and ``signed > 1`` took it for a base
    tier or for a sell that reduces, and charged nothing)."""
    engine = Engine()
    inst = engine.instrument_map[E]
    for who, amount in ((OWNER, 10**9), (MAKER, 10**13)):
        ok(engine, c.VerifyAccount(time_ms=0, account=who))
        ok(engine, c.Deposit(time_ms=0, account=who, asset="XBt", amount=amount))
    ok(engine, c.PriceUpdate(time_ms=0, symbol=E, mark_price=ETH_MARK, index_price=ETH_MARK))
    ok(engine, c.PlaceOrder(time_ms=0, account=MAKER, symbol=E, side="Sell", order_qty=100, price=ETH_MARK))
    ok(engine, c.PlaceOrder(time_ms=0, account=OWNER, symbol=E, side="Buy", order_qty=100, price=ETH_MARK))
    ok(engine, c.SetRiskLimit(time_ms=1, account=OWNER, symbol=E, risk_limit=inst.risk_limit + inst.risk_step))
    ps = engine.accounts[OWNER].positions[E]
    assert (ps.qty, ps.chosen_tier) == (100, 1)
    for qty in (1, 10):
        extra = engine.entry._chosen_tier_extra(inst, ps, qty, ETH_MARK)
        assert extra > 0
        assert engine.entry.order_requirement(inst, ps, qty, ETH_MARK, 0) == extra
        assert engine.entry.order_requirement(inst, ps, -qty, ETH_MARK, 0) == 0  # a sell of as much reduces
