"""Order-entry and fill solvency (LIQ-040..048), ADL-003's not-losing clause, and the invariants of issue 13.

The engine-level regressions (the collusion through a ReduceOnly limit sell,
a plain limit sell and cross margin) are in tests/test_engine_solvency.py.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from perpspec.proofs.known_bad_solvency import (
    compute_fill_outcome_without_commission,
    is_adl_eligible_without_not_losing,
    is_order_solvent_at_mark,
)
from perpspec.rules.adl import is_adl_eligible
from perpspec.rules.contract import compute_value
from perpspec.rules.events import AdlFill
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.insurance import InsuranceFund
from perpspec.rules.invariants import StepInfo
from perpspec.rules.invariants_trading import (
    check_adl_not_losing,
    check_no_neg_equity,
    check_reduce_only_fills,
    check_reduce_only_orders_and_fills,
)
from perpspec.rules.liquidation import compute_owing_takeover_price, compute_requirement
from perpspec.rules.margin import CROSS, compute_position_margin
from perpspec.rules.position import FLAT, Position, apply_fill
from perpspec.rules.solvency import (
    EXECUTION_REJECT_TEXT,
    PoolState,
    SolvencyReason,
    check_order_solvency,
    compute_fill_outcome,
    compute_opened_qty,
    compute_pool_equity,
    compute_pool_excess,
    compute_reducing_qty,
    is_fill_allowed,
    is_order_solvent,
)
from perpspec.rules.waterfall import Holding, Ledger, get_opened_qty, get_pool

XBTUSD = load_instrument("XBTUSD")
XBTUSDT = load_instrument("XBTUSDT")
PX = XBTUSD.price_scale  # price units per USD
FEE = XBTUSD.taker_fee_ppm


def _collusion_pool(leverage: int, wallet: int | None = None) -> PoolState:
    """Issue 13's account A: long 60,000 XBTUSD @ 9,000 at 100x (isolated) or cross, margin = posInit + posComm."""
    position, _ = apply_fill(XBTUSD, FLAT, 60_000, 9_000 * PX)
    req = compute_requirement(XBTUSD, position, 10_000, 0)
    margin = req.pos_init + req.pos_comm
    wallet = margin if wallet is None else wallet
    if leverage == CROSS:
        return PoolState(
            position=position, leverage_hundredths=CROSS, chosen_tier=0, pool_margin=wallet, other_pnl=0,
            other_maintenance=0, free_wallet=wallet, account_equity=wallet, available=0,
        )  # fmt: skip
    return PoolState(
        position=position, leverage_hundredths=leverage, chosen_tier=0, pool_margin=margin, other_pnl=0,
        other_maintenance=0, free_wallet=wallet, account_equity=wallet, available=0,
    )  # fmt: skip


def test_isolated_sale_through_the_bankruptcy_price_is_refused_with_bitmex_text() -> None:
    rejection = check_order_solvency(XBTUSD, _collusion_pool(10_000), -60_000, 8_640 * PX, FEE, 9_000 * PX)
    assert rejection is not None
    assert (rejection.reason, rejection.reason.value) == (SolvencyReason.IMMEDIATE_LIQUIDATION, EXECUTION_REJECT_TEXT)


def test_isolated_sale_through_the_bankruptcy_price_is_refused_whatever_the_wallet_holds() -> None:
    # an isolated position risks only its own margin: a rich wallet does not make the sale acceptable
    pool = _collusion_pool(10_000, wallet=10**12)
    assert check_order_solvency(XBTUSD, pool, -60_000, 8_640 * PX, FEE, 9_000 * PX) is not None


def test_cross_sale_through_the_bankruptcy_price_is_refused() -> None:
    assert check_order_solvency(XBTUSD, _collusion_pool(CROSS), -60_000, 8_640 * PX, FEE, 9_000 * PX) is not None


def test_sale_at_mark_is_accepted() -> None:
    assert check_order_solvency(XBTUSD, _collusion_pool(10_000), -60_000, 9_000 * PX, FEE, 9_000 * PX) is None


