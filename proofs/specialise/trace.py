"""Traced integers: run a rule kernel once to record the arithmetic it does, as a DAG.

:class:`TInt` implements the operators of the :mod:`rules.num` protocol (the
ones :class:`proofs.sym.SymInt` implements, with the same Python semantics), and
:class:`TBool` the symbolic-condition methods the helpers of :mod:`rules.num`
call (``ite``, ``logical_and``, ``logical_or``, ``logical_not``).  A rule
evaluated with the instrument concrete and the per-call values traced yields an
expression DAG over the traced inputs:

* **constant folding** — an operation on plain ints never makes a node (Python
  does it), and the identities ``x + 0``, ``x * 1``, ``x * 0``, ``x // 1``,
  ``-(-x)``, ``-(a - b) = b - a`` and ``ite(c, x, x)`` fold away;
* **common subexpressions** — nodes are hash-consed in a :class:`Graph`: the
  same operation on the same operands is the same node, so a value the rule
  computes twice (``compute_value`` at the same price, a requirement shared by
  two outputs) is computed once by the emitted code.

Nothing here is trusted: the emitted source is proved equal to the rule
(:mod:`proofs.obligations_specialised`).  Like the symbolic types, a traced value
has no truth value: a rule that branches on one fails loudly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Union

import attrs

Operand = Union[int, bool, "Node"]

INT_OPS = ("add", "sub", "mul", "floordiv", "mod", "neg")
CMP_OPS = ("lt", "le", "gt", "ge", "eq", "ne")
BOOL_OPS = ("and", "or", "not")


@attrs.frozen(kw_only=True, eq=False)
class Node:
    """One operation: ``op`` over ``args`` (ints, bools or earlier nodes); ``index`` orders them."""

    index: int
    op: str  # "input", an INT_OPS/CMP_OPS/BOOL_OPS name, or "ite"
    args: tuple[Operand, ...]
    name: str = ""  # inputs only
    is_bool: bool = False


def _key(value: Operand) -> tuple[str, int]:
    if isinstance(value, Node):
        return ("n", value.index)
    if isinstance(value, bool):
        return ("b", int(value))
    return ("i", value)


class Graph:
    """The hash-consed nodes of one trace, in creation (hence topological) order."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self._by_key: dict[tuple[object, ...], Node] = {}

    def node(self, op: str, args: tuple[Operand, ...], *, is_bool: bool = False, name: str = "") -> Node:
        """The node for ``op(args)``: an existing identical one, else a new one."""
        key = (op, name, *(_key(arg) for arg in args))
        found = self._by_key.get(key)
        if found is None:
            found = Node(index=len(self.nodes), op=op, args=args, name=name, is_bool=is_bool)
            self.nodes.append(found)
            self._by_key[key] = found
        return found

    def input(self, name: str) -> TInt:
        """A traced input named ``name`` (an argument of the emitted function)."""
        return TInt(self, self.node("input", (), name=name))


_ACTIVE: list[Graph] = []


@contextmanager
def tracing() -> Iterator[Graph]:
    """A fresh graph for one trace."""
    graph = Graph()
    _ACTIVE.append(graph)
    try:
        yield graph
    finally:
        _ACTIVE.pop()


def _operand(value: object) -> Operand | None:
    if isinstance(value, TInt):
        return value.node
    if isinstance(value, int):  # bool is an int: True + 1 is 2, as in Python
        return int(value)
    return None


def _wrap(graph: Graph, value: Operand) -> object:
    if isinstance(value, Node):
        return TBool(graph, value) if value.is_bool else TInt(graph, value)
    return value


