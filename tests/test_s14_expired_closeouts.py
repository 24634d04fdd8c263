"""No close-out or partial liquidation trades in a dated future's book after its expiry (session 14, red team 7).

Order entry refuses every trade in a dated future once its expiry passed ("a trade after it would pick off
stale orders": SET-001's price is fixed by the window ending at expiry), but a PriceUpdate between the expiry and
Settle still ran the liquidation waterfall, and its close-outs (LIQ-024) and FillOrKill reductions (LIQ-022)
traded in the expired contract's book: a stale bid at 49,500 bought a taken-over long with the mark at 49,000
(``/work/coord/repro14/close14_expiry.py``).

Now a pool holding the expired contract is still liquidated (SET-005: settlement waits for the waterfall), but
what the liquidation engine takes over in that contract does not meet the book: it is held for settlement
(SET-003 closes it at the settlement price into the insurance fund) while the fund covers it (ADL-031), and
auto-deleveraged at its bankruptcy price (ADL-020) once the fund does not.  No FillOrKill reduction is tried in
it.  The pool's other contracts are closed out in their books as before.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, Execution, RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.invariants import check_all

Z = "XBTZ26"
EXPIRY = 1_798_200_000_000
T0 = EXPIRY - 60_000


def ok(engine: Engine, command: object) -> list[Event]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), (command, events[-1])
    return events


def _no_violations(engine: Engine, events: list[Event]) -> None:
    found = {name: problems for name, problems in check_all(engine, engine.step_info(events)).items() if problems}
    assert found == {}


def _engine(trader_deposit: int, fund: int) -> Engine:
    """Account 2 long 100,000 XBTZ26 at 50,000 (sold by account 1); account 3's bid of 100,000 at 49,500."""
    engine = Engine()
    engine.track_steps = True
    for account, amount in ((1, 10**10), (2, trader_deposit), (3, 10**10)):
        ok(engine, c.VerifyAccount(time_ms=T0, account=account))
        ok(engine, c.Deposit(time_ms=T0, account=account, asset="XBt", amount=amount))
    if fund:
        ok(engine, c.DepositInsurance(time_ms=T0, asset="XBt", amount=fund))
    ok(engine, c.PriceUpdate(time_ms=T0, symbol=Z, mark_price=5_000_000, index_price=5_000_000))
    ok(engine, c.PlaceOrder(time_ms=T0, account=1, symbol=Z, side="Sell", order_qty=100_000, price=5_000_000))
    ok(engine, c.PlaceOrder(time_ms=T0, account=2, symbol=Z, side="Buy", order_qty=100_000, price=5_000_000))
    ok(engine, c.PlaceOrder(time_ms=T0, account=3, symbol=Z, side="Buy", order_qty=100_000, price=4_950_000))
    return engine


def _trades(events: list[Event], symbol: str) -> list[Execution]:
    return [e for e in events if isinstance(e, Execution) and e.exec_type == "Trade" and e.symbol == symbol]


def _rules(events: list[Event], name: str) -> list[object]:
    return [e.record for e in events if isinstance(e, RuleEvent) and type(e.record).__name__ == name]


def test_a_close_out_after_expiry_does_not_take_the_stale_bid_and_is_settled_into_the_fund() -> None:
    engine = _engine(3_000_000, 10**9)
    events = ok(engine, c.PriceUpdate(time_ms=EXPIRY + 1, symbol=Z, mark_price=4_900_000, index_price=4_900_000))
    _no_violations(engine, events)
    assert engine.accounts[2].positions[Z].qty == 0  # still liquidated (SET-005 waits for the waterfall)
    assert _trades(events, Z) == []
    assert engine.accounts[3].positions.get(Z) is None or engine.accounts[3].positions[Z].qty == 0
    assert engine.registry.live_orders[3].leaves_qty == 100_000  # the stale bid untouched
    [held] = [p for p in engine.waterfall.pending if p.symbol == Z]
    assert held.qty == 100_000
    assert len(_rules(events, "AdlDeferred")) == 1  # ADL-031: the fund covers it, held
    fund = engine.insurance_funds["XBt"]
    events = ok(engine, c.Settle(time_ms=EXPIRY + 2, symbol=Z, settlement_price=4_900_000))
    _no_violations(engine, events)
    assert [p for p in engine.waterfall.pending if p.symbol == Z] == []
    # SET-003: the held long closed at the settlement price into the fund (below its take-over price: a draw)
    assert engine.insurance_funds["XBt"] < fund
    assert 3 not in engine.registry.live_orders  # the stale bid cancelled by settlement


