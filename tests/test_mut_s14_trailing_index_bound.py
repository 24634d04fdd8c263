"""The trailing-stop buckets' heaps stay bounded over many runs (session 14, helper "mut14").

A statement mutant of ``engine/core/triggers.py`` (``StopIndex.sync``, session 13's trailing stops in buckets):
dropping ``and self.places <= 4 * self.buckets + SLACK_ENTRIES`` passed every test.  Each run that moves a
trailing stop re-enters its bucket in the group's heaps (``StopIndex.place``) and leaves the old entries stale;
only that test makes a later run rebuild the index and sweep them.  Without it a trailing stop that the mark walks
away from, command after command, grew the index by two entries a command for as long as the stop rests (memory,
and the stale entries every pass pops).

Rule: the trigger index is not state and costs what it fires and merges (red team 3, rev3_2); its memory stays
within a constant of the pool's.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.triggers import SLACK_ENTRIES, StopIndex

PRICE = 5_000_000


def ok(engine: Engine, command: object) -> list[Event]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), (command, events[-1])
    return events


def test_a_trailing_stop_walked_away_from_for_many_commands_keeps_the_index_bounded() -> None:
    engine = Engine()
    ok(engine, c.VerifyAccount(time_ms=0, account=1))
    ok(engine, c.Deposit(time_ms=0, account=1, asset="XBt", amount=10**10))
    ok(engine, c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=PRICE, index_price=PRICE))
    ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Sell", order_qty=100, ord_type="Pegged",
                            peg_price_type="TrailingStopPeg", peg_offset_value=-100_000, exec_inst="MarkPrice"))
    for step in range(1, 301):  # the mark rises a dollar a command: the sell stop trails it up every time
        ok(engine, c.PriceUpdate(time_ms=step, symbol="XBTUSD", mark_price=PRICE + 100 * step))
    index = engine.triggers.by_stop["XBTUSD"]
    (stop,) = engine.triggers.conditional["XBTUSD"].values()
    ok(engine, c.PriceUpdate(time_ms=400, symbol="XBTUSD", mark_price=PRICE + 30_000))  # one run more: written
    assert stop.stop_px == PRICE + 30_000 - 100_000
    assert index.buckets == 1
    assert index.places <= 4 * index.buckets + SLACK_ENTRIES + 2  # 600 entries without the rebuild test


def counted(index: StopIndex) -> tuple[int, int]:
    """What ``places`` and ``buckets`` claim to count: the entries in the low and high heaps (live or not), and
    the buckets not gone (each has its live entries there)."""
    heaps = (*index.low, *index.high)
    return sum(map(len, heaps)), len({id(bucket) for heap in heaps for _, _, bucket in heap if bucket.token != -1})


def test_the_index_counts_its_entries_and_buckets_exactly_through_trails_merges_and_fires() -> None:
    """Kills the off-by-one counts of ``places``/``buckets`` (``+= 2``/``-= 2`` in place, take_trailing, pass_level,
    add_trailing and drop; a start at 1 in ``__init__``/``rebuild``): the counts are what the rebuild test compares,
    so a count that drifts from the heaps either rebuilds for nothing or never sweeps the stale entries.

    Three sell trailing stops (two at one offset: one bucket after a rebuild) and a buy one trail a mark walked up
    and down and are fired by a fall; after every command the counts are the heaps'."""
    engine = Engine()
    for account in (1, 2):
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    ok(engine, c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=PRICE, index_price=PRICE))
    for side, offset in (("Sell", -100_000), ("Sell", -100_000), ("Sell", -60_000), ("Buy", 80_000)):
        ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side=side, order_qty=100, ord_type="Pegged",
                                peg_price_type="TrailingStopPeg", peg_offset_value=offset, exec_inst="MarkPrice"))
    ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Buy", order_qty=1_000, price=PRICE - 500_000))
    ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Sell", order_qty=1_000, price=PRICE + 500_000))
    marks = [PRICE + 1_000 * k for k in range(1, 40)] + [PRICE + 39_000 - 2_000 * k for k in range(1, 60)]
    for step, mark in enumerate(marks, start=1):
        ok(engine, c.PriceUpdate(time_ms=step, symbol="XBTUSD", mark_price=mark))
        index = engine.triggers.by_stop["XBTUSD"]
        assert (index.places, index.buckets) == counted(index), (step, mark)
    (buy,) = engine.triggers.conditional["XBTUSD"].values()  # the sells fired on the fall
    assert buy.stop_px == marks[-1] + 80_000  # the buy trailed the fall down to the lowest mark
