"""The trigger index's entry count and its odd trailing stops (session 15, helper "mut15": mutants of session 14's
``engine/core/triggers.py`` that the suite let through).

* ``StopIndex.entries`` counts the entries in the fixed-stop heaps and the trailing-stop buckets' heaps, live or
  stale; ``StopIndex.sync`` rebuilds once it exceeds twice the pool (plus a slack), so a count that drifts from
  the heaps either rebuilds for nothing or never sweeps the stale entries (memory, and the stale entries every pass
  pops).  ``self.entries += 2`` in ``add_trailing`` passed every test: the count is checked exactly here, after
  every command of a stream that places, amends, cancels, trails, merges and fires stops of both kinds.
* The ``odd`` trailing stops (offsets the engine refuses: a crafted snapshot) are judged one by one; one that
  watches the mark price is judged at the mark only (ORD-013), never at the trade prints a sweep left (those are
  the last price's).  ``source != LAST_PRICE`` in ``take_odd``'s print test passed every test.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core import orders as o
from perpspec.engine.core.events import Accepted, Event, Execution
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.triggers import Bucket, StopIndex

SYMBOL = "XBTUSD"
PRICE = 5_000_000
TICK = 50


def ok(engine: Engine, command: object) -> list[Event]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), (command, events[-1])
    return events


def counted_entries(index: StopIndex) -> int:
    """What ``entries`` claims to count: the entries of the fixed-stop heaps and of the buckets' heaps (a gone
    bucket's list is emptied), live or stale."""
    buckets: dict[int, Bucket] = {}
    for heap in (*index.low, *index.high):
        for _, _, bucket in heap:
            buckets[id(bucket)] = bucket
    for bucket in index.owner.values():
        buckets[id(bucket)] = bucket
    return sum(map(len, index.stop_heaps)) + sum(len(bucket.stops) for bucket in buckets.values())


def test_the_index_counts_its_heap_entries_exactly_through_places_amends_cancels_trails_and_fires() -> None:
    """ORD-007/ORD-015's index: after every command ``entries`` is the number of entries its heaps hold."""
    engine = Engine()
    for account in (1, 2):
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    ok(engine, c.PriceUpdate(time_ms=0, symbol=SYMBOL, mark_price=PRICE, index_price=PRICE))
    ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol=SYMBOL, side="Buy", order_qty=1_000, price=PRICE - 500_000))
    ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol=SYMBOL, side="Sell", order_qty=1_000, price=PRICE + 500_000))
    placed: list[int] = []
    for side, offset in (("Sell", -100_000), ("Sell", -100_000), ("Sell", -60_000), ("Buy", 80_000)):
        events = ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol=SYMBOL, side=side, order_qty=100,
                                         ord_type="Pegged", peg_price_type="TrailingStopPeg",
                                         peg_offset_value=offset, exec_inst="MarkPrice"))
        placed += [e.order_id for e in events if isinstance(e, Execution) and e.exec_type == o.EXEC_NEW]
    for side, stop in (("Sell", PRICE - 30_000), ("Sell", PRICE - 70_000), ("Buy", PRICE + 90_000)):
        events = ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol=SYMBOL, side=side, order_qty=100,
                                         ord_type="Stop", stop_px=stop))
        placed += [e.order_id for e in events if isinstance(e, Execution) and e.exec_type == o.EXEC_NEW]
    index = engine.triggers.by_stop.get(SYMBOL)
    assert index is not None
    assert index.entries == counted_entries(index) == 7
    marks = [PRICE + 1_000 * k for k in range(1, 30)] + [PRICE + 29_000 - 2_000 * k for k in range(1, 60)]
    for step, mark in enumerate(marks, start=1):
        if step == 5:  # an amended trailing stop and fixed stop: indexed anew, their old entries stale
            ok(engine, c.AmendOrder(time_ms=step, account=1, order_id=placed[2], peg_offset_value=-70_000))
            ok(engine, c.AmendOrder(time_ms=step, account=1, order_id=placed[4], stop_px=PRICE - 20_000))
        if step == 9:  # a cancelled one: its entry stale
            ok(engine, c.CancelOrder(time_ms=step, account=1, order_id=placed[1]))
        ok(engine, c.PriceUpdate(time_ms=step, symbol=SYMBOL, mark_price=mark))
        index = engine.triggers.by_stop[SYMBOL]
        assert index.entries == counted_entries(index), (step, mark)
    assert len(engine.triggers.conditional[SYMBOL]) < 6  # the fall fired stops of both kinds


def test_an_odd_mark_price_trailing_stop_is_judged_at_the_mark_not_at_the_prints() -> None:
    """ORD-013: a trailing stop that watches the mark price is judged at the mark; a sweep's trade prints are the last
    price's.  The stop here (a sell whose offset was set to 0: judged one by one, ``odd``) sits one tick below the
    mark, and a market sell trades two ticks and three ticks below it: at the mark it is not due and trails up to it;
    at the first print (two ticks below) it would be."""
    engine = Engine()
    for account in (1, 2, 3):
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    ok(engine, c.PriceUpdate(time_ms=0, symbol=SYMBOL, mark_price=PRICE, index_price=PRICE))
    for price in (PRICE - 2 * TICK, PRICE - 3 * TICK):
        ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol=SYMBOL, side="Buy", order_qty=100, price=price))
    events = ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol=SYMBOL, side="Sell", order_qty=100,
                                     ord_type="Pegged", peg_price_type="TrailingStopPeg", peg_offset_value=-TICK,
                                     exec_inst="MarkPrice"))
    (order_id,) = [e.order_id for e in events if isinstance(e, Execution) and e.exec_type == o.EXEC_NEW]
    stop = engine.triggers.conditional[SYMBOL][order_id]
    assert stop.stop_px == PRICE - TICK
    stop.peg_offset = 0  # a state the engine does not make (a snapshot's): judged one by one (and due at the mark
    # once it has trailed up to it: the next run after the sweep would fire it)
    engine.triggers.reindex(stop)
    index = engine.triggers.by_stop[SYMBOL]
    assert order_id in index.odd
    events = ok(engine, c.PlaceOrder(time_ms=0, account=3, symbol=SYMBOL, side="Sell", order_qty=200))
    assert [e.last_px for e in events if isinstance(e, Execution) and e.exec_type == o.EXEC_TRADE and e.account == 3] == [
        PRICE - 2 * TICK, PRICE - 3 * TICK
    ]
    assert engine.triggers.conditional[SYMBOL].get(order_id) is stop  # not triggered: the mark did not reach it
    assert not any(isinstance(e, Execution) and e.order_id == order_id for e in events)
    assert stop.stop_px == PRICE  # trailed to the mark (offset 0)


