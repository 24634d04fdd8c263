"""Kernel obligations: funding, index, mark and impact prices.

Split from :mod:`proofs.obligations_kernels` (whose docstring says what these prove).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import attrs

from perpspec.proofs import known_bad_kernels as bad
from perpspec.proofs.kernels_common import SYMBOLS, add, ceil_exact, floor_exact, half_up, iff, when
from perpspec.proofs.obligations_core import assume_valid_price, assume_whole_lots
from perpspec.proofs.prover import ProofResult, Prover
from perpspec.proofs.sym import all_of, implies
from perpspec.rules import (
    contract,
    funding,
    impact,
    index,
    mark,
    settlement,
)
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.num import PPM, abs_, and_, ite, not_, or_


def prove_half_up_2(kernel: Callable[[int, int], int], numerator: Callable[[int, int], int], denominator: Callable[[int, int], int], guard: Callable[[int, int], bool], names: tuple[str, str], label: str) -> ProofResult:
    """A two-argument kernel rounds ``numerator / denominator`` half up under ``guard``."""
    with Prover() as prover:
        first, second = prover.symbol(names[0]), prover.symbol(names[1])
        prover.assume(guard(first, second), "preconditions")
        return prover.prove(half_up(kernel(first, second), numerator(first, second), denominator(first, second)), label)


def _mean_floor_guarded(total: int, count: int) -> int:
    return bad.compute_mean_floor(total, count)


def _interval_interest_floor(daily: int, interval: int) -> int:
    """KNOWN-BAD FND-002: the interval interest floored (biased toward shorts)."""
    return (daily * interval) // funding.DAY_MS


def prove_funding_basis(kernel: Callable[[int, int, int], int]) -> ProofResult:
    """FND-013: the basis is ``rate × until / interval`` rounded half up; 0 at the funding instant."""
    with Prover() as prover:
        rate, until, interval = prover.symbol("rate_e8"), prover.symbol("until_ms"), prover.symbol("interval_ms")
        prover.assume(and_(interval > 0, interval <= 7 * funding.DAY_MS), "interval in (0, 7 days]")
        prover.assume(and_(until >= 0, until <= interval), "0 ≤ until ≤ interval")
        prover.assume(and_(rate >= -10**8, rate <= 10**8), "|rate| ≤ 100%")
        basis = kernel(rate, until, interval)
        return prover.prove(and_(half_up(basis, rate * until, interval), kernel(rate, 0, interval) == 0), "FND-013")


def _funding_basis_truncated(rate: int, until: int, interval: int) -> int:
    """KNOWN-BAD FND-013: the basis floored (a negative rate's basis moves away from zero)."""
    return (rate * until) // ite(interval <= 0, 1, interval)


def prove_cap_change(symbol: str, kernel: Callable[..., int]) -> ProofResult:
    """FND-015: the change cap is ``ratio × MM`` in 1e-8 rounded down (never looser than stated)."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        prover.symbol("unused")
        exact_scaled = inst.funding_change_cap_ratio_ppm * inst.maint_margin_ppm * funding.PPM_TO_E8
        return prover.prove(floor_exact(kernel(inst), exact_scaled, PPM), f"FND-015 {symbol}")


def _cap_change_ceil(inst: Instrument) -> int:
    """KNOWN-BAD FND-015: the change cap rounded up (looser than stated)."""
    return -((-inst.funding_change_cap_ratio_ppm * inst.maint_margin_ppm * funding.PPM_TO_E8 - 1) // PPM)


def prove_premium_sample(kernel: Callable[..., int]) -> ProofResult:
    """FND-001: the premium is 0 when the mark lies within the impact prices; else half up to 1e-8 of its ratio."""
    with Prover() as prover:
        bid, ask, mark_price, spot = (prover.symbol(n) for n in ("impact_bid", "impact_ask", "mark_price", "spot_price"))
        prover.assume(all_of(bid > 0, ask >= bid, mark_price > 0, spot > 0), "prices > 0, bid ≤ ask")
        premium = ite(bid > mark_price, bid - mark_price, 0) - ite(mark_price > ask, mark_price - ask, 0)
        sample = kernel(bid, ask, mark_price, spot, 0)
        inside = and_(bid <= mark_price, mark_price <= ask)
        return prover.prove(and_(or_(not_(inside), sample == 0), half_up(sample, premium * funding.E8, spot)), "FND-001")


def _premium_sample_swapped(bid: int, ask: int, mark_price: int, spot: int, basis: int) -> int:
    """KNOWN-BAD FND-001: ``max(0, mark − bid)`` — the premium of a mark inside the spread is not 0."""
    premium = ite(mark_price > bid, mark_price - bid, 0) - ite(mark_price > ask, mark_price - ask, 0)
    return (2 * premium * funding.E8 + spot) // (2 * spot) + basis


def prove_weighted_index(k: int, kernel: Callable[..., int]) -> ProofResult:
    """IDX-001: the weighted index is half up within half a price unit of the exact mean and between min and max."""
    with Prover() as prover:
        prices = tuple(prover.symbol(f"price{i}") for i in range(k))
        weights = tuple(prover.symbol(f"weight{i}") for i in range(k))
        prover.assume(all_of(*[p > 0 for p in prices], *[w > 0 for w in weights]), "prices and weights > 0")
        result = kernel(prices, weights)
        numerator = sum((w * p for w, p in zip(weights, prices, strict=True)), 0)
        total = sum(weights, 0)
        low = functools.reduce(lambda a, b: ite(a <= b, a, b), prices)
        high = functools.reduce(lambda a, b: ite(a >= b, a, b), prices)
        return prover.prove(all_of(half_up(result, numerator, total), result >= low, result <= high), f"IDX-001 k={k}")


def _weighted_index_floor(prices: tuple[int, ...], weights: tuple[int, ...]) -> int:
    """KNOWN-BAD IDX-001: the weighted mean floored."""
    numerator = sum((w * p for w, p in zip(weights, prices, strict=True)), 0)
    total = sum(weights, 0)
    return numerator // ite(total == 0, 1, total)


def prove_out_of_band(kernel: Callable[[int, int, int], bool]) -> ProofResult:
    """IDX-002: excluded exactly when ``|price − median| > band × median`` (a price on the edge stays in)."""
    with Prover() as prover:
        price, median, band = prover.symbol("price"), prover.symbol("median"), prover.symbol("band_ppm")
        prover.assume(all_of(price > 0, median > 0, band >= 0, band <= PPM), "prices > 0, band in [0, 100%]")
        edge = median + median * band // PPM
        exact = abs_(price - median) * PPM > band * median
        on_edge = or_((median * band) % PPM != 0, not_(kernel(edge, median, band)))
        return prover.prove(and_(iff(kernel(price, median, band), exact), on_edge), "IDX-002")


def prove_average_price(symbol: str, round_up: bool) -> ProofResult:
    """MRK-002: the average price brackets the exact price of the value: down ≤ exact ≤ up, off by less than one unit."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        qty, price = prover.symbol("qty"), prover.symbol("price")
        prover.assume(qty > 0, "qty > 0")
        assume_whole_lots(prover, inst, qty, "qty")
        assume_valid_price(prover, inst, price, "price")
        value = abs_(contract.compute_value(inst, qty, price))
        average = impact.compute_average_price(inst, qty, value, round_up)
        if inst.is_inverse:
            # exact price = qty·|mult|·scale / value
            numerator, denominator = -inst.multiplier * inst.price_scale * qty, value
        else:
            numerator, denominator = value * inst.price_scale, inst.multiplier * qty
        exact = (ceil_exact if round_up else floor_exact)(average, numerator, denominator)
        return prover.prove(exact, f"MRK-002 {symbol} {'up' if round_up else 'down'}")


def prove_average_price_bad(symbol: str) -> ProofResult:
    """KNOWN-BAD MRK-002: the 'round up' flag ignored (always floored): the ask side is understated."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        qty, price = prover.symbol("qty"), prover.symbol("price")
        prover.assume(qty > 0, "qty > 0")
        assume_whole_lots(prover, inst, qty, "qty")
        assume_valid_price(prover, inst, price, "price")
        value = abs_(contract.compute_value(inst, qty, price)) + 1
        average = impact.compute_average_price(inst, qty, value, False)
        numerator, denominator = (
            (-inst.multiplier * inst.price_scale * qty, value) if inst.is_inverse else (value * inst.price_scale, inst.multiplier * qty)
        )
        return prover.prove(ceil_exact(average, numerator, denominator), f"MRK-002 {symbol} bad")


def prove_impact_mid(symbol: str, kernel: Callable[..., int]) -> ProofResult:
    """MRK-003: the impact mid is on the tick grid and within half a tick of ``(bid + ask) / 2``."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        bid, ask = prover.symbol("impact_bid"), prover.symbol("impact_ask")
        prover.assume(all_of(bid > 0, ask >= bid), "0 < bid ≤ ask")
        mid = kernel(inst, bid, ask)
        return prover.prove(and_(mid % inst.tick_size == 0, half_up(mid // inst.tick_size, bid + ask, 2 * inst.tick_size)), f"MRK-003 {symbol}")


def _impact_mid_floor(inst: Instrument, bid: int, ask: int) -> int:
    """KNOWN-BAD MRK-003: the mid floored to the tick."""
    return (bid + ask) // (2 * inst.tick_size) * inst.tick_size


def prove_spread_limit(symbol: str, kernel: Callable[..., int]) -> ProofResult:
    """MRK-008: the limit is never below ``impactSpreadTicks`` ticks and never above one exact maintenance margin of the mid, if larger."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        mid = prover.symbol("impact_mid")
        prover.assume(and_(mid > 0, mid <= inst.max_price), "0 < mid ≤ maxPrice")
        limit = kernel(inst, mid)
        ticks = inst.impact_spread_ticks * inst.tick_size
        return prover.prove(
            and_(limit >= ticks, or_(limit == ticks, limit * PPM <= mid * inst.maint_margin_ppm)), f"MRK-008 {symbol}"
        )


def _spread_limit_ceil(inst: Instrument, mid: int) -> int:
    """KNOWN-BAD MRK-008: the maintenance distance rounded up (the refresh condition is looser)."""
    distance = -((-mid * inst.maint_margin_ppm) // PPM)
    ticks = inst.impact_spread_ticks * inst.tick_size
    return ite(distance >= ticks, distance, ticks)


def prove_spread_narrow(symbol: str, kernel: Callable[..., bool]) -> ProofResult:
    """MRK-015: narrow exactly when ``ask − bid`` is strictly below the limit (MRK-008) — both directions."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        bid, ask, mid = prover.symbol("impact_bid"), prover.symbol("impact_ask"), prover.symbol("impact_mid")
        prover.assume(all_of(bid > 0, ask >= bid, mid > 0), "0 < bid ≤ ask, mid > 0")
        limit = mark.compute_impact_spread_limit(inst, mid)
        return prover.prove(iff(kernel(inst, bid, ask, mid), ask - bid < limit), f"MRK-015 {symbol}")


def prove_protected_band(symbol: str, kernel: Callable[..., tuple[int, int]]) -> ProofResult:
    """MRK-009: the band contains the fair price and is never wider than one maintenance margin."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        fair = prover.symbol("fair_price")
        prover.assume(and_(fair > 0, fair <= inst.max_price), "0 < fair ≤ maxPrice")
        low, high = kernel(inst, fair)
        return prover.prove(all_of(low <= fair, fair <= high, (high - low) * PPM <= fair * inst.maint_margin_ppm), f"MRK-009 {symbol}")


def prove_last_price_protected(symbol: str) -> ProofResult:
    """MRK-010: the mark is the last price when inside the band, else the nearer band edge."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        last, fair = prover.symbol("last_price"), prover.symbol("previous_fair_price")
        prover.assume(and_(fair > 0, fair <= inst.max_price), "0 < fair ≤ maxPrice")
        prover.assume(last > 0, "last > 0")
        low, high = mark.compute_protected_band(inst, fair)
        result = mark.compute_last_price_protected(inst, last, fair)
        return prover.prove(
            all_of(result >= low, result <= high, implies(and_(low <= last, last <= high), result == last)), f"MRK-010 {symbol}"
        )


def _last_price_protected_unclamped_low(inst: Instrument, last: int, fair: int) -> int:
    """KNOWN-BAD MRK-010: only the upper edge applied (``min(last, high)``): a crash prints straight through."""
    _, high = mark.compute_protected_band(inst, fair)
    return ite(last <= high, last, high)


def prove_last_price_protected_with(symbol: str, kernel: Callable[..., int]) -> ProofResult:
    """MRK-010 for another kernel (known-bad variants)."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        last, fair = prover.symbol("last_price"), prover.symbol("previous_fair_price")
        prover.assume(and_(fair > 0, fair <= inst.max_price), "0 < fair ≤ maxPrice")
        prover.assume(last > 0, "last > 0")
        low, high = mark.compute_protected_band(inst, fair)
        result = kernel(inst, last, fair)
        return prover.prove(and_(result >= low, result <= high), f"MRK-010 {symbol}")


def prove_limit_band(symbol: str, kernel: Callable[..., tuple[int, int]]) -> ProofResult:
    """MRK-011: both edges on ticks and inside the exact band ``reference × (1 ± limitBand)``."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        reference = prover.symbol("reference_price")
        prover.assume(and_(reference > 0, reference <= inst.max_price), "0 < reference ≤ maxPrice")
        down, up = kernel(inst, reference)
        exact_width = reference * inst.limit_band_ppm  # × PPM
        return prover.prove(
            all_of(
                down % inst.tick_size == 0,
                up % inst.tick_size == 0,
                down * PPM >= reference * PPM - exact_width,
                up * PPM <= reference * PPM + exact_width,
            ),
            f"MRK-011 {symbol}",
        )


def prove_last_price_mark(symbol: str, band: Callable[..., tuple[int, int]]) -> ProofResult:
    """MRK-012: the mark stays within the exact limit band, and is the last price when that lies inside the band."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        last, reference = prover.symbol("last_price"), prover.symbol("reference_price")
        prover.assume(and_(reference > 0, reference <= inst.max_price), "0 < reference ≤ maxPrice")
        prover.assume(last > 0, "last > 0")
        down, up = mark.compute_limit_band(inst, reference)
        prover.assume(down <= up, "the band is not empty (reference at least a few ticks)")
        low, high = band(inst, reference)
        real = band is mark.compute_limit_band
        result = mark.compute_last_price_mark(inst, last, reference) if real else _clamp(last, low, high)
        exact_width = reference * inst.limit_band_ppm
        return prover.prove(
            all_of(
                result * PPM >= reference * PPM - exact_width,
                result * PPM <= reference * PPM + exact_width,
                implies(and_(down <= last, last <= up), result == last),
            ),
            f"MRK-012 {symbol}",
        )


def _clamp(value: int, low: int, high: int) -> int:
    return ite(value <= low, low, ite(value >= high, high, value))


def prove_fair_basis_rate(kernel: Callable[[int, int, int], int]) -> ProofResult:
    """MRK-006: the annualised basis is half up to 1e-8 of its exact value, and 0 at or after expiry."""
    with Prover() as prover:
        mid, index_price, expiry_in = prover.symbol("impact_mid"), prover.symbol("index_price"), prover.symbol("expiry_in_ms")
        prover.assume(and_(mid > 0, index_price > 0), "prices > 0")
        rate = kernel(mid, index_price, expiry_in)
        exact = half_up(rate, (mid - index_price) * funding.E8 * mark.YEAR_MS, index_price * expiry_in)
        return prover.prove(when(expiry_in > 0, exact, rate == 0), "MRK-006")


def _fair_basis_rate_floor(mid: int, index_price: int, expiry_in: int) -> int:
    """KNOWN-BAD MRK-006: the basis floored instead of half up."""
    denominator = ite(expiry_in > 0, ite(index_price * expiry_in <= 0, 1, index_price * expiry_in), 1)
    return ite(expiry_in > 0, ((mid - index_price) * funding.E8 * mark.YEAR_MS) // denominator, 0)


def prove_futures_fair_price(kernel: Callable[[int, int, int], int]) -> ProofResult:
    """MRK-007: the fair price is the index at expiry, and within half a unit of ``index × (1 + basis × t / year)``."""
    with Prover() as prover:
        index_price, basis, expiry_in = prover.symbol("index_price"), prover.symbol("basis_rate_e8"), prover.symbol("expiry_in_ms")
        prover.assume(index_price > 0, "index > 0")
        prover.assume(expiry_in >= 0, "not past expiry")
        fair = kernel(index_price, basis, expiry_in)
        return prover.prove(
            and_(half_up(fair - index_price, index_price * basis * expiry_in, funding.E8 * mark.YEAR_MS), kernel(index_price, basis, 0) == index_price),
            "MRK-007",
        )


def _futures_fair_price_floor(index_price: int, basis: int, expiry_in: int) -> int:
    """KNOWN-BAD MRK-007: the fair value floored."""
    return index_price + (index_price * basis * ite(expiry_in > 0, expiry_in, 0)) // (funding.E8 * mark.YEAR_MS)


def prove_settlement_fee(symbol: str, kernel: Callable[..., int]) -> ProofResult:
    """SET-002: the settlement fee is the exact fee on the settled notional, rounded up toward the fee pool.

    At the instrument's own fee rate, or 0.05% where the file sets none (a rate of 0 rounds nothing).
    """
    shipped = load_instrument(symbol)
    inst = shipped if shipped.settlement_fee_ppm else attrs.evolve(shipped, settlement_fee_ppm=500)
    with Prover() as prover:
        qty, price = prover.symbol("qty"), prover.symbol("settlement_price")
        assume_whole_lots(prover, inst, qty, "qty")
        assume_valid_price(prover, inst, price, "settlement_price")
        notional = contract.compute_notional(inst, qty, price)
        return prover.prove(ceil_exact(kernel(inst, qty, price), notional * inst.settlement_fee_ppm, PPM), f"SET-002 {symbol}")


def _settlement_fee_floor(inst: Instrument, qty: int, price: int) -> int:
    return bad.compute_ppm_floor(contract.compute_notional(inst, qty, price), inst.settlement_fee_ppm)


def prove_interval_interest(kernel: Callable[[int, int], int]) -> ProofResult:
    """FND-002: the interval interest is within half a 1e-8 of ``daily × interval / 24 h``."""
    with Prover() as prover:
        daily, interval = prover.symbol("daily_rate_e8"), prover.symbol("interval_ms")
        prover.assume(and_(interval > 0, interval <= 7 * funding.DAY_MS), "interval in (0, 7 days]")
        return prover.prove(half_up(kernel(daily, interval), daily * interval, funding.DAY_MS), "FND-002")


def prove_mean(kernel: Callable[[int, int], int]) -> ProofResult:
    """FND-003: the mean is within half a 1e-8 of ``total / count``, and 0 without samples."""
    with Prover() as prover:
        total, count = prover.symbol("total_e8"), prover.symbol("count")
        prover.assume(and_(count >= 0, count <= 10_000), "0 ≤ count ≤ 10_000 samples")
        mean = kernel(total, count)
        return prover.prove(when(count == 0, mean == 0, half_up(mean, total, count)), "FND-003")


def prove_impact_fill(symbol: str, k: int, bad_kernel: bool = False) -> ProofResult:
    """MRK-001: whole lots within the book; the notional is reached unless every level was taken in full."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        prices = [prover.symbol(f"price{i}") for i in range(k)]
        sizes = [prover.symbol(f"qty{i}") for i in range(k)]
        notional = prover.symbol("notional")
        prover.assume(notional > 0, "notional > 0")
        for i in range(k):
            assume_valid_price(prover, inst, prices[i], f"price{i}")
            prover.assume(sizes[i] > 0, f"qty{i} > 0")
            assume_whole_lots(prover, inst, sizes[i], f"qty{i}")
        levels = tuple(zip(prices, sizes, strict=True))
        if bad_kernel:
            qty_taken, value_taken, unfilled = bad.compute_impact_fill_floor(inst, levels, notional)
        else:
            fill = impact.compute_impact_fill(inst, levels, notional)
            qty_taken, value_taken, unfilled = fill.qty, fill.value, fill.unfilled
        depth = sum(sizes, 0)
        return prover.prove(
            all_of(
                qty_taken % inst.lot_size == 0,
                qty_taken >= 0,
                qty_taken <= depth,
                unfilled >= 0,
                or_(unfilled > 0, value_taken >= notional),
                or_(unfilled == 0, qty_taken == depth),
            ),
            f"MRK-001 {symbol} k={k}",
        )


def prove_perpetual_fair_price(kernel: Callable[[int, int, int, int], int]) -> ProofResult:
    """MRK-005: the perpetual fair price is within half a price unit of ``index × (1 + rate × until / interval)``."""
    with Prover() as prover:
        index_price, rate, until, interval = (prover.symbol(n) for n in ("index_price", "rate_e8", "until_ms", "interval_ms"))
        prover.assume(and_(index_price > 0, index_price <= 10**12), "0 < index ≤ 1e12 price units")
        prover.assume(and_(interval > 0, interval <= 7 * funding.DAY_MS), "interval in (0, 7 days]")
        prover.assume(and_(until >= 0, until <= interval), "0 ≤ until ≤ interval")
        fair = kernel(index_price, rate, until, interval)
        return prover.prove(half_up(fair - index_price, index_price * rate * until, funding.E8 * interval), "MRK-005")


def _perpetual_fair_price_floor(index_price: int, rate: int, until: int, interval: int) -> int:
    """KNOWN-BAD MRK-005: the funding basis term floored (a negative rate's mark moves away from the index)."""
    return index_price + (index_price * rate * until) // (funding.E8 * ite(interval <= 0, 1, interval))


def _register() -> None:
    rounding = "ROUNDING-TOWARD-SYSTEM"
    exact = "EXACT-REJECTION"
    neutral = "ROUNDING-NEUTRAL"
    band = "BAND-INWARD"
    for symbol in SYMBOLS:
        p = functools.partial
        add(f"MRK-003/half-tick/{symbol}", "MRK-003", neutral, "The impact mid is on ticks, half up within half a tick of the exact mid.",
            p(prove_impact_mid, symbol, impact.compute_impact_mid))
        add(f"MRK-003/floor/{symbol}", "MRK-003", neutral, "the mid floored to the tick.", p(prove_impact_mid, symbol, _impact_mid_floor), expect="refuted")
        add(f"MRK-008/never-looser/{symbol}", "MRK-008", band, "The spread limit is ≥ the tick floor and never above the exact maintenance distance when larger.",
            p(prove_spread_limit, symbol, mark.compute_impact_spread_limit))
        add(f"MRK-008/ceil/{symbol}", "MRK-008", band, "the maintenance distance rounded up.", p(prove_spread_limit, symbol, _spread_limit_ceil), expect="refuted")
        add(f"MRK-015/strict/{symbol}", "MRK-015", exact, "Narrow exactly when ask − bid is strictly below the limit.",
            p(prove_spread_narrow, symbol, mark.is_impact_spread_narrow))
        add(f"MRK-015/inclusive/{symbol}", "MRK-015", exact, "≤ instead of <.", p(prove_spread_narrow, symbol, bad.is_impact_spread_narrow_inclusive), expect="refuted")
        add(f"MRK-009/inward/{symbol}", "MRK-009", band, "The protected band holds the fair price and is never wider than one maintenance margin.",
            p(prove_protected_band, symbol, mark.compute_protected_band))
        add(f"MRK-009/ceil/{symbol}", "MRK-009", band, "the half width rounded up.", p(prove_protected_band, symbol, bad.compute_protected_band_ceil), expect="refuted")
        add(f"MRK-010/clamped/{symbol}", "MRK-010", band, "The protected mark is the last price inside the band, else the nearer edge.",
            p(prove_last_price_protected, symbol))
        add(f"MRK-010/one-edge/{symbol}", "MRK-010", band, "only the upper edge applied.",
            p(prove_last_price_protected_with, symbol, _last_price_protected_unclamped_low), expect="refuted")
        add(f"MRK-011/inward/{symbol}", "MRK-011", band, "Both limit-band edges are on ticks and inside the exact band.",
            p(prove_limit_band, symbol, mark.compute_limit_band))
        add(f"MRK-011/outward/{symbol}", "MRK-011", band, "band edges rounded outward.", p(prove_limit_band, symbol, bad.compute_limit_band_outward), expect="refuted")
        add(f"MRK-012/within-band/{symbol}", "MRK-012", band, "The LastPrice mark stays in the exact limit band and is the last price inside it.",
            p(prove_last_price_mark, symbol, mark.compute_limit_band))
        add(f"MRK-012/outward/{symbol}", "MRK-012", band, "clamped to the outward-rounded band.",
            p(prove_last_price_mark, symbol, bad.compute_limit_band_outward), expect="refuted")
        add(f"SET-002/ceil/{symbol}", "SET-002", rounding, "The settlement fee is the exact fee rounded up toward the fee pool.",
            p(prove_settlement_fee, symbol, settlement.compute_settlement_fee))
        add(f"SET-002/floor/{symbol}", "SET-002", rounding, "the settlement fee rounded down.", p(prove_settlement_fee, symbol, _settlement_fee_floor), expect="refuted")
        add(f"FND-015/floor/{symbol}", "FND-015", rounding, "The change cap is ratio × MM rounded down (never looser).",
            p(prove_cap_change, symbol, funding.compute_cap_change_e8))
        add(f"FND-015/ceil/{symbol}", "FND-015", rounding, "the change cap rounded up.", p(prove_cap_change, symbol, _cap_change_ceil), expect="refuted")
        for round_up in (False, True):
            direction = "up" if round_up else "down"
            add(f"MRK-002/{direction}/{symbol}", "MRK-002", rounding, f"The average price rounded {direction} brackets the exact price within one unit.",
                p(prove_average_price, symbol, round_up))
        add(f"MRK-002/flag-ignored/{symbol}", "MRK-002", rounding, "the round-up flag ignored.", p(prove_average_price_bad, symbol), expect="refuted")
    p = functools.partial
    add("FND-001/premium", "FND-001", neutral, "The premium sample is 0 inside the impact spread, else half up within 1e-8.", p(prove_premium_sample, funding.compute_premium_sample_e8))
    add("FND-001/swapped", "FND-001", neutral, "max(0, mark − bid) for max(0, bid − mark).", p(prove_premium_sample, _premium_sample_swapped), expect="refuted")
    add("FND-002/half-up", "FND-002", neutral, "The interval interest is within half a 1e-8 of daily × interval / 24 h.", p(prove_interval_interest, funding.compute_interval_interest_e8))
    add("FND-002/floor", "FND-002", neutral, "the interval interest floored.", p(prove_interval_interest, _interval_interest_floor), expect="refuted")
    add("FND-003/half-up", "FND-003", neutral, "The mean is within half a 1e-8 of total / count, 0 without samples.", p(prove_mean, funding.compute_mean_e8))
    add("FND-003/floor", "FND-003", neutral, "the mean floored.", p(prove_mean, _mean_floor_guarded), expect="refuted")
    add("FND-013/half-up", "FND-013", neutral, "The funding basis is rate × until / interval half up, 0 at the funding instant.", p(prove_funding_basis, funding.compute_funding_basis_e8))
    add("FND-013/floor", "FND-013", neutral, "the basis floored.", p(prove_funding_basis, _funding_basis_truncated), expect="refuted")
    add("IDX-002/strict", "IDX-002", exact, "Excluded exactly when |price − median| > band × median; on the edge it stays in.", p(prove_out_of_band, index.is_out_of_band))
    add("IDX-002/inclusive", "IDX-002", exact, "≥ instead of >.", p(prove_out_of_band, bad.is_out_of_band_inclusive), expect="refuted")
    add("MRK-006/half-up", "MRK-006", neutral, "The annualised basis is half up within 1e-8, 0 at expiry.", p(prove_fair_basis_rate, mark.compute_fair_basis_rate_e8))
    add("MRK-006/floor", "MRK-006", neutral, "the basis floored.", p(prove_fair_basis_rate, _fair_basis_rate_floor), expect="refuted")
    add("MRK-007/half-up", "MRK-007", neutral, "The futures fair price is the index at expiry and half up within a unit otherwise.",
        p(prove_futures_fair_price, mark.compute_futures_fair_price))
    add("MRK-007/floor", "MRK-007", neutral, "the fair value floored.", p(prove_futures_fair_price, _futures_fair_price_floor), expect="refuted")
    for k in range(1, 5):
        add(f"IDX-001/half-up/k={k}", "IDX-001", neutral, "The weighted index is half up within half a unit, between the lowest and highest price.",
            p(prove_weighted_index, k, index.compute_weighted_index), bounded=f"k = {k} constituents")
    add("IDX-001/floor/k=2", "IDX-001", neutral, "the weighted mean floored.", p(prove_weighted_index, 2, _weighted_index_floor), expect="refuted", bounded="k = 2 constituents")


_register()


def _register_second_batch() -> None:
    p = functools.partial
    for symbol in SYMBOLS:
        for k in (1, 2, 3):
            add(f"MRK-001/walk/{symbol}/k={k}", "MRK-001", "IMPACT-WALK",
                "Whole lots within the book; the notional is reached unless every level was taken in full.",
                p(prove_impact_fill, symbol, k), bounded=f"k = {k} levels")
        add(f"MRK-001/floor/{symbol}/k=2", "MRK-001", "IMPACT-WALK", "lots needed rounded down.",
            p(prove_impact_fill, symbol, 2, True), expect="refuted", bounded="k = 2 levels")


_register_second_batch()


def _register_mark_005() -> None:
    p = functools.partial
    add("MRK-005/half-up", "MRK-005", "ROUNDING-NEUTRAL", "The perpetual fair price is half up within half a unit of index × (1 + basis).",
        p(prove_perpetual_fair_price, mark.compute_perpetual_fair_price))
    add("MRK-005/floor", "MRK-005", "ROUNDING-NEUTRAL", "the basis term floored.", p(prove_perpetual_fair_price, _perpetual_fair_price_floor), expect="refuted")


_register_mark_005()
