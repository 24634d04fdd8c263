"""The symbolic integer: rule kernels run on it to build Z3 terms.

:class:`SymInt` wraps a Z3 integer term and implements the operators a rule
kernel uses on ``int`` — ``+ - * // %``, unary minus and the comparisons —
with operands of either kind on either side.  ``//`` and ``%`` follow
**Python's floor semantics** for every sign of the divisor (Z3's own ``/`` and
``%`` are SMT-LIB's Euclidean division, which differs for negative divisors).

Comparisons return a :class:`SymBool`.  Neither type has a truth value:
``bool(x)`` raises ``TypeError``, so a kernel that branches on a value with
``if``/``and``/``or``/``not``, a ternary, builtin ``min``/``max`` or a chained
comparison fails loudly instead of silently proving one branch.  Kernels branch
through :mod:`rules.num` (``ite``, ``and_``, ...), which call the
``ite``/``logical_*`` methods of :class:`SymBool`.

Division by zero: Python raises on ``x // 0`` even in the arm of an ``ite``
that is not taken.  Every ``//`` or ``%`` by a divisor that is not a known
non-zero constant records the side condition ``divisor != 0`` into the active
:class:`SideConditions` collector (see :func:`collecting`); the prover proves
those together with the goal.  Symbolic division outside a collector raises,
so a side condition can never be dropped silently.

Linearity: products and quotients with a concrete operand (an ``int``, or a
term that is a numeral) stay linear terms, which Z3 decides quickly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Union

import z3

IntLike = Union[int, "SymInt"]
BoolLike = Union[bool, "SymBool"]


class SideConditions:
    """Division side conditions (``divisor != 0``) recorded while building terms."""

    def __init__(self) -> None:
        self.conditions: list[z3.BoolRef] = []
        self.divisors: list[z3.ArithRef] = []

    def record_divisor(self, divisor: z3.ArithRef) -> None:
        """Record that ``divisor`` must not be zero."""
        self.conditions.append(divisor != 0)
        self.divisors.append(divisor)


_ACTIVE: list[SideConditions] = []

# Set only by proofs.paths.explore while it enumerates the paths of a @concrete rule:
# then a symbolic condition's truth value is a recorded branch decision instead of an error.
BRANCH_DECIDER: Callable[[z3.BoolRef], bool] | None = None


@contextlib.contextmanager
def collecting(collector: SideConditions | None = None) -> Iterator[SideConditions]:
    """Make ``collector`` (or a new one) receive the side conditions of symbolic divisions."""
    active = collector if collector is not None else SideConditions()
    _ACTIVE.append(active)
    try:
        yield active
    finally:
        _ACTIVE.pop()


def _record_divisor(divisor: z3.ArithRef) -> None:
    if not _ACTIVE:
        raise RuntimeError(
            "symbolic // or % outside a side-condition collector: build terms inside "
            "`with Prover(...)` or `with proofs.sym.collecting()`"
        )
    _ACTIVE[-1].record_divisor(divisor)


def _as_term(value: object) -> z3.ArithRef:
    if isinstance(value, SymInt):
        return value.term
    if isinstance(value, bool):
        return z3.IntVal(int(value))
    if isinstance(value, int):
        return z3.IntVal(value)
    raise TypeError(f"cannot use {type(value).__name__} as a symbolic integer")


def _as_bool_term(value: object) -> z3.BoolRef:
    if isinstance(value, SymBool):
        return value.term
    if isinstance(value, bool):
        return z3.BoolVal(value)
    raise TypeError(f"cannot use {type(value).__name__} as a symbolic boolean")


def _is_operand(value: object) -> bool:
    return isinstance(value, (int, SymInt))


def _constant(term: z3.ArithRef) -> int | None:
    """The value of ``term`` when it is a numeral (after simplification), else None."""
    if z3.is_int_value(term):
        return int(term.as_long())
    simple = z3.simplify(term)
    if z3.is_int_value(simple):
        return int(simple.as_long())
    return None


def _floordiv_terms(numerator: z3.ArithRef, divisor: z3.ArithRef) -> z3.ArithRef:
    """Python ``numerator // divisor`` as a Z3 term (records the side condition)."""
    constant = _constant(divisor)
    if constant is not None:
        if constant == 0:
            raise ZeroDivisionError("integer division or modulo by zero (symbolic)")
        if constant > 0:
            return numerator / z3.IntVal(constant)  # SMT div = floor for a positive divisor
        return (-numerator) / z3.IntVal(-constant)  # floor(a / b) = floor(-a / -b)
    _record_divisor(divisor)
    return z3.If(divisor > 0, numerator / divisor, (-numerator) / (-divisor))


