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
division turned into a floor (a requirement rounded toward the trader), the
arms of a selection swapped (the first selection that is not a signed product,
whose two arms are equal by design), a signed product's negative arm left
unnegated (``a * b if a >= 0 else (-a) * b``: ``|a| * b``), or a nested
floor's first division rounded up (``(-((-n) // a)) // c`` for ``(n // a) // c``).
"""

from __future__ import annotations

import ast
import functools
import typing

import z3

from perpspec.proofs.lemmas import NESTED_FLOOR, SIGNED_PRODUCT_LEFT, SIGNED_PRODUCT_RIGHT
from perpspec.proofs.prover import ProofResult, Prover
from perpspec.proofs.specialise.catalogue import KernelSpec
from perpspec.proofs.specialise.interpret import evaluate, parse_module
from perpspec.proofs.sym import SideConditions, SymBool, all_of, bool_term_of, collecting
from perpspec.rules.instrument import Instrument


def assume_preconditions(prover: Prover, spec: KernelSpec, args: dict[str, int]) -> None:
    """The only precondition: every price parameter is positive (a value is divided by its price)."""
    for name in spec.prices:
        prover.assume(args[name] > 0, f"{name} positive")


def use_sign_lemmas(
    prover: Prover, function: ast.FunctionDef, bindings: dict[str, object]
) -> list[tuple[z3.ExprRef, z3.ExprRef]]:
    """Assume the proved signed-product lemma at every product the emitted code selects on a factor's sign.

    ``a * b if a >= 0 else -((-a) * b)`` (or the form on ``b``'s sign) equals
    the rule's ``a * b``, but the linear abstraction (each product an
    uninterpreted function of its factors) cannot see it without the instance.
    The factors are names (:mod:`.emit` names them); an instance is assumed for
    each selection of either shape.  Any instance of a proved lemma is a true
    fact, whatever terms it is taken at, and the lemmas are proved before any
    goal that uses them (:meth:`Prover.use`): a shape misread here can only
    leave a goal unproved, never prove a false one.  Returns each instance's two
    sides (the selection, ``a * b``), for :func:`replace_equals`.
    """
    lemmas = {"left": SIGNED_PRODUCT_LEFT, "right": SIGNED_PRODUCT_RIGHT}
    seen: set[tuple[str, str, str]] = set()
    equalities: list[tuple[z3.ExprRef, z3.ExprRef]] = []
    for node in ast.walk(function):
        found = _signed_product_shape(node) if isinstance(node, ast.IfExp) else None
        if found is None or found in seen:
            continue
        seen.add(found)
        shape, left, right = found
        if left not in bindings or right not in bindings:
            continue
        factors = (typing.cast(int, bindings[left]), typing.cast(int, bindings[right]))
        prover.use(lemmas[shape], *factors)
        with collecting(SideConditions()):  # no division in a lemma's conclusion; its own proof checks any
            instance = bool_term_of(lemmas[shape].conclusion(*factors))
        if z3.is_eq(instance):
            equalities.append((instance.arg(0), instance.arg(1)))
    return equalities


def use_floor_lemmas(
    prover: Prover, function: ast.FunctionDef, bindings: dict[str, object]
) -> tuple[list[tuple[z3.ExprRef, z3.ExprRef]], list[z3.BoolRef]]:
    """Assume the proved ``NESTED_FLOOR`` lemma at every ``(n // a) // c`` the emitted code holds (``c`` > 0 constant).

    :mod:`.emit` writes the rule's ``n // (a * c)`` so (two native divisions, no product beyond mypyc's range);
    the linear abstraction sees two uninterpreted divisions and needs the instance ``(n // a) // c = n // (a·c)``.
    Any instance of a proved lemma is a true fact, so a shape misread here can only leave a goal unproved.
    ``n`` and ``a`` are names or integer constants (:mod:`.emit` names them).  Returns each instance's two sides
    (for :func:`replace_equals`) and its premise ``a ≠ 0 ∧ c > 0``: the caller makes each premise part of the goal,
    so the replacement is used only where it is proved to hold.
    """
    seen: set[str] = set()
    equalities: list[tuple[z3.ExprRef, z3.ExprRef]] = []
    premises: list[z3.BoolRef] = []
    for node in ast.walk(function):
        found = _nested_floor_shape(node)
        if found is None or ast.dump(node) in seen:
            continue
        seen.add(ast.dump(node))
        numerator, divisor, scale = (_atom_value(part, bindings) for part in found)
        if numerator is None or divisor is None or scale is None:
            continue
        terms = (typing.cast(int, numerator), typing.cast(int, divisor), typing.cast(int, scale))
        prover.use(NESTED_FLOOR, *terms)
        with collecting(SideConditions()):  # the lemma's own proof covers its divisions under its premise
            premise = bool_term_of(NESTED_FLOOR.premise(*terms))
            instance = bool_term_of(NESTED_FLOOR.conclusion(*terms))
        if z3.is_eq(instance):
            equalities.append((instance.arg(0), instance.arg(1)))
            premises.append(premise)
    return equalities, premises


def _nested_floor_shape(node: ast.AST) -> tuple[ast.expr, ast.expr, ast.expr] | None:
    """``(n, a, c)`` when ``node`` is ``(n // a) // c`` with ``c`` a positive integer constant."""
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.FloorDiv)):
        return None
    inner, scale = node.left, node.right
    if not (isinstance(scale, ast.Constant) and type(scale.value) is int and scale.value > 0):
        return None
    if not (isinstance(inner, ast.BinOp) and isinstance(inner.op, ast.FloorDiv)):
        return None
    return inner.left, inner.right, scale


