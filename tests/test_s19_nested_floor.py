"""Divisions by a scaled divisor emitted as nested floors (session 19, issue 14): native, still proved equal to the rules.

``position_prices_*`` divide ``10^12`` by ``max(step, 1) * tick`` (an inverse price step, MRG-011/012): with a
per-contract step above ``2^30 / tick`` that product left mypyc's native range (about 0.7k instructions per
PositionUpdate on the bench).  The emitter now writes ``n // (a * c)``, ``c`` a positive constant, as
``(n // a) // c``.  These tests pin:

* the lemma ``NESTED_FLOOR`` (``(n // a) // b = n // (a*b)`` for ``a != 0, b > 0``) is proved on its own, and a
  weaker premise (``b != 0``) is refuted: the premise is needed;
* the form is emitted in the inverse instruments' price kernels, and no scaled divisor is left there;
* the emitted kernels are proved equal to the rules through it, and a nested floor whose first division rounds up
  is refuted (a known-bad of ``perpspec prove``);
* on concrete integers the two forms agree, far beyond 2^30.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perpspec.proofs import lemmas
from perpspec.proofs.prover import Lemma, Status
from perpspec.proofs.specialise.catalogue import kernel_named
from perpspec.proofs.specialise.equivalence import _nested_floor_shape, mutate, prove_equivalence
from perpspec.proofs.specialise.generate import kernel_path
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.num import and_
from tests.kernel_mutants import assert_refuted_by_evaluation

ROOT = Path(__file__).resolve().parent.parent
PRICES = ("position_prices_cross", "position_prices_isolated")


def _source(symbol: str, name: str) -> str:
    """The committed module holding ``symbol``'s kernel ``name``."""
    return (ROOT / kernel_path(symbol, name)).read_text(encoding="utf-8")


def _function(source: str, name: str) -> ast.FunctionDef:
    return next(node for node in ast.parse(source).body if isinstance(node, ast.FunctionDef) and node.name == name)


def test_the_nested_floor_lemma_is_proved_and_its_premise_is_needed() -> None:
    assert lemmas.NESTED_FLOOR.prove().status is Status.PROVED
    weaker = Lemma(
        name="nested floor, any non-zero b",
        params=("n", "a", "b"),
        premise=lambda n, a, b: and_(a != 0, b != 0),
        conclusion=lemmas.NESTED_FLOOR.conclusion,
    )
    assert weaker.prove().status is Status.REFUTED


@pytest.mark.parametrize("symbol", ["XBTUSD", "XBTZ26"])
@pytest.mark.parametrize("name", PRICES)
def test_the_inverse_price_steps_divide_natively(symbol: str, name: str) -> None:
    function = _function(_source(symbol, name), name)
    nested = [node for node in ast.walk(function) if _nested_floor_shape(node) is not None]
    assert len(nested) >= 4, ast.unparse(function)  # two sides (long, short) of two prices
    # no division by a product with a constant factor is left: 10^12 // (max(step, 1) * 50)
    assert not re.search(r"// \(\([^()]*\) \* \d+\)", ast.unparse(function))


@pytest.mark.parametrize("symbol", ["XBTUSD", "XBTZ26"])
@pytest.mark.parametrize("name", PRICES)
def test_the_nested_kernels_are_proved_equal_to_the_rules(symbol: str, name: str) -> None:
    result = prove_equivalence(kernel_named(name), load_instrument(symbol), _source(symbol, name), name)
    assert result.status is Status.PROVED, result.detail


@pytest.mark.parametrize("symbol", ["XBTUSD", "XBTZ26"])
def test_a_nested_floor_rounded_up_first_is_refuted(symbol: str) -> None:
    mutated = mutate(_source(symbol, "position_prices_cross"), "position_prices_cross", "nested-floor-inner-ceil")
    result = prove_equivalence(kernel_named("position_prices_cross"), load_instrument(symbol), mutated, "known-bad")
    assert_refuted_by_evaluation(kernel_named("position_prices_cross"), load_instrument(symbol), mutated, result)


@given(
    n=st.integers(-(10**20), 10**20),
    a=st.integers(-(10**15), 10**15).filter(lambda a: a != 0),
    c=st.integers(1, 10**6),
)
def test_the_two_forms_agree_on_integers(n: int, a: int, c: int) -> None:
    assert (n // a) // c == n // (a * c)
