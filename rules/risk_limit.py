"""RSK: risk limits — margin requirements that grow with the size of a position.

A small position needs the instrument's *base* margins (XBTUSD: initial 1.00%,
maintenance 0.50%).  Above the base risk limit (XBTUSD: 200 XBT) every further
risk step (150 XBT), or part of one, adds one base maintenance margin to both
requirements (reference §2):

    steps              = max(0, ceil((position value − riskLimit) / riskStep))
    maintMarginReq     = maintMargin × (1 + steps)
    initMarginReq      = initMargin + steps × maintMargin

(An instrument file may set ``maintMarginStep`` / ``initMarginStep`` to add a
different amount per step; both default to ``maintMargin``, BitMEX's rule.)

which gives BitMEX's published table for XBTUSD (0.50%/1.00%, 1.00%/1.50%,
1.50%/2.00%, 2.00%/2.50%, …).  The increments per step are the instrument
parameters ``maintMarginStep`` and ``initMarginStep``, both ``maintMargin``
unless a file says otherwise (``perpspec check-params`` proves that
maintenance stays below initial margin at every tier).  A position worth exactly the base limit (or
exactly one step more) stays in the lower tier: the step count is a ceiling.

*Position value* [I]: the rulebook uses the position's **entry value**
``|cost|`` (BitMEX ``posCost``), not its value at mark.  This keeps the
requirements of a position fixed while the mark moves — the same choice the
reference's position accounting model makes for ``posInit``/``posMaint``, which
reproduce real records — so that the liquidation price is a fixed number
between fills, and a mark move can never raise the requirement and liquidate a
position "by re-tiering".  Open orders are counted by the caller when it checks a
chosen risk limit (:func:`check_risk_limit`).
"""

from __future__ import annotations

import enum

import attrs

from perpspec.rules.instrument import Instrument
from perpspec.rules.num import PPM, ceildiv, concrete, max_


def compute_risk_steps(inst: Instrument, position_value: int) -> int:
    """RSK-001: risk-limit steps above the base limit for a position of ``position_value`` (≥ 0, minor units)."""
    # ceil: any part of a step counts as a whole step (requirement rounded toward the system).
    return max_(0, ceildiv(position_value - inst.risk_limit, inst.risk_step))


def compute_maint_margin_req_ppm(inst: Instrument, steps: int) -> int:
    """RSK-002: maintenance margin requirement at ``steps`` risk steps: ``maintMargin × (1 + steps)`` (ppm).

    Precisely ``maintMargin + steps × maintMarginStep``; the step defaults to ``maintMargin``.
    """
    return inst.maint_margin_ppm + steps * inst.maint_margin_step_ppm


def compute_risk_init_margin_req_ppm(inst: Instrument, steps: int) -> int:
    """RSK-003: initial margin requirement at ``steps`` risk steps: ``initMargin + steps × maintMargin`` (ppm).

    Precisely ``initMargin + steps × initMarginStep``; the step defaults to ``maintMargin``.
    """
    return inst.init_margin_ppm + steps * inst.init_margin_step_ppm


def compute_tier_limit(inst: Instrument, steps: int) -> int:
    """RSK-004: the largest position value (minor units) that still falls in tier ``steps``."""
    return inst.risk_limit + steps * inst.risk_step


def compute_max_leverage_hundredths(inst: Instrument, steps: int) -> int:
    """RSK-005: largest isolated leverage (hundredths, 100x = 10_000) allowed at ``steps`` risk steps."""
    # floor: never more leverage than the tier's initial margin allows.
    return (PPM * 100) // compute_risk_init_margin_req_ppm(inst, steps)


class RiskLimitReason(enum.Enum):
    """Why an order or a risk-limit change was refused."""

    RISK_LIMIT_EXCEEDED = "RiskLimitExceeded"  # the position plus orders would pass the chosen limit
    RISK_LIMIT_INVALID = "RiskLimitInvalid"  # not the base limit plus a whole number of steps


@attrs.frozen(kw_only=True)
class RiskLimitRejection:
    """A typed refusal: the reason, and the value that was tested against the limit."""

    reason: RiskLimitReason
    value: int
    limit: int


@concrete
def check_risk_limit_choice(inst: Instrument, chosen_limit: int) -> RiskLimitRejection | None:
    """RSK-006: a chosen risk limit must be ``riskLimit + k × riskStep`` for some whole ``k ≥ 0``.

    SetRiskLimit also refuses a choice that takes the available balance below zero (and lower than before), judged
    net of what the chosen tiers would hold: every cross position's ``posInit + posComm`` at its chosen tier less at
    its own steps, taken after the larger side of its resting orders filled (as MRG-045 nets a contract's orders), so
    a tier raised over resting orders and no position is charged what their fills would hold [session 17,
    review14_1: it cost nothing, and the resting buy's fill left the pool far below maintenance at the new tier].
    """
    steps = (chosen_limit - inst.risk_limit) // inst.risk_step
    valid = chosen_limit >= inst.risk_limit and compute_tier_limit(inst, steps) == chosen_limit
    if valid:
        return None
    return RiskLimitRejection(reason=RiskLimitReason.RISK_LIMIT_INVALID, value=chosen_limit, limit=inst.risk_limit)


@concrete
def check_risk_limit(gross_value: int, chosen_limit: int) -> RiskLimitRejection | None:
    """RSK-007: an order is refused when the position's value plus its open orders' would pass the chosen limit.

    ``gross_value`` is the larger of (|position value| + buy orders) and
    (|position value| + sell orders) after the order, in minor units.
    """
    if gross_value <= chosen_limit:
        return None
    return RiskLimitRejection(reason=RiskLimitReason.RISK_LIMIT_EXCEEDED, value=gross_value, limit=chosen_limit)
