"""proofs.prover and proofs.registry: vacuity, unknown and refutations are reported as such."""

from __future__ import annotations

import functools

import pytest

from perpspec.proofs.prover import ProofResult, Prover, Status, current_timeout_ms, timeout_override
from perpspec.proofs.registry import Obligation, discover, is_expected, obligation_modules, run_obligation
from perpspec.rules.position import Position


def test_unsatisfiable_assumptions_make_the_proof_vacuous() -> None:
    with Prover(timeout_ms=5_000) as prover:
        x = prover.symbol("x")
        prover.assume(x > 0, "positive")
        prover.assume(x < 0, "negative")
        result = prover.prove(x == 7, "anything")
    assert result.status == Status.VACUOUS


def test_a_true_goal_under_satisfiable_assumptions_is_proved() -> None:
    with Prover(timeout_ms=5_000) as prover:
        x = prover.symbol("x")
        prover.assume(x > 0, "positive")
        result = prover.prove(x + 1 > 1, "x + 1 > 1")
    assert result.status == Status.PROVED


def test_a_refutation_decodes_records_and_scalars_into_concrete_values() -> None:
    with Prover(timeout_ms=5_000) as prover:
        position = prover.record(Position, "position")
        price = prover.symbol("price")
        prover.assume(position.qty == 3, "qty three")
        prover.assume(position.cost == 4, "cost four")
        prover.assume(price == 5, "price five")
        result = prover.prove(position.qty + position.cost != 7, "sum is not seven")
    assert result.counterexample is not None
    assert (Status.REFUTED, Position(qty=3, cost=4), 5) == (
        result.status,
        result.counterexample.build(Position, "position"),
        result.counterexample.get("price"),
    )


def test_a_counterexample_renders_as_python_ready_to_paste() -> None:
    with Prover(timeout_ms=5_000) as prover:
        position = prover.record(Position, "position")
        price = prover.symbol("price")
        prover.assume(position.qty == -2, "qty")
        prover.assume(position.cost == 10, "cost")
        prover.assume(price == 50, "price")
        result = prover.prove(price < 0, "price negative")
    assert result.counterexample is not None
    assert result.counterexample.text == "position = Position(cost=10, qty=-2)\nprice = 50"


def test_a_possible_division_by_zero_refutes_an_otherwise_true_goal() -> None:
    with Prover(timeout_ms=5_000) as prover:
        numerator, divisor = prover.symbol("numerator"), prover.symbol("divisor")
        quotient = numerator // divisor
        result = prover.prove(quotient == quotient, "tautology over a division")
    assert result.counterexample is not None
    assert (
        result.status,
        result.counterexample.get("divisor"),
        result.detail,
    ) == (Status.REFUTED, 0, "division by zero: divisor")


