"""``perpspec audit``: check any engine's event log against perpspec's invariants (and rules).

::

    perpspec audit LOG [--mapping perpspec|FILE] [--invariants | --rules]
                       [--instrument SYMBOL|FILE ...] [--scenario NAME|FILE] [--json] [--quiet] [--stats]

``LOG`` is JSON Lines (or ``.parquet`` with the ``parquet`` extra), read as a
stream.  ``--mapping`` names how its rows become audit records (shipped:
``perpspec``, the format ``perpspec simulate`` writes; or a TOML file, see
:mod:`perpspec.engine.audit.mapping`).  ``--invariants`` (the default) checks
the global invariants only; ``--rules`` also recomputes every derived field
with perpspec's rules.  Instruments default to the shipped ones; a scenario's
(``--scenario``, with its overrides) or files (``--instrument``) replace them.

Prints the first offending event of each finding (id, expected vs reported,
rulebook link) and a summary table; ``--json`` prints one JSON document for
CI.  Exit status: 0 clean, 1 findings, 2 bad input (an unreadable log: one
line naming the line and field).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's options."""
    parser.add_argument("log", help="the event log (JSON Lines, or .parquet)")
    parser.add_argument("--mapping", default="perpspec", help="shipped mapping name or TOML file (default: perpspec)")
    level = parser.add_mutually_exclusive_group()
    level.add_argument("--invariants", dest="level", action="store_const", const="invariants",
                       help="check the global invariants only (default)")
    level.add_argument("--rules", dest="level", action="store_const", const="rules",
                       help="also recompute every derived field with perpspec's rules")
    parser.set_defaults(level="invariants")
    parser.add_argument("--instrument", action="append", default=[], metavar="SYMBOL|FILE",
                        help="instrument(s) of the log (default: every shipped instrument)")
    parser.add_argument("--scenario", default=None, help="take the instrument from a shipped scenario or scenario file")
    parser.add_argument("--json", action="store_true", help="print one JSON document (for CI)")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument("--stats", action="store_true", help="print throughput (rows/s) and peak memory")


def run(args: argparse.Namespace) -> int:
    """Audit the log; print the report; 0 clean, 1 findings, 2 unreadable."""
    from perpspec.engine.audit import MappingError, audit_log, load_mapping
    from perpspec.engine.audit.report import format_text, to_json
    from perpspec.engine.cli.main import UsageError
    from perpspec.rules.instrument_file import load_builtin_instruments, load_instrument

    try:
        mapping = load_mapping(args.mapping)
        if args.scenario is not None:
            from perpspec.engine.simulation.scenario import ScenarioError, load_scenario

            try:
                scenario = load_scenario(args.scenario)
            except ScenarioError as error:
                raise UsageError(str(error)) from None
            instruments = {scenario.instrument.symbol: scenario.instrument}
        elif args.instrument:
            instruments = {}
            for name in args.instrument:
                inst = load_instrument(name)
                instruments[inst.symbol] = inst
        else:
            instruments = load_builtin_instruments()
    except (MappingError, ValueError, OSError) as error:  # InstrumentError and ParseError are ValueErrors
        raise UsageError(str(error)) from None
    if not Path(args.log).is_file():
        if args.json:  # CI reads stdout: the document says why there is no verdict
            from perpspec.engine.audit.auditor import AuditResult
            from perpspec.engine.audit.schema import LogError

            missing = AuditResult(level=args.level, mapping=mapping.name, error=LogError(0, "", "no such file"))
            print(json.dumps(to_json(missing, args.log), indent=1))
        raise UsageError(f"{args.log}: no such file")
    started = time.perf_counter()

    def progress(rows: int) -> None:
        if not args.quiet:
            print(f"\r  audited {rows:,} rows", end="", file=sys.stderr, flush=True)

    result = audit_log(args.log, mapping, instruments, args.level, progress)
    elapsed = time.perf_counter() - started
    if not args.quiet and result.rows >= 100_000:
        print(file=sys.stderr)
    if args.json:
        document = to_json(result, args.log)
        document["seconds"] = f"{elapsed:.3f}"
        print(json.dumps(document, indent=1))
    else:
        print(format_text(result, args.log))
        if args.stats:
            import resource

            rate = result.rows / elapsed if elapsed > 0 else 0
            peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # Linux: KiB
            print(f"audited in {elapsed:.2f} s ({rate:,.0f} rows/s), peak memory {peak_mib} MiB")
    if result.error is not None:
        if not args.json:
            print(f"perpspec audit: {args.log}: {result.error}", file=sys.stderr)
        return 2
    return 0 if result.clean else 1
