"""Crash recovery's refusals and decisions, exactly (session 9, "mutdur").

Recovery loads a snapshot only onto the journal whose chain has its head at its seq, checks the rebuilt state's
hash, replays the rest, and refuses everything else with a typed ``JournalCorrupt``/``SnapshotCorrupt``/
``SnapshotForeign`` naming the byte offset — nothing is half-loaded.  These tests pin each refusal's offset and
message, the replay's counts and event hash (INV-DETERMINISM: the same commands give the same events, live and on
replay), which snapshots a store keeps and binds, the journal record limit at exactly 2**24 bytes, and the store
lock.  Mutation history: docs/mutation-engine.md, "Session 9 (mutdur)".
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

from perpspec.engine.core.commands import CancelOrder, Oversized, VerifyAccount
from perpspec.engine.core.events import Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.engine.durability.codec import CodecError, encode_state
from perpspec.engine.durability.journal import (
    JOURNAL_MAGIC,
    JournalCorrupt,
    JournalError,
    JournalWriter,
    SnapshotCorrupt,
    SnapshotForeign,
    SyncPolicy,
    read_journal,
    read_snapshot,
    write_snapshot,
)
from perpspec.engine.durability.recovery import (
    DurableExchange,
    command_codec,
    decode_engine,
    encode_engine,
    event_stream_hash,
    genesis_meta,
    list_snapshots,
    oversized_stand_in,
    recover,
    snapshot_path,
)

LIMIT = 16_777_216  # 2**24: the journal's record limit (journal.MAX_RECORD_BYTES)
VERIFY = [VerifyAccount(time_ms=0, account=n) for n in range(1, 8)]


def store(directory: Path, commands: list[Any], snapshot_every: int = 0) -> tuple[DurableExchange, list[Any]]:
    durable, _ = DurableExchange.open(str(directory), command_codec(), Engine, snapshot_every=snapshot_every)
    events: list[Any] = []
    for command in commands:
        events.extend(durable.submit(command))
    durable.commit()
    return durable, events


def journal(directory: Path) -> str:
    return str(directory / "journal.log")


def strict(path: str, snapshot: str) -> tuple[type, str, int]:
    with pytest.raises(JournalError) as caught:
        recover(path, command_codec(), [snapshot], strict_snapshot=True)
    return type(caught.value), caught.value.reason, caught.value.offset


def refused(path: str) -> tuple[type, str, int]:
    with pytest.raises(JournalError) as caught:
        recover(path, command_codec())
    return type(caught.value), caught.value.reason, caught.value.offset


# ----------------------------------------------------------------------------- decoding an engine state


def test_an_engine_state_that_is_not_a_mapping_of_known_names_is_refused_at_byte_0() -> None:
    """decode_engine: a list is not a state; unknown attribute names are listed, the first five (sorted)."""
    with pytest.raises(CodecError) as not_mapping:
        decode_engine(encode_state([1]))
    unknown_state = dict.fromkeys(("f", "e", "d", "c", "b", "a"), 1) | {"time_ms": 0}
    with pytest.raises(CodecError) as unknown:
        decode_engine(encode_state(unknown_state))
    assert [(str(error.value), error.value.offset) for error in (not_mapping, unknown)] == [
        ("engine state is not a mapping of attribute names at byte offset 0", 0),
        ("engine state has attributes ['a', 'b', 'c', 'd', 'e'] no engine has at byte offset 0", 0),
    ]


# ----------------------------------------------------------------------------- binding a snapshot


def test_a_snapshot_beyond_the_journal_or_older_than_its_first_record_is_refused_at_its_seq(tmp_path: Path) -> None:
    """bind_snapshot: a snapshot's seq (byte 10 of the file) past the journal's last record, or before the seq its
    genesis stands for, cannot be bound; the chain cannot say, so it is SnapshotCorrupt, not foreign."""
    durable, _ = store(tmp_path / "s", VERIFY[:3])
    durable.close()
    beyond = str(tmp_path / "beyond.snap")
    write_snapshot(beyond, 4, b"h", b"p", b"c" * 32)
    assert strict(journal(tmp_path / "s"), beyond) == (
        SnapshotCorrupt, "snapshot covers seq 4, the journal ends at 3", 10
    )
    later = str(tmp_path / "later.log")
    writer = JournalWriter.create(later, command_codec().schema, first_seq=5, policy=SyncPolicy(),
                                  extra=genesis_meta(Engine()))
    writer.append(command_codec().encode(VERIFY[0]))
    writer.close()
    older = str(tmp_path / "older.snap")
    write_snapshot(older, 3, b"h", b"p", b"c" * 32)
    assert strict(later, older) == (SnapshotCorrupt, "snapshot seq 3 is older than the journal's first record", 10)
    assert refused(later) == (JournalCorrupt, "journal starts at seq 5 and no snapshot covers before it", 0)


def test_no_snapshot_binds_to_an_unchained_journal(tmp_path: Path) -> None:
    """A version-2 journal has no links: any snapshot offered with it is refused at byte 0 of the snapshot."""
    durable, _ = store(tmp_path / "s", VERIFY[:2])
    durable.close()
    scan = read_journal(journal(tmp_path / "s"))
    meta = json.dumps(dict(scan.meta), sort_keys=True, separators=(",", ":")).encode()
    head = JOURNAL_MAGIC + struct.pack("<HI", 2, len(meta)) + meta
    out = bytearray(head + struct.pack("<I", zlib.crc32(head)))
    for seq, payload in scan.records:
        record_head = struct.pack("<IQ", len(payload), seq)
        out += record_head + struct.pack("<I", zlib.crc32(record_head)) + payload + struct.pack("<I", zlib.crc32(payload))
    old = tmp_path / "v2.log"
    old.write_bytes(bytes(out))
    snapshot = str(tmp_path / "any.snap")
    write_snapshot(snapshot, 1, b"h", b"p", b"c" * 32)
    assert strict(str(old), snapshot) == (
        SnapshotCorrupt, "the journal (version 2) has no hash chain: no snapshot can be bound to it", 0
    )


def test_a_foreign_snapshot_is_named_at_its_chain_head_with_where_the_journal_differs(tmp_path: Path) -> None:
    """SnapshotForeign names the snapshot's chain-head offset, the first 16 hex digits of both heads, and where the
    journal's head is: its genesis for seq 0, else the record's seq and file offset."""
    durable, _ = store(tmp_path / "s", VERIFY[:3])
    durable.close()
    path = journal(tmp_path / "s")
    scan = read_journal(path)
    found = []
    for seq in (0, 2):
        snapshot = str(tmp_path / f"foreign-{seq}.snap")
        write_snapshot(snapshot, seq, b"h", b"p", b"\xab" * 32)
        found.append(strict(path, snapshot))
    tail = "(another store's snapshot, or one from before this journal's history was rewritten)"
    assert found == [
        (SnapshotForeign, f"snapshot is not of journal {path}: its chain head abababababababab… differs from the "
         f"journal's {scan.genesis.hex()[:16]}… at its genesis {tail}", 21),
        (SnapshotForeign, f"snapshot is not of journal {path}: its chain head abababababababab… differs from the "
         f"journal's {scan.links[1].hex()[:16]}… at record seq 2 at byte offset {scan.offsets[1]} {tail}", 21),
    ]


def test_a_bound_snapshot_whose_state_does_not_decode_or_hash_is_refused_at_the_offset_in_the_file(
    tmp_path: Path,
) -> None:
    """load_snapshot_state: a decoding error is named at the payload's file offset plus the codec's offset; a state
    that rebuilds to another hash than the stored one is refused at byte 0."""
    durable, _ = store(tmp_path / "s", VERIFY[:3])
    durable.close()
    path = journal(tmp_path / "s")
    head = read_journal(path).link_at(3)
    assert head is not None
    whole = encode_engine(durable.exchange)
    with pytest.raises(CodecError) as cut_error:
        decode_engine(whole[:-1])
    assert cut_error.value.offset is not None
    assert cut_error.value.offset > 0
    found = []
    for name, payload, stored in (
        ("garbage", b"garbage", b"h"),
        ("cut", whole[:-1], b"h"),
        ("rehashed", whole, b"0" * 64),
    ):
        snapshot = str(tmp_path / f"{name}.snap")
        write_snapshot(snapshot, 3, stored, payload, head)
        offset = read_snapshot(snapshot).payload_offset
        kind, reason, at = strict(path, snapshot)
        found.append((kind, reason.split(" (")[0].split(" differs")[0], at - offset if at else at))
    assert found == [
        (SnapshotCorrupt, "state does not decode", 0),
        (SnapshotCorrupt, "state does not decode", cut_error.value.offset),
        (SnapshotCorrupt, f"rebuilt state hash {durable.exchange.state_hash()}", 0),
    ]


# ----------------------------------------------------------------------------- the journal's own refusals


def made_journal(path: str, extra: dict[str, str], schema: Any = None) -> str:
    writer = JournalWriter.create(path, schema or command_codec().schema, policy=SyncPolicy(), extra=extra)
    writer.close()
    return path


def test_a_journal_whose_genesis_or_schema_is_unusable_is_refused_at_byte_0(tmp_path: Path) -> None:
    """The genesis state must decode and hash to genesis_hash; the header schema must be field lists."""
    good = genesis_meta(Engine())
    garbage = made_journal(str(tmp_path / "a.log"), {"genesis": "!!", "genesis_hash": good["genesis_hash"]})
    wrong = made_journal(str(tmp_path / "b.log"), {**good, "genesis_hash": "0" * 64})
    schema = made_journal(str(tmp_path / "c.log"), good, {"PlaceOrder": "time_ms"})
    found = [refused(path) for path in (garbage, wrong, schema)]
    assert [(kind, reason.split(" (")[0], offset) for kind, reason, offset in found] == [
        (JournalCorrupt, "journal genesis state unreadable", 0),
        (JournalCorrupt, "journal genesis state does not match its hash", 0),
        (JournalCorrupt, "journal header schema unusable", 0),
    ]


# ----------------------------------------------------------------------------- replay


def test_replay_counts_the_rejections_and_hashes_the_events_as_the_live_run(tmp_path: Path) -> None:
    """INV-DETERMINISM: recovery's event hash is event_stream_hash of the live events — SHA-256 over each event's
    state encoding preceded by its length as 4 little-endian bytes — and it counts exactly the rejected commands
    (cancelling orders that do not exist: 2 of 5)."""
    commands = [VERIFY[0], CancelOrder(time_ms=0, account=1, order_id=9), VERIFY[1],
                CancelOrder(time_ms=0, account=2, order_id=8), VERIFY[2]]
    durable, live = store(tmp_path / "s", commands)
    durable.close()
    digest = hashlib.sha256()
    for event in live:
        encoded = encode_state(event)
        digest.update(struct.pack("<I", len(encoded)) + encoded)
    _, report, _ = recover(journal(tmp_path / "s"), command_codec())
    assert sum(type(event) is Rejected for event in live) == 2
    assert (report.replayed, report.events, report.rejected) == (5, len(live), 2)
    assert (report.event_hash, event_stream_hash(live)) == (digest.hexdigest(), digest.hexdigest())


# ----------------------------------------------------------------------------- the store


def test_a_store_snapshots_only_when_asked_keeps_the_newest_two_and_binds_one_at_its_last_seq(tmp_path: Path) -> None:
    """snapshot_every defaults to 0 (none); with 2, seven commands leave the snapshots of seqs 6 and 4.  A snapshot
    at exactly the journal's last seq is bound when the store reopens (nothing replayed, nothing set aside)."""
    plain, _ = DurableExchange.open(str(tmp_path / "plain"), command_codec(), Engine)
    for command in VERIFY:
        plain.submit(command)
    plain.close()
    assert list_snapshots(str(tmp_path / "plain")) == []
    durable, _ = store(tmp_path / "s", VERIFY, snapshot_every=2)
    durable.close()
    directory = str(tmp_path / "s")
    assert list_snapshots(directory) == [(6, snapshot_path(directory, 6)), (4, snapshot_path(directory, 4))]
    exact, _ = store(tmp_path / "e", VERIFY[:4], snapshot_every=2)
    exact.close()
    reopened, report = DurableExchange.open(str(tmp_path / "e"), command_codec(), Engine)
    reopened.close()
    assert report is not None
    assert (report.snapshot_seq, report.replayed, report.problems) == (4, 0, ())
    assert os.path.exists(snapshot_path(str(tmp_path / "e"), 4))


