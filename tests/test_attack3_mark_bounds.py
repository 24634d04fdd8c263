"""Attack review 3: MRK-013's mark stays within the prices a mark update can carry, ``[tickSize, maxPrice]``.

Found by the session-6 attack review; fixed in rules/mark.py (``process_mark_update`` holds the mark at the
bound).  Severity was low-medium: from valid inputs (index ≤ maxPrice) the rule returned marks above
``maxPrice``, which the engine refuses (``PriceUpdate``: InvalidPrice, "prices must be integers in (0,
maxPrice]"): a venue feeding the rule's mark to its engine would keep a stale mark while the market moved, and
positions would not be liquidated at the true price.  ``perpspec simulate`` held the mark at the bound itself
(``min(max(mark, tickSize), maxPrice)``), so the shipped scenarios never showed it; the rule now does the same,
so their bytes are unchanged.

Reproductions (before the fix):

* XBTUSD (FairPrice, perpetual) with the index at maxPrice (1,000,000.00) and the funding cap's rate
  (+0.375%) for a whole interval: mark 1,003,750.00 > maxPrice.
* XBTZ26 (FairPrice, dated future), 90 days before expiry: the % fair basis is refreshed with the impact mid at
  twice the index (index 50,000.00, mid 100,000.00, spread narrow): basis 4.0555…; the book then thins (no
  impact prices, the basis is kept) while the index rises to 600,000.00: mark 1,199,999.92 > maxPrice 1,000,000.00.

Rules: MRK-013 (process_mark_update), MRK-005/007 (fair prices), MRK-016.
"""

from __future__ import annotations

from perpspec.rules.impact import ImpactPrices
from perpspec.rules.instrument_file import load_builtin_instruments
from perpspec.rules.mark import MarkInputs, MarkState, process_mark_update

INSTRUMENTS = load_builtin_instruments()
HOURS_8 = 8 * 3_600_000


def test_mrk_013_a_perpetual_at_max_price_with_a_positive_basis_is_held_at_max_price() -> None:
    inst = INSTRUMENTS["XBTUSD"]
    inputs = MarkInputs(
        time_ms=0, index_price=inst.max_price, funding_rate_e8=375_000, funding_until_ms=HOURS_8,
        funding_interval_ms=HOURS_8,
    )
    _, updated = process_mark_update(inst, MarkState(), inputs)
    assert updated.fair_price == 100_375_000  # the fair price itself is reported as computed
    assert updated.mark_price == inst.max_price  # before the fix: 100,375,000


def test_mrk_013_a_kept_futures_basis_never_takes_the_mark_past_max_price() -> None:
    inst = INSTRUMENTS["XBTZ26"]
    assert inst.expiry_ms is not None
    start = inst.expiry_ms - 90 * 86_400_000
    mid = 10_000_000
    state, first = process_mark_update(
        inst, MarkState(), MarkInputs(time_ms=start, index_price=5_000_000,
                                      impact=ImpactPrices(bid=mid - 50, ask=mid + 50, mid=mid)),
    )
    assert first.basis_refreshed
    assert first.mark_price == mid
    _, later = process_mark_update(inst, state, MarkInputs(time_ms=start + 1_000, index_price=60_000_000))
    assert later.fair_price == 119_999_992
    assert later.mark_price == inst.max_price  # before the fix: 119,999,992


def test_mrk_013_a_mark_below_one_tick_is_held_at_one_tick() -> None:
    inst = INSTRUMENTS["XBTUSD"]
    _, updated = process_mark_update(inst, MarkState(), MarkInputs(time_ms=0, index_price=1))
    assert updated.mark_price == inst.tick_size


def test_mrk_013_inside_the_range_nothing_changes() -> None:
    inst = INSTRUMENTS["XBTUSD"]
    inputs = MarkInputs(time_ms=0, index_price=5_000_000, funding_rate_e8=10_000, funding_until_ms=HOURS_8 // 2,
                        funding_interval_ms=HOURS_8)
    _, updated = process_mark_update(inst, MarkState(), inputs)
    assert updated.mark_price == updated.fair_price == 5_000_250
