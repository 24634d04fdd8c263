"""``perpspec simulate``: run a stress scenario through the engine, print a summary, write a report.

::

    perpspec simulate [SCENARIO] [--seed N] [--out DIR] [--set NAME=VALUE ...]
                      [--adl-policy queue|pro-rata] [--accounts N] [--quiet]
                      [--compare A [B ...]] [--bench] [--interpreted]

``SCENARIO`` is a shipped scenario name (``default_crash``, ``calm``,
``short_squeeze``, ``funding_spiral``…) or a path to a TOML file; without it
the built-in default crash runs.  ``--set`` overrides any scenario field by
its dotted name (``accounts.count=500``, ``insurance.balance=0``,
``instrument.maintMargin=0.01``).

``--compare`` runs several variants and puts them side by side in one report;
each item is a scenario (name or file) or a variant of the base scenario
written as ``NAME=VALUE[,NAME=VALUE…]``, e.g.
``perpspec simulate --compare adl.policy=queue adl.policy=pro-rata``.

Outputs under ``--out`` (default ``./perpspec-out``): ``events.jsonl`` (the
event log), ``journal/journal.log`` (the command journal: ``perpspec replay``
rebuilds the final state from it), ``summary.json`` and ``report.html``
(compare mode: one sub-directory per run, named after its label made safe and
unique, and one report).  The folder is locked first, the run is staged and its
outputs renamed into place at the end, and nothing the run did not create is
deleted (:mod:`engine.simulation.output`).  Exit status 0 when every invariant
held and funds are conserved to the satoshi, 1 otherwise, 2 on bad input (one
line), 130 when interrupted (the previous outputs are left as they were).

Like ``perpspec bench``, the command runs on the compiled engine (mypyc,
:mod:`engine.bench.native`) whenever ``perpspec build-native`` has built the
current sources: it re-runs itself in an interpreter importing ``build/native``
(same modules by name: the same events, journal and state hash);
``--interpreted`` opts out.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from perpspec.engine.cli.main import whole_number

DEFAULT_OUT = "perpspec-out"
# engine.bench.native.CHILD_FLAG (a test keeps them equal): the compiled process reads it before importing that module
CHILD_FLAG = "PERPSPEC_NATIVE_CHILD"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's options."""
    parser.add_argument("scenario", nargs="?", default=None, help="shipped scenario name or TOML file (default: default_crash)")
    parser.add_argument("--seed", type=whole_number, default=None, help="seed of the scenario generator (default: the file's)")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"output directory (default: ./{DEFAULT_OUT})")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
        help="override a scenario field, e.g. accounts.count=500 or instrument.maintMargin=0.01",
    )
    parser.add_argument("--adl-policy", choices=("queue", "pro-rata"), default=None, help="ADL policy")
    parser.add_argument("--accounts", type=whole_number, default=None, help="number of trader accounts")
    parser.add_argument("--compare", nargs="+", default=None, metavar="VARIANT",
                        help="scenarios or NAME=VALUE[,NAME=VALUE] variants to run side by side")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--list", action="store_true", help="list the shipped scenarios and exit")
    parser.add_argument(
        "--bench", action="store_true",
        help="print the run's cost at the end: wall and CPU time (run / report), peak memory, machine load",
    )
    parser.add_argument(
        "--profile", metavar="FILE", default=None,
        help="run under cProfile: write the stats to FILE (pstats) and print the 25 costliest functions",
    )
    parser.add_argument(
        "--interpreted", action="store_true",
        help="run on the interpreted engine even when `perpspec build-native` has built the current sources",
    )


