"""IDX: the index price — weighted constituents, exclusion, reinstatement, holding the last value."""

from __future__ import annotations

from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from perpspec.rules.index import (
    ConstituentExcluded,
    ConstituentReinstated,
    ConstituentStatus,
    IndexHeld,
    IndexParams,
    IndexRejection,
    IndexState,
    IndexUpdated,
    compute_median,
    compute_weighted_index,
    get_fresh_median,
    is_fresh,
    is_out_of_band,
    make_index_state,
    process_constituent_price,
    process_index_tick,
)

PARAMS = IndexParams()  # 15 min stale, 5 min reinstate, 5% band, at least 2
MINUTE = 60_000
T0 = 1_000 * MINUTE


def three_exchanges(price: int = 5_000_000) -> IndexState:
    return make_index_state((("BSTP", 40, price), ("COIN", 40, price), ("KRAK", 20, price)), T0, PARAMS)


def update(state: IndexState, reference: str, price: int, time_ms: int) -> IndexState:
    result = process_constituent_price(state, reference, price, time_ms)
    assert isinstance(result, IndexState), result
    return result


def statuses(state: IndexState) -> dict[str, ConstituentStatus]:
    return {c.reference: c.status for c in state.constituents}


def test_index_is_the_weighted_average_rounded_half_up() -> None:
    """IDX-001: (40·100.00 + 40·101.00 + 20·102.01) / 100 = 100.802 -> 100.80."""
    assert compute_weighted_index((10_000, 10_100, 10_201), (40, 40, 20)) == 10_080


def test_weighted_index_of_nothing_is_zero() -> None:
    assert compute_weighted_index((), ()) == 0


def test_median_of_an_even_count_is_the_floor_of_the_middle_mean() -> None:
    assert (compute_median((3, 1, 4, 2)), compute_median((5, 1, 3))) == (2, 3)


def test_exactly_at_the_band_is_in_line_and_one_unit_beyond_is_out() -> None:
    """IDX-002: 5% of 100.00 is 5.00: 105.00 is in line, 105.01 is not."""
    assert (is_out_of_band(10_500, 10_000, 50_000), is_out_of_band(10_501, 10_000, 50_000)) == (False, True)


def test_bootstrap_publishes_the_index_with_every_constituent() -> None:
    state = three_exchanges()
    assert (state.value, state.held) == (5_000_000, False)


def test_constituent_silent_for_15_minutes_is_excluded_as_stale() -> None:
    state = three_exchanges()
    state = update(state, "BSTP", 5_000_000, T0 + 10 * MINUTE)
    state = update(state, "COIN", 5_010_000, T0 + 10 * MINUTE)
    before, _ = process_index_tick(PARAMS, state, T0 + 15 * MINUTE - 1)
    after, events = process_index_tick(PARAMS, state, T0 + 15 * MINUTE)
    assert statuses(before)["KRAK"] == ConstituentStatus.INCLUDED
    assert events[0] == ConstituentExcluded(
        reference="KRAK", reason="stale", price=5_000_000, median=5_005_000, time_ms=T0 + 15 * MINUTE
    )
    # (40 · 50,000 + 40 · 50,100) / 80 = 50,050.00
    assert (statuses(after)["KRAK"], after.value) == (ConstituentStatus.EXCLUDED, 5_005_000)


def test_deviating_constituent_is_excluded_and_reinstated_after_5_minutes_in_line() -> None:
    state = three_exchanges()
    state = update(state, "KRAK", 6_000_000, T0 + MINUTE)  # +20%: beyond the 5% band
    state, events = process_index_tick(PARAMS, state, T0 + MINUTE)
    assert isinstance(events[0], ConstituentExcluded)
    assert (events[0].reason, state.value) == ("deviation", 5_000_000)
    state = update(state, "KRAK", 5_001_000, T0 + 2 * MINUTE)  # back in line
    state, _ = process_index_tick(PARAMS, state, T0 + 2 * MINUTE)
    state = update(state, "BSTP", 5_000_000, T0 + 6 * MINUTE)
    early, _ = process_index_tick(PARAMS, state, T0 + 7 * MINUTE - 1)
    later, later_events = process_index_tick(PARAMS, state, T0 + 7 * MINUTE)
    assert statuses(early)["KRAK"] == ConstituentStatus.EXCLUDED
    assert later_events[0] == ConstituentReinstated(
        reference="KRAK", price=5_001_000, in_line_since_ms=T0 + 2 * MINUTE, time_ms=T0 + 7 * MINUTE
    )
    assert statuses(later)["KRAK"] == ConstituentStatus.INCLUDED


