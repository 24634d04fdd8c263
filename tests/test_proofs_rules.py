"""The per-rule obligations of issue 20 hold, and every known-bad variant is refuted with a counterexample.

The path-explored checks and the inductive steps are quick and run by default;
the kernel obligations (about 200, some nonlinear) run with ``-m deep`` and in
``perpspec spec``, which records every outcome in specs/proof-status.json.
"""

from __future__ import annotations

import pytest

from perpspec.proofs import obligations_checks, obligations_inductive, obligations_kernels
from perpspec.proofs.registry import Obligation, run_obligation

QUICK = obligations_checks.OBLIGATIONS + obligations_inductive.OBLIGATIONS


@pytest.mark.parametrize("obligation", QUICK, ids=[obligation.id for obligation in QUICK])
def test_quick_obligation_has_its_expected_result(obligation: Obligation) -> None:
    outcome = run_obligation(obligation)
    counterexample = None if outcome.result is None else outcome.result.counterexample
    assert (outcome.passed, obligation.expect == "refuted" and counterexample is None) == (True, False), outcome


@pytest.mark.deep
@pytest.mark.parametrize(
    "obligation", obligations_kernels.OBLIGATIONS, ids=[obligation.id for obligation in obligations_kernels.OBLIGATIONS]
)
def test_kernel_obligation_has_its_expected_result(obligation: Obligation) -> None:
    assert run_obligation(obligation).passed


def test_every_rule_with_obligations_here_has_a_known_bad_variant() -> None:
    every = QUICK + obligations_kernels.OBLIGATIONS
    proved = {o.rule_id.split()[0] for o in every if o.expect == "proved"}
    refuted = {o.rule_id.split()[0] for o in every if o.expect == "refuted"}
    assert sorted(proved - refuted) == []