def test_order_that_only_opens_is_left_to_mrg_060() -> None:
    assert check_order_solvency(XBTUSD, _collusion_pool(10_000), 60_000, 20_000 * PX, FEE, 9_000 * PX) is None


def test_known_bad_check_at_mark_accepts_the_collusion() -> None:
    pool = _collusion_pool(10_000)
    accepted = is_order_solvent_at_mark(XBTUSD, pool, -60_000, 8_640 * PX, FEE, 9_000 * PX)
    outcome = compute_fill_outcome(XBTUSD, pool, -60_000, 8_640 * PX, FEE, 9_000 * PX)
    assert (accepted, outcome.account_equity < 0) == (True, True)


def test_fill_through_the_bankruptcy_price_is_not_allowed_and_the_account_would_owe() -> None:
    pool = _collusion_pool(10_000)
    outcome = compute_fill_outcome(XBTUSD, pool, -60_000, 8_640 * PX, FEE, 9_000 * PX)
    assert is_fill_allowed(XBTUSD, pool, -60_000, 8_640 * PX, FEE, 9_000 * PX) is False
    assert outcome.account_equity < 0


def test_known_bad_fill_outcome_without_commission_misses_the_fee() -> None:
    pool = _collusion_pool(CROSS)
    real = compute_fill_outcome(XBTUSD, pool, -60_000, 9_000 * PX, FEE, 9_000 * PX)
    bad = compute_fill_outcome_without_commission(XBTUSD, pool, -60_000, 9_000 * PX, FEE, 9_000 * PX)
    assert bad.account_equity - real.account_equity == real.commission > 0


def test_outcome_is_what_the_fill_posts() -> None:
    # LIQ-040 for a cross pool: the wallet takes realised PnL less the commission, equity is wallet + PnL at mark
    pool = _collusion_pool(CROSS)  # its account equity is the wallet: no PnL at the entry price
    mark = 9_000 * PX
    outcome = compute_fill_outcome(XBTUSD, pool, -20_000, 8_960 * PX, FEE, mark)
    after, realised = apply_fill(XBTUSD, pool.position, -20_000, 8_960 * PX)
    wallet = pool.pool_margin + realised - outcome.commission
    assert outcome.account_equity == wallet + compute_value(XBTUSD, after.qty, mark) - after.cost


@given(st.integers(-5, 5), st.integers(-5, 5))
def test_opened_qty_matches_the_engine_helper(old_lots: int, new_lots: int) -> None:
    assert compute_opened_qty(old_lots * 100, new_lots * 100) == get_opened_qty(old_lots * 100, new_lots * 100)


def test_reducing_qty_is_the_part_against_the_position() -> None:
    assert [compute_reducing_qty(100, -300), compute_reducing_qty(100, 50), compute_reducing_qty(-100, 40)] == [100, 0, 40]


@given(st.integers(8_000, 9_400))
def test_a_sale_accepted_at_its_price_is_accepted_at_any_better_price(dollars: int) -> None:
    pool = _collusion_pool(10_000)
    price = dollars * PX
    if is_order_solvent(XBTUSD, pool, -60_000, price, FEE, 9_000 * PX):
        assert is_order_solvent(XBTUSD, pool, -60_000, price + XBTUSD.tick_size, FEE, 9_000 * PX)


# -- ADL-003: the not-losing clause matters ----------------------------------------------------------

ADL_MARK, ADL_BANKRUPTCY = 4_900_000, 5_200_000  # XBTUSDT: a long taken over at 52,000, mark 49,000
LOSING_SHORT = Position(qty=-1_000, cost=compute_value(XBTUSDT, -1_000, 5_100_000))  # short 1 lot from 51,000
RICH_MARGIN = 10_000_000  # 10 USDT behind it: closing at 52,000 leaves equity ≥ 0


