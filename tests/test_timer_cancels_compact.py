"""A dead man's switch's cancels are compacted out of the book once their command is accepted (review7_1).

Session 13 compacts a price level when its cancelled entries outnumber its live orders (redteam5_2), except for the
cancels of timers (a dead man's switch, Day orders expiring), which stay in their queue so that a rejected command's
undo can put them back.  Nothing compacted them later: re-arming ``CancelAllAfter(1)`` and placing K orders behind
someone else's resting order every millisecond grew the level by K dead entries a command (20,001 entries for one
live order after 20,400 commands, the snapshot 3.6 KB -> 1.7 MB).  Now the levels a command's timers cancelled from
are compacted once the command is accepted; a rejected command's timers are undone, as before.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, Rejected
from perpspec.engine.core.exchange import Engine

PRICE = 5_000_000


def ok(engine: Engine, command: object) -> list[Event]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), (command, events[-1])
    return events


def engine_with_a_head_order(undo_by_dump: bool = False) -> Engine:
    engine = Engine()
    engine.undo_by_dump = undo_by_dump
    for account in (1, 2, 3):
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    ok(engine, c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=PRICE, index_price=PRICE))
    ok(engine, c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Sell", order_qty=1_000_000, price=PRICE))
    return engine


def churn(engine: Engine, rounds: int, per_round: int, start: int = 1) -> int:
    """Each round: arm a 1 ms switch, place ``per_round`` sells behind the head order; the next round fires it."""
    t = start
    for _ in range(rounds):
        ok(engine, c.CancelAllAfter(time_ms=t, account=1, timeout_ms=1))
        for _ in range(per_round):
            ok(engine, c.PlaceOrder(time_ms=t, account=1, symbol="XBTUSD", side="Sell", order_qty=100, price=PRICE))
        t += 1
    return t


def entries(engine: Engine) -> tuple[int, int]:
    level = engine.books["XBTUSD"].asks[PRICE]
    return len(level.shown) + len(level.hidden), level.live


def test_switch_cancels_do_not_accumulate_behind_a_resting_order() -> None:
    engine = engine_with_a_head_order()
    t = churn(engine, rounds=60, per_round=20)
    ok(engine, c.PriceUpdate(time_ms=t, symbol="XBTUSD", mark_price=PRICE, index_price=PRICE))  # the last switch fires
    held, live = entries(engine)
    assert live == 1
    assert held <= 2 * live  # old code: 1,201 entries (every switch's 20 cancels kept)


def test_a_rejected_commands_timers_are_undone_and_its_level_kept_as_it_was() -> None:
    engine = engine_with_a_head_order()
    churn(engine, rounds=1, per_round=20)
    before = entries(engine)
    refused = engine.process(c.Withdraw(time_ms=2, account=2, asset="XBt", amount=10**15))  # fires the switch
    assert isinstance(refused[-1], Rejected)
    assert entries(engine) == before  # the switch's 20 cancels undone: the orders rest again, in place
    assert len(engine.accounts[1].orders) == 20


def test_both_undo_paths_leave_the_same_book_bytes() -> None:
    by_record, by_dump = engine_with_a_head_order(), engine_with_a_head_order(undo_by_dump=True)
    for engine in (by_record, by_dump):
        t = churn(engine, rounds=5, per_round=7)
        engine.process(c.Withdraw(time_ms=t, account=2, asset="XBt", amount=10**15))  # rejected: undone
        churn(engine, rounds=5, per_round=7, start=t)
    assert by_record.snapshot() == by_dump.snapshot()
    assert by_record.state_hash() == by_dump.state_hash()
