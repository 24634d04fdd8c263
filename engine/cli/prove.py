"""``perpspec prove``: run every Z3 proof obligation and print a table.

Obligations are discovered from ``proofs/obligations_*.py``.  A row passes
when an obligation expected to hold is PROVED, or a known-bad variant
expected to fail is REFUTED with a counterexample.  VACUOUS (unsatisfiable
assumptions), UNKNOWN (solver gave up or timed out) and crashes are failures.
Exit status: 0 all passed, 1 any failure, 2 bad input.

``perpspec prove --coverage`` instead reports, rule by rule, whether every rule
of ``rules/`` is proved (unbounded or for a stated bound) or tested with a
reviewed waiver (:mod:`proofs.coverage`), from the obligations' outcomes (the
stored run of ``specs/proof-status.json`` where an obligation's sources are
unchanged, a fresh run otherwise).  Exit status 1 while any rule is "not
checked", "tested only" (no waiver) or has a failing obligation.

z3 and :mod:`proofs` are imported inside :func:`run` only, so the rest of the
CLI never loads them.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from typing import TYPE_CHECKING, Any

from perpspec.engine.cli.main import whole_number
from perpspec.engine.simulation.progress import Progress as Bar

if TYPE_CHECKING:
    from perpspec.proofs.parallel import Progress
    from perpspec.proofs.registry import Obligation, Outcome


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``perpspec prove``."""
    parser.add_argument(
        "--only",
        metavar="PATTERN",
        help="run only obligations whose id matches PATTERN (glob like 'ACC-004/*', or a substring)",
    )
    parser.add_argument(
        "--timeout-ms",
        type=whole_number,
        metavar="N",
        help=(
            "solver budget per query in milliseconds: z3's deterministic rlimit, about that much CPU, with a "
            "wall-clock backstop 5x longer (default: each obligation's own, else 20000)"
        ),
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument(
        "--coverage",
        action="store_true",
        help="report every rule's coverage (proved / proved for k <= n / tested + waived); exit 1 on any gap",
    )
    parser.add_argument(
        "-j", "--jobs", type=whole_number, metavar="N", help="run on N processes (default: every core; 1: in this process)"
    )
    parser.add_argument(
        "--cache-dir", metavar="DIR", help="reuse results keyed by what each obligation depends on (default: ~/.cache/perpspec/prove)"
    )
    parser.add_argument("--no-cache", action="store_true", help="run every obligation; reuse and store nothing")


def matches(obligation_id: str, pattern: str | None) -> bool:
    """``--only`` filter: glob when the pattern has wildcards, else case-insensitive substring."""
    if pattern is None:
        return True
    if any(character in pattern for character in "*?["):
        return fnmatch.fnmatchcase(obligation_id, pattern)
    return pattern.lower() in obligation_id.lower()


def format_ms(time_us: int) -> str:
    """Microseconds as milliseconds with one decimal (integer arithmetic)."""
    return f"{time_us // 1000}.{time_us % 1000 // 100}"


def run(args: argparse.Namespace) -> int:
    """Run the selected obligations; 0 when every one has its expected result."""
    from pathlib import Path

    from perpspec.engine.cli.main import UsageError
    from perpspec.proofs.parallel import default_cache_dir, run_all
    from perpspec.proofs.registry import discover

    if args.timeout_ms is not None and args.timeout_ms <= 0:
        raise UsageError("--timeout-ms must be a positive number of milliseconds")
    if args.coverage:
        if args.only is not None:
            raise UsageError("--coverage reports every rule: it cannot be combined with --only")
        return run_coverage(args.timeout_ms, args.json)
    if args.jobs is not None and args.jobs <= 0:
        raise UsageError("-j/--jobs must be a positive number of processes")
    selected = [obligation for obligation in discover() if matches(obligation.id, args.only)]
    if not selected:
        raise UsageError(f"no obligation matches {args.only!r}")
    if not args.json:
        _print_header()

    # the table prints a row per obligation with an N/total counter; with --json a bar on stderr (on a terminal)
    bar = Bar(len(selected), label="prove", enabled=args.json and sys.stderr.isatty())

    def report(progress: Progress) -> None:
        if args.json:
            bar.update(progress.done, progress.done)
        else:
            counter = f"[{progress.done}/{progress.total}]" + (" cached" if progress.cached else "")
            print(f"{_row(progress.outcome)}  {counter}", flush=True)

    cache_dir = None if args.no_cache else Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    outcomes: list[Outcome] = run_all(selected, args.timeout_ms, args.jobs, cache_dir, report)
    bar.close()
    if args.json:
        print(json.dumps(_json_report(outcomes), indent=2))
    else:
        _print_refutations(outcomes)
        _print_failures(outcomes)
        print(_summary(outcomes))
    return 0 if all(outcome.passed for outcome in outcomes) else 1


_COLUMNS = (
    ("obligation", 52),
    ("rule", 8),
    ("invariant", 26),
    ("expect", 8),
    ("result", 8),
    ("ms", 9),
    ("bounded", 0),
)


def _line(cells: list[str]) -> str:
    parts = []
    for (_, width), cell in zip(_COLUMNS, cells, strict=True):
        parts.append(cell.ljust(width) if width else cell)
    return "  ".join(parts).rstrip()


def _print_header() -> None:
    print(_line([name for name, _ in _COLUMNS]))
    print(_line(["-" * max(width, 7) for _, width in _COLUMNS]), flush=True)


def _row(outcome: Outcome) -> str:
    obligation = outcome.obligation
    result = outcome.status_text + ("" if outcome.passed else " FAIL")
    return _line(
        [
            obligation.id,
            obligation.rule_id,
            obligation.invariant_id,
            obligation.expect,
            result,
            format_ms(outcome.time_us).rjust(9),
            obligation.bounded or "unbounded",
        ]
    )


def _failure_text(outcome: Outcome) -> str:
    obligation = outcome.obligation
    lines = [f"FAILED {obligation.id}: expected {obligation.expect}, got {outcome.status_text}"]
    lines.append(f"  statement: {obligation.statement}")
    if outcome.error:
        lines.append(f"  error: {outcome.error}")
    result = outcome.result
    if result is not None and result.detail:
        lines.append(f"  detail: {result.detail}")
    if result is not None and result.counterexample is not None:
        lines.append("  counterexample:")
        lines.extend(f"    {line}" for line in result.counterexample.text.splitlines())
    return "\n".join(lines)


def _print_refutations(outcomes: list[Outcome]) -> None:
    """Every known-bad variant refuted as expected, with the counterexample that refutes it."""
    refuted = [
        outcome
        for outcome in outcomes
        if outcome.passed and outcome.obligation.expect == "refuted" and outcome.result is not None
    ]
    if refuted:
        print()
        print("known-bad variants refuted, with their counterexamples:")
    for outcome in refuted:
        assert outcome.result is not None
        assert outcome.result.counterexample is not None
        text = "; ".join(outcome.result.counterexample.text.splitlines())
        print(f"  {outcome.obligation.id}: {text}")


def _print_failures(outcomes: list[Outcome]) -> None:
    failures = [outcome for outcome in outcomes if not outcome.passed]
    if failures:
        print()
        for outcome in failures:
            print(_failure_text(outcome))


def _counts(outcomes: list[Outcome]) -> dict[str, int]:
    passed = [outcome for outcome in outcomes if outcome.passed]
    return {
        "obligations": len(outcomes),
        "proved": sum(1 for outcome in passed if outcome.obligation.expect == "proved"),
        "refuted_as_expected": sum(1 for outcome in passed if outcome.obligation.expect == "refuted"),
        "failures": len(outcomes) - len(passed),
        "total_time_us": sum(outcome.time_us for outcome in outcomes),
    }


def _summary(outcomes: list[Outcome]) -> str:
    counts = _counts(outcomes)
    return (
        f"\n{counts['obligations']} obligations: {counts['proved']} proved, "
        f"{counts['refuted_as_expected']} refuted as expected, {counts['failures']} failures; "
        f"total solver time {format_ms(counts['total_time_us'])} ms"
    )


def _json_report(outcomes: list[Outcome]) -> dict[str, Any]:
    rows = []
    for outcome in outcomes:
        obligation: Obligation = outcome.obligation
        result = outcome.result
        counterexample = None if result is None else result.counterexample
        rows.append(
            {
                "id": obligation.id,
                "rule": obligation.rule_id,
                "invariant": obligation.invariant_id,
                "statement": obligation.statement,
                "expect": obligation.expect,
                "result": outcome.status_text,
                "passed": outcome.passed,
                "time_us": outcome.time_us,
                "bounded": obligation.bounded,
                "detail": outcome.error or ("" if result is None else result.detail),
                "counterexample": None if counterexample is None else dict(counterexample.values),
            }
        )
    return {"obligations": rows, "summary": _counts(outcomes)}


def run_coverage(timeout_ms: int | None, as_json: bool) -> int:
    """Print every rule's coverage class and the counts; 0 only when no rule is a gap."""
    from perpspec.proofs import coverage, rulebook

    book, ran = rulebook.build_rulebook(rulebook.ROOT, timeout_ms=timeout_ms)
    counts = book.coverage_counts()
    gaps = book.coverage_gaps()
    if as_json:
        rows = [
            {
                "rule": rule.id,
                "coverage": book.coverage_class(rule.id),
                "status": book.status(rule.id),
                "tests": list(book.test_functions.get(rule.id, ())),
            }
            for rule in book.rules
        ]
        print(json.dumps({"rules": rows, "counts": counts, "obligations_run_now": ran}, indent=2))
    else:
        width = max(len(rule.id) for rule in book.rules)
        for rule in book.rules:
            print(f"{rule.id.ljust(width)}  {book.coverage_class(rule.id).ljust(24)}  {book.status(rule.id)}")
        print()
        print(f"{len(book.rules)} rules: " + ", ".join(f"{counts[name]} {name}" for name in coverage.CLASSES))
        print(f"({ran} obligations ran now; the others are the stored run of unchanged sources)")
        if gaps:
            print("gaps: " + ", ".join(f"{rule_id} ({kind})" for rule_id, kind in gaps))
    return 0 if not gaps else 1
