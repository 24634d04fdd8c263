"""Emit a traced kernel as a plain-int Python function (the subset :mod:`.interpret` accepts).

The function takes the kernel's parameters as ``int`` and returns a tuple of
ints.  Its body is one assignment per DAG node used more than once (in
topological order) and a return; a node used once is written, parenthesised,
inside its user.  The operations are ``a + b``, ``a - b``, ``a * b``,
``a // b``, ``a % b``, ``-a``, a comparison ``a < b`` (``<= > >= == !=``),
``a and b``, ``a or b``, ``not a`` and the selection ``a if c else b`` —
Python evaluates only the arm taken, where :func:`rules.num.ite` evaluates
both, which changes nothing because every division of both arms is proved
divisor-safe.  Nothing else appears, so the emitted code does exactly the
integer operations the rule does, minus the folded ones.

**Products in the fast path.**  Compiled with mypyc, ``a * b`` on two ints
multiplies natively only when both operands are at least 0 and below 2^30
(``CPyTagged_IsMultiplyOverflow``); any negative operand sends it through
Python's big-integer multiplication (about 0.6k instructions).  Most products
of a kernel multiply a signed quantity (``-(qty // 100)``, a position's cost)
by a positive one, so a product whose operand may be negative is emitted on
its sign: ``a * b if a >= 0 else -((-a) * b)`` (or on ``b``'s sign), when one
factor is known non-negative and the other is not.  Which factors may be
negative is decided by a small sign analysis (:func:`_nonnegative_nodes`) that
is *not trusted*: a wrong answer only costs speed, because the emitted text is
what the equivalence obligations prove equal to the rule (with an instance of
a proved signed-product lemma for each such selection).

**Divisions by a scaled divisor.**  ``n // (a * c)`` with ``c`` a positive
constant (a price step in ticks: ``max(step, 1) * tick``) forms a product that
leaves mypyc's native range whenever ``a`` is above ``2^30 / c``; it is emitted
as ``(n // a) // c``, two native divisions.  Floors nest for a positive second
divisor, and the equivalence obligation proves the emitted text through an
instance of the proved lemma ``NESTED_FLOOR`` at each such division (the
numerator and ``a`` are named for it); ``a ≠ 0`` is the emitted division's own
divisor condition.
"""

from __future__ import annotations

import typing

from perpspec.proofs.specialise.catalogue import KernelSpec
from perpspec.proofs.specialise.trace import Graph, Node, Operand, TBool, TInt, tracing
from perpspec.rules.instrument import Instrument

_INFIX = {
    "add": "+",
    "sub": "-",
    "mul": "*",
    "floordiv": "//",
    "mod": "%",
    "lt": "<",
    "le": "<=",
    "gt": ">",
    "ge": ">=",
    "eq": "==",
    "ne": "!=",
    "and": "and",
    "or": "or",
}


class ReadRecorder:
    """Stands in for an instrument while tracing and records which parameters the rules read.

    A property (``is_inverse``) is evaluated on the recorder, so the fields it
    reads (``kind``) are the ones recorded.
    """

    def __init__(self, inst: Instrument, reads: set[str]) -> None:
        self._inst = inst
        self._reads = reads

    def __getattr__(self, name: str) -> object:
        attribute = getattr(type(self._inst), name, None)
        if isinstance(attribute, property) and attribute.fget is not None:
            return attribute.fget(self)
        self._reads.add(name)
        return getattr(self._inst, name)


def instrument_reads(inst: Instrument) -> tuple[str, ...]:
    """The parameters of ``inst`` that every kernel of the catalogue reads, together, sorted."""
    from perpspec.proofs.specialise.catalogue import KERNELS

    reads: set[str] = set()
    for spec in KERNELS:
        trace_kernel(spec, typing.cast(Instrument, ReadRecorder(inst, reads)))
    return tuple(sorted(reads))


def trace_kernel(spec: KernelSpec, inst: Instrument) -> tuple[Graph, tuple[Operand, ...]]:
    """The DAG of ``spec``'s reference for ``inst``, and its outputs (nodes or folded constants)."""
    with tracing() as graph:
        inputs = [graph.input(name) for name in spec.params]
        values = spec.reference(inst, *inputs)
    outputs: list[Operand] = []
    for value in values:
        if isinstance(value, (TInt, TBool)):
            outputs.append(value.node)
        elif isinstance(value, int):
            outputs.append(value)
        else:
            raise TypeError(f"{spec.name}: output of type {type(value).__name__}")
    return graph, tuple(outputs)


