"""IDX-002/003 at the smallest median: a constituent is judged against a median of one price unit like any other.

Found by ``python -m tests.mutation rules/index.py`` (issue 13, ``median > 0`` -> ``median > 1`` on line 219): the
``median > 0`` test only stands for "some constituent is fresh" (IDX-008 gives 0 when none is, and every fresh
price is positive), so a median of exactly one price unit (0.01 USD) must still exclude a constituent beyond the
band.  Nothing priced an index that low.
"""

from __future__ import annotations

from perpspec.rules.index import (
    ConstituentExcluded,
    ConstituentStatus,
    IndexParams,
    IndexState,
    IndexUpdated,
    get_fresh_median,
    make_index_state,
    process_constituent_price,
    process_index_tick,
)

PARAMS = IndexParams()  # 5% band, at least 2 constituents
T0 = 60_000_000


def test_idx_003_a_constituent_far_from_a_median_of_one_price_unit_is_excluded_for_deviation() -> None:
    state = make_index_state((("BSTP", 40, 1), ("COIN", 40, 1), ("KRAK", 20, 1)), T0, PARAMS)
    moved = process_constituent_price(state, "KRAK", 2, T0 + 1)  # 0.02: 100% above the median of 0.01
    assert isinstance(moved, IndexState)
    assert get_fresh_median(PARAMS, moved, T0 + 1) == 1
    after, events = process_index_tick(PARAMS, moved, T0 + 1)
    assert events == (
        ConstituentExcluded(reference="KRAK", reason="deviation", price=2, median=1, time_ms=T0 + 1),
        IndexUpdated(value=1, included=("BSTP", "COIN"), time_ms=T0 + 1),
    )
    assert [c.status for c in after.constituents] == [
        ConstituentStatus.INCLUDED,
        ConstituentStatus.INCLUDED,
        ConstituentStatus.EXCLUDED,
    ]
