"""proofs/witnesses.py: stored witnesses spare solver queries and never change a status."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from perpspec.proofs import witnesses
from perpspec.proofs.prover import Lemma, ProofResult, Prover, Status
from perpspec.proofs.rulebook_status import dependency_files

ROOT = Path(__file__).resolve().parent.parent


def _positive_x(x: Any, y: Any) -> list[Any]:
    return [x > 0]


def _prove(
    goal_of: Callable[[Any, Any], Any],
    offered: list[dict[str, int]],
    assume_of: Callable[[Any, Any], list[Any]] = _positive_x,
) -> ProofResult:
    with witnesses.offering(tuple(offered)), Prover(timeout_ms=5_000) as prover:
        x, y = prover.symbol("x"), prover.symbol("y")
        for index, condition in enumerate(assume_of(x, y)):
            prover.assume(condition, f"assumption {index}")
        return prover.prove(goal_of(x, y), "goal")


def test_a_stored_witness_violating_the_goal_refutes_it_with_its_values() -> None:
    result = _prove(lambda x, y: x * y > 0, [{"x": 5, "y": 7}, {"x": 3, "y": -1}])
    assert result.counterexample is not None
    assert (result.status, result.detail, dict(result.counterexample.values)) == (
        Status.REFUTED,
        "goal violated (at the given witness)",
        {"x": 3, "y": -1},
    )


def test_a_stored_witness_outside_the_assumptions_neither_refutes_nor_proves() -> None:
    assert _prove(lambda x, y: x * x > 0, [{"x": -5, "y": 0}]).status is Status.PROVED
    # the solver still finds the counterexample the stored witness is not
    assert _prove(lambda x, y: x * y > 0, [{"x": -5, "y": -1}]).status is Status.REFUTED


def test_contradictory_assumptions_stay_vacuous_whatever_is_offered() -> None:
    contradictory = lambda x, y: [x > 0, x < 0]  # noqa: E731
    for offered in ([], [{"x": 1, "y": 0}], [{"x": -1, "y": 0}], [{"x": 0, "y": 0}]):
        result = _prove(lambda x, y: x * x >= 0, offered, contradictory)
        assert result.status is Status.VACUOUS, offered


def test_a_refuted_goal_then_contradictory_assumptions_with_its_counterexample_offered_is_vacuous() -> None:
    refuted = _prove(lambda x, y: x * y > 0, [])
    assert refuted.status is Status.REFUTED
    assert refuted.counterexample is not None
    values = dict(refuted.counterexample.values)
    result = _prove(lambda x, y: x * y > 0, [values], lambda x, y: [x > 0, x < 0, y == values["y"]])
    assert result.status is Status.VACUOUS


def test_a_stale_counterexample_of_a_fixed_bug_leaves_the_proof_to_the_solver() -> None:
    # the known-bad's bug is gone: the goal holds at the old counterexample, so the solver decides (proved)
    result = _prove(lambda x, y: x * x > 0, [{"x": 3, "y": -1}])
    assert (result.status, result.detail) == (Status.PROVED, "")


def test_a_division_by_zero_at_a_stored_witness_is_never_taken_as_true() -> None:
    # y // x with x = 0: the assumption cannot be evaluated there, so the witness is not used (the solver decides)
    result = _prove(lambda x, y: y // x >= 0, [{"x": 0, "y": 1}], lambda x, y: [y // x >= 0, y > 0])
    assert result.status is Status.REFUTED  # x = 0 is a division by zero, found by the solver
    assert result.detail != "division by zero (at the given witness)"


def test_a_lemma_is_offered_its_own_witnesses_not_the_obligations(tmp_path: Path) -> None:
    path = tmp_path / "witnesses.json"
    witnesses.write(path, {"T/one": [{"a": 5}], "lemma:test-square": [{"a": 2}]})
    with witnesses.for_obligation("T/one", path):
        assert witnesses.offered() == ({"a": 5},)
        with witnesses.for_lemma("test-square", path):
            assert witnesses.offered() == ({"a": 2},)
    lemma = Lemma(name="test-square-2", params=("a",), premise=lambda a: a > 1, conclusion=lambda a: a * a > a)
    with witnesses.offering(({"a": 1},)):  # outside the premise; the lemma is offered nothing of it anyway
        assert lemma.prove(timeout_ms=5_000).status is Status.PROVED


def test_recording_keeps_checked_models_and_offers_nothing(tmp_path: Path) -> None:
    recorded: dict[str, list[dict[str, int]]] = {}
    path = tmp_path / "witnesses.json"
    witnesses.write(path, {"T/one": [{"x": 9, "y": 9}]})
    with witnesses.offering((), ("T/outer", recorded)), witnesses.for_obligation("T/one", path):
        assert witnesses.offered() == ()  # while recording, the stored ones are not used
        with Prover(timeout_ms=5_000) as prover:
            x, y = prover.symbol("x"), prover.symbol("y")
            prover.assume(x > 2, "x above two")
            prover.assume(y == x * x, "y the square")
            assert prover.prove(y >= x, "square at least x").status is Status.PROVED
    assert list(recorded) == ["T/one"]
    [values] = recorded["T/one"]
    assert values["x"] > 2
    assert values["y"] == values["x"] ** 2
    with witnesses.for_obligation("T/one", path):
        assert witnesses.offered() == ({"x": 9, "y": 9},)
    with witnesses.for_obligation("T/other", path):
        assert witnesses.offered() == ()


def test_a_damaged_file_offers_nothing(tmp_path: Path) -> None:
    path = tmp_path / "witnesses.json"
    path.write_text('{"witnesses": {"T/one": [{"x": "nine"}]}}', encoding="utf-8")
    assert witnesses.load(path) == {}
    assert witnesses.load(tmp_path / "absent.json") == {}


def test_the_stored_witnesses_are_in_every_obligations_dependency_key() -> None:
    assert witnesses.WITNESS_FILE.exists()
    assert witnesses.WITNESS_FILE in dependency_files(ROOT, "proofs.obligations_core")


def test_a_stored_counterexample_is_tried_after_a_given_witness_that_does_not_refute() -> None:
    with witnesses.offering(({"x": 3, "y": -1},)), Prover(timeout_ms=5_000) as prover:
        x, y = prover.symbol("x"), prover.symbol("y")
        prover.assume(x > 0, "x positive")
        prover.witness(x=1, y=1)  # satisfies the assumptions, not a counterexample
        result = prover.prove(x * y > 0, "product positive")
    assert result.counterexample is not None
    assert (result.status, dict(result.counterexample.values)) == (Status.REFUTED, {"x": 3, "y": -1})