def test_a_second_writer_and_another_schema_are_refused_at_byte_0(tmp_path: Path) -> None:
    """The store's lock and the header schema: both JournalError at offset 0."""
    directory = str(tmp_path / "s")
    durable, _ = store(tmp_path / "s", VERIFY[:1])
    with pytest.raises(JournalError) as second:
        DurableExchange.open(directory, command_codec(), Engine)
    durable.close()
    assert (second.value.reason, second.value.offset) == ("the store is open in another process", 0)
    codec = command_codec()
    os.makedirs(tmp_path / "o")
    made_journal(str(tmp_path / "o" / "journal.log"), genesis_meta(Engine()), {**codec.schema, "VerifyAccount": ["time_ms"]})
    with pytest.raises(JournalError) as schema:
        DurableExchange.open(str(tmp_path / "o"), codec, Engine)
    assert (schema.value.reason.startswith("journal written under another command schema"), schema.value.offset) == (
        True, 0
    )


def test_the_lock_file_is_created_rw_r_r(tmp_path: Path) -> None:
    """The store's LOCK file is created 0o644 (under umask 022), like its journal and snapshots."""
    old = os.umask(0o022)
    try:
        durable, _ = store(tmp_path / "s", [])
        durable.close()
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "s" / "LOCK").st_mode & 0o777 == 0o644


