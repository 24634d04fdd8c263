"""Attack review 11 (a red-team helper, session 11): what the durable store reads.

1. **A journal that is no regular file.**  ``read_snapshot`` refused devices and pipes, ``read_journal`` did
   not: a store whose ``journal.log`` is a link to ``/dev/zero`` made ``DurableExchange.open`` (and ``perpspec
   serve`` on that store) allocate until memory ran out, and a FIFO there blocked it forever in ``open``.
2. **A journal header nested past the stack.**  The header's meta is JSON; ``[[[[…`` 100,000 deep escaped
   ``read_journal`` as ``RecursionError`` (``perpspec replay``: exit 70, "internal error") instead of the
   ``JournalCorrupt`` every other damaged byte gives.

Fixed: both readers go through ``journal.read_regular_file``, which opens without blocking and checks the
opened file (no swap between check and read); a header too deeply nested is ``JournalCorrupt`` at the meta.

Rules: none (the journal's reader contract: damage is a typed error naming its offset, nothing half-loaded).
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from perpspec.engine.core.exchange import Engine
from perpspec.engine.durability.codec import CodecError
from perpspec.engine.durability.journal import (
    JournalCorrupt,
    SnapshotCorrupt,
    read_journal,
    read_regular_file,
    read_snapshot,
)
from perpspec.engine.durability.recovery import DurableExchange, command_codec


def test_a_regular_file_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc" * 1000)
    assert read_regular_file(str(path)) == b"abc" * 1000


@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
def test_a_journal_or_snapshot_that_is_no_regular_file_is_refused_unread(tmp_path: Path, kind: str) -> None:
    store = tmp_path / "store"
    store.mkdir()
    journal = store / "journal.log"
    if kind == "fifo":
        os.mkfifo(journal)  # no writer: a blocking open would wait forever
    elif kind == "device":
        journal.symlink_to("/dev/zero")  # a blocking read would never end
    else:
        journal.mkdir()
    assert read_regular_file(str(journal)) is None
    with pytest.raises(JournalCorrupt, match="not a regular file"):
        read_journal(str(journal))
    with pytest.raises(SnapshotCorrupt, match="not a regular file"):
        read_snapshot(str(journal))
    with pytest.raises(JournalCorrupt):
        DurableExchange.open(str(store), command_codec(), Engine)


def test_a_journal_header_nested_past_the_stack_is_corruption_at_the_meta(tmp_path: Path) -> None:
    meta = b"[" * 100_000 + b"]" * 100_000
    head = struct.pack("<8sHI", b"PSPECJNL", 3, len(meta)) + meta
    path = tmp_path / "journal.log"
    path.write_bytes(head + struct.pack("<I", zlib.crc32(head)))
    with pytest.raises(JournalCorrupt) as refused:
        read_journal(str(path))
    assert refused.value.offset == 14
    assert "journal header meta unreadable" in str(refused.value)


def test_a_snapshot_too_large_for_memory_is_damage_not_a_crash(tmp_path: Path) -> None:
    """An 8 GiB sparse file named like a snapshot (no disk space) was read whole: MemoryError out of the reader.
    Read under a 1 GiB address-space limit, it is now ``SnapshotCorrupt`` ("cannot read"), which recovery
    treats as a damaged snapshot."""
    path = tmp_path / "huge.snap"
    with open(path, "wb") as handle:
        handle.truncate(8 << 30)
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        "from perpspec.engine.durability.journal import SnapshotCorrupt, JournalCorrupt, read_snapshot, read_journal\n"
        "for read, error in ((read_snapshot, SnapshotCorrupt), (read_journal, JournalCorrupt)):\n"
        "    try:\n"
        "        read(sys.argv[1])\n"
        "    except error as refused:\n"
        "        print(type(refused).__name__, refused.offset, refused.reason)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == [
        "SnapshotCorrupt 0 cannot read (file too large to read into memory)",
        "JournalCorrupt 0 cannot read (file too large to read into memory)",
    ]


def test_a_json_record_nested_past_the_stack_is_corruption_at_its_offset(tmp_path: Path) -> None:
    """A version-1 style JSON command record ``[[[[…`` 100,000 deep, appended through the journal's own writer
    (the hash chain intact), escaped recovery as ``RecursionError``; it is now refused as damage at its record."""
    store = tmp_path / "store"
    durable, _ = DurableExchange.open(str(store), command_codec(), Engine)
    durable.writer.append(b"[" * 100_000)
    durable.close()
    with pytest.raises(CodecError, match="malformed command JSON"):
        command_codec().decode(b"[" * 100_000)
    with pytest.raises(JournalCorrupt) as refused:
        DurableExchange.open(str(store), command_codec(), Engine)
    assert refused.value.offset == read_journal(str(store / "journal.log")).offsets[0]
