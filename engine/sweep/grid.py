"""The grid file of ``perpspec sweep``: a base scenario, axes over its parameters, what to measure.

::

    [sweep]
    base = "black_thursday"          # a shipped scenario name or a path (relative to this file)
    measures = ["adl_fills", "insurance_min", "liquidations"]   # default: all of MEASURES
    max_cells = 500                  # above this, `perpspec sweep` asks for --yes (never above 100,000)

    [axes]                           # dotted scenario fields (as in `simulate --set`), and `seed`
    "insurance.balance" = ["0.3", "3", "30"]
    "adl.policy" = ["queue", "pro-rata"]
    seed = [1, 2, 3]

    [[threshold]]                    # the smallest value of `along` at which `measure` `op` `value`
    measure = "adl_fills"
    op = "=="
    value = 0
    along = "insurance.balance"

Every cell of the cross product is validated as a scenario before any cell runs, so an
unknown parameter or a value out of range is one line naming the axis and the value.
"""

from __future__ import annotations

import decimal
import itertools
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from perpspec.engine.simulation.scenario import Scenario, ScenarioError, load_scenario, resolve
from perpspec.rules.parse import loads_toml, read_input_file

# what a cell measures: every key is computed by engine/sweep/cells.py from the run
MEASURES: tuple[str, ...] = (
    "liquidations",
    "liquidated_accounts",
    "insurance_start",
    "insurance_min",
    "insurance_end",
    "adl_fills",
    "adl_contracts",
    "adl_accounts",
    "haircut_max_account",
    "socialised_loss",
    "negative_equity_accounts",
    "invariant_violations",
    "conservation_gap",
    "rejected",
    "trades",
)
OPERATORS = ("==", "!=", "<", "<=", ">", ">=")
DEFAULT_MAX_CELLS = 500
HARD_MAX_CELLS = 100_000


class GridError(ValueError):
    """A grid file that cannot be run; the message names the file and the field."""


@attrs.frozen
class Threshold:
    """The smallest value of ``along`` at which ``measure op value`` holds (per other-axes combination)."""

    measure: str
    op: str
    value: int
    along: str


@attrs.frozen
class Grid:
    """A validated grid: the base scenario, the axes in file order, measures and thresholds."""

    source: str
    base: str
    axes: tuple[tuple[str, tuple[str, ...]], ...]
    measures: tuple[str, ...]
    thresholds: tuple[Threshold, ...]
    max_cells: int

    @property
    def size(self) -> int:
        """Number of cells."""
        size = 1
        for _, values in self.axes:
            size *= len(values)
        return size

    def cells(self) -> list[tuple[tuple[str, str], ...]]:
        """Every cell's (axis, value) pairs, in axis order (the last axis varies fastest)."""
        names = [name for name, _ in self.axes]
        return [
            tuple(zip(names, combo, strict=True)) for combo in itertools.product(*(v for _, v in self.axes))
        ]


