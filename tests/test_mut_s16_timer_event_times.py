"""ORD-023 and ORD-050: the cancels a timer makes carry the time of the command that fired it, pinned by a mutant of
session 15's ``OrderRegistry.advance_clock`` (session 16, "mut16").

Time passing is a transition of its own (session 15): the clock moves to the command's time, then the Day orders of
past days expire and the due switches fire.  Their ``Canceled`` executions are stamped with the clock, so the clock
must be the new time before the first of them: a Day order expired by the first command after midnight is reported
cancelled after midnight, whether that command is accepted or rejected.
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.accounts import DAY_MS
from perpspec.engine.core.events import Accepted, Execution, Rejected
from perpspec.engine.core.exchange import Engine

MARK = 5_000_000
PLACED_AT = DAY_MS - 1_000  # a second before midnight
AFTER = DAY_MS + 5_000


def _day_order_before_midnight() -> tuple[Engine, int]:
    engine = Engine()
    engine.process(c.VerifyAccount(time_ms=0, account=1))
    engine.process(c.Deposit(time_ms=0, account=1, asset="XBt", amount=10**8))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=MARK))
    placed = engine.process(c.PlaceOrder(time_ms=PLACED_AT, account=1, symbol="XBTUSD", side="Buy", order_qty=100,
                                         price=MARK - 100_000, time_in_force="Day"))
    assert isinstance(placed[-1], Accepted)
    return engine, placed[-1].order_id


@pytest.mark.parametrize("rejected", [False, True], ids=["accepted", "rejected"])
def test_ord_023_a_day_order_expired_after_midnight_is_reported_at_the_commands_time(rejected: bool) -> None:
    engine, order_id = _day_order_before_midnight()
    command = c.CancelOrder(time_ms=AFTER, account=1, order_id=10**9) if rejected else c.TimeTick(time_ms=AFTER)
    events = engine.process(command)
    assert isinstance(events[-1], Rejected if rejected else Accepted)
    [expired] = [e for e in events if isinstance(e, Execution) and e.order_id == order_id]
    assert (expired.ord_status, expired.time_ms) == ("Canceled", AFTER)


def test_ord_050_a_switchs_cancels_are_reported_at_the_commands_time() -> None:
    engine, order_id = _day_order_before_midnight()
    engine.process(c.CancelAllAfter(time_ms=PLACED_AT, account=1, timeout_ms=500))
    events = engine.process(c.TimeTick(time_ms=PLACED_AT + 700))
    [fired] = [e for e in events if isinstance(e, Execution) and e.order_id == order_id]
    assert (fired.ord_status, fired.time_ms) == ("Canceled", PLACED_AT + 700)
