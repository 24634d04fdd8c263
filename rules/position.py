"""ACC: positions, fills, realised PnL and commission — accounting by cost basis.

A position is a signed quantity (long > 0) and a signed **cost basis**: the
sum of the values (:func:`rules.contract.compute_value`) of the fills that
built it.  Equity at a mark price is ``wallet + markValue - cost``, so:

* a fill moves the *same* integer value into the buyer's and out of the
  seller's cost basis — nothing is created or destroyed (INV-CONSERVATION),
  and open interest stays balanced (INV-OI-BALANCE);
* realising PnL on a reduction moves value from ``cost`` to ``wallet`` and
  leaves equity unchanged; the cost kept by the remaining position is
  rounded down (toward minus infinity), so realised PnL is never rounded up
  in the trader's favour;
* commission is ``notional * fee`` rounded *up* (toward the fee pool): a
  taker never pays less than the exact fee and a maker rebate (negative fee)
  is never more than the exact rebate;
* the rate is the taker's for the incoming order, and for a resting order
  the maker's unless it hid what it traded (ACC-007: a hidden order, or an
  iceberg whose hidden part trades with the same incoming order, pays the
  taker rate).

Every money movement of a fill is a set of postings that sum to zero.
"""

from __future__ import annotations

import attrs

from perpspec.rules.contract import compute_notional, compute_value
from perpspec.rules.instrument import Instrument
from perpspec.rules.num import PPM, abs_, and_, ceildiv, ite, min_, or_


@attrs.frozen(kw_only=True)
class Position:
    """One account's position in one contract.

    ``qty`` is BitMEX ``currentQty`` (signed, long > 0).  ``cost`` is the signed
    cost basis in settlement minor units (BitMEX ``unrealisedCost``, which is
    ``posCost`` with the API's sign convention).
    """

    qty: int = 0
    cost: int = 0


FLAT = Position()


@attrs.frozen(kw_only=True)
class FillEffect:
    """What one fill does to one side: the new position and the wallet credit."""

    position: Position
    realised_pnl: int  # moved from cost to wallet (realisedPnl, before fees)
    commission: int  # charged to the wallet, credited to the fee pool (negative: rebate)

    @property
    def wallet_delta(self) -> int:
        """Net change of the wallet balance."""
        return self.realised_pnl - self.commission


@attrs.frozen(kw_only=True)
class TradeEffect:
    """A fill between a buyer and a seller: both sides and the fee pool."""

    buyer: FillEffect
    seller: FillEffect
    fee_pool_delta: int


def compute_unrealised_pnl(inst: Instrument, position: Position, mark_price: int) -> int:
    """ACC-001: ``unrealisedPnl = markValue - cost`` at the mark price."""
    return compute_value(inst, position.qty, mark_price) - position.cost


def compute_commission(notional: int, fee_ppm: int) -> int:
    """ACC-002: commission on an execution of value ``notional``; rounded up, toward the fee pool."""
    # ceil: a taker never pays less than the exact fee; a rebate (negative fee) is
    # rounded toward zero, so it never exceeds the exact rebate.
    return ceildiv(notional * fee_ppm, PPM)


def is_resting_fill_at_taker_rate(shown_qty: int, leaves_qty: int, incoming_qty: int) -> bool:
    """True when the incoming order takes, or on reaching the resting order would take, more than it displays.

    ACC-007's condition: ``min(incoming, open) > displayed``.  Read when the incoming order's sweep first
    reaches the resting order (see :func:`compute_resting_fee_ppm`).
    """
    return min_(incoming_qty, leaves_qty) > shown_qty


