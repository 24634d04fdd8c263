"""CrossHair contracts: thin int-typed wrappers around rule kernels, with PEP 316 conditions.

CrossHair (``crosshair check --analysis_kind=PEP316``) executes each wrapper
symbolically and searches for inputs that satisfy the ``pre:`` conditions and
break a ``post:`` condition.  It is a bounded *search* (per-condition timeout),
not a proof: it complements the Z3 obligations by running the real Python
path — attrs records, ``ite`` dispatch, the instrument loaded from its file —
instead of the symbolic wrapper.

Each wrapper takes integers in natural units (lots, ticks) so that every
input satisfying ``pre:`` is a valid one.  ``commission_floor_known_bad`` is
deliberately broken: CrossHair must refute it (tests/test_crosshair.py).
The wrappers are not rules: they may branch on values.
"""

from __future__ import annotations

from perpspec.proofs.known_bad import compute_commission_floor
from perpspec.rules.contract import compute_value
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.margin import (
    compute_bankruptcy_price,
    compute_equity,
    compute_init_margin_req_ppm,
    compute_liquidation_price,
    compute_pos_comm,
    compute_pos_init,
    compute_pos_maint,
    compute_position_margin,
)
from perpspec.rules.num import ceildiv, round_half_up_div
from perpspec.rules.position import Position, apply_fill, apply_trade, compute_commission
from perpspec.rules.risk_limit import compute_maint_margin_req_ppm, compute_risk_steps

XBTUSD = load_instrument("XBTUSD")
XBTUSDT = load_instrument("XBTUSDT")
MAX_TICKS_XBTUSD = XBTUSD.max_price // XBTUSD.tick_size
MAX_TICKS_XBTUSDT = XBTUSDT.max_price // XBTUSDT.tick_size


def ceildiv_rounds_up(numerator: int, denominator: int) -> int:
    """ceildiv: the smallest quotient whose product reaches the numerator.

    pre: denominator > 0
    post: __return__ * denominator >= numerator
    post: (__return__ - 1) * denominator < numerator
    """
    return ceildiv(numerator, denominator)


def round_half_up_is_nearest(numerator: int, denominator: int) -> int:
    """round_half_up_div: within half a unit, halves up.

    pre: denominator > 0
    post: 2 * numerator - denominator < 2 * __return__ * denominator <= 2 * numerator + denominator
    """
    return round_half_up_div(numerator, denominator)


def commission_is_exact_fee_rounded_up(notional: int, fee_ppm: int) -> int:
    """ACC-002: the commission is the exact fee rounded up, by less than one minor unit.

    pre: notional >= 0
    pre: -1_000_000 < fee_ppm < 1_000_000
    post: __return__ * 1_000_000 >= notional * fee_ppm
    post: __return__ * 1_000_000 < notional * fee_ppm + 1_000_000
    """
    return compute_commission(notional, fee_ppm)


def commission_floor_known_bad(notional: int, fee_ppm: int) -> int:
    """KNOWN-BAD ACC-002: commission rounded toward the trader (CrossHair must refute this).

    pre: notional >= 0
    pre: -1_000_000 < fee_ppm < 1_000_000
    post: __return__ * 1_000_000 >= notional * fee_ppm
    """
    return compute_commission_floor(notional, fee_ppm)


def inverse_fill_moves_only_its_value(qty_lots: int, cost: int, fill_lots: int, price_ticks: int) -> int:
    """ACC-003 on XBTUSD: ``Δwallet − Δcost + value(fill)``, which must be zero.

    pre: 1 <= price_ticks <= MAX_TICKS_XBTUSD
    pre: qty_lots != 0 or cost == 0
    post: __return__ == 0
    """
    inst = XBTUSD
    position = Position(qty=qty_lots * inst.lot_size, cost=cost)
    fill_qty, price = fill_lots * inst.lot_size, price_ticks * inst.tick_size
    after, realised = apply_fill(inst, position, fill_qty, price)
    return realised - (after.cost - cost) + compute_value(inst, fill_qty, price)


