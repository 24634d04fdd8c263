"""MRG: margin — what a position and its orders must keep in the account, and where it is liquidated.

For a risk committee, in plain words:

* A position's **entry value** is the absolute value of its cost basis, BitMEX ``posCost``.  The **initial
  margin** ``posInit`` is the initial margin requirement (``1 / leverage`` when isolated, the instrument's initial
  margin when cross, raised by risk-limit steps) times the entry value; the **commission reserve** ``posComm`` is
  the taker fee on what closing would cost (entry value plus margin); the **maintenance margin** ``posMaint`` is
  the maintenance requirement times the entry value, plus the same reserve.
* A position's **equity** is the margin backing it plus its unrealised PnL at the mark price.  It is
  **liquidated** when its equity falls below its maintenance margin (``margin excess < 0``), and **bankrupt**
  when its equity no longer covers the commission of closing it.
* The **liquidation price** and the **bankruptcy price** are the prices, on the tick grid, up to which the
  position stays safe resp. solvent — found exactly the way BitMEX's engine finds them: for inverse contracts
  with one integer step per lot (reference §2, "Position accounting model", which reproduces real engine records
  to the satoshi and to the tick).  While the mark has not passed the liquidation price, the position is not
  liquidatable.

Every requirement is rounded **up** and every price toward the **safe side** (a long's liquidation price up, a
short's down), so rounding never lets a position run further than the exact arithmetic would.

What resting orders must keep (MRG-040..046) is :mod:`rules.order_margin`'s.

Units: money in the settlement currency's minor unit (XBt, USDt), prices in the instrument's price units
(``price_scale`` per quote unit), margin and fee rates in ppm, funding rates in 1e-8 (as :mod:`rules.funding`),
leverage in hundredths (100x = ``10_000``; ``0`` = cross margin).
"""

from __future__ import annotations

import enum

import attrs

from perpspec.rules.contract import compute_value
from perpspec.rules.instrument import Instrument
from perpspec.rules.num import (
    PPM,
    abs_,
    ceildiv,
    clamp,
    concrete,
    floordiv,
    ite,
    max_,
    min_,
    or_,
    ppm_of_ceil,
)
from perpspec.rules.position import Position, apply_fill, compute_unrealised_pnl
from perpspec.rules.risk_limit import (
    compute_maint_margin_req_ppm,
    compute_max_leverage_hundredths,
    compute_risk_init_margin_req_ppm,
    compute_risk_steps,
)

CROSS = 0  # leverage value meaning cross margin (BitMEX: POST /position/leverage with 0)
FUNDING_RATE_UNIT = 100_000_000  # funding rates are in 1e-8 units (rules.funding): 1_000_000 = 1.00%


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


def compute_pos_maint(pos_cost: int, maint_margin_req_ppm: int, pos_comm: int, adverse_funding: int = 0) -> int:
    """MRG-005: ``posMaint = maintMarginReq × posCost + posComm (+ adverse funding)`` (``pos_cost`` unsigned), rounded up."""
    return ppm_of_ceil(pos_cost, maint_margin_req_ppm) + pos_comm + adverse_funding  # ceil: a requirement


def compute_adverse_funding(pos_cost: int, qty: int, funding_rate_e8: int) -> int:
    """MRG-006: the next funding payment when it is adverse (reference §2, older XBTUSD spec), rounded up.

    ``funding_rate_e8`` in 1e-8 units (:mod:`rules.funding`; positive: longs pay).
    A long reserves ``posCost × rate`` when the rate is positive, a short when
    it is negative; a favourable rate reserves nothing.
    """
    adverse_rate = max_(0, ite(qty > 0, funding_rate_e8, -funding_rate_e8))
    return ceildiv(pos_cost * adverse_rate, FUNDING_RATE_UNIT)  # ceil: a requirement


# --- the threshold prices ---------------------------------------------------------------


