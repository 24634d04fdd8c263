"""INV-DETERMINISM across processes: one journal, replayed in fresh interpreters with different PYTHONHASHSEEDs.

The journal is written here (the events the engine produced while it ran are
hashed as they come out); ``perpspec replay LOG --json`` then rebuilds it in
new interpreters whose string hashing, and so set and dict-of-str layout,
differ.  The event-stream hash and the state hash must be the same
everywhere, from the journal's genesis and from a snapshot.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from perpspec.engine.core.exchange import Engine
from perpspec.engine.durability.recovery import (
    DurableExchange,
    command_codec,
    event_stream_hash,
    list_snapshots,
)
from tests.streams import command_stream

ROOT = Path(__file__).resolve().parent.parent


def replay_in_fresh_interpreter(log: Path, hash_seed: str, *extra: str) -> dict[str, Any]:
    env = dict(os.environ, PYTHONHASHSEED=hash_seed, PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, "-m", "perpspec.engine.cli.main", "replay", str(log), "--json", *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A journal of a seeded stream, with the hashes of the run that wrote it."""
    directory = tmp_path_factory.mktemp("determinism")
    durable, _ = DurableExchange.open(str(directory), command_codec(), Engine, snapshot_every=250)
    events: list[Any] = []
    for command in command_stream(seed=77, length=600):
        events.extend(durable.submit(command))
    durable.close()
    return directory / "journal.log", event_stream_hash(events), durable.exchange.state_hash()


@pytest.mark.parametrize("hash_seed", ["0", "1", "123456789"])
def test_replay_in_a_fresh_interpreter_gives_the_same_events_and_state(
    journal: tuple[Path, str, str], hash_seed: str
) -> None:
    log, event_hash, state_hash = journal
    replayed = replay_in_fresh_interpreter(log, hash_seed)
    assert (replayed["event_hash"], replayed["state_hash"], replayed["replayed"]) == (event_hash, state_hash, 600)


def test_replay_from_a_snapshot_in_a_fresh_interpreter_reaches_the_same_state(
    journal: tuple[Path, str, str],
) -> None:
    log, _, state_hash = journal
    snapshot_seq, snapshot = list_snapshots(str(log.parent))[0]
    replayed = replay_in_fresh_interpreter(log, "987", "--snapshot", snapshot)
    assert (replayed["state_hash"], replayed["snapshot_seq"], replayed["replayed"]) == (
        state_hash,
        snapshot_seq,
        600 - snapshot_seq,
    )


def test_replay_reports_a_torn_tail_and_still_succeeds(
    journal: tuple[Path, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from perpspec.engine.cli.main import main

    log, _, _ = journal
    torn = tmp_path / "torn.log"
    torn.write_bytes(log.read_bytes()[:-5])
    assert main(["replay", str(torn), "--json"]) == 0
    replayed = json.loads(capsys.readouterr().out)
    assert (replayed["replayed"], replayed["torn_tail"] is None) == (599, False)


def test_replay_of_a_damaged_journal_fails_naming_the_offset(
    journal: tuple[Path, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from perpspec.engine.cli.main import main

    log, _, _ = journal
    damaged = tmp_path / "damaged.log"
    data = bytearray(log.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    assert main(["replay", str(damaged)]) == 1
    assert "at byte offset" in capsys.readouterr().out


def test_replay_of_a_missing_journal_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from perpspec.engine.cli.main import main

    assert main(["replay", str(tmp_path / "absent.log")]) == 2
    assert "no journal file" in capsys.readouterr().err
