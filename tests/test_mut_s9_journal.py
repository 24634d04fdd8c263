"""The journal's and the snapshot's framing at their exact edges (session 9, "mutdur").

What the reader of a journal or snapshot file decides at each boundary: a file cut exactly at the end of a fixed
header, a record of exactly the size limit and one byte over, exactly one record header of garbage after the last
record, the last record of an unchained (version 2) journal cut short or failing its checksum, and when the writer
acknowledges and forces records to the device.  A crafted or truncated file is either a torn tail (the one
unacknowledged record, reported) or a typed ``JournalCorrupt``/``SnapshotCorrupt`` naming the offset — never another
exception, never a half-read journal.  Mutation history: docs/mutation-engine.md, "Session 9 (mutdur)".
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import pytest

from perpspec.engine.durability.journal import (
    JOURNAL_MAGIC,
    JournalCorrupt,
    JournalWriter,
    RecordTooLarge,
    SnapshotCorrupt,
    SyncPolicy,
    TornTail,
    frame_record,
    read_journal,
    read_snapshot,
    snapshot_bytes,
)

SCHEMA = {"Rec": ["value"]}
LIMIT = 16_777_216  # 2**24: the largest payload a record may hold (journal.MAX_RECORD_BYTES)


def journal_of(path: Path, payloads: list[bytes], policy: SyncPolicy | None = None) -> bytes:
    writer = JournalWriter.create(str(path), SCHEMA, policy=policy or SyncPolicy())
    for payload in payloads:
        writer.append(payload)
    writer.close()
    return path.read_bytes()


def header_size(path: Path) -> int:
    return read_journal(str(path)).offsets[0]


def corrupt(path: Path) -> tuple[str, int]:
    with pytest.raises(JournalCorrupt) as caught:
        read_journal(str(path))
    return caught.value.reason, caught.value.offset


# ----------------------------------------------------------------------------- the header


def test_a_journal_cut_at_the_fixed_header_or_inside_the_checksum_is_a_truncated_header(tmp_path: Path) -> None:
    """Exactly the 14 fixed bytes (magic, version, meta length) say how long the header is; a file ending there,
    or 1 byte before the end of the header's crc32, is 'journal header truncated' at its size (needs = the header)."""
    path = tmp_path / "j.log"
    whole = journal_of(path, [b"a"])
    header = header_size(path)
    for cut in (14, header - 1):
        path.write_bytes(whole[:cut])
        assert corrupt(path) == (f"journal header truncated (needs {header} bytes)", cut)
    path.write_bytes(whole[:13])
    assert corrupt(path) == ("file of 13 bytes is shorter than the journal header", 13)


# ----------------------------------------------------------------------------- records


def test_exactly_one_record_header_of_garbage_after_the_last_record_is_corruption(tmp_path: Path) -> None:
    """16 bytes after the last record are a whole record header: with a failing crc and not all zero it is damage
    at its offset; 15 bytes are a torn tail (fewer than a header)."""
    path = tmp_path / "j.log"
    whole = journal_of(path, [b"first", b"second"])
    path.write_bytes(whole + b"\xff" * 16)
    assert corrupt(path) == ("record header checksum mismatch (expected seq 3)", len(whole))
    path.write_bytes(whole + b"\xff" * 15)
    scan = read_journal(str(path))
    assert scan.torn is not None
    assert (scan.last_seq, scan.torn.offset, scan.torn.discarded_bytes, scan.torn.reason) == (
        2,
        len(whole),
        15,
        "only 15 bytes of a 16-byte record header",
    )


def test_a_last_record_cut_right_after_its_header_is_a_cut_short_record(tmp_path: Path) -> None:
    """A file ending exactly after the last record's 16-byte header (a write torn there) is a torn tail whose
    reason names the payload length read from that header."""
    path = tmp_path / "j.log"
    whole = journal_of(path, [b"first", b"x" * 40])
    last = read_journal(str(path)).offsets[-1]
    path.write_bytes(whole[: last + 16])
    scan = read_journal(str(path))
    assert scan.torn is not None
    assert (scan.last_seq, scan.torn.offset, scan.torn.discarded_bytes, scan.torn.reason) == (
        1,
        last,
        16,
        "record of 40 payload bytes cut short",
    )


def record_header(length: int, seq: int) -> bytes:
    head = struct.pack("<IQ", length, seq)
    return head + struct.pack("<I", zlib.crc32(head))


