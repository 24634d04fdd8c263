"""LIQ-010/035/037 and ACC-005 at their boundaries: a pool exactly covered at mark, a position one tier up, flat.

Marks are accepted at price resolution (off the tick grid), so "take over at the mark" and "take over at the
bankruptcy price" differ exactly when the backing covers the position at the mark to the unit.
"""

from __future__ import annotations

from perpspec.rules.contract import compute_value
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.liquidation import (
    compute_cover_takeover_price,
    compute_fitting_tier,
    compute_owing_cover_takeover_price,
    compute_partial_reduction,
    compute_position_equity_term,
    is_price_within_limit,
)
from perpspec.rules.margin import CROSS
from perpspec.rules.position import FLAT, apply_fill, compute_avg_entry_price
from perpspec.rules.risk_limit import compute_risk_steps

XBTUSD = load_instrument("XBTUSD")
PX = XBTUSD.price_scale


def test_liq_035_037_a_position_whose_backing_covers_it_exactly_at_mark_is_taken_over_at_the_mark() -> None:
    mark = 9_000 * PX + 1  # off the tick grid: the bankruptcy price cannot equal it
    for qty in (10_000, -10_000):
        position, _ = apply_fill(XBTUSD, FLAT, qty, 9_050 * PX if qty > 0 else 8_950 * PX)
        backing = position.cost - compute_value(XBTUSD, position.qty, mark)  # equity at mark exactly 0
        assert backing + compute_value(XBTUSD, position.qty, mark) - position.cost == 0
        assert compute_cover_takeover_price(XBTUSD, position, backing, mark) == mark
        assert compute_owing_cover_takeover_price(XBTUSD, position, backing, mark) == mark
        # one unit less backing: the deficit moves the price off the mark
        assert compute_cover_takeover_price(XBTUSD, position, backing - 1, mark) != mark


def test_liq_010_a_position_one_tier_up_is_stepped_down_to_the_base_tier() -> None:
    # a long just over the base risk limit: tier 1; the FillOrKill reduction leaves it within the base limit
    qty = 2_000_000
    position, _ = apply_fill(XBTUSD, FLAT, qty, 9_000 * PX)
    assert compute_risk_steps(XBTUSD, abs(position.cost)) == 1
    reduction = compute_partial_reduction(XBTUSD, position, CROSS, 1, 10**9, 0, 9_000 * PX)
    assert reduction.new_tier == 0
    assert reduction.close_qty == qty - reduction.kept.qty > 0
    assert compute_risk_steps(XBTUSD, abs(reduction.kept.cost)) == 0


def test_acc_005_a_flat_position_has_no_average_entry_price() -> None:
    for symbol in ("XBTUSD", "ETHUSD", "XBTUSDT"):
        assert compute_avg_entry_price(load_instrument(symbol), FLAT) == 0


def test_liq_011_a_fill_exactly_at_the_limit_is_within_it_for_either_side_and_one_unit_worse_is_not() -> None:
    # closing a long sells: at or above the limit; closing a short buys: at or below it; nothing closes 0
    for close_qty in (1, 100):
        assert is_price_within_limit(close_qty, 1_000, 1_000)
        assert is_price_within_limit(close_qty, 1_001, 1_000)
        assert not is_price_within_limit(close_qty, 999, 1_000)
        assert is_price_within_limit(-close_qty, 1_000, 1_000)
        assert is_price_within_limit(-close_qty, 999, 1_000)
        assert not is_price_within_limit(-close_qty, 1_001, 1_000)
    assert not is_price_within_limit(0, 1_000, 1_000)


def test_liq_004_a_positions_equity_term_is_its_pnl_at_mark() -> None:
    position, _ = apply_fill(XBTUSD, FLAT, 10_000, 9_000 * PX)
    up = compute_position_equity_term(XBTUSD, position, 9_100 * PX)
    down = compute_position_equity_term(XBTUSD, position, 8_900 * PX)
    assert up == compute_value(XBTUSD, 10_000, 9_100 * PX) - position.cost > 0
    assert down == compute_value(XBTUSD, 10_000, 8_900 * PX) - position.cost < 0
    assert compute_position_equity_term(XBTUSD, FLAT, 9_000 * PX) == 0


def test_liq_007_the_fitting_tier_is_the_base_tier_up_to_the_risk_limit() -> None:
    limit, step = XBTUSD.risk_limit, XBTUSD.risk_step
    values = [0, limit, limit + 1, limit + step, limit + step + 1]
    assert [compute_fitting_tier(XBTUSD, value) for value in values] == [0, 0, 1, 1, 2]


def test_liq_010_a_position_two_tiers_up_is_stepped_down_one_tier_only() -> None:
    qty = 4_000_000
    position, _ = apply_fill(XBTUSD, FLAT, qty, 9_000 * PX)
    assert compute_risk_steps(XBTUSD, abs(position.cost)) == 2
    reduction = compute_partial_reduction(XBTUSD, position, CROSS, 2, 10**9, 0, 9_000 * PX)
    assert reduction.new_tier == 1
    assert compute_risk_steps(XBTUSD, abs(reduction.kept.cost)) == 1
    assert reduction.close_qty == qty - reduction.kept.qty > 0
