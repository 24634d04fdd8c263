"""After a timer undo, a due trailing stop fires as it does after an undo by dump (session 12 review, rev_3).

The timer undo (registry.TimerUndo) puts a cancelled untriggered order back at the end of its contract's pool.  The
triggers' old "nothing due" shortcut (``Quiet``) recognised a pool by its length, last key and stop prices in dict
order, so a pool the undo had reordered could pass for one it had judged quiet, and a due trailing stop was not
fired.  The stop index that replaced it (engine/core/triggers.py ``StopIndex``) compares the pool's orders by
identity and rebuilds; this pins the stream.

Stream (XBTUSD, mark = index = 5,000,000): a Buy stop at 5,100,000 on IndexPrice (order 2) and a Sell stop at
4,000,000 (order 3); a Sell trailing stop, offset -100,000 on MarkPrice, trails to 5,100,000 when the mark rises to
5,200,000; order 2 is cancelled; order 3's account arms CancelAllAfter(1) and its refused command at t=1 fires the
switch, which is undone.  The mark returns to 5,000,000: the trailing stop is due and must fire on both twins.

Rules: ORD (stops and trailing stops), the dead man's switch (CancelAllAfter).
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, Execution, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument


def run(by_dump: bool) -> tuple[list[Event], Engine]:
    engine = Engine({"XBTUSD": load_instrument("XBTUSD")})
    engine.undo_by_dump = by_dump

    def ok(command: c.Command) -> list[Event]:
        events = engine.process(command)
        assert isinstance(events[-1], Accepted), (command, events[-1])
        return events

    ok(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    for account in (1, 2, 3, 4):
        ok(c.VerifyAccount(time_ms=0, account=account))
        ok(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    ok(c.PlaceOrder(time_ms=0, account=4, symbol="XBTUSD", side="Buy", order_qty=1_000, price=4_500_000))
    placed = ok(c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=100, stop_px=5_100_000,
                             exec_inst="IndexPrice"))[-1]
    assert isinstance(placed, Accepted)
    ok(c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Sell", order_qty=100, stop_px=4_000_000,
                    exec_inst="MarkPrice"))
    ok(c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Sell", order_qty=100, ord_type="Pegged",
                    peg_price_type="TrailingStopPeg", peg_offset_value=-100_000, exec_inst="MarkPrice"))
    ok(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_200_000, index_price=5_000_000))  # trails to 5.1M
    ok(c.CancelOrder(time_ms=0, account=1, order_id=placed.order_id))
    ok(c.CancelAllAfter(time_ms=0, account=2, timeout_ms=1))
    assert isinstance(engine.process(c.CancelOrder(time_ms=1, account=2, order_id=10**9))[-1], Rejected)
    # time 0: the refused command moved no clock, so the switch stays armed and unfired
    return ok(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000)), engine


@pytest.mark.parametrize("by_dump", [True, False])
def test_the_due_trailing_stop_fires_after_the_undo(by_dump: bool) -> None:
    events, _ = run(by_dump)
    fired = [(e.exec_type, e.last_qty) for e in events if isinstance(e, Execution) and e.account == 3]
    assert fired == [("TriggeredOrActivatedBySystem", 0), ("Trade", 100)]


def test_both_undos_leave_the_same_state() -> None:
    (events_dump, by_dump), (events_record, by_record) = run(True), run(False)
    assert events_dump == events_record
    assert by_dump.state_hash() == by_record.state_hash()