def _atom_value(node: ast.expr, bindings: dict[str, object]) -> object | None:
    """The value of a name or an integer constant (negated or not) of the emitted text; None for anything else."""
    if isinstance(node, ast.Name):
        return bindings.get(node.id)
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _atom_value(node.operand, bindings)
        return -inner if type(inner) is int else None
    return None


def _signed_product_shape(node: ast.IfExp) -> tuple[str, str, str] | None:
    """``("left" | "right", a, b)`` when ``node`` selects ``a * b`` on the sign of factor ``a`` or ``b``."""
    test = node.test
    if not (
        isinstance(test, ast.Compare)
        and isinstance(test.ops[0], ast.GtE)
        and isinstance(test.left, ast.Name)
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == 0
    ):
        return None
    if not (isinstance(node.body, ast.BinOp) and isinstance(node.body.op, ast.Mult)):
        return None
    left, right = node.body.left, node.body.right
    if not (isinstance(left, ast.Name) and isinstance(right, ast.Name)):
        return None
    if test.left.id == left.id:
        return ("left", left.id, right.id)
    if test.left.id == right.id:
        return ("right", left.id, right.id)
    return None


def witness(spec: KernelSpec, inst: Instrument) -> dict[str, int]:
    """Values satisfying the preconditions (so the vacuity check needs no solver)."""
    values = dict.fromkeys(spec.params, 0)
    for name in spec.prices:
        values[name] = inst.tick_size
    if spec.isolated:
        values["leverage_hundredths"] = 100
    return values


@functools.lru_cache(maxsize=8)
def _functions(source: str) -> dict[str, ast.FunctionDef]:
    """:func:`parse_module` of ``source``, parsed once per process for the kernels of one instrument's module
    (about 20 ms each time; read only: the trees are evaluated, never changed, and :func:`mutate` parses its own)."""
    return parse_module(source)


