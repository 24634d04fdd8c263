"""ACC-006 (attack review 2): its obligations run in the default suite, and the attack's figures replay on the rule.

The kernel obligations of :mod:`proofs.obligations_kernels_margin` run only under ``-m deep`` and in
``perpspec spec``; ACC-006's are linear and take milliseconds, so a broken isolated margin fails here through
its proof, and its known-bad variants (the rule before the fix among them) must stay refuted.
"""

from __future__ import annotations

import pytest

from perpspec.proofs.registry import Obligation, discover, run_obligation
from perpspec.rules.waterfall_postings import compute_isolated_margin_after_fill

ACC_006 = [obligation for obligation in discover() if obligation.rule_id == "ACC-006"]


def test_acc_006_has_its_obligations_and_known_bad_variants() -> None:
    proved = sorted(o.id for o in ACC_006 if o.expect == "proved")
    refuted = sorted(o.id for o in ACC_006 if o.expect == "refuted")
    assert proved == [
        "ACC-006/fill-available-keeps-tier-extras",  # session 21 (redteam31_4): proofs/obligations_fill_available.py
        "ACC-006/margin-after-fill",
        "ACC-006/monotone-in-available",  # session 21 (redteam32): proofs/obligations_fill_monotone.py
        "ACC-006/reduction-shares-deficit", "ACC-006/remainder-keeps-requirement"
    ]
    assert refuted == [
        "KNOWN-BAD/ACC-006/beyond-the-wallet",
        "KNOWN-BAD/ACC-006/caps-the-requirement",
        "KNOWN-BAD/ACC-006/charges-the-rest",
        "KNOWN-BAD/ACC-006/fill-available-counts-tier-extras",
        "KNOWN-BAD/ACC-006/keeps-profit",
        "KNOWN-BAD/ACC-006/premium-beyond-the-available",
        "KNOWN-BAD/ACC-006/share-from-the-closed-part",
        "KNOWN-BAD/ACC-006/share-from-the-free-wallet",
        "KNOWN-BAD/ACC-006/top-up-beyond-available",
        "KNOWN-BAD/ACC-006/uncapped-top-up",
        "KNOWN-BAD/ACC-006/whole-deficit",
    ]


@pytest.mark.parametrize("obligation", [pytest.param(o, id=o.id) for o in ACC_006])
def test_acc_006_obligation_has_its_expected_result(obligation: Obligation) -> None:
    outcome = run_obligation(obligation)
    assert (outcome.status_text, outcome.passed) == (obligation.expect, True), outcome.error or outcome.result


def test_acc_006_the_attack_reduction_keeps_the_rest_at_its_requirement() -> None:
    # XBTUSD isolated 50x short of 20,000 at 50,000.00 (margin 830,600 = its requirement), 19,000 bought back at
    # 50,040.00: the realised loss (30,370) is paid from the 789,070 the closed part frees; the rest keeps 41,530
    assert compute_isolated_margin_after_fill(830_600, 830_600, 41_530, -30_370, 0, 10**8, 10**9, -20_000, -1_000) == 41_530
    # the rule before the fix charged the loss to the rest: 41,530 − 30,370 = 11,160, below its maintenance


def test_acc_006_a_top_up_never_exceeds_the_unpaid_loss_nor_the_free_wallet() -> None:
    # requirement 1,000 -> 100, no extra, a loss of 1,000: 900 freed, 100 unpaid; the free wallet tops up 100
    assert compute_isolated_margin_after_fill(1_000, 1_000, 100, -1_000, 0, 10**9, 10**9, 10, 1) == 100
    # only 30 free beyond what the pool already counts (unallocated 30): 30 of the 100
    assert compute_isolated_margin_after_fill(1_000, 1_000, 100, -1_000, 0, 30, 10**9, 10, 1) == 30
    # a pool already 50 below its requirement before the fill is not topped up beyond the fill's own unpaid loss and
    # the closed part's share of the deficit (45, session 20): the remainder keeps its share, 100 - 5
    assert compute_isolated_margin_after_fill(950, 1_000, 100, -1_000, 0, 10**9, 10**9, 10, 1) == 95
    # and only as far as MRG-050's available reaches (review21_2): 30 of the 145; none, nothing
    assert compute_isolated_margin_after_fill(1_000, 1_000, 100, -1_000, 0, 10**9, 30, 10, 1) == 30
    assert compute_isolated_margin_after_fill(950, 1_000, 100, -1_000, 0, 10**9, 30, 10, 1) == -20
    assert compute_isolated_margin_after_fill(950, 1_000, 100, -1_000, 0, 10**9, 0, 10, 1) == -50


def test_acc_006_a_pool_never_keeps_an_earlier_premium_the_wallet_no_longer_holds() -> None:
    # black_thursday, account 1859 (isolated 20x, wallet 38,133,023 XBt): a resting buy filled piecewise by
    # liquidation orders far above a crashed mark; each fill's premium was funded while the wallet held it, and
    # the last fill's requirement came on top.  In small: the pool holds 20 (requirement 10, an earlier premium
    # 10), the fill raises the requirement to 25 with the wallet beyond other pools at 30: the pool gets 30, not
    # 35 (the earlier premium goes back as far as the wallet needs it)
    assert compute_isolated_margin_after_fill(20, 10, 25, 0, 0, 30, 10**9, 1, 2) == 30
    # the requirement itself is kept beyond the wallet (MRG-060 charged it; attack review 2), the premium is not
    assert compute_isolated_margin_after_fill(20, 10, 25, 0, 7, 22, 10**9, 1, 2) == 25
