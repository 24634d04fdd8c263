"""ADL rules at their edges: exact scores, comparison values, eligibility boundaries, pro-rata remainders, the indicator.

Each example sits on the boundary a mutation of the rule would move (found by ``python -m tests.mutation
rules/adl.py``): a PnL of one unit, a candidate compared with itself, a flat position, a bankrupt position of one
contract, equity of exactly zero after the close, a share with a remainder of exactly one lot, an empty queue.
BitMEX semantics: ../shared/reference/bitmex-rules.md, "Auto-Deleveraging".
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from perpspec.rules.adl import (
    AdlCandidate,
    AdlScore,
    ProRataPolicy,
    ProRataShare,
    compare_adl_priority,
    compute_adl_score,
    compute_deleverage_band,
    compute_deleverage_indicators,
    compute_pro_rata_share,
    is_adl_eligible,
    is_strictly_ordered,
)
from perpspec.rules.contract import compute_value
from tests.strategies import BUILTIN

ETHUSD = BUILTIN["ETHUSD"]  # quanto, lot size 1: a position of one contract is real
PRICE = 300_000  # 3,000.00


# -- ADL-001: the score as an exact fraction ---------------------------------------------------------


def test_adl_001_a_profit_of_one_unit_scores_pnl_percent_times_leverage() -> None:
    # PnL 1 on |cost| 100, |markValue| 101 on equity 50: (1/100) * (101/50)
    assert compute_adl_score(101, 100, 50) == AdlScore(num=1 * 101, den=100 * 50)


def test_adl_001_a_loss_of_one_unit_scores_pnl_percent_divided_by_leverage() -> None:
    assert compute_adl_score(99, 100, 50) == AdlScore(num=-1 * 50, den=100 * 99)


def test_adl_001_a_short_with_a_profit_of_one_unit_outranks_a_flat_pnl() -> None:
    # short: cost -100, markValue -99 -> PnL +1
    winner, flat = compute_adl_score(-99, -100, 50), compute_adl_score(-100, -100, 50)
    assert (winner, flat) == (AdlScore(num=99, den=100 * 50), AdlScore(num=0, den=1))
    # the account ids favour the flat one: only the score can put the winner first
    assert compare_adl_priority(winner.num, winner.den, 1, 9, flat.num, flat.den, 1, 1) == 1


# -- ADL-002: the comparison is 1, -1, or 0 for the same candidate ----------------------------------


def test_adl_002_a_candidate_compared_with_itself_is_0() -> None:
    assert compare_adl_priority(1, 2, 500, 3, 1, 2, 500, 3) == 0


def test_adl_002_lower_score_smaller_size_and_larger_id_each_give_minus_1() -> None:
    by_score = compare_adl_priority(1, 3, 900, 1, 1, 2, 100, 9)  # 1/3 < 1/2 despite size and id
    by_size = compare_adl_priority(1, 2, 300, 1, 2, 4, 500, 9)  # equal scores, 300 < 500
    by_id = compare_adl_priority(1, 2, 500, 9, 1, 2, 500, 1)
    assert (by_score, by_size, by_id) == (-1, -1, -1)


def test_adl_002_higher_score_larger_size_and_smaller_id_each_give_exactly_1() -> None:
    by_score = compare_adl_priority(1, 2, 100, 9, 1, 3, 900, 1)
    by_size = compare_adl_priority(2, 4, 500, 9, 1, 2, 300, 1)
    by_id = compare_adl_priority(1, 2, 500, 1, 1, 2, 500, 9)
    assert (by_score, by_size, by_id) == (1, 1, 1)


# -- ADL-008: a comparison of distinct candidates decides ---------------------------------------------


def test_adl_008_only_a_zero_comparison_is_undecided() -> None:
    assert [is_strictly_ordered(c) for c in (-1, 0, 1)] == [True, False, True]


# -- ADL-003: eligibility boundaries ------------------------------------------------------------------


def _eligible(qty: int, bankrupt_qty: int, pool_equity: int, cost_price: int = PRICE) -> bool:
    """A candidate of ``qty`` opened at ``cost_price``; mark and bankruptcy price both at PRICE."""
    cost = compute_value(ETHUSD, qty, cost_price)
    return is_adl_eligible(ETHUSD, qty, cost, pool_equity, PRICE, bankrupt_qty, PRICE)


def test_adl_003_a_flat_position_is_never_eligible() -> None:
    # nothing to close: flat accounts are never deleveraged, whichever side went bankrupt
    assert [_eligible(0, bankrupt, 10**9) for bankrupt in (-1, 1, -100, 100)] == [False] * 4


def test_adl_003_one_contract_on_the_opposite_side_is_eligible() -> None:
    long_vs_short, short_vs_long = _eligible(1, -1, 10**6), _eligible(-1, 1, 10**6)
    assert (long_vs_short, short_vs_long) == (True, True)


def test_adl_003_one_contract_on_the_same_side_is_not_eligible() -> None:
    assert (_eligible(1, 1, 10**6), _eligible(-1, -1, 10**6)) == (False, False)


def test_adl_003_breaking_even_at_the_bankruptcy_price_with_zero_equity_left_is_eligible() -> None:
    # closing at the bankruptcy price (= mark) realises 0 and leaves pool equity exactly 0: not losing, eligible
    assert _eligible(-5, 5, 0) is True


def test_adl_003_negative_pool_equity_is_not_eligible() -> None:
    assert _eligible(-5, 5, -1) is False


def test_adl_003_closing_that_would_leave_negative_equity_is_not_eligible() -> None:
    # a short opened at 3,000.05 closed at a bankruptcy price of 3,000.05 with mark 3,000.00: not losing,
    # but the close costs 5 against the mark and the pool holds only 4
    qty, bankruptcy = -1, PRICE + 5
    cost = compute_value(ETHUSD, qty, bankruptcy)
    edge = is_adl_eligible(ETHUSD, qty, cost, 5, PRICE, 1, bankruptcy)
    below = is_adl_eligible(ETHUSD, qty, cost, 4, PRICE, 1, bankruptcy)
    assert (edge, below) == (True, False)


# -- ADL-011/012: pro-rata shares and remainders ---------------------------------------------------------


def test_adl_012_an_exact_share_is_not_rounded_down() -> None:
    assert compute_pro_rata_share(6, 3, 9) == ProRataShare(lots=2, rounded_down=False)


def test_adl_012_a_remainder_of_one_is_rounded_down() -> None:
    # floor(5 * 2 / 3) = 3, remainder 10 - 9 = 1
    assert compute_pro_rata_share(5, 2, 3) == ProRataShare(lots=3, rounded_down=True)


def test_adl_012_nothing_unfilled_is_an_exact_zero_share() -> None:
    assert compute_pro_rata_share(0, 5, 5) == ProRataShare(lots=0, rounded_down=False)


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(1, 10**7))
def test_adl_012_share_is_the_floor_and_rounded_down_says_whether_a_fraction_was_cut(
    unfilled: int, size: int, total: int
) -> None:
    share = compute_pro_rata_share(unfilled, size, total)
    assert share == ProRataShare(lots=unfilled * size // total, rounded_down=unfilled * size % total != 0)


def test_adl_011_the_leftover_lot_skips_a_candidate_whose_share_was_exact() -> None:
    # 2 of 4 lots: shares 2*2/4 = 1 (exact), 2*1/4 = 0.5, 0.5; the one leftover lot goes to the second
    assert ProRataPolicy().allocate([2, 1, 1], 2) == (1, 1, 0)


# -- ADL-006/007: the indicator -------------------------------------------------------------------------


def test_adl_006_an_empty_queue_shows_five_lights() -> None:
    assert compute_deleverage_band(0, 0) == 5


def test_adl_007_a_single_one_contract_position_is_the_whole_queue() -> None:
    only = AdlCandidate(account_id=7, qty=-1, cost=-100, pool_equity=10, mark_value=-90)
    [indicator] = compute_deleverage_indicators([only])
    assert (indicator.rank, indicator.percentile_ppm, indicator.lights) == (0, 1_000_000, 5)


# -- ADL-001: the floors of one in the score ----------------------------------------------------------


def test_adl_001_equity_of_one_or_less_counts_as_one() -> None:
    # equity <= 0 is the largest leverage; equity 1 is exactly 1
    expected = AdlScore(num=10 * 110, den=100 * 1)
    assert [compute_adl_score(110, 100, equity) for equity in (1, 0, -7)] == [expected] * 3


def test_adl_001_a_cost_of_one_is_not_floored_further() -> None:
    # cost 1, markValue 2: PnL% = 1/1, leverage 2/50
    assert compute_adl_score(2, 1, 50) == AdlScore(num=1 * 2, den=1 * 50)


def test_adl_001_a_mark_value_of_one_is_not_floored_further() -> None:
    # cost 2, markValue 1: PnL% = -1/2, divided by leverage 1/50
    assert compute_adl_score(1, 2, 50) == AdlScore(num=-1 * 50, den=2 * 1)


# -- ADL-011: each pro-rata share is the floor of the exact share, or one more ------------------------------


def test_adl_011_shares_are_taken_of_the_candidates_total() -> None:
    # 4 of 5 lots: exact shares 3.2 and 0.8 -> floors 3 and 0, the leftover lot to the first
    assert ProRataPolicy().allocate([4, 1], 4) == (4, 0)


@given(st.lists(st.integers(0, 1_000), min_size=1, max_size=8), st.integers(0, 10_000))
def test_adl_011_every_share_is_the_floor_of_its_exact_share_or_one_more(sizes: list[int], unfilled: int) -> None:
    total = sum(sizes)
    allocation = ProRataPolicy().allocate(sizes, unfilled)
    if unfilled >= total:
        assert allocation == tuple(sizes)
    else:
        floors = [unfilled * size // total for size in sizes]
        assert all(lots - floor in (0, 1) for lots, floor in zip(allocation, floors, strict=True))
        assert sum(allocation) == unfilled
