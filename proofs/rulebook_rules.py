"""The rulebook generator, part 1: rule ids, the areas (pages), and the rules found in ``rules/``.

See :mod:`proofs.rulebook` for what the generator does.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import textwrap
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs

from perpspec import rules
from perpspec.rules.instrument import Instrument

ROOT = Path(rules.__file__).resolve().parent.parent
RULE_ID = re.compile(r"^([A-Z]{3})-(\d{3})(?![\w'’-]):?\s*(.*)$", re.DOTALL)  # not "MRG-020's …"
ANY_RULE_ID = re.compile(r"\b([A-Z]{3}-\d{3})\b")
INVARIANT_ID = re.compile(r"\bINV-[A-Z0-9]+(?:-[A-Z0-9]+)*\b")
STATUS_FILE = "proof-status.json"
TEST_INDEX_FILE = "test-index.json"  # generated: tests naming each id, for a copy installed without tests/
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
    uses: tuple[LabelUse, ...] = ()  # a label (no function of its own): where rules/ write it, ``source`` their code


@attrs.frozen(kw_only=True)
class LabelUse:
    """Where code writes a rule id into an event or a posting: ``rule_id="LIQ-020"``, or an id as a call's argument
    (``apply_fund_movement(..., "INS-011")``)."""

    rule_id: str
    path: str  # repository-relative
    qualname: str  # the enclosing function ("" at module level)
    line: int
    source: str  # the statement that writes it
    record: str  # the called class or function (``OrdersCancelled``, ``apply_fund_movement``)
    concrete: bool  # the enclosing function is @concrete
    function: str  # the enclosing function's source, decorators included ("" at module level)


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")  # a line as the tokenizer counts them, its end kept


class SourceLines:
    """A module's text split into lines once: :meth:`segment` is :func:`ast.get_source_segment` without
    re-splitting the whole text at every call (which made reading every function of engine/ quadratic)."""

    def __init__(self, text: str) -> None:
        self.lines: list[str] = _LINE.findall(text)

    def segment(self, node: ast.AST, *, padded: bool = False) -> str | None:
        """The source of ``node``, as :func:`ast.get_source_segment` (Python 3.11) gives it."""
        end_lineno: int | None = getattr(node, "end_lineno", None)
        end_col: int | None = getattr(node, "end_col_offset", None)
        if end_lineno is None or end_col is None:
            return None
        first: int = node.lineno - 1  # type: ignore[attr-defined]
        col: int = node.col_offset  # type: ignore[attr-defined]
        last = end_lineno - 1
        if first == last:
            return self.lines[first].encode()[col:end_col].decode()
        head = self.lines[first].encode()
        padding = "".join(c if c in "\f\t" else " " for c in head[:col].decode()) if padded else ""
        return "".join(
            [padding + head[col:].decode(), *self.lines[first + 1 : last], self.lines[last].encode()[:end_col].decode()]
        )


EXACT_RULE_ID = re.compile(r"[A-Z]{3}-\d{3}")
LABEL_FOLDERS = ("rules", "engine")  # where a rule id written into an event, a posting or a finding is looked for


def find_label_uses(root: Path = ROOT, folders: Sequence[str] = LABEL_FOLDERS) -> list[LabelUse]:
    """Every rule id that code in ``folders`` writes as a value: a ``rule_id=`` argument (any string constant in it,
    ``"ADL-031" if ... else "ADL-032"`` too) or a call's positional string argument that is exactly a rule id.

    These are the ids event logs, postings, audit findings and explanations carry; each needs a rulebook entry
    (:func:`discover_labels` makes one for an id no rule function has)."""
    found: list[LabelUse] = []
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            text = path.read_text()
            _label_visit(ast.parse(text, relative), SourceLines(text), relative, ("", False, ""), None, found)
    return found


def _label_visit(
    node: ast.AST,
    text: SourceLines,
    path: str,
    scope: tuple[str, bool, str],
    statement: ast.stmt | None,
    found: list[LabelUse],
) -> None:
    qualname, concrete, function = scope
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            decorated = any("concrete" in ast.unparse(decorator) for decorator in child.decorator_list)
            inner = f"{qualname}.{child.name}" if qualname else child.name
            own = function
            if not isinstance(child, ast.ClassDef):
                decorators = "".join(f"@{text.segment(item)}\n" for item in child.decorator_list)
                own = textwrap.dedent(decorators + (text.segment(child, padded=True) or "")).rstrip("\n")
            _label_visit(child, text, path, (inner, decorated or concrete, own), None, found)
            continue
        here = child if isinstance(child, ast.stmt) else statement
        if isinstance(child, ast.Call):
            values = [keyword.value for keyword in child.keywords if keyword.arg == "rule_id"]
            values += [argument for argument in child.args if isinstance(argument, ast.Constant)]
            for value in values:
                for constant in ast.walk(value):
                    if (
                        isinstance(constant, ast.Constant)
                        and isinstance(constant.value, str)
                        and EXACT_RULE_ID.fullmatch(constant.value)
                    ):
                        source = text.segment(here, padded=True) if here is not None else None
                        found.append(
                            LabelUse(
                                rule_id=constant.value,
                                path=path,
                                qualname=qualname,
                                line=constant.lineno,
                                source=textwrap.dedent(source or ast.unparse(child)).rstrip("\n"),
                                record=ast.unparse(child.func).split(".")[-1],
                                concrete=concrete,
                                function=function,
                            )
                        )
        _label_visit(child, text, path, scope, here, found)


LABEL_STATEMENTS: dict[str, tuple[str, str]] = {
    "INS-011": (
        "InsuranceMovement",
        "a liquidated pool's residual margin moves to the insurance fund; a pool left owing draws on it, capped.\n"
        "What the pool has left at the take-over prices is paid in (kind `residual`); a pool left owing is topped up "
        "by the fund as far as the fund reaches (kind `draw`, capped by INS-003), so the fund stays ≥ 0 and the "
        "account may be left owing.  Posted by LIQ-023's take-over (`_take_over`) after the `Liquidation` event, "
        "outside any close-out "
        "(`pending_id` -1); the fund's other movements are INS-005 (close-out fills) and INS-008 (deposits).",
    ),
}
"""Reviewed statements of the rule ids written as labels whose event class states another id (INS-011 is
recorded as an INS-010 ``InsuranceMovement``): ``id -> (event class, statement)``.  Kept with the generator, not in
``rules/``, so that stating a label does not change the sources every proof obligation is fingerprinted on."""


def event_statements() -> dict[str, tuple[str, str]]:
    """``rule id -> (event class, statement)`` of the classes of ``rules/events.py`` whose docstring opens with an
    id, and the ids :data:`LABEL_STATEMENTS` states."""
    from perpspec.rules import events

    stated: dict[str, tuple[str, str]] = dict(LABEL_STATEMENTS)
    for name, value in vars(events).items():
        if inspect.isclass(value) and value.__module__ == events.__name__:
            match = RULE_ID.match(inspect.getdoc(value) or "")
            if match is not None:
                stated.setdefault(f"{match.group(1)}-{match.group(2)}", (name, match.group(3).strip()))
    return stated


def discover_labels(found: Sequence[Rule], uses: Sequence[LabelUse]) -> list[Rule]:
    """A rulebook entry for every rule id that ``rules/`` writes into an event or a posting and that no rule
    function carries (INS-011, LIQ-020, ...: labels of steps inside other rules' functions, redteam23_1).

    The entry states what ``rules/events.py`` says of the id (the event class it is recorded as, or
    ``LABEL_STATEMENTS``), names every function of ``rules/`` that writes it, and shows those statements as its
    source.  An id with no statement is a :class:`RulebookError`: the rulebook never shows an empty entry.
    """
    functions = {rule.id for rule in found}
    owners = {(rule.path, rule.qualname): rule.id for rule in found}
    stated = event_statements()
    by_id: dict[str, list[LabelUse]] = {}
    for use in uses:
        if use.path.startswith("rules/") and use.rule_id not in functions:
            by_id.setdefault(use.rule_id, []).append(use)
    labels = []
    for rule_id, here in sorted(by_id.items()):
        if rule_id not in stated:
            where = ", ".join(f"{use.path}:{use.line}" for use in here)
            raise RulebookError(
                f"{rule_id} is written by {where} but no rule function carries it and rules/events.py states nothing"
                " for it: give its event class a docstring opening with the id, or state it in LABEL_STATEMENTS"
            )
        record, statement = stated[rule_id]
        first = here[0]
        recorded = f"\n\nRecorded as the event `{record}` (`rules/events.py`)." if record else ""
        shown: list[str] = []
        for use in here:
            within = owners.get((use.path, use.qualname))
            if within is not None:  # inside a rule function of its own: the statement, and whose it is
                shown.append(f"# {use.path}:{use.line}, in {use.qualname} ({within})\n{use.source}")
            elif use.function and f"# {use.path}, {use.qualname}\n{use.function}" not in shown:
                shown.append(f"# {use.path}, {use.qualname}\n{use.function}")  # a helper: the whole step
        labels.append(
            Rule(
                id=rule_id,
                qualname=first.qualname,
                module=f"rules.{Path(first.path).stem}",
                path=first.path,
                line=first.line,
                summary=rest_to_markdown(statement.split("\n")[0].strip()),
                docstring=f"{rule_id}: {statement}{recorded}",
                source="\n\n".join(shown),
                reads=(),
                concrete=all(use.concrete for use in here),
                uses=tuple(here),
            )
        )
    return labels


class RulebookError(Exception):
    """The rulebook cannot be generated (a rules module does not import)."""


def rule_modules(root: Path = ROOT) -> list[str]:
    """``rules.<name>`` for every module file in ``rules/``, sorted."""
    return [f"rules.{path.stem}" for path in sorted((root / "rules").glob("*.py")) if path.stem != "__init__"]


def instrument_attributes() -> tuple[str, ...]:
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
    attributes = instrument_attributes()
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
                    summary=rest_to_markdown(match.group(3).split("\n")[0].strip()),
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
    lines = SourceLines(text)
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
                segment = lines.segment(node, padded=True) or ""
                decorators = "".join(
                    f"@{lines.segment(decorator)}\n" for decorator in node.decorator_list
                )
                found.append((rule_id, f"{prefix}{node.name}", textwrap.dedent(decorators + segment)))

    visit(tree.body, "")
    return found


def rest_to_markdown(docstring: str) -> str:
    """reST roles and literals of a docstring as Markdown."""
    text = re.sub(r":(?:func|class|mod|data|meth|attr):`~?([^`]+)`", r"`\1`", docstring)
    return text.replace("``", "`")
