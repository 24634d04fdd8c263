"""Issue 12, finding 3: one command must not be able to kill the exchange through its clock.

A rejected command changes nothing, the clock included -- except that the timers its time makes due
(Day orders of past days, dead man's switches) fire and stay fired, the clock at the command's time, as a
``TimeTick`` would leave them (session 15); times are bounded to ``[0, MAX_TIME_MS]``; and how far one
command may move the clock forward is the engine parameter ``max_clock_step_ms`` (default
``MAX_CLOCK_STEP_MS``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Reason, Rejected
from perpspec.engine.core.exchange import MAX_CLOCK_STEP_MS, MAX_TIME_MS, Engine
from perpspec.engine.durability.recovery import DurableExchange, command_codec, recover

T0 = 1_600_000_000_000  # 2020-09-13


def started(**options: int) -> Engine:
    engine = Engine(**options)  # type: ignore[arg-type]
    for command in (
        c.VerifyAccount(time_ms=T0, account=1),
        c.Deposit(time_ms=T0, account=1, asset="XBt", amount=10**8),
        c.PriceUpdate(time_ms=T0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000),
    ):
        assert isinstance(engine.process(command)[-1], Accepted)
    return engine


def unchanged_but_seq(engine: Engine, before: Engine) -> bool:
    before.seq = engine.seq
    return engine.state_hash() == before.state_hash()


def test_a_far_future_order_from_an_unknown_account_kills_nothing(tmp_path: Path) -> None:
    durable, _ = DurableExchange.open(str(tmp_path), command_codec(), started)
    clock = durable.exchange.time_ms
    events = durable.submit(
        c.PlaceOrder(time_ms=10**100, account=99, symbol="XBTUSD", side="Buy", order_qty=100, price=5_000_000)
    )
    assert isinstance(events[-1], Rejected)
    assert events[-1].reason is Reason.TIME_OUT_OF_RANGE
    assert durable.exchange.time_ms == clock
    later = durable.submit(c.Deposit(time_ms=T0 + 1_000, account=1, asset="XBt", amount=1))
    assert isinstance(later[-1], Accepted)  # the exchange lives on
    durable.close()
    replayed, report, _ = recover(str(tmp_path / "journal.log"), command_codec())
    assert (report.rejected, replayed.state_hash()) == (1, durable.exchange.state_hash())


@pytest.mark.parametrize(
    "command",
    [
        c.PlaceOrder(
            time_ms=T0 + 5_000, account=99, symbol="XBTUSD", side="Buy", order_qty=100, price=5_000_000
        ),
        c.Withdraw(time_ms=T0 + 5_000, account=1, asset="XBt", amount=10**12),
        c.CancelOrder(time_ms=T0 + 5_000, account=1, order_id=12345),
        c.Deposit(time_ms=T0 + 5_000, account=1, asset="XBt", amount=-1),
    ],
)
def test_a_rejected_command_leaves_the_clock_and_every_other_state_as_it_was(command: object) -> None:
    engine = started()
    before = Engine.from_snapshot(engine.snapshot())
    events = engine.process(command)  # type: ignore[arg-type]
    assert isinstance(events[-1], Rejected)
    assert (engine.time_ms, unchanged_but_seq(engine, before)) == (T0, True)
    assert events[-1].time_ms == T0 + 5_000  # the event still says when the command came


def test_a_rejected_command_fires_the_due_timers_as_a_time_tick_would() -> None:
    engine = started()
    engine.process(
        c.PlaceOrder(time_ms=T0, account=1, symbol="XBTUSD", side="Buy", order_qty=100, price=4_000_000)
    )
    assert isinstance(
        engine.process(c.CancelAllAfter(time_ms=T0, account=1, timeout_ms=10_000))[-1], Accepted
    )
    twin = Engine.from_snapshot(engine.snapshot())
    rejected = engine.process(c.CancelOrder(time_ms=T0 + 20_000, account=1, order_id=999))
    assert [type(event).__name__ for event in rejected] == ["Execution", "Rejected"]
    assert "dead man's switch" in rejected[0].text  # type: ignore[union-attr]
    assert isinstance(twin.process(c.TimeTick(time_ms=T0 + 20_000))[-1], Accepted)
    assert (engine.time_ms, engine.state_hash()) == (T0 + 20_000, twin.state_hash())
    assert [type(event).__name__ for event in engine.process(c.TimeTick(time_ms=T0 + 20_000))] == ["Accepted"]


def test_times_outside_the_documented_range_are_rejected() -> None:
    engine = Engine()
    for time_ms in (-1, MAX_TIME_MS + 1, 2**63, 10**100):
        assert engine.process(c.TimeTick(time_ms=time_ms))[-1].reason is Reason.TIME_OUT_OF_RANGE  # type: ignore[union-attr]
    assert engine.time_ms == 0
    assert isinstance(
        engine.process(c.TimeTick(time_ms=MAX_TIME_MS))[-1], Accepted
    )  # the first move sets the epoch


def test_one_command_moves_the_clock_at_most_max_clock_step_ms() -> None:
    engine = started(max_clock_step_ms=60_000)
    too_far = engine.process(c.TimeTick(time_ms=T0 + 60_001))[-1]
    assert isinstance(too_far, Rejected)
    assert (too_far.reason, engine.time_ms) == (Reason.TIME_OUT_OF_RANGE, T0)
    assert isinstance(engine.process(c.TimeTick(time_ms=T0 + 60_000))[-1], Accepted)
    assert engine.time_ms == T0 + 60_000


def test_the_default_clock_step_is_documented_and_generous_enough_for_the_shipped_scenarios() -> None:
    assert MAX_CLOCK_STEP_MS == 366 * 86_400_000
    engine = started()
    assert isinstance(engine.process(c.TimeTick(time_ms=T0 + MAX_CLOCK_STEP_MS))[-1], Accepted)


def test_a_clock_at_zero_moves_anywhere_once_then_by_at_most_the_step() -> None:
    """The documented exception (redteam14_4): commands at time 0 do not start the clock; its first move off 0
    sets the epoch however far, and from then on one command moves it by at most ``max_clock_step_ms``."""
    engine = Engine(max_clock_step_ms=60_000)
    assert isinstance(engine.process(c.VerifyAccount(time_ms=0, account=1))[-1], Accepted)
    assert isinstance(engine.process(c.TimeTick(time_ms=T0))[-1], Accepted)  # far past 60 s: the epoch
    too_far = engine.process(c.TimeTick(time_ms=T0 + 60_001))[-1]
    assert isinstance(too_far, Rejected)
    assert (too_far.reason, engine.time_ms) == (Reason.TIME_OUT_OF_RANGE, T0)
