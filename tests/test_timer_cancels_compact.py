"""A dead man's switch's cancels are compacted out of the book (review7_1).

Session 13 compacts a price level when its cancelled entries outnumber its live orders (redteam5_2), except for the
cancels of timers (a dead man's switch, Day orders expiring), which stayed in their queue so that a rejected
command's undo could put them back.  Nothing compacted them later: re-arming ``CancelAllAfter(1)`` and placing K
orders behind someone else's resting order every millisecond grew the level by K dead entries a command (20,001
entries for one live order after 20,400 commands, the snapshot 3.6 KB -> 1.7 MB).  Session 13 then compacted the
levels a command's timers cancelled from once the command was accepted.  Session 15: the timers' cancels are
committed whatever the command's fate (ORD-050), so they compact as any cancel does (``Book.remove``), in a
rejected command too.
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


def engine_with_a_head_order() -> Engine:
    engine = Engine()
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


def test_a_rejected_commands_timers_cancel_for_good_and_compact_the_level() -> None:
    engine = engine_with_a_head_order()
    churn(engine, rounds=1, per_round=20)
    refused = engine.process(c.Withdraw(time_ms=2, account=2, asset="XBt", amount=10**15))  # fires the switch
    assert isinstance(refused[-1], Rejected)
    assert len(refused) == 21  # the switch's 20 cancels, then the rejection
    held, live = entries(engine)
    assert live == 1
    assert held <= 2 * live
    assert engine.accounts[1].orders == {}


def test_a_rejected_command_leaves_the_book_bytes_a_time_tick_leaves() -> None:
    rejected, ticked = engine_with_a_head_order(), engine_with_a_head_order()
    t = churn(rejected, rounds=5, per_round=7)
    churn(ticked, rounds=5, per_round=7)
    rejected.process(c.Withdraw(time_ms=t, account=2, asset="XBt", amount=10**15))  # rejected: the switch fires
    ok(ticked, c.TimeTick(time_ms=t))
    for engine in (rejected, ticked):
        churn(engine, rounds=5, per_round=7, start=t)
    assert rejected.snapshot() == ticked.snapshot()
    assert rejected.state_hash() == ticked.state_hash()
