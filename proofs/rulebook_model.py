"""The rulebook generator: the model of the book (:class:`Rulebook`) and :func:`build_rulebook`.

See :mod:`proofs.rulebook` for what the generator does.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from perpspec.proofs import coverage
from perpspec.proofs.rulebook_data import (
    Example,
    example_users,
    find_test_mentions,
    load_examples,
    load_instruments,
    read_test_index,
)
from perpspec.proofs.rulebook_rules import (
    ROOT,
    STATUS_FILE,
    TEST_INDEX_FILE,
    VERSION_FILE,
    Rule,
    discover_rules,
    extract_rules_from_source,
)
from perpspec.proofs.rulebook_status import Outcome, proof_outcomes
from perpspec.rules.instrument import Instrument

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
        """The overall status of a rule or invariant id.

        A rule is shown proved (unbounded) only when every invariant it is proved to preserve has an unbounded
        proof: the status is the weakest over its invariants (each invariant's strongest proof), and a rule with
        some invariants proved only with a bound names them (ADL-020, red team 19).  An invariant's status is
        its strongest proof.
        """
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
            return _proved_status(identifier, proved)
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


def _proved_status(identifier: str, proved: Sequence[Outcome]) -> str:
    """``proved (unbounded)`` when each invariant of ``identifier`` (a rule; an invariant is its own one) has an
    unbounded proof; else ``proved for <bounds>`` of the invariants proved only with a bound, naming them and the
    unbounded ones when a rule has both."""
    by_invariant: dict[str, list[Outcome]] = {}
    for outcome in proved:
        keys = outcome.invariant_ids if identifier in outcome.rule_ids and outcome.invariant_ids else (identifier,)
        for key in keys:
            by_invariant.setdefault(key, []).append(outcome)
    bounded = sorted(key for key, outcomes in by_invariant.items() if all(outcome.bound for outcome in outcomes))
    if not bounded:
        return "proved (unbounded)"
    bounds = sorted({outcome.bound for key in bounded for outcome in by_invariant[key]})
    text = "proved for " + ", ".join(bounds)
    unbounded = sorted(set(by_invariant) - set(bounded))
    if unbounded:
        text += f" ({', '.join(bounded)}; unbounded: {', '.join(unbounded)})"
    return text


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
    if (root / "tests").is_dir():
        mentions = find_test_mentions(root)
        users = example_users(root, (example.file for example in examples))
    else:  # an installed perpspec ships no tests: the index written with the pages stands in for them
        mentions, users = read_test_index(root / "specs" / TEST_INDEX_FILE)
    modules = sorted({rule.module for rule in found})
    module_docs = {name: inspect.getdoc(importlib.import_module(f"perpspec.{name}")) or "" for name in modules}
    book = Rulebook(
        version=read_version(root),
        fingerprint=fingerprint,
        rules=tuple(found),
        invariants=tuple((inv.id, inv.statement) for inv in REGISTRY.values()),
        outcomes=tuple(outcomes),
        mentions=mentions,
        examples=tuple(examples),
        instruments=tuple(load_instruments(root)),
        trusted=_trusted_components(root),
        module_docs=module_docs,
        example_users=users,
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


