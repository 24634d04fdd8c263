"""The registry of proof obligations.

An obligation is one transition (a rule) preserving one invariant, proved by
Z3: ``run()`` builds the symbolic state, assumes the pre-invariants and
preconditions, and proves the post-invariant (see :mod:`proofs.prover`).

Each area writes its obligations in its own module ``proofs/obligations_<area>.py``
and registers them with :func:`register` (or the :func:`obligation`
decorator) at import time; :func:`discover` imports every such module in
sorted order.

Known-bad variants — deliberately broken copies of rules — are obligations
with ``expect="refuted"``: they pass only when Z3 *refutes* them and produces
a counterexample, which shows the checker can fail.

``bounded`` is ``None`` for an unbounded proof (any integers satisfying the
stated preconditions), or says what the bound is (``"k <= 8 accounts"``).
"""

from __future__ import annotations

import importlib
import pkgutil
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import attrs

from perpspec.proofs import witnesses
from perpspec.proofs.prover import ProofResult, Status, timeout_override

Expectation = Literal["proved", "refuted"]


@attrs.frozen(kw_only=True)
class Obligation:
    """One proof obligation: rule ``rule_id`` preserves invariant ``invariant_id``."""

    id: str
    rule_id: str
    invariant_id: str
    statement: str
    run: Callable[[], ProofResult] = attrs.field(eq=False, repr=False)
    bounded: str | None = None
    expect: Expectation = "proved"
    timeout_ms: int | None = None  # per-obligation default; the CLI's --timeout-ms overrides it


@attrs.frozen(kw_only=True)
class Outcome:
    """An obligation after running: its result and whether that is what was expected."""

    obligation: Obligation
    result: ProofResult | None  # None when run() raised
    error: str = ""

    @property
    def passed(self) -> bool:
        """Proved when expected proved; refuted with a counterexample when expected refuted."""
        return is_expected(self.obligation, self.result)

    @property
    def status_text(self) -> str:
        """The result status, or ``error``."""
        return "error" if self.result is None else self.result.status.value

    @property
    def time_us(self) -> int:
        """Solver time in microseconds (0 when run() raised)."""
        return 0 if self.result is None else self.result.time_us


def is_expected(obligation: Obligation, result: ProofResult | None) -> bool:
    """Whether ``result`` is the outcome ``obligation`` expects."""
    if result is None:
        return False
    if obligation.expect == "proved":
        return result.status is Status.PROVED
    return result.status is Status.REFUTED and result.counterexample is not None


REGISTRY: dict[str, Obligation] = {}


def register(obligation: Obligation) -> Obligation:
    """Add an obligation (ids are unique)."""
    assert obligation.id not in REGISTRY, f"obligation {obligation.id} registered twice"
    assert obligation.expect in ("proved", "refuted"), obligation.expect
    REGISTRY[obligation.id] = obligation
    return obligation


def obligation(
    *,
    id: str,
    rule_id: str,
    invariant_id: str,
    statement: str,
    bounded: str | None = None,
    expect: Expectation = "proved",
    timeout_ms: int | None = None,
) -> Callable[[Callable[[], ProofResult]], Callable[[], ProofResult]]:
    """Decorator registering a ``() -> ProofResult`` function as an obligation."""

    def decorate(run: Callable[[], ProofResult]) -> Callable[[], ProofResult]:
        register(
            Obligation(
                id=id,
                rule_id=rule_id,
                invariant_id=invariant_id,
                statement=statement,
                run=run,
                bounded=bounded,
                expect=expect,
                timeout_ms=timeout_ms,
            )
        )
        return run

    return decorate


def obligation_modules() -> list[str]:
    """Names of the modules ``perpspec.proofs.obligations_*``, sorted."""
    package_dir = Path(__file__).resolve().parent
    names = [
        info.name
        for info in pkgutil.iter_modules([str(package_dir)])
        if info.name.startswith("obligations_") and not info.ispkg
    ]
    return [f"perpspec.proofs.{name}" for name in sorted(names)]


def discover() -> list[Obligation]:
    """Import every ``proofs/obligations_*.py`` (sorted) and return all obligations in order."""
    for module in obligation_modules():
        importlib.import_module(module)
    return list(REGISTRY.values())


def run_obligation(obligation: Obligation, timeout_ms: int | None = None) -> Outcome:
    """Run one obligation; ``timeout_ms`` (if given) overrides the obligation's own timeout.

    Its provers are offered the obligation's stored witnesses (:mod:`proofs.witnesses`): checked by
    evaluation, they spare solver queries and never change a result's status."""
    effective = timeout_ms if timeout_ms is not None else obligation.timeout_ms
    try:
        with timeout_override(effective), witnesses.for_obligation(obligation.id):
            result = obligation.run()
    except Exception as error:  # an obligation that crashes is a failure, reported, not fatal
        detail = "".join(traceback.format_exception_only(type(error), error)).strip()
        return Outcome(obligation=obligation, result=None, error=detail)
    return Outcome(obligation=obligation, result=result)
