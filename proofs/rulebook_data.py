"""The rulebook generator: tests naming ids, worked examples, instrument parameters and markdown helpers.

See :mod:`proofs.rulebook` for what the generator does.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import textwrap
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from perpspec.proofs.rulebook_rules import ANY_RULE_ID, INVARIANT_ID, ROOT, area_of, instrument_attributes
from perpspec.proofs.rulebook_status import as_ids, record_field
from perpspec.rules.instrument import BITMEX_NAMES, Instrument
from perpspec.rules.parse import format_ppm, format_scaled

# --------------------------------------------------------------------------- tests and examples


def find_test_mentions(root: Path = ROOT) -> dict[str, tuple[str, ...]]:
    """``id -> test files mentioning it`` for every rule and invariant id under ``tests/``."""
    mentions: dict[str, set[str]] = {}
    for path in sorted((root / "tests").rglob("*.py")):
        text = path.read_text()
        relative = path.relative_to(root).as_posix()
        for identifier in set(ANY_RULE_ID.findall(text)) | set(INVARIANT_ID.findall(text)):
            mentions.setdefault(identifier, set()).add(relative)
    return {identifier: tuple(sorted(files)) for identifier, files in mentions.items()}


@attrs.frozen(kw_only=True)
class Example:
    """One worked example row of ``specs/examples/<file>.toml``."""

    id: str
    rule_id: str
    description: str
    inputs: tuple[tuple[str, str], ...]
    expected: tuple[tuple[str, str], ...]
    file: str  # repository-relative


def _flatten(value: object, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, Mapping):
        pairs: list[tuple[str, str]] = []
        for key, inner in value.items():
            pairs.extend(_flatten(inner, f"{prefix}{key}."))
        return pairs
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, list) else str(value)
    return [(prefix.rstrip("."), text)]


def _example_rows(data: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    for value in data.values():
        if isinstance(value, list):
            for row in value:
                if isinstance(row, Mapping) and "id" in row:
                    yield row
                elif isinstance(row, Mapping):
                    yield from _example_rows(row)
        elif isinstance(value, Mapping):
            yield from _example_rows(value)


def load_examples(root: Path = ROOT) -> list[Example]:
    """Every worked example under ``specs/examples/``, in file and row order."""
    examples: list[Example] = []
    for path in sorted((root / "specs" / "examples").glob("*.toml")):
        with path.open("rb") as handle:
            data = tomllib.load(handle, parse_float=str)
        for row in _example_rows(data):
            rule_value = record_field(row, "rule", "rule_id", "rules")
            rule_ids = as_ids(rule_value, ANY_RULE_ID) or as_ids(str(row["id"]), ANY_RULE_ID)
            examples.append(
                Example(
                    id=str(row["id"]),
                    rule_id=rule_ids[0] if rule_ids else "",
                    description=str(record_field(row, "description", "name", "title") or ""),
                    inputs=tuple(
                        _flatten({key: row[key] for key in ("instrument", "overrides") if key in row})
                        + _flatten(record_field(row, "inputs", "input", "given") or {})
                    ),
                    expected=tuple(_flatten(record_field(row, "expected", "output", "then") or {})),
                    file=path.relative_to(root).as_posix(),
                )
            )
    return examples


# --------------------------------------------------------------------------- parameters

# Minor units of the settlement currencies: name of the major unit and minor units per major unit.
CURRENCY_UNITS: dict[str, tuple[str, int]] = {"XBt": ("XBT", 10**8), "USDt": ("USDT", 10**6)}


@attrs.frozen(kw_only=True)
class FieldInfo:
    """What the rulebook shows about one instrument field."""

    attribute: str
    name: str  # BitMEX name where there is one
    meaning: str  # the field's comment in rules/instrument.py
    unit: str
    bounds: tuple[str, ...]


def _field_comments() -> dict[str, str]:
    """``attribute -> trailing comment`` from the source of :class:`Instrument`."""
    comments: dict[str, str] = {}
    for line in inspect.getsource(Instrument).splitlines():
        match = re.match(r"\s+(\w+):[^#]*#\s*(.*)$", line)
        if match:
            comments[match.group(1)] = match.group(2).strip()
    return comments


def _validation_bounds() -> dict[str, list[str]]:
    """``BitMEX field -> reasons`` from the checks of :func:`rules.instrument_file.validate`."""
    from perpspec.rules import instrument_file

    tree = ast.parse(textwrap.dedent(inspect.getsource(instrument_file.validate)))
    bounds: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Tuple) and len(node.elts) == 3:
            field_node, reason_node = node.elts[1], node.elts[2]
            if (
                isinstance(field_node, ast.Constant)
                and isinstance(field_node.value, str)
                and isinstance(reason_node, ast.Constant)
                and isinstance(reason_node.value, str)
            ):
                reasons = bounds.setdefault(field_node.value, [])
                if reason_node.value not in reasons:
                    reasons.append(reason_node.value)
    return bounds


def unit_of(attribute: str, settl_currency: str) -> str:
    if attribute.endswith("_ppm"):
        return "ppm"
    if attribute.endswith("_bps"):
        return "bps"
    if attribute.endswith("_ms"):
        return "ms"
    if attribute in ("tick_size",) or "price" in attribute:
        return "price units"
    if "qty" in attribute or attribute == "lot_size":
        return "contracts"
    if attribute.startswith("risk_") or attribute.endswith("_sats") or attribute == "concentration_floor":
        return f"{settl_currency} (minor unit)"
    return ""


def field_infos(settl_currency: str = "settlement currency") -> list[FieldInfo]:
    """One row per instrument field, in declaration order."""
    comments = _field_comments()
    bounds = _validation_bounds()
    names = {attribute: name for name, attribute in BITMEX_NAMES.items()}
    infos = []
    for attribute in instrument_attributes():
        name = names.get(attribute, attribute)
        infos.append(
            FieldInfo(
                attribute=attribute,
                name=name,
                meaning=comments.get(attribute, ""),
                unit=unit_of(attribute, settl_currency),
                bounds=tuple(bounds.get(name, ())),
            )
        )
    return infos


def grouped(value: int) -> str:
    return f"{value:_}"


def format_money(value: int, settl_currency: str) -> str:
    """``20_000_000_000 XBt (= 200 XBT)``."""
    major = CURRENCY_UNITS.get(settl_currency)
    if major is None:
        return f"{grouped(value)} {settl_currency}"
    return f"{grouped(value)} {settl_currency} (= {format_scaled(value, major[1])} {major[0]})"


def format_price(value: int, inst: Instrument) -> str:
    """``5_000_000 (= 50000 USD)`` for a price in price units."""
    return f"{grouped(value)} (= {format_scaled(value, inst.price_scale)} {inst.quote_currency})"


def format_duration(value_ms: int) -> str:
    """``28_800_000 ms (= 8h)``."""
    parts = []
    remaining = value_ms
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    if remaining or not parts:
        parts.append(f"{remaining}ms")
    return f"{grouped(value_ms)} ms (= {' '.join(parts)})"


def format_value(attribute: str, value: object, inst: Instrument) -> str:
    """The human-readable rendering of one instrument field's value."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if attribute == "fee_tiers" and isinstance(value, tuple):
        return f"{len(value)} tiers (table below)"
    if hasattr(value, "value") and not isinstance(value, int):
        return str(value.value)
    if not isinstance(value, int):
        return str(value)
    unit = unit_of(attribute, inst.settl_currency)
    if unit == "ppm":
        return f"{grouped(value)} ppm (= {format_ppm(value)})"
    if unit == "ms":
        return format_duration(value)
    if unit == "price units":
        return format_price(value, inst)
    if unit.endswith("(minor unit)"):
        return format_money(value, inst.settl_currency)
    return grouped(value)


