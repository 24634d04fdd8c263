"""The obligations of issue 13 (proofs/obligations_solvency.py, obligations_adl_eligibility.py) have their results.

Every obligation runs here (the slow ones, seconds each on inverse values, in ``deep``), so a broken
solvency or ADL-003 kernel fails the default suite through its proof, not only through examples.
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
# inverse (per-lot rounded values) and the isolated fill (ACC-006 inside): seconds to a minute each
SLOW_MARKERS = (
    "XBTUSD/",
    "/XBTUSD",
    "accepted-fill-keeps-equity/ETHUSD/isolated",
    "accepted-fill-keeps-equity/XBTUSDT/isolated",
)
# the better-price ones run on lemmas and their linear abstraction: under a second each, every instrument
FAST_MARKERS = ("better-price-no-worse/",)


def _param(obligation: Obligation) -> object:
    fast = any(marker in obligation.id for marker in FAST_MARKERS)
    slow = not fast and any(marker in obligation.id for marker in SLOW_MARKERS)
    return pytest.param(obligation, id=obligation.id, marks=[pytest.mark.deep] if slow else [])


def test_every_solvency_obligation_is_registered() -> None:
    known_bad = [obligation.id for obligation in SOLVENCY_OBLIGATIONS if obligation.expect == "refuted"]
    assert (len(SOLVENCY_OBLIGATIONS), len(known_bad)) == (50, 12)


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
