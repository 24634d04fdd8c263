"""MRG boundaries: the edges of the margin rules that no other test reached (issue 13, margin.py mutants).

Each test pins a value the rulebook states — at an equality, at one minor unit, at the per-lot step 0 or 1,
on a second member of a pool — computed by hand in the comments, and goes through the rule functions.
"""

from __future__ import annotations

import attrs

from perpspec.engine.audit.ledger import Ledger
from perpspec.rules.contract import compute_value
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_instrument, validate
from perpspec.rules.invariants import compute_view_account_margin
from perpspec.rules.margin import (
    FUNDING_RATE_UNIT,
    MarginReason,
    MarginRejection,
    check_transfer_margin,
    compute_account_margin,
    compute_adverse_funding,
    compute_cross_backing,
    compute_equity,
    compute_order_requirement,
    compute_position_backing,
    compute_position_margin,
    compute_threshold_price,
    compute_unclamped_threshold_price,
)
from perpspec.rules.order_margin import (
    OrderMargin,
    OrderSide,
    compute_contract_order_margin,
    compute_order_charge_price,
    compute_order_margin,
    compute_order_sides,
)
from perpspec.rules.position import FLAT, Position, apply_fill

XBTUSD = load_instrument("XBTUSD")  # inverse, lot 100, tick 50 price units, maxPrice 1e8 price units
ETHUSD = load_instrument("ETHUSD")  # quanto, lot 1, value = qty × price (price units) XBt
CROSS = 0
ISOLATED_5X = 500


def usd(value: int) -> int:
    """A price in price units (scale 100)."""
    return value * 100


def open_position(inst: Instrument, qty: int, price: int) -> Position:
    position, _ = apply_fill(inst, FLAT, qty, price)
    return position


# --- MRG-006: the adverse funding reserve -----------------------------------------------------------


def test_mrg_006_adverse_funding_is_in_units_of_1e_8_and_rounds_up() -> None:
    """MRG-006: 1.00000001 XBT of cost at a rate of 1e-8 owes 1.00000001 XBt: the reserve is 2, never 1."""
    assert FUNDING_RATE_UNIT == 100_000_000
    assert compute_adverse_funding(100_000_001, 1, 1) == 2  # a long, longs pay
    assert compute_adverse_funding(100_000_001, -1, -1) == 2  # a short, shorts pay
    assert compute_adverse_funding(100_000_000, 1, 1) == 1  # exact: no rounding
    assert compute_adverse_funding(100_000_000, 1, 1_000_000) == 1_000_000  # 1% of 1 XBT


# --- MRG-013: the per-lot step at 0 and 1 (inverse) --------------------------------------------------
#
# XBTUSD: one lot (100 contracts) at 10,000 USD (price 1_000_000) is worth N / price = 1e12 / 1e6 = 1e6 XBt,
# N = lotSize × |multiplier| × priceScale = 100 × 1e8 × 100 = 1e12.  The step c is the per-lot value at which
# the equity meets the reserve; P = N / c on the tick grid, or maxPrice when no price is a threshold.


def test_mrg_013_a_short_with_step_0_is_safe_at_every_price_and_gets_max_price() -> None:
    """MRG-013: short c = ceil(cost − slack) = 0 (margin covers the whole cost): never reached, maxPrice."""
    short = open_position(XBTUSD, -100, 1_000_000)
    assert short.cost == 1_000_000
    assert compute_unclamped_threshold_price(XBTUSD, short.qty, short.cost, 1_000_000, 0) == XBTUSD.max_price == 100_000_000


