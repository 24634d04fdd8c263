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


def rest_to_markdown(docstring: str) -> str:
    """reST roles and literals of a docstring as Markdown."""
    text = re.sub(r":(?:func|class|mod|data|meth|attr):`~?([^`]+)`", r"`\1`", docstring)
    return text.replace("``", "`")
