"""proofs.prover: a given counterexample refutes by evaluation; the assumptions' check comes after the goal's queries."""

from __future__ import annotations

from perpspec.proofs.prover import Prover, Status


def test_a_witness_violating_the_goal_refutes_it_without_a_search() -> None:
    with Prover(timeout_ms=5_000) as prover:
        x, y = prover.symbol("x"), prover.symbol("y")
        prover.assume(x > 0, "x positive")
        prover.witness(x=3, y=-1)
        result = prover.prove(x * y > 0, "product positive")
    assert result.counterexample is not None
    assert (result.status, result.detail, dict(result.counterexample.values)) == (
        Status.REFUTED,
        "goal violated (at the given witness)",
        {"x": 3, "y": -1},
    )


def test_a_witness_outside_the_assumptions_refutes_nothing() -> None:
    with Prover(timeout_ms=5_000) as prover:
        x = prover.symbol("x")
        prover.assume(x > 0, "x positive")
        prover.witness(x=-5)  # violates the assumption: not a counterexample
        result = prover.prove(x * x > 0, "square positive")
    assert result.status is Status.PROVED


def test_a_witness_satisfying_the_goal_leaves_the_proof_to_the_solver() -> None:
    with Prover(timeout_ms=5_000) as prover:
        x = prover.symbol("x")
        prover.assume(x > 1, "x above one")
        prover.witness(x=2)
        proved = prover.prove(x * x > x, "square above x")
        refuted = prover.prove(x * x > 4, "square above four (false at 2, the witness; the solver finds it too)")
    assert [proved.status, refuted.status] == [Status.PROVED, Status.REFUTED]


def test_a_division_by_zero_at_the_witness_refutes() -> None:
    with Prover(timeout_ms=5_000) as prover:
        x, d = prover.symbol("x"), prover.symbol("d")
        prover.witness(x=1, d=0)
        result = prover.prove((x // d) * 0 == 0, "a tautology over a division")
    assert (result.status, result.detail) == (Status.REFUTED, "division by zero (at the given witness)")


def test_unsatisfiable_assumptions_are_still_vacuous_when_checked_after_the_goal() -> None:
    with Prover(timeout_ms=5_000) as prover:
        x = prover.symbol("x")
        prover.assume(x * x < 0, "impossible")
        result = prover.prove(x == 1, "anything")
    assert result.status is Status.VACUOUS
