"""``perpspec explain RUN --account N``: one account's story in a simulated run, from its event log.

``RUN`` is a run's output folder (or its ``events.jsonl``).  Prints the account's
margin before the stress and at the end, its trades, commission and funding, its
liquidation (equity against maintenance, the take-over, the residual margin to
the fund) and every ADL fill it took part in — as a counterparty (with its
ranking score and haircut) or as the liquidated side — each with its rule id.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from perpspec.engine.cli.main import UsageError, whole_number
from perpspec.engine.simulation.explain import explain_account
from perpspec.engine.simulation.report_data import read_records


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``perpspec explain``."""
    parser.add_argument("run", metavar="RUN", help="a run's output folder, or its events.jsonl")
    parser.add_argument("--account", type=whole_number, required=True, help="the account id")


def run(args: argparse.Namespace) -> int:
    """Print the account's story."""
    events = Path(args.run)
    folder = events if events.is_dir() else events.parent
    if events.is_dir():
        events = events / "events.jsonl"
    if not events.is_file():
        raise UsageError(f"RUN: no event log {str(events)!r} (give a run's folder or its events.jsonl)")
    summary_path = folder / "summary.json"
    try:  # a damaged or foreign run folder is the user's input: one line and status 2, not an internal error
        summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
        if not isinstance(summary, dict):
            raise ValueError("summary.json is not a JSON object")
        coin, currency = int(summary.get("coin", 100_000_000)), str(summary.get("currency", "XBt"))
        lines = list(explain_account(read_records(events), args.account, coin, currency))
    except (ValueError, RecursionError) as error:
        raise UsageError(f"RUN: {folder} is not a readable perpspec run ({type(error).__name__}: {str(error)[:200]})") from None
    for line in lines:
        print(line)
    return 0
