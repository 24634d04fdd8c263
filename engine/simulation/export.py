"""Exports of a run's event log for other tools: one CSV or Parquet file per ``table``, numbers exact.

``events.jsonl`` writes prices as JSON numbers from exact decimal text and money as
integers of the minor unit, but a JSON reader that meets a missing field turns a
whole integer column into binary floats (pandas does), and ``50000.5`` becomes a
float.  The exports keep every value exact:

* one file per ``table`` value (``execution.csv``, ``insurance.parquet``, ...), with
  only the columns that table uses, in first-seen order (at most :data:`MAX_COLUMNS`
  distinct fields per table: a log with more is refused, its output would grow as the
  square of its size);
* a column whose values are all integers is an integer column (Parquet ``int64``,
  nullable); one that holds decimals is a Parquet ``decimal128`` column with as many
  fractional digits as its finest value (CSV: the exact decimal text); booleans stay
  booleans; anything else is text (nested values as JSON);
* the log is read with ``parse_float=Decimal``, so no value ever passes through a float.

Parquet needs ``pyarrow`` (``pip install 'perpspec[parquet]'``); CSV needs nothing.
"""

from __future__ import annotations

import csv
import functools
import json
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from perpspec.engine.simulation.output import OutputFolder
from perpspec.rules.parse import loads_json

FORMATS = ("csv", "parquet")
MISSING_PYARROW = "Parquet export needs pyarrow, which is an extra: pip install 'perpspec[parquet]'"


UNTABLED = "untabled"  # the file of rows without a table
_TABLE_NAME_MAX = 64
# distinct field names of one table: perpspec's widest (``rule``) has 45; every row is written with every column of
# its table, so without a bound N rows of one field each (``{"table":"t","kN":1}``) are N² cells out (redteam18_3)
MAX_COLUMNS = 256


class ExportInputError(ValueError):
    """An event log the export refuses: ``where`` (``line N`` of the log, ``row N`` of rows given) and why."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where, self.reason = where, reason


def read_event_rows(path: Path) -> Iterator[dict[str, Any]]:
    """The event log's rows, decimals as :class:`~decimal.Decimal` (never float).

    A line that is not a JSON object, or whose ``table`` is not a plain name (:func:`check_table_name`), is an
    :class:`ExportInputError` naming the line (malformed JSON is a :class:`json.JSONDecodeError`, also a ValueError).
    """
    with path.open() as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                where = f"line {number}"
                row = loads_json(line, parse_float=functools.partial(read_decimal, where=where),
                                 parse_constant=functools.partial(_refuse_constant, where=where))
                if type(row) is not dict:
                    raise ExportInputError(f"line {number}", f"is a JSON {type(row).__name__}, not an object")
                check_table_name(row.get("table"), f"line {number}")  # refused where the line is known
                yield row


MAX_DECIMAL_EXPONENT = 60  # an event log's decimals are prices, rates and amounts: far inside 10**±60


def read_decimal(text: str, where: str) -> Decimal:
    """A JSON number with a fraction or exponent, exactly; one whose exponent is beyond ``MAX_DECIMAL_EXPONENT`` is
    an :class:`ExportInputError` (``1e300000000`` would be written out digit by digit: a 300 MB cell; review8_3)."""
    value = Decimal(text)  # JSON's grammar: always finite here (NaN and Infinity come through _refuse_constant)
    exponent = value.as_tuple().exponent
    if abs(value.adjusted()) > MAX_DECIMAL_EXPONENT or not isinstance(exponent, int) or -exponent > 2 * MAX_DECIMAL_EXPONENT:
        raise ExportInputError(where, f"the number {text[:40]} is out of range for an event log")
    return value


def _refuse_constant(name: str, where: str) -> Decimal:
    raise ExportInputError(where, f"{name} is not a number an event log holds")


def check_table_name(table: object, where: str) -> str:
    """The file name stem of a row's ``table``: a plain identifier (``execution``, ``position``, ...), or
    :data:`UNTABLED` when the row has none; anything else (``../x``, an absolute path, a number) is refused,
    so a log never chooses where the export writes."""
    if table is None or table == "":
        return UNTABLED
    if type(table) is not str:
        raise ExportInputError(where, f"table must be a string, is a JSON {type(table).__name__}")
    if len(table) > _TABLE_NAME_MAX or not table.isascii() or not table.isidentifier():
        shown = repr(table[:_TABLE_NAME_MAX]) + ("..." if len(table) > _TABLE_NAME_MAX else "")
        raise ExportInputError(where, f"table {shown} is not a plain table name (ASCII letters, digits, _)")
    return table


def group_by_table(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Rows by their ``table`` field (checked by :func:`check_table_name`), tables in first-seen order.

    A table with more than :data:`MAX_COLUMNS` distinct field names is an :class:`ExportInputError` naming the row
    that adds one too many: the output has a cell per row and column, so it would grow as the square of the log.
    """
    tables: dict[str, list[Mapping[str, Any]]] = {}
    columns: dict[str, set[str]] = {}
    for number, row in enumerate(rows, start=1):
        table = check_table_name(row.get("table"), f"row {number}")
        tables.setdefault(table, []).append(row)
        names = columns.setdefault(table, set())
        names.update(row)
        if len(names) > MAX_COLUMNS:
            raise ExportInputError(f"row {number}", f"table {table!r} has more than {MAX_COLUMNS} distinct fields "
                                   "(an event log's tables have a few dozen); refused: every row would be written "
                                   "with every one of them")
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
    """Write one ``<table>.<fmt>`` file per table of the event log into ``out_dir``; the files written.

    Written as ``perpspec simulate`` writes its outputs (:class:`~perpspec.engine.simulation.output.OutputFolder`):
    the folder locked, every file created new in a staging folder and renamed into place, so a file or symbolic
    link already in ``out_dir`` is never written through; a link where an output goes is refused
    (:class:`~perpspec.engine.simulation.output.OutputError`) before anything is moved (redteam18_6).
    """
    assert fmt in FORMATS, fmt
    tables = group_by_table(read_event_rows(events))  # the whole log read and checked before anything is written
    names = [f"{table}.{fmt}" for table in tables]  # plain identifiers: inside out_dir (check_table_name)
    with OutputFolder(out_dir, "export", replace_links=False) as out:
        for name, rows in zip(names, tables.values(), strict=True):
            if fmt == "csv":
                write_csv(out.stage(name), rows)
            else:
                write_parquet(out.stage(name), rows)
        out.commit(names)
    return [out_dir / name for name in names]
