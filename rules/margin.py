"""MRG: margin — what a position and its orders must keep in the account, and where it is liquidated.

For a risk committee, in plain words:

* A position's **entry value** is the absolute value of its cost basis,
  BitMEX ``posCost``.  The **initial margin** ``posInit`` is the initial margin
  requirement (``1 / leverage`` when isolated, the instrument's initial margin
  when cross, raised by risk-limit steps) times the entry value; the
  **commission reserve** ``posComm`` is the taker fee on what closing would cost
  (entry value plus margin); the **maintenance margin** ``posMaint`` is the
  maintenance requirement times the entry value, plus the same reserve.
* A position's **equity** is the margin backing it plus its unrealised PnL at
  the mark price.  It is **liquidated** when its equity falls below its
  maintenance margin (``margin excess < 0``), and **bankrupt** when its equity
  no longer covers the commission of closing it.
* The **liquidation price** and the **bankruptcy price** are the last prices,
  on the tick grid, at which the position is still safe resp. solvent — found
  exactly the way BitMEX's engine finds them: for inverse contracts with one
  integer step per lot (reference §2, "Position accounting model", which
  reproduces real engine records to the satoshi and to the tick).

Every requirement is rounded **up** and every price toward the **safe side**
(a long's liquidation price up, a short's down), so rounding never lets a
position run further than the exact arithmetic would.

Units: money in the settlement currency's minor unit (XBt, USDt), prices in the
instrument's price units (``price_scale`` per quote unit), rates in ppm,
leverage in hundredths (100x = ``10_000``; ``0`` = cross margin).
"""

from __future__ import annotations

import attrs

from rules.contract import compute_value
from rules.instrument import Instrument
from rules.num import (
    PPM,
    abs_,
    ceildiv,
    clamp,
    floordiv,
    ite,
    max_,
    ppm_of_ceil,
)
from rules.position import Position
from rules.risk_limit import (
    compute_maint_margin_req_ppm,
    compute_risk_init_margin_req_ppm,
    compute_risk_steps,
)

CROSS = 0  # leverage value meaning cross margin (BitMEX: POST /position/leverage with 0)


# --- requirements -----------------------------------------------------------------------


def compute_leverage_margin_req_ppm(leverage_hundredths: int) -> int:
    """MRG-001: ``1 / leverage`` in ppm for isolated leverage in hundredths (> 0), rounded up.

    100x (``10_000``) → ``10_000`` ppm = 1.00%; 3x (``300``) → ``333_334`` ppm.
    """
    # ceil: a requirement, rounded toward the system.
    return ceildiv(PPM * 100, leverage_hundredths)


def compute_init_margin_req_ppm(inst: Instrument, leverage_hundredths: int, steps: int) -> int:
    """MRG-002: BitMEX ``initMarginReq`` (ppm) of a position at ``steps`` risk steps.

    Cross (``leverage_hundredths == 0``): the risk-limit tier's initial margin.
    Isolated: ``1 / leverage``, but never below the tier's initial margin [I]
    (BitMEX refuses a leverage above the tier's maximum; the rulebook takes the
    larger requirement so a stale leverage can never lower it).
    """
    tier = compute_risk_init_margin_req_ppm(inst, steps)
    isolated = compute_leverage_margin_req_ppm(ite(leverage_hundredths == CROSS, 1, leverage_hundredths))
    return ite(leverage_hundredths == CROSS, tier, max_(isolated, tier))


def compute_pos_init(pos_cost: int, init_margin_req_ppm: int) -> int:
    """MRG-003: ``posInit = initMarginReq × posCost`` (``pos_cost`` unsigned), rounded up."""
    return ppm_of_ceil(pos_cost, init_margin_req_ppm)  # ceil: a requirement


def compute_pos_comm(pos_cost: int, pos_init: int, pos_cross: int, taker_fee_ppm: int) -> int:
    """MRG-004: ``posComm = ceil(takerFee × (posCost + posInit + posCross))``: the reserve for closing."""
    return ppm_of_ceil(pos_cost + pos_init + pos_cross, taker_fee_ppm)  # ceil: a requirement


