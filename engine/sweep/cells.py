"""One cell of a sweep: its key, its run through the verified engine, and its measures.

A cell is a normal ``perpspec simulate`` run (every invariant checked, conservation to the
minor unit) into its own folder ``OUT/cells/KEY/``, with the event log, the journal, the
summary and the cell's report.  Its measures are integers (counts and minor units), so two
backends that run the same cell write the same ``cell.json`` byte for byte; the wall time is
kept apart, in ``timing.json``.

The key is the SHA-256 of everything the outcome depends on: the perpspec version, the
rulebook version, the source of ``rules/``, of the engine's core, simulation and durability
rooms (the journal whose hash ``cell.json`` records) and of this module (the measures), and
the cell's fully parsed scenario (every parameter after overrides, the instrument, the index
path and the seed).  A finished cell whose key is unchanged is reused, so an interrupted
sweep resumes and a widened grid reuses what it has, but only when :func:`read_cell` verifies
its record (this cell's parameters, every measure an int, the journal's and event log's
SHA-256 equal to the files beside it, the measures the event log gives recomputed from it); a cell is run in a fresh staging folder that then
replaces ``OUT/cells/KEY`` whole.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from perpspec.engine.simulation.scenario import Scenario
from perpspec.engine.simulation.simulate import run_scenario
from perpspec.engine.sweep.grid import MEASURES, Grid, GridError, cell_scenario
from perpspec.rules.parse import loads_json

CELL_FILE = "cell.json"
TIMING_FILE = "timing.json"
JOURNAL = "journal/journal.log"
STAGING_PREFIX = ".staging-"  # OUT/cells/.staging-XXXXXXXX: a cell being run (removed whatever happens)
_PACKAGE = Path(__file__).resolve().parent.parent.parent  # the folder holding rules/, engine/, specs/


@cache
def code_digest() -> str:
    """SHA-256 over the version files and the sources a cell's outcome depends on."""
    digest = hashlib.sha256()
    paths: list[Path] = []
    for folder in ("rules", "engine/core", "engine/simulation", "engine/durability"):
        paths += sorted((_PACKAGE / folder).rglob("*.py"))
    paths.append(_PACKAGE / "engine" / "sweep" / "cells.py")  # measure(): what cell.json records
    paths += sorted((_PACKAGE / "specs" / "instruments").glob("*.toml"))
    paths.append(_PACKAGE / "specs" / "RULEBOOK_VERSION")
    for path in paths:
        if path.exists():
            name = path.relative_to(_PACKAGE).as_posix().encode()
            data = path.read_bytes()
            digest.update(len(name).to_bytes(4, "little") + name + len(data).to_bytes(8, "little") + data)
    try:
        version = importlib.metadata.version("perpspec")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    digest.update(version.encode())
    return digest.hexdigest()


def cell_key(scenario: Scenario) -> str:
    """The cache key of a cell: the code digest and the parsed scenario (its repr is exact and ordered)."""
    return hashlib.sha256(f"{code_digest()}\n{scenario!r}".encode()).hexdigest()[:24]


