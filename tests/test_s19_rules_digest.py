"""review21_3: a store's commands are replayed only under the rules that judged them.

The journal keeps commands, not outcomes: a store written by one build and reopened by another replayed its tail
under the new rules (a FundingTick refused when it ran, carried out on replay) and said nothing.  Now the journal
header and every snapshot record the rules digest (engine.durability.rules_id), recovery refuses a tail judged under
another digest (RulesMismatch, naming both), a snapshot at the last seq hands the store over without replaying, a
store from before digests opens with a problem line, and serve's view rebuild and ``perpspec replay`` check the same.
Two builds are simulated by editing a journal header's digest consistently (the header is rewritten and the chain
relinked) or by setting the process's memoised digest (``rules_id._MEMO``).
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from perpspec.engine.cli.main import main
from perpspec.engine.core import commands as c
from perpspec.engine.core.exchange import Engine
from perpspec.engine.durability import rules_id
from perpspec.engine.durability.journal import (
    JOURNAL_VERSION,
    JournalError,
    JournalWriter,
    SyncPolicy,
    read_journal,
    read_snapshot,
)
from perpspec.engine.durability.recovery import (
    JOURNAL_NAME,
    DurableExchange,
    RulesMismatch,
    command_codec,
    list_snapshots,
)
from perpspec.engine.serve.gateway import rebuild_views
from perpspec.engine.serve.views import Views

OLD = "0" * 63 + "1"  # a digest no build has: the "previous build"
E, P = "XBTUSD", 5_000_000


def commands(first_account: int, count: int) -> list[Any]:
    out: list[Any] = [c.PriceUpdate(time_ms=0, symbol=E, mark_price=P, index_price=P)]
    for account in range(first_account, first_account + count):
        out += [c.VerifyAccount(time_ms=0, account=account), c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**8)]
    return out


@pytest.fixture
def running_as() -> Iterator[Any]:
    """Set the digest this process's build runs (restored after the test)."""
    saved = dict(rules_id._MEMO)

    def use(digest: str | None) -> None:
        rules_id._MEMO.clear()
        if digest is not None:
            rules_id._MEMO["digest"] = digest

    yield use
    rules_id._MEMO.clear()
    rules_id._MEMO.update(saved)


def write_store(directory: Path, cmds: list[Any], *, snapshot_at_end: bool = False) -> str:
    durable, _ = DurableExchange.open(str(directory), command_codec(), Engine)
    for command in cmds:
        durable.submit(command)
    if snapshot_at_end:
        durable.snapshot()
    durable.commit()
    state = durable.exchange.state_hash()
    durable.close()
    return state


def rewrite_header(directory: Path, digest: str | None, version: int = JOURNAL_VERSION) -> None:
    """The journal rewritten with its header's ``rules_digest`` set to ``digest`` (dropped for None: the format
    before digests), the header crc and every link recomputed: a consistent journal, not a damaged one (as
    ``version``: 3 is the format before handover records)."""
    path = str(directory / JOURNAL_NAME)
    scan = read_journal(path)
    meta = {key: value for key, value in scan.meta.items() if key not in ("first_seq", "schema", "rules_digest")}
    if digest is not None:
        meta["rules_digest"] = digest
    os.unlink(path)
    writer = JournalWriter.create(
        path, scan.schema, first_seq=scan.first_seq, policy=SyncPolicy(), extra=meta, version=version
    )
    for _seq, payload in scan.records:
        writer.append(payload)
    writer.commit()
    writer.close()


def test_new_stores_record_the_rules_digest_in_the_header_and_snapshots(tmp_path: Path) -> None:
    write_store(tmp_path, commands(1, 2), snapshot_at_end=True)
    assert read_journal(str(tmp_path / JOURNAL_NAME)).meta["rules_digest"] == rules_id.build_rules_digest()
    [(_seq, path)] = list_snapshots(str(tmp_path))
    assert read_snapshot(path).rules_digest == rules_id.build_rules_digest()


def test_a_journal_of_another_build_is_not_replayed_and_nothing_changes(tmp_path: Path) -> None:
    """review21_3's scenario: the whole journal would be replayed under this build's rules; refused, naming both
    digests and what to do, the store untouched."""
    write_store(tmp_path, commands(1, 3))
    rewrite_header(tmp_path, OLD)
    before = (tmp_path / JOURNAL_NAME).read_bytes()
    with pytest.raises(RulesMismatch) as caught:
        DurableExchange.open(str(tmp_path), command_codec(), Engine)
    assert isinstance(caught.value, JournalError)
    message = str(caught.value)
    assert OLD in message
    assert rules_id.build_rules_digest() in message
    assert "the journal's 7 commands after seq 0" in message
    assert "build that wrote it" in message
    assert (caught.value.written, caught.value.running) == (OLD, rules_id.build_rules_digest())
    assert (tmp_path / JOURNAL_NAME).read_bytes() == before
    assert list_snapshots(str(tmp_path)) == []


def test_a_tail_after_a_snapshot_of_another_build_is_refused(tmp_path: Path, running_as: Any) -> None:
    running_as(OLD)
    write_store(tmp_path, commands(1, 2), snapshot_at_end=True)
    durable, _ = DurableExchange.open(str(tmp_path), command_codec(), Engine)
    durable.submit(c.FundingTick(time_ms=4, symbol=E, rate_e8=10_000))  # the tail: judged under OLD
    durable.close()
    running_as(None)
    with pytest.raises(RulesMismatch, match="the journal's 1 commands after seq 5"):
        DurableExchange.open(str(tmp_path), command_codec(), Engine)


