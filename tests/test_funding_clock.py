"""FND: the funding clock on BitMEX's grid (04:00, 12:00, 20:00 UTC), and every rounding of the rate half up."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import attrs

from perpspec.rules.funding import (
    E8,
    PPM_TO_E8,
    FundingRejection,
    PremiumInputs,
    compute_funding_basis_e8,
    compute_interval_interest_e8,
    compute_mean_e8,
    compute_next_funding_ms,
    compute_premium_sample_e8,
    compute_rate_from_samples,
    get_interest_daily_e8,
    make_funding_state,
    process_premium_sample,
    process_set_funding_interval,
)
from perpspec.rules.instrument_file import load_instrument

HOUR = 3_600_000
XBTUSD = load_instrument("XBTUSD")


def test_fnd_016_the_first_funding_instant_is_the_next_04_12_or_20_utc() -> None:
    assert XBTUSD.funding_interval_ms == 8 * HOUR
    day = 24 * HOUR * 18_000  # a midnight UTC
    cases = [(0, 4), (3 * HOUR, 4), (4 * HOUR, 12), (5 * HOUR, 12), (12 * HOUR - 1, 12), (20 * HOUR, 28)]
    for time_ms, next_hour in cases:
        state = make_funding_state(XBTUSD, day + time_ms)
        assert state.next_funding_ms == day + next_hour * HOUR, time_ms
        assert state.last_funding_ms == state.next_funding_ms - 8 * HOUR
        assert state.interval_ms == 8 * HOUR


def test_fnd_016_a_new_clock_has_sampled_nothing_and_samples_on_the_next_whole_minute() -> None:
    state = make_funding_state(XBTUSD, 90_500)
    assert (state.premium_sum_e8, state.interest_daily_sum_e8, state.sample_count, state.last_rate_e8) == (
        0,
        0,
        0,
        0,
    )
    assert state.next_sample_ms == 120_000
    assert make_funding_state(XBTUSD, 120_000).next_sample_ms == 120_000


def test_fnd_012_the_grid_with_any_offset() -> None:
    assert compute_next_funding_ms(0, 8 * HOUR, 0) == 8 * HOUR  # strictly after
    assert compute_next_funding_ms(1, 8 * HOUR, 0) == 8 * HOUR
    assert compute_next_funding_ms(2 * HOUR, HOUR, 30 * 60_000) == 2 * HOUR + 30 * 60_000


def test_fnd_012_the_grid_with_an_offset_that_is_not_half_the_interval() -> None:
    assert compute_next_funding_ms(2 * HOUR, HOUR, 15 * 60_000) == 2 * HOUR + 15 * 60_000
    assert compute_next_funding_ms(2 * HOUR + 20 * 60_000, HOUR, 15 * 60_000) == 3 * HOUR + 15 * 60_000


def _half_up(numerator: int, denominator: int) -> int:
    return math.floor(Fraction(numerator, denominator) + Fraction(1, 2))


def test_fnd_003_to_006_means_and_scalings_round_half_up() -> None:
    assert compute_mean_e8(5, 1) == 5  # one sample is its own mean
    assert compute_mean_e8(0, 0) == 0  # no sample: 0
    for total, count in itertools.product((-7, -3, 0, 3, 7, 10), (1, 2, 4)):
        assert compute_mean_e8(total, count) == _half_up(total, count)
    for daily in (-30_001, 1, 30_001, 10_000):
        for interval in (HOUR, 8 * HOUR, 7 * 60_000):
            assert compute_interval_interest_e8(daily, interval) == _half_up(daily * interval, 24 * HOUR)
    for rate, until, interval in itertools.product(
        (-7_501, 3, 7_501), (-HOUR, 0, 1, 3 * HOUR + 1), (8 * HOUR, 7)
    ):
        assert compute_funding_basis_e8(rate, until, interval) == _half_up(rate * max(until, 0), interval)


def test_fnd_001_a_premium_sample_is_the_impact_premium_over_the_index_half_up_plus_the_basis() -> None:
    mark = 1_000
    for bid, ask, spot, basis in itertools.product(
        (993, 1_000, 1_005, 1_013), (1_000, 1_007), (3, 8, 1_000_003), (0, -11)
    ):
        premium = max(0, bid - mark) - max(0, mark - ask)
        assert compute_premium_sample_e8(bid, ask, mark, spot, basis) == _half_up(premium * E8, spot) + basis
    assert compute_premium_sample_e8(990, 995, 1_000, 3, 0) == _half_up(
        -5 * E8, 3
    )  # ask below mark: negative


def test_fnd_010_the_rate_is_p_plus_the_clamped_interest_difference() -> None:
    # F = P + clamp(I − P, −0.05%, +0.05%) before the caps (BitMEX funding formula)
    state = make_funding_state(XBTUSD, 0)
    clamp_e8 = XBTUSD.premium_clamp_ppm * PPM_TO_E8
    assert clamp_e8 == 50_000
    for premium_sum, interest_sum, count in (
        (3 * 20_000, 3 * 30_000, 3),
        (10 * -90_000, 10 * 30_000, 10),
        (4 * 0, 4 * 300_000, 4),
    ):
        sampled = attrs.evolve(
            state, premium_sum_e8=premium_sum, interest_daily_sum_e8=interest_sum, sample_count=count
        )
        rate = compute_rate_from_samples(XBTUSD, sampled)
        premium = _half_up(premium_sum, count)
        interest = _half_up(_half_up(interest_sum, count) * 8 * HOUR, 24 * HOUR)
        assert (rate.premium_e8, rate.interest_e8) == (premium, interest)
        assert rate.clamped_e8 == premium + min(max(interest - premium, -clamp_e8), clamp_e8)


def test_fnd_017_a_fixed_interest_rate_is_known_before_any_sample() -> None:
    fixed = attrs.evolve(XBTUSD, fixed_interest_daily_ppm=300)  # 0.03% a day
    rate = compute_rate_from_samples(fixed, make_funding_state(fixed, 0))
    assert rate.interest_e8 == _half_up(300 * PPM_TO_E8 * 8 * HOUR, 24 * HOUR) == 10_000  # 0.01% per 8 h
    floating = compute_rate_from_samples(XBTUSD, make_funding_state(XBTUSD, 0))
    assert (floating.interest_e8, floating.samples) == (0, 0)


def test_fnd_014_an_interval_of_zero_or_one_that_is_not_whole_samples_is_refused() -> None:
    state = make_funding_state(XBTUSD, 0)
    for interval in (0, -HOUR, 1, 7 * HOUR):
        refused = process_set_funding_interval(XBTUSD, state, interval)
        assert isinstance(refused, FundingRejection), interval
        assert refused.reason == "bad-interval"
    assert not isinstance(process_set_funding_interval(XBTUSD, state, 2 * HOUR), FundingRejection)


def test_fnd_009_samples_on_the_minute_grid_and_never_at_the_funding_instant() -> None:
    inputs = PremiumInputs(
        impact_bid=None, impact_ask=None, mark_price=900_000, spot_price=900_000, fair_basis_e8=0
    )
    assert get_interest_daily_e8(XBTUSD, inputs) == 0  # no interest indices given: none
    state = make_funding_state(XBTUSD, 0)
    taken = process_premium_sample(XBTUSD, state, 90_000, inputs)  # a late sample (slot 60 s, taken at 90 s)
    assert not isinstance(taken, FundingRejection)
    after, _ = taken
    assert after.next_sample_ms == 120_000  # the next slot on the grid, not 90 s + 60 s
    assert (after.sample_count, after.interest_daily_sum_e8) == (1, 0)
    skipped = process_premium_sample(XBTUSD, after, 250_000, inputs)  # slots 120 s and 180 s missed
    assert not isinstance(skipped, FundingRejection)
    assert skipped[0].next_sample_ms == 300_000
    due = attrs.evolve(state, next_sample_ms=state.next_funding_ms)
    refused = process_premium_sample(XBTUSD, due, state.next_funding_ms, inputs)
    assert isinstance(refused, FundingRejection)
    assert refused.reason == "funding-due-first"