def test_a_division_in_the_untaken_arm_still_needs_a_nonzero_divisor() -> None:
    # Python evaluates both arms of rules.num.ite, so it would raise here.
    from perpspec.rules.num import ite

    with Prover(timeout_ms=5_000) as prover:
        qty = prover.symbol("qty")
        value = ite(qty == 0, 0, 100 // qty)
        result = prover.prove(value == value, "unguarded division in an ite arm")
    assert result.status == Status.REFUTED


def test_solver_giving_up_is_unknown_and_a_failure() -> None:
    # Fermat's cubic: nonlinear integer arithmetic that Z3 cannot settle in 50 ms.
    with Prover(timeout_ms=50) as prover:
        x, y, z = prover.symbol("x"), prover.symbol("y"), prover.symbol("z")
        for name, value in (("x", x), ("y", y), ("z", z)):
            prover.assume(value > 1, f"{name} > 1")
        result = prover.prove(x * x * x + y * y * y != z * z * z, "Fermat n = 3")
    obligation = Obligation(id="t", rule_id="T", invariant_id="T", statement="t", run=lambda: result)
    assert (result.status, is_expected(obligation, result)) == (Status.UNKNOWN, False)


def test_timeout_override_applies_to_provers_built_inside_it() -> None:
    with timeout_override(1234):
        inside = Prover().timeout_ms
    assert (1234, current_timeout_ms()) == (inside, Prover().timeout_ms)


def _result(status: Status, with_counterexample: bool) -> ProofResult:
    from perpspec.proofs.prover import Counterexample

    counterexample = Counterexample(values={"x": 1}, text="x = 1") if with_counterexample else None
    return ProofResult(label="t", status=status, time_us=1, counterexample=counterexample)


@pytest.mark.parametrize(
    ("expect", "status", "with_counterexample", "passed"),
    [
        ("proved", Status.PROVED, False, True),
        ("proved", Status.REFUTED, True, False),
        ("proved", Status.UNKNOWN, False, False),
        ("proved", Status.VACUOUS, False, False),
        ("refuted", Status.REFUTED, True, True),
        ("refuted", Status.REFUTED, False, False),
        ("refuted", Status.PROVED, False, False),
        ("refuted", Status.UNKNOWN, False, False),
        ("refuted", Status.VACUOUS, False, False),
    ],
)
def test_an_outcome_passes_only_when_it_is_the_expected_one(
    expect: str, status: Status, with_counterexample: bool, passed: bool
) -> None:
    obligation = Obligation(
        id="t",
        rule_id="T",
        invariant_id="T",
        statement="t",
        run=functools.partial(_result, status, with_counterexample),
        expect=expect,  # type: ignore[arg-type]
    )
    assert passed == run_obligation(obligation).passed


def test_an_obligation_that_raises_is_a_reported_failure() -> None:
    def crash() -> ProofResult:
        raise ValueError("boom")

    outcome = run_obligation(Obligation(id="t", rule_id="T", invariant_id="T", statement="t", run=crash))
    assert (outcome.passed, outcome.status_text, outcome.error) == (False, "error", "ValueError: boom")


def test_obligation_modules_are_discovered_in_sorted_order() -> None:
    modules = obligation_modules()
    assert ("perpspec.proofs.obligations_core" in modules, sorted(modules)) == (True, modules)


def test_discovery_registers_the_core_obligations() -> None:
    ids = {obligation.id for obligation in discover()}
    assert {"ACC-002/commission-rounding", "ACC-004/conservation/XBTUSD"} <= ids


def test_a_goal_resting_on_a_false_lemma_is_not_proved() -> None:
    from perpspec.proofs.prover import Lemma

    false_lemma = Lemma(
        name="every positive x exceeds 10 (false)",
        params=("x",),
        premise=lambda x: x > 0,
        conclusion=lambda x: x > 10,
    )
    with Prover(timeout_ms=5_000) as prover:
        y = prover.symbol("y")
        prover.assume(y == 3, "y is three")
        prover.use(false_lemma, y)
        result = prover.prove(y > 10, "y exceeds 10")
    assert (result.status, "lemma every positive x exceeds 10" in result.detail) == (Status.REFUTED, True)


def test_a_goal_that_chains_proved_lemmas_is_proved_by_lemmas() -> None:
    from perpspec.proofs.prover import Lemma

    doubling = Lemma(
        name="x > 0 implies 2x > x", params=("x",), premise=lambda x: x > 0, conclusion=lambda x: 2 * x > x
    )
    with Prover(timeout_ms=5_000) as prover:
        y = prover.symbol("y")
        prover.assume(y > 0, "y positive")
        prover.use(doubling, y)
        result = prover.prove(2 * y > y, "2y > y")
    assert (result.status, result.detail) == (Status.PROVED, "by lemmas")


def test_a_witness_that_satisfies_the_assumptions_settles_vacuity() -> None:
    with Prover(timeout_ms=5_000) as prover:
        x = prover.symbol("x")
        prover.assume(x * x * x == 27, "a cube")
        prover.witness(x=3)
        vacuity = prover.check_assumptions()
    assert str(vacuity) == "sat"


def test_a_wrong_witness_does_not_hide_vacuous_assumptions() -> None:
    with Prover(timeout_ms=5_000) as prover:
        x = prover.symbol("x")
        prover.assume(x > 0, "positive")
        prover.assume(x < 0, "negative")
        prover.witness(x=1)
        result = prover.prove(x == x, "anything")
    assert result.status == Status.VACUOUS


@pytest.mark.parametrize("contradictory", [False, True], ids=["satisfiable", "contradictory"])
def test_prove_all_of_no_goals_is_refused_not_proved(contradictory: bool) -> None:
    """redteam25 (part 2a): ``prove_all([])`` returned PROVED without checking the assumptions (no query ran), so an
    obligation whose goal list came out empty passed even on contradictory assumptions.  Now refused; and a
    one-goal list still goes through the satisfiability check (VACUOUS on a contradiction)."""
    with Prover(timeout_ms=5_000) as prover:
        x = prover.symbol("x")
        prover.assume(x > 0, "positive")
        if contradictory:
            prover.assume(x < 0, "negative")
        with pytest.raises(ValueError, match="at least one goal"):
            prover.prove_all([], "nothing")
        result = prover.prove_all([(x == x, "x = x")], "one goal")
    assert result.status == (Status.VACUOUS if contradictory else Status.PROVED)


def test_an_obligation_proving_no_goals_fails() -> None:
    """The refusal reaches the registry as a failed obligation, never a pass."""

    def no_goals() -> ProofResult:
        with Prover(timeout_ms=5_000) as prover:
            prover.assume(prover.symbol("x") < 0, "negative")
            return prover.prove_all([], "no goals")

    outcome = run_obligation(Obligation(id="TEST/no-goals", rule_id="TEST", invariant_id="TEST", statement="nothing", run=no_goals))
    # failed because it was refused (an error naming why), not merely "not passed" (an unknown would be that too)
    assert (outcome.passed, outcome.status_text) == (False, "error"), outcome
    assert "at least one goal" in outcome.error, outcome.error
