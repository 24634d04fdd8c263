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


# Since ACC-006 shares an isolated pool's deficit on a reduction (session 18, fix20), the isolated obligations need
# more than their 60 s per query on a shared machine: `perpspec spec --timeout-ms 120000` proved all three, the
# default timeout left them unknown in CI.  They run in the opt-in deep suite, at that timeout.
DEEP_TIMEOUT_MS = 120_000


def _is_slow(obligation: Obligation) -> bool:
    return obligation.id.startswith("LIQ-054/accepted-fill-keeps-free-wallet/") and obligation.id.endswith("/isolated")


@pytest.mark.parametrize(
    "obligation",
    [pytest.param(o, id=o.id, marks=[pytest.mark.deep] if _is_slow(o) else []) for o in FREE_WALLET_OBLIGATIONS],
)
def test_free_wallet_obligation_has_its_expected_result(obligation: Obligation) -> None:
    outcome = run_obligation(obligation, DEEP_TIMEOUT_MS if _is_slow(obligation) else None)
    assert (outcome.status_text, outcome.passed) == (obligation.expect, True), outcome.error or outcome.result