def _reachable(outputs: tuple[Operand, ...]) -> set[int]:
    seen: set[int] = set()
    todo = [value for value in outputs if isinstance(value, Node)]
    while todo:
        node = todo.pop()
        if node.index in seen:
            continue
        seen.add(node.index)
        todo.extend(arg for arg in node.args if isinstance(arg, Node))
    return seen


def _atom(value: Operand, names: dict[int, str]) -> str:
    if isinstance(value, Node):
        return names[value.index]
    if isinstance(value, bool):
        return repr(value)
    return str(value) if value >= 0 else f"({value})"


def _uses(outputs: tuple[Operand, ...], live: set[int], graph: Graph) -> dict[int, int]:
    counts: dict[int, int] = {}
    for node in graph.nodes:
        if node.index in live:
            for arg in node.args:
                if isinstance(arg, Node):
                    counts[arg.index] = counts.get(arg.index, 0) + 1
    for value in outputs:
        if isinstance(value, Node):
            counts[value.index] = counts.get(value.index, 0) + 2  # an output is always named
    return counts


def _nonnegative_nodes(graph: Graph, nonnegative_inputs: frozenset[str]) -> set[int]:
    """The nodes whose value is never negative (a sign analysis used only to choose the emitted form).

    Not trusted: the emitted text is proved equal to the rule whatever this says.
    """
    known: set[int] = set()

    def nonneg(value: Operand) -> bool:
        if isinstance(value, Node):
            return value.index in known
        return value >= 0

    for node in graph.nodes:
        if node.is_bool:
            continue
        if _is_nonnegative(node, nonneg, nonnegative_inputs):
            known.add(node.index)
    return known


def _is_nonnegative(node: Node, nonneg: typing.Callable[[Operand], bool], inputs: frozenset[str]) -> bool:
    args = node.args
    if node.op == "input":
        return node.name in inputs
    if node.op in ("add", "mul"):
        return nonneg(args[0]) and nonneg(args[1])
    if node.op in ("floordiv", "mod"):
        # a non-negative numerator over a divisor that is never negative (zero raises, in the rule too)
        return nonneg(args[1]) and (node.op == "mod" or nonneg(args[0]))
    if node.op != "ite":
        return False
    test, then, other = args
    if nonneg(then) and nonneg(other):
        return True
    if not isinstance(test, Node) or len(test.args) != 2:
        return False
    left, right = test.args
    if not isinstance(left, Node) or isinstance(right, (Node, bool)):
        return False
    # the clamp and absolute-value forms: x if x >= k else a, a if x <= k else x, -x if x < 0 else x (k >= 0 or -1)
    floor_if_true = {"ge": right, "gt": right + 1}.get(test.op)
    floor_if_false = {"le": right + 1, "lt": right}.get(test.op)
    if floor_if_true is not None and then is left and floor_if_true >= 0 and nonneg(other):
        return True
    if floor_if_false is not None and other is left and floor_if_false >= 0:
        if nonneg(then):
            return True
        negated = isinstance(then, Node) and then.op == "neg" and then.args[0] is left
        return test.op == "lt" and right == 0 and negated
    return False


