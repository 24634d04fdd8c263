"""FND-012/016: the funding clock starts on BitMEX's grid (04:00, 12:00, 20:00 UTC) with nothing sampled yet."""

from __future__ import annotations

from perpspec.rules.funding import compute_next_funding_ms, make_funding_state
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
    assert (state.premium_sum_e8, state.interest_daily_sum_e8, state.sample_count, state.last_rate_e8) == (0, 0, 0, 0)
    assert state.next_sample_ms == 120_000
    assert make_funding_state(XBTUSD, 120_000).next_sample_ms == 120_000


def test_fnd_012_the_grid_with_any_offset() -> None:
    assert compute_next_funding_ms(0, 8 * HOUR, 0) == 8 * HOUR  # strictly after
    assert compute_next_funding_ms(1, 8 * HOUR, 0) == 8 * HOUR
    assert compute_next_funding_ms(2 * HOUR, HOUR, 30 * 60_000) == 2 * HOUR + 30 * 60_000