def run(args: argparse.Namespace) -> int:
    """Run the scenario(s); print the summary; write the report."""
    from perpspec.engine.cli.main import UsageError
    from perpspec.engine.simulation.scenario import (
        ScenarioError,
        builtin_names,
        load_scenario,
        parse_assignment,
    )

    compiled = run_compiled(args)
    if compiled is not None:
        return compiled
    if args.list:
        for name in builtin_names():
            scenario = load_scenario(name)
            print(f"{name:16} {scenario.description}")
        return 0
    try:
        base_overrides = [parse_assignment(text) for text in args.overrides]
        if args.adl_policy is not None:
            base_overrides.append(("adl.policy", args.adl_policy))
        if args.accounts is not None:
            base_overrides.append(("accounts.count", str(args.accounts)))
        variants = plan_variants(args.scenario, args.compare, base_overrides)
        scenarios = [
            (label, load_scenario(name, overrides, seed=args.seed)) for label, name, overrides in variants
        ]
    except ScenarioError as error:
        raise UsageError(str(error)) from error
    from perpspec.engine.simulation.output import OutputError, OutputFolder, unique_folder_names

    compare = len(scenarios) > 1
    folders = unique_folder_names([label for label, _ in scenarios]) if compare else [""]
    try:
        with OutputFolder(Path(args.out)) as out:
            for leftover in out.leftovers:
                print(
                    f"perpspec simulate: note: {Path(args.out) / leftover} is left from a run that was killed (not removed)",
                    file=sys.stderr,
                )
            try:
                bench = Bench.start() if args.bench else None
                profiler = start_profile() if args.profile else None
                status, outputs, labels, summaries = _run_all(scenarios, folders, out, quiet=args.quiet, bench=bench)
                if profiler is not None:
                    print_profile(profiler, args.profile)
                if bench is not None:
                    bench.print(sum(summary["events"] for summary in summaries))
            except KeyboardInterrupt:
                raise KeyboardInterrupt(f"interrupted: nothing in {args.out} was changed") from None
            out.commit(outputs)
    except OutputError as error:
        raise UsageError(str(error)) from None
    if compare:
        print_compare(summaries, labels)
    print(f"report: {Path(args.out) / 'report.html'}")
    return status


# simulate's options, as they are given again to the compiled engine's process (dest -> flag; None: positional)
FORWARDED = {
    "scenario": None, "seed": "--seed", "out": "--out", "overrides": "--set", "adl_policy": "--adl-policy",
    "accounts": "--accounts", "compare": "--compare", "quiet": "--quiet", "list": "--list", "bench": "--bench",
    "profile": "--profile", "interpreted": "--interpreted",
}


def forwarded(args: argparse.Namespace) -> list[str]:
    """The command line that gives ``args`` again (``simulate`` first)."""
    argv = ["simulate"]
    for name, flag in FORWARDED.items():
        value = getattr(args, name)
        if value is None or value is False or value == []:
            continue
        if flag is None:
            argv.append(str(value))
        elif value is True:
            argv.append(flag)
        elif name == "overrides":
            for item in value:
                argv.extend([flag, str(item)])
        elif isinstance(value, list):
            argv.extend([flag, *map(str, value)])
        else:
            argv.extend([flag, str(value)])
    return argv