def compute_threshold_price(inst: Instrument, qty: int, cost: int, margin: int, reserve: int) -> int:
    """MRG-010: the price on the tick grid where ``margin + unrealisedPnl`` falls to ``reserve``.

    Inputs: ``qty`` signed contracts (whole lots, long > 0); ``cost`` the signed cost basis (minor units,
    :class:`rules.position.Position`); ``margin`` the money backing the position (minor units; isolated:
    ``posMargin``; cross: the margin balance backing it, excluding its own unrealised PnL); ``reserve`` the equity
    the position must keep (``posMaint`` for the liquidation price, ``posComm`` for the bankruptcy price).
    Returns price units; 0 when flat.

    Guarantees (equity valued with the rulebook's own :func:`rules.contract.compute_value`, per-lot satoshi
    rounding for inverse):

    * **safe side** — at every mark on the safe side of ``P`` (long: ``mark ≥ P``; short: ``mark ≤ P``),
      ``margin + unrealisedPnl ≥ reserve``; so a position is never liquidatable while the mark has not passed
      its liquidation price;
    * **tight** — linear/quanto: one tick beyond ``P`` the equity is below the reserve.  Inverse: one tick
      beyond ``P`` the *exact* per-lot value ``N / price`` has passed the integer step ``c`` (short:
      ``c × (P + tick) > N``; long: ``c × (P − tick) < N``).  The rounded per-lot value may still equal ``c``
      there, so the rulebook's equity can stay ≥ reserve for a few more ticks: BitMEX's model places the price
      at the step, conservatively.

    Inverse, with ``N`` the per-lot value numerator (``lotSize × |multiplier| × price_scale``) and
    ``slack = margin − reserve`` (reference §2, per-lot step):

    * short: ``c = ceil((cost − slack) / lots)``, ``P = floor_to_tick(N / c)`` (``c ≤ 0``: never reached,
      ``P = maxPrice``);
    * long: ``c = floor((slack − cost) / lots)``, ``P = ceil_to_tick(N / c)`` (``c ≤ 0``: unsafe at every
      price, ``P = maxPrice``).

    Linear and quanto (exact values, no step): long ``P = ceil_to_tick((cost − slack) × scale / (qty × multiplier))``,
    short ``P = floor_to_tick((slack − cost) × scale / (|qty| × multiplier))``.

    The result is clamped to ``[tickSize, maxPrice]``, the prices an order may carry.  Clamping only happens
    when the exact threshold lies outside that range: either the position is safe at every valid price (a
    long's threshold below one tick, a short's above ``maxPrice``) — the guarantees hold — or it is unsafe at
    every valid price (a long clamped to ``maxPrice``, a short to one tick) — already liquidatable, and the
    safe-side guarantee is void.
    """
    # MRG-013's threshold, clamped to the prices an order may carry
    threshold = compute_unclamped_threshold_price(inst, qty, cost, margin, reserve)
    return ite(qty == 0, 0, clamp(threshold, inst.tick_size, inst.max_price))


