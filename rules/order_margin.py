"""MRG-040..046: order margin — what an account's resting orders in one contract must keep in the account.

For a risk committee, in plain words: a resting order is charged the initial margin of the position it could
open, at the worst price it can actually fill at (MRG-040), plus the loss against mark of filling it at its limit
(MRG-041, the premium) and the taker fees of entering and leaving.  Orders that reduce the position carry no
margin, and the two sides net as BitMEX nets them (MRG-044): only what could be open at once is charged.  Every
figure is rounded **up** (a requirement).  The position's own margin (MRG-001..034) and the account's balances
(MRG-050..068) are :mod:`rules.margin`'s; split from it when it passed 800 lines.

Units as :mod:`rules.margin`: money in the settlement currency's minor unit, prices in price units, rates in ppm,
leverage in hundredths (``0`` = cross margin).
"""

from __future__ import annotations

import attrs

from perpspec.rules.contract import compute_value
from perpspec.rules.instrument import Instrument
from perpspec.rules.margin import compute_init_margin_req_ppm
from perpspec.rules.num import abs_, ceildiv, ite, max_, min_, ppm_of_ceil
from perpspec.rules.position import Position
from perpspec.rules.risk_limit import compute_risk_steps


@attrs.frozen(kw_only=True)
class RestingOrder:
    """A resting limit order, for margin: signed leaves quantity (buy > 0) and limit price.

    Untriggered stops and if-touched orders are not resting orders: they
    consume no margin until triggered (reference §8).
    """

    symbol: str
    qty: int  # leavesQty, signed: buy > 0, sell < 0
    price: int  # limit price, price units


@attrs.frozen(kw_only=True)
class OrderSide:
    """One side's resting orders in one contract, summed: what order margin is charged on."""

    qty: int = 0  # contracts, ≥ 0
    value: int = 0  # Σ value at each order's worst-case execution price (unsigned, minor units)
    premium: int = 0  # Σ loss against mark if filled at the limit price (grossOpenPremium part)


@attrs.frozen(kw_only=True)
class OrderMargin:
    """Order margin of one contract's resting orders (BitMEX ``initMargin`` of the Margin record)."""

    bid_qty_charged: int  # bids charged initial margin (linear: net of offers; inverse: all non-reducing)
    ask_qty_charged: int  # offers charged initial margin (linear: all non-reducing; inverse: net of bids)
    init_margin: int  # initMarginReq × value of the charged contracts
    premium: int  # grossOpenPremium: buying above / selling below mark, fully funded
    commission: int  # entry and exit taker fee reserved on the non-reducing contracts
    total: int  # init_margin + premium + commission


def compute_order_charge_price(inst: Instrument, qty: int, limit_price: int, best_bid: int, best_ask: int) -> int:
    """MRG-040: the price an order's initial margin is charged at: its worst-case execution value.

    Linear and quanto (value rises with price): a buy at its limit, a sell at
    ``max(limitPrice, bestBid)`` — BitMEX's rule (reference §2).  Inverse (value
    falls as price rises) mirrors it [I]: a sell at its limit, a buy at
    ``min(limitPrice, bestAsk)``; so an order's margin always covers the value
    it can actually fill at.  ``best_bid``/``best_ask`` are 0 when that side of
    the book is empty.
    """
    if inst.is_inverse:  # structural: instrument configuration
        buy_price = ite(best_ask > 0, ite(best_ask < limit_price, best_ask, limit_price), limit_price)
        sell_price = limit_price
    else:
        buy_price = limit_price
        sell_price = max_(limit_price, best_bid)
    return ite(qty > 0, buy_price, sell_price)


def compute_order_premium(inst: Instrument, qty: int, limit_price: int, mark_price: int) -> int:
    """MRG-041: the loss against mark of filling ``qty`` (signed) at ``limit_price``; 0 when not below mark value.

    ``mark 100, bid 10 @ 110`` → ``10 × (110 − 100) × multiplier`` (linear).
    """
    return max_(0, compute_value(inst, qty, limit_price) - compute_value(inst, qty, mark_price))


def compute_order_sides(
    inst: Instrument, orders: tuple[tuple[int, int], ...], mark_price: int, best_bid: int, best_ask: int
) -> tuple[OrderSide, OrderSide]:
    """MRG-042: the (bids, offers) totals of resting orders given as ``(signed qty, limit price)`` pairs."""
    bid_qty = bid_value = bid_premium = 0
    ask_qty = ask_value = ask_premium = 0
    for qty, price in orders:
        is_bid = qty > 0
        charge_price = compute_order_charge_price(inst, qty, price, best_bid, best_ask)
        value = abs_(compute_value(inst, qty, charge_price))
        premium = compute_order_premium(inst, qty, price, mark_price)
        bid_qty = bid_qty + ite(is_bid, qty, 0)
        bid_value = bid_value + ite(is_bid, value, 0)
        bid_premium = bid_premium + ite(is_bid, premium, 0)
        ask_qty = ask_qty + ite(is_bid, 0, -qty)
        ask_value = ask_value + ite(is_bid, 0, value)
        ask_premium = ask_premium + ite(is_bid, 0, premium)
    return (
        OrderSide(qty=bid_qty, value=bid_value, premium=bid_premium),
        OrderSide(qty=ask_qty, value=ask_value, premium=ask_premium),
    )