def test_mrg_013_a_short_with_step_1_is_safe_until_one_lot_is_worth_one_satoshi() -> None:
    """MRG-013: short c = 1 (slack one satoshi short of the cost): P = floor_to_tick(N / 1) = 1e12, beyond maxPrice."""
    short = open_position(XBTUSD, -100, 1_000_000)
    price = compute_unclamped_threshold_price(XBTUSD, short.qty, short.cost, 999_999, 0)
    assert price == 1_000_000_000_000
    # safe side: at P the lot is worth exactly c = 1 XBt and the equity is exactly the reserve (0);
    # tight: one tick above P the exact per-lot value N / (P + tick) is below c
    assert compute_equity(XBTUSD, short, 999_999, price) == 0
    assert 1 * (price + XBTUSD.tick_size) > 1_000_000_000_000
    # the order-price form (MRG-010) clamps it to maxPrice
    assert compute_threshold_price(XBTUSD, short.qty, short.cost, 999_999, 0) == XBTUSD.max_price


def test_mrg_013_a_short_with_step_2_is_half_of_n() -> None:
    """MRG-013: short c = 2: P = N / 2 = 5e11 (the step is the divisor, not a floor of 2 on it)."""
    short = open_position(XBTUSD, -100, 1_000_000)
    assert compute_unclamped_threshold_price(XBTUSD, short.qty, short.cost, 999_998, 0) == 500_000_000_000


def test_mrg_013_a_long_with_step_0_is_unsafe_at_every_price_and_gets_max_price() -> None:
    """MRG-013: long c = floor(slack − cost) = 0 (margin one lot's value below the reserve): maxPrice."""
    long = open_position(XBTUSD, 100, 1_000_000)
    assert long.cost == -1_000_000
    assert compute_unclamped_threshold_price(XBTUSD, long.qty, long.cost, -1_000_000, 0) == XBTUSD.max_price


def test_mrg_013_a_long_with_step_1_needs_one_lot_worth_one_satoshi() -> None:
    """MRG-013: long c = 1: P = ceil_to_tick(N / 1) = 1e12; there the equity is exactly the reserve, not below."""
    long = open_position(XBTUSD, 100, 1_000_000)
    price = compute_unclamped_threshold_price(XBTUSD, long.qty, long.cost, -999_999, 0)
    assert price == 1_000_000_000_000
    assert compute_equity(XBTUSD, long, -999_999, price) == 0  # safe side: equity ≥ reserve at P
    # N / 2 would leave the long one satoshi short: a lot is still worth 2 XBt there
    assert compute_equity(XBTUSD, long, -999_999, 500_000_000_000) == -1
    assert compute_threshold_price(XBTUSD, long.qty, long.cost, -999_999, 0) == XBTUSD.max_price


# --- MRG-034: the backing of one member of a pool ------------------------------------------------------


def test_mrg_034_a_cross_member_is_backed_by_the_pool_less_the_others_maintenance() -> None:
    """MRG-034 = MRG-033: margin 1,000; own PnL +50, own posMaint 30; the other member PnL −20, posMaint 40 → 940."""
    pool_equity = 1_000 + 50 - 20
    pool_maintenance = 30 + 40
    backing = compute_position_backing(1_000, pool_equity, pool_maintenance, 50, 30)
    assert backing == compute_cross_backing(1_000, (-20,), (40,)) == 940


def test_mrg_034_an_isolated_pool_is_backed_by_its_margin_whatever_its_own_pnl() -> None:
    """MRG-034: a pool with no other member: its backing is its margin (own PnL −70 and posMaint 25 drop out)."""
    assert compute_position_backing(1_000, 1_000 - 70, 25, -70, 25) == 1_000


# --- MRG-040: the charge price of an inverse buy ----------------------------------------------------------


def test_mrg_040_an_inverse_buy_is_charged_at_a_best_ask_of_one_price_unit() -> None:
    """MRG-040: inverse, tick 1 price unit: a buy limit 10 with the best offer at 1 can fill at 1 — charged at 1."""
    fine = attrs.evolve(XBTUSD, symbol="XBTUSD_FINE", tick_size=1)
    assert validate(fine) is None  # a sound instrument: every price from 1 is on its grid
    assert compute_order_charge_price(fine, 100, 10, 0, 1) == 1
    assert compute_order_charge_price(fine, 100, 10, 0, 0) == 10  # no offers: its limit
    assert compute_order_charge_price(fine, -100, 10, 0, 1) == 10  # a sell: its limit


