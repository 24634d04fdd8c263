"""A stop a rejected command's timer cancelled and its undo put back still fires (session 15, helper "mut15").

A command refused after the clock moved undoes what its timers did (``registry.TimerUndo``): a dead man's switch
that cancelled an untriggered stop puts it back into its contract's pool.  Since session 14 the trigger index is
kept in step by the pool's writers (``Triggers.add``), so the undo enters the stop through ``Triggers.add``; putting
it straight into the pool dict (as before session 14) passed every test, and left the stop out of an index that
believed itself in step: the mark later fell through the stop and it never fired.  ORD-003 (a sell stop is due once
the price is at or below its stopPx), the dead man's switch (CancelAllAfter), a rejected command changes nothing.
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core import orders as o
from perpspec.engine.core.events import Accepted, Event, Execution, Rejected
from perpspec.engine.core.exchange import Engine

S = "XBTUSD"


def ok(engine: Engine, command: object) -> list[Event]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), (command, events[-1])
    return events


@pytest.mark.parametrize("by_dump", [True, False])
def test_ord_003_a_stop_put_back_by_a_timer_undo_fires_when_the_mark_falls_through_it(by_dump: bool) -> None:
    engine = Engine()
    engine.undo_by_dump = by_dump
    ok(engine, c.PriceUpdate(time_ms=0, symbol=S, mark_price=5_000_000, index_price=5_000_000))
    for account in (1, 2):
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol=S, side="Buy", order_qty=1_000, price=3_500_000))
    events = ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol=S, side="Sell", order_qty=100, stop_px=4_000_000))
    stop = events[-1].order_id  # type: ignore[attr-defined]
    ok(engine, c.PriceUpdate(time_ms=0, symbol=S, mark_price=4_900_000, index_price=4_900_000))  # a run: indexed
    ok(engine, c.CancelAllAfter(time_ms=0, account=2, timeout_ms=1))
    refused = engine.process(c.CancelOrder(time_ms=1, account=2, order_id=10**9))  # the switch fires, then undone
    assert isinstance(refused[-1], Rejected)
    assert stop in engine.triggers.conditional[S]
    events = ok(engine, c.PriceUpdate(time_ms=0, symbol=S, mark_price=3_900_000, index_price=3_900_000))
    fired = [e.exec_type for e in events if isinstance(e, Execution) and e.order_id == stop]
    assert fired[:1] == [o.EXEC_TRIGGERED]
    assert stop not in engine.triggers.conditional[S]
