"""``perpspec bench``: the engine against the shared measuring stick, and the liquidation-scaling figure.

Replays ``../shared/bench/workload.py``'s seeded stream (500,000 timed ops by
default, ``--ops N`` for a quicker run) through the measuring stick
(``ref_engine.Engine``, before and after the engine, in this same process),
through ``ref_engine`` with its per-fill ``Risk`` for context, and through the
perpspec engine with risk checks, events and the journal on; prints orders/s
and the ratio to the stick, each replay timed as a whole (a clock read per op
would cost the stick as much as its own op and flatter the ratio); then replays
the engine once more with each op timed (wall clock) for p50/p99/p99.9 latency,
overall and per kind of op, and checks that both replays had the same outcomes.  Then times one mark-price
update that makes 10 of 1,000 and 10 of 100,000 open positions liquidatable,
and prints both and their ratio.  See :mod:`engine.bench.bench`.

The compiled engine (mypyc, :mod:`engine.bench.native`) is the default
whenever ``perpspec build-native`` has built the current sources: the command
re-runs itself in a fresh interpreter that imports ``rules``/``engine`` from
``build/native`` (``--compiled`` insists on it, ``--interpreted`` opts out).
The stick is the same pure-Python code either way.  The engine's figures are
printed beside the last release's in one table (:mod:`engine.bench.release`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path

import attrs

from perpspec.engine.bench.bench import (
    DEFAULT_SHARED,
    WARMUP,
    EngineSetup,
    Run,
    bench_book_only,
    bench_engine,
    bench_kernels_only,
    bench_liquidation,
    bench_reference,
    bench_rules_only,
    default_journal_dir,
    format_ns,
    format_run,
    load_workload,
    remove_tree,
    use_clock,
)
from perpspec.engine.bench.native import (
    CHILD_FLAG,
    COMPILED_MODULES,
    child_command,
    child_env,
    compiled_here,
    status,
)
from perpspec.engine.bench.release import release_table
from perpspec.engine.cli.main import UsageError, whole_number
from perpspec.engine.durability.journal import SyncPolicy

# issue 14: engine with risk, events and journal against the measuring stick, per build (stretch 0.2 compiled)
RATIO_TARGET_COMPILED = 0.1
RATIO_TARGET_INTERPRETED = 0.04
RATIO_STRETCH = 0.2
SCALING_TARGET = 3.0


def ratio_verdict(ratio: float, compiled: bool) -> str:
    """Where the engine/stick ratio stands against issue 14's target for this build (and the stretch target)."""
    build, target = ("compiled", RATIO_TARGET_COMPILED) if compiled else ("interpreted", RATIO_TARGET_INTERPRETED)
    verdict = "meets" if ratio >= target else "below"
    text = f"{verdict} the {build} target {target}"
    if compiled:
        text += f"; stretch {RATIO_STRETCH}: {'met' if ratio >= RATIO_STRETCH else 'not met'}"
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shared", metavar="DIR", default=str(DEFAULT_SHARED), help="the shared bench folder")
    parser.add_argument("--ops", type=whole_number, default=500_000, help="timed ops of the workload (default 500,000)")
    parser.add_argument("--accounts", type=whole_number, default=1_000, help="accounts the orders are spread over")
    parser.add_argument("--group", type=whole_number, default=64, help="journal group commit: records per write(2)")
    parser.add_argument("--fsync", default="never", help="journal fsync policy: never, always, every:N")
    parser.add_argument("--journal-dir", metavar="DIR", help="where the journal goes (default: a temp dir, removed)")
    parser.add_argument("--small", type=whole_number, default=1_000, help="positions in the small liquidation case")
    parser.add_argument("--large", type=whole_number, default=100_000, help="positions in the large liquidation case")
    parser.add_argument("--repeats", type=whole_number, default=7, help="timed mark updates per liquidation case (median)")
    parser.add_argument("--skip-engine", action="store_true", help="only the liquidation figure")
    parser.add_argument(
        "--no-breakdown",
        action="store_true",
        help="skip the floor runs (the engine's book alone; book + the order path's rules only, generic and as kernels)",
    )
    parser.add_argument("--skip-liquidation", action="store_true", help="only the throughput figure")
    parser.add_argument(
        "--no-latency", action="store_true", help="skip the engine's second replay, the one that times each op"
    )
    parser.add_argument(
        "--generic",
        action="store_true",
        help="also run the engine on the generic rules only (no specialised kernels), in the same process",
    )
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="time with the wall clock (default) or this process's CPU time (a shared machine's other jobs do not "
        "stretch it; the stick is timed the same way)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument(
        "--compiled",
        action="store_true",
        help="run on the engine compiled with mypyc (`perpspec build-native` first); the default when that build is current",
    )
    parser.add_argument(
        "--interpreted", action="store_true", help="run on the interpreted engine even when a current compiled build exists"
    )