def emit_function(spec: KernelSpec, inst: Instrument) -> str:
    """The source of ``def <spec.name>(...)`` specialised to ``inst``.

    A node used once is written inside its one user's expression, so an operand
    needed only by one arm of ``a if c else b`` is computed only when that arm is
    taken (every division in every arm is still proved divisor-safe); a node used
    more than once gets its own assignment, in topological order.
    """
    graph, outputs = trace_kernel(spec, inst)
    live = _reachable(outputs)
    uses = _uses(outputs, live, graph)
    nonnegative = _nonnegative_nodes(graph, frozenset(spec.prices) | frozenset(spec.touches))
    for node in graph.nodes:
        if node.index in live and _split_on_sign(node, nonnegative) is not None:
            for arg in node.args:
                assert isinstance(arg, Node)
                uses[arg.index] = (
                    uses.get(arg.index, 0) + 2
                )  # named: the signed product reads each factor twice
    nested: set[int] = set()
    for node in graph.nodes:
        if node.index in live:
            split = _scaled_divisor(node, uses)
            if split is not None:
                nested.add(node.index)
                for operand in (node.args[0], split[0]):
                    if isinstance(operand, Node):
                        uses[operand.index] = uses.get(operand.index, 0) + 2  # named: the lemma's instance reads them
    names: dict[int, str] = {}
    body: list[str] = []
    for node in graph.nodes:
        if node.op == "input":
            names[node.index] = node.name
            continue
        if node.index not in live:
            continue
        text = _nested_division(node, names) if node.index in nested else _expression(node, names, nonnegative)
        if uses.get(node.index, 0) == 1:
            names[node.index] = f"({text})"  # inlined into its one user
            continue
        name = f"t{len(body)}"
        names[node.index] = name
        body.append(f"    {name} = {text}")
    params = ", ".join(f"{name}: int" for name in spec.params)
    result = ", ".join(_atom(value, names) for value in outputs)
    returns = ", ".join("int" for _ in outputs)
    doc = (
        f'    """{spec.summary}: {inst.symbol}.\n\n'
        f"    Equal to {', '.join(spec.rule_ids)} for this instrument (obligation KRN/{spec.name}/{inst.symbol});\n"
        f"    returns ({', '.join(spec.outputs)}).\n"
        f'    """'
    )
    result = result + "," if len(outputs) == 1 else result
    lines = [f"def {spec.name}({params}) -> tuple[{returns}]:", doc, *body, f"    return ({result})"]
    return "\n".join(lines) + "\n"


def _split_on_sign(node: Node, nonnegative: set[int]) -> int | None:
    """For a product of a negated factor of unknown sign and a non-negative one: which factor (0, 1) to split on.

    Any other product (two factors of unknown sign, a constant factor, a factor that is not a
    negation) is emitted as it is: in the kernels those are margins and values that are non-negative
    in practice, and each split is a selection the proof must see through.
    """
    if node.op != "mul":
        return None
    left, right = node.args
    if not isinstance(left, Node) or not isinstance(right, Node):
        return None
    signs = (left.index in nonnegative, right.index in nonnegative)
    split = {(False, True): 0, (True, False): 1}.get(signs)
    # only a negated factor (a contract value's -(qty // lot) and the like): the others are margins and
    # values that are non-negative in practice
    return split if split is not None and (left, right)[split].op == "neg" else None


def _scaled_divisor(node: Node, uses: dict[int, int]) -> tuple[Operand, int] | None:
    """For ``n // (a * c)`` (``c`` a constant > 0, the product used only here): ``(a, c)``; else None."""
    if node.op != "floordiv":
        return None
    divisor = node.args[1]
    if not isinstance(divisor, Node) or divisor.op != "mul" or uses.get(divisor.index, 0) != 1:
        return None
    left, right = divisor.args
    for factor, scale in ((left, right), (right, left)):
        if isinstance(factor, Node) and type(scale) is int and scale > 0:
            return factor, scale
    return None


def _nested_division(node: Node, names: dict[int, str]) -> str:
    """``(n // a) // c`` for the node ``n // (a * c)`` (see :func:`_scaled_divisor`; proved by ``NESTED_FLOOR``)."""
    divisor = node.args[1]
    assert isinstance(divisor, Node)
    left, right = divisor.args
    factor, scale = (left, right) if isinstance(left, Node) else (right, left)
    return f"({_atom(node.args[0], names)} // {_atom(factor, names)}) // {scale}"


def _expression(node: Node, names: dict[int, str], nonnegative: set[int]) -> str:
    split = _split_on_sign(node, nonnegative)
    if split is not None:
        left, right = (names[arg.index] for arg in node.args if isinstance(arg, Node))
        if split == 0:
            return f"({left} * {right}) if ({left} >= 0) else (-((-{left}) * {right}))"
        return f"({left} * {right}) if ({right} >= 0) else (-({left} * (-{right})))"
    args = [_atom(arg, names) for arg in node.args]
    if node.op == "neg":
        return f"-{args[0]}"
    if node.op == "not":
        return f"not {args[0]}"
    if node.op == "ite":
        return f"{args[1]} if {args[0]} else {args[2]}"
    return f"{args[0]} {_INFIX[node.op]} {args[1]}"