class SymInt:
    """A symbolic integer with Python's ``int`` operators (floor ``//`` and ``%``)."""

    __slots__ = ("term",)

    def __init__(self, term: z3.ArithRef) -> None:
        if not (z3.is_arith(term) and term.is_int()):
            raise TypeError(f"SymInt needs an Int-sorted Z3 term, got {term.sort()}")
        self.term = term

    # -- arithmetic ---------------------------------------------------------
    def __add__(self, other: object) -> SymInt:
        if not _is_operand(other):
            return NotImplemented
        return SymInt(self.term + _as_term(other))

    def __radd__(self, other: object) -> SymInt:
        if not _is_operand(other):
            return NotImplemented
        return SymInt(_as_term(other) + self.term)

    def __sub__(self, other: object) -> SymInt:
        if not _is_operand(other):
            return NotImplemented
        return SymInt(self.term - _as_term(other))

    def __rsub__(self, other: object) -> SymInt:
        if not _is_operand(other):
            return NotImplemented
        return SymInt(_as_term(other) - self.term)

    def __mul__(self, other: object) -> SymInt:
        if not _is_operand(other):
            return NotImplemented
        return SymInt(_product(self.term, _as_term(other)))

    def __rmul__(self, other: object) -> SymInt:
        if not _is_operand(other):
            return NotImplemented
        return SymInt(_product(_as_term(other), self.term))

    def __floordiv__(self, other: object) -> SymInt:
        if not _is_operand(other):
            return NotImplemented
        return SymInt(_floordiv_terms(self.term, _as_term(other)))

    def __rfloordiv__(self, other: object) -> SymInt:
        if not _is_operand(other):
            return NotImplemented
        return SymInt(_floordiv_terms(_as_term(other), self.term))

    def __mod__(self, other: object) -> SymInt:
        if not _is_operand(other):
            return NotImplemented
        divisor = _as_term(other)
        return SymInt(self.term - _product(divisor, _floordiv_terms(self.term, divisor)))

    def __rmod__(self, other: object) -> SymInt:
        if not _is_operand(other):
            return NotImplemented
        numerator = _as_term(other)
        return SymInt(numerator - _product(self.term, _floordiv_terms(numerator, self.term)))

    def __neg__(self) -> SymInt:
        return SymInt(-self.term)

    def __pos__(self) -> SymInt:
        return self

    def __abs__(self) -> SymInt:
        if BRANCH_DECIDER is not None:  # a @concrete rule being path-explored (proofs.paths)
            return SymInt(z3.If(self.term < 0, -self.term, self.term))
        raise TypeError("builtin abs() on a symbolic integer: use rules.num.abs_")

    # -- comparisons --------------------------------------------------------
    def __lt__(self, other: object) -> SymBool:
        if not _is_operand(other):
            return NotImplemented
        return SymBool(self.term < _as_term(other))

    def __le__(self, other: object) -> SymBool:
        if not _is_operand(other):
            return NotImplemented
        return SymBool(self.term <= _as_term(other))

    def __gt__(self, other: object) -> SymBool:
        if not _is_operand(other):
            return NotImplemented
        return SymBool(self.term > _as_term(other))

    def __ge__(self, other: object) -> SymBool:
        if not _is_operand(other):
            return NotImplemented
        return SymBool(self.term >= _as_term(other))

    def __eq__(self, other: object) -> SymBool:  # type: ignore[override]
        if not _is_operand(other):
            return NotImplemented
        return SymBool(self.term == _as_term(other))

    def __ne__(self, other: object) -> SymBool:  # type: ignore[override]
        if not _is_operand(other):
            return NotImplemented
        return SymBool(self.term != _as_term(other))

    __hash__ = None  # type: ignore[assignment]

    # -- no concrete value ----------------------------------------------------
    def __bool__(self) -> bool:
        raise TypeError("a symbolic integer has no truth value: branch with rules.num.ite")

    def __index__(self) -> int:
        raise TypeError("a symbolic integer has no concrete value")

    def __int__(self) -> int:
        raise TypeError("a symbolic integer has no concrete value")

    def __repr__(self) -> str:
        return f"SymInt({self.term})"