def forwarded(args: argparse.Namespace) -> list[str]:
    """The command line that gives ``args`` again (for the re-run on the compiled engine)."""
    argv = ["bench"]
    for name, value in sorted(vars(args).items()):
        if name == "command" or value is None or value is False:
            continue
        flag = "--" + name.replace("_", "-")
        argv.extend([flag] if value is True else [flag, str(value)])
    return argv


def run_compiled(args: argparse.Namespace) -> int:
    """Re-run this command in an interpreter that imports the compiled engine from build/native."""
    reason = status()
    if reason is not None:
        raise UsageError(f"--compiled: {reason}")
    if os.environ.get(CHILD_FLAG):
        raise UsageError("--compiled: build/native is on the path but its compiled modules did not load")
    command = child_command("-m", "perpspec.engine.cli.main", *forwarded(args))
    return subprocess.run(command, env=child_env(), check=False).returncode


def wants_compiled(args: argparse.Namespace) -> bool:
    """``--compiled``, or by default whenever a current compiled build exists (``--interpreted`` opts out)."""
    if args.compiled and args.interpreted:
        raise UsageError("--compiled and --interpreted exclude each other")
    if args.compiled:
        return True
    if args.interpreted or os.environ.get(CHILD_FLAG):
        return False
    reason = status()
    if reason is not None:
        print(f"engine: interpreted ({reason.split(': ')[0]}; `perpspec build-native` makes the compiled engine the default)")
        return False
    return True