def compute_pos_maint(pos_cost: int, maint_margin_req_ppm: int, pos_comm: int) -> int:
    """MRG-005: ``posMaint = maintMarginReq × posCost + posComm`` (``pos_cost`` unsigned), rounded up."""
    return ppm_of_ceil(pos_cost, maint_margin_req_ppm) + pos_comm  # ceil: a requirement


# --- the threshold prices ---------------------------------------------------------------


def compute_threshold_price(inst: Instrument, qty: int, cost: int, margin: int, reserve: int) -> int:
    """MRG-010: the last price (tick multiple) at which ``margin + unrealisedPnl ≥ reserve``.

    Inputs: ``qty`` signed contracts (whole lots, long > 0); ``cost`` the signed
    cost basis (minor units, :class:`rules.position.Position`); ``margin`` the
    money backing the position (minor units; isolated: ``posMargin``; cross: the
    margin balance backing it, excluding its own unrealised PnL); ``reserve``
    the equity the position must keep (``posMaint`` for the liquidation price,
    ``posComm`` for the bankruptcy price).  Returns price units; 0 when flat.

    "Last price" means: for a long, the lowest price ``P`` with equity ≥ reserve
    at every mark ≥ ``P``; for a short, the highest ``P`` with equity ≥ reserve
    at every mark ≤ ``P``.  Equity is valued with the rulebook's own
    :func:`rules.contract.compute_value` (per-lot satoshi rounding for inverse).

    Inverse, with ``N`` the per-lot value numerator (``lotSize × |multiplier| ×
    price_scale``) and ``slack = margin − reserve`` (reference §2, per-lot step):

    * short: ``c = ceil((cost − slack) / lots)``, ``P = floor_to_tick(N / c)``
      (``c ≤ 0``: never reached, ``P = maxPrice``);
    * long: ``c = floor((slack − cost) / lots)``, ``P = ceil_to_tick(N / c)``
      (``c ≤ 0``: unsafe at every price, ``P = maxPrice``).

    Linear and quanto (exact values, no step): long
    ``P = ceil_to_tick((cost − slack) × scale / (qty × multiplier))``, short
    ``P = floor_to_tick((slack − cost) × scale / (|qty| × multiplier))``.

    The result is clamped to ``[tickSize, maxPrice]``, the prices an order may
    carry.  Clamping only happens when the exact threshold lies outside that
    range: then a long/short is safe at every valid price (long clamped up to
    one tick, short down to ``maxPrice``) or unsafe at every valid price.
    """
    lots = abs_(qty) // inst.lot_size  # exact: whole lots
    slack = margin - reserve
    tick = inst.tick_size
    if inst.is_inverse:  # structural: instrument configuration
        numerator = -inst.multiplier * inst.price_scale * inst.lot_size
        safe_lots = ite(lots == 0, 1, lots)
        # short: the per-lot value must stay >= c; ceil so the equity never dips below reserve.
        short_step = ceildiv(cost - slack, safe_lots)
        # floor to the tick: a short's threshold moves down (toward safety).
        short_ticks = floordiv(numerator, max_(short_step, 1) * tick)
        short_price = ite(short_step <= 0, inst.max_price, short_ticks * tick)
        # long: the per-lot value must stay <= c; floor so the equity never dips below reserve.
        long_step = floordiv(slack - cost, safe_lots)
        # ceil to the tick: a long's threshold moves up (toward safety).
        long_ticks = ceildiv(numerator, max_(long_step, 1) * tick)
        long_price = ite(long_step <= 0, inst.max_price, long_ticks * tick)
    else:
        units = abs_(qty) * inst.multiplier * tick  # value of the position per tick, times price_scale
        safe_units = ite(units == 0, 1, units)
        # ceil / floor to the tick: toward safety (long up, short down).
        long_price = ceildiv((cost - slack) * inst.price_scale, safe_units) * tick
        short_price = floordiv((slack - cost) * inst.price_scale, safe_units) * tick
    threshold = ite(qty > 0, long_price, short_price)
    return ite(qty == 0, 0, clamp(threshold, tick, inst.max_price))


