"""A durable store whose engine halted journals nothing it refuses, and writes no snapshot (session 12 review, rev_4).

A halt (``Engine._halt``: the rollback after an internal error failed) makes the engine refuse every command, and
recovery from the journal is the way back.  ``DurableExchange.submit`` used to journal each refused command before
the engine refused it, so that recovery then carried out what clients had been told was refused: a withdrawal of
50,000,000 XBt answered ``Rejected(InternalError)`` live was paid after recovery.  With ``snapshot_every`` due, the
periodic snapshot also raised ``EngineHalted`` out of ``submit``.  The halt is planted as in
tests/test_rollback_halt.py (a TimeTick that crashes, after one that crashes only when replayed).

Rules: MRG-064 (the withdrawal refused live stays refused after recovery).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.engine.durability.recovery import DurableExchange, command_codec
from tests.test_rollback_halt import plant


@pytest.mark.parametrize("snapshot_every", [0, 1])
def test_commands_refused_by_a_halted_engine_stay_refused_after_recovery(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, snapshot_every: int
) -> None:
    crash, crash_on_replay = plant(monkeypatch)
    durable, _ = DurableExchange.open(str(tmp_path), command_codec(), Engine, snapshot_every=snapshot_every)
    durable.submit(c.VerifyAccount(time_ms=0, account=1))
    durable.submit(c.Deposit(time_ms=0, account=1, asset="XBt", amount=10**8))
    tick = c.TimeTick(time_ms=1)
    crash_on_replay.append(tick)
    durable.submit(tick)
    failing = c.TimeTick(time_ms=2)
    crash.append(failing)
    halted = durable.submit(failing)[-1]  # no EngineHalted out of the periodic snapshot
    assert isinstance(halted, Rejected)
    assert halted.text.startswith("engine halted")
    answer = durable.submit(c.Withdraw(time_ms=3, account=1, asset="XBt", amount=50_000_000))[-1]
    assert isinstance(answer, Rejected)
    assert answer.text == halted.text
    durable.commit()
    durable.close()
    monkeypatch.undo()  # the operator recovers; the planted bug is gone
    recovered, _ = DurableExchange.open(str(tmp_path), command_codec(), Engine)
    assert recovered.exchange.accounts[1].wallets["XBt"] == 10**8  # the refused withdrawal was not paid
    assert not recovered.exchange.halted
    recovered.close()
