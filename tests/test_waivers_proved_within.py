"""A "proved-within" waiver is true: the waived rule's code runs inside the obligations of the rules it names.

proofs/coverage.py defines the kind: "a building block with no statement of its own: its code runs, unchanged,
inside the proof obligations of the rules named in the reason".  Red team 6 (redteam6_5) found two waivers
whose claim nothing checked and which were false (MRG-034 ran in no obligation; LIQ-049 only in KRN
equivalences, never in the LIQ-040/044 obligations its waiver named).  This test runs every expect-proved
obligation of the named rules with the solver stubbed out (nothing is decided, only which rule code executes)
and a profiler on the waived functions.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

import pytest

from perpspec.proofs import coverage, registry
from perpspec.proofs import prover as prover_module
from perpspec.proofs.rulebook_rules import discover_rules

ROOT = Path(__file__).resolve().parent.parent


def _proved_within() -> dict[str, coverage.Waiver]:
    return {rule_id: w for rule_id, w in coverage.load_waivers(ROOT).items() if w.kind == "proved-within"}


def _code_of(rule_id: str) -> list[CodeType]:
    """The code objects of the functions in rules/ whose docstring carries ``rule_id``."""
    codes = []
    for rule in discover_rules(ROOT):
        if rule.id != rule_id:
            continue
        target: Any = importlib.import_module("perpspec." + rule.module)
        for part in rule.qualname.split("."):
            target = getattr(target, part)
        codes.append(target.__code__)
    return codes


def _named_rules(rule_id: str, waiver: coverage.Waiver) -> set[str]:
    return set(re.findall(r"\b[A-Z]{3}-\d{3}\b", waiver.reason)) - {rule_id}


def _obligations_of(rules: set[str]) -> list[registry.Obligation]:
    return [
        obligation
        for obligation in registry.discover()
        if obligation.expect == "proved" and (obligation.rule_id in rules or obligation.id.split("/")[0] in rules)
    ]


def _run_unsolved(obligations: list[registry.Obligation], codes: list[CodeType]) -> list[str]:
    """Ids of the obligations whose run calls one of ``codes`` (every solver query answered "proved" unsolved)."""
    wanted = set(codes)
    current = [""]
    hits: set[str] = set()

    def profile(frame: FrameType, event: str, _arg: object) -> None:
        if event == "call" and frame.f_code in wanted:
            hits.add(current[0])

    previous: Callable[..., Any] | None = sys.getprofile()
    for obligation in obligations:
        current[0] = obligation.id
        sys.setprofile(profile)
        try:
            registry.run_obligation(obligation, 1_000)
        finally:
            sys.setprofile(previous)
    return sorted(hits)


@pytest.fixture
def unsolved(monkeypatch: pytest.MonkeyPatch) -> None:
    def prove(self: prover_module.Prover, goal: object, label: str) -> prover_module.ProofResult:
        del self, goal
        return prover_module.ProofResult(label=label, status=prover_module.Status.PROVED, time_us=0)

    monkeypatch.setattr(prover_module.Prover, "prove", prove)


def test_the_waivers_of_redteam6_5_are_gone_their_rules_have_obligations() -> None:
    waivers = _proved_within()
    ids = {obligation.id.split("/")[0] for obligation in registry.discover() if obligation.expect == "proved"}
    assert ("LIQ-049" in waivers, "MRG-034" in waivers) == (False, False)
    assert {"LIQ-049", "MRG-034"} <= ids


@pytest.mark.parametrize("rule_id", sorted(_proved_within()))
def test_a_proved_within_waiver_names_obligations_that_run_its_code(rule_id: str, unsolved: None) -> None:
    del unsolved
    waiver = _proved_within()[rule_id]
    named = _named_rules(rule_id, waiver)
    obligations = _obligations_of(named)
    assert obligations, f"{rule_id}: its waiver names no rule with an obligation expected proved ({sorted(named)})"
    codes = _code_of(rule_id)
    assert codes, f"{rule_id}: no function in rules/ carries the id"
    ran_in = _run_unsolved(obligations, codes)
    assert ran_in != [], f"{rule_id}: none of the {len(obligations)} obligations of {sorted(named)} runs its code"


def test_the_check_sees_a_waiver_whose_code_runs_in_no_named_obligation(unsolved: None) -> None:
    """The check itself can fail: MRG-034's old waiver (it named MRG-033, whose obligations never run it)."""
    del unsolved
    obligations = _obligations_of({"MRG-033"})
    assert obligations != []
    assert _run_unsolved(obligations, _code_of("MRG-034")) == []
    assert _run_unsolved(obligations, _code_of("MRG-033")) != []