def compute_liquidation_price(inst: Instrument, qty: int, cost: int, margin: int, pos_maint: int) -> int:
    """MRG-011: BitMEX ``liquidationPrice``: the last price where ``margin + unrealisedPnl ≥ posMaint``.

    Inputs and units as :func:`compute_threshold_price` (``margin``: isolated
    ``posMargin``; cross the margin balance backing the position).  A mark on
    the safe side of it (long: ``mark ≥ P``; short: ``mark ≤ P``) never makes the
    position liquidatable: :func:`compute_isolated_margin_excess` is ``≥ 0`` there.
    """
    return compute_threshold_price(inst, qty, cost, margin, pos_maint)


def compute_bankruptcy_price(inst: Instrument, qty: int, cost: int, margin: int, pos_comm: int) -> int:
    """MRG-012: BitMEX ``bankruptPrice``: the last price where ``margin + unrealisedPnl ≥ posComm``.

    Closing the whole position at this price leaves at least the commission
    reserve (≥ 0), so a liquidation filled at the bankruptcy price never needs
    the insurance fund.  Inputs and units as :func:`compute_threshold_price`.
    """
    return compute_threshold_price(inst, qty, cost, margin, pos_comm)


# --- the position record ----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class PositionMargin:
    """A position's margin fields, as BitMEX's ``Position`` shows them (BitMEX name per field).

    Money in settlement minor units, prices in price units, rates in ppm.
    """

    current_qty: int  # currentQty: signed contracts, long > 0
    leverage_hundredths: int  # leverage × 100; 0 = cross (crossMargin = true)
    risk_steps: int  # risk-limit steps above the base riskLimit (not a BitMEX field)
    init_margin_req_ppm: int  # initMarginReq
    maint_margin_req_ppm: int  # maintMarginReq
    pos_cost: int  # posCost: signed cost basis (= unrealisedCost; inverse long < 0)
    pos_init: int  # posInit: initMarginReq × |posCost|
    pos_comm: int  # posComm: taker fee on |posCost| + posInit + posCross
    pos_cross: int  # posCross: extra isolated margin (minus losses realised against it)
    pos_margin: int  # posMargin: posInit + posComm + posCross
    pos_maint: int  # posMaint: maintMarginReq × |posCost| + posComm
    mark_value: int  # markValue: signed value at mark
    unrealised_pnl: int  # unrealisedPnl: markValue − posCost
    maint_margin: int  # maintMargin: posMargin + unrealisedPnl (the position's equity)
    liquidation_price: int  # liquidationPrice (price units; 0 when flat)
    bankrupt_price: int  # bankruptPrice (price units; 0 when flat)


# attribute of PositionMargin -> BitMEX Position field name, in BitMEX's order.
POSITION_FIELDS: dict[str, str] = {
    "current_qty": "currentQty",
    "leverage_hundredths": "leverage",
    "init_margin_req_ppm": "initMarginReq",
    "maint_margin_req_ppm": "maintMarginReq",
    "pos_cost": "posCost",
    "pos_init": "posInit",
    "pos_comm": "posComm",
    "pos_cross": "posCross",
    "pos_margin": "posMargin",
    "pos_maint": "posMaint",
    "maint_margin": "maintMargin",
    "mark_value": "markValue",
    "unrealised_pnl": "unrealisedPnl",
    "liquidation_price": "liquidationPrice",
    "bankrupt_price": "bankruptPrice",
}


