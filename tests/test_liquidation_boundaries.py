"""LIQ-010/035/037 and ACC-005 at their boundaries: a pool exactly covered at mark, a position one tier up, flat.

Marks are accepted at price resolution (off the tick grid), so "take over at the mark" and "take over at the
bankruptcy price" differ exactly when the backing covers the position at the mark to the unit.
"""

from __future__ import annotations

from perpspec.rules.contract import compute_value
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.liquidation import (
    compute_cover_takeover_price,
    compute_owing_cover_takeover_price,
    compute_partial_reduction,
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
