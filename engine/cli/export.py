"""``perpspec export EVENTS --format csv|parquet [--out DIR]``: a run's event log as one file per table.

``EVENTS`` is a run's ``events.jsonl`` (or the run's folder).  Every value stays
exact: money as integers of the minor unit (Parquet ``int64``), prices as exact
decimals (Parquet ``decimal128``; CSV the decimal text), never binary floats —
see :mod:`perpspec.engine.simulation.export`.  Parquet needs
``pip install 'perpspec[parquet]'``.  A table with more than 256 distinct fields is refused
(exit 2).  The output folder is written as ``perpspec simulate`` writes its own: locked, every
file new in a staging folder and renamed into place; a symbolic link where a file goes is
refused (exit 2), never written through, and so is an output folder that is itself a symbolic link (the default
<run folder>/<format>/ or a given --out).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from perpspec.engine.cli.main import UsageError
from perpspec.engine.simulation.export import FORMATS, ExportInputError, export_events
from perpspec.engine.simulation.output import OutputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``perpspec export``."""
    parser.add_argument("events", metavar="EVENTS", help="a run's events.jsonl, or the run's output folder")
    parser.add_argument("--format", choices=FORMATS, default="csv", help="csv (default) or parquet")
    parser.add_argument("--out", metavar="DIR", help="output folder (default: <run folder>/<format>/)")


def run(args: argparse.Namespace) -> int:
    """Write the files; print their names."""
    events = Path(args.events)
    if events.is_dir():
        events = events / "events.jsonl"
    if not events.is_file():
        raise UsageError(f"EVENTS: no event log {str(events)!r} (give a run's events.jsonl or its folder)")
    out = Path(args.out) if args.out else events.parent / args.format
    try:
        written = export_events(events, out, args.format)
    except RuntimeError as error:
        raise UsageError(str(error)) from error
    except OutputError as error:  # the output folder: locked by another export, or a link where an output goes
        raise UsageError(str(error)) from None
    except ExportInputError as error:  # a line that is no event row, or a table that is no plain name
        raise UsageError(f"EVENTS: {events}: {str(error)[:300]}") from None
    except (ValueError, RecursionError) as error:  # a damaged or foreign log: the user's input, not a bug
        raise UsageError(f"EVENTS: {events} is not a readable perpspec event log "
                         f"({type(error).__name__}: {str(error)[:200]})") from None
    for path in written:
        print(path)
    return 0
