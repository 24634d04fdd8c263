"""Proof obligations of ACC-006's ``available`` (``rules.waterfall_postings.compute_fill_available``): what an
isolated fill may draw from the rest of the account never counts what the chosen risk tiers hold.

Unbounded (any integers: MRG-050's available of either sign, the chosen tiers' extras ≥ 0, any draw ≥ 0):

* **ACC-006 fill available keeps the chosen tiers' extras** — the figure is ≥ 0 and never exceeds MRG-050's
  available (floored at 0), and every draw on the rest of the account of at most it leaves MRG-050's available at
  least the chosen tiers' extras (MRG-061: what they hold is not spent), or draws nothing.  With MRG-050's available
  after the draw covering the extras, the cross pool keeps its chosen-tier ``posInit + posComm`` (the extras are
  exactly what MRG-050's own-tier figures leave out, ``engine.core.risk.Risk.cross_tier_extras``).

Known-bad (expected refuted): MRG-050's available alone, floored at 0 — the figure before redteam31_4, which let an
isolated fill take a cross XBTUSD pool at tier 3 from 103,075,000 to 75,512,500 against a tier-3 maintenance of
83,075,000 at unchanged marks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from perpspec.proofs.kernels_common import iff
from perpspec.proofs.prover import ProofResult, Prover
from perpspec.proofs.registry import Obligation, register
from perpspec.proofs.sym import all_of, implies
from perpspec.rules.margin import compute_tier_free_available
from perpspec.rules.num import and_, ite
from perpspec.rules.waterfall_postings import compute_fill_available


def prove_fill_available(rule: Callable[[int, int], int]) -> ProofResult:
    """ACC-006's ``available`` with the chosen tiers' extras ``e`` ≥ 0 and MRG-050's available ``a`` any integer:
    ``0 ≤ rule(a, e) ≤ max(0, a)``, and every draw ``0 < d ≤ rule(a, e)`` leaves ``a − d ≥ e``."""
    with Prover() as prover:
        available, extras, draw = prover.symbol("available"), prover.symbol("tier_extras"), prover.symbol("draw")
        prover.witness(available=2, tier_extras=1, draw=1)
        prover.assume(extras >= 0, "the chosen tiers' extras ≥ 0")
        prover.assume(draw >= 0, "a draw ≥ 0")
        figure = rule(available, extras)
        bounded = all_of(figure >= 0, figure <= ite(available > 0, available, 0))
        kept = implies(and_(draw > 0, draw <= figure), available - draw >= extras)
        return prover.prove(all_of(bounded, kept), "ACC-006 fill available")


def prove_tier_free_available(rule: Callable[[int, int], int]) -> ProofResult:
    """MRG-061's figure with the chosen tiers' extras ``e`` ≥ 0 and an available ``a`` of MRG-050 any integer:
    ``rule(a, e) ≤ a``, ``rule(a, e) < 0`` exactly when ``a < e``, and every spend ``0 < d ≤ rule(a, e)`` leaves
    ``a − d ≥ e``."""
    with Prover() as prover:
        available, extras, spend = prover.symbol("available"), prover.symbol("tier_extras"), prover.symbol("spend")
        prover.witness(available=2, tier_extras=1, spend=1)
        prover.assume(extras >= 0, "the chosen tiers' extras ≥ 0")
        figure = rule(available, extras)
        return prover.prove(
            all_of(
                figure <= available,
                iff(figure < 0, available < extras),
                implies(and_(spend > 0, spend <= figure), available - spend >= extras),
            ),
            "MRG-061 tier-free available",
        )


def _mrg_050_available_unreduced(available_margin: int, tier_extras: int) -> int:
    """KNOWN-BAD MRG-061 (redteam12_1): MRG-050's available alone: a chosen tier's extra counted as free."""
    del tier_extras
    return available_margin


def _mrg_050_available_alone(available_margin: int, tier_extras: int) -> int:
    """KNOWN-BAD ACC-006 (redteam31_4): MRG-050's available alone, floored: a chosen tier's extra counted as free."""
    del tier_extras
    return ite(available_margin > 0, available_margin, 0)


def _register() -> None:
    register(
        Obligation(
            id="ACC-006/fill-available-keeps-tier-extras",
            rule_id="ACC-006",
            invariant_id="INV-NO-NEG-EQUITY",
            statement=(
                "ACC-006's available (compute_fill_available) is ≥ 0 and ≤ MRG-050's available, and a draw of at "
                "most it leaves MRG-050's available covering what the chosen risk tiers hold (MRG-061)."
            ),
            run=functools.partial(prove_fill_available, compute_fill_available),
        )
    )
    register(
        Obligation(
            id="KNOWN-BAD/ACC-006/fill-available-counts-tier-extras",
            rule_id="ACC-006",
            invariant_id="INV-NO-NEG-EQUITY",
            statement=(
                "Known-bad (redteam31_4): MRG-050's available alone lets an isolated fill draw what a cross "
                "position's chosen risk tier holds."
            ),
            run=functools.partial(prove_fill_available, _mrg_050_available_alone),
            expect="refuted",
        )
    )

    register(
        Obligation(
            id="MRG-061/tier-free-available-keeps-tier-extras",
            rule_id="MRG-061",
            invariant_id="INV-MARGIN-ON-ENTRY",
            statement=(
                "MRG-061's figure (compute_tier_free_available) is MRG-050's available less the chosen tiers' extras: "
                "≤ that available, below 0 exactly when the extras exceed it, and a spend of at most it leaves the "
                "available covering what the chosen risk tiers hold."
            ),
            run=functools.partial(prove_tier_free_available, compute_tier_free_available),
        )
    )
    register(
        Obligation(
            id="KNOWN-BAD/MRG-061/tier-extras-counted-free",
            rule_id="MRG-061",
            invariant_id="INV-MARGIN-ON-ENTRY",
            statement="Known-bad (redteam12_1): MRG-050's available alone spends what a chosen risk tier holds.",
            run=functools.partial(prove_tier_free_available, _mrg_050_available_unreduced),
            expect="refuted",
        )
    )


_register()
