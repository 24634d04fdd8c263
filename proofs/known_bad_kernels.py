"""Known-bad kernels for :mod:`proofs.obligations_kernels`: realistic slips the proofs must refute.

Each is a copy of one rule kernel with one plausible mistake — a rounding
direction, a strict vs non-strict comparison, a dropped clause, a sign.
Nothing outside ``proofs/`` and ``tests/`` may import this module.
"""

from __future__ import annotations

import attrs

from perpspec.rules.contract import compute_value
from perpspec.rules.instrument import Instrument
from perpspec.rules.margin import (
    CROSS,
    AccountMargin,
    PositionMargin,
    compute_account_margin,
    compute_cross_backing,
)
from perpspec.rules.num import (
    PPM,
    abs_,
    and_,
    ceil_to_multiple,
    ceildiv,
    clamp,
    floor_to_multiple,
    floordiv,
    ite,
    max_,
    min_,
    not_,
    or_,
)
from perpspec.rules.position import Position
from perpspec.rules.risk_limit import compute_risk_init_margin_req_ppm
from perpspec.rules.waterfall_postings import compute_isolated_margin_after_fill


def compute_unrealised_pnl_sign_flipped(inst: Instrument, position: Position, mark_price: int) -> int:
    """KNOWN-BAD ACC-001/LIQ-004: ``cost − markValue`` (the sign of the API's cost convention slipped)."""
    return position.cost - compute_value(inst, position.qty, mark_price)


def compute_notional_without_abs(inst: Instrument, qty: int, price: int) -> int:
    """KNOWN-BAD CON-003: the signed value used as a notional (a short's fee would be a rebate)."""
    return compute_value(inst, qty, price)


def compute_mean_floor(total_e8: int, count: int) -> int:
    """KNOWN-BAD FND-003: the mean floored instead of rounded half up (biased toward shorts)."""
    safe_count = ite(count <= 0, 1, count)
    return ite(count <= 0, 0, floordiv(total_e8, safe_count))


def compute_haircut_sign_flipped(inst: Instrument, close_qty: int, mark_price: int, bankruptcy_price: int) -> int:
    """KNOWN-BAD ADL-004: ``value(bankruptcy) − value(mark)``: the haircut's sign slipped."""
    return compute_value(inst, close_qty, bankruptcy_price) - compute_value(inst, close_qty, mark_price)


def compute_fill_delta_sign_flipped(inst: Instrument, close_qty: int, price: int, bankruptcy_price: int) -> int:
    """KNOWN-BAD INS-001: the fund's gain with the sign slipped (a surplus booked as a draw)."""
    return compute_value(inst, close_qty, bankruptcy_price) - compute_value(inst, close_qty, price)


def compute_held_pnl_at_takeover_only(inst: Instrument, held_qty: int, takeover_price: int, mark_price: int) -> int:
    """KNOWN-BAD ADL-030: the held position's PnL counted against the mark the wrong way round."""
    return compute_value(inst, held_qty, takeover_price) - compute_value(inst, held_qty, mark_price)


def compute_margin_excess_swapped(equity: int, maintenance: int) -> int:
    """KNOWN-BAD LIQ-002: ``maintenance − equity`` (a healthy pool reads as liquidatable)."""
    return maintenance - equity


def is_liquidatable_at_equality(equity: int, maintenance: int) -> bool:
    """KNOWN-BAD LIQ-003: ``≤`` instead of ``<``: a pool exactly at maintenance is liquidated."""
    return equity - maintenance <= 0


def compute_pool_residual_sign_flipped(inst: Instrument, qty: int, cost: int, margin: int, price: int) -> int:
    """KNOWN-BAD LIQ-006: ``margin − value + cost`` (the closed position's PnL subtracted)."""
    return margin - compute_value(inst, qty, price) + cost


def compute_fitting_tier_floor(inst: Instrument, gross_value: int) -> int:
    """KNOWN-BAD LIQ-007: the tier rounded down: part of a step is ignored (the tier is too small)."""
    return max_(0, floordiv(gross_value - inst.risk_limit, inst.risk_step))


