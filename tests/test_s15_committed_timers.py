"""Session 15 (redteam10_1): the timers a command's time fires are committed, whatever becomes of the command.

Until session 15 a rejected command undid the timers its time had fired (``registry.TimerUndo``) and put the clock
back.  Just after UTC midnight every Day order on the exchange is due, so each rejected command -- from anyone,
even naming an account that does not exist -- cancelled them all and put them all back: 4,000 Day orders cost
~37 ms per rejected command, again and again.  A due dead man's switch did the same with its account's orders.

Now time passing is its own transition (``registry.OrderRegistry.advance_clock``, ORD-023 / ORD-050): the Day
orders of past days expire and due switches fire, the clock moves to the command's time, and that stays, exactly as
a ``TimeTick`` at that time would have left it; then the command is judged, and a rejected command changes nothing
else.  Its timers' cancels come before its ``Rejected``, as they come before an ``Accepted``.  A command whose time
is itself refused (backwards, too far, malformed fields) fires nothing; a rejected command with no timer due leaves
the clock where it was.  Journal replay, recovery and snapshots give the same events and state.

Rules: ORD-023 (Day), ORD-050 (dead man's switch).  Cost is counted (cancels), never timed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core import registry as reg
from perpspec.engine.core.accounts import DAY_MS
from perpspec.engine.core.events import Accepted, Event, Execution, Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.engine.durability.recovery import DurableExchange, command_codec, event_stream_hash, recover
from perpspec.engine.serve.gateway import Gateway

SYMBOL = "XBTUSD"
MARK = 5_000_000
DAY_TEXT = "Canceled: Day order expired"
SWITCH_TEXT = "Canceled: Cancel-all-after (dead man's switch) fired"
interpreted_only = pytest.mark.skipif(
    not reg.__file__.endswith(".py"), reason="counts the registry's own calls: interpreted only"
)


def ok(engine: Engine, command: Any) -> list[Event]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), (command, events[-1])
    return events


def day_book(day_orders: int) -> Engine:
    """Ten funded accounts resting ``day_orders`` Day bids placed just before the first midnight."""
    engine = Engine()
    ok(engine, c.PriceUpdate(time_ms=0, symbol=SYMBOL, mark_price=MARK, index_price=MARK))
    for account in range(1, 11):
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**11))
    for number in range(day_orders):
        ok(engine, c.PlaceOrder(time_ms=DAY_MS - 10, account=1 + number % 10, symbol=SYMBOL, side="Buy",
                                order_qty=100, price=MARK - (1 + number % 200) * 50, time_in_force="Day"))
    return engine


def switched(orders: int) -> Engine:
    """Account 1 rests ``orders`` bids and arms a 1,000 ms switch at t=0; account 2 is funded."""
    engine = Engine()
    ok(engine, c.PriceUpdate(time_ms=0, symbol=SYMBOL, mark_price=MARK, index_price=MARK))
    for account in (1, 2):
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    for number in range(orders):
        ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol=SYMBOL, side="Buy", order_qty=100,
                                price=MARK - (1 + number) * 50))
    ok(engine, c.CancelAllAfter(time_ms=0, account=1, timeout_ms=1_000))
    return engine


def texts(events: list[Event]) -> list[str]:
    return [event.text for event in events if isinstance(event, Execution)]


def outsider(time_ms: int) -> c.CancelOrder:
    """A command naming an account that does not exist: rejected, by anyone."""
    return c.CancelOrder(time_ms=time_ms, account=999_999, order_id=1)


# ------------------------------------------------------------------------------------------ the reproducer, counted
@interpreted_only
def test_rejected_commands_after_midnight_cancel_each_day_order_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """redteam10_1 counted: 20 rejected commands after midnight cost the Day orders once, not once each."""
    engine = day_book(300)
    calls = [0]
    cancel = reg.OrderRegistry.cancel

    def counting(self: reg.OrderRegistry, order: Any, text: str, in_book: bool = True) -> None:
        calls[0] += 1
        cancel(self, order, text, in_book)

    monkeypatch.setattr(reg.OrderRegistry, "cancel", counting)
    answers = [engine.process(outsider(DAY_MS + 1 + step)) for step in range(20)]
    assert all(isinstance(events[-1], Rejected) for events in answers)
    assert calls[0] == 300  # old code: 20 x 300 cancels (and as many undos)
    assert [len(events) for events in answers] == [301] + [1] * 19


def test_the_first_rejected_command_after_midnight_expires_the_day_orders_for_good() -> None:
    engine = day_book(30)
    first = engine.process(outsider(DAY_MS + 1))
    assert texts(first) == [DAY_TEXT] * 30
    assert isinstance(first[-1], Rejected)
    assert first[-1].reason is Reason.UNVERIFIED_ACCOUNT
    assert (engine.time_ms, engine.registry.day_orders, engine.live_orders) == (DAY_MS + 1, {}, {})
    assert [type(event) for event in engine.process(outsider(DAY_MS + 2))] == [Rejected]  # nothing left to fire
    assert engine.time_ms == DAY_MS + 1  # no timer due: the clock stays


# ---------------------------------------------------------------------------------------------- a due switch
def test_a_rejected_command_at_a_due_switch_cancels_its_orders_and_moves_the_clock() -> None:
    engine = switched(3)
    seq = engine.seq
    events = engine.process(c.Withdraw(time_ms=1_500, account=2, asset="XBt", amount=10**15))
    assert texts(events) == [SWITCH_TEXT] * 3
    assert [type(event) for event in events] == [Execution, Execution, Execution, Rejected]  # cancels first
    assert [event.seq for event in events] == [seq + 1, seq + 2, seq + 3, seq + 4]
    assert {event.account for event in events[:-1]} == {1}  # type: ignore[attr-defined]
    rejected = events[-1]
    assert isinstance(rejected, Rejected)
    assert (rejected.reason, rejected.account, rejected.time_ms) == (Reason.INSUFFICIENT_BALANCE, 2, 1_500)
    assert (engine.time_ms, engine.accounts[1].orders, engine.accounts[1].cancel_at_ms) == (1_500, {}, 0)
    assert engine.registry.dms_heap == []


def test_the_next_rejected_command_fires_nothing_and_leaves_the_clock() -> None:
    engine = switched(3)
    engine.process(c.Withdraw(time_ms=1_500, account=2, asset="XBt", amount=10**15))
    hash_before = engine.state_hash()
    events = engine.process(c.Withdraw(time_ms=1_700, account=2, asset="XBt", amount=10**15))
    assert [type(event) for event in events] == [Rejected]
    engine.seq -= 1  # the Rejected's number: all a rejected command with no timer due moves
    assert (engine.time_ms, engine.state_hash()) == (1_500, hash_before)


def test_a_rejected_command_is_a_time_tick_then_nothing() -> None:
    """The state after a rejected command that fired a switch is the state after a TimeTick at its time."""
    engine = switched(5)
    twin = Engine.from_snapshot(engine.snapshot())
    rejected = engine.process(outsider(1_000))
    ticked = twin.process(c.TimeTick(time_ms=1_000))
    assert rejected[:-1] == ticked[:-1]
    assert (engine.snapshot(), engine.state_hash()) == (twin.snapshot(), twin.state_hash())


def test_a_rejected_command_with_no_timer_due_leaves_the_clock_beside_live_day_orders() -> None:
    """Day orders live, a command later on the same day: no timer is due, the clock stays (timers_due's `>`)."""
    engine = day_book(4)
    engine.process(c.CancelAllAfter(time_ms=DAY_MS - 10, account=1, timeout_ms=10_000))
    events = engine.process(outsider(DAY_MS - 5))
    assert [type(event) for event in events] == [Rejected]
    assert (engine.time_ms, len(engine.live_orders)) == (DAY_MS - 10, 4)


@pytest.mark.parametrize(
    "command",
    [
        c.Withdraw(time_ms=501 + 366 * DAY_MS, account=2, asset="XBt", amount=1),  # more than max_clock_step_ms
        c.Withdraw(time_ms=-1, account=2, asset="XBt", amount=1),  # outside the clock's range
        c.Withdraw(time_ms=499, account=2, asset="XBt", amount=1),  # backwards
        c.Withdraw(time_ms=1_500, account="2", asset="XBt", amount=1),  # type: ignore[arg-type]  # a wrong type
        c.Withdraw(time_ms="1500", account=2, asset="XBt", amount=1),  # type: ignore[arg-type]  # a wrong time
    ],
)
def test_a_command_whose_time_or_fields_are_refused_fires_nothing(command: Any) -> None:
    engine = switched(2)
    ok(engine, c.TimeTick(time_ms=500))  # the clock has an epoch: max_clock_step_ms applies
    hash_before = engine.state_hash()
    events = engine.process(command)
    assert [type(event) for event in events] == [Rejected]
    engine.seq -= 1
    assert (engine.time_ms, engine.state_hash(), len(engine.accounts[1].orders)) == (500, hash_before, 2)


# ------------------------------------------------------------------------------- replay, recovery, snapshots
def stream() -> list[Any]:
    """Day orders and a switch with orders, then rejected commands at midnight and at the deadline."""
    out: list[Any] = [c.PriceUpdate(time_ms=0, symbol=SYMBOL, mark_price=MARK, index_price=MARK)]
    for account in (1, 2, 3):
        out += [c.VerifyAccount(time_ms=0, account=account),
                c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10)]
    for number in range(12):
        out.append(c.PlaceOrder(time_ms=DAY_MS - 100, account=1 + number % 3, symbol=SYMBOL, side="Buy",
                                order_qty=100, price=MARK - (1 + number) * 50,
                                time_in_force="Day" if number % 2 else "GoodTillCancel"))
    out.append(c.CancelAllAfter(time_ms=DAY_MS - 100, account=3, timeout_ms=1_000))
    out += [outsider(DAY_MS + 1), outsider(DAY_MS + 2)]  # midnight: the Day orders, then nothing
    out.append(c.PlaceOrder(time_ms=DAY_MS + 800, account=3, symbol=SYMBOL, side="Buy", order_qty=100,
                            price=MARK - 4_000))  # accepted: the switch is still armed
    out.append(c.Withdraw(time_ms=DAY_MS + 950, account=3, asset="XBt", amount=10**15))  # the switch fires
    out.append(c.TimeTick(time_ms=DAY_MS + 960))
    out.append(c.Withdraw(time_ms=DAY_MS + 950, account=3, asset="XBt", amount=1))  # backwards: nothing
    return out