def test_a_close_out_after_expiry_the_fund_cannot_cover_goes_to_adl_not_the_book() -> None:
    """No fund: ADL-031 no longer defers, and the held long is deleveraged against account 1's short at its
    bankruptcy price, not sold to the stale bid."""
    engine = _engine(3_000_000, 0)
    events = ok(engine, c.PriceUpdate(time_ms=EXPIRY + 1, symbol=Z, mark_price=4_900_000, index_price=4_900_000))
    _no_violations(engine, events)
    assert _trades(events, Z) == []
    fills = _rules(events, "AdlFill")
    assert [(f.account_id, f.close_qty) for f in fills] == [(1, -100_000)]  # type: ignore[attr-defined]
    assert engine.accounts[1].positions[Z].qty == 0
    assert [p for p in engine.waterfall.pending if p.symbol == Z] == []
    assert engine.registry.live_orders[3].leaves_qty == 100_000
    events = ok(engine, c.Settle(time_ms=EXPIRY + 2, symbol=Z, settlement_price=4_900_000))
    _no_violations(engine, events)


def test_before_expiry_the_close_out_still_meets_the_book() -> None:
    engine = _engine(3_000_000, 10**9)
    events = ok(engine, c.PriceUpdate(time_ms=EXPIRY - 1, symbol=Z, mark_price=4_900_000, index_price=4_900_000))
    assert [(e.account, e.last_qty, e.last_px) for e in _trades(events, Z)] == [(3, 100_000, 4_950_000)]


def test_a_cross_pool_holding_an_expired_future_is_closed_out_in_its_other_books_only() -> None:
    """Account 2's cross pool holds XBTZ26 (expired) and XBTUSD: both are taken over; the XBTUSD close-out sells
    into XBTUSD's bid at the mark, the XBTZ26 one waits for settlement."""
    engine = _engine(3_000_000, 10**9)
    ok(engine, c.PriceUpdate(time_ms=T0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    ok(engine, c.PlaceOrder(time_ms=T0, account=1, symbol="XBTUSD", side="Sell", order_qty=10_000, price=5_000_000))
    ok(engine, c.PlaceOrder(time_ms=T0, account=2, symbol="XBTUSD", side="Buy", order_qty=10_000, price=5_000_000))
    ok(engine, c.PlaceOrder(time_ms=T0, account=3, symbol="XBTUSD", side="Buy", order_qty=10_000, price=5_000_000))
    events = ok(engine, c.PriceUpdate(time_ms=EXPIRY + 1, symbol=Z, mark_price=4_800_000, index_price=4_800_000))
    _no_violations(engine, events)
    assert engine.accounts[2].positions[Z].qty == 0
    assert engine.accounts[2].positions["XBTUSD"].qty == 0
    assert _trades(events, Z) == []
    assert [(e.account, e.last_qty) for e in _trades(events, "XBTUSD")] == [(3, 10_000)]
    assert [(p.symbol, p.qty) for p in engine.waterfall.pending] == [(Z, 100_000)]


def test_no_fill_or_kill_reduction_in_an_expired_future() -> None:
    """LIQ-022 would sell the part above the first risk tier to the bid; after expiry that is a trade in a stale
    book: the pool is taken over whole instead, and nothing trades."""
    engine = Engine()
    engine.track_steps = True
    for account, amount in ((1, 10**12), (2, 600_000_000), (3, 10**12)):
        ok(engine, c.VerifyAccount(time_ms=T0, account=account))
        ok(engine, c.Deposit(time_ms=T0, account=account, asset="XBt", amount=amount))
    ok(engine, c.DepositInsurance(time_ms=T0, asset="XBt", amount=10**11))
    ok(engine, c.PriceUpdate(time_ms=T0, symbol=Z, mark_price=5_000_000, index_price=5_000_000))
    for account in (1, 2, 3):
        ok(engine, c.SetRiskLimit(time_ms=T0, account=account, symbol=Z, risk_limit=35_000_000_000))
    for _ in range(2):
        ok(engine, c.PlaceOrder(time_ms=T0, account=1, symbol=Z, side="Sell", order_qty=6_000_000, price=5_000_000))
        ok(engine, c.PlaceOrder(time_ms=T0, account=2, symbol=Z, side="Buy", order_qty=6_000_000, price=5_000_000))
    assert engine.accounts[2].positions[Z].qty == 12_000_000
    ok(engine, c.PlaceOrder(time_ms=T0, account=3, symbol=Z, side="Buy", order_qty=10_000_000, price=4_980_000))
    before = engine.state_hash()
    probe = Engine.from_snapshot(engine.snapshot())
    # before expiry, the same mark move reduces the position in the book (the scenario does what it says)
    early = ok(probe, c.PriceUpdate(time_ms=EXPIRY - 1, symbol=Z, mark_price=4_900_000, index_price=4_900_000))
    assert _rules(early, "PartialLiquidation")
    assert _trades(early, Z)
    assert engine.state_hash() == before
    events = ok(engine, c.PriceUpdate(time_ms=EXPIRY + 1, symbol=Z, mark_price=4_900_000, index_price=4_900_000))
    _no_violations(engine, events)
    assert _trades(events, Z) == []
    assert engine.accounts[2].positions[Z].qty == 0
    assert [(p.symbol, p.qty) for p in engine.waterfall.pending] == [(Z, 12_000_000)]
