"""Rule coverage (proofs/coverage.py), path exploration (proofs/paths.py) and the mutator (proofs/mutate.py)."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from perpspec.proofs import coverage, mutate, paths, rulebook
from perpspec.proofs.prover import Prover, Status
from perpspec.rules.num import and_

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def book() -> rulebook.Rulebook:
    """The repository's rules (functions and labels) and waivers, with no outcomes (cheap: no committee proofs, no
    proof run)."""
    functions = rulebook.discover_rules(ROOT)
    return rulebook.Rulebook(
        version="0",
        fingerprint="",
        rules=(*functions, *rulebook.discover_labels(functions, rulebook.find_label_uses(ROOT))),
        invariants=(),
        outcomes=(),
        mentions={},
        examples=(),
        instruments=(),
        trusted=(),
        module_docs={},
        example_users={},
        committee=(),
        applied_by={},
        invariant_rules={},
        engine_docs=(),
        waivers=coverage.load_waivers(ROOT),
    )


def _write_waivers(tmp_path: Path, text: str) -> Path:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / coverage.WAIVER_FILE).write_text(text)
    return tmp_path


def test_a_waiver_needs_a_known_kind(tmp_path: Path) -> None:
    root = _write_waivers(tmp_path, '["ZZZ-900"]\nkind = "too-hard"\nreason = "we did not get round to proving it"\n')
    with pytest.raises(coverage.WaiverError, match="kind"):
        coverage.load_waivers(root)


def test_a_waiver_needs_a_written_reason_not_a_word(tmp_path: Path) -> None:
    root = _write_waivers(tmp_path, '["ZZZ-900"]\nkind = "presentation"\nreason = "display"\n')
    with pytest.raises(coverage.WaiverError, match="reason"):
        coverage.load_waivers(root)


def test_a_waiver_with_tests_reads_tested_waived_and_without_tests_is_not_checked(book: rulebook.Rulebook) -> None:
    waiver = coverage.Waiver(rule_id="ZZZ-900", kind="presentation", reason="shows rows and moves no money at all")
    with_tests = attrs.evolve(
        book, outcomes=(), waivers={"ZZZ-900": waiver}, test_functions={"ZZZ-900": ("tests/test_x.py::test_y",)}
    )
    without_tests = attrs.evolve(book, outcomes=(), waivers={"ZZZ-900": waiver}, test_functions={}, mentions={})
    assert (with_tests.status("ZZZ-900"), with_tests.coverage_class("ZZZ-900")) == (
        "tested, waived (presentation)",
        "tested, waived",
    )
    assert without_tests.coverage_class("ZZZ-900") == "not checked"


def test_tests_without_a_waiver_are_a_gap(book: rulebook.Rulebook) -> None:
    tested = attrs.evolve(book, outcomes=(), waivers={}, test_functions={"ZZZ-900": ("tests/test_x.py::test_y",)})
    assert (tested.status("ZZZ-900"), tested.coverage_class("ZZZ-900")) == ("tested only", "tested only, no waiver")


def test_a_test_function_names_a_rule_by_id_or_by_calling_its_function(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text(
        "def test_a():\n    '''ZZZ-900: named.'''\n\n\ndef test_b():\n    compute_thing(1)\n\n\ndef helper():\n    compute_thing(2)\n"
    )
    found = coverage.find_test_functions(tmp_path, {"ZZZ-901": "compute_thing"})
    assert found == {"ZZZ-900": ("tests/test_x.py::test_a",), "ZZZ-901": ("tests/test_x.py::test_b",)}


def test_coverage_command_exits_1_while_a_rule_is_not_checked(
    book: rulebook.Rulebook, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from perpspec.engine.cli.prove import run_coverage

    gap = attrs.evolve(book, rules=book.rules[:1], outcomes=(), waivers={}, test_functions={}, mentions={})
    monkeypatch.setattr(rulebook, "build_rulebook", lambda *args, **kwargs: (gap, 0))
    assert run_coverage(None, False) == 1
    assert f"gaps: {book.rules[0].id} (not checked)" in capsys.readouterr().out


def test_every_waiver_in_specs_names_a_rule_that_exists(book: rulebook.Rulebook) -> None:
    ids = {rule.id for rule in book.rules}
    assert sorted(set(book.waivers) - ids) == []


def _check(amount: int, limit: int) -> str | None:
    if amount <= 0:
        return "non-positive"
    if amount > limit:
        return "too much"
    return None


def test_path_exploration_proves_a_branching_check_and_refutes_a_wrong_statement() -> None:
    with Prover(timeout_ms=5_000) as prover:
        amount, limit = prover.symbol("amount"), prover.symbol("limit")
        explored = paths.explore(lambda: _check(amount, limit))
        right = prover.prove(paths.paths_goal(explored, lambda r: _iff(r is None, and_(amount > 0, amount <= limit))), "right")
        wrong = prover.prove(paths.paths_goal(explored, lambda r: _iff(r is None, and_(amount > 0, amount < limit))), "wrong")
    assert (len(explored), right.status, wrong.status) == (3, Status.PROVED, Status.REFUTED)


def _iff(left: bool, right: bool) -> bool:
    from perpspec.rules.num import not_, or_

    return or_(and_(left, right), and_(not_(left), not_(right)))


def test_a_symbolic_condition_still_has_no_truth_value_outside_exploration() -> None:
    with Prover(timeout_ms=5_000) as prover:
        amount = prover.symbol("amount")
        with pytest.raises(TypeError):
            bool(amount > 0)


def test_the_mutator_plants_a_rounding_slip_in_the_live_rule_function() -> None:
    from perpspec.rules import margin

    site = next(s for s in mutate.enumerate_sites() if s.id == "MRG-003:compute_pos_init:rounding:0")
    original = margin.compute_pos_init.__code__
    try:
        before = margin.compute_pos_init(1, 1)  # ceil(1 / 1e6) = 1
        mutate.apply(site)
        after = margin.compute_pos_init(1, 1)  # floored: 0
    finally:
        margin.compute_pos_init.__code__ = original
    assert (before, after) == (1, 0)


def test_mutant_selection_takes_every_kind_of_slip() -> None:
    chosen = mutate.select(mutate.enumerate_sites(), 20)
    assert {site.kind for site in chosen} == {"rounding", "strictness", "sign", "dropped-clause"}


@pytest.mark.deep
def test_a_small_mutation_run_reports_both_verdicts(tmp_path: Path) -> None:
    out = tmp_path / "mutation.json"
    assert mutate.main(["--limit", "2", "--out", str(out)]) == 0
    import json

    summary = json.loads(out.read_text())["summary"]
    assert summary["mutants"] == 2


def test_a_proof_ending_unknown_on_a_mutant_is_not_a_kill(monkeypatch: pytest.MonkeyPatch) -> None:
    """suite21: ``run_proofs`` counted any result other than the expected one as a kill, ``unknown`` included (the
    solver gave up: nothing shown about the mutant).  Now an ``unknown`` is listed and the search goes on; a refuted
    proof still kills."""
    from perpspec.proofs import registry

    obligations = [o for o in registry.discover() if o.rule_id in ("MRG-003", "MRG-004") and o.expect == "proved"][:2]
    assert len(obligations) == 2
    statuses = iter([Status.UNKNOWN, Status.REFUTED])
    real = registry.run_obligation

    def fake(obligation: registry.Obligation, timeout_ms: int) -> registry.Outcome:
        result = attrs.evolve(real(obligation, timeout_ms).result, status=next(statuses))
        return registry.Outcome(obligation=obligation, result=result)

    monkeypatch.setattr(registry, "discover", lambda: obligations)
    monkeypatch.setattr(registry, "run_obligation", fake)
    verdict = mutate.run_proofs({"MRG-003", "MRG-004"}, 10_000)
    assert verdict["unknown"] == [f"{obligations[0].id}: unknown"]
    assert verdict["by"] == [f"{obligations[1].id}: refuted"]
    assert verdict["killed"] is True
    statuses = iter([Status.UNKNOWN, Status.UNKNOWN])
    verdict = mutate.run_proofs({"MRG-003", "MRG-004"}, 10_000)
    assert (verdict["killed"], len(verdict["unknown"])) == (False, 2)
