"""Stops placed after a quiet pass are judged: the remembered pass must tell a replaced order from the old one.

Found by the session-6 mutation run over ``engine/core/triggers.py`` (issue 13): ``Triggers.run`` remembers a pass
that found nothing due (``Quiet``) and skips the next pass over the same orders on the same prices.  Two pools of
the same size with the same stop prices, the newest order replaced, must not count as "the same orders"; no test
replaced an order that way, so a skip there went unnoticed.  Pinned through public commands: two buy stops (at
23,000.00 and 22,000.00; mark 21,000.00, neither due) pass quietly; the second is cancelled and a *sell* stop at the
same 22,000.00 is placed — the same count and stop prices, but it is due (a sell stop fires at or below its stop):
it is triggered at once (and, with no bid in the book, its market order is cancelled at its price limit).
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Event, Execution
from perpspec.engine.core.exchange import Engine


def _kinds(events: list[Event]) -> list[tuple[str, int, str]]:
    return [(e.exec_type, e.order_id, e.side) for e in events if isinstance(e, Execution)]


def _stop(engine: Engine, side: str, stop_px: int) -> list[Event]:
    return engine.process(
        c.PlaceOrder(
            time_ms=0, account=1, symbol="XBTUSD", side=side, order_qty=100, ord_type="Stop", stop_px=stop_px
        )
    )


def test_a_stop_replacing_the_newest_one_at_the_same_stop_price_is_judged_after_a_quiet_pass() -> None:
    engine = Engine()
    engine.process(c.VerifyAccount(time_ms=0, account=1))
    engine.process(c.Deposit(time_ms=0, account=1, asset="XBt", amount=10**10))
    update = c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=2_100_000, index_price=2_100_000)
    engine.process(update)
    assert _kinds(_stop(engine, "Buy", 2_300_000)) == [("New", 1, "Buy")]
    assert _kinds(_stop(engine, "Buy", 2_200_000)) == [("New", 2, "Buy")]
    assert _kinds(engine.process(update)) == []  # a quiet pass over orders 1 and 2
    assert _kinds(engine.process(c.CancelOrder(time_ms=0, account=1, order_id=2))) == [("Canceled", 2, "Buy")]
    assert _kinds(_stop(engine, "Sell", 2_200_000)) == [
        ("New", 3, "Sell"),
        ("TriggeredOrActivatedBySystem", 3, "Sell"),
        ("Canceled", 3, "Sell"),
    ]
    assert _kinds(engine.process(update)) == []  # order 1 is still not due
