"""A live order as the engine's read API shows it (``Engine.live_orders``), and its execution reports (mutation survivors).

Found by ``python -m tests.mutation engine/core/orders.py`` (issue 13, session 8): the ``Order`` record's defaults and
its read methods (``is_hidden``, ``ord_status``, ``avg_px``).  ETHUSD (lot 1, tick 0.05) at a mark of 3,000.00;
account 1 rests orders, account 2 trades against them.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Event, Execution, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument

ETHUSD = load_instrument("ETHUSD")
MARK = 300_000


def _engine() -> Engine:
    engine = Engine({"ETHUSD": ETHUSD})
    engine.process(c.PriceUpdate(time_ms=5, symbol="ETHUSD", mark_price=MARK, index_price=MARK))
    for account in (1, 2):
        engine.process(c.VerifyAccount(time_ms=5, account=account))
        engine.process(c.Deposit(time_ms=5, account=account, asset="XBt", amount=10**10))
    return engine


def _place(engine: Engine, account: int, side: str, qty: int, price: int, **fields: object) -> list[Event]:
    events = engine.process(
        c.PlaceOrder(time_ms=7, account=account, symbol="ETHUSD", side=side, order_qty=qty, price=price, **fields)  # type: ignore[arg-type]
    )
    assert not isinstance(events[-1], Rejected), events[-1]
    return events


def test_ord_001_a_plain_limit_order_has_no_stop_price_and_no_peg_offset() -> None:
    """ORD-001: a plain limit order's New report has stopPx 0; its live record has stop price and peg offset 0 and
    the time it was placed."""
    engine = _engine()
    events = _place(engine, 1, "Buy", 10, MARK - 5)
    [new] = [e for e in events if isinstance(e, Execution)]
    assert (new.exec_type, new.ord_type, new.price, new.stop_px) == ("New", "Limit", 299_995, 0)
    order = engine.live_orders[1]
    assert (order.stop_px, order.peg_offset, order.time_ms, order.cum_qty, order.cum_value) == (0, 0, 7, 0, 0)


def test_ord_001_a_resting_order_filled_by_one_contract_is_partly_filled_at_its_own_price() -> None:
    """ORD-001: before any fill the order is New with avgPx 0; one contract filled at 2,999.95 makes it
    PartiallyFilled with cumQty 1, cum value 299,995 and avgPx exactly 2,999.95."""
    engine = _engine()
    _place(engine, 1, "Buy", 10, MARK - 5)
    order = engine.live_orders[1]
    assert (order.ord_status(), order.avg_px()) == ("New", 0)
    _place(engine, 2, "Sell", 1, MARK - 5)
    order = engine.live_orders[1]
    assert (order.leaves_qty, order.cum_qty, order.cum_value) == (9, 1, 299_995)
    assert (order.ord_status(), order.avg_px()) == ("PartiallyFilled", 299_995)


def test_ord_030_only_a_display_quantity_of_0_is_hidden() -> None:
    """ORD-030: displayQty 0 is a hidden order; displayQty 1 (an iceberg of one contract) and none are shown."""
    engine = _engine()
    _place(engine, 1, "Buy", 10, MARK - 5, display_qty=0)
    _place(engine, 1, "Buy", 10, MARK - 10, display_qty=1)
    _place(engine, 1, "Buy", 10, MARK - 15)
    shown = [(o.display_qty, o.shown_qty, o.is_hidden) for _, o in sorted(engine.live_orders.items())]
    assert shown == [(0, 0, True), (1, 1, False), (None, 10, False)]
