"""The compaction of the levels a dead man's switch cancelled from, measured by mutants (session 14, "mut14").

Found by ``python -m tests.mutation engine/core/registry.py`` (``OrderRegistry.compact_timer_levels``, session 13,
review7_1): a timer's cancels (a dead man's switch, Day orders expiring) stayed in their queue while the command ran,
so that a rejected command could put them back, and each level they left was compacted once the command was
accepted.  Session 15 removed the undo (the timers a command's time fires are committed, ORD-050) and with it that
deferred compaction: a timer's cancel now compacts as any cancel does (``Book.remove``: when the level's dead entries
outnumber its live orders).  These tests pin that bound for a switch's cancels: at equality nothing is compacted;
one more dead entry and the level keeps only its live orders, hidden queue counted.

Rule: ORD-050's dead man's switch cancels (the book keeps its live orders in queue order; the level's size is the
memory, snapshot and reading cost bound of red team 5, redteam5_2).
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event
from perpspec.engine.core.exchange import Engine

PRICE = 5_000_000


def ok(engine: Engine, command: object) -> list[Event]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), (command, events[-1])
    return events


def after_the_switch(live: int, dead: int, hidden: int) -> tuple[int, int, list[int]]:
    """``live`` sells of account 3 rest at PRICE; account 1's switch cancels its ``dead`` sells there (``hidden`` of
    them fully hidden) in an accepted PriceUpdate: the level's entries, live orders and live order ids after it."""
    engine = Engine()
    for account in (1, 3):
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    ok(engine, c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=PRICE, index_price=PRICE))
    # account 3's order first (the head), then the two accounts' orders interleaved, account 1's hidden ones first
    makers = [3, *[account for pair in zip([1] * dead, [3] * (live - 1), strict=False) for account in pair]]
    makers += [1] * (dead - makers.count(1)) + [3] * (live - makers.count(3))
    kept = []
    for index, account in enumerate(makers):
        display = 0 if account == 1 and makers[:index].count(1) < hidden else None
        events = ok(engine, c.PlaceOrder(time_ms=1, account=account, symbol="XBTUSD", side="Sell", order_qty=100,
                                         price=PRICE, display_qty=display))
        if account == 3:
            kept.append(events[-1].order_id)
        if index == 0:
            ok(engine, c.CancelAllAfter(time_ms=1, account=1, timeout_ms=1))
    ok(engine, c.PriceUpdate(time_ms=5, symbol="XBTUSD", mark_price=PRICE, index_price=PRICE))  # the switch fires
    assert not engine.accounts[1].orders
    level = engine.books["XBTUSD"].asks[PRICE]
    ids = [order.order_id for order in (*level.shown, *level.hidden) if order.live]
    assert ids == kept
    return len(level.shown) + len(level.hidden), level.live, ids


def test_a_timers_dead_entries_no_more_than_the_live_orders_stay_in_the_queue() -> None:
    """Five live orders and five cancelled by the switch: the dead never outnumber the live, the level keeps its ten
    entries (as five ordinary cancels leave it).  Compacting at equality, or at every cancel, would not."""
    assert after_the_switch(live=5, dead=5, hidden=2)[:2] == (10, 5)


def test_a_timers_dead_entries_outnumbering_the_live_orders_are_compacted_hidden_ones_counted() -> None:
    """Five live orders and six cancelled by the switch, two of them fully hidden (the hidden queue): eleven entries
    for five live orders, compacted to the five at the sixth cancel.  Not counting the hidden queue, or allowing
    three dead entries per live order, would leave the six dead entries in the level after the command."""
    assert after_the_switch(live=5, dead=6, hidden=2)[:2] == (5, 5)


def test_a_commands_own_cancels_compact_at_once() -> None:
    """Four sells of account 3 rest at PRICE, ten of account 1 behind them; account 1's CancelAll cancels its ten one
    by one, each compacting the level when its dead entries outnumber its live orders (Book.remove): the eighth
    cancel compacts 14 entries to 6 live, the last two leave 2 dead beside 4 live: 6 entries.  Deferred to the end
    of the command (as session 13 deferred a timer's cancels), the whole level was compacted at once (4 entries):
    the snapshot differed."""
    engine = Engine()
    for account in (1, 3):
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    ok(engine, c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=PRICE, index_price=PRICE))
    for account, count in ((3, 4), (1, 10)):
        for _ in range(count):
            ok(engine, c.PlaceOrder(time_ms=1, account=account, symbol="XBTUSD", side="Sell", order_qty=100,
                                    price=PRICE))
    ok(engine, c.CancelAll(time_ms=2, account=1))
    level = engine.books["XBTUSD"].asks[PRICE]
    assert (len(level.shown) + len(level.hidden), level.live) == (6, 4)
