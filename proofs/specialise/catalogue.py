"""The kernels the specialiser emits: each one a composition of rules, with its preconditions.

A :class:`KernelSpec` names the rules it stands for, its parameters (the
per-call values, traced or symbolic) and its outputs, and gives a
``reference``: a function generic over the number type that calls the rules
themselves.  The specialiser traces the reference with one instrument
concrete (:mod:`proofs.specialise.trace`); the equivalence obligation
evaluates the reference and the emitted source on the same symbolic inputs
(:mod:`proofs.obligations_specialised`).  The references only *call* rules and
combine their results with ``+`` and :func:`rules.num.ite`; every one of them
is the thing the engine computes today with the generic rules.

Margin mode is structural: a ``_cross`` kernel has ``leverage = 0`` (cross)
folded in, an ``_isolated`` kernel takes ``leverage_hundredths >= 1``.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from perpspec.rules.contract import compute_value
from perpspec.rules.instrument import Instrument
from perpspec.rules.liquidation import compute_position_equity_term, compute_requirement
from perpspec.rules.margin import (
    CROSS,
    AccountMargin,
    PositionMargin,
    compute_account_margin,
    compute_bankruptcy_price,
    compute_cross_backing,
    compute_liquidation_price,
    compute_order_requirement,
    compute_position_margin,
)
from perpspec.rules.num import abs_, ite
from perpspec.rules.order_margin import (
    OrderSide,
    compute_order_charge_price,
    compute_order_margin,
    compute_order_margin_req_ppm,
    compute_order_premium,
    compute_order_sides,
)
from perpspec.rules.position import Position, apply_trade
from perpspec.rules.solvency import PoolState, apply_fill_to_pool, is_fill_allowed, is_order_solvent

Outputs = tuple[int, ...]

POSITION_MARGIN_FIELDS = tuple(field.name for field in attrs.fields(PositionMargin))
ORDER_MARGIN_FIELDS = ("bid_qty_charged", "ask_qty_charged", "init_margin", "premium", "commission", "total")
ACCOUNT_MARGIN_FIELDS = tuple(field.name for field in attrs.fields(AccountMargin))
SIDE_FIELDS = ("bid_qty", "bid_value", "bid_premium", "ask_qty", "ask_value", "ask_premium")


@attrs.frozen(kw_only=True)
class KernelSpec:
    """One emitted kernel: the rules it equals, its parameters and outputs, and its reference."""

    name: str
    rule_ids: tuple[str, ...]
    summary: str
    params: tuple[str, ...]
    outputs: tuple[str, ...]
    reference: Callable[..., Outputs] = attrs.field(eq=False, repr=False)
    # parameters that are prices (> 0, on the tick grid, at most maxPrice) and 0-or-price (best bid/ask)
    prices: tuple[str, ...] = ()
    touches: tuple[str, ...] = ()
    lots: tuple[str, ...] = ()  # signed quantities in whole lots
    isolated: bool = False  # leverage_hundredths >= 1


def _position_fields(pm: PositionMargin) -> Outputs:
    return tuple(getattr(pm, name) for name in POSITION_MARGIN_FIELDS)


def position_margin_cross(
    inst: Instrument, qty: int, cost: int, mark_price: int, cross_balance: int, funding_rate_e8: int
) -> Outputs:
    """MRG-020 of a cross position."""
    position = Position(qty=qty, cost=cost)
    return _position_fields(
        compute_position_margin(inst, position, mark_price, CROSS, 0, cross_balance, funding_rate_e8)
    )


def position_margin_isolated(
    inst: Instrument,
    qty: int,
    cost: int,
    mark_price: int,
    leverage_hundredths: int,
    pos_cross: int,
    funding_rate_e8: int,
) -> Outputs:
    """MRG-020 of an isolated position."""
    position = Position(qty=qty, cost=cost)
    return _position_fields(
        compute_position_margin(inst, position, mark_price, leverage_hundredths, pos_cross, 0, funding_rate_e8)
    )


def _order_margin(inst: Instrument, qty: int, cost: int, leverage_hundredths: int, sides: Outputs) -> Outputs:
    bids = OrderSide(qty=sides[0], value=sides[1], premium=sides[2])
    asks = OrderSide(qty=sides[3], value=sides[4], premium=sides[5])
    init_req = compute_order_margin_req_ppm(inst, cost, bids, asks, leverage_hundredths)
    margin = compute_order_margin(inst, qty, bids, asks, init_req, inst.taker_fee_ppm)
    return tuple(getattr(margin, name) for name in ORDER_MARGIN_FIELDS)


def order_margin_cross(inst: Instrument, qty: int, cost: int, *sides: int) -> Outputs:
    """MRG-045 then MRG-044 over summed sides (MRG-046's last two steps), cross."""
    return _order_margin(inst, qty, cost, CROSS, sides)


def order_margin_isolated(inst: Instrument, qty: int, cost: int, leverage_hundredths: int, *sides: int) -> Outputs:
    """MRG-045 then MRG-044 over summed sides (MRG-046's last two steps), isolated."""
    return _order_margin(inst, qty, cost, leverage_hundredths, sides)


def order_term(
    inst: Instrument, order_qty: int, order_price: int, mark_price: int, best_bid: int, best_ask: int
) -> Outputs:
    """One order's MRG-042 term: value at the MRG-040 charge price (CON-002) and MRG-041 premium."""
    charge_price = compute_order_charge_price(inst, order_qty, order_price, best_bid, best_ask)
    value = abs_(compute_value(inst, order_qty, charge_price))
    return value, compute_order_premium(inst, order_qty, order_price, mark_price)


def order_requirement_cross(
    inst: Instrument,
    qty: int,
    cost: int,
    mark_price: int,
    order_margin_before: int,
    order_margin_after: int,
    order_qty: int,
    order_price: int,
) -> Outputs:
    """MRG-060 for a cross position."""
    position = Position(qty=qty, cost=cost)
    return (
        compute_order_requirement(
            inst, position, mark_price, CROSS, 0, order_margin_before, order_margin_after, order_qty, order_price
        ),
    )


def order_requirement_isolated(
    inst: Instrument,
    qty: int,
    cost: int,
    mark_price: int,
    leverage_hundredths: int,
    pos_cross: int,
    order_margin_before: int,
    order_margin_after: int,
    order_qty: int,
    order_price: int,
) -> Outputs:
    """MRG-060 for an isolated position."""
    position = Position(qty=qty, cost=cost)
    return (
        compute_order_requirement(
            inst,
            position,
            mark_price,
            leverage_hundredths,
            pos_cross,
            order_margin_before,
            order_margin_after,
            order_qty,
            order_price,
        ),
    )


def _pretrade(
    inst: Instrument,
    qty: int,
    cost: int,
    leverage_hundredths: int,
    pos_cross: int,
    mark_price: int,
    sides: Outputs,
    order_qty: int,
    order_price: int,
    best_bid: int,
    best_ask: int,
) -> Outputs:
    # MRG-042 is a sum over orders: the resting orders' sums plus the new order's own sides
    bids, asks = compute_order_sides(inst, ((order_qty, order_price),), mark_price, best_bid, best_ask)
    after = (
        sides[0] + bids.qty,
        sides[1] + bids.value,
        sides[2] + bids.premium,
        sides[3] + asks.qty,
        sides[4] + asks.value,
        sides[5] + asks.premium,
    )
    before_total = _order_margin(inst, qty, cost, leverage_hundredths, sides)[5]
    after_total = _order_margin(inst, qty, cost, leverage_hundredths, after)[5]
    requirement = compute_order_requirement(
        inst,
        Position(qty=qty, cost=cost),
        mark_price,
        leverage_hundredths,
        pos_cross,
        before_total,
        after_total,
        order_qty,
        order_price,
    )
    return (*after, before_total, after_total, requirement)


def pretrade_cross(
    inst: Instrument,
    qty: int,
    cost: int,
    mark_price: int,
    bid_qty: int,
    bid_value: int,
    bid_premium: int,
    ask_qty: int,
    ask_value: int,
    ask_premium: int,
    order_qty: int,
    order_price: int,
    best_bid: int,
    best_ask: int,
) -> Outputs:
    """The fused pre-trade check, cross: MRG-042 sums with the new order, MRG-045/044 before and after, MRG-060."""
    sides = (bid_qty, bid_value, bid_premium, ask_qty, ask_value, ask_premium)
    return _pretrade(inst, qty, cost, CROSS, 0, mark_price, sides, order_qty, order_price, best_bid, best_ask)


def pretrade_isolated(
    inst: Instrument,
    qty: int,
    cost: int,
    mark_price: int,
    leverage_hundredths: int,
    pos_cross: int,
    bid_qty: int,
    bid_value: int,
    bid_premium: int,
    ask_qty: int,
    ask_value: int,
    ask_premium: int,
    order_qty: int,
    order_price: int,
    best_bid: int,
    best_ask: int,
) -> Outputs:
    """The fused pre-trade check, isolated: as :func:`pretrade_cross` at ``leverage_hundredths``."""
    sides = (bid_qty, bid_value, bid_premium, ask_qty, ask_value, ask_premium)
    return _pretrade(
        inst, qty, cost, leverage_hundredths, pos_cross, mark_price, sides, order_qty, order_price, best_bid, best_ask
    )


def trade(
    inst: Instrument,
    buyer_qty: int,
    buyer_cost: int,
    seller_qty: int,
    seller_cost: int,
    qty: int,
    price: int,
    buyer_fee_ppm: int,
    seller_fee_ppm: int,
) -> Outputs:
    """ACC-004: both sides of a trade and the fee pool."""
    effect = apply_trade(
        inst, Position(qty=buyer_qty, cost=buyer_cost), Position(qty=seller_qty, cost=seller_cost), qty, price,
        buyer_fee_ppm, seller_fee_ppm,
    )
    return (
        effect.buyer.position.qty,
        effect.buyer.position.cost,
        effect.buyer.realised_pnl,
        effect.buyer.commission,
        effect.seller.position.qty,
        effect.seller.position.cost,
        effect.seller.realised_pnl,
        effect.seller.commission,
        effect.fee_pool_delta,
    )


def requirement_cross(inst: Instrument, qty: int, cost: int, chosen_tier: int) -> Outputs:
    """LIQ-001 of a cross position at its chosen risk tier."""
    req = compute_requirement(inst, Position(qty=qty, cost=cost), CROSS, chosen_tier)
    return req.steps, req.pos_init, req.pos_comm, req.pos_maint


def requirement_isolated(inst: Instrument, qty: int, cost: int, leverage_hundredths: int, chosen_tier: int) -> Outputs:
    """LIQ-001 of an isolated position at its chosen risk tier."""
    req = compute_requirement(inst, Position(qty=qty, cost=cost), leverage_hundredths, chosen_tier)
    return req.steps, req.pos_init, req.pos_comm, req.pos_maint


def account_margin_cross_1(
    inst: Instrument, wallet: int, order_margin: int, qty: int, cost: int, mark_price: int
) -> Outputs:
    """MRG-050 of an account with one cross position (its MRG-020 line at mark) and ``order_margin``."""
    line = compute_position_margin(inst, Position(qty=qty, cost=cost), mark_price, CROSS)
    margin = compute_account_margin(wallet, (line,), order_margin)
    return tuple(getattr(margin, name) for name in ACCOUNT_MARGIN_FIELDS)


def account_margin_flat(inst: Instrument, wallet: int, order_margin: int) -> Outputs:
    """MRG-050 of an account none of whose positions in the currency has a margin line, and ``order_margin``.

    ``Risk.account_margin`` gives MRG-020 lines only to positions that are open or hold isolated margin: an
    account whose positions settled in the currency are all flat with no isolated margin has none.
    """
    del inst  # MRG-050 over no position reads no instrument parameter (kept: every kernel is per instrument)
    margin = compute_account_margin(wallet, (), order_margin)
    return tuple(getattr(margin, name) for name in ACCOUNT_MARGIN_FIELDS)


def value(inst: Instrument, qty: int, price: int) -> Outputs:
    """CON-002: the signed value of ``qty`` contracts at ``price``."""
    return (compute_value(inst, qty, price),)


def equity_term(inst: Instrument, qty: int, cost: int, mark_price: int) -> Outputs:
    """LIQ-004: what a position adds to its pool's equity at mark (``markValue − cost``)."""
    return (compute_position_equity_term(inst, Position(qty=qty, cost=cost), mark_price),)


POOL_FIELDS = ("chosen_tier", "pool_margin", "other_pnl", "other_maintenance", "free_wallet", "account_equity")


def _pool(qty: int, cost: int, leverage_hundredths: int, pool: Outputs, available: int = 0) -> PoolState:
    """``available``: ACC-006's MRG-050 available for an isolated fill (0 where the engine gives none: order entry,
    a cross pool, which never reads it)."""
    return PoolState(
        position=Position(qty=qty, cost=cost),
        leverage_hundredths=leverage_hundredths,
        chosen_tier=pool[0],
        pool_margin=pool[1],
        other_pnl=pool[2],
        other_maintenance=pool[3],
        free_wallet=pool[4],
        account_equity=pool[5],
        available=available,
    )


def _order_solvent(
    inst: Instrument, qty: int, cost: int, leverage_hundredths: int, pool: Outputs, order_qty: int, price: int,
    fee_ppm: int, mark_price: int,
) -> Outputs:
    state = _pool(qty, cost, leverage_hundredths, pool)
    return (ite(is_order_solvent(inst, state, order_qty, price, fee_ppm, mark_price), 1, 0),)


def order_solvent_cross(
    inst: Instrument, qty: int, cost: int, chosen_tier: int, pool_margin: int, other_pnl: int, other_maintenance: int,
    free_wallet: int, account_equity: int, order_qty: int, price: int, fee_ppm: int, mark_price: int,
) -> Outputs:
    """LIQ-042 of an order on a cross pool: 1 when executing it in full at its price is safe, else 0."""
    pool = (chosen_tier, pool_margin, other_pnl, other_maintenance, free_wallet, account_equity)
    return _order_solvent(inst, qty, cost, CROSS, pool, order_qty, price, fee_ppm, mark_price)


def order_solvent_isolated(
    inst: Instrument, qty: int, cost: int, leverage_hundredths: int, chosen_tier: int, pool_margin: int,
    other_pnl: int, other_maintenance: int, free_wallet: int, account_equity: int, order_qty: int, price: int,
    fee_ppm: int, mark_price: int,
) -> Outputs:
    """LIQ-042 of an order on an isolated pool: 1 when executing it in full at its price is safe, else 0."""
    pool = (chosen_tier, pool_margin, other_pnl, other_maintenance, free_wallet, account_equity)
    return _order_solvent(inst, qty, cost, leverage_hundredths, pool, order_qty, price, fee_ppm, mark_price)


def _fill(
    inst: Instrument, qty: int, cost: int, leverage_hundredths: int, pool: Outputs, fill_qty: int, price: int,
    fee_ppm: int, mark_price: int, available: int = 0,
) -> Outputs:
    state = _pool(qty, cost, leverage_hundredths, pool, available)
    allowed = is_fill_allowed(inst, state, fill_qty, price, fee_ppm, mark_price)
    after = apply_fill_to_pool(inst, state, fill_qty, price, fee_ppm, mark_price)
    return (
        ite(allowed, 1, 0),
        after.position.qty,
        after.position.cost,
        after.pool_margin,
        after.free_wallet,
        after.account_equity,
    )


def fill_cross(
    inst: Instrument, qty: int, cost: int, chosen_tier: int, pool_margin: int, other_pnl: int, other_maintenance: int,
    free_wallet: int, account_equity: int, fill_qty: int, price: int, fee_ppm: int, mark_price: int,
) -> Outputs:
    """LIQ-044 of one fill on a cross pool (1 allowed, 0 not) and the pool after it (LIQ-049)."""
    pool = (chosen_tier, pool_margin, other_pnl, other_maintenance, free_wallet, account_equity)
    return _fill(inst, qty, cost, CROSS, pool, fill_qty, price, fee_ppm, mark_price)


def fill_isolated(
    inst: Instrument, qty: int, cost: int, leverage_hundredths: int, chosen_tier: int, pool_margin: int,
    other_pnl: int, other_maintenance: int, free_wallet: int, account_equity: int, available: int, fill_qty: int,
    price: int, fee_ppm: int, mark_price: int,
) -> Outputs:
    """LIQ-044 of one fill on an isolated pool (1 allowed, 0 not) and the pool after it (LIQ-049); ``available``:
    MRG-050's available as the fill finds it (ACC-006's, :class:`rules.solvency.PoolState`)."""
    pool = (chosen_tier, pool_margin, other_pnl, other_maintenance, free_wallet, account_equity)
    return _fill(inst, qty, cost, leverage_hundredths, pool, fill_qty, price, fee_ppm, mark_price, available)


def _position_prices(
    inst: Instrument, qty: int, cost: int, leverage_hundredths: int, chosen_tier: int, pool_margin: int,
    other_pnl: int, other_maintenance: int,
) -> Outputs:
    """MRG-011/012 of a pool's position backed per MRG-033/034 by the pool's margin and its *other* members at mark.

    MRG-034's ``pool_equity − pool_margin − own_pnl`` is the others' PnL and
    ``pool_maintenance − own_maint`` their maintenance: given those directly the
    position's own PnL (hence the mark) drops out.  The bankruptcy price keeps
    none of the others' maintenance (as LIQ-005).
    """
    req = compute_requirement(inst, Position(qty=qty, cost=cost), leverage_hundredths, chosen_tier)
    backing = compute_cross_backing(pool_margin, (other_pnl,), (other_maintenance,))
    solvent_backing = compute_cross_backing(pool_margin, (other_pnl,), (0,))
    return (
        compute_liquidation_price(inst, qty, cost, backing, req.pos_maint),
        compute_bankruptcy_price(inst, qty, cost, solvent_backing, req.pos_comm),
    )


def position_prices_cross(
    inst: Instrument, qty: int, cost: int, chosen_tier: int, pool_margin: int, other_pnl: int, other_maintenance: int
) -> Outputs:
    """Liquidation and bankruptcy price (MRG-011/012, backing MRG-033/034) of a cross position."""
    return _position_prices(inst, qty, cost, CROSS, chosen_tier, pool_margin, other_pnl, other_maintenance)


def position_prices_isolated(
    inst: Instrument, qty: int, cost: int, leverage_hundredths: int, chosen_tier: int, pool_margin: int
) -> Outputs:
    """Liquidation and bankruptcy price (MRG-011/012) of an isolated position: its pool's margin backs it alone."""
    return _position_prices(inst, qty, cost, leverage_hundredths, chosen_tier, pool_margin, 0, 0)


_FILL_OUT = ("allowed", "qty", "cost", "pool_margin", "free_wallet", "account_equity")
_PRETRADE_OUT = (*SIDE_FIELDS, "order_margin_before", "order_margin_after", "requirement")

KERNELS: tuple[KernelSpec, ...] = (
    KernelSpec(
        name="position_margin_cross",
        rule_ids=("MRG-020",),
        summary="every BitMEX margin field of a cross position (compute_position_margin, leverage 0)",
        params=("qty", "cost", "mark_price", "cross_balance", "funding_rate_e8"),
        outputs=POSITION_MARGIN_FIELDS,
        reference=position_margin_cross,
        prices=("mark_price",),
        lots=("qty",),
    ),
    KernelSpec(
        name="position_margin_isolated",
        rule_ids=("MRG-020",),
        summary="every BitMEX margin field of an isolated position (compute_position_margin)",
        params=("qty", "cost", "mark_price", "leverage_hundredths", "pos_cross", "funding_rate_e8"),
        outputs=POSITION_MARGIN_FIELDS,
        reference=position_margin_isolated,
        prices=("mark_price",),
        lots=("qty",),
        isolated=True,
    ),
    KernelSpec(
        name="order_margin_cross",
        rule_ids=("MRG-045", "MRG-044"),
        summary="order margin of summed sides, cross (compute_order_margin_req_ppm, compute_order_margin)",
        params=("qty", "cost", *SIDE_FIELDS),
        outputs=ORDER_MARGIN_FIELDS,
        reference=order_margin_cross,
        lots=("qty",),
    ),
    KernelSpec(
        name="order_margin_isolated",
        rule_ids=("MRG-045", "MRG-044"),
        summary="order margin of summed sides, isolated (compute_order_margin_req_ppm, compute_order_margin)",
        params=("qty", "cost", "leverage_hundredths", *SIDE_FIELDS),
        outputs=ORDER_MARGIN_FIELDS,
        reference=order_margin_isolated,
        lots=("qty",),
        isolated=True,
    ),
    KernelSpec(
        name="order_term",
        rule_ids=("MRG-040", "CON-002", "MRG-041"),
        summary="one order's MRG-042 term: value at its charge price and premium against mark",
        params=("order_qty", "order_price", "mark_price", "best_bid", "best_ask"),
        outputs=("value", "premium"),
        reference=order_term,
        prices=("order_price", "mark_price"),
        touches=("best_bid", "best_ask"),
        lots=("order_qty",),
    ),
    KernelSpec(
        name="order_requirement_cross",
        rule_ids=("MRG-060",),
        summary="the available balance a new order needs, cross (compute_order_requirement)",
        params=("qty", "cost", "mark_price", "order_margin_before", "order_margin_after", "order_qty", "order_price"),
        outputs=("requirement",),
        reference=order_requirement_cross,
        prices=("mark_price", "order_price"),
        lots=("qty", "order_qty"),
    ),
    KernelSpec(
        name="order_requirement_isolated",
        rule_ids=("MRG-060",),
        summary="the available balance a new order needs, isolated (compute_order_requirement)",
        params=(
            "qty", "cost", "mark_price", "leverage_hundredths", "pos_cross",
            "order_margin_before", "order_margin_after", "order_qty", "order_price",
        ),
        outputs=("requirement",),
        reference=order_requirement_isolated,
        prices=("mark_price", "order_price"),
        lots=("qty", "order_qty"),
        isolated=True,
    ),
    KernelSpec(
        name="pretrade_cross",
        rule_ids=("MRG-042", "MRG-045", "MRG-044", "MRG-060"),
        summary="the fused pre-trade check of a cross position: sides with the order, order margin before/after, requirement",
        params=("qty", "cost", "mark_price", *SIDE_FIELDS, "order_qty", "order_price", "best_bid", "best_ask"),
        outputs=_PRETRADE_OUT,
        reference=pretrade_cross,
        prices=("mark_price", "order_price"),
        touches=("best_bid", "best_ask"),
        lots=("qty", "order_qty"),
    ),
    KernelSpec(
        name="pretrade_isolated",
        rule_ids=("MRG-042", "MRG-045", "MRG-044", "MRG-060"),
        summary="the fused pre-trade check of an isolated position",
        params=(
            "qty", "cost", "mark_price", "leverage_hundredths", "pos_cross", *SIDE_FIELDS,
            "order_qty", "order_price", "best_bid", "best_ask",
        ),
        outputs=_PRETRADE_OUT,
        reference=pretrade_isolated,
        prices=("mark_price", "order_price"),
        touches=("best_bid", "best_ask"),
        lots=("qty", "order_qty"),
        isolated=True,
    ),
    KernelSpec(
        name="requirement_cross",
        rule_ids=("LIQ-001",),
        summary="steps, posInit, posComm and posMaint of a cross position at its chosen tier (compute_requirement)",
        params=("qty", "cost", "chosen_tier"),
        outputs=("steps", "pos_init", "pos_comm", "pos_maint"),
        reference=requirement_cross,
        lots=("qty",),
    ),
    KernelSpec(
        name="requirement_isolated",
        rule_ids=("LIQ-001",),
        summary="steps, posInit, posComm and posMaint of an isolated position at its chosen tier (compute_requirement)",
        params=("qty", "cost", "leverage_hundredths", "chosen_tier"),
        outputs=("steps", "pos_init", "pos_comm", "pos_maint"),
        reference=requirement_isolated,
        lots=("qty",),
        isolated=True,
    ),
    KernelSpec(
        name="account_margin_cross_1",
        rule_ids=("MRG-050", "MRG-020"),
        summary="margin, available and withdrawable balance of an account with one cross position",
        params=("wallet", "order_margin", "qty", "cost", "mark_price"),
        outputs=ACCOUNT_MARGIN_FIELDS,
        reference=account_margin_cross_1,
        prices=("mark_price",),
        lots=("qty",),
    ),
    KernelSpec(
        name="account_margin_flat",
        rule_ids=("MRG-050",),
        summary="margin, available and withdrawable balance of an account with no position line (all flat)",
        params=("wallet", "order_margin"),
        outputs=ACCOUNT_MARGIN_FIELDS,
        reference=account_margin_flat,
    ),
    KernelSpec(
        name="value",
        rule_ids=("CON-002",),
        summary="the signed value of a quantity of contracts at a price (compute_value)",
        params=("qty", "price"),
        outputs=("value",),
        reference=value,
        prices=("price",),
        lots=("qty",),
    ),
    KernelSpec(
        name="equity_term",
        rule_ids=("LIQ-004",),
        summary="what a position adds to its pool's equity at mark: markValue - cost (compute_position_equity_term)",
        params=("qty", "cost", "mark_price"),
        outputs=("equity_term",),
        reference=equity_term,
        prices=("mark_price",),
        lots=("qty",),
    ),
    KernelSpec(
        name="trade",
        rule_ids=("ACC-004",),
        summary="both sides of a trade and the fee pool (apply_trade)",
        params=(
            "buyer_qty", "buyer_cost", "seller_qty", "seller_cost", "qty", "price", "buyer_fee_ppm", "seller_fee_ppm",
        ),
        outputs=(
            "buyer_qty", "buyer_cost", "buyer_realised_pnl", "buyer_commission",
            "seller_qty", "seller_cost", "seller_realised_pnl", "seller_commission", "fee_pool_delta",
        ),
        reference=trade,
        prices=("price",),
        lots=("buyer_qty", "seller_qty", "qty"),
    ),
    KernelSpec(
        name="order_solvent_cross",
        rule_ids=("LIQ-042",),
        summary="order-entry solvency of a cross pool (is_order_solvent): 1 safe, 0 refused",
        params=("qty", "cost", *POOL_FIELDS, "order_qty", "price", "fee_ppm", "mark_price"),
        outputs=("solvent",),
        reference=order_solvent_cross,
        prices=("price", "mark_price"),
        lots=("qty", "order_qty"),
    ),
    KernelSpec(
        name="order_solvent_isolated",
        rule_ids=("LIQ-042",),
        summary="order-entry solvency of an isolated pool (is_order_solvent): 1 safe, 0 refused",
        params=("qty", "cost", "leverage_hundredths", *POOL_FIELDS, "order_qty", "price", "fee_ppm", "mark_price"),
        outputs=("solvent",),
        reference=order_solvent_isolated,
        prices=("price", "mark_price"),
        lots=("qty", "order_qty"),
        isolated=True,
    ),
    KernelSpec(
        name="fill_cross",
        rule_ids=("LIQ-044", "LIQ-049"),
        summary="one fill on a cross pool: allowed (is_fill_allowed) and the pool after it (apply_fill_to_pool)",
        params=("qty", "cost", *POOL_FIELDS, "fill_qty", "price", "fee_ppm", "mark_price"),
        outputs=_FILL_OUT,
        reference=fill_cross,
        prices=("price", "mark_price"),
        lots=("qty", "fill_qty"),
    ),
    KernelSpec(
        name="fill_isolated",
        rule_ids=("LIQ-044", "LIQ-049"),
        summary="one fill on an isolated pool: allowed (is_fill_allowed) and the pool after it (apply_fill_to_pool)",
        params=(
            "qty", "cost", "leverage_hundredths", *POOL_FIELDS, "available", "fill_qty", "price", "fee_ppm", "mark_price"
        ),
        outputs=_FILL_OUT,
        reference=fill_isolated,
        prices=("price", "mark_price"),
        lots=("qty", "fill_qty"),
        isolated=True,
    ),
    KernelSpec(
        name="position_prices_cross",
        rule_ids=("MRG-011", "MRG-012", "MRG-033", "MRG-034", "LIQ-001"),
        summary="liquidation and bankruptcy price of a cross position from its pool's margin and other members",
        params=("qty", "cost", "chosen_tier", "pool_margin", "other_pnl", "other_maintenance"),
        outputs=("liquidation_price", "bankruptcy_price"),
        reference=position_prices_cross,
        lots=("qty",),
    ),
    KernelSpec(
        name="position_prices_isolated",
        rule_ids=("MRG-011", "MRG-012", "MRG-034", "LIQ-001"),
        summary="liquidation and bankruptcy price of an isolated position from its pool's margin",
        params=("qty", "cost", "leverage_hundredths", "chosen_tier", "pool_margin"),
        outputs=("liquidation_price", "bankruptcy_price"),
        reference=position_prices_isolated,
        lots=("qty",),
        isolated=True,
    ),
)


def kernel_named(name: str) -> KernelSpec:
    """The kernel spec called ``name``."""
    for spec in KERNELS:
        if spec.name == name:
            return spec
    raise KeyError(name)
