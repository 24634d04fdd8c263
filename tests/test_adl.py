"""ADL: ranking (exact fractions, strict total order), eligibility at the bankruptcy price, policies, indicator."""

from __future__ import annotations

import itertools

import attrs
from hypothesis import given
from hypothesis import strategies as st

from perpspec.proofs.known_bad_waterfall import (
    compare_adl_priority_without_tie_break,
    compute_adl_fund_delta_at_mark,
    is_adl_eligible_by_mark_profit,
)
from perpspec.rules.adl import (
    AdlCandidate,
    AdlScore,
    ProRataPolicy,
    RankedQueuePolicy,
    compare_adl_priority,
    compare_candidates,
    compute_adl_score,
    compute_deleverage_indicators,
    compute_haircut,
    compute_pro_rata_allocation,
    compute_queue_allocation,
    is_adl_eligible,
    rank_candidates,
)
from perpspec.rules.contract import compute_value
from perpspec.rules.events import AdlFill
from perpspec.rules.insurance import compute_fill_delta
from perpspec.rules.invariants import StepInfo
from perpspec.rules.invariants_trading import check_adl_minimal, check_adl_order, check_flat_no_social_loss
from perpspec.rules.position import Position, apply_fill
from perpspec.rules.waterfall import Ledger
from tests.strategies import BUILTIN
from tests.test_crash_scenario import load_scenario, run_scenario

XBTUSDT = BUILTIN["XBTUSDT"]  # one lot = 1_000 contracts; value = qty * price / 100 USDt


def test_profitable_score_is_pnl_percent_times_leverage() -> None:
    # PnL% = 10/100, leverage = 110/50: score = 1100/5000
    assert compute_adl_score(110, 100, 50) == AdlScore(num=10 * 110, den=100 * 50)


def test_losing_score_is_pnl_percent_divided_by_leverage() -> None:
    # PnL% = -10/100, leverage = 90/50: score = (-10/100) * (50/90)
    assert compute_adl_score(90, 100, 50) == AdlScore(num=-10 * 50, den=100 * 90)


def test_zero_pnl_scores_zero_between_winners_and_losers() -> None:
    zero = compute_adl_score(100, 100, 50)
    winner, loser = compute_adl_score(101, 100, 50), compute_adl_score(99, 100, 50)
    assert (zero, compare_adl_priority(winner.num, winner.den, 1, 1, zero.num, zero.den, 1, 2)) == (
        AdlScore(num=0, den=1),
        1,
    )
    assert compare_adl_priority(zero.num, zero.den, 1, 1, loser.num, loser.den, 1, 2) == 1


def test_equal_scores_rank_the_larger_position_first() -> None:
    assert compare_adl_priority(1, 2, 500, 9, 2, 4, 300, 1) == 1


def test_equal_scores_and_sizes_rank_the_smaller_account_id_first() -> None:
    assert (compare_adl_priority(1, 2, 500, 3, 1, 2, 500, 7), compare_adl_priority(1, 2, 500, 7, 1, 2, 500, 3)) == (1, -1)


def test_known_bad_ranking_without_tie_break_is_not_strict() -> None:
    # two distinct accounts with equal scores compare equal: the queue order would be arbitrary
    assert (compare_adl_priority_without_tie_break(1, 2, 500, 3, 1, 2, 500, 7), compare_adl_priority(1, 2, 500, 3, 1, 2, 500, 7)) == (0, 1)


candidates_strategy = st.lists(
    st.builds(
        AdlCandidate,
        account_id=st.integers(min_value=0, max_value=10**6),
        qty=st.integers(min_value=-10**6, max_value=10**6).filter(lambda qty: qty != 0),
        cost=st.integers(min_value=-10**9, max_value=10**9),
        pool_equity=st.integers(min_value=-10**6, max_value=10**9),
        mark_value=st.integers(min_value=-10**9, max_value=10**9),
    ),
    max_size=8,
    unique_by=lambda candidate: candidate.account_id,
)


@given(candidates_strategy)
def test_ranking_is_a_strict_total_order(candidates: list[AdlCandidate]) -> None:
    ranked = rank_candidates(candidates)
    orders = {compare_candidates(a, b) for a, b in itertools.combinations(ranked, 2)}
    assert orders <= {1}