def compute_unclamped_threshold_price(inst: Instrument, qty: int, cost: int, margin: int, reserve: int) -> int:
    """MRG-013: MRG-010's threshold price before it is clamped to the order price range, ≥ one price unit.

    Linear and quanto: the exact threshold on the tick grid, also above
    ``maxPrice`` (a long whose margin is already negative needs more than any
    order price returns); a result below one price unit is raised to it.
    Inverse: MRG-010's per-lot step; a long's step ``c ≤ 0`` (no price makes it
    safe) and a short's (safe at every price) give ``maxPrice``, as MRG-010.
    Not an order price: it is only ever a take-over price (LIQ-036).
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
    return ite(qty == 0, 0, max_(ite(qty > 0, long_price, short_price), 1))


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
    pos_maint: int  # posMaint: maintMarginReq × |posCost| + posComm (+ adverse funding)
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


def _position_requirements(
    inst: Instrument, position: Position, leverage_hundredths: int, pos_cross: int, funding_rate_e8: int
) -> tuple[int, int, int, int, int, int, int]:
    """MRG-020's requirement figures (steps, initMarginReq, maintMarginReq, posCross, posInit, posComm, posMaint).

    The part of :func:`compute_position_margin` that needs no price: the
    pre-trade check (MRG-060) uses only ``posMaint`` and so skips the mark
    value and the liquidation and bankruptcy prices.
    """
    pos_cost = abs_(position.cost)
    steps = compute_risk_steps(inst, pos_cost)
    init_req = compute_init_margin_req_ppm(inst, leverage_hundredths, steps)
    maint_req = compute_maint_margin_req_ppm(inst, steps)
    is_cross = leverage_hundredths == CROSS
    extra = ite(or_(is_cross, position.qty == 0), 0, pos_cross)  # a flat position holds no margin
    pos_init = compute_pos_init(pos_cost, init_req)
    # the reserve for closing never shrinks below the fee on posCost + posInit: a negative posCross (losses
    # realised against the position) would otherwise make posMargin smaller than the margin the pool holds,
    # and a withdrawal could take that difference (state-machine find, issue 13)
    pos_comm = compute_pos_comm(pos_cost, pos_init, max_(0, extra), inst.taker_fee_ppm)
    adverse_funding = compute_adverse_funding(pos_cost, position.qty, funding_rate_e8)
    pos_maint = compute_pos_maint(pos_cost, maint_req, pos_comm, adverse_funding)
    return steps, init_req, maint_req, extra, pos_init, pos_comm, pos_maint


def compute_position_margin(
    inst: Instrument,
    position: Position,
    mark_price: int,
    leverage_hundredths: int,
    pos_cross: int = 0,
    cross_balance: int = 0,
    funding_rate_e8: int = 0,
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
      minor units; ignored when cross or flat;
    * ``cross_balance`` — cross only: the margin balance backing this position,
      minor units, **excluding this position's own unrealised PnL**: the wallet
      less the margin of isolated positions, plus the other cross positions'
      unrealised PnL less their ``posMaint`` (:func:`compute_cross_backing`; open
      orders do not count: they are cancelled before a liquidation); ignored
      when isolated;
    * ``funding_rate_e8`` — optional: the next funding rate (1e-8 units, positive:
      longs pay); when adverse to the position, ``posMaint`` also reserves the
      payment (MRG-006, the older XBTUSD spec's "MM = 0.50% + exit taker fee +
      funding rate").  Default 0: no funding term.

    Isolated positions are backed by ``posMargin``; cross positions by
    ``cross_balance``.  The liquidation price is where that backing plus the
    unrealised PnL falls to ``posMaint``; the bankruptcy price where it falls to
    ``posComm`` (:func:`compute_threshold_price`).
    """
    steps, init_req, maint_req, extra, pos_init, pos_comm, pos_maint = _position_requirements(
        inst, position, leverage_hundredths, pos_cross, funding_rate_e8
    )
    is_cross = leverage_hundredths == CROSS
    pos_margin = pos_init + pos_comm + extra
    mark_value = compute_value(inst, position.qty, mark_price)
    unrealised = compute_unrealised_pnl(inst, position, mark_price)  # ACC-001: markValue − posCost, one copy
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


@attrs.frozen(kw_only=True)
class MarginSetting:
    """An account's margin mode in one contract: leverage (0 = cross) and extra isolated margin."""

    leverage_hundredths: int = CROSS  # leverage × 100 (100x = 10_000); 0 = cross
    pos_cross: int = 0  # isolated: margin added by transferMargin, minus losses realised against it


def compute_cross_backing(cross_wallet: int, other_pnls: tuple[int, ...], other_maints: tuple[int, ...]) -> int:
    """MRG-033: the margin backing one cross position (``cross_balance`` of :func:`compute_position_margin`).

    The account's cross wallet plus the unrealised PnL minus the maintenance
    margin of its *other* cross positions in the same currency: then the
    position's own liquidation price is exactly where the account's
    :func:`compute_cross_margin_excess` turns negative, the others held at mark.
    """
    return compute_cross_margin_excess(cross_wallet, other_pnls, other_maints)


def compute_position_backing(pool_margin: int, pool_equity: int, pool_maintenance: int, own_pnl: int, own_maint: int) -> int:
    """MRG-034: MRG-033 for the position of a pool given by its totals: the margin behind it, the rest held at mark.

    ``pool_equity`` is the pool's margin plus every member's unrealised PnL,
    ``pool_maintenance`` every member's ``posMaint``; ``own_pnl`` and
    ``own_maint`` the position's own.  An isolated pool has no other member:
    its backing is its margin.
    """
    return compute_cross_backing(pool_margin, (pool_equity - pool_margin - own_pnl,), (pool_maintenance - own_maint,))


# --- the account: available and withdrawable balance ------------------------------------


