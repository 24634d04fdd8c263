"""A last record whose hash-chain link did not reach the disk is a torn tail, cut on reopening (redteam25_10).

A crash can leave the last record whole in length (header and payload written) with its 32-byte link missing or
partly written.  That is a torn tail like a record cut short: the store reopens, the record is cut
(``TornTail(reason='last record fails its hash-chain link')``) and the whole records before it are replayed.  The
same damage to a record that is *not* the last is corruption (``JournalCorrupt``: records spliced or altered).
Without the end-of-file case the store refused to reopen after such a crash and every test passed
(/work/coord/repro19/redteam25_10.py): the journal tests cut records short, zero-fill tails and flip bytes inside
the journal, but none left a whole-length last record with a wrong link.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.exchange import Engine
from perpspec.engine.durability.journal import (
    LINK_BYTES,
    JournalCorrupt,
    JournalWriter,
    SyncPolicy,
    read_journal,
)
from perpspec.engine.durability.recovery import DurableExchange, command_codec

SCHEMA = {"Rec": ["value"]}
PAYLOADS = [b"first", b"", b"x" * 300, b"last record"]
REASON = "last record fails its hash-chain link"


def _zero_link(link: bytearray) -> None:
    link[:] = bytes(LINK_BYTES)


def _flip_last_byte(link: bytearray) -> None:
    link[-1] ^= 0x01


def _flip_first_byte(link: bytearray) -> None:
    link[0] ^= 0x80


DAMAGE = [_zero_link, _flip_last_byte, _flip_first_byte]


def _journal(path: Path) -> tuple[bytes, tuple[int, ...]]:
    writer = JournalWriter.create(str(path), SCHEMA, policy=SyncPolicy())
    for payload in PAYLOADS:
        writer.append(payload)
    writer.close()
    return path.read_bytes(), read_journal(str(path)).offsets


def _damage_link(data: bytes, link_end: int, damage: Callable[[bytearray], None]) -> bytes:
    out = bytearray(data)
    link = bytearray(out[link_end - LINK_BYTES : link_end])
    damage(link)
    out[link_end - LINK_BYTES : link_end] = link
    return bytes(out)


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_wrong_link_on_the_last_record_is_a_torn_tail_cut_on_reopening(
    tmp_path: Path, damage: Callable[[bytearray], None]
) -> None:
    path = tmp_path / "j.log"
    whole, offsets = _journal(path)
    path.write_bytes(_damage_link(whole, len(whole), damage))
    scan = read_journal(str(path))
    assert [payload for _, payload in scan.records] == PAYLOADS[:-1]
    assert scan.last_seq == len(PAYLOADS) - 1
    assert scan.torn is not None
    assert (scan.torn.offset, scan.torn.discarded_bytes, scan.torn.reason) == (
        offsets[-1], len(whole) - offsets[-1], REASON
    )
    writer = JournalWriter.reopen(scan, policy=SyncPolicy())
    assert writer.append(b"after crash") == len(PAYLOADS)  # the cut record's seq is written again
    writer.close()
    again = read_journal(str(path))
    assert [payload for _, payload in again.records] == [*PAYLOADS[:-1], b"after crash"]
    assert again.torn is None


@pytest.mark.parametrize("damage", DAMAGE)
def test_the_same_damage_to_a_record_before_the_last_is_corruption(
    tmp_path: Path, damage: Callable[[bytearray], None]
) -> None:
    path = tmp_path / "j.log"
    whole, offsets = _journal(path)
    path.write_bytes(_damage_link(whole, offsets[-1], damage))  # the link just before the last record's header
    with pytest.raises(JournalCorrupt, match="hash chain broken at record seq 3"):
        read_journal(str(path))


def test_a_store_whose_last_link_was_torn_reopens_with_the_whole_records_replayed(tmp_path: Path) -> None:
    directory = str(tmp_path / "store")
    durable, _ = DurableExchange.open(directory, command_codec(), Engine, snapshot_every=1000)
    for account in (1, 2, 3):
        durable.submit(c.VerifyAccount(time_ms=0, account=account))
    durable.close()
    journal = os.path.join(directory, "journal.log")
    data = Path(journal).read_bytes()
    Path(journal).write_bytes(data[:-LINK_BYTES] + bytes(LINK_BYTES))  # length and header on disk, link not
    durable, report = DurableExchange.open(directory, command_codec(), Engine, snapshot_every=1000)
    try:
        assert report is not None
        assert (report.last_seq, report.replayed) == (2, 2)
        assert report.torn is not None
        assert report.torn.reason == REASON
        assert report.torn.offset + report.torn.discarded_bytes == len(data)
        assert sorted(a for a in durable.exchange.accounts if a > 0) == [1, 2]  # account 3's record was cut
        durable.submit(c.VerifyAccount(time_ms=1, account=3))  # and the store continues after it
    finally:
        durable.close()
    durable, report = DurableExchange.open(directory, command_codec(), Engine, snapshot_every=1000)
    try:
        assert report is not None
        assert (report.last_seq, report.torn) == (3, None)
        assert sorted(a for a in durable.exchange.accounts if a > 0) == [1, 2, 3]
    finally:
        durable.close()
