"""The rulebook generator: the model of the book (:class:`Rulebook`) and :func:`build_rulebook`.

See :mod:`proofs.rulebook` for what the generator does.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib
import inspect
import re
from collections.abc import Callable, Mapping, Sequence
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
    LabelUse,
    Rule,
    discover_labels,
    discover_rules,
    extract_rules_from_source,
    find_label_uses,
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
    label_uses: tuple[LabelUse, ...] = ()  # every rule id rules/ and engine/ write into events, postings, findings

    def outcomes_for_rule(self, rule_id: str) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if rule_id in outcome.rule_ids]

    def outcomes_for_invariant(self, invariant_id: str) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if invariant_id in outcome.invariant_ids]

    def status(self, identifier: str) -> str:
        """The overall status of a rule or invariant id.

        A rule is shown proved (unbounded) only when none of its obligations is proved only with a bound, save
        those a reviewed decomposition covers (:data:`DECOMPOSITIONS`): the status is the weakest over its
        invariants, each invariant's the weakest of its obligations (review19_3), and a rule with some
        invariants held to a bound names them (ADL-020, red team 19).  An invariant's status is its strongest
        proof.
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
            text = _proved_status(identifier, proved, self.outcomes)
            missing = self.unproved_instruments(identifier, proved)
            if not missing:
                return text
            covered = sorted({symbol for outcome in proved for symbol in _symbols_of(outcome.id, self.instruments)})
            scope = f"{', '.join(covered)} only ({', '.join(missing)}: not proved)"
            return f"proved for {scope}" if text == "proved (unbounded)" else f"{text}; {scope}"
        waived = [outcome for outcome in relevant if outcome.strength == 1]
        waiver = self.waivers.get(identifier)
        if waiver is not None and self.test_functions.get(identifier):
            return f"tested, waived ({waiver.kind})"
        if self.mentions.get(identifier) or self.test_functions.get(identifier):
            return "tested only"
        if waived:
            return f"waived: {waived[0].detail}"
        return "not checked"

    def unproved_instruments(self, rule_id: str, proved: Sequence[Outcome]) -> list[str]:
        """The shipped instruments a rule applies to that none of its per-instrument proofs covers (redteam26_1).

        Empty when some proof of the rule names no instrument (it holds for any), or when no proof of it is per
        instrument.  A rule applies to the shipped perpetuals unless :data:`INSTRUMENT_KINDS` names its kind.
        """
        if not any(rule_id in outcome.rule_ids for outcome in proved):
            return []  # an invariant: its status is its strongest proof
        covered: set[str] = set()
        for outcome in proved:
            symbols = _symbols_of(outcome.id, self.instruments)
            if not symbols:
                return []
            covered |= symbols
        kind = INSTRUMENT_KINDS.get(rule_id)
        applies = [inst.symbol for _, inst in self.instruments if (kind[1] if kind else _is_perpetual)(inst)]
        return sorted(set(applies) - covered)

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


def _is_perpetual(inst: Instrument) -> bool:
    return inst.expiry_ms is None


def _is_inverse(inst: Instrument) -> bool:
    return inst.is_inverse


def _is_dated(inst: Instrument) -> bool:
    return inst.expiry_ms is not None


def _symbols_of(obligation_id: str, instruments: Sequence[tuple[str, Instrument]]) -> set[str]:
    """The shipped instruments an obligation id names (its path segments)."""
    parts = set(obligation_id.split("/"))
    return {inst.symbol for _, inst in instruments if inst.symbol in parts}


# Rules that apply only to one kind of contract (reviewed): their status names a missing instrument of that kind
# only.  Every other rule applies to the shipped perpetuals; the dated future XBTZ26 is proved only where its own
# obligations are listed (specs/README.md says so).
INSTRUMENT_KINDS: Mapping[str, tuple[str, Callable[[Instrument], bool]]] = {
    "CON-001": ("inverse contracts", _is_inverse),
    "SET-003": ("dated futures", _is_dated),
}


@attrs.frozen(kw_only=True)
class Decomposition:
    """Bounded obligations whose statement, for any size, follows from unbounded ones (reviewed by hand).

    A rule's bounded obligation is masked (the rule may show ``proved (unbounded)``) only when it is ``covered`` by
    a decomposition here and every one of its ``covering`` obligations is proved with no bound.
    """

    covered: str  # fnmatch pattern of the bounded obligation ids covered
    covering: tuple[str, ...]  # the unbounded obligations that together state the covered claim for any size
    why: str


