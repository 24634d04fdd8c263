"""A sweep's results: one row per cell as JSONL, CSV and Parquet, and the HTML report.

Money and counts stay integers in every format (Parquet columns are int64, never floats),
so DuckDB or pandas read exact values: ``SELECT * FROM 'OUT/results.parquet'``.  The report
has a heat map per measure over two axes (the lower median over the other axes, with their
range on hover), the thresholds the grid asked for, and a link to every cell's own report.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from perpspec.engine.simulation.output import write_replace
from perpspec.engine.sweep.grid import Grid, Threshold

RESULTS_JSONL = "results.jsonl"
RESULTS_CSV = "results.csv"
RESULTS_PARQUET = "results.parquet"
REPORT = "report.html"
_FIXED = ("key", "status", "error", "wall_seconds", "reused")


def columns(grid: Grid) -> list[str]:
    """Column order: the axes, the measures, then key, status, error, wall time, reused."""
    return [name for name, _ in grid.axes] + list(grid.measures) + list(_FIXED)


def _atomic(path: Path, data: bytes) -> None:
    """``path`` replaced whole by a new file; a file planted in OUT is never written through, a link there refused
    (:class:`~perpspec.engine.simulation.output.OutputError`; redteam18_6)."""
    write_replace(path, data, replace_link=False)


def write_results(out: Path, grid: Grid, rows: Sequence[Mapping[str, Any]]) -> list[Path]:
    """Write results.jsonl, results.csv and (when pyarrow is installed) results.parquet."""
    names = columns(grid)
    lines = "".join(json.dumps({name: row.get(name) for name in names}, sort_keys=False) + "\n" for row in rows)
    _atomic(out / RESULTS_JSONL, lines.encode())
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    for row in rows:
        writer.writerow(["" if row.get(name) is None else row.get(name) for name in names])
    _atomic(out / RESULTS_CSV, buffer.getvalue().encode())
    written = [out / RESULTS_JSONL, out / RESULTS_CSV]
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return written
    fields = []
    for name in names:
        if name in grid.measures:
            fields.append(pa.field(name, pa.int64()))
        elif name == "wall_seconds":
            fields.append(pa.field(name, pa.float64()))  # a timing, not money
        elif name == "reused":
            fields.append(pa.field(name, pa.bool_()))
        else:
            fields.append(pa.field(name, pa.string()))
    schema = pa.schema(fields)
    table = pa.Table.from_pylist([{name: row.get(name) for name in names} for row in rows], schema=schema)
    buffer_out = pa.BufferOutputStream()
    pq.write_table(table, buffer_out)
    _atomic(out / RESULTS_PARQUET, buffer_out.getvalue().to_pybytes())
    return [*written, out / RESULTS_PARQUET]


def _holds(value: int, op: str, target: int) -> bool:
    return {
        "==": value == target,
        "!=": value != target,
        "<": value < target,
        "<=": value <= target,
        ">": value > target,
        ">=": value >= target,
    }[op]


def find_thresholds(grid: Grid, rows: Sequence[Mapping[str, Any]], threshold: Threshold) -> list[dict[str, Any]]:
    """Per combination of the other axes: the first value of ``along`` (in the grid's order) where it holds.

    ``first`` is None when no value along the axis satisfies it (or a cell failed before it held).
    """
    along_values = dict(grid.axes)[threshold.along]
    others = [name for name, _ in grid.axes if name != threshold.along]
    groups: dict[tuple[str, ...], dict[str, Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(str(row[name]) for name in others), {})[str(row[threshold.along])] = row
    found = []
    for combo, by_value in groups.items():
        first = None
        for value in along_values:
            found_row = by_value.get(value)
            if found_row is None or found_row.get("status") != "ok":
                break  # unknown here: a later value that holds is not the smallest
            if _holds(int(found_row[threshold.measure]), threshold.op, threshold.value):
                first = value
                break
        found.append({**dict(zip(others, combo, strict=True)), "first": first})
    return found


def _median(values: Sequence[int]) -> int:
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


def _colour(value: int, low: int, high: int) -> str:
    share = 0 if high == low else (value - low) * 255 // (high - low)
    return f"rgb(255,{255 - share * 3 // 4},{255 - share})"


def heat_map(grid: Grid, rows: Sequence[Mapping[str, Any]], measure: str, x: str, y: str) -> str:
    """An HTML table: ``y`` down, ``x`` across, the lower median of ``measure`` over the other axes."""
    xs, ys = dict(grid.axes)[x], dict(grid.axes)[y]
    cells: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        if row.get("status") == "ok":
            cells.setdefault((str(row[x]), str(row[y])), []).append(int(row[measure]))
    medians = [_median(values) for values in cells.values()]
    low, high = (min(medians), max(medians)) if medians else (0, 0)
    out = [f"<table class='heat'><caption>{html.escape(measure)}</caption><tr><th>{html.escape(y)} \\ {html.escape(x)}</th>"]
    out += [f"<th>{html.escape(value)}</th>" for value in xs]
    out.append("</tr>")
    for yv in ys:
        out.append(f"<tr><th>{html.escape(yv)}</th>")
        for xv in xs:
            values = cells.get((xv, yv))
            if not values:
                out.append("<td class='failed'>—</td>")
                continue
            middle = _median(values)
            tip = f"{len(values)} cells: {min(values):,} … {max(values):,}"
            out.append(f"<td style='background:{_colour(middle, low, high)}' title='{html.escape(tip)}'>{middle:,}</td>")
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


def write_report(out: Path, grid: Grid, rows: Sequence[Mapping[str, Any]], heat: tuple[str, str] | None) -> Path:
    """OUT/report.html: heat maps, thresholds, failed cells and links to every cell's report."""
    names = [name for name, _ in grid.axes]
    parts = [
        "<!doctype html><meta charset='utf-8'><title>perpspec sweep</title><style>"
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}caption{font-weight:bold;text-align:left}"
        "td.failed{background:#eee}</style>",
        f"<h1>perpspec sweep — {html.escape(grid.source)}</h1>",
        f"<p>base scenario <b>{html.escape(grid.base)}</b>; {grid.size:,} cells over "
        + ", ".join(f"{html.escape(name)} ({len(values)})" for name, values in grid.axes)
        + ". Money in the settlement currency's minor unit; every cell is a full <code>perpspec simulate</code> "
        "run with every invariant checked.</p>",
    ]
    failed = [row for row in rows if row.get("status") != "ok"]
    if heat is not None:
        x, y = heat
        parts.append(f"<h2>Heat maps ({html.escape(y)} × {html.escape(x)})</h2>")
        if len(names) > 2:
            parts.append("<p>Each square is the lower median over the other axes; hover for the range.</p>")
        parts += [heat_map(grid, rows, measure, x, y) for measure in grid.measures]
    for threshold in grid.thresholds:
        parts.append(
            f"<h2>Threshold: smallest {html.escape(threshold.along)} with "
            f"{html.escape(threshold.measure)} {html.escape(threshold.op)} {threshold.value:,}</h2><table><tr>"
        )
        found = find_thresholds(grid, rows, threshold)
        others = [name for name in names if name != threshold.along]
        parts += [f"<th>{html.escape(name)}</th>" for name in others] + ["<th>first value</th></tr>"]
        for item in found:
            parts.append("<tr>" + "".join(f"<td>{html.escape(str(item[name]))}</td>" for name in others))
            parts.append(f"<td>{html.escape(str(item['first'])) if item['first'] is not None else 'never'}</td></tr>")
        parts.append("</table>")
    if failed:
        parts.append(f"<h2>Failed cells ({len(failed)})</h2><ul>")
        parts += [
            "<li>" + html.escape(", ".join(f"{n}={row.get(n)}" for n in names) + ": " + str(row.get("error"))) + "</li>"
            for row in failed
        ]
        parts.append("</ul>")
    parts.append("<h2>Cells</h2><table><tr>" + "".join(f"<th>{html.escape(n)}</th>" for n in names))
    parts.append("".join(f"<th>{html.escape(m)}</th>" for m in grid.measures) + "<th>report</th></tr>")
    for row in rows:
        parts.append("<tr>" + "".join(f"<td>{html.escape(str(row.get(n)))}</td>" for n in names))
        parts.append("".join(f"<td>{row[m]:,}</td>" if row.get("status") == "ok" else "<td>—</td>" for m in grid.measures))
        link = f"cells/{row['key']}/report.html" if row.get("status") == "ok" else ""
        parts.append(f"<td><a href='{html.escape(link)}'>cell</a></td></tr>" if link else "<td>failed</td></tr>")
    parts.append("</table>")
    path = out / REPORT
    _atomic(path, "".join(parts).encode())
    return path
