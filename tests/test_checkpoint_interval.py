"""Rollback checkpoints are taken less often for a large state, and a rollback after several still restores it exactly.

``Engine.process`` checkpoints its state every ``checkpoint_interval(len(last checkpoint))``
commands (at least ``CHECKPOINT_EVERY``, more for a large state, at most ``CHECKPOINT_EVERY_MAX``)
and on an internal error loads the last checkpoint and replays the commands since.
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core import exchange
from perpspec.engine.core.events import InternalError, Rejected
from perpspec.engine.core.exchange import Engine, checkpoint_interval
from tests.streams import command_stream


def test_the_interval_grows_with_the_state_between_its_bounds() -> None:
    small = exchange.CHECKPOINT_EVERY * exchange.CHECKPOINT_BYTES_PER_COMMAND
    assert checkpoint_interval(0) == exchange.CHECKPOINT_EVERY
    assert checkpoint_interval(small) == exchange.CHECKPOINT_EVERY
    assert checkpoint_interval(3 * small) == 3 * exchange.CHECKPOINT_EVERY
    assert checkpoint_interval(10**12) == exchange.CHECKPOINT_EVERY_MAX


@pytest.mark.parametrize("every", [7, 50])
def test_an_internal_error_after_several_checkpoints_leaves_the_state_byte_identical(
    monkeypatch: pytest.MonkeyPatch, every: int
) -> None:
    # small bounds, so that a short day takes several checkpoints of different intervals
    monkeypatch.setattr(exchange, "CHECKPOINT_EVERY", every)
    monkeypatch.setattr(exchange, "CHECKPOINT_BYTES_PER_COMMAND", 100)
    engine = Engine()
    taken = []
    for command in command_stream(7, 500):
        engine.process(command)
        taken.append(engine._checkpoint_every)
    assert len(set(taken)) > 1  # the interval followed the state's size
    before = engine.snapshot()

    handler = exchange._HANDLERS[c.TimeTick]
    planted = c.TimeTick(time_ms=engine.time_ms)

    def broken(self: Engine, command: c.TimeTick) -> object:
        if command is not planted:  # the replay's own time ticks run as ever
            return handler(self, command)
        self.accounts[1].wallets["XBt"] = -1  # a half-applied change…
        raise ZeroDivisionError("planted bug")  # …then a crash

    monkeypatch.setitem(exchange._HANDLERS, c.TimeTick, broken)
    events = engine.process(planted)
    assert [type(event) for event in events] == [InternalError, Rejected]
    # the state is the one before, but for the event counter (two events were emitted)
    after = engine.snapshot()
    restored = Engine.from_snapshot(before)
    restored.stream.seq += 2
    assert after == restored.snapshot()
