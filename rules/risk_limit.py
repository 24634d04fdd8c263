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

from perpspec.rules.contract import compute_notional
from perpspec.rules.instrument import Instrument
from perpspec.rules.num import PPM, abs_, ceildiv, concrete, max_, or_


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
    CONCENTRATED = "ConcentratedPositionReduceOnly"  # RSK-008: above the share of the open interest, only reduce


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


@concrete
def is_concentrated(inst: Instrument, position_qty: int, open_interest: int) -> bool:
    """RSK-008's share test: ``|position| > concentrationShare × open interest`` (exact: ``|q| × 10⁶ > share × OI``).

    Measured in contracts: a contract's value is linear in whole lots (CON-002), so at one price the share of the
    open *value* is the share of the open interest exactly.  Falls as the open interest grows, so an engine may stop
    summing the open interest once this is false (the verdict of :func:`check_concentration` is then "accepted"
    whatever the rest of the sum).
    """
    return abs_(position_qty) * PPM > inst.concentration_share_ppm * open_interest


def compute_concentration_reach(inst: Instrument, position_qty: int) -> int:
    """RSK-008: the largest open interest at which ``position_qty`` is above the share (:func:`is_concentrated`).

    ``|q| × 10⁶ > share × OI`` exactly when ``OI ≤ ⌊(|q| × 10⁶ − 1) / share⌋``.  An order is refused only when the
    open interest is at most this *and* its value reaches ``concentrationFloor``; values grow with the open interest
    (CON-003), so when the reach's own value is below the floor no open interest can make the account concentrated
    at or above it, and the verdict is "accepted" without summing the open interest (RSK-008/reach).
    """
    return (abs_(position_qty) * PPM - 1) // inst.concentration_share_ppm


def concentration_cannot_refuse(inst: Instrument, reach: int, mark: int) -> bool:
    """RSK-008: no open interest can make :func:`check_concentration` refuse, given the account's ``reach``.

    ``reach``: :func:`compute_concentration_reach` of the account's position; ``mark``: the contract's mark (> 0).
    True when the reach is negative (no open interest leaves the account concentrated) or the reach's value at the
    mark (CON-003) is *strictly* below ``concentrationFloor``: every open interest that leaves the account above the
    share is then worth less than the floor, and every larger one leaves it at or below the share.  At exactly the
    floor the rule can refuse (the open value "at least ``concentrationFloor``"), so this is False there.  The
    engine's shortcut (``OrderEntry.check_concentration`` accepts without summing the open interest) and the
    obligation that justifies it (RSK-008/reach: whenever this is True, :func:`check_concentration` accepts every
    order whatever the open interest) call this one function.
    """
    return or_(reach < 0, compute_notional(inst, reach, mark) < inst.concentration_floor)


@concrete
def check_concentration(
    inst: Instrument, position_qty: int, order_signed: int, open_interest: int, open_value: int
) -> RiskLimitRejection | None:
    """RSK-008: an account whose position is more than ``concentrationShare`` of the contract's open value may only reduce.

    BitMEX [S] (reference §3): "an account whose open position in a contract is more than 20% of that
    contract's open value may only reduce until it is below".  An order of ``order_signed`` contracts by an account
    holding ``position_qty`` is refused exactly when

    * the order is not a pure reduction (it is on the position's side, or larger than the position: it would
      flip it), and
    * the open value is at least ``concentrationFloor`` (``open_value``: the open interest valued at the mark), and
    * :func:`is_concentrated`: ``|position| > concentrationShare × open interest`` (strictly more; exactly at the
      share it may still open).

    ``open_interest``: the contract's open interest (Σ long positions = Σ short positions, INV-OI-BALANCE; the
    account's own position is part of it; the engine counts the accounts' positions, not a pending close-out of the
    liquidation engine [I]); ``open_value``: its value at the mark.  A flat account is never
    concentrated.  ReduceOnly and Close orders reduce by construction (clamped to the position, ORD-011/012) and
    pass.

    *The floor* [I]: BitMEX states none.  Without one, every account of a small market holds more than 20% (with
    four holders on a side at least one does), and nothing could ever be added to; the rule is about the
    concentration the insurance fund and ADL must absorb in a large market.  The shipped instruments set
    ``concentrationFloor`` to 50 × their base ``riskLimit`` (XBTUSD and XBTZ26: 10,000 XBT; ETHUSD: 2,500 XBT;
    XBTUSDT: 50,000,000 USDT): at the floor an account at the share holds ten times the base risk limit.  That is
    above every open value the shipped scenarios reach (at most ≈6,520 XBT, default_crash, whose two to four market
    makers hold well over 20% each) and the benchmark's, so their behaviour is unchanged; BitMEX's XBTUSD open value
    was several times the floor in 2020.  An instrument file without ``concentrationShare`` has no restriction (the
    default share is 100%, which no position exceeds).

    *What is checked, and when* [I]: the state when the order is judged — a new order at entry, a conditional
    order when it fires, an amend that raises an order's quantity (engine ``check_concentration``) — not each fill
    of its sweep: an order accepted while the account was at or below the share may take it above the share, and
    its resting orders are not cancelled when it gets there.  (BitMEX's "until it is below" concerns what the
    account may send next.)  Each order is judged alone, not net of the account's other open orders on its side
    [I]: three sells of a long's size are each "a pure reduction", and filled they leave it short twice its old
    size (review18_1).  Netting them would buy nothing: the account may sell to flat and then sell again (a flat
    account is never concentrated), so the rule bounds what one order may add, not where a sequence may end.
    """
    if position_qty > 0 and -position_qty <= order_signed < 0:
        return None  # a sell within a long: it only reduces
    if position_qty < 0 and 0 < order_signed <= -position_qty:
        return None  # a buy within a short: it only reduces
    if open_value < inst.concentration_floor:
        return None
    if not is_concentrated(inst, position_qty, open_interest):
        return None
    return RiskLimitRejection(reason=RiskLimitReason.CONCENTRATED, value=abs_(position_qty), limit=open_interest)