@attrs.frozen(kw_only=True)
class AccountMargin:
    """One account's margin in one settlement currency (BitMEX ``Margin`` record, names per field)."""

    wallet_balance: int  # walletBalance
    unrealised_pnl: int  # unrealisedPnl: Σ over all positions
    margin_balance: int  # marginBalance: walletBalance + unrealisedPnl
    order_margin: int  # initMargin: Σ order margin
    position_margin: int  # maintMargin (BitMEX's name for it): Σ posMargin
    cross_maint_margin: int  # Σ posMaint of cross positions (not a BitMEX field)
    available_margin: int  # availableMargin: may be < 0 after adverse moves
    cross_unrealised_profit: int  # Σ unrealised profit of profitable cross positions (not withdrawable)
    withdrawable_margin: int  # withdrawableMargin: available minus unrealised profit, ≥ 0
    cross_margin_excess: int  # < 0: the cross positions are liquidatable (not a BitMEX field)


def compute_account_margin(wallet: int, positions: tuple[PositionMargin, ...], order_margin: int) -> AccountMargin:
    """MRG-050: margin balance, available and withdrawable balance of one account in one currency.

    ``wallet`` is the wallet balance (deposits − withdrawals + realised PnL − fees ± funding), which includes the
    margin set aside for isolated positions; ``positions`` are all its positions settled in that currency;
    ``order_margin`` the Σ of :func:`rules.order_margin.compute_contract_order_margin` totals.

    * margin balance = wallet + Σ unrealisedPnl;
    * available = margin balance − order margin − position margin, where a cross position holds ``posMargin``
      and an isolated one ``posMargin + unrealisedPnl`` (its own PnL stays with it): so
      ``available = wallet + Σcross unrealisedPnl − order margin − Σcross posMargin − Σiso max(0, posMargin)``.
      An isolated margin that funding took below zero (its pool backed by its unrealised profit) holds nothing
      and frees nothing: floored at 0, it never adds to the available or withdrawable balance (redteam20_2: a
      Withdraw of an isolated profit's backing left the wallet at −3,970,500 XBt with the position open);
    * withdrawable = available − Σcross unrealised *profit* (each profitable cross position's, so one position's
      loss never frees another's profit), never below 0;
    * cross margin excess = wallet − Σiso posMargin + Σcross (unrealisedPnl − posMaint)
      (:func:`compute_cross_margin_excess`).
    """
    unrealised = 0
    cross_pnl = 0
    cross_profit = 0
    position_margin = 0
    held = 0  # what the positions hold of the wallet: Σcross posMargin + Σiso max(0, posMargin)
    iso_margin = 0
    cross_maint = 0
    for pm in positions:
        is_cross = pm.leverage_hundredths == CROSS
        unrealised = unrealised + pm.unrealised_pnl
        cross_pnl = cross_pnl + ite(is_cross, pm.unrealised_pnl, 0)
        cross_profit = cross_profit + ite(is_cross, max_(0, pm.unrealised_pnl), 0)
        position_margin = position_margin + pm.pos_margin
        held = held + ite(is_cross, pm.pos_margin, max_(0, pm.pos_margin))
        iso_margin = iso_margin + ite(is_cross, 0, pm.pos_margin)
        cross_maint = cross_maint + ite(is_cross, pm.pos_maint, 0)
    available = wallet + cross_pnl - order_margin - held
    return AccountMargin(
        wallet_balance=wallet,
        unrealised_pnl=unrealised,
        margin_balance=wallet + unrealised,
        order_margin=order_margin,
        position_margin=position_margin,
        cross_maint_margin=cross_maint,
        available_margin=available,
        cross_unrealised_profit=cross_profit,
        withdrawable_margin=max_(0, available - cross_profit),
        cross_margin_excess=compute_cross_margin_excess(wallet - iso_margin, (cross_pnl,), (cross_maint,)),
    )


# --- pre-trade, transfer and withdrawal checks ------------------------------------------


class MarginReason(enum.Enum):
    """Why a margin check refused a request (BitMEX-style reason text as the value)."""

    INSUFFICIENT_AVAILABLE = "InsufficientAvailableBalance"
    INSUFFICIENT_WITHDRAWABLE = "InsufficientWithdrawableBalance"
    BELOW_INITIAL_MARGIN = "BelowInitialMargin"
    NOT_ISOLATED = "PositionNotIsolated"
    INVALID_AMOUNT = "InvalidAmount"
    INVALID_LEVERAGE = "InvalidLeverage"


@attrs.frozen(kw_only=True)
class MarginRejection:
    """A typed refusal: the reason, what the request needed, and what there was."""

    reason: MarginReason
    required: int
    available: int


