"""Session 21, mut31 (/work/coord/repro21/mut31_report.md): slips in dur22's rules handover records (journal format 4)
that survived tests/test_s20_handover_record.py and test_s19_rules_digest.py.  Each test fails with its slip planted:

- mut31_10 (D1): ``JournalScan.head`` without ``not self.offsets or``: a store with no command yet, taken over by
  another build, could not be opened again (IndexError in JournalWriter.reopen).
- D4: ``or length > MAX_HANDOVER_BYTES`` dropped from the record reader: a damaged handover length word read as a
  torn tail instead of JournalCorrupt.
- D5: ``parse_handover``'s canonical re-encoding check dropped: a payload the writer never writes accepted.
- D6: ``segment_rules``' ``handover.seq <= seq`` -> ``<``: the first command after a handover attributed to the
  previous rules (the next handover's "computed under" line names the wrong build).

Builds are simulated as tests/test_s20_handover_record.py does (``rules_id._MEMO``: the digest the build reports).
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.exchange import Engine
from perpspec.engine.durability import rules_id
from perpspec.engine.durability.journal import (
    HANDOVER_FLAG,
    JournalCorrupt,
    next_link,
    parse_handover,
    read_journal,
)
from perpspec.engine.durability.recovery import JOURNAL_NAME, DurableExchange, command_codec

B_RULES = rules_id.build_rules_digest()  # this build
C_RULES = "c" * 64  # another build's digest
FIRST = [c.VerifyAccount(time_ms=0, account=1), c.Deposit(time_ms=0, account=1, asset="XBt", amount=10**8)]


@pytest.fixture
def build() -> Iterator[Callable[[str], None]]:
    saved = dict(rules_id._MEMO)

    def use(digest: str) -> None:
        rules_id._MEMO.clear()
        rules_id._MEMO["digest"] = digest

    yield use
    rules_id._MEMO.clear()
    rules_id._MEMO.update(saved)


def _session(store: Path, commands: list[Any]) -> Any:
    """Open, run ``commands``, snapshot at the last seq, close: the open's report."""
    durable, report = DurableExchange.open(str(store), command_codec(), Engine)
    for command in commands:
        durable.submit(command)
    durable.snapshot()
    durable.commit()
    durable.close()
    return report


def _head(length: int, seq: int) -> bytes:
    head = struct.pack("<IQ", length, seq)
    return head + struct.pack("<I", zlib.crc32(head))


def test_mut31_10_a_store_with_no_command_taken_over_and_back_opens(tmp_path: Path, build: Any) -> None:
    for digest in (B_RULES, C_RULES, B_RULES):
        build(digest)
        _session(tmp_path, [])
    scan = read_journal(str(tmp_path / JOURNAL_NAME))
    assert scan.offsets == ()
    assert [(h.seq, h.rules_digest) for h in scan.handovers] == [(1, C_RULES), (1, B_RULES)]
    assert scan.head == scan.handovers[-1].link


def test_d6_the_first_command_after_a_handover_is_the_new_rules(tmp_path: Path, build: Any) -> None:
    """B runs seq 1-2, C takes over and runs seq 3, B takes it back from C's snapshot at seq 3 (nothing replayed):
    its handover line says the state was computed under C."""
    build(B_RULES)
    _session(tmp_path, FIRST)
    build(C_RULES)
    _session(tmp_path, [c.Deposit(time_ms=1, account=1, asset="XBt", amount=10**6)])
    build(B_RULES)
    report = _session(tmp_path, [])
    assert report.replayed == 0
    assert report.problems[0].startswith(f"rules handover: the state at seq 3 was computed under {C_RULES};")
    scan = read_journal(str(tmp_path / JOURNAL_NAME))
    assert [(h.seq, h.rules_digest) for h in scan.handovers] == [(3, C_RULES), (4, B_RULES)]


def test_d4_a_handover_length_word_beyond_its_limit_is_corruption(tmp_path: Path, build: Any) -> None:
    """A handover record in the middle of the journal whose length word (header checksum recomputed) says 1,000,000
    bytes: refused as damage (the limit is MAX_HANDOVER_BYTES), not read as a torn tail that ends the journal."""
    build(B_RULES)
    _session(tmp_path, FIRST)
    build(C_RULES)
    _session(tmp_path, [c.Deposit(time_ms=1, account=1, asset="XBt", amount=10**6)])
    journal = tmp_path / JOURNAL_NAME
    handover = read_journal(str(journal)).handovers[0]
    data = bytearray(journal.read_bytes())
    data[handover.offset : handover.offset + 16] = _head(10**6 | HANDOVER_FLAG, handover.seq)
    journal.write_bytes(bytes(data))
    with pytest.raises(JournalCorrupt, match="record length 1000000 exceeds 1024"):
        read_journal(str(journal))


def test_d5_a_non_canonical_handover_payload_is_refused() -> None:
    assert parse_handover(json.dumps({"rules_digest": C_RULES}, separators=(",", ":")).encode()) == C_RULES
    assert parse_handover(json.dumps({"rules_digest": C_RULES}).encode()) is None  # '": "': not what is written


def test_d5_a_chained_handover_record_with_a_non_canonical_payload_is_corruption(tmp_path: Path, build: Any) -> None:
    """The handover record re-framed (its header checksum and chain link recomputed) with the same digest in JSON
    the writer never writes: refused, not read as a handover."""
    build(B_RULES)
    _session(tmp_path, FIRST)
    build(C_RULES)
    _session(tmp_path, [])
    journal = tmp_path / JOURNAL_NAME
    scan = read_journal(str(journal))
    (handover,) = scan.handovers
    payload = json.dumps({"rules_digest": C_RULES}).encode()
    head = _head(len(payload) | HANDOVER_FLAG, handover.seq)
    record = head + payload + next_link(scan.links[-1], head[:12], payload)
    journal.write_bytes(journal.read_bytes()[: handover.offset] + record)
    with pytest.raises(JournalCorrupt, match="does not name a rules digest"):
        read_journal(str(journal))
