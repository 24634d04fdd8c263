"""``perpspec replay LOG [--snapshot S] [--json]``: rebuild the engine state from a command journal.

``LOG`` is a journal file, or a durable exchange's directory (then its newest
snapshot that validates is used, a damaged one skipped and reported).  A
snapshot loads only onto the journal whose hash chain has the snapshot's head
at its seq: another store's snapshot is an error, not a skip.

Reads and validates the journal (a torn last record is reported and ignored;
any other damage stops with the byte offset), starts from the journal's
genesis state or from ``--snapshot`` (validated, hash-checked), replays the
commands and prints the final state hash, the event-stream hash, counts and
any journal problem.  Exit status: 0 replayed (a torn tail is a report, not a
failure), 1 the journal or snapshot is damaged or foreign (one line naming the
byte offset), 2 bad command line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any

from perpspec.engine.cli.main import UsageError
from perpspec.engine.durability.codec import CodecError
from perpspec.engine.durability.journal import JournalError, read_journal
from perpspec.engine.durability.recovery import (
    JOURNAL_NAME,
    RulesMismatch,
    command_codec,
    list_snapshots,
    recover,
)
from perpspec.engine.simulation.progress import Progress


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "log", metavar="LOG", help="journal file, or a durable exchange's directory (its newest valid snapshot is used)"
    )
    parser.add_argument("--snapshot", metavar="S", help="start from this snapshot instead of the journal's genesis")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--quiet", action="store_true", help="no progress bar on stderr (shown only on a terminal)")
    parser.add_argument(
        "--other-rules",
        action="store_true",
        help="replay commands judged under another rules digest than this build's (refused without it): the "
        "outcomes are this build's, not the ones clients were told; a warning is printed",
    )


def replay_progress(log: str, enabled: bool) -> Progress:
    """A progress bar over the journal's commands (their count read from the journal; 1 if unreadable)."""
    total = 1
    if enabled:
        try:
            total = len(read_journal(log).records)
        except JournalError:
            total = 1  # recover() reports the damage
    return Progress(total, label="replay", enabled=enabled)


def run(args: argparse.Namespace) -> int:
    snapshots: tuple[str, ...] = ()
    strict = args.snapshot is not None
    if os.path.isdir(args.log):  # a store directory: its journal, and its snapshots newest first
        snapshots = tuple(path for _, path in list_snapshots(args.log))
        args.log = os.path.join(args.log, JOURNAL_NAME)
    if not os.path.isfile(args.log):
        raise UsageError(f"no journal file {args.log!r}")
    if args.snapshot is not None and not os.path.isfile(args.snapshot):
        raise UsageError(f"no snapshot file {args.snapshot!r}")
    kinds: Counter[str] = Counter()
    rejects: Counter[str] = Counter()

    bar = replay_progress(args.log, enabled=not args.quiet and sys.stderr.isatty())

    def count(events: Sequence[Any]) -> None:
        bar.update(bar.step + 1, bar.events + len(events))
        for event in events:
            name = type(event).__name__
            if name == "Execution":
                kinds[f"Execution:{event.exec_type}"] += 1
            else:
                kinds[name] += 1
            if name == "Rejected":
                rejects[event.reason.value] += 1

    if args.snapshot is not None:
        snapshots = (args.snapshot,)
    try:
        _, report, _ = recover(
            args.log, command_codec(), snapshots, strict_snapshot=strict, on_events=count, other_rules=args.other_rules
        )
        bar.close()
    except RulesMismatch as error:
        if args.json:
            print(json.dumps({"ok": False, "error": str(error), "offset": error.offset, "rules_mismatch": True,
                              "seq": error.seq, "written": error.written, "running": error.running}))
        else:
            print(f"replay refused: {error} (--other-rules replays it anyway, under this build's rules)")
        return 1
    except (JournalError, CodecError) as error:
        if args.json:
            print(json.dumps({"ok": False, "error": str(error), "offset": getattr(error, "offset", None)}))
        else:
            print(f"journal damaged: {error}")
        return 1
    for problem in report.problems:
        if problem.startswith("rules differ (overridden)"):
            print(f"warning: {problem}", file=sys.stderr)
    if args.json:
        print(
            json.dumps(
                {
                    "ok": True,
                    "state_hash": report.state_hash,
                    "event_hash": report.event_hash,
                    "last_seq": report.last_seq,
                    "snapshot": report.snapshot_path,
                    "snapshot_seq": report.snapshot_seq,
                    "replayed": report.replayed,
                    "events": report.events,
                    "rejected": report.rejected,
                    "rejects_by_reason": dict(sorted(rejects.items())),
                    "events_by_kind": dict(sorted(kinds.items())),
                    "torn_tail": None
                    if report.torn is None
                    else {"offset": report.torn.offset, "bytes": report.torn.discarded_bytes, "reason": report.torn.reason},
                    "problems": list(report.problems),
                },
                sort_keys=True,
            )
        )
        return 0
    for line in report.lines():
        print(line)
    for kind, number in sorted(kinds.items()):
        print(f"events          {kind}: {number}")
    for reason, number in sorted(rejects.items()):
        print(f"rejected        {reason}: {number}")
    return 0