def compute_order_requirement(
    inst: Instrument,
    position: Position,
    mark_price: int,
    leverage_hundredths: int,
    pos_cross: int,
    order_margin_before: int,
    order_margin_after: int,
    order_qty: int,
    order_price: int,
) -> int:
    """MRG-060: the available balance a new order needs (minor units); 0 when it needs no new margin.

    The increase in the contract's order margin, plus — for an order that
    increases it while a position is open — the increase in the position's
    maintenance margin if the order filled, less the PnL of repricing the
    existing position from mark to the order price, when that is a net cost
    (reference §2 pre-trade check).  An order that does not increase the order
    margin (a pure reduction) needs nothing: a trader can always reduce.
    """
    increase = order_margin_after - order_margin_before
    # MRG-020's posMaint before and after the fill (its requirement figures only: no prices needed)
    maint_before = _position_requirements(inst, position, leverage_hundredths, pos_cross, 0)[6]
    filled, _ = apply_fill(inst, position, order_qty, order_price)
    maint_after = _position_requirements(inst, filled, leverage_hundredths, pos_cross, 0)[6]
    repricing_pnl = compute_value(inst, position.qty, order_price) - compute_value(inst, position.qty, mark_price)
    # only for an existing position: a flat account's new position is covered by the order's IM.
    position_term = ite(position.qty == 0, 0, max_(0, maint_after - maint_before - repricing_pnl))
    return ite(increase > 0, increase + position_term, 0)


def compute_tier_free_available(available_margin: int, tier_extras: int) -> int:
    """MRG-061: an available figure of MRG-050 less what the account's cross positions' chosen risk tiers hold beyond
    MRG-050's own-tier figures (``tier_extras`` ≥ 0, ``engine.core.risk.Risk.held_tier_extras`` /
    ``cross_tier_extras``), not floored.

    MRG-050 prices a cross position at its own risk steps while its pool (LIQ-001) holds it at the chosen tier, so its
    available (and withdrawable) balance counts the chosen tier's extra as free; what an order (MRG-060/061, AmendOrder,
    a fired stop), a withdrawal or transfer (MRG-064), a leverage or risk-limit change, MRG-067's clean-up (below 0:
    orders are cancelled), LIQ-055's spot spend and an isolated fill (ACC-006, floored:
    ``rules.waterfall_postings.compute_fill_available``) may spend is this figure.  A spend of at most it leaves the
    figure it was taken from covering the extras, so the cross pool keeps its chosen-tier ``posInit + posComm``.
    """
    return available_margin - tier_extras


@concrete
def check_order_margin(available_margin: int, requirement: int) -> MarginRejection | None:
    """MRG-061: refuse an order whose requirement exceeds the available balance (INV-MARGIN-ON-ENTRY).

    ``available_margin`` is MRG-050's available balance net of what live spot orders reserve and of what the
    account's cross positions' chosen risk tiers hold beyond MRG-050's own-tier figures (LIQ-001's ``posInit +
    posComm`` at the chosen tier less at the position's own steps, every cross position in the currency, each
    position's gap taken after the larger side of its resting orders filled), the figure a withdrawal, a transfer, a
    leverage or risk-limit change is judged on.  The requirement is MRG-060's plus the increase the order's own fill
    would add to its contract's gap; an order that opens contracts (not a pure reduction) pays that increase even
    when MRG-060's figure is 0 or less (then the requirement is the increase alone: ``available − held extras −
    the fill's extra ≥ max(MRG-060, 0)``), on the fast path, the general path, AmendOrder and a fired stop alike.  So
    an accepted order never spends the margin a chosen tier holds, and never leaves its owner's pool below
    maintenance at the chosen tier with no price move [I; session 16, redteam12_1; session 17, review14_1: an inverse
    buy amended up into the ask lowered MRG-060's figure to 0 and its fill paid no extra].
    """
    if requirement > 0 and available_margin - requirement < 0:
        return MarginRejection(
            reason=MarginReason.INSUFFICIENT_AVAILABLE, required=requirement, available=available_margin
        )
    return None