def test_a_record_header_claiming_more_than_the_limit_is_corruption_and_the_limit_itself_a_torn_tail(
    tmp_path: Path,
) -> None:
    """A record's length may be at most 2**24 bytes: a valid header claiming 2**24 + 1 is damage at its offset
    (the writer never writes one), a header claiming exactly 2**24 with the file ending there is a torn record."""
    path = tmp_path / "j.log"
    whole = journal_of(path, [b"first"])
    path.write_bytes(whole + record_header(LIMIT + 1, 2) + b"x" * 64)
    assert corrupt(path) == (f"record length {LIMIT + 1} exceeds {LIMIT}", len(whole))
    path.write_bytes(whole + record_header(LIMIT, 2) + b"x" * 64)
    scan = read_journal(str(path))
    assert scan.torn is not None
    assert (scan.last_seq, scan.torn.offset, scan.torn.reason) == (1, len(whole), f"record of {LIMIT} payload bytes cut short")


def test_the_writer_takes_a_payload_of_exactly_the_limit_and_refuses_one_byte_more(tmp_path: Path) -> None:
    """The writer refuses what its reader would call damage, and nothing else: 2**24 bytes are appended and read
    back whole; 2**24 + 1 raise RecordTooLarge and append nothing (the next record keeps seq 2)."""
    path = tmp_path / "j.log"
    writer = JournalWriter.create(str(path), SCHEMA, policy=SyncPolicy())
    with pytest.raises(RecordTooLarge, match=f"^record of {LIMIT + 1} bytes exceeds the journal's {LIMIT}$"):
        writer.append(b"y" * (LIMIT + 1))
    assert writer.append(b"z" * LIMIT) == 1
    assert writer.append(b"after") == 2
    writer.close()
    scan = read_journal(str(path))
    assert ([(seq, len(payload)) for seq, payload in scan.records], scan.torn) == ([(1, LIMIT), (2, 5)], None)


# ----------------------------------------------------------------------------- unchained (version 2) journals


def version_2(path: Path, payloads: list[bytes]) -> list[int]:
    """A version-2 journal (records end with crc32(payload), no chain); the offset of each record."""
    meta = json.dumps({"first_seq": 1, "schema": SCHEMA}, sort_keys=True, separators=(",", ":")).encode()
    head = JOURNAL_MAGIC + struct.pack("<HI", 2, len(meta)) + meta
    out = bytearray(head + struct.pack("<I", zlib.crc32(head)))
    offsets = []
    for seq, payload in enumerate(payloads, start=1):
        offsets.append(len(out))
        out += frame_record(seq, payload)
    path.write_bytes(bytes(out))
    return offsets


def test_an_unchained_journals_torn_last_record_is_named_by_what_is_missing(tmp_path: Path) -> None:
    """Version 2: a record is 16 header bytes + payload + a 4-byte crc32.  The last record cut before its crc is
    'cut short'; whole but failing its crc it is 'fails its payload checksum'; both are torn tails, not damage."""
    path = tmp_path / "v2.log"
    offsets = version_2(path, [b"first", b"p" * 30])
    whole = path.read_bytes()
    assert len(whole) == offsets[1] + 16 + 30 + 4
    path.write_bytes(whole[:-4])
    cut = read_journal(str(path))
    path.write_bytes(whole[:-1] + bytes([whole[-1] ^ 1]))
    failed = read_journal(str(path))
    assert [(scan.version, scan.last_seq, scan.torn) for scan in (cut, failed)] == [
        (2, 1, TornTail(offset=offsets[1], discarded_bytes=46, reason="record of 30 payload bytes cut short")),
        (2, 1, TornTail(offset=offsets[1], discarded_bytes=50, reason="last record fails its payload checksum")),
    ]


# ----------------------------------------------------------------------------- the writer


def test_the_default_policy_acknowledges_every_record_as_it_is_appended(tmp_path: Path) -> None:
    """SyncPolicy() writes each append at once (group_records=1): committed_seq follows every append."""
    writer = JournalWriter.create(str(tmp_path / "j.log"), SCHEMA, policy=SyncPolicy())
    seen = []
    for payload in (b"a", b"b", b"c"):
        writer.append(payload)
        seen.append((writer.committed_seq, len(read_journal(str(tmp_path / "j.log")).records)))
    writer.close()
    assert seen == [(1, 1), (2, 2), (3, 3)]