def _text(value: object, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise GridError(f'{where}: values are numbers or text (a decimal is written as text, e.g. "0.01")')
    return str(value)


def _increasing(values: Sequence[str]) -> bool:
    """Numbers (decimal text) in strictly increasing order; compared exactly, never as binary floats."""
    try:
        numbers = [decimal.Decimal(value) for value in values]
    except decimal.InvalidOperation:
        return False
    return all(number.is_finite() for number in numbers) and all(
        a < b for a, b in itertools.pairwise(numbers)
    )


def parse_grid(mapping: Mapping[str, Any], source: str, base_dir: Path) -> Grid:
    """Validate a grid mapping (see the module docstring); raises :class:`GridError`."""
    unknown = sorted(set(mapping) - {"sweep", "axes", "threshold"})
    if unknown:
        raise GridError(f"{source}: unknown table {unknown[0]!r} (known: sweep, axes, threshold)")
    sweep = mapping.get("sweep", {})
    if not isinstance(sweep, dict):
        raise GridError(f"{source}: [sweep] must be a table")
    extra = sorted(set(sweep) - {"base", "measures", "max_cells"})
    if extra:
        raise GridError(f"{source}: sweep.{extra[0]}: unknown field (known: base, measures, max_cells)")
    base = sweep.get("base")
    if not isinstance(base, str) or not base:
        raise GridError(f"{source}: sweep.base: name a shipped scenario or a scenario file")
    if base.endswith(".toml") and not Path(base).is_absolute():
        base = str(base_dir / base)
    measures = sweep.get("measures", list(MEASURES))
    if not isinstance(measures, list) or not measures or not all(isinstance(m, str) for m in measures):
        raise GridError(f"{source}: sweep.measures: a non-empty list of names")
    for measure in measures:
        if measure not in MEASURES:
            raise GridError(
                f"{source}: sweep.measures: unknown measure {measure!r} (known: {', '.join(MEASURES)})"
            )
    max_cells = sweep.get("max_cells", DEFAULT_MAX_CELLS)
    if isinstance(max_cells, bool) or not isinstance(max_cells, int) or not 1 <= max_cells <= HARD_MAX_CELLS:
        raise GridError(f"{source}: sweep.max_cells: an integer from 1 to {HARD_MAX_CELLS:,}")
    axes_table = mapping.get("axes")
    if not isinstance(axes_table, dict) or not axes_table:
        raise GridError(f'{source}: [axes]: at least one axis, e.g. "insurance.balance" = ["0.3", "3"]')
    axes: list[tuple[str, tuple[str, ...]]] = []
    for name, values in axes_table.items():
        if not isinstance(values, list) or not values:
            raise GridError(f"{source}: axes.{name}: a non-empty list of values")
        texts = tuple(_text(value, f"{source}: axes.{name}") for value in values)
        if len(set(texts)) != len(texts):
            raise GridError(f"{source}: axes.{name}: a value is listed twice")
        if name == "seed" and not all(text.lstrip("-").isdigit() for text in texts):
            raise GridError(f"{source}: axes.seed: integers")
        axes.append((name, texts))
    size = 1
    for _, texts in axes:
        size *= len(texts)
    if (
        size > HARD_MAX_CELLS
    ):  # never built, not even with --yes: the cross product alone would exhaust memory
        raise GridError(f"{source}: [axes]: {size:,} cells, more than the hard limit of {HARD_MAX_CELLS:,}")
    thresholds = []
    names = [name for name, _ in axes]
    for index, row in enumerate(mapping.get("threshold", [])):
        where = f"{source}: threshold[{index}]"
        if not isinstance(row, dict) or set(row) != {"measure", "op", "value", "along"}:
            raise GridError(f"{where}: needs exactly measure, op, value, along")
        if row["measure"] not in measures:
            raise GridError(f"{where}.measure: {row['measure']!r} is not among the measures")
        if row["op"] not in OPERATORS:
            raise GridError(f"{where}.op: one of {' '.join(OPERATORS)}")
        if isinstance(row["value"], bool) or not isinstance(row["value"], int):
            raise GridError(f"{where}.value: an integer (measures are integers: counts and minor units)")
        if row["along"] not in names:
            raise GridError(f"{where}.along: {row['along']!r} is not an axis")
        along_values = dict(axes)[row["along"]]
        if not _increasing(along_values):
            raise GridError(
                f"{where}.along: the values of {row['along']!r} must be numbers in increasing order "
                "(the threshold is the first value, in that order, at which the measure crosses)"
            )
        thresholds.append(Threshold(row["measure"], row["op"], row["value"], row["along"]))
    return Grid(source, base, tuple(axes), tuple(measures), tuple(thresholds), max_cells)


def load_grid(path: Path) -> Grid:
    """Read and validate a grid file."""
    try:
        mapping = loads_toml(read_input_file(path).decode("utf-8"), parse_float=str)
    except tomllib.TOMLDecodeError as error:  # NestedTooDeeply too
        raise GridError(f"{path.name}: not valid TOML: {error}") from error
    except UnicodeDecodeError:
        raise GridError(f"{path.name}: not a text file") from None
    except OSError as error:
        raise GridError(f"{path}: cannot read: {error.strerror}") from error
    return parse_grid(mapping, path.name, path.parent)


def cell_scenario(grid: Grid, cell: Sequence[tuple[str, str]]) -> Scenario:
    """The scenario of one cell (raises :class:`GridError` naming the axis and value)."""
    overrides = [(name, value) for name, value in cell if name != "seed"]
    seeds = [int(value) for name, value in cell if name == "seed"]
    try:
        return load_scenario(grid.base, overrides, seed=seeds[0] if seeds else None)
    except ScenarioError as error:
        where = ", ".join(f"{name}={value}" for name, value in cell)
        raise GridError(f"{grid.source}: cell {where}: {error}") from None


def validate_axes(grid: Grid) -> None:
    """Each axis value on its own, applied to the base scenario: refused before any cell runs."""
    try:
        resolve(grid.base)
    except ScenarioError as error:
        raise GridError(f"{grid.source}: sweep.base: {error}") from None
    for name, values in grid.axes:
        seen: dict[str, str] = {}  # the parsed scenario's repr -> the value that gave it
        for value in values:
            parsed = repr(cell_scenario(grid, ((name, value),)))
            if parsed in seen:  # one cell key twice: two processes would run it into one folder at once
                raise GridError(
                    f"{grid.source}: axes.{name}: {seen[parsed]!r} and {value!r} are the same value"
                )
            seen[parsed] = value