@concrete
def is_cancel_after_trade_due(available_margin: int, orders_left: int) -> bool:
    """MRG-067: after its order traded, the account's next resting order goes: available < 0 and one is left.

    MRG-061 judges an order resting, but its fills change what MRG-044 nets: they consume the cheap contracts
    a side's average counted as reducing, or flip the position so that far orders stop reducing (a take-profit
    becomes an opening order).  So after each trade of a command in which the account's order needed margin
    (MRG-060 > 0), or whose fills opened contracts for it as the taker, its resting orders in the traded contract
    are cancelled, newest first (the order's own rest first), while its available balance (MRG-061's figure: net of
    spot reservations and of what the chosen risk tiers hold, the resting orders' share included, so read again
    after each cancellation) is below zero [I:
    BitMEX's documents say nothing of it]: an accepted order never leaves it < 0 (INV-MARGIN-ON-ENTRY); a pure
    reduction is never judged.  A maker's orders are not touched (a fill is not its decision, and one trader
    could strip another's orders by trading with them): its available may go below zero as by a mark move, and
    LIQ-044 judges each of its later fills.
    """
    return available_margin < 0 and orders_left > 0


@concrete
def compute_trade_cancels(available_after: tuple[int, ...]) -> int:  # [k]: available once the k newest went
    """MRG-068: MRG-067's whole clean-up: of ``n`` orders, the fewest newest that leave available ≥ 0, else all."""
    cancelled = 0
    while is_cancel_after_trade_due(available_after[cancelled], len(available_after) - 1 - cancelled):
        cancelled += 1
    return cancelled


def compute_removable_margin(pos_cross: int, unrealised_pnl: int) -> int:
    """MRG-062: the most margin an isolated position can release: its extra margin, less any loss, ≥ 0.

    Removing more would take ``posMargin + min(0, unrealisedPnl)`` below
    ``posInit + posComm`` — the initial margin threshold (reference §2); an
    unrealised profit cannot be taken out.
    """
    return max_(0, pos_cross + min_(0, unrealised_pnl))


@concrete
def check_transfer_margin(
    position: PositionMargin, amount: int, available_margin: int
) -> MarginRejection | None:
    """MRG-063: ``transferMargin`` of ``amount`` (> 0 adds to, < 0 removes from) an isolated position."""
    if position.leverage_hundredths == CROSS:
        return MarginRejection(reason=MarginReason.NOT_ISOLATED, required=0, available=0)
    if amount == 0:
        return MarginRejection(reason=MarginReason.INVALID_AMOUNT, required=0, available=0)
    if amount > 0 and amount > available_margin:
        return MarginRejection(
            reason=MarginReason.INSUFFICIENT_AVAILABLE, required=amount, available=available_margin
        )
    removable = compute_removable_margin(position.pos_cross, position.unrealised_pnl)
    if amount < 0 and -amount > removable:
        return MarginRejection(reason=MarginReason.BELOW_INITIAL_MARGIN, required=-amount, available=removable)
    return None


@concrete
def check_withdrawal(amount: int, withdrawable_margin: int) -> MarginRejection | None:
    """MRG-064: a withdrawal takes at most the withdrawable balance (INV-WITHDRAW-SAFE)."""
    if amount <= 0:
        return MarginRejection(reason=MarginReason.INVALID_AMOUNT, required=amount, available=withdrawable_margin)
    if amount > withdrawable_margin:
        return MarginRejection(
            reason=MarginReason.INSUFFICIENT_WITHDRAWABLE, required=amount, available=withdrawable_margin
        )
    return None


@concrete
def check_leverage(inst: Instrument, leverage_hundredths: int, steps: int) -> MarginRejection | None:
    """MRG-065: leverage is 0 (cross) or 0.01x up to the risk tier's maximum (``1 / initMarginReq``)."""
    top = compute_max_leverage_hundredths(inst, steps)
    if leverage_hundredths == CROSS or 1 <= leverage_hundredths <= top:
        return None
    return MarginRejection(reason=MarginReason.INVALID_LEVERAGE, required=leverage_hundredths, available=top)


def compute_isolated_margin_on_change(pos_init: int, pos_comm: int, unrealised_pnl: int) -> int:
    """MRG-066: the margin an isolated position holds after its leverage or risk limit is set.

    ``posInit + posComm`` at the new setting, plus any unrealised loss at mark [I]: the loss stays set aside, as
    a transfer may never remove it (MRG-062), so setting a leverage never leaves the pool's equity at mark below
    ``posInit + posComm``; an unrealised profit is not added (it is not yet the owner's money).  Without the
    loss, re-setting the same leverage would hand back what a fill above the mark set aside (MRG-060), leaving
    the pool below zero for the insurance fund to cover.
    """
    return pos_init + pos_comm + max_(0, -unrealised_pnl)
