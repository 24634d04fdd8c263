"""MRK: the mark price — the price positions are valued and liquidated at.

The mark price is not the last traded price, so that pushing the last price
cannot liquidate anyone (reference §3).  The method is the instrument's
``markMethod``:

``FairPrice`` — perpetual:
    ``fair price = index × (1 + funding basis)``, ``funding basis = funding
    rate × time until funding / funding interval`` (the rate is the current
    indicative rate, :func:`rules.funding.get_indicative_rate`).  With a zero
    rate, or at the funding instant, the fair price *is* the index (proved).
``FairPrice`` — dated future:
    ``% fair basis = (impact mid / index − 1) / (time to expiry / 365 days)``
    (annualised, 1e-8 units), refreshed at most every ``fairBasisRefresh``
    (30 s) and only while ``impact ask − impact bid`` is below the larger of
    one maintenance margin of the impact mid and ``impactSpreadTicks`` (3)
    ticks; otherwise the last basis is kept.  ``fair value = index × % fair
    basis × time to expiry / 365 days``, ``fair price = index + fair value``.
    Reference example: impact mid 105, index 100, 30 days → 60.83% (60.8%),
    fair value 5, fair price 105.
``LastPriceProtected``:
    the last price clamped to a band of one maintenance margin (half each way)
    around the *previous* fair price.
``LastPrice``:
    the last price clamped to the session's limit-down / limit-up prices
    (``limitBand`` around the session reference price; BitMEX
    ``limitDownPrice`` / ``limitUpPrice``).

**Rounding of the mark.**  Fair prices are rounded **half up to the price
unit** (0.01 USD), not to the tick: the mark values longs and shorts alike
(their unrealised PnL sums to zero at any common mark), so a directed
rounding would systematically favour one side; half up is the deterministic
neutral choice, and BitMEX's published marks are finer than the tick.  Band
edges are rounded **inward** (a band is never wider than stated).
"""

from __future__ import annotations

import attrs

from perpspec.rules.funding import DAY_MS, E8, compute_funding_basis_e8
from perpspec.rules.impact import ImpactPrices
from perpspec.rules.instrument import Instrument
from perpspec.rules.num import (
    PPM,
    ceil_to_multiple,
    clamp,
    concrete,
    floor_to_multiple,
    ite,
    max_,
    round_half_up_div,
)

YEAR_MS = 365 * DAY_MS  # the reference's "/ 365"
NO_IMPACT = ImpactPrices(bid=None, ask=None, mid=None)  # book too thin on both sides


# -- kernels ------------------------------------------------------------------------------------


def compute_perpetual_fair_price(index_price: int, rate_e8: int, until_ms: int, interval_ms: int) -> int:
    """MRK-005: ``index × (1 + rate × until / interval)``, half up to the price unit."""
    safe_interval = ite(interval_ms <= 0, 1, interval_ms)
    # half up: the mark is shared by longs and shorts; no side is favoured.
    return index_price + round_half_up_div(index_price * rate_e8 * until_ms, E8 * safe_interval)


def compute_fair_basis_rate_e8(impact_mid: int, index_price: int, expiry_in_ms: int) -> int:
    """MRK-006: annualised % fair basis ``(mid / index − 1) × 365 d / time to expiry`` in 1e-8 (0 at expiry)."""
    live = expiry_in_ms > 0
    safe_denominator = ite(live, index_price * expiry_in_ms, 1)
    safe_denominator = ite(safe_denominator <= 0, 1, safe_denominator)
    # half up to 1e-8: neutral.
    return ite(live, round_half_up_div((impact_mid - index_price) * E8 * YEAR_MS, safe_denominator), 0)


def compute_futures_fair_price(index_price: int, basis_rate_e8: int, expiry_in_ms: int) -> int:
    """MRK-007: ``index + index × % fair basis × time to expiry / 365 d``, half up to the price unit."""
    remaining = max_(expiry_in_ms, 0)
    # half up: neutral, as for every fair price.
    return index_price + round_half_up_div(index_price * basis_rate_e8 * remaining, E8 * YEAR_MS)


def compute_impact_spread_limit(inst: Instrument, impact_mid: int) -> int:
    """MRK-008: the larger of one maintenance margin of the impact mid and ``impactSpreadTicks`` ticks."""
    # floor: the refresh condition is never looser than the exact maintenance distance.
    maintenance_distance = impact_mid * inst.maint_margin_ppm // PPM
    return max_(maintenance_distance, inst.impact_spread_ticks * inst.tick_size)


def is_impact_spread_narrow(inst: Instrument, impact_bid: int, impact_ask: int, impact_mid: int) -> bool:
    """MRK-015: the % fair basis may be refreshed only while ``ask − bid`` is below the limit."""
    return impact_ask - impact_bid < compute_impact_spread_limit(inst, impact_mid)


def compute_protected_band(inst: Instrument, fair_price: int) -> tuple[int, int]:
    """MRK-009: one maintenance margin around the fair price, half each way (rounded inward)."""
    # floor of the half width: the band is never wider than half a maintenance margin.
    half = fair_price * inst.maint_margin_ppm // (2 * PPM)
    return fair_price - half, fair_price + half


def compute_last_price_protected(inst: Instrument, last_price: int, previous_fair_price: int) -> int:
    """MRK-010: the last price clamped to the protected band around the previous fair price."""
    low, high = compute_protected_band(inst, previous_fair_price)
    return clamp(last_price, low, high)


