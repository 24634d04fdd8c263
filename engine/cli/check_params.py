"""``perpspec check-params FILE.toml``: prove or refute committee properties of a parameter set.

Loads the instrument file (or a shipped symbol) exactly as the engine would,
applies ``--set NAME=VALUE`` overrides by BitMEX name, and runs every property
of :mod:`proofs.params_check` (Z3; imported inside :func:`run` only).  Each is
reported as *holds* or *fails* with a counterexample in domain terms.

Exit status: 0 every property holds; 1 one fails or is undecided; 2 bad input.
"""

from __future__ import annotations

import argparse
import json

from perpspec.engine.cli.main import UsageError
from perpspec.engine.simulation.scenario import load_instrument_file as load_instrument
from perpspec.rules.instrument_file import InstrumentError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``perpspec check-params``."""
    parser.add_argument("instrument", metavar="FILE.toml", help="an instrument file, or a shipped symbol (XBTUSD)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a parameter by its BitMEX name (repeatable), e.g. --set maintMargin=0.006",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def parse_overrides(items: list[str]) -> dict[str, object]:
    """``["takerFee=0.00075"]`` → ``{"takerFee": "0.00075"}``."""
    overrides: dict[str, object] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--set expects NAME=VALUE, got {item!r}")
        overrides[name.strip()] = value.strip()
    return overrides


def run(args: argparse.Namespace) -> int:
    """Check every property and print the verdicts."""
    try:
        inst = load_instrument(args.instrument, parse_overrides(args.set))
    except InstrumentError as error:
        raise UsageError(str(error)) from error
    from perpspec.proofs.params_check import check_instrument

    results = check_instrument(inst)
    failed = [result for result in results if not result.holds]
    if args.json:
        payload = {
            "instrument": inst.symbol,
            "file": args.instrument,
            "holds": not failed,
            "properties": [result.as_json() for result in results],
        }
        print(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        print(f"check-params {args.instrument} ({inst.symbol}, {inst.kind.value})")
        width = max(len(result.id) for result in results)
        for result in results:
            print(f"  {result.id:<{width}}  {result.verdict.upper():<7}  {result.title}")
            print(f"  {'':<{width}}           {result.how}")
            for line in result.counterexample:
                print(f"  {'':<{width}}           · {line}")
        print(
            "all properties hold"
            if not failed
            else f"{len(failed)} of {len(results)} properties do not hold: {', '.join(r.id for r in failed)}"
        )
    return 0 if not failed else 1
