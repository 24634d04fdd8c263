"""A stop watching a price the contract does not have yet (no trade: no last price; no index update) never fires.

Found by the session-6 mutation run over ``engine/core/triggers.py`` (issue 13): ``Triggers.run`` reads a missing
last or index price as 0, which ``is_due`` treats as "no price yet"; read as 1 (one price unit) a sell stop would fire
at once.  Pinned through public commands: XBTUSD has only a mark (21,000.00); sell stops at 20,000.00 watching the
last price and the index price rest untriggered through placement and a mark move; the first index update at
20,000.00 fires the index one alone.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Event, Execution
from perpspec.engine.core.exchange import Engine


def _kinds(events: list[Event]) -> list[tuple[str, int]]:
    return [(e.exec_type, e.order_id) for e in events if isinstance(e, Execution)]


def test_stops_on_a_missing_last_or_index_price_wait_for_that_price() -> None:
    engine = Engine()
    engine.process(c.VerifyAccount(time_ms=0, account=1))
    engine.process(c.Deposit(time_ms=0, account=1, asset="XBt", amount=10**10))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=2_100_000))
    assert (engine.index_prices, engine.last_prices) == ({}, {})
    for order_id, source in ((1, "LastPrice"), (2, "IndexPrice")):
        placed = engine.process(
            c.PlaceOrder(
                time_ms=0,
                account=1,
                symbol="XBTUSD",
                side="Sell",
                order_qty=100,
                ord_type="Stop",
                stop_px=2_000_000,
                exec_inst=source,
            )
        )
        assert _kinds(placed) == [("New", order_id)]
    assert _kinds(engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=2_100_001))) == []
    fired = engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", index_price=2_000_000))
    assert _kinds(fired) == [("TriggeredOrActivatedBySystem", 2), ("Canceled", 2)]