def forced_writes(
    path: Path, monkeypatch: pytest.MonkeyPatch, fsync: str, steps: str
) -> list[int]:
    """Run ``steps`` on a new journal (``a`` append, ``c`` commit, ``s`` sync) under ``fsync``; the committed seq
    at each fsync of the journal (the creation's own fsyncs, of the temporary file and the directory, not counted)."""
    writer = JournalWriter.create(str(path), SCHEMA, policy=SyncPolicy(fsync=fsync))
    forced: list[int] = []
    monkeypatch.setattr(os, "fsync", lambda fd: forced.append(writer.committed_seq))
    actions = {"a": lambda: writer.append(b"r"), "c": writer.commit, "s": writer.sync}
    for step in steps:
        actions[step]()
    writer.close()
    return forced


def test_every_n_forces_the_nth_write_to_the_device_and_sync_restarts_the_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fsync='every:3': the 3rd and 6th writes are forced (fsync runs inside commit, before committed_seq moves to
    3 and 6, so it sees 2 and 5); an explicit sync() forces at once and starts the count again, so the next forced
    write is the 3rd after it."""
    assert forced_writes(tmp_path / "j.log", monkeypatch, "every:3", "aaaaaaa" + "s" + "aaa") == [2, 5, 7, 9]


def test_a_commit_with_nothing_buffered_is_not_a_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fsync='every:2' counts writes, not commit calls: commits with nothing buffered (and close) do not bring the
    forced write forward — the 2nd record's write is forced, seen at committed seq 1."""
    assert forced_writes(tmp_path / "j.log", monkeypatch, "every:2", "acccac") == [1]


@pytest.mark.parametrize(
    ("fsync", "expected"),
    [("always", [0, 1, 2]), ("every:1", [0, 1, 2]), ("never", [])],
)
def test_always_and_every_1_force_each_write_never_forces_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fsync: str, expected: list[int]
) -> None:
    """'always' and 'every:1' (the smallest N accepted) force every write; 'never' forces none."""
    assert forced_writes(tmp_path / "j.log", monkeypatch, fsync, "aaa") == expected


def test_a_journal_on_descriptor_0_is_still_flushed_and_closed(tmp_path: Path) -> None:
    """A process with its standard input closed (a daemon) gets descriptor 0 for the journal: close() must still
    write the buffered group and close it (descriptor 0 is a valid descriptor, only -1 means closed)."""
    saved = os.dup(0)
    try:
        os.close(0)
        writer = JournalWriter.create(str(tmp_path / "j.log"), SCHEMA, policy=SyncPolicy(group_records=4))
        writer.append(b"buffered")
        writer.close()
        reopened = os.open(os.devnull, os.O_RDONLY)  # descriptor 0 is free again only if close() closed it
        os.close(reopened)
    finally:
        os.dup2(saved, 0)
        os.close(saved)
    assert reopened == 0
    assert [payload for _, payload in read_journal(str(tmp_path / "j.log")).records] == [b"buffered"]


def test_journal_and_snapshot_files_are_created_rw_r_r(tmp_path: Path) -> None:
    """Files are created 0o644 (under umask 022): readable, never executable."""
    from perpspec.engine.durability.journal import write_snapshot

    old = os.umask(0o022)
    try:
        journal_of(tmp_path / "j.log", [b"a"])
        write_snapshot(str(tmp_path / "s.snap"), 1, b"h", b"p", b"c" * 32)
    finally:
        os.umask(old)
    modes = [os.stat(tmp_path / name).st_mode & 0o777 for name in ("j.log", "s.snap")]
    assert modes == [0o644, 0o644]


# ----------------------------------------------------------------------------- offsets of the refusals


def test_header_refusals_name_their_field(tmp_path: Path) -> None:
    """A wrong magic is named at byte 0, an unreadable version at byte 8 (the u16 after the magic), a missing file
    at 0; continuing an unchained (version 2) journal is refused at its version, byte 8."""
    path = tmp_path / "j.log"
    whole = journal_of(path, [b"a"])
    path.write_bytes(b"NOTAJRNL" + whole[8:])
    assert corrupt(path) == ("not a perpspec journal (magic b'NOTAJRNL')", 0)
    path.write_bytes(whole[:8] + struct.pack("<H", 99) + whole[10:])
    assert corrupt(path) == ("unsupported journal version 99 (this build reads 1, 2, 3, 4)", 8)
    assert corrupt(tmp_path / "absent.log") == ("cannot read (No such file or directory)", 0)
    version_2(path, [b"a"])
    with pytest.raises(JournalCorrupt) as caught:
        JournalWriter.reopen(read_journal(str(path)), policy=SyncPolicy())
    assert (caught.value.offset, caught.value.reason.startswith("journal version 2 has no hash chain")) == (8, True)