def load_instruments(root: Path = ROOT) -> list[tuple[str, Instrument]]:
    """(file name, instrument) for every shipped instrument file, sorted by file name."""
    from perpspec.rules.instrument_file import load_instrument

    return [
        (path.name, load_instrument(str(path)))
        for path in sorted((root / "specs" / "instruments").glob("*.toml"))
    ]


# --------------------------------------------------------------------------- markdown helpers


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines.extend("| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows)
    return lines


def anchor(rule_id: str) -> str:
    return rule_id.lower()


def link(rule_id: str, from_index: bool = False) -> str:
    page = f"{area_of(rule_id).slug}.md"
    return f"[{rule_id}]({page}#{anchor(rule_id)})" if from_index else f"[{rule_id}](#{anchor(rule_id)})"


def code(text: str) -> str:
    return f"`{text}`"


def example_users(root: Path, example_files: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """``example file -> test files that load it`` (tests naming the file or its directory's files)."""
    texts = {path.relative_to(root).as_posix(): path.read_text() for path in sorted((root / "tests").rglob("*.py"))}
    users: dict[str, tuple[str, ...]] = {}
    for example_file in sorted(set(example_files)):
        name = Path(example_file).name
        stem = Path(example_file).stem
        users[example_file] = tuple(
            test
            for test, text in texts.items()
            if name in text or (re.search(r"\bexamples\b", text) and re.search(rf"\b{re.escape(stem)}\b", text))
        )
    return users


def read_test_index(path: Path) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """(mentions, example users) as :func:`render_test_index` wrote them; empty when the file is absent."""
    if not path.exists():
        return {}, {}
    data = json.loads(path.read_text())
    mentions = {key: tuple(value) for key, value in data["mentions"].items()}
    return mentions, {key: tuple(value) for key, value in data["example_users"].items()}
