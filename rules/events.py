"""Explainable events of the liquidation waterfall: which rule acted, on what inputs, with what outcome.

Every step of the waterfall (DESIGN §6) emits one of these records.  Each
names its rule id (``rule_id``), carries the inputs the rule read (mark price,
margin, maintenance, bankruptcy price, ranking score, fund balance …) and its
outcome, so a reader — or an invariant check — can recompute the decision
from the event alone.  The engine forwards them unchanged, adding its
sequence number.

Money is in the settlement currency's minor unit, prices in price units,
quantities in contracts (signed: long > 0) unless a field says otherwise.
"""

from __future__ import annotations

import attrs


@attrs.frozen(kw_only=True)
class PositionSnapshot:
    """One position of a liquidated pool as the trigger saw it."""

    symbol: str
    qty: int
    cost: int
    leverage_hundredths: int  # 0 = cross
    chosen_tier: int  # risk-limit steps the owner chose
    mark_price: int


@attrs.frozen(kw_only=True)
class OrdersCancelled:
    """LIQ-020: the engine must cancel the account's open orders in ``symbol`` (liquidation or ADL)."""

    rule_id: str
    account_id: int
    symbol: str
    open_order_qty: int  # contracts resting before the cancel
    reason: str  # "liquidation" | "adl"


@attrs.frozen(kw_only=True)
class RiskLimitLowered:
    """LIQ-021: partial liquidation step 1 — the risk limit lowered to the tier orders and position fit."""

    rule_id: str
    account_id: int
    symbol: str
    from_tier: int
    to_tier: int
    gross_value: int  # |cost| + open orders' value the new tier must hold
    equity: int  # pool equity at mark
    maintenance_before: int
    maintenance_after: int


@attrs.frozen(kw_only=True)
class PartialLiquidation:
    """LIQ-022: partial liquidation step 3 — a FillOrKill reduction to the next lower tier."""

    rule_id: str
    account_id: int
    pool: str
    symbol: str
    mark_price: int
    equity: int  # pool equity at mark before
    maintenance: int  # pool maintenance before (the trigger)
    pool_margin: int  # the pool's margin (wallet part) before
    positions: tuple[PositionSnapshot, ...]  # the pool's positions before
    close_qty: int  # signed like the position
    limit_price: int
    filled: bool  # False: killed, nothing traded
    fills: tuple[tuple[int, int], ...]  # (qty, price)
    from_tier: int
    to_tier: int
    maintenance_after: int  # the new tier's maintenance of the pool
    makers: tuple[int, ...] = ()  # the accounts whose resting orders filled it, one per fill


@attrs.frozen(kw_only=True)
class TakenOverPosition:
    """One position the liquidation engine took over, and the price it took it at."""

    symbol: str
    qty: int
    cost: int
    takeover_price: int  # the bankruptcy price (primary) or the mark (the pool's other positions)
    pending_id: int  # the close-out it became


@attrs.frozen(kw_only=True)
class Liquidation:
    """LIQ-023: a pool below maintenance at mark, taken over by the liquidation engine."""

    rule_id: str
    account_id: int
    pool: str  # "cross:<currency>" or "isolated:<symbol>"
    currency: str
    pool_margin: int  # the pool's margin (wallet part) before
    positions: tuple[PositionSnapshot, ...]  # the trigger's inputs
    equity: int  # pool equity at mark
    maintenance: int  # Σ posMaint
    taken: tuple[TakenOverPosition, ...]
    residual_margin: int  # what the pool had left at the take-over prices: to the fund


@attrs.frozen(kw_only=True)
class InsuranceMovement:
    """INS-010: the fund moved: a deposit, a pool's residual margin, a surplus fill or a draw."""

    rule_id: str
    currency: str
    kind: str  # "deposit" | "residual" | "surplus" | "draw"
    amount: int  # signed change of the balance
    balance_before: int
    balance_after: int
    timestamp_ms: int
    symbol: str = ""
    pending_id: int = -1


@attrs.frozen(kw_only=True)
class LiquidationFill:
    """LIQ-024: the liquidation engine closed part of a taken-over position in the book."""

    rule_id: str
    pending_id: int
    symbol: str
    maker_account_id: int
    qty: int  # signed, from the engine's side (selling a taken-over long: < 0)
    price: int
    bankruptcy_price: int
    fund_delta: int  # INS-001: > 0 surplus, < 0 draw


@attrs.frozen(kw_only=True)
class AdlFill:
    """ADL-020: an opposing position closed at the bankruptcy price."""

    rule_id: str
    policy: str
    pending_id: int
    symbol: str
    account_id: int
    rank: int  # 0 = top of the queue among the eligible
    position_qty: int  # before
    position_cost: int  # before
    pool_equity: int  # at mark, before
    score_num: int  # ADL-001 as an exact fraction
    score_den: int
    close_qty: int  # signed like the position
    price: int  # the bankruptcy price
    mark_price: int
    haircut: int  # ADL-004: given up against the mark
    unfilled_before: int  # contracts
    unfilled_after: int
    equity_after: int  # pool equity at mark, after


@attrs.frozen(kw_only=True)
class AdlShortfall:
    """ADL-021: no eligible opposing position is left; the engine keeps the rest and retries next update."""

    rule_id: str
    pending_id: int
    symbol: str
    unfilled_qty: int
    bankruptcy_price: int
    eligible_count: int


@attrs.frozen(kw_only=True)
class AdlDeferred:
    """ADL-031/032: the book could not close the rest, but no ADL yet.

    ADL-031: the fund still covers what is held at mark (``fund_cover`` ≥ 0); ADL-032: the cover is < 0 but the
    mark has not reached this close-out's bankruptcy price (it is in profit at mark).
    """

    rule_id: str
    pending_id: int
    symbol: str
    unfilled_qty: int
    bankruptcy_price: int
    mark_price: int
    fund_balance: int
    fund_cover: int  # fund + PnL at mark of everything held in this currency (≥ 0 under ADL-031)


@attrs.frozen(kw_only=True)
class WaterfallCarried:
    """LIQ-034: the update's liquidation budget is spent; the pools still below maintenance wait for the next update.

    The waterfall of this update is not complete: an account named here may end
    it with negative equity, only because its turn has not come.  ``pools_due``
    is ``len(pools)`` (> 0: a waterfall that spent its budget and left nothing
    due emits no record); ``account_ids`` and ``pools`` are parallel, in
    LIQ-033's order, the pools as :class:`Liquidation` names them.
    """

    rule_id: str
    symbol: str  # the contract whose mark (or funding) update ran the waterfall
    max_liquidations: int  # the budget (LIQ-034), all spent
    pools_due: int  # pools still below maintenance at mark when the waterfall stopped
    account_ids: tuple[int, ...]
    pools: tuple[str, ...]  # "cross:<currency>" or "isolated:<symbol>"


WaterfallEvent = (
    OrdersCancelled
    | RiskLimitLowered
    | PartialLiquidation
    | Liquidation
    | InsuranceMovement
    | LiquidationFill
    | AdlFill
    | AdlShortfall
    | AdlDeferred
    | WaterfallCarried
)


def explain(event: WaterfallEvent) -> str:
    """One line naming the rule and every input and outcome of ``event``."""
    fields = attrs.asdict(event, recurse=False)
    rule_id = fields.pop("rule_id")
    body = ", ".join(f"{name}={value}" for name, value in fields.items())
    return f"{rule_id} {type(event).__name__}: {body}"
