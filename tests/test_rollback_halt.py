"""Session 12: a rollback that fails halts the engine; nothing escapes ``Engine.process``.

A bug inside a command answers ``InternalError`` + ``Rejected(InternalError)`` and the state goes back to the one
before the command: the last checkpoint is loaded and the commands since are replayed (``Engine._restore``).
Until session 12 a failure inside that replay (or a checkpoint that did not load) escaped ``Engine.process`` as
the replayed command's exception, leaving an engine half-restored: the checkpoint plus part of the commands
since, running on as if nothing happened.

Now the engine halts: the failed command still gets ``InternalError`` + ``Rejected(InternalError)``, numbered on
from before it, the rejection's text naming both failures; every later command gets ``Rejected(InternalError)``
with that text and changes nothing; ``snapshot`` and ``state_hash`` raise ``EngineHalted``, so no
half-restored state is saved.  The way back is recovery from the journal.

Rules: none (the engine's rollback, docs/engine.md "Commands, time and failures").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core import exchange
from perpspec.engine.core.events import Accepted, InternalError, Reason, Rejected
from perpspec.engine.core.exchange import Engine, EngineHalted
from perpspec.engine.durability.recovery import DurableExchange, command_codec, list_snapshots


def plant(monkeypatch: pytest.MonkeyPatch) -> tuple[list[object], list[object]]:
    """TimeTicks in the first list crash (after a half-applied change); those in the second crash only when
    replayed after a rollback."""
    handler = exchange._HANDLERS[c.TimeTick]
    crash: list[object] = []
    crash_on_replay: list[object] = []

    def broken(engine: Engine, command: c.TimeTick) -> object:
        if any(command is p for p in crash):
            engine.accounts[1].wallets["XBt"] = -1  # a half-applied change...
            raise ZeroDivisionError("planted bug")  # ...then a crash
        if engine.stream.replaying and any(command is p for p in crash_on_replay):
            raise KeyError("planted replay bug")
        return handler(engine, command)

    monkeypatch.setitem(exchange._HANDLERS, c.TimeTick, broken)
    return crash, crash_on_replay


def funded() -> Engine:
    engine = Engine()
    engine.process(c.VerifyAccount(time_ms=0, account=1))
    engine.process(c.Deposit(time_ms=0, account=1, asset="XBt", amount=10**8))
    return engine


def test_a_failed_replay_halts_the_engine_instead_of_escaping(monkeypatch: pytest.MonkeyPatch) -> None:
    crash, crash_on_replay = plant(monkeypatch)
    engine = funded()
    tick = c.TimeTick(time_ms=1)
    crash_on_replay.append(tick)
    assert isinstance(engine.process(tick)[-1], Accepted)  # fine the first time
    seq = engine.seq
    failing = c.TimeTick(time_ms=2)
    crash.append(failing)
    events = engine.process(failing)  # the rollback replays ``tick``, which now fails
    assert [(type(event), event.seq) for event in events] == [(InternalError, seq + 1), (Rejected, seq + 2)]
    refused = events[-1]
    assert isinstance(refused, Rejected)
    assert refused.reason is Reason.INTERNAL_ERROR
    assert refused.text.startswith("engine halted: the rollback after TimeTick's internal error")
    assert "replaying command 3 of 3 since the checkpoint (TimeTick) failed (KeyError" in refused.text
    assert engine.halted == refused.text


def test_a_halted_engine_refuses_every_command_and_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    crash, crash_on_replay = plant(monkeypatch)
    engine = funded()
    tick = c.TimeTick(time_ms=1)
    crash_on_replay.append(tick)
    engine.process(tick)
    failing = c.TimeTick(time_ms=2)
    crash.append(failing)
    halted = engine.process(failing)[-1]
    wallets = dict(engine.accounts[1].wallets)
    seq = engine.seq
    later = engine.process(c.PlaceOrder(time_ms=3, account=1, symbol="XBTUSD", side="Buy", order_qty=100,
                                        price=4_000_000, cl_ord_id="w1"))
    assert later == [Rejected(seq + 1, 1, "PlaceOrder", 1, Reason.INTERNAL_ERROR, halted.text, "w1")]
    assert engine.process(c.Deposit(time_ms=4, account=1, asset="XBt", amount=10))[-1].reason is Reason.INTERNAL_ERROR
    assert engine.accounts[1].wallets == wallets
    with pytest.raises(EngineHalted, match="engine halted"):
        engine.snapshot()
    with pytest.raises(EngineHalted, match="engine halted"):
        engine.state_hash()


def test_a_checkpoint_that_does_not_load_halts_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    crash, _ = plant(monkeypatch)
    engine = funded()
    engine._checkpoint = b"not a state"
    failing = c.TimeTick(time_ms=2)
    crash.append(failing)
    events = engine.process(failing)
    assert [type(event) for event in events] == [InternalError, Rejected]
    assert "the checkpoint did not load (CodecError" in engine.halted


def test_a_rollback_that_succeeds_leaves_the_engine_running(monkeypatch: pytest.MonkeyPatch) -> None:
    crash, _ = plant(monkeypatch)
    engine = funded()
    engine.process(c.TimeTick(time_ms=1))
    before = engine.snapshot()
    failing = c.TimeTick(time_ms=2)
    crash.append(failing)
    events = engine.process(failing)
    assert events[-1].text == "planted bug"
    assert engine.halted == ""
    restored = Engine.from_snapshot(before)
    restored.seq += 2  # the two events of the failure
    assert engine.snapshot() == restored.snapshot()
    assert isinstance(engine.process(c.TimeTick(time_ms=3))[-1], Accepted)


def test_a_durable_exchange_writes_no_snapshot_of_a_halted_engine(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The durable exchange hashes the state before it writes a snapshot: a halted engine's hash raises, so no
    snapshot of a half-restored state is ever written (recovery starts from the last good one and the journal)."""
    crash, crash_on_replay = plant(monkeypatch)
    durable, _ = DurableExchange.open(str(tmp_path), command_codec(), Engine)
    durable.submit(c.VerifyAccount(time_ms=0, account=1))
    durable.submit(c.Deposit(time_ms=0, account=1, asset="XBt", amount=10**8))
    durable.snapshot()
    tick = c.TimeTick(time_ms=1)
    crash_on_replay.append(tick)
    durable.submit(tick)
    failing = c.TimeTick(time_ms=2)
    crash.append(failing)
    assert durable.submit(failing)[-1].text.startswith("engine halted")
    snapshots = list_snapshots(str(tmp_path))
    with pytest.raises(EngineHalted):
        durable.snapshot()
    assert list_snapshots(str(tmp_path)) == snapshots
    durable.close()
