"""The engine's waterfall through public commands: what it counts, the ids it uses, and who can be deleveraged.

Found by ``python -m tests.mutation engine/core/waterfall.py``: the waterfall's statistics (read by
``perpspec simulate``'s report), the order id a partial liquidation's FillOrKill takes, and ADL of account 0 were
never pinned.  Scenarios of tests/test_engine_liquidation.py (ETHUSD, one long of 25,000 at 3,000).
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Event, Execution, RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.events import AdlFill, InsuranceMovement, Liquidation
from perpspec.rules.instrument_file import load_instrument
from tests.test_engine_liquidation import XBT, open_long, rules_fired, setup

ETHUSD = load_instrument("ETHUSD")


def _mark(engine: Engine, price: int, time_ms: int = 0) -> list[Event]:
    return engine.process(c.PriceUpdate(time_ms=time_ms, symbol="ETHUSD", mark_price=price, index_price=price))


def test_a_partial_liquidation_is_counted_once_and_its_fill_or_kill_takes_one_order_id() -> None:
    engine = setup(3 * XBT)
    open_long(engine, 25_000)
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Buy", order_qty=20_000, price=294_000))
    next_id = engine.next_order_id
    events = _mark(engine, 294_000)
    assert rules_fired(events).count("PartialLiquidation") == 1
    assert (engine.stats.get("partial_liquidations"), engine.stats.get("liquidations", 0)) == (1, 0)
    assert engine.next_order_id == next_id + 1  # the FillOrKill order, and nothing else


def test_a_take_over_and_its_adl_are_counted() -> None:
    engine = setup(3 * XBT)
    open_long(engine, 25_000)
    _mark(engine, 294_000)
    events = _mark(engine, 270_000, 1)
    adl_fills = [e.record for e in events if isinstance(e, RuleEvent) and isinstance(e.record, AdlFill)]
    assert (engine.stats.get("liquidations"), engine.stats.get("adl_fills")) == (1, len(adl_fills))
    assert len(adl_fills) >= 1


def test_account_0_is_deleveraged_like_any_other_account() -> None:
    # the same crash with the only opposing short held by account 0 (the liquidation engine's ids are negative)
    engine = Engine({"ETHUSD": ETHUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    for account, amount in ((1, 3 * XBT), (0, 1_000 * XBT)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    engine.process(c.SetRiskLimit(time_ms=0, account=0, symbol="ETHUSD", risk_limit=ETHUSD.risk_limit + 4 * ETHUSD.risk_step))
    engine.process(c.SetRiskLimit(time_ms=0, account=1, symbol="ETHUSD", risk_limit=ETHUSD.risk_limit + ETHUSD.risk_step))
    engine.process(c.PlaceOrder(time_ms=0, account=0, symbol="ETHUSD", side="Sell", order_qty=25_000, price=300_000))
    engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=25_000, price=300_000))
    _mark(engine, 294_000)
    events = _mark(engine, 270_000, 1)
    assert [e.record.account_id for e in events if isinstance(e, RuleEvent) and isinstance(e.record, AdlFill)] == [0]
    assert (engine.positions(1), engine.positions(0)) == ({}, {})
    assert "AdlShortfall" not in [e.kind for e in events if isinstance(e, RuleEvent)]


def test_a_cross_take_over_reports_its_pool_and_moves_its_residual_margin_outside_any_close_out() -> None:
    engine = setup(3 * XBT)
    open_long(engine, 25_000)  # cross: the default leverage
    events = _mark(engine, 294_000)
    records = [e.record for e in events if isinstance(e, RuleEvent)]
    [liquidation] = [r for r in records if isinstance(r, Liquidation)]
    residual = [r for r in records if isinstance(r, InsuranceMovement) and r.rule_id == "INS-011"]
    assert (liquidation.pool, liquidation.account_id) == ("cross:XBt", 1)
    assert [(r.kind, r.pending_id) for r in residual] == [("residual", -1)]  # INS-011: the pool's leftover margin


def test_adl_closes_a_one_contract_short_after_the_larger_one() -> None:
    # two opposing shorts at the same price: equal scores, the larger first (ADL-002); the second takes 1 lot
    engine = Engine({"ETHUSD": ETHUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    for account, amount in ((1, 3 * XBT), (2, 1_000 * XBT), (3, XBT)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    for account, steps in ((1, 1), (2, 4)):
        limit = ETHUSD.risk_limit + steps * ETHUSD.risk_step
        engine.process(c.SetRiskLimit(time_ms=0, account=account, symbol="ETHUSD", risk_limit=limit))
    for account, qty in ((2, 24_999), (3, 1)):
        engine.process(c.PlaceOrder(time_ms=0, account=account, symbol="ETHUSD", side="Sell", order_qty=qty, price=300_000))
    engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=25_000, price=300_000))
    _mark(engine, 294_000)
    events = _mark(engine, 270_000, 1)
    fills = [e.record for e in events if isinstance(e, RuleEvent) and isinstance(e.record, AdlFill)]
    assert [(f.account_id, f.close_qty) for f in fills] == [(2, -24_999), (3, -1)]  # signed like the shorts
    assert (engine.positions(1), engine.positions(2), engine.positions(3)) == ({}, {}, {})


def test_a_partial_liquidations_fill_or_kill_pays_and_earns_no_commission() -> None:
    # the rulebook's decision (rules.waterfall, LIQ-012): close-out fills carry no fee, on either side
    engine = setup(3 * XBT)
    open_long(engine, 25_000)
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Buy", order_qty=20_000, price=294_000))
    events = _mark(engine, 294_000)
    trades = [(e.account, e.exec_comm) for e in events if isinstance(e, Execution) and e.exec_type == "Trade"]
    assert sorted({account for account, _ in trades}) == [1, 2]
    assert [comm for _, comm in trades] == [0] * len(trades)