def compute_position_margin(
    inst: Instrument,
    position: Position,
    mark_price: int,
    leverage_hundredths: int,
    pos_cross: int = 0,
    cross_balance: int = 0,
) -> PositionMargin:
    """MRG-020: every BitMEX margin field of one position — THE function other components import.

    Inputs:

    * ``inst`` — the instrument (concrete);
    * ``position`` — signed ``qty`` (contracts, whole lots, long > 0) and signed
      ``cost`` basis (settlement minor units; BitMEX ``posCost``);
    * ``mark_price`` — price units (``price_scale`` per quote unit), > 0;
    * ``leverage_hundredths`` — isolated leverage × 100 (100x = ``10_000``,
      2.5x = ``250``), or ``0`` for cross margin;
    * ``pos_cross`` — isolated only: margin added on top of the initial margin,
      minus losses realised against the position (BitMEX ``posCross − posLoss``),
      minor units; ignored when cross;
    * ``cross_balance`` — cross only: the margin balance backing this position,
      minor units, **excluding this position's own unrealised PnL** (wallet
      balance + other cross positions' unrealised PnL − what other positions and
      orders hold); ignored when isolated.

    Isolated positions are backed by ``posMargin``; cross positions by
    ``cross_balance``.  The liquidation price is where that backing plus the
    unrealised PnL falls to ``posMaint``; the bankruptcy price where it falls to
    ``posComm`` (:func:`compute_threshold_price`).
    """
    pos_cost = abs_(position.cost)
    steps = compute_risk_steps(inst, pos_cost)
    init_req = compute_init_margin_req_ppm(inst, leverage_hundredths, steps)
    maint_req = compute_maint_margin_req_ppm(inst, steps)
    is_cross = leverage_hundredths == CROSS
    extra = ite(is_cross, 0, pos_cross)
    pos_init = compute_pos_init(pos_cost, init_req)
    pos_comm = compute_pos_comm(pos_cost, pos_init, extra, inst.taker_fee_ppm)
    pos_margin = pos_init + pos_comm + extra
    pos_maint = compute_pos_maint(pos_cost, maint_req, pos_comm)
    mark_value = compute_value(inst, position.qty, mark_price)
    unrealised = mark_value - position.cost
    backing = ite(is_cross, cross_balance, pos_margin)
    return PositionMargin(
        current_qty=position.qty,
        leverage_hundredths=leverage_hundredths,
        risk_steps=steps,
        init_margin_req_ppm=init_req,
        maint_margin_req_ppm=maint_req,
        pos_cost=position.cost,
        pos_init=pos_init,
        pos_comm=pos_comm,
        pos_cross=extra,
        pos_margin=pos_margin,
        pos_maint=pos_maint,
        mark_value=mark_value,
        unrealised_pnl=unrealised,
        maint_margin=pos_margin + unrealised,
        liquidation_price=compute_liquidation_price(inst, position.qty, position.cost, backing, pos_maint),
        bankrupt_price=compute_bankruptcy_price(inst, position.qty, position.cost, backing, pos_comm),
    )


# --- the liquidation trigger, as a number ------------------------------------------------


def compute_equity(inst: Instrument, position: Position, margin: int, mark_price: int) -> int:
    """MRG-030: ``margin + unrealisedPnl`` at ``mark_price`` (minor units)."""
    return margin + compute_value(inst, position.qty, mark_price) - position.cost


def compute_isolated_margin_excess(
    inst: Instrument, position: Position, pos_margin: int, pos_maint: int, mark_price: int
) -> int:
    """MRG-031: isolated ``posMargin + unrealisedPnl − posMaint`` at mark; ``< 0`` means liquidatable."""
    return compute_equity(inst, position, pos_margin, mark_price) - pos_maint


def compute_cross_margin_excess(cross_wallet: int, unrealised_pnls: tuple[int, ...], pos_maints: tuple[int, ...]) -> int:
    """MRG-032: cross ``wallet + Σ unrealisedPnl − Σ posMaint``; ``< 0`` means the account is liquidatable.

    Over the account's **cross** positions in one settlement currency;
    ``cross_wallet`` is the wallet balance minus the ``posMargin`` set aside
    for its isolated positions in that currency.
    """
    total = cross_wallet
    for pnl in unrealised_pnls:
        total = total + pnl
    for maint in pos_maints:
        total = total - maint
    return total
