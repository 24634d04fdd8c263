"""A plain limit order's sweep notes every print for the last-price stops (session 15, helper "mut15").

A plain limit order that crosses the book is swept by the lean path (``engine/core/entry_sweep.py``, issue 14),
not by ``Fills.sweep``; session 14 (red team 7) made both note each trade print (``Market.note_print``) so that a
last-price order is judged at every print, not only at the last price (ORD-015).  Dropping the lean path's note
passed every test (its differential test compares it with the general path on streams with no stop between two
prints of one sweep).  Pinned: a plain limit sell sweeps two bids, printing 49,990 then 49,980; a LastPrice buy
stop at 49,985, due at the first print (ORD-003: a buy stop at or above its stopPx) though not at the last price,
fires.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core import orders as o
from perpspec.engine.core.events import Accepted, Event, Execution
from perpspec.engine.core.exchange import Engine

S = "XBTUSD"
PRICE = 5_000_000
TICK = 50


def ok(engine: Engine, command: object) -> list[Event]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), (command, events[-1])
    return events


def test_ord_015_a_plain_limit_sweep_through_a_last_price_buy_stop_fires_it() -> None:
    engine = Engine()
    for account in (1, 2, 3, 4):
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    ok(engine, c.PriceUpdate(time_ms=0, symbol=S, mark_price=PRICE, index_price=PRICE))
    ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol=S, side="Buy", order_qty=100, price=PRICE - 50 * TICK))
    ok(engine, c.PlaceOrder(time_ms=0, account=3, symbol=S, side="Sell", order_qty=100, price=PRICE - 50 * TICK))
    assert engine.market.last_prices[S] == PRICE - 50 * TICK
    events = ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol=S, side="Buy", order_qty=100, ord_type="Stop",
                                     stop_px=PRICE - 30 * TICK, exec_inst="LastPrice"))
    stop = events[-1].order_id  # type: ignore[attr-defined]
    assert stop in engine.triggers.conditional[S]
    for price in (PRICE - 20 * TICK, PRICE - 40 * TICK):
        ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol=S, side="Buy", order_qty=100, price=price))
    ok(engine, c.PlaceOrder(time_ms=0, account=4, symbol=S, side="Sell", order_qty=100, price=PRICE + 10 * TICK))
    events = ok(engine, c.PlaceOrder(time_ms=0, account=3, symbol=S, side="Sell", order_qty=200,
                                     price=PRICE - 40 * TICK))  # a plain limit order: the lean sweep
    prints = [e.last_px for e in events if isinstance(e, Execution) and e.exec_type == o.EXEC_TRADE and e.account == 3]
    assert prints == [PRICE - 20 * TICK, PRICE - 40 * TICK]
    assert engine.market.last_prices[S] in (PRICE - 40 * TICK, PRICE + 10 * TICK)
    fired = [e for e in events if isinstance(e, Execution) and e.order_id == stop]
    assert [e.exec_type for e in fired][:1] == [o.EXEC_TRIGGERED]
    assert stop not in engine.triggers.conditional[S]
