"""Rule coverage: is every rule proved, or tested and waived in writing?

A rule of ``rules/`` is *covered* when the rulebook can show one of:

* **proved (unbounded)** — an obligation about it is proved for all integers;
* **proved for k ≤ n** — proved for a stated bound (the bound is on the page);
* **tested, waived** — named test functions exercise it *and* a reviewed
  waiver in ``specs/waivers.toml`` says why no proof is given.

Anything else is a gap: **tested only** (tests, but no written waiver),
**not checked** (neither), or a failing obligation.  ``perpspec prove
--coverage`` exits non-zero while any gap remains.

Waivers are hand-written, reviewed text (never a default): one table per rule
id with a ``kind`` from :data:`WAIVER_KINDS` and a ``reason``.  A waiver only
counts when at least one test *function* (``def test_*`` under ``tests/``)
names the rule — mentions its id in its source (name, docstring, decorators,
body) or calls its function by name — so every waived rule is shown with the
tests that stand in for the proof.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

import attrs

WAIVER_FILE = "waivers.toml"
RULE_ID_TEXT = re.compile(r"\b([A-Z]{3}-\d{3})\b")

# Why a proof may be waived, and what each kind means (shown on the index page).
WAIVER_KINDS: dict[str, str] = {
    "concrete-only": (
        "the rule runs on Python ints only (@concrete): it loops over records, sorts, builds "
        "events or branches on Optional values, outside the symbolic integer fragment the prover "
        "evaluates; its integer kernels are proved separately where they exist"
    ),
    "presentation": "presentation-only: it formats or orders rows for display and moves no money",
    "proved-within": (
        "a building block with no statement of its own: its code runs, unchanged, inside the proof "
        "obligations of the rules named in the reason, which state what it must preserve"
    ),
    "solver-unknown": "Z3 answers unknown on the natural statement (the reason is given)",
    "not-integer-fragment": "the property is not expressible in the integer fragment (the reason is given)",
}

# Coverage classes, in the order the summaries list them.
COVERED = ("proved (unbounded)", "proved for k ≤ n", "tested, waived")
GAPS = ("tested only, no waiver", "not checked", "failing")
CLASSES = COVERED + GAPS


@attrs.frozen(kw_only=True)
class Waiver:
    """A reviewed reason why a rule is tested rather than proved."""

    rule_id: str
    kind: str
    reason: str


class WaiverError(Exception):
    """``specs/waivers.toml`` is malformed (unknown kind, empty reason, not a rule id)."""


def load_waivers(root: Path) -> dict[str, Waiver]:
    """Every waiver of ``specs/waivers.toml`` (none when the file is absent)."""
    path = root / "specs" / WAIVER_FILE
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    waivers: dict[str, Waiver] = {}
    for rule_id, entry in sorted(data.items()):
        if not re.fullmatch(r"[A-Z]{3}-\d{3}", rule_id) or not isinstance(entry, Mapping):
            raise WaiverError(f"{path.name}: [{rule_id}] is not a rule id with a table")
        kind, reason = entry.get("kind"), entry.get("reason")
        if kind not in WAIVER_KINDS:
            raise WaiverError(f"{path.name}: [{rule_id}] kind {kind!r} is not one of {sorted(WAIVER_KINDS)}")
        if not isinstance(reason, str) or len(reason.split()) < 5:
            raise WaiverError(f"{path.name}: [{rule_id}] needs a written reason (a sentence, not a word)")
        unknown = set(entry) - {"kind", "reason"}
        if unknown:
            raise WaiverError(f"{path.name}: [{rule_id}] unknown keys {sorted(unknown)}")
        waivers[rule_id] = Waiver(rule_id=rule_id, kind=str(kind), reason=" ".join(reason.split()))
    return waivers


def _test_functions(tree: ast.Module) -> Iterable[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_"):
            yield node


def find_test_functions(root: Path, callables: Mapping[str, str] | None = None) -> dict[str, tuple[str, ...]]:
    """``rule id -> ("tests/test_x.py::test_y", ...)``: test functions that name the rule.

    A test function names a rule when its source (decorators, name, docstring, body)
    mentions the rule id, or calls the rule's function by name (``callables``:
    rule id -> function name, e.g. ``"IDX-004" -> "process_index_tick"``).
    """
    # each pattern with the text it must contain: the substring test is cheap and rules out almost every pair
    calls = {
        rule_id: (f"{name}(", re.compile(rf"\b{re.escape(name)}\(")) for rule_id, name in (callables or {}).items()
    }
    found: dict[str, set[str]] = {}
    for path in sorted((root / "tests").rglob("test_*.py")):
        text = path.read_text()
        lines = text.splitlines()
        relative = path.relative_to(root).as_posix()
        for node in _test_functions(ast.parse(text, str(path))):
            first = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])
            source = "\n".join(lines[first - 1 : node.end_lineno])
            named = set(RULE_ID_TEXT.findall(source))
            named.update(
                rule_id for rule_id, (needle, pattern) in calls.items() if needle in source and pattern.search(source)
            )
            for rule_id in named:
                found.setdefault(rule_id, set()).add(f"{relative}::{node.name}")
    return {rule_id: tuple(sorted(names)) for rule_id, names in found.items()}


def classify(status: str, waived: bool) -> str:
    """The coverage class of a rule from its rulebook status text."""
    if status.startswith("FAILS"):
        return "failing"
    if status == "proved (unbounded)":
        return "proved (unbounded)"
    if status.startswith("proved for"):
        return "proved for k ≤ n"
    if status.startswith("tested, waived"):
        return "tested, waived"
    if status.startswith("tested only") or (waived and status != "not checked"):
        return "tested only, no waiver"
    return "not checked"


def count_classes(classes: Iterable[str]) -> dict[str, int]:
    """How many rules fall in each coverage class (every class listed, zeros included)."""
    counts = dict.fromkeys(CLASSES, 0)
    for name in classes:
        counts[name] += 1
    return counts