# --- MRG-042 / MRG-044: the empty side ----------------------------------------------------------------


def test_mrg_042_no_orders_sum_to_the_default_order_sides_and_carry_no_margin() -> None:
    """MRG-042: an ``OrderSide()`` is the side of no orders (0 contracts, 0 value, 0 premium); MRG-044 charges it nothing."""
    assert compute_order_sides(ETHUSD, (), usd(100), 0, 0) == (OrderSide(), OrderSide())
    assert (OrderSide().qty, OrderSide().value, OrderSide().premium) == (0, 0, 0)
    assert compute_order_margin(ETHUSD, 0, OrderSide(), OrderSide(), 20_000, 750) == OrderMargin(
        bid_qty_charged=0, ask_qty_charged=0, init_margin=0, premium=0, commission=0, total=0
    )


# --- MRG-050: unrealised profit of cross positions --------------------------------------------------


def test_mrg_050_a_losing_cross_position_adds_no_unrealised_profit() -> None:
    """MRG-050: cross long +5,000 and cross short −3,000: the profit kept back is 5,000 exactly, not 5,001."""
    winner = compute_position_margin(ETHUSD, open_position(ETHUSD, 10, usd(100)), usd(105), CROSS)
    loser = compute_position_margin(ETHUSD, open_position(ETHUSD, -10, usd(100)), usd(103), CROSS)
    assert (winner.unrealised_pnl, loser.unrealised_pnl) == (5_000, -3_000)
    both = compute_account_margin(1_000_000, (winner, loser), 0)
    # posMargin = 2% of 100,000 + ceil(0.075% of 102,000) = 2,000 + 77 each
    assert both.available_margin == 1_000_000 + 5_000 - 3_000 - 2 * 2_077 == 997_846
    assert both.cross_unrealised_profit == 5_000
    assert both.withdrawable_margin == 997_846 - 5_000
    alone = compute_account_margin(1_000_000, (loser,), 0)
    assert alone.cross_unrealised_profit == 0
    assert alone.withdrawable_margin == alone.available_margin == 1_000_000 - 3_000 - 2_077


# --- MRG-020 via the audit ledger: a setting with no transferMargin holds no extra margin --------------


def test_mrg_020_an_isolated_position_without_a_transfer_holds_exactly_init_plus_comm() -> None:
    """MRG-020/MRG-050: an audit log's isolated 5x long (no transferMargin) holds posInit + posComm = 20,090.

    posCost 100,000; posInit = 20% = 20,000; posComm = ceil(0.075% × 120,000) = 90.  The audit ledger only
    knows the leverage: its ``MarginSetting`` has no extra margin, so the available balance is 979,910.
    """
    ledger = Ledger({"ETHUSD": ETHUSD})
    ledger.deposit(1, "XBt", 1_000_000)
    ledger.fill(1, "ETHUSD", 10, usd(100))
    ledger.set_leverage(1, "ETHUSD", ISOLATED_5X)
    ledger.set_mark("ETHUSD", usd(100))
    account = compute_view_account_margin(ledger, 1, "XBt")
    assert account.position_margin == 20_090
    assert account.available_margin == 979_910


# --- MRG-060: the pre-trade requirement ------------------------------------------------------------


def test_mrg_060_a_second_order_needs_only_the_increase_in_order_margin() -> None:
    """MRG-060: flat, a resting bid 2 @ 90 (order margin 388), a new bid 1 @ 95 (593): the order needs 205."""
    before = compute_contract_order_margin(ETHUSD, FLAT, ((2, usd(90)),), usd(100), 0, 0, CROSS).total
    after = compute_contract_order_margin(ETHUSD, FLAT, ((2, usd(90)), (1, usd(95))), usd(100), 0, 0, CROSS).total
    # 2% of 18,000 + ceil(13.5) + ceil(13.77) = 388; 2% of 27,500 + ceil(20.625) + ceil(21.0375) = 593
    assert (before, after) == (388, 593)
    assert compute_order_requirement(ETHUSD, FLAT, usd(100), CROSS, 0, before, after, 1, usd(95)) == 205


