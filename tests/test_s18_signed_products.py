"""Products emitted on a factor's sign (speed18a): mypyc's native multiply, still proved equal to the rules.

Compiled with mypyc, ``a * b`` multiplies natively only when both factors are
at least 0 and below 2^30; a contract value's ``-(qty // lot) * lot_value`` is
negative for every buy, so it ran through Python's big integers (about 0.6k
instructions each, 13 per op on the bench).  The emitter now writes such a
product as ``a * b if a >= 0 else -((-a) * b)``.  These tests pin:

* the form is emitted where it matters (the value products of the XBTUSD
  kernels on the order path), and only for a negated factor times a
  non-negative one;
* the emitted kernels are still proved equal to the rules, through the two
  signed-product lemmas (proved on their own, never assumed);
* a signed product whose negative arm is left unnegated (``|a| * b``) is
  refuted, and the swap-ite known-bad still finds a selection whose arms differ;
* the sign analysis is not trusted: claiming a factor non-negative when it is
  not changes only the emitted form's speed, never what is proved.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from perpspec.proofs import lemmas
from perpspec.proofs.prover import Status
from perpspec.proofs.specialise import emit
from perpspec.proofs.specialise.catalogue import kernel_named
from perpspec.proofs.specialise.equivalence import _signed_product_shape, mutate, prove_equivalence
from perpspec.proofs.specialise.generate import kernel_path, render_module
from perpspec.proofs.specialise.trace import Graph
from perpspec.rules.instrument_file import load_instrument
from tests.kernel_mutants import assert_refuted_by_evaluation

ROOT = Path(__file__).resolve().parent.parent
HOT = ("order_term", "pretrade_cross", "order_solvent_cross", "fill_cross", "trade", "value", "equity_term")


def _source(symbol: str, name: str) -> str:
    """The committed module holding ``symbol``'s kernel ``name``."""
    return (ROOT / kernel_path(symbol, name)).read_text(encoding="utf-8")


def _signed_products(source: str, name: str) -> list[tuple[str, str, str]]:
    function = next(
        node for node in ast.parse(source).body if isinstance(node, ast.FunctionDef) and node.name == name
    )
    found = [_signed_product_shape(node) for node in ast.walk(function) if isinstance(node, ast.IfExp)]
    return [shape for shape in found if shape is not None]


@pytest.mark.parametrize("name", HOT)
def test_the_order_path_value_products_are_emitted_on_their_sign(name: str) -> None:
    shapes = _signed_products(_source("XBTUSD", name), name)
    assert shapes, name
    assert all(shape == "left" for shape, _, _ in shapes), shapes


@pytest.mark.parametrize("lemma", [lemmas.SIGNED_PRODUCT_LEFT, lemmas.SIGNED_PRODUCT_RIGHT])
def test_the_signed_product_lemmas_are_proved(lemma: lemmas.Lemma) -> None:
    assert lemma.prove().status is Status.PROVED


@pytest.mark.parametrize("name", HOT)
def test_the_hot_kernels_are_proved_equal_to_the_rules(name: str) -> None:
    for symbol in ("XBTUSD", "XBTZ26"):
        result = prove_equivalence(kernel_named(name), load_instrument(symbol), _source(symbol, name), name)
        assert result.status is Status.PROVED, (symbol, result.detail)


@pytest.mark.parametrize("name", ["fill_cross", "order_solvent_cross", "value"])
def test_a_signed_product_left_unnegated_is_refuted(name: str) -> None:
    mutated = mutate(_source("XBTUSD", name), name, "signed-product-unnegated")
    result = prove_equivalence(kernel_named(name), load_instrument("XBTUSD"), mutated, "known-bad")
    assert_refuted_by_evaluation(kernel_named(name), load_instrument("XBTUSD"), mutated, result)


def test_swap_ite_skips_signed_products_and_is_still_refuted() -> None:
    source = _source("XBTUSD", "trade")
    mutated = mutate(source, "trade", "swap-ite")
    result = prove_equivalence(kernel_named("trade"), load_instrument("XBTUSD"), mutated, "known-bad")
    assert_refuted_by_evaluation(kernel_named("trade"), load_instrument("XBTUSD"), mutated, result)


def test_the_sign_analysis_is_not_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    """The analysis inverted (every node it knows non-negative claimed unknown, every other one claimed
    non-negative): the emitted text differs, and the proof still decides it on its own."""
    inst = load_instrument("XBTUSD")
    honest = emit._nonnegative_nodes

    def inverted(graph: Graph, inputs: frozenset[str]) -> set[int]:
        return {node.index for node in graph.nodes} - honest(graph, inputs)

    monkeypatch.setattr(emit, "_nonnegative_nodes", inverted)
    source = render_module(inst, "cross")  # fill_cross and order_term
    assert source != _source("XBTUSD", "fill_cross")
    for name in ("fill_cross", "order_term"):
        result = prove_equivalence(kernel_named(name), inst, source, "inverted sign analysis")
        assert result.status is Status.PROVED, (name, result.detail)
