"""MRK-006/013 and IDX-001 where rounding and first-update defaults decide the price.

* MRK-013: the first update of a LastPrice or LastPriceProtected mark centres its band on that update's
  fair price (the state starts with no reference and no fair price: 0).
* MRK-006 and IDX-001 round half up (shared reference prices favour no side): exact against Fractions.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import attrs

from perpspec.rules.index import compute_weighted_index
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.mark import (
    E8,
    YEAR_MS,
    MarkInputs,
    MarkState,
    compute_fair_basis_rate_e8,
    compute_futures_fair_price,
    compute_impact_spread_limit,
    compute_perpetual_fair_price,
    is_impact_spread_narrow,
    process_mark_update,
)

XBTUSD = load_instrument("XBTUSD")
PX = XBTUSD.price_scale


def test_mrk_013_a_new_mark_state_remembers_nothing() -> None:
    state = MarkState()
    assert (
        state.fair_basis_e8,
        state.basis_refreshed_ms,
        state.fair_price,
        state.limit_reference,
        state.mark_price,
    ) == (
        0,
        None,
        0,
        0,
        0,
    )


def test_mrk_013_the_first_last_price_marks_centre_their_band_on_the_fair_price() -> None:
    inputs = MarkInputs(time_ms=60_000, index_price=9_000 * PX, last_price=9_010 * PX)
    for method in ("LastPrice", "LastPriceProtected"):
        inst = attrs.evolve(XBTUSD, mark_method=method)
        state, event = process_mark_update(inst, MarkState(), inputs)
        assert event.fair_price == 9_000 * PX
        assert event.mark_price == 9_010 * PX, method  # a trade 0.1% from fair is inside any band around fair
        assert event.band is not None
        low, high = event.band
        assert low < 9_000 * PX < high, method
        if method == "LastPrice":
            assert state.limit_reference == 9_000 * PX


def _half_up(numerator: int, denominator: int) -> int:
    return math.floor(Fraction(numerator, denominator) + Fraction(1, 2))


def test_mrk_006_fair_basis_rounds_half_up_to_1e_8() -> None:
    differs = 0
    for mid, index, expiry in itertools.product(
        (999_999, 1_000_000, 1_000_001, 1_000_007), (1_000_000, 999_998), (1, 7, 86_400_000 * 3)
    ):
        exact = Fraction((mid - index) * E8 * YEAR_MS, index * expiry)
        assert compute_fair_basis_rate_e8(mid, index, expiry) == _half_up(
            (mid - index) * E8 * YEAR_MS, index * expiry
        )
        differs += math.floor(exact) != _half_up((mid - index) * E8 * YEAR_MS, index * expiry)
    assert differs > 0  # the grid has values where half up and floor disagree
    assert compute_fair_basis_rate_e8(1_000_001, 1_000_000, 0) == 0  # at expiry


def test_idx_001_the_weighted_index_rounds_half_up_to_the_price_unit() -> None:
    assert compute_weighted_index((100, 101), (1, 1)) == 101  # 100.5 -> 101
    assert compute_weighted_index((100, 101), (3, 1)) == 100  # 100.25 -> 100
    assert compute_weighted_index((100, 101), (1, 3)) == 101  # 100.75 -> 101
    for prices in itertools.product((7, 10, 13), repeat=2):
        for weights in itertools.product((1, 2, 5), repeat=2):
            numerator = sum(p * w for p, w in zip(prices, weights, strict=True))
            assert compute_weighted_index(prices, weights) == _half_up(numerator, sum(weights))
    assert compute_weighted_index((), ()) == 0


def test_mrk_015_a_spread_exactly_at_the_limit_is_not_narrow() -> None:
    mid = 9_000 * PX
    limit = compute_impact_spread_limit(XBTUSD, mid)
    assert is_impact_spread_narrow(XBTUSD, mid - limit // 2, mid - limit // 2 + limit - 1, mid)
    assert not is_impact_spread_narrow(XBTUSD, mid - limit // 2, mid - limit // 2 + limit, mid)


def test_mrk_013_without_a_trade_a_last_price_mark_is_the_fair_price_and_any_trade_counts() -> None:
    inst = attrs.evolve(XBTUSD, mark_method="LastPrice")
    _, event = process_mark_update(inst, MarkState(), MarkInputs(time_ms=0, index_price=9_000 * PX))
    assert event.mark_price == event.fair_price == 9_000 * PX  # lastPrice 0: no trade yet
    _, event = process_mark_update(
        inst, MarkState(), MarkInputs(time_ms=0, index_price=9_000 * PX, last_price=1)
    )
    assert event.band is not None
    assert (
        event.mark_price == event.band[0] < 9_000 * PX
    )  # a trade at one price unit counts, clamped to the band


def test_mrk_013_a_remembered_fair_price_or_reference_of_one_unit_is_used() -> None:
    for method, state in (
        ("LastPriceProtected", MarkState(fair_price=1)),
        ("LastPrice", MarkState(limit_reference=1)),
    ):
        inst = attrs.evolve(XBTUSD, mark_method=method)
        _, event = process_mark_update(
            inst, state, MarkInputs(time_ms=0, index_price=9_000 * PX, last_price=9_000 * PX)
        )
        assert event.band is not None
        assert event.band[1] < 9_000 * PX, method  # around the remembered 1, not around the fair price


def test_mrk_005_a_perpetual_without_funding_inputs_is_marked_at_the_index() -> None:
    inst = XBTUSD
    index = 9_000 * PX
    for inputs in (
        MarkInputs(time_ms=0, index_price=index),
        MarkInputs(time_ms=0, index_price=index, funding_until_ms=3_600_000, funding_interval_ms=28_800_000),
        MarkInputs(time_ms=0, index_price=index, funding_rate_e8=10_000),
        # at the top of the price range a rate of one 1e-8 over a whole interval would move the mark one unit
        MarkInputs(time_ms=0, index_price=10**8, funding_until_ms=28_800_000, funding_interval_ms=28_800_000),
    ):
        _, event = process_mark_update(inst, MarkState(), inputs)
        assert event.fair_price == inputs.index_price, inputs


def test_mrk_005_the_perpetual_fair_price_rounds_half_up() -> None:
    differs = 0
    for index, rate, until in itertools.product(
        (999_999, 9_000_00), (-7_501, 1, 7_501, 100_000), (1, 999, 3_600_000)
    ):
        exact = Fraction(index * rate * until, E8 * 28_800_000)
        expected = index + math.floor(exact + Fraction(1, 2))
        assert compute_perpetual_fair_price(index, rate, until, 28_800_000) == expected
        differs += math.floor(exact) != math.floor(exact + Fraction(1, 2))
    assert differs > 0


def test_mrk_007_an_expired_future_is_marked_at_the_index_whatever_its_basis() -> None:
    # near expiry the annualised basis is huge (1% with a minute left: ~5,256 x); at expiry it adds nothing
    for expiry_in_ms in (0, -1, -60_000):
        assert compute_futures_fair_price(10**8, 5 * 10**11, expiry_in_ms) == 10**8
    assert compute_futures_fair_price(10**8, 5 * 10**11, 60_000) > 10**8
