"""ORD-014 LastWithinMark: a last-price stop counts only while the last price is within 5% of mark, edges included.

Found by the session-6 mutation run over ``engine/core/triggers.py`` (issue 13): the instruction was only used by the
orders table, which never put the last price at the band's edge, so a band of 5.0001%, a strict edge or a slip in
the ppm scale went unnoticed.  Pinned here through public commands: the last trade is at 21,000.00; a LastWithinMark
buy stop at 21,000.00 (its price condition already met) is placed while the mark is 19,999.99, where the last price
is 100,001 price units (5.00003%) away: it does not fire.  A mark of 20,000.00 puts it exactly 5% away
(100,000 × 10^6 = 2,000,000 × 50,000): it fires there (and, with no ask in the book, the market order is cancelled at
its price limit).
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, Execution
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument

LAST = 2_100_000  # 21,000.00


def _mark(engine: Engine, price: int) -> list[Event]:
    return engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=price, index_price=price))


def _kinds(events: list[Event]) -> list[tuple[str, int]]:
    return [(e.exec_type, e.order_id) for e in events if isinstance(e, Execution)]


def test_ord_014_a_last_within_mark_stop_fires_at_exactly_five_percent_and_not_beyond() -> None:
    engine = Engine()
    for account in (1, 2, 3):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    _mark(engine, LAST)
    engine.process(
        c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Sell", order_qty=100, price=LAST)
    )
    assert isinstance(
        engine.process(
            c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Buy", order_qty=100, price=LAST)
        )[-1],
        Accepted,
    )
    assert engine.last_prices == {"XBTUSD": LAST}
    assert _kinds(_mark(engine, 1_999_999)) == []
    placed = engine.process(
        c.PlaceOrder(
            time_ms=0,
            account=1,
            symbol="XBTUSD",
            side="Buy",
            order_qty=100,
            ord_type="Stop",
            stop_px=LAST,
            exec_inst="LastPrice,LastWithinMark",
        )
    )
    stop_id = placed[-1].order_id
    assert _kinds(placed) == [("New", stop_id)]  # 5.00003% away: untriggered
    assert _kinds(_mark(engine, 1_999_999)) == []  # the same mark again: still not due
    assert _kinds(_mark(engine, 2_000_000)) == [
        ("TriggeredOrActivatedBySystem", stop_id),
        ("Canceled", stop_id),
    ]


def test_ord_trailing_stop_follows_a_mark_of_one_price_unit() -> None:
    """A buy trailing stop (offset +1.00, ETHUSD) placed at a mark of 10.00 rests at 11.00; the mark falls to one price
    unit (0.01): the stop follows to 0.01 + 1.00 = 1.01 (a price of 1 is a price like any other), so it fires at a
    mark of 1.01 and not at 1.00."""
    engine = Engine({"ETHUSD": load_instrument("ETHUSD")})

    def mark(price: int) -> list[Event]:
        return engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=price, index_price=price))

    mark(1_000)
    engine.process(c.VerifyAccount(time_ms=0, account=1))
    engine.process(c.Deposit(time_ms=0, account=1, asset="XBt", amount=10**10))
    placed = engine.process(
        c.PlaceOrder(
            time_ms=0,
            account=1,
            symbol="ETHUSD",
            side="Buy",
            order_qty=1,
            ord_type="Pegged",
            peg_price_type="TrailingStopPeg",
            peg_offset_value=100,
            exec_inst="Fixed",
        )
    )
    stop_id = placed[-1].order_id
    assert [(e.exec_type, e.stop_px) for e in placed if isinstance(e, Execution)] == [("New", 1_100)]
    assert _kinds(mark(1)) == []
    assert _kinds(mark(100)) == []
    fired = mark(101)
    assert [(e.exec_type, e.order_id, e.stop_px) for e in fired if isinstance(e, Execution)] == [
        ("TriggeredOrActivatedBySystem", stop_id, 101),
        ("Canceled", stop_id, 101),
    ]
