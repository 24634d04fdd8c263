"""mut34: the snapshot-genesis check's instrument comparison in the cases session 20's tests left out (session 23).

``engine.durability.snapshot_check.check_snapshot_against_genesis`` refuses a snapshot whose instruments are not its
journal genesis's: an instrument the snapshot lacks, one the genesis lacks, and any field differing.  The tests of
redteam28_4 forged only a changed field of an instrument both hold (settlement, tick, max order quantity): a mutation
round found the union of the symbols (``set(want_all) | set(got_all)``), either half of ``want is None or got is
None`` and the last attrs field (``base_multiplier``) untested.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from perpspec.engine.core.book import Book
from perpspec.engine.core.exchange import Engine
from perpspec.engine.durability.codec import decode_state, encode_state
from perpspec.engine.durability.journal import SnapshotCorrupt, SyncPolicy, parse_snapshot, write_snapshot
from perpspec.engine.durability.recovery import (
    JOURNAL_NAME,
    DurableExchange,
    command_codec,
    decode_engine,
    encode_engine,
    recover,
)
from tests.test_s20_serve_snapshot_instruments import _store


def _forge_state(path: str, change: Callable[[dict[str, Any]], None]) -> None:
    """Rewrite the snapshot's state as a forger would (seq, chain head and rules digest kept, hash recomputed)."""
    snapshot = parse_snapshot(path, Path(path).read_bytes())
    state = decode_state(snapshot.payload)
    change(state)
    forged = decode_engine(encode_state(state))
    write_snapshot(path, snapshot.seq, forged.state_hash().encode(), encode_engine(forged), snapshot.chain_head,
                   snapshot.rules_digest)


def _extra(state: dict[str, Any]) -> None:
    """One more contract, ETHUSD's terms under another name, with its empty book, triggers and holders."""
    state["instrument_map"]["ETHUSD2"] = attrs.evolve(state["instrument_map"]["ETHUSD"], symbol="ETHUSD2")
    state["books"]["ETHUSD2"] = Book("ETHUSD2")
    state["conditional"]["ETHUSD2"] = {}
    state["holders"]["ETHUSD2"] = {}


def _missing(state: dict[str, Any]) -> None:
    """XBTZ26 (untraded) gone, with its empty book, triggers and holders."""
    for field in ("instrument_map", "books", "conditional", "holders"):
        del state[field]["XBTZ26"]


def _last_field(state: dict[str, Any]) -> None:
    """ETHUSD's last attrs field (``base_multiplier``, 0 for a contract) changed."""
    last = attrs.fields(type(state["instrument_map"]["ETHUSD"]))[-1].name
    assert last == "base_multiplier"
    state["instrument_map"]["ETHUSD"] = attrs.evolve(state["instrument_map"]["ETHUSD"], base_multiplier=1)


FORGERIES = [
    (_extra, "instrument ETHUSD2 not in the journal's genesis"),
    (_missing, "instrument XBTZ26 missing (the journal's genesis has it)"),
    (_last_field, "instrument ETHUSD: base_multiplier is 1, the journal's genesis has 0"),
]


@pytest.mark.parametrize(("change", "reason"), FORGERIES, ids=["extra", "missing", "last-field"])
def test_a_snapshot_with_another_instrument_set_is_refused(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], reason: str
) -> None:
    path, state = _store(tmp_path)
    _forge_state(path, change)
    with pytest.raises(SnapshotCorrupt, match=reason.replace("(", r"\(").replace(")", r"\)")):
        recover(os.path.join(tmp_path, JOURNAL_NAME), command_codec(), [path], strict_snapshot=True)
    durable, report = DurableExchange.open(str(tmp_path), command_codec(), Engine, policy=SyncPolicy())
    assert report is not None
    assert report.snapshot_seq == 0  # the genesis, not the forged snapshot
    assert any(reason in problem for problem in report.problems), report.problems
    assert sorted(durable.exchange.instruments()) == sorted(Engine().instruments())
    assert durable.exchange.state_hash() == state  # what the journal replays to
    durable.close()