# Each is an induction (base case among the covered, step from an arbitrary state satisfying the loop's invariant:
# proofs/obligations_inductive.py) or a statement over totals that the induction links to the per-item sum.
# Not here, so its bound shows: SET-003/conservation/XBTZ26 (k = 4 holders).  Its per-position lemma is unbounded,
# but the step from per-position to any number of holders is argued, not proved: it needs the additivity of
# XBTZ26's values over lots (CON-002/value-additive-over-lots is proved for the perpetuals only).  FND-020's
# */short/any-cost (mark ≥ 2 price units) are not covered by */short (its cost a value at a price in range): that
# is a narrower claim, not a decomposition of the wider one (review19_3).
DECOMPOSITIONS: tuple[Decomposition, ...] = (
    Decomposition(
        covered="ADL-010/ranked-queue/within-bounds/k=*",
        covering=("ADL-010/ranked-queue/inductive-step",),
        why="induction over the candidates: the empty prefix satisfies the invariant, the step preserves it",
    ),
    Decomposition(
        covered="ADL-031/cover/k=*",
        covering=("ADL-031/cover/inductive-step",),
        why="induction over the held positions (the step also proves the empty case: cover = fund)",
    ),
    Decomposition(
        covered="MRG-032/sum/k=*",
        covering=("MRG-032/sum/inductive-step",),
        why="induction over the positions (the step also proves the empty case: excess = wallet)",
    ),
    Decomposition(
        covered="MRG-034/backing-is-pool-excess/k=*",
        covering=("MRG-034/backing-is-pool-excess/totals", "MRG-032/sum/inductive-step"),
        why="the backing is the pool's equity − maintenance for any totals, and MRG-032's induction makes those "
        "totals the excess over any number of members (the k = n proofs also assume the others open)",
    ),
)


def _covered(outcome: Outcome, everything: Sequence[Outcome]) -> bool:
    """Whether a bounded ``outcome`` is covered by a :data:`DECOMPOSITIONS` entry whose covering obligations are
    all proved with no bound."""
    unbounded = {other.id for other in everything if other.result == "proved" and not other.bound and not other.known_bad}
    return any(
        fnmatch.fnmatchcase(outcome.id, entry.covered) and set(entry.covering) <= unbounded for entry in DECOMPOSITIONS
    )


BOUND_SIZE = re.compile(r"([a-z]) = (\d+) (.+)")  # "k = 8 candidates": a size bound (var, n, what is counted)
CASE_SIZE = re.compile(r"/[a-z]=\d+$")  # an obligation id's size suffix: the rest of the id names its case


def bound_texts(outcomes: Sequence[Outcome]) -> list[str]:
    """What ``outcomes`` (bounded proofs of one invariant) prove together, the weakest case first.

    A size bound (``k = n <what>``) becomes ``k ≤ n <what>`` with ``n`` the smallest, over the cases (the obligation
    id without its ``/k=n``: instrument, side, ...), of the largest size proved in that case: ADL-020's
    INV-CONSERVATION, proved for k ≤ 8 candidates on XBTUSD and k ≤ 2 on ETHUSD and XBTUSDT, is proved for k ≤ 2
    (redteam23_2: the union of the bounds stated k = 8).  Any other bound is stated as recorded.
    """
    largest: dict[tuple[str, str], dict[str, int]] = {}
    other: set[str] = set()
    for outcome in outcomes:
        size = BOUND_SIZE.fullmatch(outcome.bound)
        if size is None:
            other.add(outcome.bound)
            continue
        case = CASE_SIZE.sub("", outcome.id)
        cases = largest.setdefault((size.group(1), size.group(3)), {})
        cases[case] = max(cases.get(case, 0), int(size.group(2)))
    sized = sorted((min(cases.values()), var, what) for (var, what), cases in largest.items())
    return [f"{var} ≤ {n} {what}" for n, var, what in sized] + sorted(other)


def _proved_status(identifier: str, proved: Sequence[Outcome], everything: Sequence[Outcome] | None = None) -> str:
    """``proved (unbounded)`` when no invariant of ``identifier`` is held back by a bound; else ``proved for
    <bound> (<invariants>); ...`` per invariant held to a bound (:func:`bound_texts`: its weakest case's), naming
    the invariants when a rule has more than one bound or also unbounded ones.

    A rule (``identifier`` in an outcome's rule ids): per invariant the weakest of its obligations, each case
    (instrument, side, ...) being a claim of its own: one obligation proved only with a bound holds the invariant
    to that bound (review19_3: FND-020's XBTUSD short, proved for a mark ≥ 2 price units), unless a
    :data:`DECOMPOSITIONS` entry covers it with unbounded proofs (found in ``everything``, default ``proved``).
    An invariant (or a rule-level property): its strongest proof, a bounded one stated as for a rule.
    """
    everything = proved if everything is None else everything
    by_invariant: dict[str, list[Outcome]] = {}
    for outcome in proved:
        keys = outcome.invariant_ids if identifier in outcome.rule_ids and outcome.invariant_ids else (identifier,)
        for key in keys:
            by_invariant.setdefault(key, []).append(outcome)
    is_rule = any(identifier in outcome.rule_ids for outcome in proved)
    limiting: dict[str, list[Outcome]] = {}
    for key, outcomes in by_invariant.items():
        if is_rule:
            limiting[key] = [outcome for outcome in outcomes if outcome.bound and not _covered(outcome, everything)]
        else:
            limiting[key] = outcomes if all(outcome.bound for outcome in outcomes) else []
    bounded = sorted(key for key, outcomes in limiting.items() if outcomes)
    if not bounded:
        return "proved (unbounded)"
    groups: dict[tuple[str, ...], list[str]] = {}
    for key in bounded:
        groups.setdefault(tuple(bound_texts(limiting[key])), []).append(key)
    unbounded = sorted(set(by_invariant) - set(bounded))
    if len(groups) == 1 and not unbounded:
        return "proved for " + ", ".join(next(iter(groups)))
    ordered = sorted(groups.items(), key=lambda item: ([int(n) for n in re.findall(r"\d+", item[0][0])], item[0]))
    text = "proved for " + "; ".join(f"{', '.join(texts)} ({', '.join(keys)})" for texts, keys in ordered)
    if unbounded:
        text += f"; unbounded: {', '.join(unbounded)}"
    return text