def test_adl_candidate_losing_at_bankruptcy_is_excluded_only_by_the_not_losing_clause() -> None:
    equity = RICH_MARGIN + compute_value(XBTUSDT, LOSING_SHORT.qty, ADL_MARK) - LOSING_SHORT.cost
    value_at_bk = compute_value(XBTUSDT, LOSING_SHORT.qty, ADL_BANKRUPTCY)
    equity_if_closed = equity + value_at_bk - compute_value(XBTUSDT, LOSING_SHORT.qty, ADL_MARK)
    # every other clause holds: opposite side, equity ≥ 0 now and if closed at the bankruptcy price
    assert (equity >= 0, equity_if_closed >= 0, value_at_bk - LOSING_SHORT.cost < 0) == (True, True, True)
    args = (XBTUSDT, LOSING_SHORT.qty, LOSING_SHORT.cost, equity, ADL_MARK, 1_000, ADL_BANKRUPTCY)
    assert (is_adl_eligible(*args), is_adl_eligible_without_not_losing(*args)) == (False, True)
    _, realised = apply_fill(XBTUSDT, LOSING_SHORT, 1_000, ADL_BANKRUPTCY)
    assert realised == -1_000_000  # what the known-bad rule would make it pay: 1 USDT


# -- the invariants ------------------------------------------------------------------------------------


def _ledger(wallets: dict[tuple[int, str], int], holdings: dict[tuple[int, str], Holding]) -> Ledger:
    return Ledger(
        instrument_map={"XBTUSDT": XBTUSDT},
        marks={"XBTUSDT": ADL_MARK},
        wallets=wallets,
        holdings=holdings,
        funds={"USDt": InsuranceFund(currency="USDt")},
    )


def test_inv_reduce_only_catches_a_flip_by_a_reduce_only_taker() -> None:
    ledger = _ledger({}, {})
    flipped = StepInfo(reduce_only_fills=((1, "XBTUSDT", 100, -200),))
    kept = StepInfo(reduce_only_fills=((1, "XBTUSDT", 300, 100),))
    grown = StepInfo(reduce_only_fills=((1, "XBTUSDT", -100, -200),))
    assert [len(check_reduce_only_fills(ledger, s)) for s in (flipped, kept, grown)] == [1, 0, 1]
    assert len(check_reduce_only_orders_and_fills(ledger, flipped)) == 1


def test_inv_no_neg_equity_flags_a_flat_account_that_owes() -> None:
    """INV-NO-NEG-EQUITY: a flat account below zero is reported, also while the liquidation engine still holds a
    close-out taken from it (its wallet after the take-over is final; session 8 exempted it and hid a debt)."""
    ledger = _ledger({(1, "USDt"): -5, (2, "USDt"): 7}, {})
    owing = ["account 1 USDt: equity -5 < 0 with no position left to liquidate"]
    assert check_no_neg_equity(ledger, StepInfo()) == owing
    assert check_no_neg_equity(ledger, StepInfo(liquidating_accounts=(1,))) == owing


def test_inv_no_neg_equity_judges_account_zero_and_skips_only_the_liquidation_engine() -> None:
    """INV-NO-NEG-EQUITY: account 0 is a trader like any other; only the liquidation engine's id (< 0) is skipped."""
    ledger = _ledger({(0, "USDt"): -1, (-1, "USDt"): -9, (2, "USDt"): 10}, {})
    assert check_no_neg_equity(ledger, StepInfo()) == ["account 0 USDt: equity -1 < 0 with no position left to liquidate"]


def test_inv_no_neg_equity_leaves_an_account_with_a_position_to_the_waterfall() -> None:
    short = Holding(position=LOSING_SHORT)
    ledger = _ledger({(1, "USDt"): -10**9}, {(1, "XBTUSDT"): short})
    assert check_no_neg_equity(ledger, StepInfo()) == []


def _adl_fill(position: Position, close_qty: int, price: int) -> AdlFill:
    return AdlFill(
        rule_id="ADL-020", policy="ranked-queue", pending_id=0, symbol="XBTUSDT", account_id=1, rank=0,
        position_qty=position.qty, position_cost=position.cost, pool_equity=0, score_num=0, score_den=1,
        close_qty=close_qty, price=price, mark_price=ADL_MARK, haircut=0, unfilled_before=1_000,
        unfilled_after=0, equity_after=0,
    )  # fmt: skip


