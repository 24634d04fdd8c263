"""The Engine's command dispatch: event numbers, reject fields and texts, rollback after internal errors (mutation survivors).

Found by ``python -m tests.mutation engine/core/exchange.py`` (issue 13, session 8).  docs/engine.md ("Commands, time
and failures"): every command gets exactly one ``Accepted`` or ``Rejected`` as its last event, events are numbered
one by one, a rejected command changes nothing (its clock included), and a bug inside a command answers
``InternalError`` + ``Rejected(InternalError)`` and restores the state by replaying the commands since the last
checkpoint.  Times are bounded to ``[0, MAX_TIME_MS]`` and one command moves the clock by at most
``max_clock_step_ms`` (issue 12, finding 3).
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core import exchange
from perpspec.engine.core.events import Accepted, Event, InternalError, Reason, Rejected
from perpspec.engine.core.exchange import MAX_TIME_MS, Engine


def _seqs(events: list[Event]) -> list[int]:
    return [event.seq for event in events]


def _planted(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """TimeTicks appended to the returned list crash inside their handler (after a half-applied change)."""
    handler = exchange._HANDLERS[c.TimeTick]
    planted: list[object] = []

    def broken(engine: Engine, command: c.TimeTick) -> object:
        if not any(command is p for p in planted):  # the replay's other time ticks run as ever
            return handler(engine, command)
        engine.accounts[1].wallets["XBt"] = -1  # a half-applied change...
        raise ZeroDivisionError("planted bug")  # ...then a crash

    monkeypatch.setitem(exchange._HANDLERS, c.TimeTick, broken)
    return planted


def test_two_internal_errors_between_checkpoints_keep_the_event_numbers_consecutive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The second rollback replays the first failure's stand-in: it must leave the event counter where the first
    failure left it (its two events), so the numbers run on without a gap and the state is the one before."""
    planted = _planted(monkeypatch)
    engine = Engine()
    assert _seqs(engine.process(c.VerifyAccount(time_ms=0, account=1))) == [1]
    assert _seqs(engine.process(c.Deposit(time_ms=0, account=1, asset="XBt", amount=10**8))) == [2, 3]
    first = c.TimeTick(time_ms=1)
    planted.append(first)
    failed = engine.process(first)
    assert [(type(e), e.seq) for e in failed] == [(InternalError, 4), (Rejected, 5)]
    assert _seqs(engine.process(c.VerifyAccount(time_ms=1, account=2))) == [6]
    before = engine.snapshot()
    second = c.TimeTick(time_ms=2)
    planted.append(second)
    failed = engine.process(second)
    assert [(type(e), e.seq) for e in failed] == [(InternalError, 7), (Rejected, 8)]
    restored = Engine.from_snapshot(before)
    restored.stream.seq += 2  # the two events of the failure
    assert engine.snapshot() == restored.snapshot()
    assert engine.accounts[1].wallet("XBt") == 10**8
    assert _seqs(engine.process(c.VerifyAccount(time_ms=2, account=3))) == [9]


def test_an_internal_errors_reject_names_no_account(monkeypatch: pytest.MonkeyPatch) -> None:
    """InternalError + Rejected(InternalError, the error's text) for account -1, at the clock's time."""
    planted = _planted(monkeypatch)
    engine = Engine()
    engine.process(c.VerifyAccount(time_ms=3, account=1))
    tick = c.TimeTick(time_ms=4)
    planted.append(tick)
    assert engine.process(tick) == [
        InternalError(2, 3, "TimeTick", "ZeroDivisionError: planted bug"),
        Rejected(3, 3, "TimeTick", -1, Reason.INTERNAL_ERROR, "planted bug", ""),
    ]


def test_a_time_tick_is_accepted_for_no_account_and_no_order() -> None:
    """TimeTick: only the clock moves; its Accepted names account -1 and order 0."""
    engine = Engine()
    assert engine.process(c.TimeTick(time_ms=5)) == [Accepted(1, 5, "TimeTick", -1, 0)]
    assert engine.time_ms == 5


def test_a_rejected_command_without_an_account_reports_account_minus_one() -> None:
    """A Rejected names the command's account, or -1 for a system command (PriceUpdate has no account)."""
    engine = Engine()
    [rejected] = engine.process(c.PriceUpdate(time_ms=0, symbol="NOPE", mark_price=1, index_price=1))
    assert isinstance(rejected, Rejected)
    assert (rejected.seq, rejected.command, rejected.account) == (1, "PriceUpdate", -1)


def test_a_rejected_command_with_a_non_integer_account_reports_account_minus_one() -> None:
    """The typed validation layer refuses an account given as a string; the Rejected shows account -1, not the text."""
    engine = Engine()
    command = c.VerifyAccount(time_ms=0, account="7")  # type: ignore[arg-type]
    assert engine.process(command) == [Rejected(1, 0, "VerifyAccount", -1, Reason.MALFORMED, "account must be an integer", "")]


def test_a_time_beyond_the_range_is_shown_in_its_first_40_characters() -> None:
    """TimeOutOfRange: the refused time is shown cut to 40 characters, then the range."""
    engine = Engine()
    huge = 10**45  # 46 digits
    [rejected] = engine.process(c.TimeTick(time_ms=huge))
    assert isinstance(rejected, Rejected)
    assert (rejected.reason, rejected.text) == (
        Reason.TIME_OUT_OF_RANGE, f"time {'1' + '0' * 39} is outside [0, {MAX_TIME_MS}]"
    )
    assert rejected.time_ms == 0


def test_the_clock_step_bound_holds_from_a_clock_of_one_millisecond() -> None:
    """A clock at 1 ms is a started clock: a command more than max_clock_step_ms later is refused, its text giving the
    step; exactly max_clock_step_ms later is accepted."""
    engine = Engine(max_clock_step_ms=1_000)
    engine.process(c.TimeTick(time_ms=1))
    [rejected] = engine.process(c.TimeTick(time_ms=1_002))
    assert isinstance(rejected, Rejected)
    assert (rejected.reason, rejected.text) == (
        Reason.TIME_OUT_OF_RANGE, "time 1002 moves the clock 1001 ms, more than max_clock_step_ms 1000"
    )
    assert engine.time_ms == 1
    assert engine.process(c.TimeTick(time_ms=1_001)) == [Accepted(3, 1_001, "TimeTick", -1, 0)]
