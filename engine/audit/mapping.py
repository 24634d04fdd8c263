"""Mappings: how a venue's own log rows become audit records, written in TOML, without code.

A mapping names, for each kind of source row, the audit kind it is
(:data:`perpspec.engine.audit.schema.KINDS`), which fields to rename, how to
scale units, and whether its prices are price units or quote decimals::

    name = "myvenue"
    prices = "quote"                 # default for every kind: 7353.5 -> 735350 (× price_scale)
    rename = { ts = "timestamp" }    # source name = audit name, for every kind

    [[kind]]
    when = { type = "fill" }         # source fields that select this rule (a list: any of)
    as = "execution"
    rename = { acct = "account", qty = "lastQty", px = "lastPx", fee = "execComm" }
    scale = { execComm = 100000000 } # the source writes fees in XBT: × 1e8 to XBt ("/100": divide, -1: flip)
    set = { lastLiquidityInd = "RemovedLiquidity" }   # a constant audit field for every row of the kind

    [[kind]]
    when = {}                        # everything else
    as = "ignore"

Rules are tried in order; the first whose ``when`` (field values) and ``has`` (fields present)
match decides.  ``explode = "data"`` reads a message holding a list of rows (BitMEX's WebSocket
``{"table": …, "action": …, "data": [rows]}``) as its rows, each with the message's other fields.  A row no
rule matches is an error (a log with kinds the mapping does not know is not
audited by guessing).  Two fields are read from every row: ``timestamp``
(any string or integer; a change of timestamp ends an instant) and ``seq``
(optional, reported with findings).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from perpspec.engine.audit.schema import KINDS
from perpspec.rules.parse import loads_toml, read_input_file

SHIPPED = ("perpspec", "bitmex")  # mappings shipped under engine/audit/mappings/


class MappingError(Exception):
    """A mapping file that cannot be used: one line naming what is wrong."""


@attrs.frozen(kw_only=True)
class KindRule:
    """One ``[[kind]]`` rule of a mapping."""

    when: tuple[tuple[str, tuple[object, ...]], ...]  # (source field, accepted values)
    kind: str
    rename: tuple[tuple[str, str], ...]  # (source name, audit name)
    scale: tuple[tuple[str, tuple[int, int]], ...]  # audit field -> (factor, divisor)
    prices: str  # "units" | "quote"
    constants: tuple[tuple[str, object], ...] = ()  # audit field -> a value every row of the kind gets
    has: tuple[str, ...] = ()  # source fields the row must have (any value)

    def matches(self, row: Mapping[str, Any]) -> bool:
        """Whether ``row`` has every ``has`` field and, for every ``when`` field, one of its values."""
        if not all(field in row for field in self.has):
            return False
        for field, values in self.when:
            value = row.get(field)
            if not any(type(value) is type(accepted) and value == accepted for accepted in values):
                return False
        return True


@attrs.frozen(kw_only=True)
class LogMapping:
    """A whole mapping: its rules in order."""

    name: str
    rules: tuple[KindRule, ...]
    explode: str = ""  # a field holding a list of rows (a WebSocket message's "data"): each is audited

    def source_fields(self) -> frozenset[str]:
        """Every field of a source row the audit can read: the audit's own field names, ``timestamp`` and ``seq``,
        and every field a rule renames, tests or requires, and ``explode`` (a Parquet log's other columns are never
        decoded: review19_5)."""
        fields = {"timestamp", "seq", "symbol", self.explode}
        for spec in KINDS.values():
            fields.update(name for name, _, _ in spec.fields)
        for rule in self.rules:
            fields.update(source for source, _ in rule.rename)
            fields.update(field for field, _ in rule.when)
            fields.update(rule.has)
        return frozenset(fields - {""})

    def rows_of(self, row: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """The rows a source row stands for: itself, or each of its ``explode`` list with the message's fields."""
        if not self.explode:
            return [row]
        inner = row.get(self.explode)
        if not isinstance(inner, list):
            return [row]
        outer = {key: value for key, value in row.items() if key != self.explode}
        return [
            {**outer, **item} if isinstance(item, dict) else {**outer, self.explode: item} for item in inner
        ]

    def classify(self, row: Mapping[str, Any]) -> KindRule | None:
        """The first rule matching ``row`` (None: no rule does)."""
        for rule in self.rules:
            if rule.matches(row):
                return rule
        return None


AuditMapping = LogMapping


