"""The obligations of issue 13 (proofs/obligations_solvency.py, obligations_adl_eligibility.py) have their results.

Every obligation runs here, in the default suite, so a broken solvency or ADL-003 kernel (or a broken
lemma they rest on) fails it through its proof, not only through examples.
"""

from __future__ import annotations

import pytest

from perpspec.proofs.registry import Obligation, discover, run_obligation
from perpspec.rules.solvency import is_fill_solvent

MODULES = ("perpspec.proofs.obligations_solvency", "perpspec.proofs.obligations_adl_eligibility")


def _module_of(obligation: Obligation) -> str:
    run = obligation.run
    return str(getattr(getattr(run, "func", None), "__module__", getattr(run, "__module__", "")))


SOLVENCY_OBLIGATIONS = [obligation for obligation in discover() if _module_of(obligation) in MODULES]
# Every one runs in the default suite: on lemmas and their linear abstraction each takes well under a
# second (all 60: about 10 CPU-s).  Before, the inverse, isolated and better-price ones took seconds to
# minutes (one ended `unknown`) and ran only under `-m deep`.


def _param(obligation: Obligation) -> object:
    return pytest.param(obligation, id=obligation.id)


def test_every_solvency_obligation_is_registered() -> None:
    known_bad = [obligation.id for obligation in SOLVENCY_OBLIGATIONS if obligation.expect == "refuted"]
    # LIQ-052 and LIQ-053 (session 5): 2 + 2; LIQ-040 isolated-fill-keeps-requirement (session 6, ACC-006): 3 + 3;
    # LIQ-055 (session 12): 1 + 1; KNOWN-BAD/LIQ-044/fill-check-on-the-free-wallet/{XBTUSD,ETHUSD,XBTUSDT} (session
    # 21, liq040: fix26_2's measure refuted): 0 + 3
    assert (len(SOLVENCY_OBLIGATIONS), len(known_bad)) == (65, 21)


@pytest.mark.parametrize("obligation", [_param(obligation) for obligation in SOLVENCY_OBLIGATIONS])
def test_solvency_obligation_has_its_expected_result(obligation: Obligation) -> None:
    outcome = run_obligation(obligation)
    assert (outcome.status_text, outcome.passed) == (obligation.expect, True), outcome.error or outcome.result


def test_a_fill_leaving_exactly_zero_is_solvent_and_one_below_is_not() -> None:
    assert [is_fill_solvent(5, 0, 5, 0), is_fill_solvent(5, -1, 5, 0), is_fill_solvent(5, 0, 5, -1)] == [
        True,
        False,
        False,
    ]


def test_an_already_insolvent_account_may_improve_but_not_worsen() -> None:
    assert [is_fill_solvent(-10, -10, 5, 5), is_fill_solvent(-10, -11, 5, 5), is_fill_solvent(5, 5, -3, -2)] == [
        True,
        False,
        True,
    ]
