"""proofs.sym: the symbolic integer agrees with Python ints, and refuses to be branched on."""

from __future__ import annotations

import pytest
import z3
from hypothesis import given
from hypothesis import strategies as st

from perpspec.proofs.prover import Prover, Status
from perpspec.proofs.sym import SymBool, SymInt, collecting, sym_int
from perpspec.rules.num import and_, ceildiv, ite, max_, min_, not_, or_, round_half_up_div

BIG = 10**30
integers = st.integers(min_value=-BIG, max_value=BIG)
divisors = integers.filter(lambda value: value != 0)


def evaluate(value: object, **bindings: int) -> int | bool:
    """The value of a symbolic term once its named symbols are bound to integers."""
    assert isinstance(value, (SymInt, SymBool)), value
    pairs = [(z3.Int(name), z3.IntVal(number)) for name, number in bindings.items()]
    result = z3.simplify(z3.substitute(value.term, *pairs))
    if z3.is_bool(result):
        assert z3.is_true(result) or z3.is_false(result), result
        return bool(z3.is_true(result))
    assert z3.is_int_value(result), result
    return int(result.as_long())


@given(numerator=integers, divisor=divisors)
def test_floordiv_of_two_symbols_matches_python_for_every_sign(numerator: int, divisor: int) -> None:
    with collecting():
        quotient = sym_int("n") // sym_int("d")
    assert numerator // divisor == evaluate(quotient, n=numerator, d=divisor)


@given(numerator=integers, divisor=divisors)
def test_mod_of_two_symbols_matches_python_for_every_sign(numerator: int, divisor: int) -> None:
    with collecting():
        remainder = sym_int("n") % sym_int("d")
    assert numerator % divisor == evaluate(remainder, n=numerator, d=divisor)


@given(numerator=integers, divisor=divisors)
def test_floordiv_and_mod_by_a_concrete_divisor_match_python(numerator: int, divisor: int) -> None:
    with collecting() as side:
        quotient = sym_int("n") // divisor
        remainder = sym_int("n") % divisor
    assert (numerator // divisor, numerator % divisor) == (
        evaluate(quotient, n=numerator),
        evaluate(remainder, n=numerator),
    )
    assert side.conditions == []


@given(numerator=integers, divisor=divisors)
def test_concrete_numerator_over_symbolic_divisor_matches_python(numerator: int, divisor: int) -> None:
    with collecting():
        quotient = numerator // sym_int("d")
        remainder = numerator % sym_int("d")
    assert (numerator // divisor, numerator % divisor) == (
        evaluate(quotient, d=divisor),
        evaluate(remainder, d=divisor),
    )


@given(left=integers, right=integers)
def test_mixed_operands_on_either_side_match_python(left: int, right: int) -> None:
    x = sym_int("x")
    results = [x + right, right + x, x - right, right - x, x * right, right * x, -x, +x]
    expected = [left + right, right + left, left - right, right - left, left * right, right * left, -left, left]
    assert expected == [evaluate(result, x=left) for result in results]


@given(left=integers, right=integers)
def test_comparisons_match_python_on_either_side(left: int, right: int) -> None:
    x = sym_int("x")
    results = [x < right, x <= right, x > right, x >= right, x == right, x != right, right < x, right == x]
    expected = [
        left < right,
        left <= right,
        left > right,
        left >= right,
        left == right,
        left != right,
        right < left,
        right == left,
    ]
    assert expected == [evaluate(result, x=left) for result in results]


@given(numerator=integers, divisor=st.integers(min_value=1, max_value=BIG))
def test_named_roundings_of_rules_num_match_python_on_symbols(numerator: int, divisor: int) -> None:
    with collecting():
        up = ceildiv(sym_int("n"), sym_int("d"))  # type: ignore[arg-type]
        nearest = round_half_up_div(sym_int("n"), sym_int("d"))  # type: ignore[arg-type]
    assert (ceildiv(numerator, divisor), round_half_up_div(numerator, divisor)) == (
        evaluate(up, n=numerator, d=divisor),
        evaluate(nearest, n=numerator, d=divisor),
    )


@given(left=st.integers(min_value=-7, max_value=7), right=integers)
def test_value_helpers_of_rules_num_match_python_on_symbols(left: int, right: int) -> None:
    x = sym_int("x")
    results = [
        ite(x > 0, x, right),  # type: ignore[arg-type]
        min_(x, right),  # type: ignore[arg-type]
        max_(x, right),  # type: ignore[arg-type]
        and_(x > 0, right > 0),  # type: ignore[arg-type]
        or_(x > 0, right > 0),  # type: ignore[arg-type]
        not_(x > 0),  # type: ignore[arg-type]
    ]
    expected = [left if left > 0 else right, min(left, right), max(left, right), left > 0 and right > 0]
    expected += [left > 0 or right > 0, not left > 0]
    assert expected == [evaluate(result, x=left) for result in results]


def test_symbolic_division_records_the_divisor_as_a_side_condition() -> None:
    with collecting() as side:
        _ = sym_int("n") // sym_int("d")
    assert [str(condition) for condition in side.conditions] == ["d != 0"]


def test_division_by_concrete_zero_raises_like_python() -> None:
    with collecting(), pytest.raises(ZeroDivisionError):
        _ = sym_int("n") // 0


def test_symbolic_division_outside_a_collector_is_refused() -> None:
    with pytest.raises(RuntimeError, match="outside a side-condition collector"):
        _ = sym_int("n") // sym_int("d")


def test_branching_on_a_symbolic_comparison_raises_type_error() -> None:
    x = sym_int("x")
    with pytest.raises(TypeError, match="no truth value"):
        bool(x > 0)


def test_branching_on_a_symbolic_integer_raises_type_error() -> None:
    with pytest.raises(TypeError, match="no truth value"):
        bool(sym_int("x"))


def test_builtin_min_on_symbols_raises_type_error() -> None:
    with pytest.raises(TypeError):
        min(sym_int("x"), sym_int("y"))


def test_chained_comparison_on_symbols_raises_type_error() -> None:
    with pytest.raises(TypeError):
        _ = 0 < sym_int("x") < 10


def test_builtin_abs_on_a_symbol_raises_type_error() -> None:
    with pytest.raises(TypeError, match="abs_"):
        abs(sym_int("x"))


def test_product_with_a_concrete_int_stays_linear() -> None:
    term = (sym_int("x") * 3 * 5).term
    assert not any(
        z3.is_mul(node) and sum(1 for arg in node.children() if not z3.is_int_value(arg)) > 1
        for node in [term, *term.children()]
    )


def test_guarded_divisor_of_rules_num_ite_is_proved_nonzero() -> None:
    with Prover(timeout_ms=5_000) as prover:
        qty = prover.symbol("qty")
        quotient = 100 // ite(qty == 0, 1, qty)
        result = prover.prove(quotient == quotient, "guarded division")
    assert result.status == Status.PROVED