@given(candidates_strategy)
def test_ranking_does_not_depend_on_input_order(candidates: list[AdlCandidate]) -> None:
    assert rank_candidates(candidates) == rank_candidates(list(reversed(candidates)))


# -- eligibility: at the bankruptcy price, not at mark --------------------------------------------

SHORT = Position(qty=-1_000, cost=compute_value(XBTUSDT, -1_000, 5_000_000))  # short 1 lot from 50,000
MARK, BANKRUPTCY = 4_900_000, 5_200_000  # a long gapped: mark 49,000, its bankruptcy price 52,000
MARGIN = 500_000  # 0.5 USDT behind the short


def _equity(position: Position, margin: int) -> int:
    return margin + compute_value(XBTUSDT, position.qty, MARK) - position.cost


def test_position_profitable_at_mark_but_losing_at_bankruptcy_is_not_eligible() -> None:
    equity = _equity(SHORT, MARGIN)
    assert is_adl_eligible(XBTUSDT, SHORT.qty, SHORT.cost, equity, MARK, 1_000, BANKRUPTCY) is False


def test_known_bad_eligibility_by_mark_profit_leaves_negative_equity() -> None:
    equity = _equity(SHORT, MARGIN)
    eligible = is_adl_eligible_by_mark_profit(XBTUSDT, SHORT.qty, SHORT.cost, equity, MARK, 1_000, BANKRUPTCY)
    after, realised = apply_fill(XBTUSDT, SHORT, 1_000, BANKRUPTCY)  # closed at the bankruptcy price
    assert (eligible, equity, _equity(after, MARGIN + realised)) == (True, 1_500_000, -1_500_000)


def test_position_not_losing_at_bankruptcy_is_eligible() -> None:
    short = Position(qty=-1_000, cost=compute_value(XBTUSDT, -1_000, 5_300_000))  # short from 53,000
    equity = _equity(short, MARGIN)
    assert is_adl_eligible(XBTUSDT, short.qty, short.cost, equity, MARK, 1_000, BANKRUPTCY) is True


def test_same_side_position_is_never_eligible() -> None:
    long = Position(qty=1_000, cost=compute_value(XBTUSDT, 1_000, 4_000_000))
    assert is_adl_eligible(XBTUSDT, long.qty, long.cost, 10**9, MARK, 1_000, BANKRUPTCY) is False


def test_known_bad_adl_at_mark_charges_the_fund() -> None:
    # closing the candidate at mark instead of the bankruptcy price: the engine loses 3 USDT against its
    # take-over price, charged to an empty fund; at the bankruptcy price the engine's delta is 0
    at_mark = compute_adl_fund_delta_at_mark(XBTUSDT, -1_000, MARK, BANKRUPTCY)
    at_bankruptcy = compute_fill_delta(XBTUSDT, 1_000, BANKRUPTCY, BANKRUPTCY)
    assert (0 + at_mark, at_bankruptcy) == (-3_000_000, 0)


def test_haircut_is_the_profit_given_up_against_the_mark() -> None:
    # a short closed at 52,000 instead of 49,000 gives up 3 USDT a lot
    assert compute_haircut(XBTUSDT, -1_000, MARK, BANKRUPTCY) == 3_000_000


# -- policies ------------------------------------------------------------------------------------


def test_ranked_queue_closes_the_top_first() -> None:
    assert RankedQueuePolicy().allocate([3, 3, 3], 5) == (3, 2, 0)


def test_pro_rata_floors_then_gives_leftover_lots_in_ranking_order() -> None:
    # 5 of 9 lots: each share floor(5*3/9) = 1, two lots left over -> the top two
    assert ProRataPolicy().allocate([3, 3, 3], 5) == (2, 2, 1)


def test_pro_rata_closes_everyone_in_full_when_short_of_quantity() -> None:
    assert ProRataPolicy().allocate([3, 4], 10) == (3, 4)


def test_pro_rata_skips_shares_that_were_exact() -> None:
    # 6 of 9: shares 2, 2, 2 exactly, nothing left over
    assert compute_pro_rata_allocation([3, 3, 3], 6) == (2, 2, 2)


@given(
    st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=12),
    st.integers(min_value=0, max_value=10**7),
    st.sampled_from((compute_pro_rata_allocation, compute_queue_allocation)),
)
def test_allocation_is_exact_and_within_sizes(sizes: list[int], unfilled: int, allocate: object) -> None:
    assert callable(allocate)
    allocation = allocate(sizes, unfilled)
    within = all(0 <= lots <= size for lots, size in zip(allocation, sizes, strict=True))
    assert (within, sum(allocation)) == (True, min(unfilled, sum(sizes)))


