"""Tests that stand in for proofs of @concrete rules no other test names (waived in specs/waivers.toml).

Each test names its rule id and checks the rule's documented behaviour on
concrete records, both the case that acts and the case that does not.
"""

from __future__ import annotations

import attrs

from perpspec.rules.adl import RankedQueuePolicy
from perpspec.rules.contract import compute_value
from perpspec.rules.funding import PremiumInputs, get_interest_daily_e8
from perpspec.rules.impact import ImpactPrices
from perpspec.rules.index import (
    ConstituentExcluded,
    IndexParams,
    IndexState,
    get_fresh_median,
    make_index_state,
    process_constituent_price,
    process_index_tick,
)
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.insurance import InsuranceFund
from perpspec.rules.invariants import StepInfo, check_all
from perpspec.rules.liquidation import compute_requirement
from perpspec.rules.mark import (
    MarkInputs,
    MarkState,
    compute_fair_basis_rate_e8,
    compute_fair_price,
    compute_futures_fair_price,
    compute_perpetual_fair_price,
)
from perpspec.rules.position import Position
from perpspec.rules.waterfall import (
    Holding,
    Ledger,
    Recorder,
    close_out,
    get_pool_keys,
    liquidate_pool,
    process_fund_deposit,
)

XBTUSD = load_instrument("XBTUSD")
XBTZ26 = load_instrument("XBTZ26")
MINUTE = 60_000
T0 = 1_000 * MINUTE
PARAMS = IndexParams()


def _ledger(wallets: dict[tuple[int, str], int], holdings: dict[tuple[int, str], Holding], mark: int) -> Ledger:
    deposits = {"XBt": sum(wallets.values()) - sum(h.position.cost for h in holdings.values())}
    return Ledger(
        instrument_map={"XBTUSD": XBTUSD},
        marks={"XBTUSD": mark},
        wallets=wallets,
        holdings=holdings,
        funds={"XBt": InsuranceFund(currency="XBt")},
        deposits=deposits,
    )


def _gapped_isolated_long(mark: int) -> Ledger:
    position = Position(qty=100_000, cost=compute_value(XBTUSD, 100_000, 5_000_000))
    iso = compute_requirement(XBTUSD, position, 2_500, 0)
    holdings = {
        (1, "XBTUSD"): Holding(position=position, leverage_hundredths=2_500, isolated_margin=iso.pos_init + iso.pos_comm),
        (2, "XBTUSD"): Holding(position=Position(qty=-100_000, cost=-position.cost)),
    }
    return _ledger({(1, "XBt"): 10**8, (2, "XBt"): 10**8}, holdings, mark)


def test_fnd_017_fixed_interest_ignores_the_indices_and_otherwise_is_quote_minus_base() -> None:
    """FND-017: fixed 0.01%/day → 10_000 e8; floating → quote − base."""
    inputs = PremiumInputs(
        impact_bid=None, impact_ask=None, mark_price=1, spot_price=1, fair_basis_e8=0, quote_daily_e8=900, base_daily_e8=300
    )
    fixed = attrs.evolve(XBTUSD, fixed_interest_daily_ppm=100)
    floating = attrs.evolve(XBTUSD, fixed_interest_daily_ppm=None)
    assert (get_interest_daily_e8(fixed, inputs), get_interest_daily_e8(floating, inputs)) == (10_000, 600)


def _three(price: int = 5_000_000) -> IndexState:
    return make_index_state((("BSTP", 40, price), ("COIN", 40, price), ("KRAK", 20, price)), T0, PARAMS)


def _update(state: IndexState, reference: str, price: int, time_ms: int) -> IndexState:
    result = process_constituent_price(state, reference, price, time_ms)
    assert isinstance(result, IndexState), result
    return result


def test_idx_003_a_deviating_constituent_is_excluded_for_deviation_and_a_silent_one_for_staleness() -> None:
    """IDX-003 (through IDX-004): exclusion reasons are "deviation" and "stale"."""
    state = _update(_three(), "KRAK", 6_000_000, T0 + MINUTE)  # 20% above the others
    state = _update(state, "BSTP", 5_000_000, T0 + MINUTE)
    _, events = process_index_tick(PARAMS, state, T0 + MINUTE)
    deviation = [(e.reference, e.reason) for e in events if isinstance(e, ConstituentExcluded)]
    _, later = process_index_tick(PARAMS, _update(_three(), "BSTP", 5_000_000, T0 + 15 * MINUTE), T0 + 15 * MINUTE)
    stale = sorted((e.reference, e.reason) for e in later if isinstance(e, ConstituentExcluded))
    assert (deviation, stale) == ([("KRAK", "deviation")], [("COIN", "stale"), ("KRAK", "stale")])


