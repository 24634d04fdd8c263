"""Shared by the kernel obligation modules (``proofs/obligations_kernels_*.py``).

The instruments per contract type, the solver timeout, the list every kernel
obligation is appended to (:data:`OBLIGATIONS`, re-exported by
:mod:`proofs.obligations_kernels`), and the exact-rounding predicates.
"""

from __future__ import annotations

from collections.abc import Callable

from perpspec.proofs.prover import ProofResult
from perpspec.proofs.registry import Expectation, Obligation, register
from perpspec.rules.num import and_, not_, or_

SYMBOLS = ("XBTUSD", "ETHUSD", "XBTUSDT")  # inverse, quanto, linear
INVERSE = ("XBTUSD",)
TIMEOUT_MS = 60_000

OBLIGATIONS: list[Obligation] = []


def add(
    id: str,
    rule_id: str,
    invariant_id: str,
    statement: str,
    run: Callable[[], ProofResult],
    *,
    expect: Expectation = "proved",
    bounded: str | None = None,
) -> None:
    obligation = Obligation(
        id=id if expect == "proved" else (id if id.startswith("FINDING") else f"KNOWN-BAD/{id}"),
        rule_id=rule_id,
        invariant_id=invariant_id,
        statement=statement if expect == "proved" or id.startswith("FINDING") else f"Known-bad: {statement}",
        run=run,
        expect=expect,
        bounded=bounded,
        timeout_ms=TIMEOUT_MS,
    )
    OBLIGATIONS.append(register(obligation))


def iff(left: bool, right: bool) -> bool:
    """Both conditions hold or neither does (``==`` on conditions would compare objects)."""
    return or_(and_(left, right), and_(not_(left), not_(right)))


def when(condition: bool, then: bool, other: bool) -> bool:
    """``then`` where ``condition`` holds, ``other`` elsewhere (a condition-valued ``ite``)."""
    return or_(and_(condition, then), and_(not_(condition), other))


# --------------------------------------------------------------------------- roundings


def ceil_exact(result: int, numerator: int, denominator: int) -> bool:
    """``result = ceil(numerator / denominator)`` for ``denominator > 0``: never below, less than one above."""
    return and_(result * denominator >= numerator, result * denominator < numerator + denominator)


def floor_exact(result: int, numerator: int, denominator: int) -> bool:
    """``result = floor(numerator / denominator)`` for ``denominator > 0``: never above, less than one below."""
    return and_(result * denominator <= numerator, result * denominator > numerator - denominator)


def half_up(result: int, numerator: int, denominator: int) -> bool:
    """``result`` is within half a unit of ``numerator / denominator`` (``denominator > 0``), halves up."""
    twice = 2 * result * denominator - 2 * numerator
    return and_(twice > -denominator, twice <= denominator)