# -- the indicator -------------------------------------------------------------------------------


def test_deleverage_indicator_shows_20_percent_bands() -> None:
    candidates = [
        AdlCandidate(account_id=account, qty=-100, cost=-1_000, pool_equity=100, mark_value=-1_000 + 10 * account)
        for account in range(1, 6)
    ]
    indicators = compute_deleverage_indicators(candidates)
    assert [(i.account_id, i.lights, i.percentile_ppm) for i in indicators] == [
        (5, 5, 1_000_000),
        (4, 4, 800_000),
        (3, 3, 600_000),
        (2, 2, 400_000),
        (1, 1, 200_000),
    ]


# -- the invariant checks can fail -----------------------------------------------------------------


def crash_adl_fills() -> tuple[Ledger, list[AdlFill]]:
    """The crash scenario's final ledger and its ADL fills (real events to perturb)."""
    run = run_scenario(load_scenario())
    return run.final, [event for event in run.events if isinstance(event, AdlFill)]


def test_adl_order_check_flags_fills_out_of_ranking_order() -> None:
    ledger, fills = crash_adl_fills()
    first, second = next((a, b) for a, b in itertools.pairwise(fills) if a.pending_id == b.pending_id)
    ok = check_adl_order(ledger, StepInfo(waterfall_events=(first, second)))
    swapped = check_adl_order(ledger, StepInfo(waterfall_events=(second, first)))
    assert (ok, len(swapped)) == ([], 1)


def test_adl_minimal_check_flags_closing_more_than_unfilled() -> None:
    ledger, fills = crash_adl_fills()
    fill = fills[0]
    too_much = attrs.evolve(fill, unfilled_before=abs(fill.close_qty) - 100, unfilled_after=-100)
    ok = check_adl_minimal(ledger, StepInfo(waterfall_events=(fill,)))
    flagged = check_adl_minimal(ledger, StepInfo(waterfall_events=(too_much,)))
    assert (ok, len(flagged) >= 1) == ([], True)


def test_flat_check_flags_a_deleveraged_flat_account() -> None:
    ledger, fills = crash_adl_fills()
    fill = fills[0]
    flat = ((fill.account_id, "XBt", 0),)
    assert check_flat_no_social_loss(ledger, StepInfo(waterfall_events=(fill,), flat_before=flat)) == [
        f"account {fill.account_id}: deleveraged while flat"
    ]


def test_adl_031_fund_cover_adds_the_held_pnl_at_mark_to_the_fund() -> None:
    from perpspec.rules.adl import compute_fund_cover, compute_held_pnl
    from perpspec.rules.instrument_file import load_instrument

    xbtusd = load_instrument("XBTUSD")
    # the liquidation engine holds a long of 10,000 USD taken over at 50,000; mark is 45,000
    held = compute_held_pnl(xbtusd, 10_000, 5_000_000, 4_500_000)
    assert held == -(100 * 222_222 - 100 * 200_000)  # per-lot values of 100 contracts: 222,222 vs 200,000
    assert compute_fund_cover(2_222_200, (held,)) == 0  # exactly covered: no ADL yet
    assert compute_fund_cover(2_222_199, (held,)) == -1  # one satoshi short: the fund is depleted, ADL


def test_deleverage_indicator_bands_by_cumulative_quantity_not_by_rank() -> None:
    # one big position ahead holds half the queue: the second position shows 3 lights, not 4 (ADL-006/007)
    sizes = {1: 500, 2: 100, 3: 100, 4: 200, 5: 100}
    candidates = [
        # PnL% = (6 - account) / 10 at leverage 1: ranked by account id
        AdlCandidate(
            account_id=account, qty=-size, cost=-10 * size, pool_equity=(4 + account) * size, mark_value=-(4 + account) * size
        )
        for account, size in sizes.items()
    ]
    indicators = compute_deleverage_indicators(candidates)
    assert [(i.account_id, i.lights, i.percentile_ppm) for i in indicators] == [
        (1, 5, 1_000_000),
        (2, 3, 500_000),
        (3, 2, 400_000),
        (4, 2, 300_000),
        (5, 1, 100_000),
    ]