def compute_kept_position_ceil(position: Position, close_qty: int) -> Position:
    """KNOWN-BAD LIQ-009: the kept cost rounded up (toward the trader for a long), unlike ACC-003."""
    kept_qty = position.qty - close_qty
    safe_qty = ite(position.qty == 0, 1, position.qty)
    kept_cost = ite(kept_qty == position.qty, position.cost, -((-position.cost * kept_qty) // safe_qty))
    return Position(qty=kept_qty, cost=kept_cost)


def compute_reduction_to_tier_ceil(inst: Instrument, position: Position, tier: int) -> int:
    """KNOWN-BAD LIQ-008: the kept lots rounded up — the kept entry value can exceed the tier's limit."""
    lots = abs_(position.qty) // inst.lot_size
    abs_cost = abs_(position.cost)
    safe_cost = ite(abs_cost == 0, 1, abs_cost)
    limit = inst.risk_limit + tier * inst.risk_step
    kept_lots = clamp(-((-limit * lots) // safe_cost), 0, lots)
    return (lots - kept_lots) * inst.lot_size


def compute_init_margin_req_ppm_min(inst: Instrument, leverage_hundredths: int, steps: int) -> int:
    """KNOWN-BAD MRG-002: isolated leverage wins even when it asks less than the tier (``min`` for ``max``)."""
    tier = compute_risk_init_margin_req_ppm(inst, steps)
    isolated = -((-PPM * 100) // ite(leverage_hundredths == 0, 1, leverage_hundredths))
    return ite(leverage_hundredths == 0, tier, min_(isolated, tier))


def compute_ppm_floor(amount: int, rate_ppm: int) -> int:
    """KNOWN-BAD MRG-003/MRG-004/SET-002: a requirement or fee rounded down, toward the trader."""
    return floordiv(amount * rate_ppm, PPM)


def compute_prorated_floor(amount: int, part_qty: int, whole_qty: int) -> int:
    """KNOWN-BAD MRG-043: a side's share rounded down: the charged part is short of its exact share."""
    return floordiv(amount * part_qty, ite(whole_qty == 0, 1, whole_qty))


def compute_order_premium_unclamped(inst: Instrument, qty: int, limit_price: int, mark_price: int) -> int:
    """KNOWN-BAD MRG-041: the premium without ``max(0, ·)``: a favourable limit *credits* margin."""
    return compute_value(inst, qty, limit_price) - compute_value(inst, qty, mark_price)


def compute_protected_band_ceil(inst: Instrument, fair_price: int) -> tuple[int, int]:
    """KNOWN-BAD MRK-009: the half width rounded up: the band is wider than stated."""
    half = -((-fair_price * inst.maint_margin_ppm) // (2 * PPM))
    return fair_price - half, fair_price + half


def compute_protected_band_half_width_halved(inst: Instrument, fair_price: int) -> tuple[int, int]:
    """KNOWN-BAD MRK-009 (redteam25 MK9): a quarter of a maintenance margin each way: the band half as wide."""
    half = fair_price * inst.maint_margin_ppm // (4 * PPM)
    return fair_price - half, fair_price + half


def compute_last_price_protected_half_width_halved(inst: Instrument, last_price: int, previous_fair_price: int) -> int:
    """KNOWN-BAD MRK-010 (redteam25 MK9): the last price clamped to the band of half the width."""
    low, high = compute_protected_band_half_width_halved(inst, previous_fair_price)
    return clamp(last_price, low, high)


def compute_limit_band_outward(inst: Instrument, reference_price: int) -> tuple[int, int]:
    """KNOWN-BAD MRK-011/MRK-012: band edges rounded outward (down floored, up ceiled)."""
    width = reference_price * inst.limit_band_ppm // PPM
    down = floor_to_multiple(reference_price - width, inst.tick_size)
    up = ceil_to_multiple(reference_price + width, inst.tick_size)
    return down, up


def is_impact_spread_narrow_inclusive(inst: Instrument, impact_bid: int, impact_ask: int, impact_mid: int) -> bool:
    """KNOWN-BAD MRK-015: ``≤`` instead of ``<``: a spread exactly at the limit refreshes the basis."""
    limit = max_(impact_mid * inst.maint_margin_ppm // PPM, inst.impact_spread_ticks * inst.tick_size)
    return impact_ask - impact_bid <= limit


def compute_max_leverage_ceil(inst: Instrument, steps: int) -> int:
    """KNOWN-BAD RSK-005: the maximum leverage rounded up: more leverage than the tier's margin allows."""
    return -((-PPM * 100) // compute_risk_init_margin_req_ppm(inst, steps))


def compute_tier_limit_off_by_one_step(inst: Instrument, steps: int) -> int:
    """KNOWN-BAD RSK-004: ``riskLimit + (steps + 1) × riskStep`` — one step too generous."""
    return inst.risk_limit + (steps + 1) * inst.risk_step


def compute_maint_margin_req_without_base(inst: Instrument, steps: int) -> int:
    """KNOWN-BAD RSK-002: ``steps × maintMarginStep`` — the base maintenance margin dropped."""
    return steps * inst.maint_margin_step_ppm


def compute_risk_init_margin_req_maint_base(inst: Instrument, steps: int) -> int:
    """KNOWN-BAD RSK-003: built on the *maintenance* base (``maintMargin + steps × step``)."""
    return inst.maint_margin_ppm + steps * inst.init_margin_step_ppm


def compute_cross_backing_without_maint(cross_wallet: int, other_pnls: tuple[int, ...], other_maints: tuple[int, ...]) -> int:
    """KNOWN-BAD MRG-033: the others' maintenance margin dropped from the backing."""
    del other_maints
    total = cross_wallet
    for pnl in other_pnls:
        total = total + pnl
    return total


def compute_position_backing_own_pnl_kept(
    pool_margin: int, pool_equity: int, pool_maintenance: int, own_pnl: int, own_maint: int
) -> int:
    """KNOWN-BAD MRG-034: the others' PnL taken as the pool's equity less its margin (the position's own PnL kept in)."""
    del own_pnl  # BAD: not taken out of the others' PnL
    return compute_cross_backing(pool_margin, (pool_equity - pool_margin,), (pool_maintenance - own_maint,))  # BAD


def compute_lot_value_inverse_floor(inst: Instrument, price: int) -> int:
    """KNOWN-BAD CON-001: the lot value floored instead of rounded half up."""
    return floordiv(-inst.multiplier * inst.price_scale * inst.lot_size, price)


def compute_deleverage_band_ceil(rank: int, count: int) -> int:
    """KNOWN-BAD ADL-006: the band computed with a ceiling: the top position can show 6 lights or 0."""
    safe = ite(count == 0, 1, count)
    return 5 - (-((-5 * rank) // safe)) + 1


def is_strictly_ordered_non_strict(comparison: int) -> bool:
    """KNOWN-BAD ADL-008: ``comparison >= 0`` — a tie passes as ordered."""
    return comparison >= 0


def compute_removable_margin_keeps_profit(pos_cross: int, unrealised_pnl: int) -> int:
    """KNOWN-BAD MRG-062: unrealised profit counted as removable (``pos_cross + pnl``)."""
    return max_(0, pos_cross + unrealised_pnl)


def compute_isolated_margin_on_change_without_loss(pos_init: int, pos_comm: int, unrealised_pnl: int) -> int:
    """KNOWN-BAD MRG-066: the margin reset to ``posInit + posComm``, the unrealised loss handed back (the 0.2.x engine)."""
    del unrealised_pnl
    return pos_init + pos_comm


def compute_adverse_funding_floor(pos_cost: int, qty: int, funding_rate_e8: int) -> int:
    """KNOWN-BAD MRG-006: the adverse funding reserve rounded down."""
    adverse_rate = max_(0, ite(qty > 0, funding_rate_e8, -funding_rate_e8))
    return floordiv(pos_cost * adverse_rate, 100_000_000)


def compute_leverage_margin_req_floor(leverage_hundredths: int) -> int:
    """KNOWN-BAD MRG-001: ``1 / leverage`` rounded down: 3x asks 333_333 ppm, less than a third."""
    return floordiv(PPM * 100, leverage_hundredths)


def is_out_of_band_inclusive(price: int, median: int, band_ppm: int) -> bool:
    """KNOWN-BAD IDX-002: ``≥`` instead of ``>``: a price exactly on the band edge is excluded."""
    return abs_(price - median) * PPM >= band_ppm * median


# -- @concrete checks (path-explored by proofs.obligations_checks) ----------------------------


def check_order_margin_at_equality(available_margin: int, requirement: int) -> object | None:
    """KNOWN-BAD MRG-061: ``≤ 0`` instead of ``< 0``: an order that uses exactly the available balance is refused."""
    if requirement > 0 and available_margin - requirement <= 0:
        return "InsufficientAvailableBalance"
    return None


def is_cancel_after_trade_due_at_zero(available_margin: int, orders_left: int) -> bool:
    """KNOWN-BAD MRG-067: ``≤ 0`` instead of ``< 0``: an account left at exactly zero still loses an order."""
    return available_margin <= 0 and orders_left > 0


def compute_trade_cancels_at_zero(available_after: tuple[int, ...]) -> int:
    """KNOWN-BAD MRG-068: ``≤ 0`` instead of ``< 0``: an account left at exactly zero still loses an order."""
    cancelled = 0
    while available_after[cancelled] <= 0 and cancelled < len(available_after) - 1:
        cancelled += 1
    return cancelled


def compute_trade_cancels_all_when_short(available_after: tuple[int, ...]) -> int:
    """KNOWN-BAD MRG-068: judged once after the trade: short, every order goes (not only as many as needed)."""
    if available_after[0] < 0:
        return len(available_after) - 1
    return 0


def compute_trade_cancels_keeping_last(available_after: tuple[int, ...]) -> int:
    """KNOWN-BAD MRG-068: ``orders_left > 1``: the last order stays although available is still below zero."""
    cancelled = 0
    while available_after[cancelled] < 0 and len(available_after) - 1 - cancelled > 1:
        cancelled += 1
    return cancelled


def check_withdrawal_inclusive(amount: int, withdrawable_margin: int) -> object | None:
    """KNOWN-BAD MRG-064: ``amount >= withdrawable`` refused: the whole withdrawable balance cannot be taken."""
    if amount <= 0:
        return "InvalidAmount"
    if amount >= withdrawable_margin:
        return "InsufficientWithdrawableBalance"
    return None


def check_leverage_exclusive_top(inst: Instrument, leverage_hundredths: int, steps: int) -> object | None:
    """KNOWN-BAD MRG-065: ``leverage < top``: the tier's own maximum leverage is refused."""
    top = (PPM * 100) // compute_risk_init_margin_req_ppm(inst, steps)
    if leverage_hundredths == 0 or 1 <= leverage_hundredths < top:
        return None
    return "InvalidLeverage"


def check_risk_limit_choice_without_floor(inst: Instrument, chosen_limit: int) -> object | None:
    """KNOWN-BAD RSK-006: the ``chosen ≥ riskLimit`` clause dropped: a limit below the base passes."""
    steps = (chosen_limit - inst.risk_limit) // inst.risk_step
    if inst.risk_limit + steps * inst.risk_step == chosen_limit:
        return None
    return "RiskLimitInvalid"


def check_risk_limit_strict(gross_value: int, chosen_limit: int) -> object | None:
    """KNOWN-BAD RSK-007: ``<`` instead of ``≤``: a position exactly at its limit is refused."""
    if gross_value < chosen_limit:
        return None
    return "RiskLimitExceeded"


def check_concentration_at_share(inst: Instrument, position_qty: int, order_signed: int, open_interest: int, open_value: int) -> object | None:
    """KNOWN-BAD RSK-008: ``≥`` instead of ``>``: an account holding exactly the share may no longer add."""
    if position_qty > 0 and -position_qty <= order_signed < 0:
        return None
    if position_qty < 0 and 0 < order_signed <= -position_qty:
        return None
    if open_value < inst.concentration_floor:
        return None
    if abs_(position_qty) * PPM < inst.concentration_share_ppm * open_interest:
        return None
    return "ConcentratedPositionReduceOnly"


def check_concentration_same_side_only(
    inst: Instrument, position_qty: int, order_signed: int, open_interest: int, open_value: int
) -> object | None:
    """KNOWN-BAD RSK-008: only orders on the position's side refused: an order larger than the position flips it
    to a larger position on the other side."""
    if position_qty > 0 and order_signed < 0:
        return None
    if position_qty < 0 and order_signed > 0:
        return None
    if open_value < inst.concentration_floor:
        return None
    if abs_(position_qty) * PPM <= inst.concentration_share_ppm * open_interest:
        return None
    return "ConcentratedPositionReduceOnly"


def check_fund_deposit_allows_zero(has_fund: bool, amount: int) -> object | None:
    """KNOWN-BAD INS-006: ``amount < 0`` refused instead of ``amount <= 0``: a zero deposit is booked."""
    if not has_fund:
        return "UnknownCurrency"
    if amount < 0:
        return "NonPositiveAmount"
    return None


def compute_next_funding_ms_inclusive(time_ms: int, interval_ms: int, offset_ms: int) -> int:
    """KNOWN-BAD FND-012: ``time + (offset − time) % interval``: at an instant on the grid, that instant (not the next)."""
    return time_ms + (offset_ms - time_ms) % interval_ms


def is_fresh_inclusive(stale_after_ms: int, price: int, updated_ms: int, time_ms: int) -> bool:
    """KNOWN-BAD IDX-007: ``age <= stale_after``: a price exactly at the staleness age still counts."""
    return price > 0 and time_ms - updated_ms <= stale_after_ms


def compute_median_unsorted(prices: tuple[int, ...]) -> int:
    """KNOWN-BAD IDX-006: the middle of the prices as reported, the sort forgotten."""
    middle = len(prices) // 2
    if len(prices) % 2 == 1:
        return prices[middle]
    return (prices[middle - 1] + prices[middle]) // 2


def check_settlement_ready_ignoring_pending(mark_price: int | None, settlement_price: int, pending: tuple[int, ...]) -> object | None:
    """KNOWN-BAD SET-005: the pending-liquidation clause dropped."""
    del pending
    if mark_price != settlement_price:
        return "mark-not-at-settlement-price"
    return None


def check_funding_instant_paying_the_same_instant_again(
    symbol: str, time_ms: int, last_funding_ms: int | None
) -> object | None:
    """KNOWN-BAD FND-021: ``<`` instead of ``≤``: a second FundingTick at the instant just paid pays it again."""
    if last_funding_ms is not None and time_ms < last_funding_ms:
        return f"{symbol} already-paid"
    return None


def compute_settlement_fee_charged_uncapped(fee: int, pool_equity: int) -> int:
    """KNOWN-BAD SET-006: the whole settlement fee charged, whatever the pool holds (the rule before SET-006)."""
    del pool_equity
    return fee


def compute_settlement_fee_charged_unfloored(fee: int, pool_equity: int) -> int:
    """KNOWN-BAD SET-006: ``min(fee, pool equity)``: the floor at zero dropped, an owing pool is paid a fee."""
    return min_(fee, pool_equity)


def compute_settlement_shortfall_unfloored(fund: int, held_pnl: int) -> int:
    """KNOWN-BAD SET-007: ``−(fund + held PnL)`` without the floor at zero: a negative deposit named."""
    return -(fund + held_pnl)


def compute_settlement_shortfall_one_short(fund: int, held_pnl: int) -> int:
    """KNOWN-BAD SET-007: the deposit named one short of what the fund lacks."""
    return max_(0, -(fund + held_pnl) - 1)


def check_transfer_margin_with_profit(is_cross: bool, pos_cross: int, unrealised_pnl: int, amount: int, available: int) -> object | None:
    """KNOWN-BAD MRG-063: removable margin counts unrealised profit (``pos_cross + pnl``)."""
    if is_cross:
        return "PositionNotIsolated"
    if amount == 0:
        return "InvalidAmount"
    if amount > 0 and amount > available:
        return "InsufficientAvailableBalance"
    removable = max(0, pos_cross + unrealised_pnl)
    if amount < 0 and -amount > removable:
        return "BelowInitialMargin"
    return None


def compute_isolated_margin_after_fill_keeps_profit(
    old_margin: int,
    old_requirement: int,
    new_requirement: int,
    realised: int,
    premium: int,
    unallocated: int,
    available: int,
    old_qty: int,
    new_qty: int,
) -> int:
    """KNOWN-BAD ACC-006: a realised profit stays in the isolated pool (added to what the pool keeps)."""
    margin = compute_isolated_margin_after_fill(
        old_margin, old_requirement, new_requirement, realised, premium, unallocated, available, old_qty, new_qty
    )
    return ite(new_qty == 0, 0, margin + max_(0, realised))  # BAD: the profit is not the wallet's


def compute_isolated_margin_after_fill_charging_the_rest(
    old_margin: int,
    old_requirement: int,
    new_requirement: int,
    realised: int,
    premium: int,
    unallocated: int,
    available: int,
    old_qty: int,
    new_qty: int,
) -> int:
    """KNOWN-BAD ACC-006 (the rule before attack review 2): the closed part's loss is charged to what is left.

    ``new requirement + extra + min(0, realised)``, on a reduction and on a flip alike (the premium as
    the real rule funds it; capping the requirement too is the other half, below).
    """
    del available  # the rule as it was: no MRG-050 cap
    del old_qty
    extra = old_margin - old_requirement + min_(0, realised)  # BAD: the loss comes out of the rest's requirement
    kept = new_requirement + extra
    return ite(new_qty == 0, 0, kept + min_(premium, max_(0, unallocated - kept)))


def compute_isolated_margin_after_fill_capping_the_requirement(
    old_margin: int,
    old_requirement: int,
    new_requirement: int,
    realised: int,
    premium: int,
    unallocated: int,
    available: int,
    old_qty: int,
    new_qty: int,
) -> int:
    """KNOWN-BAD ACC-006: on a premium fill the whole new margin, not only the premium, capped at the free wallet."""
    margin = compute_isolated_margin_after_fill(
        old_margin, old_requirement, new_requirement, realised, premium, unallocated, available, old_qty, new_qty
    )
    return ite(premium > 0, min_(margin, max_(0, unallocated)), margin)  # BAD: the requirement capped too


def compute_isolated_margin_after_fill_uncapped_top_up(
    old_margin: int,
    old_requirement: int,
    new_requirement: int,
    realised: int,
    premium: int,
    unallocated: int,
    available: int,
    old_qty: int,
    new_qty: int,
) -> int:
    """KNOWN-BAD ACC-006: a reduction's unpaid loss taken from the free wallet whether or not it holds it."""
    del unallocated, available
    return compute_isolated_margin_after_fill(
        old_margin, old_requirement, new_requirement, realised, premium, 10**30, 10**30, old_qty, new_qty  # BAD: no cap
    )


def compute_isolated_margin_after_fill_beyond_the_wallet(
    old_margin: int,
    old_requirement: int,
    new_requirement: int,
    realised: int,
    premium: int,
    unallocated: int,
    available: int,
    old_qty: int,
    new_qty: int,
) -> int:
    """KNOWN-BAD ACC-006: the bound dropped: a pool keeps an earlier fill's funded premium the wallet no longer holds.

    The rule as first written in session 6; black_thursday then left account 1859's wallet at −5,740,654 XBt.
    """
    del available  # the rule as it was: no MRG-050 cap
    flips = or_(and_(old_qty > 0, new_qty < 0), and_(old_qty < 0, new_qty > 0))
    freed = max_(0, old_requirement - new_requirement)
    extra = ite(flips, 0, old_margin - old_requirement)
    unpaid = ite(flips, 0, min_(0, realised + freed))
    own = new_requirement + extra + unpaid
    top_up = min_(-unpaid, max_(0, -(extra + unpaid)))
    return ite(new_qty == 0, 0, own + min_(top_up + premium, max_(0, unallocated - own)))  # BAD: no bound


def compute_impact_fill_floor(inst: Instrument, levels: tuple[tuple[int, int], ...], notional: int) -> tuple[int, int, int]:
    """KNOWN-BAD MRK-001: lots needed rounded down: the walk stops short of the notional with depth left."""
    remaining = notional
    qty_taken = 0
    value_taken = 0
    for price, qty in levels:
        lot_value = abs_(compute_value(inst, inst.lot_size, price))
        lots_needed = floordiv(remaining, ite(lot_value == 0, 1, lot_value))
        lots_taken = min_(qty // inst.lot_size, lots_needed)
        qty_taken = qty_taken + lots_taken * inst.lot_size
        value_taken = value_taken + lots_taken * lot_value
        remaining = max_(remaining - lots_taken * lot_value, 0)
    return qty_taken, value_taken, remaining


def compute_order_sides_signed_asks(
    inst: Instrument, orders: tuple[tuple[int, int], ...], mark_price: int, best_bid: int, best_ask: int
) -> tuple[tuple[int, int], tuple[int, int]]:
    """KNOWN-BAD MRG-042: offers summed with their sign (a sell's quantity and value count negative)."""
    del mark_price, best_bid, best_ask
    bid_qty = bid_value = ask_qty = ask_value = 0
    for qty, price in orders:
        value = compute_value(inst, qty, price)
        bid_qty = bid_qty + ite(qty > 0, qty, 0)
        bid_value = bid_value + ite(qty > 0, abs_(value), 0)
        ask_qty = ask_qty + ite(qty > 0, 0, qty)
        ask_value = ask_value + ite(qty > 0, 0, value)
    return (bid_qty, bid_value), (ask_qty, ask_value)


def compute_withdrawable_with_profit(available: int, cross_profit: int) -> int:
    """KNOWN-BAD MRG-050: withdrawable = max(0, available): unrealised profit can be withdrawn."""
    del cross_profit
    return max_(0, available)


def compute_account_margin_negative_isolated_adds(
    wallet: int, positions: tuple[PositionMargin, ...], order_margin: int
) -> AccountMargin:
    """KNOWN-BAD MRG-050 (the rule before redteam20_2): every isolated posMargin subtracted, a negative one adding.

    A Withdraw of the whole available balance left an isolated short's wallet at -3,970,500 XBt, position open.
    """
    account = compute_account_margin(wallet, positions, order_margin)
    negative = sum((min_(0, p.pos_margin) for p in positions if p.leverage_hundredths != CROSS), 0)
    available = account.available_margin - negative  # BAD: −(negative posMargin) added back
    return attrs.evolve(
        account,
        available_margin=available,
        withdrawable_margin=max_(0, available - account.cross_unrealised_profit),
    )


def compute_account_margin_without_order_margin(
    wallet: int, positions: tuple[PositionMargin, ...], order_margin: int
) -> AccountMargin:
    """KNOWN-BAD MRG-050 (redteam25 M4): the available balance without the order margin.

    A withdrawal could take the margin reserved for open orders; ``withdrawable ≤ wallet`` still holds.
    """
    account = compute_account_margin(wallet, positions, order_margin)
    available = account.available_margin + order_margin  # BAD: the order margin not taken off
    return attrs.evolve(
        account, available_margin=available, withdrawable_margin=max_(0, available - account.cross_unrealised_profit)
    )


def compute_account_margin_isolated_profit_as_cross(
    wallet: int, positions: tuple[PositionMargin, ...], order_margin: int
) -> AccountMargin:
    """KNOWN-BAD MRG-050 (redteam25 M3): every position's unrealised profit kept back, an isolated one's too.

    An isolated position's PnL is already out of the available balance (in its position margin): taking its
    profit off again under-states what may be withdrawn.
    """
    account = compute_account_margin(wallet, positions, order_margin)
    profit = sum((max_(0, p.unrealised_pnl) for p in positions), 0)  # BAD: isolated profit counted as cross
    return attrs.evolve(
        account, cross_unrealised_profit=profit, withdrawable_margin=max_(0, account.available_margin - profit)
    )


def compute_isolated_margin_after_fill_whole_deficit(
    old_margin: int,
    old_requirement: int,
    new_requirement: int,
    realised: int,
    premium: int,
    unallocated: int,
    available: int,
    old_qty: int,
    new_qty: int,
) -> int:
    """KNOWN-BAD ACC-006 (the rule before redteam20_1): a reduction's remainder keeps the pool's whole deficit.

    A half-taken Close at the mark of a pool at 1.19x maintenance that had paid funding left the remainder
    liquidatable at the same mark.
    """
    del available  # the rule as it was: no MRG-050 cap
    flips = or_(and_(old_qty > 0, new_qty < 0), and_(old_qty < 0, new_qty > 0))
    freed = max_(0, old_requirement - new_requirement)
    extra = ite(flips, 0, old_margin - old_requirement)  # BAD: the whole extra, a deficit included, stays
    unpaid = ite(flips, 0, min_(0, realised + freed))
    own = new_requirement + extra + unpaid
    top_up = min_(-unpaid, max_(0, -(extra + unpaid)))
    funded = own + min_(top_up + premium, max_(0, unallocated - own))
    return ite(new_qty == 0, 0, min_(funded, max_(unallocated, new_requirement)))


def compute_isolated_margin_after_fill_share_from_the_closed_part(
    old_margin: int,
    old_requirement: int,
    new_requirement: int,
    realised: int,
    premium: int,
    unallocated: int,
    available: int,
    old_qty: int,
    new_qty: int,
) -> int:
    """KNOWN-BAD ACC-006 (the rule of 136ac3c, redteam24_2 open): the closed part's deficit share paid only from what
    it frees and realises, ``top_up`` and the premium from the free wallet whatever MRG-050 leaves available.

    A resting Close accepted before funding made the deficit, half filled through the mark, left the remainder at
    0.82x maintenance at an unchanged mark while ~100 XBT were available (redteam24_2).
    """
    del available  # BAD: MRG-050's available pays nothing of the share, and caps neither top_up nor the premium
    flips = or_(and_(old_qty > 0, new_qty < 0), and_(old_qty < 0, new_qty > 0))
    freed = max_(0, old_requirement - new_requirement)
    extra = ite(flips, 0, old_margin - old_requirement)
    unpaid = ite(flips, 0, min_(0, realised + freed))
    own = new_requirement + extra + unpaid
    top_up = min_(-unpaid, max_(0, -(extra + unpaid)))
    reduces = and_(and_(not_(flips), new_qty != 0), abs_(new_qty) < abs_(old_qty))
    share = clamp(ceildiv(extra * abs_(new_qty), max_(1, abs_(old_qty))), extra, 0)
    shed = ite(and_(reduces, extra < 0), min_(share - extra, max_(0, realised + freed)), 0)
    funded = own + min_(top_up + premium + shed, max_(0, unallocated - own))
    return ite(new_qty == 0, 0, min_(funded, max_(unallocated, new_requirement)))


def compute_isolated_margin_after_fill_share_from_the_free_wallet(
    old_margin: int,
    old_requirement: int,
    new_requirement: int,
    realised: int,
    premium: int,
    unallocated: int,
    available: int,
    old_qty: int,
    new_qty: int,
) -> int:
    """KNOWN-BAD ACC-006 (fix24's 631c60e, reverted): the closed part's whole deficit share paid from the free wallet
    (the wallet less the other isolated pools) as far as it reaches, MRG-050's available not consulted.

    The half fill of review21_2 moved 547,125 XBt of a cross pool's margin into the isolated remainder and left the
    cross XBTUSD long at 0.92x maintenance at unchanged marks.
    """
    del available  # BAD: the cross positions' margin and the open orders' margin count as free
    flips = or_(and_(old_qty > 0, new_qty < 0), and_(old_qty < 0, new_qty > 0))
    freed = max_(0, old_requirement - new_requirement)
    extra = ite(flips, 0, old_margin - old_requirement)
    unpaid = ite(flips, 0, min_(0, realised + freed))
    own = new_requirement + extra + unpaid
    top_up = min_(-unpaid, max_(0, -(extra + unpaid)))
    reduces = and_(and_(not_(flips), new_qty != 0), abs_(new_qty) < abs_(old_qty))
    share = clamp(ceildiv(extra * abs_(new_qty), max_(1, abs_(old_qty))), extra, 0)
    shed = ite(and_(reduces, extra < 0), share - extra, 0)
    funded = own + min_(top_up + premium + shed, max_(0, unallocated - own))
    return ite(new_qty == 0, 0, min_(funded, max_(unallocated, new_requirement)))