def run(args: argparse.Namespace) -> int:
    shared = Path(args.shared)
    compiled = compiled_here()
    if len(compiled) < len(COMPILED_MODULES) and wants_compiled(args):
        return run_compiled(args)
    if compiled:
        print(f"engine: compiled with mypyc ({len(compiled)} modules: {', '.join(compiled)}); the rest interpreted")
    if not (shared / "workload.py").exists() or not (shared / "ref_engine.py").exists():
        raise UsageError(f"{shared} has no workload.py / ref_engine.py (use --shared DIR)")
    if args.ops < 1 or args.accounts < 2 or args.group < 1:
        raise UsageError("--ops must be ≥ 1, --accounts ≥ 2, --group ≥ 1")
    try:
        SyncPolicy(group_records=args.group, fsync=args.fsync).fsync_interval()
    except ValueError as error:
        raise UsageError(str(error)) from None
    use_clock(args.clock)
    figures: dict[str, object] = {"compiled_modules": list(compiled), "clock": args.clock}
    if not args.skip_engine:
        ops, digest = load_workload(shared, args.ops)
        print(f"workload: {len(ops) - WARMUP:,} timed ops (+{WARMUP:,} warmup, untimed), sha256 {digest[:16]}")
        stick_before = bench_reference(shared, ops, WARMUP, with_risk=False)
        with_risk = bench_reference(shared, ops, WARMUP, with_risk=True)
        directory = args.journal_dir or default_journal_dir()
        setup = EngineSetup(accounts=args.accounts, group_records=args.group, fsync=args.fsync)
        try:
            engine, counts = bench_engine(setup, ops, WARMUP, os.path.join(directory, "store"))
        finally:
            if args.journal_dir is None:
                remove_tree(directory)
        generic: list[Run] = []
        if args.generic:
            from perpspec.engine.kernels.load import generic_rules_only

            directory = args.journal_dir or default_journal_dir()
            try:
                with generic_rules_only():
                    generic_run, _ = bench_engine(setup, ops, WARMUP, os.path.join(directory, "generic"))
            finally:
                if args.journal_dir is None:
                    remove_tree(directory)
            generic = [attrs.evolve(generic_run, name="perpspec engine, generic rules only")]
        floors: list[Run] = []
        if not args.no_breakdown:
            floors = [
                bench_book_only(setup, ops, WARMUP),
                bench_rules_only(setup, ops, WARMUP),
                bench_kernels_only(setup, ops, WARMUP),
            ]
        stick_after = bench_reference(shared, ops, WARMUP, with_risk=False)
        stick = Run(
            name="ref_engine (mean of before/after)",
            ops=stick_before.ops,
            seconds=(stick_before.seconds + stick_after.seconds) / 2,
        )
        latency: Run | None = None
        if not args.no_latency:
            directory = args.journal_dir or default_journal_dir()
            try:
                latency, timed_counts = bench_engine(setup, ops, WARMUP, os.path.join(directory, "latency"), per_op=True)
            finally:
                if args.journal_dir is None:
                    remove_tree(directory)
            differs = sorted(key for key in counts.keys() | timed_counts.keys()
                             if not key.endswith("_ns") and counts.get(key) != timed_counts.get(key))
            if latency.outcome != engine.outcome:
                differs.append("the final state or the journal's SHA-256")
            if differs:
                print("the engine's two replays of one workload differ in " + ", ".join(differs))
                return 1
            counts.update((key, value) for key, value in timed_counts.items() if key.endswith("_ns"))
        for row in (stick_before, stick_after, with_risk, *floors, *generic, engine, *([latency] if latency else [])):
            print(format_run(row, stick))
        from perpspec.engine.kernels.load import NOTICES, kernels_for
        from perpspec.rules.instrument_file import load_instrument

        in_use = kernels_for(load_instrument(setup.symbol)) is not None
        print(f"proved kernels for {setup.symbol}: {'current' if in_use else 'not current, the generic rules run'}"
              + ("" if in_use else f" ({NOTICES.get(setup.symbol, 'disabled')})"))
        ratio = engine.ops_per_s / stick.ops_per_s
        print(f"ratio to the measuring stick: {ratio:.4f} ({ratio_verdict(ratio, bool(compiled))})")
        for label in ("add", "cancel", "sweep"):
            kind_ops = counts.pop(f"{label}_ops")
            timing = "  (no latency replay)"
            if latency is not None:
                timing = (
                    f"  p50 {format_ns(counts.pop(f'{label}_p50_ns')):>9}  p99 {format_ns(counts.pop(f'{label}_p99_ns')):>9}"
                    f"  p99.9 {format_ns(counts.pop(f'{label}_p999_ns')):>9}"
                )
            print(f"  engine {label:<6} {kind_ops:>9,} ops{timing}")
        print("engine outcomes: " + ", ".join(f"{key} {value:,}" for key, value in sorted(counts.items())))
        print(f"engine end: {engine.outcome}" + (" (both replays)" if latency is not None else ""))
        mode = "compiled" if compiled else "interpreted"
        floor_ratios = {row.name: row.ops_per_s / stick.ops_per_s for row in floors}
        mine: dict[str, float | None] = {
            "engine ratio": ratio,
            "engine p50 µs": latency.p50_ns / 1000 if latency else None,
            "engine p99 µs": latency.p99_ns / 1000 if latency else None,
            "engine p99.9 µs": latency.p999_ns / 1000 if latency else None,
            "rules-only floor ratio": floor_ratios.get("book + order-path rules only"),
            "kernels-only floor ratio": floor_ratios.get("book + order-path kernels only"),
            "book alone ratio": floor_ratios.get("engine.core.book alone (no rules)"),
        }
        for line in release_table(mode, mine):
            print(line)
        figures.update(
            workload_sha256=digest,
            timed_ops=len(ops) - WARMUP,
            stick_ops_per_s=round(stick.ops_per_s),
            stick_with_risk_ops_per_s=round(with_risk.ops_per_s),
            engine_ops_per_s=round(engine.ops_per_s),
            engine_p50_us=latency.p50_ns / 1000 if latency else None,
            engine_p99_us=latency.p99_ns / 1000 if latency else None,
            engine_p999_us=latency.p999_ns / 1000 if latency else None,
            throughput_timing="whole replay (clock read at start and end)",
            latency_timing=None if latency is None else "second engine replay, each op timed on the wall clock",
            ratio=round(ratio, 5),
            engine_counts=counts,
            engine_outcome=engine.outcome,
            floors={row.name: {"ops_per_s": round(row.ops_per_s), "ratio": round(row.ops_per_s / stick.ops_per_s, 5)}
                    for row in (*floors, *generic)},
            setup=engine.note,
            kernels=in_use,
        )
    if not args.skip_liquidation:
        small = bench_liquidation(args.small, repeats=args.repeats)
        large = bench_liquidation(args.large, repeats=args.repeats)
        scaling = large.seconds / small.seconds if small.seconds else float("inf")
        for figure in (small, large):
            print(
                f"mark update, {figure.positions:>7,} open positions, {figure.liquidated} liquidated: "
                f"{figure.seconds * 1000:8.3f} ms (median of {args.repeats}; setup {figure.setup_seconds:.1f} s)"
            )
        verdict = "meets" if scaling <= SCALING_TARGET else "above"
        print(f"liquidation scaling {args.large:,} / {args.small:,} positions: {scaling:.2f}x ({verdict} the target ≤ {SCALING_TARGET}x)")
        figures.update(
            liquidation_small_ms=small.seconds * 1000,
            liquidation_large_ms=large.seconds * 1000,
            liquidated=[small.liquidated, large.liquidated],
            liquidation_scaling=round(scaling, 3),
        )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(figures, handle, indent=2, sort_keys=True)
    return 0
