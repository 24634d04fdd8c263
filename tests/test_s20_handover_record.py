"""dur22: the journal records every rules handover, so a store taken B → C → B is not replayed under B from genesis.

dur21 (review21_3) recorded the digest of the rules that judged a store's commands in the journal header and in
every snapshot; a build of other rules took a store over by a snapshot at its last seq.  The journal itself kept no
record of that: a store taken B → C → B still named B in its header, so serve's view rebuild, ``perpspec replay
journal.log`` and a recovery that lost its newer snapshots replayed C's commands from genesis under B's rules --
another state than the one C acknowledged, without a refusal (/work/coord/repro20/dur22_1.py).  Now a version-4
journal holds a hash-linked handover record ("from seq N, rules digest D") written and fsynced when a build takes the
store over, before its first command; every replay checks each segment it would replay against its own rules.

Two builds are simulated in one process by setting the memoised digest (``rules_id._MEMO``); build C's changed rule
credits a deposit with a 1% bonus (``AccountDesk.deposit``), so its commands give another state under B.  Tests
marked "fails on 136ac3c" fail there (no handover record: replayed silently); the others pin what must not change.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from perpspec.engine.cli.main import main
from perpspec.engine.core import commands as c
from perpspec.engine.core.account_desk import AccountDesk
from perpspec.engine.core.exchange import Engine
from perpspec.engine.durability import rules_id
from perpspec.engine.durability.journal import (
    LINK_BYTES,
    JournalCorrupt,
    JournalWriter,
    SyncPolicy,
    frame_record,
    genesis_link,
    read_journal,
    read_snapshot,
)
from perpspec.engine.durability.recovery import (
    JOURNAL_NAME,
    DurableExchange,
    RulesMismatch,
    command_codec,
    list_snapshots,
    recover,
)
from perpspec.engine.serve.gateway import rebuild_views
from perpspec.engine.serve.views import Views

C_RULES = "c" * 64  # build C's digest
B_RULES = rules_id.build_rules_digest()  # build B: this build


@pytest.fixture
def build(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``build("C")`` runs as build C (its digest, its deposit rule), ``build("B")`` as this build."""
    saved = dict(rules_id._MEMO)
    plain = AccountDesk.deposit

    def use(name: str) -> None:
        rules_id._MEMO.clear()
        if name == "C":
            rules_id._MEMO["digest"] = C_RULES
            monkeypatch.setattr(
                AccountDesk, "deposit", lambda desk, cmd: plain(desk, cmd._replace(amount=cmd.amount * 101 // 100))
            )
        else:
            rules_id._MEMO["digest"] = B_RULES
            monkeypatch.setattr(AccountDesk, "deposit", plain)

    yield use
    rules_id._MEMO.clear()
    rules_id._MEMO.update(saved)


def session(store: Path, cmds: list[Any], *, snapshot_at_end: bool = True) -> tuple[str, Any]:
    """Open the store, run ``cmds``, snapshot at the last seq (so that another build can take it over), close:
    (the state hash acknowledged, the open's report)."""
    durable, report = DurableExchange.open(str(store), command_codec(), Engine)
    for command in cmds:
        durable.submit(command)
    if snapshot_at_end:
        durable.snapshot()
    durable.commit()
    state = durable.exchange.state_hash()
    durable.close()
    return state, report


def deposit(time_ms: int, amount: int) -> c.Deposit:
    return c.Deposit(time_ms=time_ms, account=1, asset="XBt", amount=amount)


B_FIRST = [c.VerifyAccount(time_ms=0, account=1), deposit(0, 10**8)]  # seq 1, 2: judged by B


def b_c_b(store: Path, build: Any) -> dict[str, str]:
    """B writes seq 1-2, C takes over and writes seq 3-4, B takes it back and writes seq 5: the states each
    acknowledged."""
    build("B")
    states = {"B1": session(store, B_FIRST)[0]}
    build("C")
    states["C"] = session(store, [deposit(1, 10**6), deposit(2, 10**6)])[0]
    build("B")
    states["B2"] = session(store, [deposit(3, 10**6)])[0]
    return states


def test_a_store_taken_b_c_b_is_refused_from_genesis_naming_the_seq_and_both_digests(
    tmp_path: Path, build: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Fails on 136ac3c: every replay from genesis under B carried out C's deposits as B credits them."""
    b_c_b(tmp_path, build)
    journal = str(tmp_path / JOURNAL_NAME)
    with pytest.raises(RulesMismatch) as caught:  # a recovery that lost its snapshots, `perpspec replay journal.log`
        recover(journal, command_codec(), ())
    error = caught.value
    assert (error.seq, error.written, error.running) == (3, C_RULES, B_RULES)
    message = str(error)
    assert "the journal's 2 commands after seq 2 (seq 3 to 4, their rules recorded by the rules handover record" in message
    assert C_RULES in message
    assert B_RULES in message
    assert error.offset == read_journal(journal).offsets[2]  # record seq 3
    with pytest.raises(RulesMismatch, match="seq 3 to 4"):  # serve's view rebuild
        rebuild_views(journal, Views())
    assert main(["replay", journal, "--quiet"]) == 1
    assert "replay refused" in capsys.readouterr().out
    assert main(["replay", journal, "--quiet", "--json"]) == 1
    refused = json.loads(capsys.readouterr().out)
    assert (refused["seq"], refused["written"], refused["running"], refused["rules_mismatch"]) == (
        3, C_RULES, B_RULES, True
    )
    assert main(["replay", journal, "--quiet", "--other-rules"]) == 0  # the explicit override still warns
    assert "seq 3 to 4" in capsys.readouterr().err


def test_the_journal_records_each_handover(tmp_path: Path, build: Any) -> None:
    """Fails on 136ac3c (no handover record: the header's B was the journal's only word on its rules)."""
    b_c_b(tmp_path, build)
    scan = read_journal(str(tmp_path / JOURNAL_NAME))
    assert scan.version == 4
    assert scan.meta["rules_digest"] == B_RULES
    assert [(h.seq, h.rules_digest) for h in scan.handovers] == [(3, C_RULES), (5, B_RULES)]
    assert scan.last_seq == 5
    assert scan.torn is None
    # each is chained: the record after a handover links to it
    for handover in scan.handovers:
        assert scan.offsets[handover.seq - scan.first_seq] == handover.end_offset


def test_a_store_taken_back_before_any_command_of_the_other_build(tmp_path: Path, build: Any) -> None:
    """Fails on 136ac3c (its handover line said the state was computed under C, whose snapshot it loaded).  C took
    the store over and ran nothing: its segment is empty, so B's replay from genesis is not refused; the journal
    holds both records at seq 3, and B's line names the rules that computed the state: B's."""
    build("B")
    told = session(tmp_path, B_FIRST)[0]
    build("C")
    session(tmp_path, [])
    build("B")
    state, report = session(tmp_path, [])
    assert report is not None
    assert state == told
    assert report.problems[0].startswith(f"rules handover: the state at seq 2 was computed under {B_RULES}")
    scan = read_journal(str(tmp_path / JOURNAL_NAME))
    assert [(h.seq, h.rules_digest) for h in scan.handovers] == [(3, C_RULES), (3, B_RULES)]
    _engine, genesis_report, _scan = recover(str(tmp_path / JOURNAL_NAME), command_codec(), ())
    assert (genesis_report.state_hash, genesis_report.problems) == (told, ())


def test_a_snapshot_at_or_after_the_other_rules_segment_lets_it_be_skipped(tmp_path: Path, build: Any) -> None:
    """B reopens from C's snapshot at seq 4 and replays only its own seq 5; C may not replay B's seq 5.  (Passes on
    136ac3c too: dur21's snapshot handover.)"""
    states = b_c_b(tmp_path, build)
    for _seq, path in list_snapshots(str(tmp_path)):  # keep the snapshot at seq 4 only: seq 5 is replayed
        if read_snapshot(path).seq != 4:
            os.unlink(path)
    durable, report = DurableExchange.open(str(tmp_path), command_codec(), Engine)
    durable.close()
    assert report is not None
    assert (report.snapshot_seq, report.replayed, report.state_hash, report.problems) == (4, 1, states["B2"], ())
    build("C")
    with pytest.raises(RulesMismatch, match="commands after seq 4"):
        DurableExchange.open(str(tmp_path), command_codec(), Engine)


def test_a_recovery_that_falls_back_before_the_other_segment_is_refused(tmp_path: Path, build: Any) -> None:
    """Fails on 136ac3c: with the newer snapshots damaged, recovery fell back to B's snapshot at seq 2 (or the
    genesis) and replayed C's deposits under B, to a state no client was told of."""
    states = b_c_b(tmp_path, build)
    snapshots = list_snapshots(str(tmp_path))
    for _seq, path in snapshots:
        Path(path).write_bytes(b"damaged")
    with pytest.raises(RulesMismatch, match=r"after seq 2 \(seq 3 to 4"):
        DurableExchange.open(str(tmp_path), command_codec(), Engine)
    for _seq, path in snapshots:
        os.unlink(path)
    build("B")
    with pytest.raises(RulesMismatch) as caught:
        DurableExchange.open(str(tmp_path), command_codec(), Engine)
    assert caught.value.seq == 3
    # and under the override, the state differs from B's acknowledged one: why it is refused
    _engine, report, _scan = recover(str(tmp_path / JOURNAL_NAME), command_codec(), (), other_rules=True)
    assert report.state_hash != states["B2"]
    assert report.problems[0].startswith("rules differ (overridden): the journal's 2 commands after seq 2")


def test_an_interrupted_handover_a_torn_record_is_cut_and_written_again(tmp_path: Path, build: Any) -> None:
    """Fails on 136ac3c (no handover record).  A crash while C writes its handover record leaves the last record
    torn (its link, or its bytes cut short): that is a torn tail like any last record -- cut on reopening, nothing
    after it was appended (it is fsynced before C's first command); C writes it again, and B's store is intact."""
    build("B")
    told_b = session(tmp_path, B_FIRST)[0]
    journal = tmp_path / JOURNAL_NAME
    before = journal.read_bytes()
    build("C")
    durable, _ = DurableExchange.open(str(tmp_path), command_codec(), Engine)
    durable.close()
    whole = journal.read_bytes()
    record = whole[len(before) :]
    assert [(h.seq, h.rules_digest) for h in read_journal(str(journal)).handovers] == [(3, C_RULES)]
    for torn, reason in (
        (before + record[:-LINK_BYTES] + bytes(LINK_BYTES), "last rules handover record fails its hash-chain link"),
        (before + record[:-1], "rules handover record of"),
        (before + record[:10], "only 10 bytes"),
    ):
        journal.write_bytes(torn)
        for _seq, path in list_snapshots(str(tmp_path)):  # the crash came before C's snapshot: B's is the newest
            os.unlink(path)
        build("B")
        session(tmp_path, [], snapshot_at_end=True)  # (B reopens: the torn record is cut, nothing to hand over)
        scan = read_journal(str(journal))
        assert (scan.handovers, scan.torn, journal.read_bytes()) == ((), None, before)
        journal.write_bytes(torn)
        build("C")
        durable, report = DurableExchange.open(str(tmp_path), command_codec(), Engine)
        durable.close()
        assert report is not None
        assert report.torn is not None
        assert reason in report.torn.reason
        assert report.torn.offset == len(before)
        assert (report.state_hash, report.replayed) == (told_b, 0)
        assert journal.read_bytes() == whole  # the same record, written again
        scan = read_journal(str(journal))
        assert [(h.seq, h.rules_digest) for h in scan.handovers] == [(3, C_RULES)]


def test_a_crash_between_the_handover_record_and_its_snapshot_reopens(tmp_path: Path, build: Any) -> None:
    """Fails on 136ac3c (no handover record).  The record is on disk, the handover snapshot is not: B's snapshot at
    seq 2 still binds (its chain head is the record's predecessor), nothing is replayed and no second record is
    written; C's commands then replay under C."""
    build("B")
    told_b = session(tmp_path, B_FIRST)[0]
    b_snapshot = Path(list_snapshots(str(tmp_path))[0][1]).read_bytes()
    build("C")
    session(tmp_path, [], snapshot_at_end=False)
    Path(list_snapshots(str(tmp_path))[0][1]).write_bytes(b_snapshot)  # the handover snapshot never reached disk
    size = (tmp_path / JOURNAL_NAME).stat().st_size
    told_c, report = session(tmp_path, [deposit(1, 10**6)], snapshot_at_end=False)
    assert report is not None
    assert (report.snapshot_seq, report.replayed, report.state_hash, report.problems) == (2, 0, told_b, ())
    scan = read_journal(str(tmp_path / JOURNAL_NAME))
    assert [(h.seq, h.rules_digest) for h in scan.handovers] == [(3, C_RULES)]
    assert scan.offsets == (*scan.offsets[:2], size)
    durable, report = DurableExchange.open(str(tmp_path), command_codec(), Engine)
    durable.close()
    assert report is not None
    assert (report.snapshot_seq, report.replayed, report.state_hash) == (2, 1, told_c)


def test_a_handover_record_damaged_before_a_command_is_corruption(tmp_path: Path, build: Any) -> None:
    """Fails on 136ac3c (no handover record).  Dropping, altering or moving the record breaks the chain of the
    command after it: refused with the offset, never read as a journal without the handover."""
    b_c_b(tmp_path, build)
    journal = tmp_path / JOURNAL_NAME
    data = journal.read_bytes()
    scan = read_journal(str(journal))
    first = scan.handovers[0]
    dropped = data[: first.offset] + data[first.end_offset :]
    journal.write_bytes(dropped)
    with pytest.raises(JournalCorrupt, match="hash chain broken at record seq 3"):
        read_journal(str(journal))
    altered = bytearray(data)
    at = data.index(C_RULES.encode(), first.offset)
    altered[at] = ord("d")
    journal.write_bytes(bytes(altered))
    with pytest.raises(JournalCorrupt, match="hash chain broken"):
        read_journal(str(journal))


def _as_version_3(directory: Path) -> None:
    """The store's journal rewritten as the build before handover records wrote it (version 3, its header and
    chain recomputed), its snapshots removed: a consistent old store."""
    path = str(directory / JOURNAL_NAME)
    scan = read_journal(path)
    extra = {key: value for key, value in scan.meta.items() if key not in ("first_seq", "schema")}
    os.unlink(path)
    writer = JournalWriter.create(path, scan.schema, policy=SyncPolicy(), extra=extra)
    writer.close()
    data = bytearray(Path(path).read_bytes())
    data[8:10] = (3).to_bytes(2, "little")
    data[-4:] = zlib.crc32(bytes(data[:-4])).to_bytes(4, "little")
    link = genesis_link(bytes(data))
    for seq, payload in scan.records:
        record = frame_record(seq, payload, link)
        link = record[-LINK_BYTES:]
        data += record
    Path(path).write_bytes(bytes(data))
    for _seq, snapshot in list_snapshots(str(directory)):
        os.unlink(snapshot)


def test_a_version_3_store_opens_and_is_continued_as_before(tmp_path: Path, build: Any) -> None:
    """An old store (no handover records) opens as it did: the same state, a handover by snapshot only, the journal
    still version 3 (an older build can read it).  (Passes on 136ac3c too.)"""
    build("B")
    told = session(tmp_path, B_FIRST, snapshot_at_end=False)[0]
    _as_version_3(tmp_path)
    assert read_journal(str(tmp_path / JOURNAL_NAME)).version == 3
    same, report = session(tmp_path, [])
    assert report is not None
    assert (same, report.replayed, report.problems) == (told, 2, ())
    build("C")
    _state, report = session(tmp_path, [deposit(1, 10**6)])
    assert report is not None
    assert report.problems[0].startswith("rules handover: the state at seq 2 was computed under " + B_RULES)
    scan = read_journal(str(tmp_path / JOURNAL_NAME))
    assert (scan.version, scan.last_seq) == (3, 3)
    assert read_snapshot(list_snapshots(str(tmp_path))[0][1]).rules_digest == C_RULES