def test_a_journal_of_rejected_commands_that_fired_timers_replays_to_the_same_events(tmp_path: Path) -> None:
    durable, _ = DurableExchange.open(str(tmp_path), command_codec(), Engine)
    events: list[Any] = []
    for command in stream():
        events += durable.submit(command)
    expired = [event for event in events if isinstance(event, Execution) and event.text in (DAY_TEXT, SWITCH_TEXT)]
    assert len(expired) == 6 + 3  # six Day orders; then the switch: account 3's two GoodTillCancel bids and its new one
    durable.close()
    recovered, report, _ = recover(str(tmp_path / "journal.log"), command_codec())
    assert (report.event_hash, report.state_hash) == (event_stream_hash(events), durable.exchange.state_hash())
    assert recovered.time_ms == DAY_MS + 960


def test_a_snapshot_taken_before_the_rejected_commands_gives_the_same_events() -> None:
    commands = stream()
    engine = Engine()
    cut = len(commands) - 6
    for command in commands[:cut]:
        engine.process(command)
    twin = Engine.from_snapshot(engine.snapshot())
    for command in commands[cut:]:
        assert engine.process(command) == twin.process(command)
    assert engine.state_hash() == twin.state_hash()


def test_an_internal_error_after_the_timers_fired_restores_the_state_before_the_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bug in the handler rolls back the whole command, its timers too (the state before it); the next command's
    time fires them again, as on a replay."""
    engine = switched(2)
    hash_before = engine.state_hash()

    def broken(*_: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(engine.desk, "withdraw", broken)
    failed = engine.process(c.Withdraw(time_ms=1_500, account=2, asset="XBt", amount=1))
    assert [type(event).__name__ for event in failed] == ["InternalError", "Rejected"]
    engine.seq -= 2
    assert (engine.state_hash(), engine.time_ms) == (hash_before, 0)
    assert texts(engine.process(outsider(1_600))) == [SWITCH_TEXT] * 2


def test_a_rollback_replays_an_earlier_rejected_commands_timers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rollback after an internal error replays the commands since its checkpoint, a rejected one that fired
    timers among them: the state is the one before the failed command, the switch's cancels included."""
    engine = switched(2)
    fired = engine.process(outsider(1_500))
    assert texts(fired) == [SWITCH_TEXT] * 2
    hash_before = engine.state_hash()

    def broken(*_: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(engine.desk, "withdraw", broken)
    failed = engine.process(c.Withdraw(time_ms=1_600, account=2, asset="XBt", amount=1))
    assert [type(event).__name__ for event in failed] == ["InternalError", "Rejected"]
    engine.seq -= 2
    assert (engine.state_hash(), engine.time_ms, engine.accounts[1].orders) == (hash_before, 1_500, {})


# --------------------------------------------------------------------------------------------- serve's gateway
def test_the_gateway_reports_a_rejected_commands_timer_cancels_to_the_order_views(tmp_path: Path) -> None:
    now = [0]
    gateway = Gateway.open(str(tmp_path), clock=lambda: now[0])
    gateway.verify(1)
    gateway.deposit(1, "XBt", 10**10)
    gateway.set_price(SYMBOL, MARK)
    placed = gateway.execute(c.PlaceOrder(time_ms=gateway.now_ms(), account=1, symbol=SYMBOL, side="Buy",
                                          order_qty=100, price=MARK - 500))
    assert isinstance(placed[-1], Accepted)
    gateway.execute(c.CancelAllAfter(time_ms=gateway.now_ms(), account=1, timeout_ms=1_000))
    now[0] = 2_000
    events = gateway.execute(c.Withdraw(time_ms=gateway.now_ms(), account=1, asset="XBt", amount=10**15))
    assert isinstance(events[-1], Rejected)  # the client's answer: its own command's rejection
    assert gateway.views.orders[placed[-1].order_id].ord_status == "Canceled"
    assert gateway.views.deadlines == {}
    assert not gateway.tick_if_due()
    gateway.close()
