"""A due trailing stop fires after a refused command's switch cancelled another stop (session 12 review, rev_3).

Until session 15 the timer undo (registry.TimerUndo) put a cancelled untriggered order back at the end of its
contract's pool, and the triggers' old "nothing due" shortcut (``Quiet``) could take the reordered pool for one it
had judged quiet, so a due trailing stop was not fired; the stop index that replaced it (engine/core/triggers.py
``StopIndex``) compares the pool's orders by identity and rebuilds.  Since session 15 the switch's cancel stays
(the timers a command's time fires are committed, ORD-050): the pool loses the stop for good, and the trailing stop
must still fire, as it does after a TimeTick at the refused command's time.

Stream (XBTUSD, mark = index = 5,000,000): a Buy stop at 5,100,000 on IndexPrice (order 2) and a Sell stop at
4,000,000 (order 3); a Sell trailing stop, offset -100,000 on MarkPrice, trails to 5,100,000 when the mark rises to
5,200,000; order 2 is cancelled; order 3's account arms CancelAllAfter(1) and its refused command at t=1 fires the
switch.  The mark returns to 5,000,000: the trailing stop is due and must fire.

Rules: ORD (stops and trailing stops), ORD-050 (the dead man's switch).
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, Execution, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument


def run(refused: bool) -> tuple[list[Event], Engine]:
    """The stream; ``refused``: the switch fires in a refused command at t=1, else in a TimeTick there."""
    engine = Engine({"XBTUSD": load_instrument("XBTUSD")})

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
    if refused:
        fired = engine.process(c.CancelOrder(time_ms=1, account=2, order_id=10**9))
        assert [type(event) for event in fired] == [Execution, Rejected]  # the switch's cancel of order 3 stays
    else:
        ok(c.TimeTick(time_ms=1))
    return ok(c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000)), engine


def test_the_due_trailing_stop_fires_after_a_refused_commands_switch() -> None:
    events, _ = run(refused=True)
    fired = [(e.exec_type, e.last_qty) for e in events if isinstance(e, Execution) and e.account == 3]
    assert fired == [("TriggeredOrActivatedBySystem", 0), ("Trade", 100)]


def test_a_refused_command_and_a_time_tick_leave_the_same_state() -> None:
    (events_refused, refused), (events_ticked, ticked) = run(refused=True), run(refused=False)
    assert events_refused == events_ticked
    assert refused.state_hash() == ticked.state_hash()