def test_inv_adl_not_losing_flags_a_deleveraged_loser() -> None:
    ledger = _ledger({}, {})
    losing = StepInfo(waterfall_events=(_adl_fill(LOSING_SHORT, -1_000, ADL_BANKRUPTCY),))
    winning_short = Position(qty=-1_000, cost=compute_value(XBTUSDT, -1_000, 5_300_000))
    winning = StepInfo(waterfall_events=(_adl_fill(winning_short, -1_000, ADL_BANKRUPTCY),))
    assert [len(check_adl_not_losing(ledger, s)) for s in (losing, winning)] == [1, 0]


# -- LIQ-036: a pool that already owes is taken over beyond the price range --------------------------

@given(
    st.sampled_from(["XBTUSD", "XBTUSDT", "ETHUSD"]),
    st.integers(1, 200),
    st.integers(1, 100_000),
    st.integers(-(10**10), 10**8),
    st.booleans(),
)
def test_owing_pool_taken_over_at_liq_036_price_is_left_solvent(
    symbol: str, lots: int, entry_units: int, backing: int, long: bool
) -> None:
    inst = load_instrument(symbol)
    entry = min(entry_units * inst.tick_size, inst.max_price)
    qty = lots * inst.lot_size * (1 if long else -1)
    position, _ = apply_fill(inst, FLAT, qty, entry)
    price = compute_owing_takeover_price(inst, position, backing, 0)
    left = backing + compute_value(inst, qty, price) - position.cost
    covered_somewhere = (
        backing + compute_value(inst, qty, 1) - position.cost >= 0
        if not long
        else not inst.is_inverse or (backing - position.cost) // lots >= 1
    )
    if covered_somewhere:
        assert price > 0
        assert left >= 0


def test_owing_long_is_taken_over_above_max_price_and_keeps_the_pool_at_zero_or_more() -> None:
    inst = XBTUSDT
    position, _ = apply_fill(inst, FLAT, 1_000, inst.max_price)
    backing = -compute_value(inst, 1_000, inst.max_price)  # owes its whole entry value already
    price = compute_owing_takeover_price(inst, position, backing, 0)
    assert price > inst.max_price
    assert backing + compute_value(inst, 1_000, price) - position.cost >= 0


def test_negative_extra_isolated_margin_never_shrinks_the_commission_reserve() -> None:
    # state-machine find: an isolated position holding less than posInit + posComm (posCross < 0) showed a
    # posMargin below the margin its pool holds, so the available balance counted part of that margin as free
    # and a withdrawal took it; the account was later left owing when the position was liquidated
    position, _ = apply_fill(XBTUSD, FLAT, 1_000_000, 3_850_000)
    own = compute_requirement(XBTUSD, position, 2_500, 0)
    held = own.pos_init + own.pos_comm - 7_713_410  # 7.7M XBt below the requirement
    pm = compute_position_margin(XBTUSD, position, 3_850_000, 2_500, held - own.pos_init - own.pos_comm)
    assert pm.pos_margin == held


def test_pool_equity_and_excess_are_the_waterfalls_for_a_cross_pool_of_two_positions() -> None:
    # LIQ-047/048 agree with LIQ-030 (rules.waterfall.get_pool): the other position's PnL and maintenance count
    eth = load_instrument("ETHUSD")
    btc_long, _ = apply_fill(XBTUSD, FLAT, 30_000, 9_000 * PX)
    eth_short, _ = apply_fill(eth, FLAT, -200, 30_000)
    marks = {"XBTUSD": 8_800 * PX, "ETHUSD": 31_000}
    ledger = Ledger(
        instrument_map={"XBTUSD": XBTUSD, "ETHUSD": eth},
        marks=marks,
        wallets={(1, "XBt"): 9_000_000},
        holdings={(1, "XBTUSD"): Holding(position=btc_long), (1, "ETHUSD"): Holding(position=eth_short)},
        funds={"XBt": InsuranceFund(currency="XBt")},
    )
    pool = get_pool(ledger, 1, "cross:XBt")
    eth_pnl = compute_value(eth, eth_short.qty, marks["ETHUSD"]) - eth_short.cost
    eth_maint = compute_requirement(eth, eth_short, CROSS, 0).pos_maint
    state = PoolState(
        position=btc_long, leverage_hundredths=CROSS, chosen_tier=0, pool_margin=9_000_000, other_pnl=eth_pnl,
        other_maintenance=eth_maint, free_wallet=9_000_000, account_equity=pool.equity, available=0,
    )  # fmt: skip
    assert (compute_pool_equity(XBTUSD, state, marks["XBTUSD"]), compute_pool_excess(XBTUSD, state, marks["XBTUSD"])) == (
        pool.equity,
        pool.excess,
    )
    # and a fill's outcome moves both by exactly what the fill posts
    outcome = compute_fill_outcome(XBTUSD, state, -10_000, 8_790 * PX, FEE, marks["XBTUSD"])
    after, realised = apply_fill(XBTUSD, btc_long, -10_000, 8_790 * PX)
    wallet = 9_000_000 + realised - outcome.commission
    btc_pnl = compute_value(XBTUSD, after.qty, marks["XBTUSD"]) - after.cost
    assert (outcome.pool_equity, outcome.account_equity) == (wallet + eth_pnl + btc_pnl, wallet + eth_pnl + btc_pnl)
    assert outcome.maintenance == eth_maint + compute_requirement(XBTUSD, after, CROSS, 0).pos_maint