def compute_resting_fee_ppm(
    shown_qty: int, leaves_qty: int, incoming_qty: int, maker_fee_ppm: int, taker_fee_ppm: int
) -> int:
    """ACC-007: the fee rate a resting order pays on its fills from one incoming order; taker when it hid them.

    [S] BitMEX (support article 6909929283997, "What Fees Do Hidden and Iceberg
    Orders Pay on BitMEX"): "Hidden orders on BitMEX always incur the taker fee,
    regardless of execution type."  An iceberg's displayed portion pays the
    maker fee when it executes on its own, but "if the displayed and hidden
    portions execute in the same transaction, both pay taker fees."  The maker
    rate, a rebate in most fee tiers, pays for liquidity others can see; a
    hidden order shows none, so it is charged as if it had taken liquidity.

    The rule, for a resting order the incoming order's sweep reaches, with
    ``shown_qty`` the quantity it displays at that moment (all of its open
    quantity for a plain order, 0 for a hidden one, the current slice of an
    iceberg), ``leaves_qty`` its open quantity and ``incoming_qty`` what is
    left of the incoming order: its fills from this incoming order pay the
    account's **taker** rate when ``min(incoming_qty, leaves_qty) >
    shown_qty`` — the incoming order takes, or would take, more than the order
    displays — and its **maker** rate otherwise.  So:

    * a hidden order (displays 0) always pays the taker rate;
    * a plain order (displays all it has) always pays the maker rate;
    * an iceberg pays the maker rate when the incoming order fits in its
      displayed slice, or when no hidden part is left (the last slice), and
      the taker rate on *all* its fills from the incoming order otherwise.

    Decision [I] (BitMEX does not say when a displayed and a hidden portion
    "execute in the same transaction"): the rate is decided once, when the
    sweep first reaches the order, for all its fills from that incoming order.
    A refreshed slice goes to the back of its price level's displayed queue, so
    an incoming order larger than the slice can be used up by the orders queued
    behind the iceberg before the refreshed slice comes round; the iceberg then
    pays the taker rate on its displayed slice alone.  The rate must be known
    before the first fill, because LIQ-044/LIQ-049/LIQ-053 judge every fill at
    the fee it will pay; where the reading could go either way it goes toward
    the fee pool (the resting side never receives a rebate BitMEX would not pay).

    The execution still reports ``lastLiquidityInd`` AddedLiquidity: the field
    says which side of the trade the order was on, and it rested.  BitMEX's
    article speaks of the fee only; what BitMEX reports in that field for a
    hidden fill is not published.  ``execComm`` and the commission rate show
    the taker fee.  The amount is ACC-002's on the chosen
    rate (rounded toward the fee pool), and ACC-004 conserves funds at any rates.
    Liquidation fills pay no commission at any rate (rules.waterfall's decision).
    """
    return ite(is_resting_fill_at_taker_rate(shown_qty, leaves_qty, incoming_qty), taker_fee_ppm, maker_fee_ppm)


def is_opposite(position_qty: int, fill_qty: int) -> bool:
    """True when the fill reduces (or flips) the position."""
    return or_(and_(position_qty > 0, fill_qty < 0), and_(position_qty < 0, fill_qty > 0))