def run_compiled(args: argparse.Namespace) -> int | None:
    """Re-run this command on the compiled engine when ``perpspec build-native`` has built the current sources.

    As ``perpspec bench`` does (:mod:`engine.bench.native`): a fresh interpreter that imports
    ``rules``/``engine`` from ``build/native``; the same modules by name, so the same events,
    journal and state hash.  Its exit status, or None to run here: ``--interpreted``, no
    current build, already the compiled process, or output captured in-process (a caller
    that replaced ``sys.stdout``/``sys.stderr`` reads what this process prints).
    """
    child = os.environ.get(CHILD_FLAG)
    if args.interpreted or child:
        if child and not args.quiet:
            from perpspec.engine.bench.native import compiled_here

            engine = "compiled with mypyc" if compiled_here() else "interpreted (the compiled modules did not load)"
            print(f"perpspec simulate: engine {engine}", file=sys.stderr)
        return None
    import signal
    import subprocess
    import threading

    from perpspec.engine.bench.native import child_command, child_env, status

    if args.list or sys.stdout is not sys.__stdout__ or sys.stderr is not sys.__stderr__ or status() is not None:
        return None
    if threading.current_thread() is not threading.main_thread():
        return None  # Ctrl-C is handed on from the main thread only
    command = child_command("-m", "perpspec.engine.cli.main", *forwarded(args))
    # in a process group of its own, so that a Ctrl-C reaches it once, handed on from here: it then ends as an
    # interrupted run does (outputs left as they were, one line, exit 130), and this process waits for that
    root = Path(args.out)
    staged_before = _staging_folders(root)
    interrupted: list[bool] = []

    def hand_on(*_: object) -> None:
        interrupted.append(True)
        process.send_signal(signal.SIGINT)

    process = subprocess.Popen(command, env=child_env(), process_group=0)
    previous = signal.signal(signal.SIGINT, hand_on)
    try:
        code = process.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted and code < 0:
        # the child was killed by a signal instead of ending as an interrupted run does (a fresh-clone CI run once
        # saw it die of SIGABRT when the Ctrl-C landed inside compiled code): end it here the same way — drop the
        # staging folder it left (its outputs were never moved into place: the move holds SIGINT), keep every
        # previous output, one line, exit 130
        for name in sorted(_staging_folders(root) - staged_before):
            shutil.rmtree(root / name, ignore_errors=True)
        raise KeyboardInterrupt(f"interrupted: nothing in {args.out} was changed")
    return code


def _staging_folders(root: Path) -> set[str]:
    """The names of the simulate staging folders in ``root`` (none when it does not exist)."""
    from perpspec.engine.simulation.output import STAGING_PREFIX

    try:
        return {path.name for path in root.iterdir() if path.name.startswith(STAGING_PREFIX)}
    except OSError:
        return set()


def _run_all(
    scenarios: list[tuple[str, Any]], folders: list[str], out: Any, quiet: bool, bench: Bench | None = None
) -> tuple[int, list[Path], list[str], list[dict[str, Any]]]:
    """Run every scenario into the staging folder; write the report there. (status, outputs, labels, summaries)."""
    from perpspec.engine.durability.recovery import JOURNAL_NAME
    from perpspec.engine.simulation.engine_port import JOURNAL_DIR
    from perpspec.engine.simulation.report import write_report

    status = 0
    outputs: list[Path] = []
    runs = []
    data = []
    for (label, scenario), folder in zip(scenarios, folders, strict=True):
        relative = Path(folder)
        summary, run_data = run_one(label, scenario, out.stage(relative), out.root / relative, quiet=quiet)
        runs.append((label, out.stage(relative), summary))
        data.append(run_data)
        outputs += [relative / "events.jsonl", relative / JOURNAL_DIR / JOURNAL_NAME, relative / "summary.json"]
        # the final state's snapshot, bound to this journal (what-if --state, replay --snapshot)
        staged_journal = out.stage(relative / JOURNAL_DIR)
        outputs += [relative / JOURNAL_DIR / path.name for path in sorted(staged_journal.glob("snapshot-*.snap"))]
        if summary["invariant_violations"] or summary["conservation_gap"] != 0:
            status = 1
    title = "perpspec simulate — " + (" vs ".join(label for label, _, _ in runs))
    if bench is not None:
        bench.report_started()
    write_report(out.stage("report.html"), data, title)
    outputs.append(Path("report.html"))
    return status, outputs, [label for label, _, _ in runs], [summary for _, _, summary in runs]


def plan_variants(
    scenario: str | None, compare: list[str] | None, base: list[tuple[str, str]]
) -> list[tuple[str, str | None, list[tuple[str, str]]]]:
    """(label, scenario, overrides) per run."""
    from perpspec.engine.simulation.scenario import parse_assignment

    if not compare:
        return [(scenario or "default_crash", scenario, base)]
    plans: list[tuple[str, str | None, list[tuple[str, str]]]] = []
    for item in compare:
        if "=" in item and not item.endswith(".toml"):
            overrides = [parse_assignment(part) for part in item.split(",")]
            plans.append((item, scenario, base + overrides))
        else:
            plans.append((Path(item).stem, item, base))
    return plans


