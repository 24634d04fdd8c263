"""Integer helpers shared by every rule kernel (one rule source, four checkers).

Rule kernels are written once and run on two kinds of number:

* plain Python ``int`` — the engine, Hypothesis and CrossHair;
* a symbolic integer (``proofs.sym.SymInt``) that builds Z3 terms — the prover.

So kernels must not branch on a value with ``if``, ``and``/``or``/``not``,
builtin ``min``/``max``/``abs`` or chained comparisons: the symbolic wrapper
has no truth value.  They use the helpers below instead, which dispatch on the
type of their argument.  Both arms of :func:`ite` are always evaluated, so a
divisor that may be zero in the arm not taken must be guarded
(``x // ite(q == 0, 1, q)``).

Types: kernels are annotated with ``int`` (and ``bool`` for predicates).  A
symbolic integer is duck-typed as an ``int`` — it implements the same
operators with Python's floor semantics — and the prover casts it in.  This
keeps ``mypy --strict`` meaningful on the concrete path, which is the one that
runs in production.

Every division in the rulebook is one of the named roundings here
(``floordiv``, ``ceildiv``, ``round_half_up_div``) or a plain ``//`` with a
comment saying whom the rounding favours.
"""

from __future__ import annotations

from typing import Protocol, TypeVar, cast

PPM = 1_000_000  # parts per million: 10_000 ppm = 1.00%

_F = TypeVar("_F")


class SymbolicBool(Protocol):
    """What the prover's symbolic boolean offers the helpers below."""

    def ite(self, then: int, other: int) -> int: ...

    def logical_and(self, other: bool) -> bool: ...

    def logical_or(self, other: bool) -> bool: ...

    def logical_not(self) -> bool: ...


def _sym(cond: object) -> SymbolicBool:
    return cast(SymbolicBool, cond)


def ite(cond: bool, then: int, other: int) -> int:
    """``then`` if ``cond`` else ``other``, for concrete and symbolic conditions."""
    if isinstance(cond, bool):
        return then if cond else other
    return _sym(cond).ite(then, other)


def and_(left: bool, right: bool) -> bool:
    """Logical and of two conditions (both always evaluated)."""
    if isinstance(left, bool) and isinstance(right, bool):
        return left and right
    if isinstance(left, bool):
        return _sym(right).logical_and(left)
    return _sym(left).logical_and(right)


def or_(left: bool, right: bool) -> bool:
    """Logical or of two conditions (both always evaluated)."""
    if isinstance(left, bool) and isinstance(right, bool):
        return left or right
    if isinstance(left, bool):
        return _sym(right).logical_or(left)
    return _sym(left).logical_or(right)


def not_(cond: bool) -> bool:
    """Logical negation of a condition."""
    if isinstance(cond, bool):
        return not cond
    return _sym(cond).logical_not()


def min_(left: int, right: int) -> int:
    """The smaller of two integers."""
    return ite(left <= right, left, right)


def max_(left: int, right: int) -> int:
    """The larger of two integers."""
    return ite(left >= right, left, right)


def abs_(value: int) -> int:
    """Absolute value."""
    return ite(value < 0, -value, value)


def sign(value: int) -> int:
    """-1, 0 or 1."""
    return ite(value > 0, 1, ite(value < 0, -1, 0))


def clamp(value: int, low: int, high: int) -> int:
    """``value`` limited to ``[low, high]`` (requires ``low <= high``)."""
    return min_(max_(value, low), high)


def floordiv(numerator: int, denominator: int) -> int:
    """Division rounded toward minus infinity (Python ``//``)."""
    return numerator // denominator


def ceildiv(numerator: int, denominator: int) -> int:
    """Division rounded toward plus infinity (for ``denominator > 0``)."""
    return -((-numerator) // denominator)


def round_half_up_div(numerator: int, denominator: int) -> int:
    """Division rounded to nearest, halves toward plus infinity (``denominator > 0``)."""
    return (2 * numerator + denominator) // (2 * denominator)


def floor_to_multiple(value: int, step: int) -> int:
    """Largest multiple of ``step`` not above ``value`` (``step > 0``)."""
    return (value // step) * step


def ceil_to_multiple(value: int, step: int) -> int:
    """Smallest multiple of ``step`` not below ``value`` (``step > 0``)."""
    return ceildiv(value, step) * step


def ppm_of_ceil(amount: int, rate_ppm: int) -> int:
    """``amount * rate_ppm / 1e6`` rounded up: for requirements owed to the system."""
    return ceildiv(amount * rate_ppm, PPM)


def ppm_of_floor(amount: int, rate_ppm: int) -> int:
    """``amount * rate_ppm / 1e6`` rounded down: for credits paid by the system."""
    return floordiv(amount * rate_ppm, PPM)


def concrete(function: _F) -> _F:
    """Mark a rules function as concrete-only: it runs on Python ints and may branch on values.

    Such functions (orderings for sorting, table look-ups, loops over records)
    are exempt from the no-value-branching lint and are *tested*, not proved;
    the rulebook says so next to them.
    """
    return function