def test_a_store_locked_on_descriptor_0_is_unlocked_by_close(tmp_path: Path) -> None:
    """A daemon with standard input closed gets descriptor 0 for the LOCK file; close() must release it, so the
    store opens again in the same process (before anything else takes descriptor 0)."""
    saved = os.dup(0)
    try:
        os.close(0)
        durable, _ = DurableExchange.open(str(tmp_path / "s"), command_codec(), Engine)
        durable.close()
        again, report = DurableExchange.open(str(tmp_path / "s"), command_codec(), Engine)
        again.close()
    finally:
        os.dup2(saved, 0)
        os.close(saved)
    assert report is not None
    assert (report.last_seq, report.problems) == (0, ())


def test_a_record_of_exactly_the_limit_is_journaled_as_the_command_itself(tmp_path: Path) -> None:
    """A CancelOrder whose compact record is exactly 2**24 bytes (26 bytes + a 2**24 - 26 character clOrdID) is
    journaled as itself, not as the Oversized stand-in; recovery replays it to the same state."""
    command = CancelOrder(time_ms=0, account=1, cl_ord_id="x" * (LIMIT - 26))
    payload = command_codec().encode(command)
    assert len(payload) == LIMIT
    durable, _ = store(tmp_path / "s", [VERIFY[0], command])
    durable.close()
    scan = read_journal(journal(tmp_path / "s"))
    assert [len(record) for _, record in scan.records] == [len(command_codec().encode(VERIFY[0])), LIMIT]
    assert scan.records[1][1] == payload
    recovered, _, _ = recover(journal(tmp_path / "s"), command_codec())
    assert recovered.state_hash() == durable.exchange.state_hash()


