"""The per-rule obligations of issue 20 hold, and every known-bad variant is refuted with a counterexample.

The path-explored checks and the inductive steps are quick and run by default;
the kernel obligations (about 200, some nonlinear) run with ``-m deep`` and in
``perpspec spec``, which records every outcome in specs/proof-status.json.
"""

from __future__ import annotations

import pytest

from perpspec.proofs import (
    obligations_checks,
    obligations_inductive,
    obligations_kernels,
    obligations_kernels_pinned,
)
from perpspec.proofs.registry import Obligation, run_obligation

QUICK = obligations_checks.OBLIGATIONS + obligations_inductive.OBLIGATIONS


def _pinned(obligation: Obligation) -> bool:
    """One of :mod:`proofs.obligations_kernels_pinned`'s (each proved or refuted in about a second: run by default)."""
    return bool(getattr(getattr(obligation.run, "func", None), "__module__", "") == obligations_kernels_pinned.__name__)


PINNED = [obligation for obligation in obligations_kernels.OBLIGATIONS if _pinned(obligation)]
DEEP = [obligation for obligation in obligations_kernels.OBLIGATIONS if not _pinned(obligation)]


@pytest.mark.parametrize("obligation", QUICK, ids=[obligation.id for obligation in QUICK])
def test_quick_obligation_has_its_expected_result(obligation: Obligation) -> None:
    outcome = run_obligation(obligation)
    counterexample = None if outcome.result is None else outcome.result.counterexample
    assert (outcome.passed, obligation.expect == "refuted" and counterexample is None) == (True, False), outcome


@pytest.mark.deep
@pytest.mark.parametrize("obligation", DEEP, ids=[obligation.id for obligation in DEEP])
def test_kernel_obligation_has_its_expected_result(obligation: Obligation) -> None:
    assert run_obligation(obligation).passed


@pytest.mark.parametrize("obligation", PINNED, ids=[obligation.id for obligation in PINNED])
def test_pinned_obligation_has_its_expected_result(obligation: Obligation) -> None:
    """redteam25 part 2b: MRG-050 from BitMEX's definitions, MRK-009/010 both bounds, LIQ-014's property; each
    known-bad (the planted slips M3, M4, MK9; LIQ-014's clauses dropped) refuted with a counterexample."""
    outcome = run_obligation(obligation)
    counterexample = None if outcome.result is None else outcome.result.counterexample
    assert (outcome.passed, obligation.expect == "refuted" and counterexample is None) == (True, False), outcome


def test_the_pinned_obligations_are_all_there() -> None:
    """The statements for the slips redteam25 planted, each with its known-bad (a filter that matched nothing would pass)."""
    ids = {obligation.id for obligation in PINNED}
    assert {"MRG-050/bitmex-definitions/k=3", "KNOWN-BAD/MRG-050/available-without-order-margin/k=1",
            "KNOWN-BAD/MRG-050/isolated-profit-as-cross-profit/k=1", "MRK-009/exact-half-width/XBTUSD",
            "KNOWN-BAD/MRK-009/half-width-halved/XBTUSD", "MRK-010/exact/ETHUSD", "KNOWN-BAD/MRK-010/half-width-halved/ETHUSD",
            "LIQ-014/feasible-means-safe/XBTUSDT", "KNOWN-BAD/LIQ-014/headroom-dropped-property/XBTUSDT"} <= ids  # fmt: skip
    assert len(PINNED) == 29


def test_every_rule_with_obligations_here_has_a_known_bad_variant() -> None:
    every = QUICK + obligations_kernels.OBLIGATIONS
    proved = {o.rule_id.split()[0] for o in every if o.expect == "proved"}
    refuted = {o.rule_id.split()[0] for o in every if o.expect == "refuted"}
    assert sorted(proved - refuted) == []