def prove_equivalence(spec: KernelSpec, inst: Instrument, source: str, label: str) -> ProofResult:
    """Prove the function ``spec.name`` of ``source`` equal to ``spec.reference`` for ``inst``."""
    function = _functions(source)[spec.name]
    if [argument.arg for argument in function.args.args] != list(spec.params):
        raise ValueError(f"{spec.name}: emitted parameters differ from the spec's")
    with Prover() as prover:
        args = {name: prover.symbol(name) for name in spec.params}
        assume_preconditions(prover, spec, args)
        prover.witness(**witness(spec, inst))
        bindings: dict[str, object] = {}
        emitted = evaluate(function, args, bindings)
        equalities = use_sign_lemmas(prover, function, bindings)
        floor_equalities, floor_premises = use_floor_lemmas(prover, function, bindings)
        expected = spec.reference(inst, *(args[name] for name in spec.params))
        if len(emitted) != len(expected):
            raise ValueError(f"{spec.name}: {len(emitted)} outputs emitted, {len(expected)} expected")
        goal = all_of(*(typing.cast(bool, got == want) for got, want in zip(emitted, expected, strict=True)))
        replaced = replace_equals(goal, equalities + floor_equalities)
        # a nested floor's premise (its divisor a ≠ 0) is proved with the goal: the replacement holds wherever it is used
        return prover.prove(all_of(replaced, *(SymBool(premise) for premise in floor_premises)), label)


def replace_equals(goal: SymBool, equalities: list[tuple[z3.ExprRef, z3.ExprRef]]) -> SymBool:
    """``goal`` with each ``left`` replaced by its ``right``, where every ``left == right`` is an assumed lemma instance.

    Equals for equals: under the assumptions (which include each instance) the
    new goal holds exactly when the old one does.  The solver would find this
    by congruence, but a selection on a sign inside a goal with other
    nonlinear terms makes it case-split (``pretrade_cross``: from 0.2 s to a
    timeout).  The larger terms are replaced first (a signed product may be a
    factor of another).
    """
    term = goal.term
    ordered = sorted(equalities, key=lambda pair: -_size(pair[0]))
    for _ in range(3):
        for left, right in ordered:
            term = z3.substitute(term, (left, right))
    return SymBool(term)


def _size(term: z3.ExprRef) -> int:
    seen: set[int] = set()
    todo = [term]
    while todo:
        node = todo.pop()
        if node.get_id() not in seen:
            seen.add(node.get_id())
            todo.extend(node.children())
    return len(seen)


MUTATIONS = ("ceil-as-floor", "swap-ite", "signed-product-unnegated", "nested-floor-inner-ceil")


def mutate(source: str, function_name: str, mutation: str) -> str:
    """``source`` with one known-bad change in ``function_name`` (the first site, in source order)."""
    tree = ast.parse(source)
    function = next(
        node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == function_name
    )
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
        if self.mutation == "swap-ite" and not self.done and not _is_signed_product(node):
            self.done = True
            node.body, node.orelse = node.orelse, node.body
            return node
        if self.mutation == "signed-product-unnegated" and not self.done and _is_signed_product(node):
            negated = node.orelse
            if isinstance(negated, ast.UnaryOp) and isinstance(negated.op, ast.USub):
                self.done = True
                node.orelse = negated.operand  # (-a) * b where -((-a) * b) is due
                return node
        self.generic_visit(node)
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.expr:
        if self.mutation == "nested-floor-inner-ceil" and not self.done and _nested_floor_shape(node) is not None:
            # (n // a) // c becomes (-((-n) // a)) // c: the first division rounded up, then floored
            inner = node.left
            assert isinstance(inner, ast.BinOp)
            self.done = True
            negated = ast.UnaryOp(op=ast.USub(), operand=inner.left)
            node.left = ast.UnaryOp(op=ast.USub(), operand=ast.BinOp(left=negated, op=ast.FloorDiv(), right=inner.right))
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


def _is_signed_product(node: ast.IfExp) -> bool:
    """``... * ... if x >= 0 else ...``: a product emitted on the sign of a factor (:mod:`.emit`)."""
    test = node.test
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.ops[0], ast.GtE)
        and isinstance(test.left, ast.Name)
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == 0
        and isinstance(node.body, ast.BinOp)
        and isinstance(node.body.op, ast.Mult)
    )