def run_one(label: str, scenario: Any, run_dir: Path, final_dir: Path, quiet: bool) -> tuple[dict[str, Any], Any]:
    """Run one scenario with a progress bar into ``run_dir`` (staging); write summary.json there;
    print the summary table, naming the paths the outputs will have in ``final_dir``.

    Returns the summary and the report's data for the run, aggregated from the
    records as the run wrote them (the event log is not read back).
    """
    from perpspec.engine.simulation.progress import Progress
    from perpspec.engine.simulation.report_data import RunBuilder
    from perpspec.engine.simulation.simulate import run_scenario

    print(f"perpspec simulate: {label} — {scenario.description}", file=sys.stderr)
    bar = Progress(scenario.steps, label=label, enabled=not quiet)
    started = time.perf_counter()
    builder = RunBuilder(label)
    result = run_scenario(scenario, run_dir, progress=bar.update, observer=builder.add)
    wall = time.perf_counter() - started
    bar.close()
    summary = result.summary()
    for key in ("event_log", "journal"):  # the paths the outputs have once moved into place
        summary[key] = str(final_dir / Path(summary[key]).relative_to(run_dir))
    summary["wall_seconds"] = round(wall, 2)
    summary["events_per_second"] = int(result.events / max(wall, 1e-9))
    summary["commands_per_second"] = int(result.commands / max(wall, 1e-9))
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    print_summary(summary, result.invariant_violations)
    return summary, builder.finish(summary)


def coins(amount: int, coin: int, currency: str) -> str:
    """Minor units as an exact decimal amount of the coin."""
    from perpspec.engine.simulation.report_charts import coin_name
    from perpspec.rules.parse import format_scaled

    return f"{format_scaled(amount, coin)} {coin_name(currency)} ({amount:,} {currency})"


def summary_rows(s: dict[str, Any]) -> list[tuple[str, str]]:
    """The summary table's rows as text."""
    coin, currency = s["coin"], s["currency"]
    rejects = ", ".join(f"{k} {v:,}" for k, v in sorted(s["rejects_by_reason"].items())) or "none"
    return [
        ("scenario", f"{s['scenario']} (seed {s['seed']}, ADL policy {s['adl_policy']})"),
        ("accounts", f"{s['accounts']:,} ({s['traders']:,} traders, {s['makers']} market makers)"),
        ("steps", f"{s['steps']:,}"),
        ("commands", f"{s['commands']:,} ({s['rejected']:,} rejected: {rejects})"),
        ("events", f"{s['events']:,}"),
        ("trades", f"{s['trades']:,} ({s['contracts_traded']:,} contracts)"),
        (
            "liquidations",
            f"{s['liquidations']:,} (full {s['liquidations_full']:,}, partial {s['liquidations_partial']:,}; "
            f"{s['liquidated_accounts']:,} accounts; risk limit lowered {s['risk_limit_lowered']:,} times)",
        ),
        ("insurance fund start", coins(s["insurance_start"], coin, currency)),
        ("insurance fund min", coins(s["insurance_min"], coin, currency)),
        ("insurance fund end", coins(s["insurance_end"], coin, currency)),
        ("ADL", f"{s['adl_fills']:,} fills, {s['adl_contracts']:,} contracts"),
        ("funding", f"{s['funding_instants']} instants, {s['funding_payments']:,} payments"),
        (
            "invariant checks",
            f"{s['invariant_checks']:,} ({s['invariant_policy']}), every registered invariant; "
            f"{s['waterfall_incomplete']} of them with the waterfall incomplete (a close-out carried over)",
        ),
        ("invariant violations", f"{s['invariant_violations']}"),
        (
            "conservation",
            "exact to the minor unit" if s["conservation_gap"] == 0 else f"OFF by {s['conservation_gap']} {currency}",
        ),
        ("journal sha256", s["journal_sha256"]),
        ("state sha256", f"{s['state_sha256']} (perpspec replay {s['journal']} prints the same)"),
        (
            "wall time",
            f"{s['wall_seconds']} s ({s['events_per_second']:,} events/s, {s['commands_per_second']:,} commands/s)",
        ),
        ("outputs", f"{s['event_log']} (event log), {s['journal']} (command journal)"),
    ]