def _scale(text: object, where: str) -> tuple[int, int]:
    if isinstance(text, int) and not isinstance(text, bool) and text != 0:
        return text, 1
    if isinstance(text, str) and text.startswith("/") and text[1:].isdigit() and int(text[1:]) > 0:
        return 1, int(text[1:])
    raise MappingError(
        f"{where}: a scale is a non-zero integer factor (-1 flips the sign) or '/N' (divide by N), not {text!r}"
    )


def _renames(table: object, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(table, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in table.items()
    ):
        raise MappingError(f"{where}: rename must be a table of source = audit field names")
    return tuple(sorted(table.items()))


def parse_mapping(data: Mapping[str, Any], origin: str) -> AuditMapping:
    """A mapping from its parsed TOML (``origin`` names it in errors)."""
    known = {"name", "prices", "rename", "scale", "kind", "explode"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise MappingError(f"{origin}: unknown key {unknown[0]!r} (expected one of {sorted(known)})")
    default_prices = data.get("prices", "units")
    base_rename = _renames(data.get("rename", {}), f"{origin}: rename")
    base_scale = data.get("scale", {})
    kinds = data.get("kind")
    if not isinstance(kinds, list) or not kinds:
        raise MappingError(f"{origin}: a mapping needs at least one [[kind]] rule")
    rules = []
    for index, entry in enumerate(kinds):
        where = f"{origin}: kind #{index + 1}"
        if not isinstance(entry, dict):
            raise MappingError(f"{where}: must be a table")
        extra = sorted(set(entry) - {"when", "has", "as", "rename", "scale", "prices", "set"})
        if extra:
            raise MappingError(f"{where}: unknown key {extra[0]!r}")
        kind = entry.get("as")
        if kind not in KINDS:
            raise MappingError(f"{where}: 'as' must be one of {sorted(KINDS)}, not {kind!r}")
        has = entry.get("has", [])
        if not isinstance(has, list) or not all(isinstance(field, str) for field in has):
            raise MappingError(f"{where}: 'has' must be a list of field names")
        when = entry.get("when", {})
        if not isinstance(when, dict):
            raise MappingError(f"{where}: 'when' must be a table")
        conditions = tuple(
            (field, tuple(value) if isinstance(value, list) else (value,))
            for field, value in sorted(when.items())
        )
        prices = entry.get("prices", default_prices)
        if prices not in ("units", "quote"):
            raise MappingError(f"{where}: prices must be 'units' or 'quote', not {prices!r}")
        scale_table = {**base_scale, **entry.get("scale", {})}
        if not isinstance(scale_table, dict):
            raise MappingError(f"{where}: scale must be a table")
        rename = dict(base_rename)
        rename.update(_renames(entry.get("rename", {}), f"{where}: rename"))
        constants = entry.get("set", {})
        if not isinstance(constants, dict) or not all(isinstance(v, str | int) for v in constants.values()):
            raise MappingError(f"{where}: set must be a table of audit field = string or integer")
        rules.append(
            KindRule(
                when=conditions,
                kind=str(kind),
                rename=tuple(sorted(rename.items())),
                scale=tuple(
                    sorted((str(f), _scale(v, f"{where}: scale.{f}")) for f, v in scale_table.items())
                ),
                prices=str(prices),
                constants=tuple(sorted(constants.items())),
                has=tuple(has),
            )
        )
    name = data.get("name", origin)
    explode = data.get("explode", "")
    if not isinstance(explode, str):
        raise MappingError(f"{origin}: explode names one field (a list of rows), not {explode!r}")
    return LogMapping(name=str(name), rules=tuple(rules), explode=explode)


def load_mapping(name_or_path: str) -> AuditMapping:
    """A shipped mapping by name (``perpspec``) or a TOML file by path."""
    if name_or_path in SHIPPED:
        text = (
            resources.files("perpspec.engine.audit").joinpath("mappings", f"{name_or_path}.toml").read_text()
        )
        origin = f"mapping {name_or_path}"
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise MappingError(f"mapping {name_or_path}: no such file (shipped: {', '.join(SHIPPED)})")
        try:
            text = read_input_file(path).decode("utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise MappingError(f"mapping {name_or_path}: cannot read ({error})") from None
        origin = str(path)
    try:
        data = loads_toml(text, parse_float=float)  # tomllib's default: a mapping's values are never money
    except tomllib.TOMLDecodeError as error:  # NestedTooDeeply too
        raise MappingError(f"{origin}: not valid TOML ({error})") from None
    return parse_mapping(data, origin)
