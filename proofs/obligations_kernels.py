"""Proof obligations for the rule kernels that had none (issue 20: every rule proved or waived).

Each obligation is the invariant the rule must preserve, per the registry's
shape: money-moving kernels prove **conservation** (a position's unrealised
PnL, equity term or pool residual is exactly what closing it would realise;
a haircut is exactly the candidate's loss of equity); fund-moving kernels
prove the **fund's sign and balance**; price and requirement kernels prove
their **safe-side rounding** (requirements and fees up, credits and limits
down, band edges inward, neutral references half up within half a unit);
rejection predicates prove they reject **exactly** the stated set (both
directions).  Every proof runs the rule's own code on symbolic integers.

Per contract type the instrument-dependent ones run on XBTUSD (inverse),
ETHUSD (quanto) and XBTUSDT (linear); XBTZ26 has XBTUSD's contract parameters.

Each rule here has at least one known-bad variant
(:mod:`proofs.known_bad_kernels`) — a rounding direction, a strict vs
non-strict comparison, a dropped clause or a sign — expected to be refuted
with a printed counterexample.
"""

from __future__ import annotations

from perpspec.proofs import (  # noqa: F401  (importing registers their obligations)
    obligations_kernels_liquidation,
    obligations_kernels_margin,
    obligations_kernels_pinned,
    obligations_kernels_prices,
    obligations_kernels_value,
)
from perpspec.proofs.kernels_common import OBLIGATIONS

__all__ = ["OBLIGATIONS"]