def test_going_out_of_line_again_restarts_the_reinstatement_clock() -> None:
    state = three_exchanges()
    state = update(state, "KRAK", 6_000_000, T0 + MINUTE)
    state, _ = process_index_tick(PARAMS, state, T0 + MINUTE)
    state = update(state, "KRAK", 5_000_000, T0 + 2 * MINUTE)
    state, _ = process_index_tick(PARAMS, state, T0 + 2 * MINUTE)
    state = update(state, "KRAK", 6_000_000, T0 + 4 * MINUTE)
    state, _ = process_index_tick(PARAMS, state, T0 + 4 * MINUTE)
    state = update(state, "KRAK", 5_000_000, T0 + 5 * MINUTE)
    state, _ = process_index_tick(PARAMS, state, T0 + 7 * MINUTE)
    krak = next(c for c in state.constituents if c.reference == "KRAK")
    assert (krak.status, krak.in_line_since_ms) == (ConstituentStatus.EXCLUDED, T0 + 7 * MINUTE)


def test_too_few_constituents_keep_the_last_value_and_say_so() -> None:
    state = three_exchanges()
    state = update(state, "BSTP", 5_100_000, T0 + 10 * MINUTE)
    held, events = process_index_tick(PARAMS, state, T0 + 20 * MINUTE)  # COIN and KRAK stale
    assert (held.value, held.held) == (5_000_000, True)
    assert events[-1] == IndexHeld(value=5_000_000, included=("BSTP",), required=2, time_ms=T0 + 20 * MINUTE)


def test_index_resumes_when_enough_constituents_are_back() -> None:
    state = three_exchanges()
    state, _ = process_index_tick(PARAMS, state, T0 + 20 * MINUTE)  # all stale: held
    for reference in ("BSTP", "COIN"):
        state = update(state, reference, 5_200_000, T0 + 21 * MINUTE)
    state, _ = process_index_tick(PARAMS, state, T0 + 21 * MINUTE)
    state, events = process_index_tick(PARAMS, state, T0 + 26 * MINUTE)
    assert events[-1] == IndexUpdated(value=5_200_000, included=("BSTP", "COIN"), time_ms=T0 + 26 * MINUTE)


def test_price_from_an_unknown_constituent_is_rejected() -> None:
    result = process_constituent_price(three_exchanges(), "NOPE", 5_000_000, T0)
    assert result == IndexRejection(reason="unknown-constituent", detail="NOPE")


def test_non_positive_price_is_rejected() -> None:
    result = process_constituent_price(three_exchanges(), "BSTP", 0, T0)
    assert isinstance(result, IndexRejection)
    assert result.reason == "non-positive-price"


def test_price_from_the_past_is_rejected() -> None:
    result = process_constituent_price(three_exchanges(), "BSTP", 5_000_000, T0 - 1)
    assert isinstance(result, IndexRejection)
    assert result.reason == "time-went-backwards"


@given(
    honest_weights=st.lists(st.integers(min_value=1, max_value=100), min_size=2, max_size=6),
    bad_weight=st.integers(min_value=1, max_value=100),
    price=st.integers(min_value=1_000, max_value=10_000_000),
    bad_price=st.integers(min_value=1, max_value=30_000_000),
)
def test_one_manipulated_constituent_moves_the_index_by_at_most_its_weight_times_band(
    honest_weights: list[int], bad_weight: int, price: int, bad_price: int
) -> None:
    """IDX robustness: honest constituents agree on ``price``; one reports anything.

    The index moves from ``price`` by at most share × band × price (+1 unit of rounding),
    whether the manipulated constituent stays in (within the band) or is excluded.
    """
    rows = tuple((f"H{i}", weight, price) for i, weight in enumerate(honest_weights))
    state = make_index_state((*rows, ("ZBAD", bad_weight, price)), T0, PARAMS)
    state = update(state, "ZBAD", bad_price, T0 + MINUTE)
    after, _ = process_index_tick(PARAMS, state, T0 + MINUTE)
    total_weight = sum(honest_weights) + bad_weight
    bound = bad_weight * PARAMS.band_ppm * price // (total_weight * 1_000_000) + 1
    assert abs(after.value - price) <= bound


