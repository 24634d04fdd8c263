"""MRK: impact prices and the mark price methods (FairPrice perpetual and future, LastPriceProtected, LastPrice)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from perpspec.rules.impact import ImpactPrices, compute_impact_fill, compute_impact_mid, compute_impact_prices
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.mark import (
    MarkInputs,
    MarkState,
    compute_fair_basis_rate_e8,
    compute_futures_fair_price,
    compute_impact_spread_limit,
    compute_last_price_mark,
    compute_last_price_protected,
    compute_limit_band,
    compute_perpetual_fair_price,
    compute_protected_band,
    process_mark_update,
    process_new_session,
)
from tests import strategies

XBTUSD = load_instrument("XBTUSD")
XBTUSDT = load_instrument("XBTUSDT", {"impactNotional": 10_000_000_000})  # 10,000 USDT
XBTZ26 = load_instrument("XBTZ26")
DAY_MS = 86_400_000
assert XBTZ26.expiry_ms is not None
THIRTY_DAYS_BEFORE = XBTZ26.expiry_ms - 30 * DAY_MS


# -- impact prices ------------------------------------------------------------------------------


def test_impact_fill_takes_whole_lots_until_the_notional_is_reached() -> None:
    """MRK-001: 10 XBT at 100.00 is 10 lots of 1 XBT; the first level has 4, the second the rest."""
    fill = compute_impact_fill(XBTZ26, ((10_000, 400), (9_950, 100_000)), 1_000_000_000)
    # 4 lots at 1 XBT + ceil(6 XBT / 100,502,513 sats) = 6 lots at 99.50 (the 6th overshoots by < 1 lot)
    assert (fill.qty, fill.value, fill.unfilled) == (1_000, 400_000_000 + 6 * 100_502_513, 0)


def test_impact_prices_on_a_deep_book_are_the_level_prices() -> None:
    prices = compute_impact_prices(XBTZ26, ((10_400, 10**6),), ((10_600, 10**6),))
    assert prices == ImpactPrices(bid=10_400, ask=10_600, mid=10_500)


def test_impact_side_without_enough_depth_has_no_price() -> None:
    prices = compute_impact_prices(XBTZ26, ((10_400, 100),), ((10_600, 10**6),))
    assert prices == ImpactPrices(bid=None, ask=10_600, mid=None)


def test_instrument_without_impact_notional_has_no_impact_prices() -> None:
    prices = compute_impact_prices(XBTUSD, ((5_000_000, 10**6),), ((5_000_050, 10**6),))
    assert prices == ImpactPrices(bid=None, ask=None, mid=None)


def test_impact_bid_rounds_down_and_ask_rounds_up_on_a_linear_book() -> None:
    """MRK-004: 10,000 USDT = 200 lots of 50 USDT: 133 at 50,000.00 and 67 at 50,001.00.

    Average 50,000.335 -> impact bid 50,000.33 (down), impact ask 50,000.34 (up).
    """
    levels = ((5_000_000, 133_000), (5_000_100, 200_000))
    prices = compute_impact_prices(XBTUSDT, levels, levels)
    assert (prices.bid, prices.ask) == (5_000_033, 5_000_034)


def test_impact_mid_rounds_half_up_to_the_tick() -> None:
    """MRK-003: (100.00 + 100.50) / 2 = 100.25 -> 100.50 (tick 0.5, half up)."""
    assert compute_impact_mid(XBTZ26, 10_000, 10_050) == 10_050


# -- FairPrice: perpetual -----------------------------------------------------------------------


@given(index=st.integers(min_value=1, max_value=10**8), until=st.integers(min_value=0, max_value=8 * 3_600_000))
def test_perpetual_fair_price_with_zero_rate_is_the_index(index: int, until: int) -> None:
    assert compute_perpetual_fair_price(index, 0, until, 8 * 3_600_000) == index


def test_perpetual_fair_price_at_the_funding_instant_is_the_index() -> None:
    assert compute_perpetual_fair_price(5_000_000, 375_000, 0, 8 * 3_600_000) == 5_000_000


def test_perpetual_mark_update_uses_the_funding_basis() -> None:
    """MRK-013: rate 0.01%, half the interval left -> basis 0.005% -> 50,002.50."""
    inputs = MarkInputs(
        time_ms=0,
        index_price=5_000_000,
        funding_rate_e8=10_000,
        funding_until_ms=4 * 3_600_000,
        funding_interval_ms=8 * 3_600_000,
    )
    _, event = process_mark_update(XBTUSD, MarkState(), inputs)
    assert (event.fair_basis_e8, event.fair_price, event.mark_price) == (5_000, 5_000_250, 5_000_250)


# -- FairPrice: dated future --------------------------------------------------------------------


def test_reference_futures_example_fair_price_105() -> None:
    """MRK-006/007: impact mid 105, index 100, 30 days -> 60.83% a year, fair value 5, fair price 105."""
    basis = compute_fair_basis_rate_e8(10_500, 10_000, 30 * DAY_MS)
    fair = compute_futures_fair_price(10_000, basis, 30 * DAY_MS)
    assert (basis, fair - 10_000, fair) == (60_833_333, 500, 10_500)


def test_fair_basis_at_or_after_expiry_is_zero_and_fair_price_is_the_index() -> None:
    assert (compute_fair_basis_rate_e8(10_500, 10_000, 0), compute_futures_fair_price(10_000, 60_833_333, 0)) == (
        0,
        10_000,
    )


def test_spread_limit_is_the_larger_of_maintenance_and_three_ticks() -> None:
    """MRK-008: at 105.00, 0.5% is 0.52 (floored) < 3 ticks = 1.50; at 50,000, 0.5% = 250.00."""
    assert (compute_impact_spread_limit(XBTZ26, 10_500), compute_impact_spread_limit(XBTZ26, 5_000_000)) == (
        150,
        25_000,
    )


def futures_inputs(time_ms: int, bid: int, ask: int, index: int = 10_000) -> MarkInputs:
    mid = compute_impact_mid(XBTZ26, bid, ask)
    return MarkInputs(time_ms=time_ms, index_price=index, impact=ImpactPrices(bid=bid, ask=ask, mid=mid))


def test_fair_basis_is_refreshed_at_most_every_30_seconds() -> None:
    state, first = process_mark_update(XBTZ26, MarkState(), futures_inputs(THIRTY_DAYS_BEFORE, 10_450, 10_550))
    _, early = process_mark_update(XBTZ26, state, futures_inputs(THIRTY_DAYS_BEFORE + 29_999, 10_950, 11_050))
    _, due = process_mark_update(XBTZ26, state, futures_inputs(THIRTY_DAYS_BEFORE + 30_000, 10_950, 11_050))
    assert (first.basis_refreshed, early.basis_refreshed, due.basis_refreshed) == (True, False, True)
    assert early.fair_basis_e8 == first.fair_basis_e8
    assert due.fair_basis_e8 > first.fair_basis_e8


def test_fair_basis_is_kept_while_the_impact_spread_is_too_wide() -> None:
    """Spread 2.00 ≥ max(0.5% of 105 = 0.52, 3 ticks = 1.50): no refresh; the fair price uses the old basis."""
    state, _ = process_mark_update(XBTZ26, MarkState(), futures_inputs(THIRTY_DAYS_BEFORE, 10_450, 10_550))
    _, wide = process_mark_update(XBTZ26, state, futures_inputs(THIRTY_DAYS_BEFORE + 60_000, 10_900, 11_100))
    assert (wide.basis_refreshed, wide.fair_basis_e8) == (False, state.fair_basis_e8)


# -- LastPriceProtected and LastPrice -----------------------------------------------------------


def test_protected_band_is_half_a_maintenance_margin_each_way() -> None:
    assert compute_protected_band(XBTUSD, 5_000_000) == (4_987_500, 5_012_500)


@given(data=st.data())
def test_last_price_protected_mark_stays_within_the_band_of_the_previous_fair_price(data: st.DataObject) -> None:
    """MRK-010: |mark − previous fair| ≤ previous fair × MM / 2, whatever the last price."""
    inst = data.draw(strategies.instruments())
    fair = data.draw(strategies.realistic_prices(inst))
    last = data.draw(st.integers(min_value=1, max_value=inst.max_price))
    mark = compute_last_price_protected(inst, last, fair)
    assert abs(mark - fair) * 2 * 1_000_000 <= fair * inst.maint_margin_ppm
    inside = fair - fair * inst.maint_margin_ppm // (2 * 1_000_000) <= last
    inside = inside and last <= fair + fair * inst.maint_margin_ppm // (2 * 1_000_000)
    assert (mark == last) == inside


def test_last_price_protected_mark_update_bands_around_the_previous_fair_price() -> None:
    lpp = load_instrument("XBTUSD", {"markMethod": "LastPriceProtected"})
    inputs = MarkInputs(time_ms=0, index_price=5_000_000, last_price=5_100_000, funding_interval_ms=1)
    state, first = process_mark_update(lpp, MarkState(), inputs)
    second_inputs = MarkInputs(time_ms=1, index_price=4_000_000, last_price=3_000_000, funding_interval_ms=1)
    _, second = process_mark_update(lpp, state, second_inputs)
    assert (first.mark_price, first.band) == (5_012_500, (4_987_500, 5_012_500))
    assert (second.mark_price, second.fair_price) == (4_987_500, 4_000_000)


def test_limit_band_is_on_ticks_and_rounded_inward() -> None:
    """MRK-011: 10% of 50,000.30 = 5,000.03: down 45,000.27 -> 45,000.50, up 55,000.33 -> 55,000.00."""
    assert compute_limit_band(XBTUSD, 5_000_030) == (4_500_050, 5_500_000)


def test_last_price_mark_is_clamped_to_the_session_limits() -> None:
    assert (
        compute_last_price_mark(XBTUSD, 6_000_000, 5_000_000),
        compute_last_price_mark(XBTUSD, 5_100_000, 5_000_000),
    ) == (5_500_000, 5_100_000)


def test_last_price_session_reference_is_set_once_and_recentred_by_a_new_session() -> None:
    last_price = load_instrument("XBTUSD", {"markMethod": "LastPrice"})
    inputs = MarkInputs(time_ms=0, index_price=5_000_000, last_price=5_000_000, funding_interval_ms=1)
    state, _ = process_mark_update(last_price, MarkState(), inputs)
    moved = MarkInputs(time_ms=1, index_price=7_000_000, last_price=7_000_000, funding_interval_ms=1)
    _, capped = process_mark_update(last_price, state, moved)
    _, recentred = process_mark_update(last_price, process_new_session(state, 7_000_000), moved)
    assert (capped.mark_price, recentred.mark_price) == (5_500_000, 7_000_000)