def compute_limit_band(inst: Instrument, reference_price: int) -> tuple[int, int]:
    """MRK-011: ``limitDownPrice`` / ``limitUpPrice``: ``limitBand`` around the reference, on ticks, inward."""
    width = reference_price * inst.limit_band_ppm // PPM  # floor: never wider than stated
    down = ceil_to_multiple(reference_price - width, inst.tick_size)  # up to the tick: inward
    up = floor_to_multiple(reference_price + width, inst.tick_size)  # down to the tick: inward
    return down, up


def compute_last_price_mark(inst: Instrument, last_price: int, reference_price: int) -> int:
    """MRK-012: the last price clamped to the session's limit band."""
    down, up = compute_limit_band(inst, reference_price)
    return clamp(last_price, down, up)


# -- the mark update (stateful) -----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class MarkState:
    """What the mark remembers between updates."""

    fair_basis_e8: int = 0  # futures: annualised % fair basis last refreshed (fairBasisRate)
    basis_refreshed_ms: int | None = None  # when it was refreshed (None: never)
    fair_price: int = 0  # fairPrice of the last update (LastPriceProtected reference)
    limit_reference: int = 0  # LastPrice: session reference price (0: set at the first update)
    mark_price: int = 0  # markPrice


@attrs.frozen(kw_only=True)
class MarkInputs:
    """What one mark update reads (prices in price units, time in ms)."""

    time_ms: int
    index_price: int  # the index (spot) price
    last_price: int = 0  # lastPrice (0: no trade yet)
    impact: ImpactPrices = NO_IMPACT
    funding_rate_e8: int = 0  # perpetual: the indicative funding rate
    funding_until_ms: int = 0  # perpetual: time until the next funding instant
    funding_interval_ms: int = 1  # perpetual: length of the current funding interval


@attrs.frozen(kw_only=True)
class MarkUpdated:
    """MRK-013: the event of one mark update with every component."""

    symbol: str
    time_ms: int
    method: str  # markMethod
    index_price: int
    fair_price: int  # fairPrice
    fair_basis_e8: int  # perpetual: funding basis; futures: annualised % fair basis (fairBasisRate)
    basis_refreshed: bool  # futures: the % fair basis was refreshed at this update
    last_price: int
    band: tuple[int, int] | None  # the clamp applied to the last price (LastPrice* methods)
    mark_price: int  # markPrice


@concrete
def compute_fair_price(inst: Instrument, state: MarkState, inputs: MarkInputs) -> tuple[int, int, bool]:
    """MRK-016: (fair price, basis, refreshed?) by the perpetual or the dated-future rule."""
    if inst.expiry_ms is None:
        basis = compute_funding_basis_e8(inputs.funding_rate_e8, inputs.funding_until_ms, inputs.funding_interval_ms)
        fair = compute_perpetual_fair_price(
            inputs.index_price, inputs.funding_rate_e8, inputs.funding_until_ms, inputs.funding_interval_ms
        )
        return fair, basis, False
    expiry_in = inst.expiry_ms - inputs.time_ms
    impact = inputs.impact
    basis = state.fair_basis_e8
    refreshed = False
    due = state.basis_refreshed_ms is None or inputs.time_ms - state.basis_refreshed_ms >= inst.fair_basis_refresh_ms
    bid, ask, mid = impact.bid, impact.ask, impact.mid
    if due and bid is not None and ask is not None and mid is not None and is_impact_spread_narrow(inst, bid, ask, mid):
        basis = compute_fair_basis_rate_e8(mid, inputs.index_price, expiry_in)
        refreshed = True
    return compute_futures_fair_price(inputs.index_price, basis, expiry_in), basis, refreshed


@concrete
def process_mark_update(
    inst: Instrument, state: MarkState, inputs: MarkInputs
) -> tuple[MarkState, MarkUpdated]:
    """MRK-013: the new mark price by the instrument's ``markMethod``, held within ``[tickSize, maxPrice]``."""
    fair, basis, refreshed = compute_fair_price(inst, state, inputs)
    band: tuple[int, int] | None = None
    reference = state.limit_reference
    if inst.mark_method == "FairPrice" or inputs.last_price <= 0:
        mark = fair
    elif inst.mark_method == "LastPriceProtected":
        previous_fair = fair if state.fair_price <= 0 else state.fair_price
        band = compute_protected_band(inst, previous_fair)
        mark = compute_last_price_protected(inst, inputs.last_price, previous_fair)
    else:  # LastPrice
        reference = fair if reference <= 0 else reference
        band = compute_limit_band(inst, reference)
        mark = compute_last_price_mark(inst, inputs.last_price, reference)
    # a mark the instrument can carry (a PriceUpdate takes (0, maxPrice]): a fair price beyond maxPrice (an index
    # near maxPrice with a positive basis, or a futures basis kept while the index rose) or below one tick is held
    # at the bound, as the simulator always held it (attack3: it was returned as it was, and refused downstream)
    mark = clamp(mark, inst.tick_size, inst.max_price)
    new_state = MarkState(
        fair_basis_e8=basis if inst.expiry_ms is not None else state.fair_basis_e8,
        basis_refreshed_ms=inputs.time_ms if refreshed else state.basis_refreshed_ms,
        fair_price=fair,
        limit_reference=reference,
        mark_price=mark,
    )
    event = MarkUpdated(
        symbol=inst.symbol,
        time_ms=inputs.time_ms,
        method=inst.mark_method,
        index_price=inputs.index_price,
        fair_price=fair,
        fair_basis_e8=basis,
        basis_refreshed=refreshed,
        last_price=inputs.last_price,
        band=band,
        mark_price=mark,
    )
    return new_state, event


@concrete
def process_new_session(state: MarkState, reference_price: int) -> MarkState:
    """MRK-014: start a LastPrice session: the limit band is re-centred on ``reference_price``."""
    return attrs.evolve(state, limit_reference=reference_price)