def linear_trade_conserves(
    buyer_lots: int, buyer_cost: int, seller_lots: int, seller_cost: int, lots: int, price_ticks: int
) -> int:
    """ACC-004 on XBTUSDT: Σ Δ(wallet − cost) + Δfees of a trade at the instrument's fees; zero.

    pre: lots >= 1
    pre: 1 <= price_ticks <= MAX_TICKS_XBTUSDT
    post: __return__ == 0
    """
    inst = XBTUSDT
    buyer = Position(qty=buyer_lots * inst.lot_size, cost=buyer_cost)
    seller = Position(qty=seller_lots * inst.lot_size, cost=seller_cost)
    qty, price = lots * inst.lot_size, price_ticks * inst.tick_size
    trade = apply_trade(inst, buyer, seller, qty, price, inst.taker_fee_ppm, inst.maker_fee_ppm)
    buyer_delta = trade.buyer.wallet_delta - (trade.buyer.position.cost - buyer_cost)
    seller_delta = trade.seller.wallet_delta - (trade.seller.position.cost - seller_cost)
    return buyer_delta + seller_delta + trade.fee_pool_delta


def linear_long_safe_above_bankruptcy(
    qty_lots: int, entry_ticks: int, margin: int, pos_comm: int, mark_ticks: int
) -> int:
    """MRG-012 on XBTUSDT, long opened at entry: at a mark at or above bankruptcy, equity − posComm ≥ 0.

    Returns the equity above posComm at the mark, or 0 when the mark is below the price.

    pre: qty_lots >= 1
    pre: 1 <= entry_ticks <= MAX_TICKS_XBTUSDT
    pre: 1 <= mark_ticks <= MAX_TICKS_XBTUSDT
    pre: 0 <= pos_comm <= margin
    post: __return__ >= 0
    """
    inst = XBTUSDT
    qty, mark = qty_lots * inst.lot_size, mark_ticks * inst.tick_size
    position = Position(qty=qty, cost=compute_value(inst, qty, entry_ticks * inst.tick_size))
    price = compute_bankruptcy_price(inst, qty, position.cost, margin, pos_comm)
    if mark < price:
        return 0
    return compute_equity(inst, position, margin, mark) - pos_comm


def inverse_short_liquidation_between(qty_lots: int, entry_ticks: int, leverage: int) -> int:
    """MRG-011 on XBTUSD, isolated short opened at entry: entry ≤ liquidation ≤ bankruptcy.

    Returns 1 when the order holds (0 otherwise).

    pre: 1 <= qty_lots <= 100_000
    pre: 1 <= entry_ticks <= MAX_TICKS_XBTUSD
    pre: 100 <= leverage <= 10_000
    post: __return__ == 1
    """
    inst = XBTUSD
    entry = entry_ticks * inst.tick_size
    qty = -qty_lots * inst.lot_size
    position = Position(qty=qty, cost=compute_value(inst, qty, entry))
    fields = compute_position_margin(inst, position, entry, leverage)
    liquidation = compute_liquidation_price(inst, qty, position.cost, fields.pos_margin, fields.pos_maint)
    ordered = entry <= liquidation <= fields.bankrupt_price and liquidation == fields.liquidation_price
    return 1 if ordered else 0


def compute_pos_maint_at(inst: Instrument, pos_cost: int, leverage: int) -> int:
    """posMaint of an entry value ``pos_cost`` (≥ 0) as MRG-020 composes it (no extra margin)."""
    steps = compute_risk_steps(inst, pos_cost)
    pos_init = compute_pos_init(pos_cost, compute_init_margin_req_ppm(inst, leverage, steps))
    pos_comm = compute_pos_comm(pos_cost, pos_init, 0, inst.taker_fee_ppm)
    return compute_pos_maint(pos_cost, compute_maint_margin_req_ppm(inst, steps), pos_comm)


def maintenance_grows_with_size(small_cost: int, extra_cost: int, leverage: int) -> int:
    """MRG-005 on XBTUSD: posMaint(larger entry value) − posMaint(smaller), same leverage; ≥ 0.

    pre: 0 <= small_cost <= 10**15
    pre: 0 <= extra_cost <= 10**15
    pre: 0 <= leverage <= 10_000
    post: __return__ >= 0
    """
    return compute_pos_maint_at(XBTUSD, small_cost + extra_cost, leverage) - compute_pos_maint_at(
        XBTUSD, small_cost, leverage
    )