def test_an_odd_last_price_trailing_stop_trails_at_each_print_before_the_next_judges_it() -> None:
    """ORD-007 and ORD-015 for a stop judged one by one: a trailing stop that watches the last price is judged at each
    print in turn and trails at each one it is not due at, as if each were the last price.  The sell stop here
    (offset set to 0: ``odd``) waits at 49,500 when a sell sweeps two bids, printing 49,990 then 49,980: at 49,990
    it is not due and trails up to it; at 49,980 (the last price) it is then due and fires.  (Not trailed at the
    first print, it would be judged at 49,980 against its old stopPx and only trail.)"""
    engine = Engine()
    for account in (1, 2, 3):
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    ok(engine, c.PriceUpdate(time_ms=0, symbol=SYMBOL, mark_price=PRICE, index_price=PRICE))
    ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol=SYMBOL, side="Buy", order_qty=100, price=PRICE))
    ok(engine, c.PlaceOrder(time_ms=0, account=3, symbol=SYMBOL, side="Sell", order_qty=100))  # last: 50,000
    events = ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol=SYMBOL, side="Sell", order_qty=100,
                                     ord_type="Pegged", peg_price_type="TrailingStopPeg", peg_offset_value=-10 * TICK,
                                     exec_inst="LastPrice"))
    (order_id,) = [e.order_id for e in events if isinstance(e, Execution) and e.exec_type == o.EXEC_NEW]
    for price in (PRICE - 20 * TICK, PRICE - 40 * TICK, PRICE - 500 * TICK):
        ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol=SYMBOL, side="Buy", order_qty=100, price=price))
    stop = engine.triggers.conditional[SYMBOL][order_id]
    assert stop.stop_px == PRICE - 10 * TICK
    stop.stop_px = PRICE - 100 * TICK  # and a state the engine does not make (a snapshot's): offset 0, stop 49,500
    stop.peg_offset = 0
    engine.triggers.reindex(stop)
    assert order_id in engine.triggers.by_stop[SYMBOL].odd
    events = ok(engine, c.PlaceOrder(time_ms=0, account=3, symbol=SYMBOL, side="Sell", order_qty=200))
    trades = [e.last_px for e in events if isinstance(e, Execution) and e.exec_type == o.EXEC_TRADE and e.account == 3]
    assert trades[:2] == [PRICE - 20 * TICK, PRICE - 40 * TICK]
    assert any(isinstance(e, Execution) and e.order_id == order_id and e.exec_type == o.EXEC_TRIGGERED for e in events)
    assert order_id not in engine.triggers.conditional[SYMBOL]


def test_an_odd_trailing_stop_amended_to_a_valid_offset_leaves_the_odd_list_and_fires_once() -> None:
    """A stop judged one by one (``odd``: a snapshot's offset of 0) amended to an offset the engine accepts is indexed
    anew in a bucket (ORD-007's index) and fires once, at the stopPx its new distance gives from the best mark it has
    seen, when the mark falls that far."""
    engine = Engine()
    for account in (1, 2):
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    ok(engine, c.PriceUpdate(time_ms=0, symbol=SYMBOL, mark_price=PRICE, index_price=PRICE))
    ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol=SYMBOL, side="Buy", order_qty=1_000, price=PRICE - 500 * TICK))
    events = ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol=SYMBOL, side="Sell", order_qty=100,
                                     ord_type="Pegged", peg_price_type="TrailingStopPeg", peg_offset_value=-10 * TICK,
                                     exec_inst="MarkPrice"))
    (order_id,) = [e.order_id for e in events if isinstance(e, Execution) and e.exec_type == o.EXEC_NEW]
    stop = engine.triggers.conditional[SYMBOL][order_id]
    stop.peg_offset = 0  # a state the engine does not make (a snapshot's): judged one by one
    engine.triggers.reindex(stop)
    index = engine.triggers.by_stop[SYMBOL]
    assert order_id in index.odd
    ok(engine, c.AmendOrder(time_ms=0, account=1, order_id=order_id, peg_offset_value=-20 * TICK))
    assert order_id in index.owner  # in a bucket now
    ok(engine, c.PriceUpdate(time_ms=0, symbol=SYMBOL, mark_price=PRICE + 10 * TICK, index_price=PRICE))
    events = ok(engine, c.PriceUpdate(time_ms=0, symbol=SYMBOL, mark_price=PRICE - 10 * TICK, index_price=PRICE))
    triggered = [e for e in events if isinstance(e, Execution) and e.order_id == order_id
                 and e.exec_type == o.EXEC_TRIGGERED]
    assert len(triggered) == 1
    assert triggered[0].stop_px == PRICE - 10 * TICK
    assert order_id not in engine.triggers.conditional[SYMBOL]