def _product(left: z3.ArithRef, right: z3.ArithRef) -> z3.ArithRef:
    """``left * right``, with a numeral operand first folded to a plain constant (stays linear)."""
    left_constant = int(left.as_long()) if z3.is_int_value(left) else None
    right_constant = int(right.as_long()) if z3.is_int_value(right) else None
    if left_constant is not None and right_constant is not None:
        return z3.IntVal(left_constant * right_constant)
    if left_constant == 0 or right_constant == 0:
        return z3.IntVal(0)
    if left_constant == 1:
        return right
    if right_constant == 1:
        return left
    return left * right


class SymBool:
    """A symbolic condition: combine with ``logical_*``, choose with ``ite``; no truth value."""

    __slots__ = ("term",)

    def __init__(self, term: z3.BoolRef) -> None:
        if not z3.is_bool(term):
            raise TypeError(f"SymBool needs a Bool-sorted Z3 term, got {term.sort()}")
        self.term = term

    def ite(self, then: object, other: object) -> object:
        """``then`` if this condition holds else ``other`` (ints, SymInts, bools or SymBools)."""
        if isinstance(then, (SymBool, bool)) and isinstance(other, (SymBool, bool)):
            return SymBool(z3.If(self.term, _as_bool_term(then), _as_bool_term(other)))
        return SymInt(z3.If(self.term, _as_term(then), _as_term(other)))

    def logical_and(self, other: object) -> SymBool:
        """Both conditions."""
        return SymBool(z3.And(self.term, _as_bool_term(other)))

    def logical_or(self, other: object) -> SymBool:
        """Either condition."""
        return SymBool(z3.Or(self.term, _as_bool_term(other)))

    def logical_not(self) -> SymBool:
        """The negated condition."""
        return SymBool(z3.Not(self.term))

    def implies(self, other: object) -> SymBool:
        """This condition implies ``other``."""
        return SymBool(z3.Implies(self.term, _as_bool_term(other)))

    def __and__(self, other: object) -> SymBool:
        return self.logical_and(other)

    __rand__ = __and__

    def __or__(self, other: object) -> SymBool:
        return self.logical_or(other)

    __ror__ = __or__

    def __invert__(self) -> SymBool:
        return self.logical_not()

    __hash__ = None  # type: ignore[assignment]

    def __bool__(self) -> bool:
        if BRANCH_DECIDER is not None:
            return BRANCH_DECIDER(self.term)
        raise TypeError("a symbolic condition has no truth value: use rules.num.ite / and_ / or_ / not_")

    def __repr__(self) -> str:
        return f"SymBool({self.term})"


def sym_int(name: str) -> SymInt:
    """A fresh named symbolic integer (the name appears in counterexamples)."""
    return SymInt(z3.Int(name))


def sym_const(value: int) -> SymInt:
    """A symbolic integer holding the constant ``value``."""
    return SymInt(z3.IntVal(value))


def term_of(value: IntLike) -> z3.ArithRef:
    """The Z3 term of an int or SymInt."""
    return _as_term(value)


def bool_term_of(value: BoolLike) -> z3.BoolRef:
    """The Z3 term of a bool or SymBool."""
    return _as_bool_term(value)


def all_of(*conditions: BoolLike) -> SymBool:
    """Conjunction of conditions (concrete ones allowed)."""
    return SymBool(z3.And(*[_as_bool_term(condition) for condition in conditions]))


def any_of(*conditions: BoolLike) -> SymBool:
    """Disjunction of conditions (concrete ones allowed)."""
    return SymBool(z3.Or(*[_as_bool_term(condition) for condition in conditions]))


def implies(premise: BoolLike, conclusion: BoolLike) -> SymBool:
    """``premise`` implies ``conclusion``."""
    return SymBool(z3.Implies(_as_bool_term(premise), _as_bool_term(conclusion)))
