"""The obligations of LIQ-054 (proofs/obligations_free_wallet.py) have their results, in the default suite."""

from __future__ import annotations

import pytest

from perpspec.proofs.registry import Obligation, discover, run_obligation

MODULE = "perpspec.proofs.obligations_free_wallet"


def _module_of(obligation: Obligation) -> str:
    run = obligation.run
    return str(getattr(getattr(run, "func", None), "__module__", getattr(run, "__module__", "")))


FREE_WALLET_OBLIGATIONS = [obligation for obligation in discover() if _module_of(obligation) == MODULE]


def test_every_free_wallet_obligation_is_registered() -> None:
    known_bad = [obligation.id for obligation in FREE_WALLET_OBLIGATIONS if obligation.expect == "refuted"]
    # 3 instruments × (cross, isolated) proved; 3 × 3 known-bad variants refuted (session 7: 2; session 8: no-lower-after-a-close)
    assert (len(FREE_WALLET_OBLIGATIONS), len(known_bad)) == (15, 9)


@pytest.mark.parametrize("obligation", [pytest.param(o, id=o.id) for o in FREE_WALLET_OBLIGATIONS])
def test_free_wallet_obligation_has_its_expected_result(obligation: Obligation) -> None:
    outcome = run_obligation(obligation)
    assert (outcome.status_text, outcome.passed) == (obligation.expect, True), outcome.error or outcome.result