def print_summary(summary: dict[str, Any], violations: tuple[str, ...]) -> None:
    """The summary table on stdout (and the first violations, if any)."""
    rows = summary_rows(summary)
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    for problem in violations[:10]:
        print(f"  VIOLATION {problem}")


def print_compare(summaries: list[dict[str, Any]], labels: list[str]) -> None:
    """Key figures of several runs side by side."""
    keys = [
        ("liquidations", "liquidations"),
        ("liquidations_partial", "  partial"),
        ("insurance_min", "insurance min"),
        ("insurance_end", "insurance end"),
        ("adl_fills", "ADL fills"),
        ("adl_contracts", "ADL contracts"),
        ("invariant_violations", "violations"),
        ("conservation_gap", "conservation gap"),
    ]
    width = max(len(label) for label in labels) + 2
    print("\n  " + " " * 18 + "".join(f"{label:>{width}}" for label in labels))
    for key, name in keys:
        print(f"  {name:<18}" + "".join(f"{summary[key]:>{width},}" for summary in summaries))


class Bench:
    """``--bench``: what the run cost, measured around it in this process (a benchmark, not a test).

    Wall time from ``time.perf_counter``, CPU time and peak resident memory from
    ``resource.getrusage`` (``ru_maxrss``: the whole process, the engine, the
    report's aggregates and the interpreter included), the 1-minute load average
    before and after: on a shared machine the wall time says more about the
    load than about the code, the CPU time less.
    """

    def __init__(self, wall: float, cpu: tuple[float, float], load: float) -> None:
        self.wall = wall
        self.cpu = cpu
        self.load = load
        self.report_wall = 0.0
        self.report_cpu = 0.0

    @classmethod
    def start(cls) -> Bench:
        """Start measuring (before the first run)."""
        return cls(time.perf_counter(), _cpu_seconds(), os.getloadavg()[0])

    def report_started(self) -> None:
        """The runs are over; the report is being drawn."""
        self.report_wall = time.perf_counter()
        self.report_cpu = sum(_cpu_seconds())

    def print(self, events: int) -> None:
        """The figures, on stdout."""
        wall = time.perf_counter() - self.wall
        user, system = (now - then for now, then in zip(_cpu_seconds(), self.cpu, strict=True))
        report_wall = time.perf_counter() - self.report_wall if self.report_wall else 0.0
        report_cpu = sum(_cpu_seconds()) - self.report_cpu if self.report_wall else 0.0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # KiB on Linux
        rows = [
            ("load (1 min)", f"{self.load:.2f} before, {os.getloadavg()[0]:.2f} after, {os.cpu_count()} cores"),
            ("wall", f"{wall:.1f} s (runs {wall - report_wall:.1f} s, report {report_wall:.1f} s)"),
            ("CPU", f"{user + system:.1f} s ({user:.1f} user + {system:.1f} sys; report {report_cpu:.1f} s)"),
            ("peak memory", f"{peak:,} MiB (max resident set of this process)"),
            ("events", f"{events:,} ({events / max(user + system, 1e-9):,.0f} per CPU second)"),
        ]
        print("benchmark (perpspec simulate --bench):")
        for name, value in rows:
            print(f"  {name:<13} {value}")


def _cpu_seconds() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def start_profile() -> Any:
    """A running cProfile profiler (``--profile``)."""
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    return profiler


def print_profile(profiler: Any, path: str) -> None:
    """Stop ``profiler``, write its stats to ``path`` and print the 25 functions with the most own time."""
    import pstats

    profiler.disable()
    profiler.dump_stats(path)
    print(f"profile: {path} (python -m pstats {path}); the 25 functions with the most own time:")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(25)