def test_an_unchained_journals_damaged_middle_record_is_corruption_not_a_tail(tmp_path: Path) -> None:
    """Version 2: a payload crc that fails with records after it is damage at that record, not a torn tail."""
    path = tmp_path / "v2.log"
    offsets = version_2(path, [b"first", b"second", b"third"])
    data = bytearray(path.read_bytes())
    data[offsets[1] + 16] ^= 1  # the first payload byte of record 2; its header crc still holds
    path.write_bytes(bytes(data))
    assert corrupt(path) == ("payload checksum mismatch in record seq 2", offsets[1])


def test_link_at_covers_exactly_the_genesis_and_the_records(tmp_path: Path) -> None:
    """A journal starting at seq 5 with three records has a chain head for seqs 4 (the genesis) to 7, none for 3
    or 8."""
    path = tmp_path / "j.log"
    writer = JournalWriter.create(str(path), SCHEMA, first_seq=5, policy=SyncPolicy())
    for payload in (b"a", b"b", b"c"):
        writer.append(payload)
    writer.close()
    scan = read_journal(str(path))
    assert [scan.link_at(seq) for seq in range(3, 9)] == [None, scan.genesis, *scan.links, None]


# ----------------------------------------------------------------------------- snapshots


def snapshot_refusal(path: Path) -> tuple[str, int]:
    with pytest.raises(SnapshotCorrupt) as caught:
        read_snapshot(str(path))
    return caught.value.reason, caught.value.offset


def test_a_snapshot_cut_at_the_end_of_each_fixed_part_names_what_is_missing(tmp_path: Path) -> None:
    """The snapshot header (version 3) is 20 fixed bytes, then the state hash (here 32) and the chain head (32), the
    u16 rules digest length at 84 and the digest (64), then the u64 payload length at 150: a cut at 20 is inside the
    header (it needs the digest length's 86 bytes), a cut at 92 (inside the digest) needs 158, a cut at 158 (the
    length read) is a payload that needs 158 + 100 + 4 bytes, a cut at 19 is shorter than the fixed header."""
    whole = snapshot_bytes(9, b"h" * 32, b"p" * 100, b"c" * 32, "d" * 64)
    assert len(whole) == 262
    path = tmp_path / "s.snap"
    found = []
    for cut in (19, 20, 92, 158):
        path.write_bytes(whole[:cut])
        found.append(snapshot_refusal(path))
    assert found == [
        ("truncated: 19 bytes, shorter than the 20-byte header", 19),
        ("truncated inside the header (needs 86 bytes)", 20),
        ("truncated inside the header (needs 158 bytes)", 92),
        ("truncated: payload of 100 bytes needs 262, file has 158", 158),
    ]


def test_bytes_after_a_snapshots_checksum_are_refused_where_they_start(tmp_path: Path) -> None:
    """A snapshot is exactly its checksummed bytes: one byte after the crc (which still holds) is refused at that
    byte, naming how many there are; a different magic or a missing file or a directory at byte 0."""
    whole = snapshot_bytes(9, b"h" * 32, b"p" * 100, b"c" * 32, "d" * 64)
    path = tmp_path / "s.snap"
    path.write_bytes(whole + b"!")
    assert snapshot_refusal(path) == ("1 unexpected bytes after the checksum", 262)
    path.write_bytes(whole + b"!!!")
    assert snapshot_refusal(path) == ("3 unexpected bytes after the checksum", 262)
    path.write_bytes(b"NOTASNAP" + whole[8:])
    assert snapshot_refusal(path) == ("not a perpspec snapshot (magic b'NOTASNAP')", 0)
    assert snapshot_refusal(tmp_path / "absent.snap") == ("cannot read (No such file or directory)", 0)
    assert snapshot_refusal(tmp_path) == ("not a regular file", 0)
