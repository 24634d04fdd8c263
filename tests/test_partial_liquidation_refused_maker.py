"""LIQ-022: a partial liquidation's FillOrKill is killed when a maker the sweep's guard refuses would be needed.

Found by the lead in session 12, reading the engine's path around each rule after the close-out find
(tests/test_attack11_open_insurance_nonneg.py).  The whale of tests/test_engine_liquidation.py (a cross ETHUSD long
of 25,000 at 3,000.00, one risk step above the base limit) is partially liquidated when the mark falls to 2,910.00:
LIQ-022 plans a FillOrKill sale of 8,334 contracts.  The book holds 10,000 above the plan's limit: account 3's bid of
5,000 at 3,050.00, which closes its short of 5,000 at 2,950.00 exactly, and account 2's 5,000 at 2,920.00.  Two
funding ticks have since taken account 3's wallet below the 50,000,000 XBt that closing at 3,050.00 loses, so
LIQ-054 refuses that maker (its cross pool would be left owing with no position).

Before: the FillOrKill was checked against the book's quantity only (``Book.can_fill``), swept, met the refused
maker, and filled 5,000 of its 8,334 — a FillOrKill partly filled — after which the pool (now above maintenance:
equity 130,625,000 ≥ 124,635,000) was taken over all the same.  Now the reduction is checked by the sweep's own
guard first (``Fills.can_fill``, a dry run), killed without an order, and the pool, below maintenance, is taken
over whole; the close-out then meets the refused maker and cancels it.

Rules: LIQ-022, LIQ-054, LIQ-023 (INV-NO-FALSE-LIQUIDATION).
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Execution, RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.events import Liquidation, PartialLiquidation
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.invariants import check_all
from tests.test_engine_liquidation import XBT, open_long, setup

ETHUSD = load_instrument("ETHUSD")


def test_a_fill_or_kill_reduction_that_needs_a_refused_maker_is_killed_whole() -> None:
    engine = setup(3 * XBT)
    open_long(engine, 25_000)
    engine.process(c.VerifyAccount(time_ms=0, account=3))
    engine.process(c.Deposit(time_ms=0, account=3, asset="XBt", amount=60_000_000))
    for account, side, price in ((2, "Buy", 295_000), (3, "Sell", 295_000), (3, "Buy", 305_000)):
        placed = engine.process(c.PlaceOrder(time_ms=0, account=account, symbol="ETHUSD", side=side, order_qty=5_000,
                                             price=price))
        assert isinstance(placed[-1], Accepted)
    for time_ms in (1, 2):  # shorts pay 0.375% twice: account 3's wallet falls below what its bid would lose
        engine.process(c.FundingTick(time_ms=time_ms, symbol="ETHUSD", rate_e8=-375_000))
    assert engine.process(c.PlaceOrder(time_ms=3, account=2, symbol="ETHUSD", side="Buy", order_qty=5_000,
                                       price=292_000))[-1] == Accepted(seq=40, time_ms=3, command="PlaceOrder",
                                                                          account=2, order_id=6)
    events = engine.process(c.PriceUpdate(time_ms=3, symbol="ETHUSD", mark_price=291_000, index_price=291_000))
    records = [e.record for e in events if isinstance(e, RuleEvent)]
    [partial] = [r for r in records if isinstance(r, PartialLiquidation)]
    assert (partial.close_qty, partial.filled, partial.fills) == (8_334, False, ())
    assert [e for e in events if isinstance(e, Execution) and e.account == 1] == []  # no order was placed
    [taken] = [r for r in records if isinstance(r, Liquidation)]
    assert taken.equity < taken.maintenance  # taken over because it is below maintenance
    assert [p.qty for p in taken.taken] == [25_000]
    cancelled = [e for e in events if isinstance(e, Execution) and e.exec_type == "Canceled"]
    assert [(e.account, e.order_id) for e in cancelled] == [(3, 5)]


def test_the_red_teams_variant_takes_over_no_pool_above_maintenance() -> None:
    # session 12 red team (find_2): the refused maker is made by a withdrawal instead of funding — M shorts 5,000 at
    # 2,990.00, rests a bid of 5,000 at 3,140.00 that closes it (LIQ-042 passes), then withdraws all it may, so LIQ-054
    # refuses that bid; a market maker bids 4,000 at 2,940.00.  Before: 4,000 of the 8,334 filled, then the pool,
    # above maintenance after them (144,375,000 ≥ 130,866,750), was taken over: INV-NO-FALSE-LIQUIDATION
    engine = Engine({"ETHUSD": ETHUSD})
    engine.track_steps = True
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    for account, amount in ((1, 3 * XBT), (2, 1_000 * XBT), (3, XBT)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    open_long(engine, 25_000)
    for account, side, qty, price in ((2, "Buy", 5_000, 299_000), (3, "Sell", 5_000, 299_000), (3, "Buy", 5_000, 314_000)):
        placed = engine.process(c.PlaceOrder(time_ms=0, account=account, symbol="ETHUSD", side=side, order_qty=qty,
                                             price=price))
        assert isinstance(placed[-1], Accepted)
    amount = engine.desk.withdrawable(engine.accounts[3], "XBt")
    assert isinstance(engine.process(c.Withdraw(time_ms=0, account=3, asset="XBt", amount=amount))[-1], Accepted)
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Buy", order_qty=4_000, price=294_000))
    events = engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=294_000, index_price=294_000))
    [partial] = [e.record for e in events if isinstance(e, RuleEvent) and isinstance(e.record, PartialLiquidation)]
    assert (partial.close_qty, partial.filled, partial.fills) == (8_334, False, ())
    assert {k: v for k, v in check_all(engine, engine.step_info(events)).items() if v} == {}