def test_mrg_060_an_increase_of_one_minor_unit_needs_exactly_one() -> None:
    """MRG-060: an order that raises the order margin by 1 XBt (flat: no position term) needs 1."""
    assert compute_order_requirement(ETHUSD, FLAT, usd(100), CROSS, 0, 100, 101, 1, usd(95)) == 1


def test_mrg_060_a_reduction_needs_nothing_even_far_below_mark() -> None:
    """MRG-060: long 10, sell 5 @ 50 with mark 100: no order margin increase, so 0 — though repricing costs 50,000.

    A trader can always reduce: the position term (posMaint 539 − 1,077 + 50,000 of repricing loss) is
    only added to an order that increases the order margin.
    """
    long = open_position(ETHUSD, 10, usd(100))
    before = compute_contract_order_margin(ETHUSD, long, (), usd(100), 0, 0, CROSS).total
    after = compute_contract_order_margin(ETHUSD, long, ((-5, usd(50)),), usd(100), 0, 0, CROSS).total
    assert before == after == 0
    reduced, _ = apply_fill(ETHUSD, long, -5, usd(50))
    maint_change = (
        compute_position_margin(ETHUSD, reduced, usd(100), CROSS).pos_maint
        - compute_position_margin(ETHUSD, long, usd(100), CROSS).pos_maint
    )
    repricing = compute_value(ETHUSD, 10, usd(50)) - compute_value(ETHUSD, 10, usd(100))
    assert (maint_change, repricing) == (539 - 1_077, -50_000)  # the term would be 49,462
    assert compute_order_requirement(ETHUSD, long, usd(100), CROSS, 0, before, after, -5, usd(50)) == 0


def test_mrg_060_a_repricing_gain_covers_the_position_term_so_only_the_increase_is_needed() -> None:
    """MRG-060: long 10 at mark 100, bid 1 @ 200: posMaint rises 215 but repricing gains 100,000 — no position term.

    The order margin is 400 (2% of 20,000) + 10,000 premium + 31 commission = 10,431, and that is all it needs.
    """
    long = open_position(ETHUSD, 10, usd(100))
    after = compute_contract_order_margin(ETHUSD, long, ((1, usd(200)),), usd(100), 0, 0, CROSS).total
    assert after == 10_431
    grown, _ = apply_fill(ETHUSD, long, 1, usd(200))
    maint_change = (
        compute_position_margin(ETHUSD, grown, usd(100), CROSS).pos_maint
        - compute_position_margin(ETHUSD, long, usd(100), CROSS).pos_maint
    )
    assert maint_change == 215
    assert compute_order_requirement(ETHUSD, long, usd(100), CROSS, 0, 0, after, 1, usd(200)) == 10_431


# --- MRG-063: the refusals that involve no amount ---------------------------------------------------


def test_mrg_063_the_no_amount_refusals_report_zero_required_and_zero_available() -> None:
    """MRG-063: a cross position, or an amount of 0, is refused with required 0 and available 0.

    The engine sends these figures to the client verbatim ("PositionNotIsolated: required 0, available 0",
    engine/core/account_desk.py); the refusal needed no amount and measured none.
    """
    long = open_position(ETHUSD, 10, usd(100))
    cross = compute_position_margin(ETHUSD, long, usd(100), CROSS)
    isolated = compute_position_margin(ETHUSD, long, usd(100), ISOLATED_5X)
    assert check_transfer_margin(cross, 1_000, 5_000) == MarginRejection(
        reason=MarginReason.NOT_ISOLATED, required=0, available=0
    )
    assert check_transfer_margin(isolated, 0, 5_000) == MarginRejection(
        reason=MarginReason.INVALID_AMOUNT, required=0, available=0
    )
    assert check_transfer_margin(isolated, 5_000, 5_000) is None  # exactly the available balance