def apply_fill(inst: Instrument, position: Position, fill_qty: int, price: int) -> tuple[Position, int]:
    """ACC-003: the position after a fill of signed ``fill_qty`` at ``price``, and the realised PnL.

    The part of the old position that survives keeps ``cost * kept / qty``
    rounded down; the closed part's PnL is realised; any flip opens at
    ``price``.  ``Δwallet − Δcost = −value(fill_qty, price)`` exactly.
    """
    old_qty, old_cost = position.qty, position.cost
    new_qty = old_qty + fill_qty
    opposite = is_opposite(old_qty, fill_qty)
    flips = abs_(fill_qty) > abs_(old_qty)
    kept_qty = ite(opposite, ite(flips, 0, new_qty), old_qty)
    safe_old_qty = ite(old_qty == 0, 1, old_qty)
    # floor: the surviving cost is rounded toward minus infinity, so realised PnL
    # (kept_cost - old_cost - close_value) is never rounded in the trader's favour.
    kept_cost = ite(kept_qty == old_qty, old_cost, old_cost * kept_qty // safe_old_qty)
    close_value = compute_value(inst, kept_qty - old_qty, price)
    open_value = compute_value(inst, new_qty - kept_qty, price)
    realised = kept_cost - old_cost - close_value
    return Position(qty=new_qty, cost=kept_cost + open_value), realised


def apply_trade(
    inst: Instrument,
    buyer: Position,
    seller: Position,
    qty: int,
    price: int,
    buyer_fee_ppm: int,
    seller_fee_ppm: int,
) -> TradeEffect:
    """ACC-004: a trade of ``qty > 0`` contracts at ``price``: both sides and the fee pool.

    The buyer's cost basis gains exactly what the seller's loses; the
    commissions go to the fee pool.  All postings sum to zero.
    """
    notional = compute_notional(inst, qty, price)
    buyer_position, buyer_realised = apply_fill(inst, buyer, qty, price)
    seller_position, seller_realised = apply_fill(inst, seller, -qty, price)
    buyer_commission = compute_commission(notional, buyer_fee_ppm)
    seller_commission = compute_commission(notional, seller_fee_ppm)
    return TradeEffect(
        buyer=FillEffect(position=buyer_position, realised_pnl=buyer_realised, commission=buyer_commission),
        seller=FillEffect(
            position=seller_position, realised_pnl=seller_realised, commission=seller_commission
        ),
        fee_pool_delta=buyer_commission + seller_commission,
    )


@attrs.frozen(kw_only=True)
class SpotTrade:
    """ACC-010's postings of one spot fill, in the quote asset (``settlCurrency``) and the base asset."""

    buyer_quote: int  # −(value + the buyer's commission)
    buyer_base: int  # +qty × baseMultiplier
    seller_base: int  # −qty × baseMultiplier
    seller_quote: int  # value − the seller's commission
    buyer_commission: int
    seller_commission: int
    fee_pool_delta: int  # both commissions, in the quote asset


def apply_spot_trade(inst: Instrument, qty: int, price: int, buyer_fee_ppm: int, seller_fee_ppm: int) -> SpotTrade:
    """ACC-010: a spot trade of ``qty > 0`` contracts at ``price``: the quote value one way, the base amount the other.

    A spot pair is fully funded (no position, no margin): the buyer pays the value (CON-003) and its commission in the
    quote asset and receives ``qty × baseMultiplier`` of the base asset; the seller the reverse; both commissions
    (ACC-002, rounded toward the fee pool, each side at its own rate — ACC-007 for the resting side) go to the fee
    pool.  Each asset's postings sum to zero.
    """
    value = compute_notional(inst, qty, price)
    amount = qty * inst.base_multiplier
    buyer_commission = compute_commission(value, buyer_fee_ppm)
    seller_commission = compute_commission(value, seller_fee_ppm)
    return SpotTrade(
        buyer_quote=-value - buyer_commission,
        buyer_base=amount,
        seller_base=-amount,
        seller_quote=value - seller_commission,
        buyer_commission=buyer_commission,
        seller_commission=seller_commission,
        fee_pool_delta=buyer_commission + seller_commission,
    )


def compute_avg_entry_price(inst: Instrument, position: Position) -> int:
    """ACC-005: average entry price for display (price units), 0 when flat.

    Derived from the cost basis; never used to compute money.  Inverse:
    ``lots * lotValueNumerator / |cost|``; linear: ``|cost| * scale / (mult * |qty|)``;
    rounded to nearest.
    """
    qty = abs_(position.qty)
    cost = abs_(position.cost)
    safe_qty = ite(qty == 0, 1, qty)
    safe_cost = ite(cost == 0, 1, cost)
    if inst.is_inverse:
        numerator = -inst.multiplier * inst.price_scale * qty
        return ite(qty == 0, 0, (2 * numerator + safe_cost) // (2 * safe_cost))
    denominator = inst.multiplier * safe_qty
    return ite(qty == 0, 0, (2 * cost * inst.price_scale + denominator) // (2 * denominator))