def test_an_oversized_stand_in_keeps_the_first_64_characters_of_the_class_name() -> None:
    """Something whose record would exceed the limit is journaled as Oversized(command=its class name cut to 64
    characters, size), at its own time when valid, else at the engine's clock."""
    named = type("N" * 70, (), {})()
    assert oversized_stand_in(named, LIMIT + 5, 7) == Oversized(time_ms=7, command="N" * 64, size=LIMIT + 5)
    late = CancelOrder(time_ms=9, account=1)
    assert oversized_stand_in(late, LIMIT + 1, 7) == Oversized(time_ms=9, command="CancelOrder", size=LIMIT + 1)
    assert oversized_stand_in(CancelOrder(time_ms=6, account=1), 1, 7).time_ms == 7  # behind the clock


def test_an_oversized_command_is_journaled_as_its_stand_in_and_rejected(tmp_path: Path) -> None:
    command = CancelOrder(time_ms=0, account=1, cl_ord_id="x" * LIMIT)
    size = len(command_codec().encode(command))
    assert size > LIMIT
    durable, events = store(tmp_path / "s", [command])
    durable.close()
    final = events[-1]
    assert isinstance(final, Rejected)
    assert (final.reason, final.text) == (Reason.MALFORMED, f"CancelOrder of {size} bytes exceeds the journal's record limit")
    scan = read_journal(journal(tmp_path / "s"))
    assert [command_codec().decode(record) for _, record in scan.records] == [
        Oversized(time_ms=0, command="CancelOrder", size=size)
    ]


def test_an_object_with_a_huge_repr_is_journaled_as_its_shown_text(tmp_path: Path) -> None:
    """A non-command whose repr is 16 MB is kept as the bounded text a reject shows of it (attack review 11),
    not as its repr: a small record, rejected, replayed to the same events."""
    huge = type("N" * 70, (), {"__repr__": lambda self: "r" * LIMIT})()
    assert len(command_codec().encode(huge)) < 1_000
    durable, events = store(tmp_path / "s", [huge])
    durable.close()
    assert isinstance(events[-1], Rejected)
    _, report, _ = recover(journal(tmp_path / "s"), command_codec())
    assert report.event_hash == event_stream_hash(events)
