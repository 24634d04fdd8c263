"""LIQ-040's ``available = 0`` stand-in (later fills of a sweep, LIQ-042 at entry, the liquidation engine's makers) is
a lower bound because ACC-006 is monotone in its available (redteam32), and MRG-061's figure is one rule
(``rules.margin.compute_tier_free_available``) proved like ACC-006's (acc21): their obligations and known-bad
variants run in the default suite (each well under a second).
"""

from __future__ import annotations

import pytest

from perpspec.proofs.prover import Prover, Status
from perpspec.proofs.registry import Obligation, discover, run_obligation
from perpspec.rules.margin import compute_tier_free_available
from perpspec.rules.waterfall_postings import compute_fill_available, compute_isolated_margin_after_fill

OBLIGATIONS = [
    o for o in discover()
    if "zero-available-is-a-lower-bound" in o.id or "premium-beyond-the-available" in o.id
    or o.id.endswith("ACC-006/monotone-in-available") or "tier-free-available" in o.id
    or o.id == "KNOWN-BAD/MRG-061/tier-extras-counted-free"
]


def test_the_obligations_are_registered() -> None:
    proved = sorted(o.id for o in OBLIGATIONS if o.expect == "proved")
    refuted = sorted(o.id for o in OBLIGATIONS if o.expect == "refuted")
    symbols = ("ETHUSD", "XBTUSD", "XBTUSDT")
    assert proved == sorted(
        ["ACC-006/monotone-in-available", "MRG-061/tier-free-available-keeps-tier-extras"]
        + [f"LIQ-040/zero-available-is-a-lower-bound/{s}/{m}" for s in symbols for m in ("cross", "isolated")]
    )
    assert refuted == sorted(
        ["KNOWN-BAD/ACC-006/premium-beyond-the-available", "KNOWN-BAD/MRG-061/tier-extras-counted-free"]
        + [f"KNOWN-BAD/LIQ-040/premium-beyond-the-available/{s}" for s in symbols]
    )


@pytest.mark.parametrize("obligation", [pytest.param(o, id=o.id) for o in OBLIGATIONS])
def test_obligation_has_its_expected_result(obligation: Obligation) -> None:
    outcome = run_obligation(obligation)
    assert (outcome.status_text, outcome.passed) == (obligation.expect, True), outcome.error or outcome.result


def test_contradictory_assumptions_are_vacuous_not_proved() -> None:
    with Prover() as prover:
        x = prover.symbol("x")
        prover.assume(x > 0, "positive")
        prover.assume(x < 0, "negative")
        assert prover.prove(x == 7, "anything").status is Status.VACUOUS


def test_a_larger_available_never_lowers_the_margin_and_adds_at_most_itself() -> None:
    # a 2-lot long half closed at a loss of 60 its freed requirement (50) does not cover: 10 drawn from the available
    args = (100, 100, 50, -60, 0, 10**6)
    margins = [compute_isolated_margin_after_fill(*args, available, 2, 1) for available in (0, 4, 10, 10**6)]
    assert margins == [40, 44, 50, 50]  # the remainder keeps 40 of its 50 with none, its 50 once 10 is available


def test_mrg_061_figure_and_the_fill_available_agree() -> None:
    assert [compute_tier_free_available(a, 30) for a in (-5, 0, 30, 100)] == [-35, -30, 0, 70]
    assert [compute_fill_available(a, 30) for a in (-5, 0, 30, 100)] == [0, 0, 0, 70]