def run_cell(grid: Grid, cell: Sequence[tuple[str, str]], out: str) -> dict[str, Any]:
    """Run one cell (or reuse it); the row for the results: parameters, key, status, measures.

    Never raises: a cell that cannot run is a row with ``status = "failed"`` and the error.  A finished cell is
    reused only when :func:`read_cell` accepts its record; otherwise it runs again.  A run writes into a fresh
    staging folder (``OUT/cells/.staging-*``) that then replaces ``OUT/cells/KEY`` whole, so nothing planted in
    the cell's folder (a file, a symbolic link) is ever written through (redteam18_6).
    """
    row: dict[str, Any] = dict(cell)
    try:
        scenario = cell_scenario(grid, cell)
    except GridError as error:
        return {**row, "key": "", "status": "failed", "error": str(error), "wall_seconds": 0, "reused": False}
    key = cell_key(scenario)
    folder = Path(out) / "cells" / key
    stored = read_cell(folder, key, cell)
    if stored is not None:
        measures, wall = stored
        return {**measures, **row, "key": key, "status": "ok", "error": "", "wall_seconds": wall, "reused": True}
    started = time.perf_counter()
    staging: Path | None = None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=folder.parent))
        result = run_scenario(scenario, staging)
        summary = result.summary()
        # the paths the cell's files will have once the staging folder is moved into place
        summary["event_log"] = str(folder / "events.jsonl")
        summary["journal"] = str(folder / JOURNAL)
        measures = measure(summary, staging / "events.jsonl")
        wall = round(time.perf_counter() - started, 2)
        record = {
            "key": key,
            "cell": [[name, value] for name, value in cell],
            "scenario": summary["scenario"],
            "journal_sha256": summary["journal_sha256"],
            "events_sha256": _sha256(staging / "events.jsonl"),
            "state_sha256": summary["state_sha256"],
            "measures": measures,
        }
        (staging / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        write_cell_report(staging, summary)
        (staging / TIMING_FILE).write_text(json.dumps({"wall_seconds": wall}) + "\n")
        (staging / CELL_FILE).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")  # marks the cell done
        _install(staging, folder)
        staging = None
    except Exception as error:  # a cell that fails is reported and the sweep goes on
        return {**row, "key": key, "status": "failed", "error": f"{type(error).__name__}: {error}",
                "wall_seconds": round(time.perf_counter() - started, 2), "reused": False}
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return {**measures, **row, "key": key, "status": "ok", "error": "", "wall_seconds": wall, "reused": False}


def read_cell(folder: Path, key: str, cell: Sequence[tuple[str, str]]) -> tuple[dict[str, int], int | float] | None:
    """The measures and wall time of a finished cell in ``folder``, or None when it must run (again).

    Reused only when ``cell.json`` is exactly what :func:`run_cell` writes for this cell: its key and its own
    parameters, every measure of :data:`MEASURES` and nothing else, each an int, and the SHA-256 of the cell's
    journal and event log equal to those beside it, and every measure the event log gives (:func:`log_measures`)
    equal to the one recomputed from it; ``timing.json`` a wall time in seconds.  Anything else, and any error reading
    them, means the cell runs again (redteam18_8, review19_1: an edited record was shown as the cell's figures).
    ``insurance_start``, ``invariant_violations`` and ``conservation_gap`` are not in the event log: the record's.
    """
    if not (folder / CELL_FILE).is_file() or (folder / CELL_FILE).is_symlink():
        return None
    try:
        stored = loads_json((folder / CELL_FILE).read_text(encoding="utf-8"))
        timing = loads_json((folder / TIMING_FILE).read_text(encoding="utf-8"))
        if type(stored) is not dict or type(timing) is not dict:
            return None
        measures = stored.get("measures")
        wall = timing.get("wall_seconds")
        if not isinstance(wall, int | float) or isinstance(wall, bool) or not 0 <= wall < 1e9:
            return None
        if (
            stored.get("key") != key
            or stored.get("cell") != [[name, value] for name, value in cell]
            or type(measures) is not dict
            or set(measures) != set(MEASURES)
            or any(type(value) is not int for value in measures.values())
            or type(stored.get("journal_sha256")) is not str
            or type(stored.get("events_sha256")) is not str
            or _sha256(folder / JOURNAL) != stored["journal_sha256"]
            or _sha256(folder / "events.jsonl") != stored["events_sha256"]
        ):
            return None
        recomputed = log_measures(folder / "events.jsonl", measures["insurance_start"])
        if any(measures[name] != value for name, value in recomputed.items()):
            return None  # the record's figures are not its event log's (review19_1): the cell runs again
    except Exception:  # a damaged record of any kind: the cell runs again
        return None
    return {name: measures[name] for name in MEASURES}, wall


def _sha256(path: Path) -> str:
    """The file's SHA-256 (a symbolic link is not the cell's file: refused)."""
    if path.is_symlink():
        raise ValueError(f"{path} is a symbolic link")
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _install(staging: Path, folder: Path) -> None:
    """Move a cell's finished staging folder to ``folder``, replacing what was there (a cell folder is the sweep's
    own: a damaged or stale record, or what a planted link made of it; a link is removed, never followed)."""
    if folder.is_symlink() or folder.is_file():
        folder.unlink()
    elif folder.exists():
        shutil.rmtree(folder)
    try:
        os.rename(staging, folder)
    except OSError:
        if not (folder / CELL_FILE).is_file():  # not another worker that finished the same cell just now
            raise


def write_cell_report(folder: Path, summary: dict[str, Any]) -> None:
    """The cell's own ``report.html`` (the simulate report), read from its event log as a stream."""
    from perpspec.engine.simulation.report import write_report
    from perpspec.engine.simulation.report_data import analyse

    with (folder / "events.jsonl").open(encoding="utf-8") as handle:
        data = analyse(str(summary["scenario"]), (json.loads(line) for line in handle if line.strip()), summary)
    write_report(folder / "report.html", [data], f"perpspec sweep cell — {summary['scenario']}")


def measure(summary: dict[str, Any], events: Path) -> dict[str, int]:
    """Every measure of :data:`engine.sweep.grid.MEASURES`, in minor units and counts, from one run."""
    from_log = log_measures(events, int(summary["insurance_start"]))
    return {
        "liquidations": int(summary["liquidations"]),
        "liquidated_accounts": int(summary["liquidated_accounts"]),
        "insurance_start": int(summary["insurance_start"]),
        "insurance_min": int(summary["insurance_min"]),
        "insurance_end": int(summary["insurance_end"]),
        "adl_fills": int(summary["adl_fills"]),
        "adl_contracts": int(summary["adl_contracts"]),
        "adl_accounts": from_log["adl_accounts"],
        "haircut_max_account": from_log["haircut_max_account"],
        "socialised_loss": from_log["socialised_loss"],  # what ADL took from winners against the mark
        "negative_equity_accounts": from_log["negative_equity_accounts"],
        "invariant_violations": int(summary["invariant_violations"]),
        "conservation_gap": int(summary["conservation_gap"]),
        "rejected": int(summary["rejected"]),
        "trades": int(summary["trades"]),
    }


def log_measures(events: Path, insurance_start: int) -> dict[str, int]:
    """The measures an event log gives by itself, counted from its rows as the run's tally counts its events.

    Every measure but ``insurance_start`` (given: the fund before the first command), ``invariant_violations`` and
    ``conservation_gap`` (checks on the engine's state, which the log does not hold): a reused cell's record must
    agree with these, recomputed from its verified event log, or the cell runs again (review19_1).
    """
    haircut_by_account: dict[int, int] = {}
    last_margin: dict[int, int] = {}
    liquidated: set[int] = set()
    counts = {"liquidations": 0, "adl_fills": 0, "adl_contracts": 0, "rejected": 0, "trades": 0}
    insurance_min = insurance_end = insurance_start
    with events.open(encoding="utf-8") as handle:
        for line in handle:
            if '"execType":"Deleverage"' in line:
                row = json.loads(line)
                account = int(row["account"])
                haircut_by_account[account] = haircut_by_account.get(account, 0) + int(row.get("haircut", 0))
            elif line.startswith('{"table":"margin"'):
                row = json.loads(line)
                last_margin[int(row["account"])] = int(row["marginBalance"])
            elif line.startswith('{"table":"execution"') and '"execType":"Trade"' in line:
                if json.loads(line).get("lastLiquidityInd") == "AddedLiquidity":
                    counts["trades"] += 1  # one row per match has the maker's AddedLiquidity (count_execution)
            elif line.startswith('{"table":"command"') and '"event":"Rejected"' in line:
                counts["rejected"] += 1
            elif line.startswith('{"table":"insurance"'):
                balance = int(json.loads(line)["walletBalance"])
                insurance_end, insurance_min = balance, min(insurance_min, balance)
            elif line.startswith('{"table":"rule"'):
                row = json.loads(line)
                kind = row.get("kind")
                if kind == "AdlFill":
                    counts["adl_fills"] += 1
                    counts["adl_contracts"] += abs(int(row["close_qty"]))
                elif kind == "Liquidation" or (kind == "PartialLiquidation" and row.get("filled")):
                    counts["liquidations"] += 1
                    liquidated.add(int(row["account_id"]))
    return {
        **counts,
        "liquidated_accounts": len(liquidated),
        "insurance_min": insurance_min,
        "insurance_end": insurance_end,
        "adl_accounts": len(haircut_by_account),
        "haircut_max_account": max(haircut_by_account.values(), default=0),
        "socialised_loss": sum(haircut_by_account.values()),
        "negative_equity_accounts": sum(1 for balance in last_margin.values() if balance < 0),
    }
