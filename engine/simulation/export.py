"""Exports of a run's event log for other tools: one CSV or Parquet file per ``table``, numbers exact.

``events.jsonl`` writes prices as JSON numbers from exact decimal text and money as
integers of the minor unit, but a JSON reader that meets a missing field turns a
whole integer column into binary floats (pandas does), and ``50000.5`` becomes a
float.  The exports keep every value exact:

* one file per ``table`` value (``execution.csv``, ``insurance.parquet``, ...), with
  only the columns that table uses, in first-seen order;
* a column whose values are all integers is an integer column (Parquet ``int64``,
  nullable); one that holds decimals is a Parquet ``decimal128`` column with as many
  fractional digits as its finest value (CSV: the exact decimal text); booleans stay
  booleans; anything else is text (nested values as JSON);
* the log is read with ``parse_float=Decimal``, so no value ever passes through a float.

Parquet needs ``pyarrow`` (``pip install 'perpspec[parquet]'``); CSV needs nothing.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

FORMATS = ("csv", "parquet")
MISSING_PYARROW = "Parquet export needs pyarrow, which is an extra: pip install 'perpspec[parquet]'"


def read_event_rows(path: Path) -> Iterator[dict[str, Any]]:
    """The event log's rows, decimals as :class:`~decimal.Decimal` (never float)."""
    with path.open() as handle:
        for line in handle:
            if line.strip():
                row: dict[str, Any] = json.loads(line, parse_float=Decimal)
                yield row


def group_by_table(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Rows by their ``table`` field, tables in first-seen order."""
    tables: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        tables.setdefault(str(row.get("table", "")), []).append(row)
    return tables


def get_columns(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every field name of the rows, in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows:
        for name in row:
            seen.setdefault(name, None)
    return list(seen)


def get_column_kind(values: Iterable[Any]) -> str:
    """``int``, ``decimal``, ``bool`` or ``text`` for a column's non-missing values."""
    kinds = set()
    for value in values:
        if value is None:
            continue
        if isinstance(value, bool):
            kinds.add("bool")
        elif isinstance(value, int):
            kinds.add("int")
        elif isinstance(value, Decimal):
            kinds.add("decimal")
        else:
            kinds.add("text")
    if kinds == {"int"}:
        return "int"
    if kinds <= {"int", "decimal"} and kinds:
        return "decimal"
    if kinds == {"bool"}:
        return "bool"
    return "text"


def compute_decimal_places(values: Iterable[Any]) -> int:
    """Fractional digits of the finest decimal among ``values``."""
    places = 0
    for value in values:
        if isinstance(value, Decimal):
            exponent = value.normalize().as_tuple().exponent
            if isinstance(exponent, int):
                places = max(places, -exponent)
    return places


def to_text(value: Any) -> str:
    """A value as exact CSV text (missing: empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int | str):
        return str(value)
    return json.dumps(value, sort_keys=True, default=str)


def write_csv(path: Path, rows: list[Mapping[str, Any]]) -> None:
    """One table as CSV with a header row; every value exact."""
    columns = get_columns(rows)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([to_text(row.get(name)) for name in columns])


def write_parquet(path: Path, rows: list[Mapping[str, Any]]) -> None:
    """One table as Parquet with typed columns (int64, decimal128, bool, string), every value exact."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ModuleNotFoundError as error:
        raise RuntimeError(MISSING_PYARROW) from error
    arrays = []
    fields = []
    for name in get_columns(rows):
        values = [row.get(name) for row in rows]
        kind = get_column_kind(values)
        if kind == "int":
            arrays.append(pa.array(values, type=pa.int64()))
        elif kind == "decimal":
            places = compute_decimal_places(values)
            exact = [None if value is None else Decimal(value) for value in values]
            arrays.append(pa.array(exact, type=pa.decimal128(38, places)))
        elif kind == "bool":
            arrays.append(pa.array(values, type=pa.bool_()))
        else:
            arrays.append(pa.array([None if value is None else to_text(value) for value in values], type=pa.string()))
        fields.append(name)
    pq.write_table(pa.table(arrays, names=fields), str(path))


def export_events(events: Path, out_dir: Path, fmt: str) -> list[Path]:
    """Write one ``<table>.<fmt>`` file per table of the event log into ``out_dir``; the files written."""
    assert fmt in FORMATS, fmt
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for table, rows in group_by_table(read_event_rows(events)).items():
        path = out_dir / f"{table or 'untabled'}.{fmt}"
        if fmt == "csv":
            write_csv(path, rows)
        else:
            write_parquet(path, rows)
        written.append(path)
    return written