def test_idx_008_fresh_median_skips_stale_constituents_and_is_zero_when_none_is_fresh() -> None:
    """IDX-008: the median of the fresh constituents only; 0 when none is fresh."""
    state = _update(_three(), "BSTP", 5_100_000, T0 + 10 * MINUTE)
    state = _update(state, "COIN", 5_300_000, T0 + 10 * MINUTE)
    # at T0 + 15 min KRAK (last price at T0) is stale: the median is of BSTP and COIN only
    assert (get_fresh_median(PARAMS, state, T0 + 15 * MINUTE), get_fresh_median(PARAMS, state, T0 + 60 * MINUTE)) == (
        5_200_000,
        0,
    )


def test_ins_008_a_fund_deposit_raises_the_fund_and_net_deposits_together() -> None:
    """INS-008: fund and net deposits rise by the amount; every invariant still holds."""
    ledger = _gapped_isolated_long(5_000_000)
    after, movement = process_fund_deposit(ledger, "XBt", 12_345)
    assert (after.insurance("XBt"), after.deposits["XBt"] - ledger.deposits["XBt"], movement.rule_id) == (12_345, 12_345, "INS-008")
    assert {inv: problems for inv, problems in check_all(after, StepInfo()).items() if problems} == {}


def test_liq_031_a_pool_above_maintenance_is_left_alone_and_one_below_is_taken_over() -> None:
    """LIQ-031: a no-op above maintenance; below it the position is taken over."""
    safe = _gapped_isolated_long(5_000_000)
    gapped = _gapped_isolated_long(4_700_000)
    keys = get_pool_keys(gapped, 1)
    iso_key = next(key for key in keys if "XBTUSD" in key)
    rec_safe, rec_gapped = Recorder(), Recorder()
    untouched = liquidate_pool(safe, {}, 1, iso_key, rec_safe)
    taken = liquidate_pool(gapped, {}, 1, iso_key, rec_gapped)
    assert (untouched, rec_safe.events) == (safe, [])
    assert (taken.holdings[(1, "XBTUSD")].position.qty, len(taken.pending), taken.pending[0].qty) == (0, 1, 100_000)


def test_liq_032_a_close_out_with_an_empty_book_and_fund_deleverages_the_opposite_position() -> None:
    """LIQ-032: no book, no fund: ADL closes the opposite position; invariants hold."""
    ledger = liquidate_pool(_gapped_isolated_long(4_700_000), {}, 1, next(k for k in get_pool_keys(_gapped_isolated_long(4_700_000), 1) if "XBTUSD" in k), Recorder())
    item = ledger.pending[0]
    rec = Recorder()
    after, rest = close_out(ledger, {}, item, RankedQueuePolicy(), rec)
    assert (rest, after.holdings[(2, "XBTUSD")].position.qty, after.insurance("XBt") >= 0) == (0, 0, True)
    assert {inv: problems for inv, problems in check_all(after, StepInfo()).items() if problems} == {}


def test_mrk_016_perpetual_fair_price_follows_the_funding_basis() -> None:
    """MRK-016: a perpetual's fair price is MRK-005 of the funding rate."""
    inputs = MarkInputs(time_ms=T0, index_price=5_000_000, funding_rate_e8=10_000, funding_until_ms=4 * 3_600_000, funding_interval_ms=8 * 3_600_000)
    fair, _, refreshed = compute_fair_price(XBTUSD, MarkState(), inputs)
    assert (fair, refreshed) == (compute_perpetual_fair_price(5_000_000, 10_000, 4 * 3_600_000, 8 * 3_600_000), False)


def test_mrk_016_futures_basis_is_refreshed_when_due_and_the_spread_is_narrow_and_kept_otherwise() -> None:
    """MRK-016: the % fair basis is refreshed when due and narrow, kept otherwise."""
    assert XBTZ26.expiry_ms is not None
    time_ms = XBTZ26.expiry_ms - 30 * 86_400_000
    narrow = ImpactPrices(bid=10_490_000, ask=10_510_000, mid=10_500_000)
    inputs = MarkInputs(time_ms=time_ms, index_price=10_000_000, impact=narrow)
    fair, basis, refreshed = compute_fair_price(XBTZ26, MarkState(), inputs)
    expected_basis = compute_fair_basis_rate_e8(10_500_000, 10_000_000, 30 * 86_400_000)
    assert (basis, refreshed, fair) == (expected_basis, True, compute_futures_fair_price(10_000_000, expected_basis, 30 * 86_400_000))
    recent = MarkState(fair_basis_e8=7, basis_refreshed_ms=time_ms - 1_000)
    _, kept, again = compute_fair_price(XBTZ26, recent, inputs)
    assert (kept, again) == (7, False)