MARKDOWN_ANCHOR = re.compile(r'<a id="([^"]+)"></a>')
MARKDOWN_LINK = re.compile(r"\]\(([\w.-]*\.md)?#([^)\s]+)\)")


def _heading_slug(heading: str) -> str:
    """The anchor a Markdown renderer gives a heading (GitHub's rule)."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def dangling_references(book: Rulebook, pages: Mapping[str, str]) -> list[str]:
    """What the rulebook names without an entry or an anchor; ``perpspec spec`` fails on any (redteam23_1).

    * a rule id an obligation is recorded for, with no rule entry;
    * a rule id ``rules/`` or ``engine/`` writes into an event, a posting or a finding (:attr:`Rulebook.label_uses`:
      what event logs, ``explain`` and the simulation report link), with no rule entry;
    * a link ``(page.md#anchor)`` or ``(#anchor)`` of a generated page to a generated page without that anchor.
    """
    entries = {rule.id for rule in book.rules}
    problems = sorted(
        {
            f"obligation {outcome.id} is recorded for {rule_id}, which has no rulebook entry"
            for outcome in book.outcomes
            for rule_id in outcome.rule_ids
            if rule_id not in entries
        }
    )
    problems += [
        f"{use.path}:{use.line} ({use.qualname or 'module'}) writes {use.rule_id}, which has no rulebook entry"
        for use in book.label_uses
        if use.rule_id not in entries
    ]
    anchors = {
        name: set(MARKDOWN_ANCHOR.findall(text))
        | {_heading_slug(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}
        for name, text in pages.items()
        if name.endswith(".md")
    }
    for name, text in sorted(pages.items()):
        for page, fragment in MARKDOWN_LINK.findall(text):
            target = page or name
            if target in anchors and fragment not in anchors[target]:
                problems.append(f"{name} links {target}#{fragment}, which has no such anchor")
    return list(dict.fromkeys(problems))


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

    uses = find_label_uses(root)
    labels = discover_labels(found, uses)
    applied_by = engine_applications(root)
    for label in labels:  # the engine functions that write a label: where the engine applies it
        writers = sorted({f"{use.path}:{use.qualname}" for use in uses if use.rule_id == label.id
                          and use.path.startswith("engine/core/")})
        applied_by[label.id] = tuple(dict.fromkeys((*applied_by.get(label.id, ()), *writers)))

    status_path = stored_status if stored_status is not None else root / "specs" / STATUS_FILE
    fingerprint, outcomes, ran = proof_outcomes(status_path, root, rerun, allow_run, timeout_ms)
    examples = load_examples(root)
    if (root / "tests").is_dir():
        mentions = find_test_mentions(root)
        users = example_users(root, (example.file for example in examples))
    else:  # an installed perpspec ships no tests: the index written with the pages stands in for them
        mentions, users = read_test_index(root / "specs" / TEST_INDEX_FILE)
    modules = sorted({rule.module for rule in (*found, *labels)})
    module_docs = {name: inspect.getdoc(importlib.import_module(f"perpspec.{name}")) or "" for name in modules}
    book = Rulebook(
        version=read_version(root),
        fingerprint=fingerprint,
        rules=tuple(sorted((*found, *labels), key=lambda rule: (rule.id, rule.module, rule.qualname))),
        label_uses=tuple(uses),
        invariants=tuple((inv.id, inv.statement) for inv in REGISTRY.values()),
        outcomes=tuple(outcomes),
        mentions=mentions,
        examples=tuple(examples),
        instruments=tuple(load_instruments(root)),
        trusted=_trusted_components(root),
        module_docs=module_docs,
        example_users=users,
        committee=_committee(load_instruments(root)),
        applied_by=applied_by,
        invariant_rules=invariant_rule_calls(found, REGISTRY),
        engine_docs=engine_module_docs(root),
        waivers=coverage.load_waivers(root),
        test_functions=coverage.find_test_functions(
            root, {rule.id: rule.qualname.split(".")[-1] for rule in found if not rule.qualname.split(".")[-1].startswith("_")}
        ),
    )
    return book, ran


