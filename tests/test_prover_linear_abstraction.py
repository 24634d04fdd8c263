"""proofs.prover's linear abstraction: it proves only what follows, and LIQ-042 better-price rests on it.

A query is first decided with every nonlinear subterm replaced by a fresh constant (one per distinct
term).  These tests pin that the replacement is consistent and leaves linear terms alone, that an
abstraction which cannot decide falls through to the real query (so false goals are still refuted),
and that the better-price obligations are proved through their lemmas on the abstraction.
"""

from __future__ import annotations

import z3

from perpspec.proofs import lemmas
from perpspec.proofs.obligations_solvency import prove_better_price_no_worse
from perpspec.proofs.prover import Lemma, Prover, Status, is_nonlinear, linear_abstraction
from perpspec.rules.num import and_


def test_each_nonlinear_operator_becomes_an_uninterpreted_function_and_linear_terms_stay() -> None:
    x, y, z = z3.Ints("x y z")
    formula = z3.And(x * y + (x * y) / z > 3, z3.If(x * y > 2, (x * y) % 7, 3 * x + x / 5) == 1)
    text = str(linear_abstraction(formula))
    # x*y and (x*y)/z are nonlinear: functions of their (abstracted) arguments; 3*x, x/5 and % 7 stay
    assert "nonlinear!div!2(nonlinear!*!2(x, y), z)" in text
    assert "nonlinear!*!2(x, y)%7" in text
    assert "3*x + x/5" in text
    assert [is_nonlinear(x * y), is_nonlinear(3 * x), is_nonlinear(x / 5), is_nonlinear(x / z)] == [
        True,
        False,
        False,
        True,
    ]


def test_equal_arguments_give_equal_products_on_the_abstraction() -> None:
    # congruence: a = b ⇒ a·c = b·c follows on the abstraction, with nothing else known about ·
    x, y, z = z3.Ints("x y z")
    solver = z3.Solver()
    solver.add(linear_abstraction(z3.And(x == y, x * z != y * z)))
    assert solver.check() == z3.unsat
    solver = z3.Solver()
    solver.add(linear_abstraction(z3.And(x == 0, x * z != 0)))  # 0·z = 0 needs arithmetic: not on the abstraction
    assert solver.check() == z3.sat


def test_a_nonlinear_fact_alone_is_not_proved_by_the_abstraction_but_by_the_solver() -> None:
    # x*x >= 0 does not follow linearly; the real query still proves it (the abstraction only speeds up)
    square_non_negative = Lemma(
        name="test: y >= 0 when y >= 0", params=("y",), premise=lambda y: y >= 0, conclusion=lambda y: y >= 0
    )
    with Prover(timeout_ms=5_000) as prover:
        x = prover.symbol("x")
        prover.use(square_non_negative, x)
        result = prover.prove(x * x >= 0, "square non-negative")
    assert (result.status, result.detail) == (Status.PROVED, "")


def test_a_false_goal_with_lemmas_in_use_is_still_refuted() -> None:
    product_monotone = lemmas.PRODUCT_MONOTONE
    with Prover(timeout_ms=5_000) as prover:
        k, a, b = prover.symbol("k"), prover.symbol("a"), prover.symbol("b")
        prover.assume(and_(k >= 0, a <= b), "k ≥ 0, a ≤ b")
        prover.use(product_monotone, k, a, b)
        refuted = prover.prove(k * a < k * b, "strictly (false at k = 0)")
        proved = prover.prove(k * a <= k * b + 1, "follows linearly from the lemma instance")
    assert refuted.status is Status.REFUTED
    assert refuted.counterexample is not None
    assert (proved.status, proved.detail) == (Status.PROVED, "1 of 1 queries on the linear abstraction")


def test_better_price_is_proved_through_its_lemmas_on_the_linear_abstraction() -> None:
    # the obligation that used to end `unknown` (0.3 s to > 300 s depending on term numbering)
    result = prove_better_price_no_worse("ETHUSD", 0, -1)
    assert (result.status, result.detail) == (Status.PROVED, "2 of 2 queries on the linear abstraction")


def test_the_better_price_lemmas_are_proved_for_every_instrument_kind() -> None:
    from perpspec.rules.instrument_file import load_instrument

    used = [lemmas.NET_OF_COMMISSION_MONOTONE]
    for symbol in ("XBTUSD", "ETHUSD", "XBTUSDT"):
        inst = load_instrument(symbol)
        used += [lemmas.fill_cash_flow(inst), lemmas.better_fill_value(inst, 1), lemmas.better_fill_value(inst, -1)]
    assert [lemma.prove(20_000).status for lemma in used] == [Status.PROVED] * len(used)


def test_a_wrong_direction_lemma_is_refuted_so_nothing_rests_on_it() -> None:
    # a sell at a *lower* price has a higher value: the lemma with the direction reversed must fail
    from perpspec.rules.contract import compute_value
    from perpspec.rules.instrument_file import load_instrument

    inst = load_instrument("ETHUSD")
    reversed_lemma = Lemma(
        name="test: a sell at a lower price has no higher value",
        params=("fill", "lower", "price"),
        premise=lambda fill, lower, price: and_(and_(fill < 0, lower > 0), lower <= price),
        conclusion=lambda fill, lower, price: compute_value(inst, fill, lower) <= compute_value(inst, fill, price),
    )
    assert reversed_lemma.prove(5_000).status is Status.REFUTED