def test_one_feed_far_off_among_three_excludes_only_that_feed() -> None:
    """Regression: with 'median of the others' both honest feeds were excluded (median of 50k and 60k)."""
    state = update(three_exchanges(), "KRAK", 6_000_000, T0 + MINUTE)
    after, _ = process_index_tick(PARAMS, state, T0 + MINUTE)
    assert statuses(after) == {
        "BSTP": ConstituentStatus.INCLUDED,
        "COIN": ConstituentStatus.INCLUDED,
        "KRAK": ConstituentStatus.EXCLUDED,
    }


def test_two_feeds_that_disagree_beyond_the_band_hold_the_index() -> None:
    state = make_index_state((("BSTP", 50, 5_000_000), ("COIN", 50, 5_000_000)), T0, PARAMS)
    state = update(state, "COIN", 6_000_000, T0 + MINUTE)
    after, events = process_index_tick(PARAMS, state, T0 + MINUTE)
    assert (after.value, after.held, type(events[-1])) == (5_000_000, True, IndexHeld)


@given(
    honest=st.lists(
        st.tuples(st.integers(min_value=1, max_value=100), st.integers(min_value=-1_000, max_value=1_000)),
        min_size=2,
        max_size=6,
    ),
    bad_weight=st.integers(min_value=1, max_value=100),
    bad_price=st.integers(min_value=1, max_value=30_000_000),
)
def test_manipulation_bound_holds_when_honest_feeds_disagree_slightly(
    honest: list[tuple[int, int]], bad_weight: int, bad_price: int
) -> None:
    """IDX robustness with noise: honest feeds within ±1% of 1,000.00 (well inside the 5% band).

    Against the index where the manipulated feed reports the common level, the move is at
    most share × (band × (level + noise) + 2 × noise) (+1 unit of rounding).
    """
    level = 100_000  # 1,000.00; noise in price units up to ±1,000 = ±1%
    rows = tuple((f"H{i}", weight, level + noise) for i, (weight, noise) in enumerate(honest))
    baseline = make_index_state((*rows, ("ZBAD", bad_weight, level)), T0, PARAMS)
    state = update(baseline, "ZBAD", bad_price, T0 + MINUTE)
    after, _ = process_index_tick(PARAMS, state, T0 + MINUTE)
    noise = max(abs(n) for _, n in honest)
    total_weight = sum(weight for weight, _ in honest) + bad_weight
    allowance = PARAMS.band_ppm * (level + noise) // 1_000_000 + 2 * noise
    bound = bad_weight * allowance // total_weight + 1
    assert (baseline.held, abs(after.value - baseline.value) <= bound) == (False, True)


class IndexMachine(RuleBasedStateMachine):
    """Random feed updates and evaluations; after every evaluation the index rules hold.

    Held: the value is the previous one and an IndexHeld event says so.  Published: the value
    is the weighted average of the included feeds, enough of them, each fresh and in line.
    """

    def __init__(self) -> None:
        super().__init__()
        self.state = three_exchanges()
        self.time_ms = T0

    @rule(
        reference=st.sampled_from(("BSTP", "COIN", "KRAK")),
        move_bps=st.integers(min_value=-1_500, max_value=1_500),
        minutes=st.integers(min_value=0, max_value=6),
    )
    def feed(self, reference: str, move_bps: int, minutes: int) -> None:
        self.time_ms += minutes * MINUTE
        level = self.state.value if self.state.value > 0 else 5_000_000
        self.state = update(self.state, reference, level + level * move_bps // 10_000, self.time_ms)

    @rule(minutes=st.integers(min_value=0, max_value=20))
    def evaluate(self, minutes: int) -> None:
        self.time_ms += minutes * MINUTE
        before = self.state
        self.state, events = process_index_tick(PARAMS, self.state, self.time_ms)
        included = [c for c in self.state.constituents if c.status is ConstituentStatus.INCLUDED]
        event("index held" if self.state.held else f"index published from {len(included)} feeds")
        if self.state.held:
            assert (self.state.value, isinstance(events[-1], IndexHeld)) == (before.value, True)
            return
        expected = compute_weighted_index(tuple(c.price for c in included), tuple(c.weight for c in included))
        median = get_fresh_median(PARAMS, self.state, self.time_ms)
        out_of_line = [
            c.reference
            for c in included
            if not is_fresh(PARAMS, c, self.time_ms) or is_out_of_band(c.price, median, PARAMS.band_ppm)
        ]
        assert (self.state.value, len(included) >= PARAMS.min_constituents, out_of_line) == (expected, True, [])


IndexMachine.TestCase.settings = settings(stateful_step_count=30)
test_index_state_machine = IndexMachine.TestCase
