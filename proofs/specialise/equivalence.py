"""The equivalence proof of one emitted kernel: its source, run symbolically, equals the rules.

For a kernel spec and an instrument, the emitted function's *source text* is
evaluated by :mod:`.interpret` on fresh symbolic integers and the spec's
reference (the rules themselves) on the same symbols; the prover proves every
output equal, and every division of both divisor-safe, under the rules'
preconditions:

* a price parameter is a positive multiple of the tick, at most ``maxPrice``;
  a best bid/ask is 0 (empty side) or such a price;
* a quantity is a whole number of lots;
* an isolated kernel's leverage is at least 0.01x (``leverage_hundredths >= 1``).

Known-bad emitted variants (:func:`mutate`) must be refuted: a ceiling
division turned into a floor (a requirement rounded toward the trader), or the
arms of a selection swapped.
"""

from __future__ import annotations

import ast
import typing

from perpspec.proofs.prover import ProofResult, Prover
from perpspec.proofs.specialise.catalogue import KernelSpec
from perpspec.proofs.specialise.interpret import evaluate, parse_module
from perpspec.proofs.sym import all_of
from perpspec.rules.instrument import Instrument


def assume_preconditions(prover: Prover, spec: KernelSpec, args: dict[str, int]) -> None:
    """The only precondition: every price parameter is positive (a value is divided by its price)."""
    for name in spec.prices:
        prover.assume(args[name] > 0, f"{name} positive")


def witness(spec: KernelSpec, inst: Instrument) -> dict[str, int]:
    """Values satisfying the preconditions (so the vacuity check needs no solver)."""
    values = dict.fromkeys(spec.params, 0)
    for name in spec.prices:
        values[name] = inst.tick_size
    if spec.isolated:
        values["leverage_hundredths"] = 100
    return values


def prove_equivalence(spec: KernelSpec, inst: Instrument, source: str, label: str) -> ProofResult:
    """Prove the function ``spec.name`` of ``source`` equal to ``spec.reference`` for ``inst``."""
    function = parse_module(source)[spec.name]
    if [argument.arg for argument in function.args.args] != list(spec.params):
        raise ValueError(f"{spec.name}: emitted parameters differ from the spec's")
    with Prover() as prover:
        args = {name: prover.symbol(name) for name in spec.params}
        assume_preconditions(prover, spec, args)
        prover.witness(**witness(spec, inst))
        emitted = evaluate(function, args)
        expected = spec.reference(inst, *(args[name] for name in spec.params))
        if len(emitted) != len(expected):
            raise ValueError(f"{spec.name}: {len(emitted)} outputs emitted, {len(expected)} expected")
        goal = all_of(*(typing.cast(bool, got == want) for got, want in zip(emitted, expected, strict=True)))
        return prover.prove(goal, label)


MUTATIONS = ("ceil-as-floor", "swap-ite")


def mutate(source: str, function_name: str, mutation: str) -> str:
    """``source`` with one known-bad change in ``function_name`` (the first site, in source order)."""
    tree = ast.parse(source)
    function = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == function_name)
    mutator = _Mutator(mutation)
    mutator.visit(function)
    if not mutator.done:
        raise ValueError(f"mutation {mutation} does not apply to {function_name}")
    return ast.unparse(tree) + "\n"


class _Mutator(ast.NodeTransformer):
    """Applies one mutation at its first site."""

    def __init__(self, mutation: str) -> None:
        assert mutation in MUTATIONS, mutation
        self.mutation = mutation
        self.done = False

    def visit_IfExp(self, node: ast.IfExp) -> ast.expr:
        if self.mutation == "swap-ite" and not self.done:
            self.done = True
            node.body, node.orelse = node.orelse, node.body
            return node
        self.generic_visit(node)
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.expr:
        if self.mutation == "ceil-as-floor" and not self.done:
            inner = node.operand
            # -((-x) // k), the ceiling division, becomes x // k: a requirement rounded toward the trader
            if (
                isinstance(node.op, ast.USub)
                and isinstance(inner, ast.BinOp)
                and isinstance(inner.op, ast.FloorDiv)
                and isinstance(inner.right, ast.Constant)
                and isinstance(inner.left, ast.UnaryOp)
                and isinstance(inner.left.op, ast.USub)
            ):
                self.done = True
                return ast.BinOp(left=inner.left.operand, op=ast.FloorDiv(), right=inner.right)
        self.generic_visit(node)
        return node