def compute_prorated(amount: int, part_qty: int, whole_qty: int) -> int:
    """MRG-043: ``amount × part / whole``, rounded up (charging a part of a side's total)."""
    # ceil: a requirement; whole == 0 implies part == 0 and amount == 0.
    return ceildiv(amount * part_qty, ite(whole_qty == 0, 1, whole_qty))


def compute_order_margin(
    inst: Instrument,
    position_qty: int,
    bids: OrderSide,
    asks: OrderSide,
    init_margin_req_ppm: int,
    taker_fee_ppm: int,
) -> OrderMargin:
    """MRG-044: order margin with BitMEX's netting (reference §2).

    * Orders that **reduce** the position (offers up to a long's size, bids up to a short's) carry no margin.
    * Linear and quanto: initial margin is charged on the **net bids** (non-reducing bids minus non-reducing
      offers, never below 0) and on every non-reducing **offer**: bid 20 @ 100 and offer 15 @ 150, flat → 5 bid
      and 15 offered contracts.  Whichever side fills, its new position's margin is covered, because a resting
      offer is always priced above a resting bid and so is worth at least as much per contract.
    * Inverse mirrors it [I]: a contract is worth *more* at a lower price, so every non-reducing bid is charged
      and the offers net of bids — the same guarantee with the sides swapped.
    * A side's charged contracts carry their share of the side's value and premium, rounded up [I] (BitMEX does
      not say which prices are netted).  A fill can raise that share (MRG-067 settles it after the trade).
    * The **premium** of buying above / selling below mark is charged in full on every non-reducing contract
      (API ``grossOpenPremium``) [I: not netted].
    * The **commission** reserve is the taker fee on entry (value at the order price) plus the exit reserve a
      fill adds to ``posComm`` (fee on value + initial margin) — BitMEX's "IM = 1% + entry taker fee + exit
      taker fee".
    """
    reducing_bids = min_(bids.qty, max_(0, -position_qty))
    reducing_asks = min_(asks.qty, max_(0, position_qty))
    open_bids = bids.qty - reducing_bids
    open_asks = asks.qty - reducing_asks
    if inst.is_inverse:  # structural: bids are the side worth more per contract
        charged_bids = open_bids
        charged_asks = max_(0, open_asks - open_bids)
    else:
        charged_bids = max_(0, open_bids - open_asks)
        charged_asks = open_asks
    charged_value = compute_prorated(bids.value, charged_bids, bids.qty) + compute_prorated(
        asks.value, charged_asks, asks.qty
    )
    open_value = compute_prorated(bids.value, open_bids, bids.qty) + compute_prorated(asks.value, open_asks, asks.qty)
    premium = compute_prorated(bids.premium, open_bids, bids.qty) + compute_prorated(
        asks.premium, open_asks, asks.qty
    )
    init_margin = ppm_of_ceil(charged_value, init_margin_req_ppm)  # ceil: a requirement
    # ceil, twice: the entry fee and the exit reserve are each rounded up, as a fill charges them.
    commission = ppm_of_ceil(open_value, taker_fee_ppm) + ppm_of_ceil(open_value + init_margin, taker_fee_ppm)
    return OrderMargin(
        bid_qty_charged=charged_bids,
        ask_qty_charged=charged_asks,
        init_margin=init_margin,
        premium=premium,
        commission=commission,
        total=init_margin + premium + commission,
    )


def compute_order_margin_req_ppm(
    inst: Instrument, position_cost: int, bids: OrderSide, asks: OrderSide, leverage_hundredths: int
) -> int:
    """MRG-045: the initial margin requirement orders are charged at (ppm).

    The position's ``initMarginReq`` at the risk tier of its entry value plus
    the larger side of its orders (an order may take the position up a tier).
    """
    gross = abs_(position_cost) + max_(bids.value, asks.value)
    return compute_init_margin_req_ppm(inst, leverage_hundredths, compute_risk_steps(inst, gross))


def compute_contract_order_margin(
    inst: Instrument,
    position: Position,
    orders: tuple[tuple[int, int], ...],
    mark_price: int,
    best_bid: int,
    best_ask: int,
    leverage_hundredths: int,
) -> OrderMargin:
    """MRG-046: order margin of one account's resting orders ``(signed qty, price)`` in one contract."""
    bids, asks = compute_order_sides(inst, orders, mark_price, best_bid, best_ask)
    init_req = compute_order_margin_req_ppm(inst, position.cost, bids, asks, leverage_hundredths)
    return compute_order_margin(inst, position.qty, bids, asks, init_req, inst.taker_fee_ppm)