class TInt:
    """A traced integer: every operator records a node (or folds to a plain int)."""

    __slots__ = ("graph", "node")

    def __init__(self, graph: Graph, node: Node) -> None:
        self.graph = graph
        self.node = node

    def _binary(self, op: str, left: Operand, right: Operand) -> object:
        folded = _fold(op, left, right)
        if folded is not None:
            return _wrap(self.graph, folded)
        return _wrap(self.graph, self.graph.node(op, (left, right), is_bool=op in CMP_OPS))

    def _apply(self, op: str, other: object, reflected: bool = False) -> object:
        operand = _operand(other)
        if operand is None:
            return NotImplemented
        if reflected:
            return self._binary(op, operand, self.node)
        return self._binary(op, self.node, operand)

    def __add__(self, other: object) -> object:
        return self._apply("add", other)

    def __radd__(self, other: object) -> object:
        return self._apply("add", other, reflected=True)

    def __sub__(self, other: object) -> object:
        return self._apply("sub", other)

    def __rsub__(self, other: object) -> object:
        return self._apply("sub", other, reflected=True)

    def __mul__(self, other: object) -> object:
        return self._apply("mul", other)

    def __rmul__(self, other: object) -> object:
        return self._apply("mul", other, reflected=True)

    def __floordiv__(self, other: object) -> object:
        return self._apply("floordiv", other)

    def __rfloordiv__(self, other: object) -> object:
        return self._apply("floordiv", other, reflected=True)

    def __mod__(self, other: object) -> object:
        return self._apply("mod", other)

    def __rmod__(self, other: object) -> object:
        return self._apply("mod", other, reflected=True)

    def __neg__(self) -> object:
        if self.node.op == "neg":
            return _wrap(self.graph, self.node.args[0])  # -(-x) == x
        if self.node.op == "sub":
            left, right = self.node.args
            return TInt(self.graph, self.graph.node("sub", (right, left)))  # -(a - b) == b - a
        return TInt(self.graph, self.graph.node("neg", (self.node,)))

    def __pos__(self) -> TInt:
        return self

    def __lt__(self, other: object) -> object:
        return self._apply("lt", other)

    def __le__(self, other: object) -> object:
        return self._apply("le", other)

    def __gt__(self, other: object) -> object:
        return self._apply("gt", other)

    def __ge__(self, other: object) -> object:
        return self._apply("ge", other)

    def __eq__(self, other: object) -> object:  # type: ignore[override]
        return self._apply("eq", other)

    def __ne__(self, other: object) -> object:  # type: ignore[override]
        return self._apply("ne", other)

    __hash__ = None  # type: ignore[assignment]

    def __bool__(self) -> bool:
        raise TypeError("a traced integer has no truth value: branch with rules.num.ite")

    def __index__(self) -> int:
        raise TypeError("a traced integer has no concrete value")

    def __int__(self) -> int:
        raise TypeError("a traced integer has no concrete value")

    def __abs__(self) -> object:
        raise TypeError("builtin abs() on a traced integer: use rules.num.abs_")


def _fold(op: str, left: Operand, right: Operand) -> Operand | None:
    """The identities that need no node (None: make one)."""
    if not isinstance(left, Node) and not isinstance(right, Node):
        raise AssertionError("an operation on two constants never reaches the trace")
    if op == "add":
        if isinstance(right, int) and right == 0:
            return left
        if isinstance(left, int) and left == 0:
            return right
    elif op == "sub":
        if isinstance(right, int) and right == 0:
            return left
    elif op == "mul":
        for constant, other in ((left, right), (right, left)):
            if isinstance(constant, int):
                if constant == 0:
                    return 0
                if constant == 1:
                    return other
    elif op == "floordiv" and isinstance(right, int) and right == 1:
        return left
    return None


class TBool:
    """A traced condition, built by comparisons; combined and used through :mod:`rules.num`."""

    __slots__ = ("graph", "node")

    def __init__(self, graph: Graph, node: Node) -> None:
        self.graph = graph
        self.node = node

    def ite(self, then: object, other: object) -> object:
        """``then`` if this condition holds else ``other``."""
        then_operand = then.node if isinstance(then, (TInt, TBool)) else then
        other_operand = other.node if isinstance(other, (TInt, TBool)) else other
        if not isinstance(then_operand, (int, Node)) or not isinstance(other_operand, (int, Node)):
            raise TypeError(f"ite over {type(then).__name__} and {type(other).__name__}")
        if _key(then_operand) == _key(other_operand):
            return then
        is_bool = _is_bool(then_operand) and _is_bool(other_operand)
        return _wrap(self.graph, self.graph.node("ite", (self.node, then_operand, other_operand), is_bool=is_bool))

    def _logical(self, op: str, other: object) -> object:
        if isinstance(other, bool):  # x and True == x, x and False == False, x or True == True, x or False == x
            if op == "and":
                return self if other else False
            return True if other else self
        if not isinstance(other, TBool):
            raise TypeError(f"logical {op} with {type(other).__name__}")
        return TBool(self.graph, self.graph.node(op, (self.node, other.node), is_bool=True))

    def logical_and(self, other: object) -> object:
        """Both conditions."""
        return self._logical("and", other)

    def logical_or(self, other: object) -> object:
        """Either condition."""
        return self._logical("or", other)

    def logical_not(self) -> TBool:
        """The negated condition."""
        if self.node.op == "not":
            argument = self.node.args[0]
            assert isinstance(argument, Node)
            return TBool(self.graph, argument)
        return TBool(self.graph, self.graph.node("not", (self.node,), is_bool=True))

    __hash__ = None  # type: ignore[assignment]

    def __bool__(self) -> bool:
        raise TypeError("a traced condition has no truth value: use rules.num.ite / and_ / or_ / not_")


def _is_bool(operand: Operand) -> bool:
    return isinstance(operand, bool) or (isinstance(operand, Node) and operand.is_bool)