def test_a_snapshot_at_the_last_seq_hands_the_store_over_without_replaying(tmp_path: Path, running_as: Any) -> None:
    """No command is replayed: the state is the one the old build computed; this build snapshots it under its own
    digest, and the commands it appends are then replayed under its rules (and refused to the old build)."""
    running_as(OLD)
    told = write_store(tmp_path, commands(1, 2), snapshot_at_end=True)
    running_as(None)
    durable, report = DurableExchange.open(str(tmp_path), command_codec(), Engine)
    assert report is not None
    assert report.replayed == 0
    assert durable.exchange.state_hash() == told
    assert any(line.startswith("rules handover: the state at seq 5 was computed under " + OLD) for line in report.problems)
    [(seq, path), *_] = list_snapshots(str(tmp_path))
    assert (seq, read_snapshot(path).rules_digest) == (5, rules_id.build_rules_digest())
    for command in commands(3, 1)[1:]:
        durable.submit(command)
    durable.commit()
    after = durable.exchange.state_hash()
    durable.close()
    again, report = DurableExchange.open(str(tmp_path), command_codec(), Engine)
    again.close()
    assert report is not None
    assert (report.replayed, report.state_hash, report.problems) == (2, after, ())
    running_as(OLD)  # the old build may not replay what the new one judged
    with pytest.raises(RulesMismatch):
        DurableExchange.open(str(tmp_path), command_codec(), Engine)


def test_a_store_from_before_digests_opens_with_a_problem_line(tmp_path: Path) -> None:
    told = write_store(tmp_path, commands(1, 2))
    rewrite_header(tmp_path, None)
    assert "rules_digest" not in read_journal(str(tmp_path / JOURNAL_NAME)).meta
    durable, report = DurableExchange.open(str(tmp_path), command_codec(), Engine)
    durable.close()
    assert report is not None
    assert report.state_hash == told
    assert report.replayed == 5
    assert report.problems[0].startswith("rules unknown: the journal's 5 commands after seq 0 were written before")
    assert "judged by this build's rules" in report.problems[0]
    # handed over: the next open replays nothing under unknown rules
    _again, report = DurableExchange.open(str(tmp_path), command_codec(), Engine)
    _again.close()
    assert report is not None
    assert report.problems == ()


def test_a_version_2_snapshot_still_reads_its_digest_unknown(tmp_path: Path) -> None:
    """On a version-3 journal (the format of the build before handover records, whose snapshot digest said which
    rules judged the tail: unknown here, so handed over).  A version-4 journal records the rules itself."""
    write_store(tmp_path, commands(1, 1))
    rewrite_header(tmp_path, rules_id.build_rules_digest(), version=3)
    durable, _ = DurableExchange.open(str(tmp_path), command_codec(), Engine)
    durable.snapshot()
    durable.close()
    [(_seq, path)] = list_snapshots(str(tmp_path))
    data = Path(path).read_bytes()
    hash_len = struct.unpack_from("<H", data, 18)[0]
    at = 20 + hash_len + 32
    digest_len = struct.unpack_from("<H", data, at)[0]
    body = data[:8] + struct.pack("<H", 2) + data[10:at] + data[at + 2 + digest_len : -4]
    Path(path).write_bytes(body + struct.pack("<I", zlib.crc32(body)))
    snapshot = read_snapshot(path)
    assert snapshot.rules_digest is None
    assert snapshot.seq == 3
    durable, report = DurableExchange.open(str(tmp_path), command_codec(), Engine)
    durable.close()
    assert report is not None
    assert report.snapshot_seq == 3
    assert report.replayed == 0
    assert report.problems[0].startswith("rules handover: the state at seq 3 was computed under unknown")


def test_serve_rebuilds_its_views_only_from_a_journal_of_its_own_rules(tmp_path: Path) -> None:
    write_store(tmp_path, commands(1, 2))
    journal = str(tmp_path / JOURNAL_NAME)
    rebuild_views(journal, Views())  # its own digest
    rewrite_header(tmp_path, OLD)
    with pytest.raises(RulesMismatch, match=OLD):
        rebuild_views(journal, Views())
    rewrite_header(tmp_path, None)  # a store from before digests: as its recovery (which reports it)
    rebuild_views(journal, Views())


def test_perpspec_replay_refuses_another_builds_journal_unless_told(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_store(tmp_path, commands(1, 2))
    rewrite_header(tmp_path, OLD)
    journal = str(tmp_path / JOURNAL_NAME)
    assert main(["replay", journal, "--quiet"]) == 1
    assert "replay refused" in capsys.readouterr().out
    assert main(["replay", journal, "--quiet", "--other-rules"]) == 0
    err = capsys.readouterr().err
    assert "warning: rules differ (overridden)" in err
    assert OLD in err


def test_serve_opens_a_store_from_before_digests_and_keeps_what_recovery_found(tmp_path: Path) -> None:
    from perpspec.engine.serve.gateway import Gateway

    write_store(tmp_path, commands(1, 1))
    rewrite_header(tmp_path, None)
    gateway = Gateway.open(str(tmp_path))
    gateway.close()
    assert gateway.recovery is not None
    assert gateway.recovery.problems[0].startswith("rules unknown")
    rewrite_header(tmp_path, OLD)  # (the handover snapshot is bound to the old chain: set it aside first)
    for _seq, path in list_snapshots(str(tmp_path)):
        os.unlink(path)
    with pytest.raises(RulesMismatch):
        Gateway.open(str(tmp_path))
