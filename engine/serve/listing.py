"""BitMEX's list parameters (``filter``, ``startTime``/``endTime``, ``reverse``, ``start``, ``count``, ``columns``).

:func:`read_listing` validates them all before any row is read (a refusal is a
400 that costs nothing); :func:`take` then applies them to rows in their
natural order, lazily: it stops reading once ``start + count`` rows were kept,
so a caller that can produce its rows newest-first (``GET /trade``) builds
only the rows it answers with.  A ``filter`` list is matched as a set, so a
long list costs one lookup per row, not one comparison per value.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import attrs

from perpspec.engine.serve.errors import ApiError
from perpspec.engine.serve.units import (
    NUM_MARK,
    JsonDecimal,
    decode_json,
    iso_timestamp,
    parse_bool,
    parse_iso_ms,
    parse_whole,
)

MAX_COUNT: Final = 1000
DEFAULT_COUNT: Final = 100
MAX_JSON_PARAM_CHARS: Final = 4096
KEPT_COLUMNS: Final = frozenset(("symbol", "timestamp", "orderID", "account", "currency"))
OPEN_STATUSES: Final = frozenset(("New", "PartiallyFilled", "Untriggered", "Triggered"))

Row = dict[str, Any]


def json_param(value: Any, name: str) -> Any:
    """A parameter sent as JSON text (or already decoded from a JSON body); 400 when too long or malformed."""
    if isinstance(value, str):
        if len(value) > MAX_JSON_PARAM_CHARS:
            raise ApiError(400, f"'{name}' is too long")
        try:
            return decode_json(value.encode())
        except (ValueError, UnicodeError, RecursionError):  # RecursionError: nesting deeper than the parser goes
            raise ApiError(400, f"'{name}' is not valid JSON") from None
    return value


def comparable(value: Any) -> Any:
    """``value`` as a filter compares it: a number by its exact value, anything else as it is.

    A row's decimal field is exact text marked for the encoder (``units.num``) and a filter's
    number with a fraction or exponent is the text the client sent (``JsonDecimal``); both become
    a ``Decimal``, which equals (and hashes as) the int of the same value, so ``{"price": 49000}``
    finds a row whose price is 49000 whichever way either side spells it.
    """
    if isinstance(value, str) and (isinstance(value, JsonDecimal) or value.startswith(NUM_MARK)):
        try:
            return Decimal(value.removeprefix(NUM_MARK))
        except (InvalidOperation, ValueError):
            return value
    return value


def is_member(wanted: list[Any]) -> Callable[[Any], bool]:
    """``value in wanted`` with JSON scalars looked up in a set (lists and objects compared as before)."""
    scalars = {comparable(v) for v in wanted if not isinstance(v, list | dict)}
    others = [v for v in wanted if isinstance(v, list | dict)]
    return lambda value: value in others if isinstance(value, list | dict) else comparable(value) in scalars


def field_test(name: str, wanted: Any) -> Callable[[Any], bool]:
    """The test one ``filter`` entry applies to a row's value of ``name``."""
    if name == "open":
        is_open = parse_bool(wanted, "'filter.open' must be a boolean")
        return lambda status: (status in OPEN_STATUSES) == is_open
    if isinstance(wanted, list):
        return is_member(wanted)
    exact = comparable(wanted)
    return lambda value: comparable(value) == exact


@attrs.frozen(kw_only=True)
class Listing:
    """The validated list parameters of one request."""

    tests: tuple[tuple[str, Callable[[Any], bool]], ...]  # (row field, test of its value)
    time_key: str
    after: str | None  # startTime as an ISO stamp (stamps of one format compare as strings)
    before: str | None  # endTime
    reverse: bool
    start: int
    count: int
    columns: frozenset[str] | None

    def keeps(self, row: Row) -> bool:
        """The row passes the filter and the time range."""
        for name, test in self.tests:
            if not test(row.get("ordStatus") if name == "open" else row.get(name)):
                return False
        if self.after is not None or self.before is not None:
            stamp = row.get(self.time_key)
            if not isinstance(stamp, str):
                return False
            if (self.after is not None and stamp < self.after) or (self.before is not None and stamp > self.before):
                return False
        return True

    def admits(self, name: str, value: Any) -> bool:
        """No filter entry on ``name`` refuses ``value`` (to skip whole groups of rows, e.g. a symbol's)."""
        return all(test(value) for field, test in self.tests if field == name)


def read_listing(params: dict[str, Any], time_key: str = "timestamp") -> Listing:
    """Every list parameter validated (400 on the first bad one), in the order BitMEX documents them."""
    tests: list[tuple[str, Callable[[Any], bool]]] = []
    filter_ = json_param(params.get("filter"), "filter")
    if filter_ is not None:
        if not isinstance(filter_, dict):
            raise ApiError(400, "'filter' must be a JSON object")
        tests = [(name, field_test(name, wanted)) for name, wanted in filter_.items()]
    bounds: dict[str, str | None] = {"startTime": None, "endTime": None}
    for name in bounds:
        if params.get(name) not in (None, ""):
            at = parse_iso_ms(params[name])
            if at is None:
                raise ApiError(400, f"'{name}' is not a valid time")
            bounds[name] = iso_timestamp(at)
    reverse = parse_bool(params.get("reverse", False), "'reverse' must be a boolean")
    start = parse_whole(params.get("start", 0), "'start' must be a non-negative integer")
    count = parse_whole(params.get("count", DEFAULT_COUNT), "'count' must be a positive integer")
    if start < 0 or count < 0:
        raise ApiError(400, "'start' and 'count' must be non-negative")
    columns = json_param(params.get("columns"), "columns")
    if columns is not None:
        if isinstance(columns, str):
            columns = [columns]
        if not (isinstance(columns, list) and all(isinstance(c, str) for c in columns)):
            raise ApiError(400, "'columns' must be a list of names")
    return Listing(tests=tuple(tests), time_key=time_key, after=bounds["startTime"], before=bounds["endTime"],
                   reverse=reverse, start=start, count=min(count or DEFAULT_COUNT, MAX_COUNT),
                   columns=None if columns is None else frozenset(columns) | KEPT_COLUMNS)


def take(listing: Listing, ordered: Iterable[Row]) -> list[Row]:
    """The answer from rows already in the requested order: kept rows ``start .. start + count``, projected."""
    kept = (row for row in ordered if listing.keeps(row))
    data = list(itertools.islice(kept, listing.start, listing.start + listing.count))
    if listing.columns is not None:
        data = [{k: v for k, v in row.items() if k in listing.columns} for row in data]
    return data


def select_rows(params: dict[str, Any], data: list[Row], time_key: str = "timestamp") -> list[Row]:
    """The list parameters applied to rows in their natural (oldest-first) order."""
    listing = read_listing(params, time_key)
    return take(listing, reversed(data) if listing.reverse else data)