def test_liq_049_the_pool_after_a_fill_is_liq_040s_outcome_with_the_wallet_moved_by_realised_less_commission() -> None:
    """LIQ-049: apply_fill_to_pool posts exactly compute_fill_outcome, and only the filled position moves."""
    from perpspec.rules.solvency import PoolState, apply_fill_to_pool, compute_fill_outcome

    inst = load_instrument("XBTUSD")
    pool = PoolState(
        position=Position(qty=60_000, cost=-666_660_000), leverage_hundredths=CROSS, chosen_tier=0,
        pool_margin=50_000_000, other_pnl=1_000, other_maintenance=2_000, free_wallet=50_000_000,
        account_equity=40_000_000, available=0,
    )
    after = apply_fill_to_pool(inst, pool, -20_000, 880_000, 750, 890_000)
    outcome = compute_fill_outcome(inst, pool, -20_000, 880_000, 750, 890_000)
    assert after.position == outcome.position == Position(qty=40_000, cost=outcome.position.cost)
    assert after.pool_margin == outcome.pool_margin
    assert after.free_wallet == pool.free_wallet + outcome.realised - outcome.commission
    assert (after.other_pnl, after.other_maintenance, after.chosen_tier) == (1_000, 2_000, 0)
    assert outcome.commission > 0  # the fill paid its fee, and the wallet shows it


def test_mrg_013_the_unclamped_threshold_goes_beyond_max_price_where_mrg_010_clamps() -> None:
    """MRG-013: a linear long whose margin is already far below its reserve needs a price above maxPrice."""
    from perpspec.rules.margin import compute_threshold_price, compute_unclamped_threshold_price

    inst = load_instrument("XBTUSDT")
    qty, cost = 1_000 * inst.lot_size, 0
    inside = compute_unclamped_threshold_price(inst, qty, cost, margin=10**9, reserve=0)
    assert inside == 1  # safe at every price: one price unit, not clamped up to the tick
    assert compute_threshold_price(inst, qty, cost, margin=10**9, reserve=0) == inst.tick_size
    owing = compute_unclamped_threshold_price(inst, qty, 10**15, margin=-(10**15), reserve=0)
    assert owing > inst.max_price
    assert compute_threshold_price(inst, qty, 10**15, margin=-(10**15), reserve=0) == inst.max_price
    assert compute_unclamped_threshold_price(inst, 0, 0, margin=0, reserve=0) == 0


def test_liq_041_an_order_is_safe_at_or_above_maintenance_or_when_no_worse() -> None:
    """LIQ-041: excess after ≥ 0 is safe; a negative excess is safe only when it is no worse than before."""
    from perpspec.rules.solvency import is_execution_safe

    # (excess before, excess after)
    assert is_execution_safe(-5, 0)
    assert is_execution_safe(-5, -5)
    assert is_execution_safe(-5, -4)
    assert not is_execution_safe(-5, -6)
    assert not is_execution_safe(0, -1)
