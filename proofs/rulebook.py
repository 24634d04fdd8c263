"""The rulebook generator: ``specs/*.md`` from the code, the instrument files and a proof run.

Everything on the generated pages is read from the repository, never typed in:

* **rules** — every function in ``rules/*.py`` (or method of a class there) whose
  docstring starts with a rule id (``MRG-001: ...``), shown with its docstring
  and its exact source (:func:`inspect.getsource`);
* **invariants** — :data:`rules.invariants.REGISTRY`;
* **proof status** — the outcome of actually running every obligation of the
  proof registry (:mod:`proofs.registry`), stored in ``specs/proof-status.json``
  with a fingerprint of ``rules/`` and ``proofs/`` and, per obligation, a key
  hashing what it depends on (the import closure of its module, the prover,
  the instrument files, the Z3 version).  While the fingerprint is unchanged the
  stored run is the run; otherwise only obligations whose key changed run again.
  No timing is stored, so regeneration is deterministic;
* **tested, waived** — a rule no obligation proves, exercised by test functions
  that name its id, with a reviewed waiver in ``specs/waivers.toml`` saying why
  no proof is given (:mod:`proofs.coverage`); **tested only** — tests but no
  waiver, a coverage gap like **not checked**;
* **parameters** — every shipped instrument file, with the unit and meaning
  taken from the comments of :class:`rules.instrument.Instrument` and the bounds
  taken from the checks of :func:`rules.instrument_file.validate`;
* **worked examples** — the data files ``specs/examples/<area>.toml``.

The generator is a pure function from the repository to a mapping
``file name -> text`` (:func:`render_rulebook`); :func:`write_rulebook` writes it.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import inspect
import json
import re
import textwrap
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from perpspec import rules
from perpspec.proofs import coverage
from perpspec.rules.instrument import BITMEX_NAMES, Instrument
from perpspec.rules.parse import format_ppm, format_scaled

ROOT = Path(rules.__file__).resolve().parent.parent
RULE_ID = re.compile(r"^([A-Z]{3})-(\d{3})(?![\w'’-]):?\s*(.*)$", re.DOTALL)  # not "MRG-020's …"
ANY_RULE_ID = re.compile(r"\b([A-Z]{3}-\d{3})\b")
INVARIANT_ID = re.compile(r"\bINV-[A-Z0-9]+(?:-[A-Z0-9]+)*\b")
STATUS_FILE = "proof-status.json"
VERSION_FILE = "RULEBOOK_VERSION"
STATUS_FORMAT = 2


# --------------------------------------------------------------------------- areas


@attrs.frozen(kw_only=True)
class Area:
    """One page of the rulebook: the rule-id prefixes it holds."""

    slug: str
    title: str
    prefixes: tuple[str, ...]
    blurb: str  # one line for the index; the page summary comes from the module docstrings


AREAS: tuple[Area, ...] = (
    Area(
        slug="contracts",
        title="Contracts and accounting",
        prefixes=("CON", "ACC"),
        blurb="what a contract is worth, how fills move value between accounts, commission",
    ),
    Area(
        slug="margin",
        title="Margin and risk limits",
        prefixes=("MRG", "RSK"),
        blurb="initial and maintenance margin, leverage, risk-limit tiers, liquidation and bankruptcy prices",
    ),
    Area(
        slug="liquidation",
        title="Liquidation",
        prefixes=("LIQ",),
        blurb="when a position is liquidated and how it is taken over",
    ),
    Area(
        slug="insurance",
        title="Insurance fund",
        prefixes=("INS",),
        blurb="what the fund receives and pays when liquidations fill better or worse than bankruptcy",
    ),
    Area(
        slug="adl",
        title="Auto-deleveraging (ADL)",
        prefixes=("ADL",),
        blurb="who is closed, in which order, when the insurance fund cannot cover a bankruptcy",
    ),
    Area(
        slug="funding",
        title="Funding, index, mark price and settlement",
        prefixes=("FND", "IDX", "MRK", "SET"),
        blurb="the prices positions are marked at, the periodic funding exchange, settlement of futures",
    ),
    Area(
        slug="orders",
        title="Orders",
        prefixes=("ORD",),
        blurb="which orders are accepted, how they match, protections",
    ),
)
OTHER_AREA = Area(slug="other", title="Other rules", prefixes=(), blurb="rules whose id prefix has no page")


def area_of(rule_id: str) -> Area:
    """The page a rule id belongs on."""
    prefix = rule_id.split("-")[0]
    for area in AREAS:
        if prefix in area.prefixes:
            return area
    return OTHER_AREA


# --------------------------------------------------------------------------- rules


@attrs.frozen(kw_only=True)
class Rule:
    """A rule function found in ``rules/``."""

    id: str
    qualname: str
    module: str  # e.g. "rules.margin"
    path: str  # repository-relative, e.g. "rules/margin.py"
    line: int
    summary: str  # the docstring's first line without the id
    docstring: str
    source: str
    reads: tuple[str, ...]  # Instrument attributes the source reads
    concrete: bool  # decorated @concrete: runs on ints only, tested rather than proved


class RulebookError(Exception):
    """The rulebook cannot be generated (a rules module does not import)."""


def rule_modules(root: Path = ROOT) -> list[str]:
    """``rules.<name>`` for every module file in ``rules/``, sorted."""
    return [f"rules.{path.stem}" for path in sorted((root / "rules").glob("*.py")) if path.stem != "__init__"]


def _instrument_attributes() -> tuple[str, ...]:
    return tuple(field.name for field in attrs.fields(Instrument))


def _reads(source: str, attributes: Sequence[str]) -> tuple[str, ...]:
    return tuple(name for name in attributes if re.search(rf"\.{name}\b", source))


def _candidates(module: Any) -> Iterable[tuple[str, Callable[..., Any]]]:
    for name, value in vars(module).items():
        if inspect.isfunction(value) and value.__module__ == module.__name__:
            yield name, value
        elif inspect.isclass(value) and value.__module__ == module.__name__:
            for member_name, member in vars(value).items():
                function = member.__func__ if isinstance(member, staticmethod | classmethod) else member
                if inspect.isfunction(function):
                    yield f"{name}.{member_name}", function


def discover_rules(root: Path = ROOT) -> list[Rule]:
    """Every rule function in ``rules/``, sorted by id (then module and name)."""
    attributes = _instrument_attributes()
    found: list[Rule] = []
    for module_name in rule_modules(root):
        try:
            module = importlib.import_module(f"perpspec.{module_name}")
        except Exception as error:  # a module mid-edit: say which, instead of a traceback
            raise RulebookError(f"cannot import {module_name}: {type(error).__name__}: {error}") from error
        for qualname, function in _candidates(module):
            docstring = inspect.getdoc(function) or ""
            match = RULE_ID.match(docstring)
            if match is None:
                continue
            source = textwrap.dedent(inspect.getsource(function))
            found.append(
                Rule(
                    id=f"{match.group(1)}-{match.group(2)}",
                    qualname=qualname,
                    module=module_name,
                    path=f"rules/{module_name.split('.')[1]}.py",
                    line=inspect.getsourcelines(function)[1],
                    summary=_markdown(match.group(3).split("\n")[0].strip()),
                    docstring=docstring,
                    source=source.rstrip("\n"),
                    reads=_reads(source, attributes),
                    concrete=bool(re.search(r"^@(?:\w+\.)?concrete\b", source, re.MULTILINE)),
                )
            )
    return sorted(found, key=lambda rule: (rule.id, rule.module, rule.qualname))


def extract_rules_from_source(path: str, text: str) -> list[tuple[str, str, str]]:
    """``(rule id, qualified name, exact source)`` for every rule in a module's text, without importing it.

    Used for diffs against another git revision.
    """
    tree = ast.parse(text, path)
    found: list[tuple[str, str, str]] = []

    def visit(nodes: Sequence[ast.stmt], prefix: str) -> None:
        for node in nodes:
            if isinstance(node, ast.ClassDef):
                visit(node.body, f"{prefix}{node.name}.")
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                match = RULE_ID.match(ast.get_docstring(node) or "")
                if match is None:
                    continue
                rule_id = f"{match.group(1)}-{match.group(2)}"
                segment = ast.get_source_segment(text, node, padded=True) or ""
                decorators = "".join(
                    f"@{ast.get_source_segment(text, decorator)}\n" for decorator in node.decorator_list
                )
                found.append((rule_id, f"{prefix}{node.name}", textwrap.dedent(decorators + segment)))

    visit(tree.body, "")
    return found


# --------------------------------------------------------------------------- proof status


@attrs.frozen(kw_only=True)
class Outcome:
    """The recorded outcome of one proof obligation (no timing: deterministic)."""

    id: str
    statement: str
    rule_ids: tuple[str, ...]
    invariant_ids: tuple[str, ...]
    result: str  # proved | refuted | unknown | vacuous | waived | error
    bound: str  # "" (unbounded) or e.g. "k ≤ 8"
    known_bad: bool  # a deliberately broken variant: refuted is the expected result
    detail: str  # waiver reason, or why it failed
    key: str = ""  # hash of everything the obligation depends on (see obligation_key)

    @property
    def status(self) -> str:
        """Human status: proved (unbounded) / proved for k ≤ n / waived: reason / FAILS ..."""
        if self.known_bad:
            kind = "documented finding" if self.id.upper().startswith("FINDING") else "known-bad variant"
            return f"refuted, as expected ({kind})" if self.result == "refuted" else (
                f"NOT REFUTED ({self.result}) — the checker missed a planted bug"
            )
        if self.result == "proved":
            return f"proved for {self.bound}" if self.bound else "proved (unbounded)"
        if self.result == "waived":
            return f"waived: {self.detail}"
        return f"FAILS: {self.result}" + (f" ({self.detail})" if self.detail else "")

    @property
    def strength(self) -> int:
        """Ordering for 'the strongest status of a rule': higher is stronger."""
        if self.known_bad:
            return 0
        if self.result == "proved":
            return 3 if not self.bound else 2
        if self.result == "waived":
            return 1
        return -1  # a failure dominates everything when shown


def source_fingerprint(root: Path = ROOT) -> str:
    """SHA-256 over the sources a proof run depends on (``rules/*.py`` and ``proofs/*.py``)."""
    digest = hashlib.sha256()
    files = sorted((root / "rules").glob("*.py")) + sorted((root / "proofs").glob("*.py"))
    for path in files:
        if path.name in _GENERATOR_FILES:
            continue
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


# The generator's own modules do not change what the obligations prove.
_GENERATOR_FILES = {"rulebook.py", "rulebook_diff.py", "params_check.py", "what_if.py", "coverage.py", "mutate.py"}


def _as_ids(value: object, pattern: re.Pattern[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(sorted(set(pattern.findall(value))))
    if isinstance(value, Iterable):
        return tuple(sorted({item for element in value for item in _as_ids(element, pattern)}))
    return ()


def _field(record: object, *names: str) -> object:
    for name in names:
        if isinstance(record, Mapping) and name in record:
            return record[name]
        if hasattr(record, name):
            return getattr(record, name)
    return None


def run_obligations(
    timeout_ms: int | None = None, previous: Sequence[Outcome] = (), root: Path = ROOT
) -> list[Outcome]:
    """Run every obligation of :mod:`proofs.registry` and record the outcomes (no timing).

    An outcome in ``previous`` is reused when its obligation's dependency key
    (:func:`obligation_key`) is unchanged: only obligations whose sources changed run.
    ``timeout_ms`` overrides every obligation's own solver timeout (None: their own).
    """
    from perpspec.proofs import registry

    known = {outcome.id: outcome for outcome in previous if outcome.key}
    keys = _KeyCache(root)
    outcomes = []
    for obligation in registry.discover():
        key = keys.of(obligation)
        reused = known.get(obligation.id)
        if reused is not None and reused.key == key:
            outcomes.append(reused)
        else:
            outcomes.append(attrs.evolve(_run_one(obligation, timeout_ms), key=key))
    return sorted(outcomes, key=lambda outcome: outcome.id)


class _KeyCache:
    """Dependency keys of obligations, computed once per set of defining modules."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.by_modules: dict[tuple[str, ...], str] = {}

    def of(self, obligation: Any) -> str:
        modules = run_modules(obligation.run)
        if not modules or any(_module_file(self.root, module) is None for module in modules):
            modules = ("",)  # unknown origin: depend on everything
        if modules not in self.by_modules:
            self.by_modules[modules] = obligation_key(self.root, modules)
        return self.by_modules[modules]


def run_modules(run: Any) -> tuple[str, ...]:
    """The modules an obligation's ``run`` comes from: its function's, and those of every
    function or class a ``functools.partial`` binds (a kernel or a known-bad variant passed in)."""
    found: list[str] = []
    target = run
    while isinstance(target, functools.partial):
        for argument in (*target.args, *target.keywords.values()):
            for item in argument if isinstance(argument, tuple | list) else (argument,):
                if callable(item):
                    found.append(str(getattr(item, "__module__", "") or ""))
        target = target.func
    found.insert(0, str(getattr(target, "__module__", "") or ""))
    return tuple(dict.fromkeys(found))


def _module_file(root: Path, dotted: str) -> Path | None:
    parts = dotted.removeprefix("perpspec.").split(".")
    if parts[0] not in ("rules", "proofs"):
        return None
    candidate = root.joinpath(*parts).with_suffix(".py")
    if candidate.exists():
        return candidate
    package = root.joinpath(*parts) / "__init__.py"
    return package if package.exists() else None


def import_closure(root: Path, module: str) -> list[Path]:
    """The files of ``rules/`` and ``proofs/`` that ``module`` imports, transitively (itself included)."""
    start = _module_file(root, module)
    seen: set[Path] = set()
    todo = [start] if start is not None else []
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            for name in names:
                found = _module_file(root, name)
                if found is not None and found not in seen:
                    todo.append(found)
    return sorted(seen)


def obligation_key(root: Path, module: str | tuple[str, ...]) -> str:
    """SHA-256 over what an obligation defined in ``module`` (or these modules) depends on.

    The modules' import closure within ``rules/`` and ``proofs/``, the prover
    machinery, every instrument file and the Z3 version; ``""`` is everything.
    """
    import z3

    modules = (module,) if isinstance(module, str) else module
    files = {path for name in modules if name for path in import_closure(root, name)}
    if "" in modules or not modules:
        files.update((root / "rules").glob("*.py"))
        files.update(path for path in (root / "proofs").glob("*.py") if path.name not in _GENERATOR_FILES)
    for name in ("registry", "prover", "sym"):
        files.update(import_closure(root, f"proofs.{name}"))
    files.update((root / "specs" / "instruments").glob("*.toml"))
    digest = hashlib.sha256(z3.get_version_string().encode())
    for path in sorted(files):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _run_one(obligation: Any, timeout_ms: int | None = None) -> Outcome:
    from perpspec.proofs import registry

    text = f"{obligation.id} {obligation.rule_id} {obligation.statement}"
    rule_ids = _as_ids(obligation.rule_id, ANY_RULE_ID) or _as_ids(text, ANY_RULE_ID)
    # the property proved: a registry invariant (INV-*) or a rule-level property name (FND-CAPS)
    invariant_ids = (str(obligation.invariant_id),) if obligation.invariant_id else _as_ids(text, INVARIANT_ID)
    bound = (obligation.bounded or "").replace("<=", "≤")
    known_bad = obligation.expect == "refuted"
    waiver = getattr(obligation, "waived", None)
    if waiver:
        result, detail = "waived", str(waiver)
    else:
        ran = registry.run_obligation(obligation, timeout_ms)
        result = ran.status_text
        detail = ran.error if ran.result is None else ("" if ran.passed else ran.result.detail)
    return Outcome(
        id=obligation.id,
        statement=obligation.statement,
        rule_ids=rule_ids,
        invariant_ids=invariant_ids,
        result=result,
        bound=bound,
        known_bad=known_bad,
        detail=detail.split("\n")[0],
    )


def load_status(path: Path) -> tuple[str, list[Outcome]] | None:
    """The stored run (fingerprint, outcomes), or None when absent or of another format."""
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    if data.get("format") != STATUS_FORMAT:
        return None
    outcomes = [
        Outcome(
            id=row["id"],
            statement=row["statement"],
            rule_ids=tuple(row["rule_ids"]),
            invariant_ids=tuple(row["invariant_ids"]),
            result=row["result"],
            bound=row["bound"],
            known_bad=row["known_bad"],
            detail=row["detail"],
            key=row.get("key", ""),
        )
        for row in data["obligations"]
    ]
    return str(data["fingerprint"]), outcomes


def render_status(fingerprint: str, outcomes: Sequence[Outcome]) -> str:
    """The stored run as deterministic JSON."""
    rows = [
        {
            "id": outcome.id,
            "statement": outcome.statement,
            "rule_ids": list(outcome.rule_ids),
            "invariant_ids": list(outcome.invariant_ids),
            "result": outcome.result,
            "bound": outcome.bound,
            "known_bad": outcome.known_bad,
            "detail": outcome.detail,
            "key": outcome.key,
        }
        for outcome in outcomes
    ]
    data = {"format": STATUS_FORMAT, "fingerprint": fingerprint, "obligations": rows}
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def proof_outcomes(
    stored: Path, root: Path = ROOT, rerun: bool = False, allow_run: bool = True, timeout_ms: int | None = None
) -> tuple[str, list[Outcome], int]:
    """(fingerprint, outcomes, how many ran now) — reuse the stored run while the sources are the same.

    With ``allow_run=False`` the stored run is used even when stale (for a quick drift check:
    the pages then carry the current fingerprint, so a stale specs/ still shows as a difference).
    """
    fingerprint = source_fingerprint(root)
    previous = None if rerun else load_status(stored)
    if previous is not None and (previous[0] == fingerprint or not allow_run):
        return fingerprint, previous[1], 0
    if not allow_run:
        return fingerprint, [], 0
    stored_outcomes = [] if previous is None else previous[1]
    outcomes = run_obligations(timeout_ms, stored_outcomes, root)
    reused = {id(outcome) for outcome in stored_outcomes}
    return fingerprint, outcomes, sum(1 for outcome in outcomes if id(outcome) not in reused)


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
            rule_value = _field(row, "rule", "rule_id", "rules")
            rule_ids = _as_ids(rule_value, ANY_RULE_ID) or _as_ids(str(row["id"]), ANY_RULE_ID)
            examples.append(
                Example(
                    id=str(row["id"]),
                    rule_id=rule_ids[0] if rule_ids else "",
                    description=str(_field(row, "description", "name", "title") or ""),
                    inputs=tuple(
                        _flatten({key: row[key] for key in ("instrument", "overrides") if key in row})
                        + _flatten(_field(row, "inputs", "input", "given") or {})
                    ),
                    expected=tuple(_flatten(_field(row, "expected", "output", "then") or {})),
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


def _unit(attribute: str, settl_currency: str) -> str:
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
    if attribute.startswith("risk_") or attribute.endswith("_sats"):
        return f"{settl_currency} (minor unit)"
    return ""


def field_infos(settl_currency: str = "settlement currency") -> list[FieldInfo]:
    """One row per instrument field, in declaration order."""
    comments = _field_comments()
    bounds = _validation_bounds()
    names = {attribute: name for name, attribute in BITMEX_NAMES.items()}
    infos = []
    for attribute in _instrument_attributes():
        name = names.get(attribute, attribute)
        infos.append(
            FieldInfo(
                attribute=attribute,
                name=name,
                meaning=comments.get(attribute, ""),
                unit=_unit(attribute, settl_currency),
                bounds=tuple(bounds.get(name, ())),
            )
        )
    return infos


def _grouped(value: int) -> str:
    return f"{value:_}"


def format_money(value: int, settl_currency: str) -> str:
    """``20_000_000_000 XBt (= 200 XBT)``."""
    major = CURRENCY_UNITS.get(settl_currency)
    if major is None:
        return f"{_grouped(value)} {settl_currency}"
    return f"{_grouped(value)} {settl_currency} (= {format_scaled(value, major[1])} {major[0]})"


def format_price(value: int, inst: Instrument) -> str:
    """``5_000_000 (= 50000 USD)`` for a price in price units."""
    return f"{_grouped(value)} (= {format_scaled(value, inst.price_scale)} {inst.quote_currency})"


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
    return f"{_grouped(value_ms)} ms (= {' '.join(parts)})"


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
    unit = _unit(attribute, inst.settl_currency)
    if unit == "ppm":
        return f"{_grouped(value)} ppm (= {format_ppm(value)})"
    if unit == "ms":
        return format_duration(value)
    if unit == "price units":
        return format_price(value, inst)
    if unit.endswith("(minor unit)"):
        return format_money(value, inst.settl_currency)
    return _grouped(value)


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


def _anchor(rule_id: str) -> str:
    return rule_id.lower()


def _link(rule_id: str, from_index: bool = False) -> str:
    page = f"{area_of(rule_id).slug}.md"
    return f"[{rule_id}]({page}#{_anchor(rule_id)})" if from_index else f"[{rule_id}](#{_anchor(rule_id)})"


def code(text: str) -> str:
    return f"`{text}`"


# --------------------------------------------------------------------------- the model of the book


@attrs.frozen(kw_only=True)
class Rulebook:
    """Everything the pages are rendered from."""

    version: str
    fingerprint: str
    rules: tuple[Rule, ...]
    invariants: tuple[tuple[str, str], ...]  # (id, statement)
    outcomes: tuple[Outcome, ...]
    mentions: Mapping[str, tuple[str, ...]]
    examples: tuple[Example, ...]
    instruments: tuple[tuple[str, Instrument], ...]
    trusted: tuple[tuple[str, str], ...]  # (path, what it is)
    module_docs: Mapping[str, str]  # module -> docstring
    example_users: Mapping[str, tuple[str, ...]]  # example file -> tests that execute it
    committee: tuple[tuple[str, tuple[Any, ...]], ...]  # (symbol, params_check results)
    applied_by: Mapping[str, tuple[str, ...]]  # rule id -> engine functions that apply it
    invariant_rules: Mapping[str, tuple[str, ...]]  # invariant id -> rule ids its check calls
    engine_docs: tuple[tuple[str, str], ...]  # (engine module path, docstring) for modules with an area prefix
    waivers: Mapping[str, coverage.Waiver] = attrs.field(factory=dict)  # rule id -> reviewed waiver
    test_functions: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)  # id -> "file::test" naming it

    def outcomes_for_rule(self, rule_id: str) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if rule_id in outcome.rule_ids]

    def outcomes_for_invariant(self, invariant_id: str) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if invariant_id in outcome.invariant_ids]

    def status(self, identifier: str) -> str:
        """The overall status of a rule or invariant id."""
        relevant = [
            outcome
            for outcome in self.outcomes
            if (identifier in outcome.rule_ids or identifier in outcome.invariant_ids) and not outcome.known_bad
        ]
        failures = [outcome for outcome in relevant if outcome.strength < 0]
        if failures:
            return f"FAILS ({', '.join(outcome.id for outcome in failures)})"
        proved = [outcome for outcome in relevant if outcome.strength >= 2]
        if proved:
            best = max(proved, key=lambda outcome: outcome.strength)
            if best.strength == 3:
                return "proved (unbounded)"
            bounds = sorted({outcome.bound for outcome in proved})
            return "proved for " + ", ".join(bounds)
        waived = [outcome for outcome in relevant if outcome.strength == 1]
        waiver = self.waivers.get(identifier)
        if waiver is not None and self.test_functions.get(identifier):
            return f"tested, waived ({waiver.kind})"
        if self.mentions.get(identifier) or self.test_functions.get(identifier):
            return "tested only"
        if waived:
            return f"waived: {waived[0].detail}"
        return "not checked"

    def coverage_class(self, rule_id: str) -> str:
        """The rule's coverage class (:data:`proofs.coverage.CLASSES`)."""
        return coverage.classify(self.status(rule_id), rule_id in self.waivers)

    def coverage_counts(self, rules: Sequence[Rule] | None = None) -> dict[str, int]:
        """How many of ``rules`` (default: all) fall in each coverage class."""
        chosen = self.rules if rules is None else rules
        return coverage.count_classes(self.coverage_class(rule.id) for rule in chosen)

    def coverage_gaps(self) -> list[tuple[str, str]]:
        """``(rule id, class)`` of every rule that is neither proved nor tested with a waiver."""
        return [
            (rule.id, self.coverage_class(rule.id))
            for rule in self.rules
            if self.coverage_class(rule.id) not in coverage.COVERED
        ]


def _trusted_components(root: Path) -> tuple[tuple[str, str], ...]:
    """Code that executes or feeds the rules but is not itself proved."""
    rows: list[tuple[str, str]] = []
    for path in sorted((root / "engine").rglob("*.py")):
        if path.stem == "__init__":
            continue
        module = ast.parse(path.read_text())
        docstring = (ast.get_docstring(module) or "").split("\n")[0]
        rows.append((path.relative_to(root).as_posix(), docstring))
    for name in ("parse.py", "instrument_file.py", "num.py"):
        path = root / "rules" / name
        if path.exists():
            docstring = (ast.get_docstring(ast.parse(path.read_text())) or "").split("\n")[0]
            rows.append((path.relative_to(root).as_posix(), docstring))
    for name in ("sym.py", "prover.py", "registry.py", "rulebook.py"):
        path = root / "proofs" / name
        if path.exists():
            docstring = (ast.get_docstring(ast.parse(path.read_text())) or "").split("\n")[0]
            rows.append((path.relative_to(root).as_posix(), docstring))
    return tuple(rows)


def invariant_rule_calls(found: Sequence[Rule], registry: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """``invariant id -> rule ids`` whose functions the invariant's check calls (directly)."""
    by_name: dict[str, set[str]] = {}
    for rule in found:
        by_name.setdefault(rule.qualname.split(".")[-1], set()).add(rule.id)
    calls: dict[str, tuple[str, ...]] = {}
    for inv_id, invariant in registry.items():
        try:
            source = inspect.getsource(invariant.check)
        except (OSError, TypeError):
            continue
        called = set(re.findall(r"\b(\w+)\(", source))
        ids = sorted({rule_id for name in called & set(by_name) for rule_id in by_name[name]})
        if ids:
            calls[inv_id] = tuple(ids)
    return calls


def engine_applications(root: Path) -> dict[str, tuple[str, ...]]:
    """``rule id -> engine functions whose docstring starts with it`` (read as text, never imported)."""
    found: dict[str, list[str]] = {}
    for path in sorted((root / "engine").rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        for rule_id, name, _ in extract_rules_from_source(relative, path.read_text()):
            found.setdefault(rule_id, []).append(f"{relative}:{name}")
    return {rule_id: tuple(names) for rule_id, names in sorted(found.items())}


def engine_module_docs(root: Path) -> tuple[tuple[str, str], ...]:
    """Engine modules whose docstring opens with an area prefix (``ORD: ...``), with that docstring."""
    rows = []
    for path in sorted((root / "engine").rglob("*.py")):
        docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
        if re.match(r"[A-Z]{3}:", docstring):
            rows.append((path.relative_to(root).as_posix(), docstring))
    return tuple(rows)


def _committee(instruments: Sequence[tuple[str, Instrument]]) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    """``perpspec check-params`` on every shipped instrument."""
    from perpspec.proofs.params_check import check_instrument

    return tuple((inst.symbol, tuple(check_instrument(inst))) for _, inst in instruments)


def read_version(root: Path = ROOT) -> str:
    """The rulebook version number (``specs/RULEBOOK_VERSION``)."""
    path = root / "specs" / VERSION_FILE
    return path.read_text().strip() if path.exists() else "0"


def build_rulebook(
    root: Path = ROOT,
    stored_status: Path | None = None,
    rerun: bool = False,
    allow_run: bool = True,
    timeout_ms: int | None = None,
) -> tuple[Rulebook, int]:
    """Collect everything the pages show; (book, how many obligations ran now)."""
    found = discover_rules(root)
    from perpspec.rules.invariants import REGISTRY  # after every rules module registered its invariants

    status_path = stored_status if stored_status is not None else root / "specs" / STATUS_FILE
    fingerprint, outcomes, ran = proof_outcomes(status_path, root, rerun, allow_run, timeout_ms)
    examples = load_examples(root)
    modules = sorted({rule.module for rule in found})
    module_docs = {name: inspect.getdoc(importlib.import_module(f"perpspec.{name}")) or "" for name in modules}
    book = Rulebook(
        version=read_version(root),
        fingerprint=fingerprint,
        rules=tuple(found),
        invariants=tuple((inv.id, inv.statement) for inv in REGISTRY.values()),
        outcomes=tuple(outcomes),
        mentions=find_test_mentions(root),
        examples=tuple(examples),
        instruments=tuple(load_instruments(root)),
        trusted=_trusted_components(root),
        module_docs=module_docs,
        example_users=example_users(root, (example.file for example in examples)),
        committee=_committee(load_instruments(root)),
        applied_by=engine_applications(root),
        invariant_rules=invariant_rule_calls(found, REGISTRY),
        engine_docs=engine_module_docs(root),
        waivers=coverage.load_waivers(root),
        test_functions=coverage.find_test_functions(
            root, {rule.id: rule.qualname.split(".")[-1] for rule in found if not rule.qualname.split(".")[-1].startswith("_")}
        ),
    )
    return book, ran


# --------------------------------------------------------------------------- pages


def _header(book: Rulebook, title: str) -> list[str]:
    return [
        f"# {title}",
        "",
        "<!-- GENERATED by `perpspec spec` from rules/, proofs/, tests/ and specs/instruments/: do not edit. -->",
        "",
        f"Rulebook version **{book.version}** · sources fingerprint `{book.fingerprint[:16]}`",
        "",
    ]


def _parameter_rows(book: Rulebook, attributes: Sequence[str] | None) -> list[str]:
    lines: list[str] = []
    infos = field_infos()
    chosen = [info for info in infos if attributes is None or info.attribute in attributes]
    if not chosen:
        return lines
    header = ["Parameter", "Meaning", "Unit", "Bounds (checked on load)"]
    header += [inst.symbol for _, inst in book.instruments]
    rows = []
    for info in chosen:
        units = {_unit(info.attribute, inst.settl_currency) for _, inst in book.instruments}
        row = [code(info.name), info.meaning, " / ".join(sorted(units)) or "—", "; ".join(info.bounds) or "—"]
        row += [format_value(info.attribute, getattr(inst, info.attribute), inst) for _, inst in book.instruments]
        rows.append(row)
    lines.extend(table(header, rows))
    lines.append("")
    return lines


def _fee_tier_rows(book: Rulebook) -> list[str]:
    lines: list[str] = []
    for _, inst in book.instruments:
        if len(inst.fee_tiers) <= 1:
            continue
        lines.append(f"**{inst.symbol} fee tiers** (by 30-day average daily volume, USD)")
        lines.append("")
        lines.extend(
            table(
                ["From ADV (USD)", "Maker fee", "Taker fee"],
                [
                    [
                        _grouped(tier.adv_usd),
                        f"{_grouped(tier.maker_fee_ppm)} ppm (= {format_ppm(tier.maker_fee_ppm)})",
                        f"{_grouped(tier.taker_fee_ppm)} ppm (= {format_ppm(tier.taker_fee_ppm)})",
                    ]
                    for tier in inst.fee_tiers
                ],
            )
        )
        lines.append("")
    return lines


def _derived_rows(book: Rulebook) -> list[str]:
    """Computed values a committee reads next to the raw parameters."""
    rows = []
    for _, inst in book.instruments:
        leverage = inst.max_leverage_hundredths
        rows.append(
            [
                inst.symbol,
                inst.kind.value,
                f"{format_scaled(leverage, 100)}x",
                format_ppm(inst.init_margin_ppm - inst.maint_margin_ppm),
                f"{format_scaled(inst.tick_size, inst.price_scale)} {inst.quote_currency}",
                f"{_grouped(inst.lot_size)} contracts",
            ]
        )
    return [*table(["Instrument", "Type", "Max leverage (1 / initMargin)", "IM − MM", "Tick", "Lot"], rows), ""]


def _examples_table(examples: Sequence[Example], book: Rulebook) -> list[str]:
    rows = []
    for example in examples:
        rows.append(
            [
                code(example.id),
                example.description,
                "<br>".join(f"{key} = {value}" for key, value in example.inputs),
                "<br>".join(f"{key} = {value}" for key, value in example.expected),
                ", ".join(book.example_users.get(example.file, ())) or "not executed by a test",
            ]
        )
    return table(["Example", "Situation", "Inputs", "Expected", "Executed by"], rows)


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


def render_rule(rule: Rule, book: Rulebook) -> list[str]:
    """One rule: id, docstring, status, invariants, examples, exact source."""
    lines = [f'<a id="{_anchor(rule.id)}"></a>', f"### {rule.id} — {rule.summary}", ""]
    tests = book.mentions.get(rule.id, ())
    lines.append(
        f"`{rule.qualname}` in [`{rule.path}`](../{rule.path}#L{rule.line}) · "
        f"**status: {book.status(rule.id)}**"
        + (f" · tests: {', '.join(code(test) for test in tests)}" if tests else "")
    )
    lines.append("")
    if rule.concrete:
        lines.append(
            "*Concrete-only* (`@concrete`): runs on Python integers and may branch on values, "
            "so it is tested, not proved."
        )
        lines.append("")
    waiver = book.waivers.get(rule.id)
    if waiver is not None and not book.coverage_class(rule.id).startswith("proved"):
        lines.append(f"**Waiver ({waiver.kind})**, from [`specs/{coverage.WAIVER_FILE}`]({coverage.WAIVER_FILE}): {waiver.reason}")
        lines.append("")
    test_names = book.test_functions.get(rule.id, ())
    if test_names:
        lines.append("Test functions naming this rule: " + ", ".join(code(name) for name in test_names))
        lines.append("")
    body = RULE_ID.match(rule.docstring)
    rest = body.group(3) if body else rule.docstring
    paragraphs = rest.split("\n", 1)
    if len(paragraphs) > 1 and paragraphs[1].strip():
        lines.extend(["> " + line if line else ">" for line in _markdown(paragraphs[1].strip()).splitlines()])
        lines.append("")
    in_checks = sorted(inv for inv, ids in book.invariant_rules.items() if rule.id in ids)
    if in_checks:
        lines.append(
            "Used by the invariant checks of: " + ", ".join(f"[{inv}](README.md#{inv.lower()})" for inv in in_checks)
        )
        lines.append("")
    applied = book.applied_by.get(rule.id, ())
    if applied:
        lines.append("Applied by the engine in: " + ", ".join(code(name) for name in applied))
        lines.append("")
    if rule.reads:
        names = {attribute: name for name, attribute in BITMEX_NAMES.items()}
        lines.append("Parameters read: " + ", ".join(code(names.get(attr, attr)) for attr in rule.reads))
        lines.append("")
    outcomes = book.outcomes_for_rule(rule.id)
    if outcomes:
        statements = dict(book.invariants)
        rows = []
        for outcome in outcomes:
            invariants = ", ".join(outcome.invariant_ids) or "—"
            claim = outcome.statement or "; ".join(statements.get(inv, "") for inv in outcome.invariant_ids)
            rows.append([code(outcome.id), invariants, claim, outcome.status])
        lines.append("**Proof obligations**")
        lines.append("")
        lines.extend(table(["Obligation", "Invariant", "Claim", "Status (from the last proof run)"], rows))
        lines.append("")
    tested_invariants = [
        inv_id
        for inv_id, _ in book.invariants
        if set(book.mentions.get(inv_id, ())) & set(tests)
        and not any(inv_id in outcome.invariant_ids for outcome in outcomes)
    ]
    if tested_invariants:
        lines.append(
            "Invariants checked by the same tests (not proved for this rule): "
            + ", ".join(f"[{inv}](README.md#{inv.lower()})" for inv in tested_invariants)
        )
        lines.append("")
    examples = [example for example in book.examples if example.rule_id == rule.id]
    if examples:
        lines.append("**Worked examples**")
        lines.append("")
        lines.extend(_examples_table(examples, book))
        lines.append("")
    lines.extend(["```python", rule.source, "```", ""])
    return lines


def _home(module: str, book: Rulebook) -> Area:
    """The page whose summary shows a module's docstring: its own prefix (``MRG: ...``), else most rules."""
    match = re.match(r"([A-Z]{3})\b", book.module_docs.get(module, ""))
    if match is not None:  # a module about another subject (INV: the invariant registry) has no page summary
        return area_of(f"{match.group(1)}-000")
    counts: dict[str, int] = {}
    for rule in book.rules:
        if rule.module == module:
            slug = area_of(rule.id).slug
            counts[slug] = counts.get(slug, 0) + 1
    best = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[0][0]
    return next((area for area in (*AREAS, OTHER_AREA) if area.slug == best), OTHER_AREA)


def _markdown(docstring: str) -> str:
    """reST roles and literals of a docstring as Markdown."""
    text = re.sub(r":(?:func|class|mod|data|meth|attr):`~?([^`]+)`", r"`\1`", docstring)
    return text.replace("``", "`")


def render_area(area: Area, book: Rulebook) -> str:
    """One page of the rulebook."""
    rules_here = [rule for rule in book.rules if area_of(rule.id) == area]
    lines = _header(book, area.title)
    lines.append(f"*{area.blurb[0].upper()}{area.blurb[1:]}.* [Back to the index](README.md)")
    lines.append("")
    lines.append("## Summary")
    lines.append("")
    modules = [module for module in sorted({rule.module for rule in book.rules}) if _home(module, book) == area]
    if not modules and not any(area_of(f"{doc[:3]}-000") == area for _, doc in book.engine_docs):
        lines.append("No rule of this area exists in `rules/` yet.")
        lines.append("")
    for module in modules:
        path = f"rules/{module.split('.')[1]}.py"
        lines.append(f"**From [`{path}`](../{path})**")
        lines.append("")
        lines.extend(_markdown(book.module_docs.get(module, "")).splitlines())
        lines.append("")
    for path, docstring in book.engine_docs:
        if area_of(f"{docstring[:3]}-000") != area:
            continue
        lines.append(f"**From [`{path}`](../{path})** — engine code: tested, not proved")
        lines.append("")
        lines.extend(_markdown(docstring).splitlines())
        lines.append("")
    if rules_here:
        lines.extend(_coverage_lines(book, rules_here, "## Coverage of this page"))
        lines.append("## Rules")
        lines.append("")
        lines.extend(
            table(
                ["Rule", "What it does", "Status"],
                [[_link(rule.id), rule.summary, book.status(rule.id)] for rule in rules_here],
            )
        )
        lines.append("")
    read = sorted({attribute for rule in rules_here for attribute in rule.reads})
    if area.slug == "contracts":
        read = [info.attribute for info in field_infos()]
    if read and book.instruments:
        lines.append("## Parameters")
        lines.append("")
        lines.append(
            "Values per shipped instrument (`specs/instruments/*.toml`)"
            + (", for the parameters the rules on this page read." if area.slug != "contracts" else ".")
        )
        lines.append("")
        lines.extend(_parameter_rows(book, read))
        if area.slug == "contracts":
            lines.extend(_derived_rows(book))
            lines.extend(_fee_tier_rows(book))
    if area.slug == "margin" and book.instruments:
        lines.extend(_risk_tier_section(book))
    invariant_ids = sorted(
        {inv for rule in rules_here for outcome in book.outcomes_for_rule(rule.id) for inv in outcome.invariant_ids}
    )
    if invariant_ids:
        statements = dict(book.invariants)
        lines.append("## Invariants these rules preserve")
        lines.append("")
        lines.extend(
            table(
                ["Invariant", "Statement", "Status"],
                [[inv, statements.get(inv, "(not in the registry)"), book.status(inv)] for inv in invariant_ids],
            )
        )
        lines.append("")
    if rules_here:
        lines.append("## Rule by rule")
        lines.append("")
        for rule in rules_here:
            lines.extend(render_rule(rule, book))
    return "\n".join(lines).rstrip("\n") + "\n"


def _coverage_lines(book: Rulebook, rules_here: Sequence[Rule], heading: str) -> list[str]:
    """A table of how many rules fall in each coverage class, and the gaps by name."""
    counts = book.coverage_counts(rules_here)
    lines = [heading, ""]
    lines.extend(
        table(
            ["Coverage", "Rules", "Meaning"],
            [
                ["proved (unbounded)", str(counts["proved (unbounded)"]), "an obligation holds for all integers"],
                ["proved for k ≤ n", str(counts["proved for k ≤ n"]), "proved for a stated bound on accounts or steps"],
                ["tested, waived", str(counts["tested, waived"]), "named tests and a reviewed waiver (why no proof)"],
                ["tested only, no waiver", str(counts["tested only, no waiver"]), "gap: tests but no written waiver"],
                ["not checked", str(counts["not checked"]), "gap: neither proved nor named by a test"],
                ["failing", str(counts["failing"]), "gap: an obligation does not hold"],
            ],
        )
    )
    lines.append("")
    gaps = [rule.id for rule in rules_here if book.coverage_class(rule.id) not in coverage.COVERED]
    if gaps:
        lines.append("Gaps: " + ", ".join(_link(rule_id, True) for rule_id in gaps) + ".")
        lines.append("")
    return lines


def _risk_tier_section(book: Rulebook) -> list[str]:
    """The risk-limit tier table per instrument, computed by the margin rules when they exist."""
    try:
        from perpspec.proofs.params_check import tier_table
    except ImportError:
        return []
    lines = [
        "## Risk-limit tiers",
        "",
        "Computed by the risk-limit rules (RSK-002 … RSK-005) from `riskLimit`, `riskStep`, "
        "`maintMarginStep` and `initMarginStep`.",
        "",
    ]
    for _, inst in book.instruments:
        rows = tier_table(inst, tiers=4)
        if not rows:
            return []
        lines.append(f"**{inst.symbol}**")
        lines.append("")
        lines.extend(
            table(
                ["Position value up to", "Maintenance margin", "Initial margin", "Max leverage"],
                [
                    [
                        format_money(row.limit, inst.settl_currency),
                        f"{_grouped(row.maint_ppm)} ppm (= {format_ppm(row.maint_ppm)})",
                        f"{_grouped(row.init_ppm)} ppm (= {format_ppm(row.init_ppm)})",
                        f"{format_scaled(row.max_leverage_hundredths, 100)}x",
                    ]
                    for row in rows
                ],
            )
        )
        lines.append("")
    return lines


def _committee_section(book: Rulebook) -> list[str]:
    """The committee properties of every shipped instrument (``perpspec check-params``)."""
    if not book.committee:
        return []
    lines = [
        "## Committee properties",
        "",
        "`perpspec check-params FILE.toml` proves or refutes these for any proposed parameter set; "
        "for the shipped instruments:",
        "",
    ]
    ids = [result.id for result in book.committee[0][1]]
    titles = {result.id: result.title for _, results in book.committee for result in results}
    rows = []
    for property_id in ids:
        row = [code(property_id), titles[property_id]]
        for _, results in book.committee:
            verdicts = {result.id: result for result in results}
            result = verdicts.get(property_id)
            row.append("—" if result is None else result.verdict)
        rows.append(row)
    lines.extend(table(["Property", "Statement", *[symbol for symbol, _ in book.committee]], rows))
    lines.append("")
    hows: dict[tuple[str, str], list[str]] = {}
    for symbol, results in book.committee:
        for result in results:
            hows.setdefault((result.id, result.how), []).append(symbol)
    lines.extend(
        table(
            ["Property", "Instruments", "How it was decided"],
            [[code(pid), ", ".join(symbols), how] for (pid, how), symbols in sorted(hows.items())],
        )
    )
    lines.append("")
    for symbol, results in book.committee:
        for result in results:
            if result.counterexample:
                lines.append(f"**{symbol} {result.id} counterexample**")
                lines.append("")
                lines.extend(f"- {line}" for line in result.counterexample)
                lines.append("")
    return lines


def render_instruments(book: Rulebook) -> str:
    """Every parameter of every shipped instrument."""
    lines = _header(book, "Instruments")
    lines.append("[Back to the index](README.md)")
    lines.append("")
    lines.append(
        "Every parameter of every shipped instrument file (`specs/instruments/*.toml`), as loaded and "
        "validated by `rules/instrument_file.py`. Units and meanings come from `rules/instrument.py`; "
        "bounds are the load-time checks."
    )
    lines.append("")
    lines.extend(_parameter_rows(book, None))
    lines.extend(_derived_rows(book))
    lines.extend(_fee_tier_rows(book))
    lines.extend(_committee_section(book))
    return "\n".join(lines).rstrip("\n") + "\n"


def render_index(book: Rulebook) -> str:
    """specs/README.md: every rule and invariant with its status; proved vs tested vs trusted."""
    lines = _header(book, "The perpspec rulebook")
    lines.extend(
        [
            "This is the rulebook of a BitMEX-style perpetual-futures exchange, generated from the code "
            "that runs it (`rules/`), the instrument files, the proof obligations (`proofs/`) and the "
            "tests (`tests/`). Regenerate with `perpspec spec`; a repository test fails when this "
            "directory is out of date. Compare with an older version with `perpspec spec --diff REF`.",
            "",
            "Statuses: **proved (unbounded)** — Z3 proved the obligation for all integer inputs; "
            "**proved for k ≤ n** — proved for up to n accounts, candidates or steps (the bound is "
            "stated); **tested, waived (kind)** — no proof, but test functions name the rule and a "
            f"reviewed waiver in [`{coverage.WAIVER_FILE}`]({coverage.WAIVER_FILE}) says why; "
            "**tested only** — tests but no waiver (a gap); **not checked** — neither (a gap). "
            "`perpspec prove --coverage` fails while any gap remains. "
            "Statuses come from the last actual run of the "
            f"obligations, recorded in [`{STATUS_FILE}`]({STATUS_FILE}) with the fingerprint of the "
            "sources it ran on.",
            "",
        ]
    )
    lines.extend(_coverage_lines(book, book.rules, "## Coverage summary"))
    lines.extend(["## Pages", ""])
    areas = [*AREAS] + ([OTHER_AREA] if any(area_of(rule.id) == OTHER_AREA for rule in book.rules) else [])
    page_rows = []
    for area in areas:
        here = [rule for rule in book.rules if area_of(rule.id) == area]
        counts = book.coverage_counts(here)
        page_rows.append(
            [f"[{area.title}]({area.slug}.md)", ", ".join(area.prefixes) or "—", area.blurb, str(len(here))]
            + [str(counts[name]) for name in coverage.CLASSES]
        )
    page_rows.append(
        ["[Instruments](instruments.md)", "—", "every parameter of every shipped instrument", "—"]
        + ["—" for _ in coverage.CLASSES]
    )
    lines.extend(table(["Page", "Rule ids", "Covers", "Rules", *coverage.CLASSES], page_rows))
    lines.append("")

    proved = [outcome for outcome in book.outcomes if not outcome.known_bad and outcome.strength >= 2]
    failing = [outcome for outcome in book.outcomes if outcome.strength < 0 and not outcome.known_bad]
    waived = [outcome for outcome in book.outcomes if outcome.strength == 1]
    known_bad = [outcome for outcome in book.outcomes if outcome.known_bad]
    statuses = {rule.id: book.status(rule.id) for rule in book.rules}
    lines.extend(["## What is proved", ""])
    if proved:
        lines.append(
            f"{len(proved)} proof obligations hold, each one transition preserving one property, with "
            "satisfiable assumptions (a vacuous proof counts as a failure):"
        )
        lines.append("")
        lines.extend(
            table(
                ["Obligation", "Rules", "Invariants", "Claim", "Status"],
                [
                    [
                        code(outcome.id),
                        ", ".join(_link(rule_id, True) for rule_id in outcome.rule_ids) or "—",
                        ", ".join(outcome.invariant_ids) or "—",
                        outcome.statement,
                        outcome.status,
                    ]
                    for outcome in proved
                ],
            )
        )
    else:
        lines.append("No proof obligation has been run yet.")
    lines.append("")
    if failing:
        lines.extend(["**Failing obligations** (the rulebook is not released while any are listed):", ""])
        lines.extend(
            table(
                ["Obligation", "Status"], [[code(outcome.id), outcome.status] for outcome in failing]
            )
        )
        lines.append("")
    if waived:
        lines.extend(["**Waived obligations**", ""])
        lines.extend(table(["Obligation", "Reason"], [[code(o.id), o.detail] for o in waived]))
        lines.append("")
    if known_bad:
        lines.extend(
            [
                "**The checkers can fail**: deliberately broken variants of rules, each of which must be refuted:",
                "",
            ]
        )
        lines.extend(
            table(["Known-bad variant", "What is broken", "Result"], [[code(o.id), o.statement, o.status] for o in known_bad])
        )
        lines.append("")
    tested_only = [rule_id for rule_id, status in statuses.items() if status == "tested only"]
    unchecked = [rule_id for rule_id, status in statuses.items() if status == "not checked"]
    waived_rules = [rule for rule in book.rules if book.coverage_class(rule.id) == "tested, waived"]
    lines.extend(["## What is tested, with a written waiver", ""])
    lines.append(
        f"These rules have no proof obligation. Each has a reviewed waiver in [`{coverage.WAIVER_FILE}`]"
        f"({coverage.WAIVER_FILE}) and test functions that name it. Waiver kinds:"
    )
    lines.append("")
    lines.extend(table(["Kind", "Meaning"], [[code(kind), text] for kind, text in coverage.WAIVER_KINDS.items()]))
    lines.append("")
    if waived_rules:
        lines.extend(
            table(
                ["Rule", "Kind", "Why no proof", "Tests"],
                [
                    [
                        _link(rule.id, True),
                        book.waivers[rule.id].kind,
                        book.waivers[rule.id].reason,
                        str(len(book.test_functions.get(rule.id, ()))),
                    ]
                    for rule in waived_rules
                ],
            )
        )
        lines.append("")
    if tested_only:
        lines.append(
            "**Tested only, no waiver** (a coverage gap): "
            + ", ".join(_link(rule_id, True) for rule_id in tested_only)
            + "."
        )
        lines.append("")
    if unchecked:
        lines.append(
            "**Not checked** — neither proved nor named by any test (a coverage gap): "
            + ", ".join(_link(rule_id, True) for rule_id in unchecked)
            + "."
        )
        lines.append("")
    lines.extend(["## What is trusted", ""])
    lines.append(
        "Not proved: the code that runs the proved kernels or feeds them. The stateful tests drive the "
        "whole path (engine included) with every registered invariant checked after every step, but "
        "these components are trusted rather than verified — the matching engine's book code, the "
        "journal I/O, the parsing of human numbers and files, the CLI, and the proof machinery itself "
        "(the symbolic integer's encoding of Python semantics, and Z3)."
    )
    lines.append("")
    lines.extend(table(["Component", "What it is"], [[code(path), text] for path, text in book.trusted]))
    lines.append("")
    lines.extend(["## All rules", ""])
    lines.extend(
        table(
            ["Rule", "What it does", "Source", "Status", "Test functions"],
            [
                [
                    _link(rule.id, True),
                    rule.summary,
                    code(f"{rule.path}:{rule.qualname}"),
                    statuses[rule.id],
                    str(len(book.test_functions.get(rule.id, ()))),
                ]
                for rule in book.rules
            ],
        )
    )
    lines.append("")
    duplicates = sorted({rule.id for rule in book.rules if sum(1 for r in book.rules if r.id == rule.id) > 1})
    if duplicates:
        lines.append("**Duplicate rule ids** (each id must name one rule): " + ", ".join(duplicates))
        lines.append("")
    lines.extend(["## All invariants", ""])
    for inv_id, statement in book.invariants:
        outcomes = [o for o in book.outcomes_for_invariant(inv_id) if not o.known_bad]
        rules_text = ", ".join(
            sorted({_link(rule_id, True) for outcome in outcomes for rule_id in outcome.rule_ids})
        )
        tests = book.mentions.get(inv_id, ())
        lines.append(f'<a id="{inv_id.lower()}"></a>')
        lines.append(f"### {inv_id}")
        lines.append("")
        lines.append(statement)
        lines.append("")
        lines.append(f"**Status: {book.status(inv_id)}**" + (f" · proved for rules {rules_text}" if rules_text else ""))
        lines.append("")
        stated_with = book.invariant_rules.get(inv_id, ())
        if stated_with:
            lines.append("Its check is computed with: " + ", ".join(_link(rule_id, True) for rule_id in stated_with))
            lines.append("")
        if outcomes:
            lines.extend(table(["Obligation", "Status"], [[code(o.id), o.status] for o in outcomes]))
            lines.append("")
        if tests:
            lines.append("Tests: " + ", ".join(code(test) for test in tests))
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def render_rulebook(book: Rulebook) -> dict[str, str]:
    """``file name -> text`` for every generated file of ``specs/``."""
    pages = {"README.md": render_index(book), "instruments.md": render_instruments(book)}
    for area in AREAS:
        pages[f"{area.slug}.md"] = render_area(area, book)
    if any(area_of(rule.id) == OTHER_AREA for rule in book.rules):
        pages[f"{OTHER_AREA.slug}.md"] = render_area(OTHER_AREA, book)
    pages[STATUS_FILE] = render_status(book.fingerprint, book.outcomes)
    return pages


GENERATED_PATTERNS = ("*.md", STATUS_FILE)


def stale_files(out_dir: Path, pages: Mapping[str, str]) -> list[str]:
    """Generated-looking files in ``out_dir`` that the current rulebook no longer produces."""
    present = {path.name for pattern in GENERATED_PATTERNS for path in out_dir.glob(pattern)}
    return sorted(present - set(pages))


def write_rulebook(out_dir: Path, pages: Mapping[str, str]) -> list[str]:
    """Write the pages (removing stale generated pages); the names of files that changed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    changed = []
    for name in stale_files(out_dir, pages):
        (out_dir / name).unlink()
        changed.append(name)
    for name, text in sorted(pages.items()):
        path = out_dir / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed.append(name)
    return sorted(changed)
