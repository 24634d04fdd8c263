"""An amended trailing stop whose old and new entries end up in one bucket survives a second merge (session 15,
helper "mut15").

Trailing stops sit in buckets that merge as the price passes their levels (``StopIndex.pass_level``: the smaller into
the largest).  An amendment indexes a stop anew (its new entry in a bucket of its own) and leaves its old entry stale
in its old bucket (session 14: tokens name an order's latest entry).  When that old bucket is the one the new entry
is merged into, the bucket holds both entries of the stop; merged again into a larger bucket, only the entry whose
token is the stop's latest may move.  ``pass_level`` without its token test passed every test: there the stale entry
(the smaller distance, first in the heap) moved, the live one was left behind, and the stop never fired.

The stream (XBTUSD, sell trailing stops on the mark, distance 50 or 100 dollars): S placed at distance 50 then
amended to 100; X1, X2 at 50; the mark rises $10 (S's old bucket, first placed, takes the others); falls; five
stops Y at 50 are placed and merged by a rise that does not reach S's bucket; a further rise merges S's bucket (4
entries) into theirs (5).  From the peak the mark falls $100: every stop is due, S included (ORD-007: a trailing
stop is due once the price has come back by its distance from the best price it has seen).
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core import orders as o
from perpspec.engine.core.events import Accepted, Event, Execution
from perpspec.engine.core.exchange import Engine

SYMBOL = "XBTUSD"
M0 = 5_000_000


def ok(engine: Engine, command: object) -> list[Event]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), (command, events[-1])
    return events


def _trailing(engine: Engine, account: int, distance: int) -> int:
    events = ok(engine, c.PlaceOrder(time_ms=0, account=account, symbol=SYMBOL, side="Sell", order_qty=100,
                                     ord_type="Pegged", peg_price_type="TrailingStopPeg", peg_offset_value=-distance,
                                     exec_inst="MarkPrice"))
    return events[-1].order_id  # type: ignore[attr-defined,no-any-return]


def _mark(engine: Engine, price: int) -> list[Event]:
    return ok(engine, c.PriceUpdate(time_ms=0, symbol=SYMBOL, mark_price=price, index_price=price))


def test_ord_007_an_amended_trailing_stop_merged_twice_still_fires_at_its_distance() -> None:
    engine = Engine()
    for account in range(1, 11):
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    _mark(engine, M0)
    ok(engine, c.PlaceOrder(time_ms=0, account=10, symbol=SYMBOL, side="Buy", order_qty=10_000, price=M0 - 500_000))
    s = _trailing(engine, 1, 5_000)
    ok(engine, c.AmendOrder(time_ms=0, account=1, order_id=s, peg_offset_value=-10_000))
    xs = [_trailing(engine, account, 5_000) for account in (2, 3)]
    _mark(engine, M0 + 1_000)  # S's old bucket takes S's new entry and the Xs
    _mark(engine, M0 - 2_000)
    ys = [_trailing(engine, account, 5_000) for account in (4, 5, 6, 7, 8)]
    _mark(engine, M0 - 1_000)  # the Ys merge, below S's bucket
    _mark(engine, M0 + 2_000)  # S's bucket (4 entries) into the Ys' (5)
    pool = engine.triggers.conditional[SYMBOL]
    assert set(pool) == {s, *xs, *ys}
    assert pool[s].stop_px == M0 + 2_000 - 10_000
    events = _mark(engine, M0 + 2_000 - 10_000)
    triggered = {e.order_id for e in events if isinstance(e, Execution) and e.exec_type == o.EXEC_TRIGGERED}
    assert triggered == {s, *xs, *ys}
    assert not pool
