"""Known-bad copies of LIQ-050 (rules/liquidation_working.py): each must be refuted by its obligation.

* :func:`compute_working_limit_rounded_away` — the age-0 anchor rounded away from the system
  (down when the engine sells, up when it buys): the first fills may draw on the fund at age 0.
* :func:`compute_working_limit_walking_away` — the move applied away from the market: the limit
  grows less aggressive with age (and can leave the price range).
"""

from __future__ import annotations

from perpspec.rules.instrument import Instrument
from perpspec.rules.liquidation_working import compute_highest_tick
from perpspec.rules.num import PPM, ceil_to_multiple, clamp, floor_to_multiple, ite, max_, min_


def compute_working_limit_rounded_away(inst: Instrument, side: int, takeover_price: int, age: int) -> int:
    """Known-bad LIQ-050: the anchor rounded toward the market instead of toward the system."""
    tick = inst.tick_size
    on_tick = ite(side > 0, floor_to_multiple(takeover_price, tick), ceil_to_multiple(takeover_price, tick))
    anchor = clamp(on_tick, tick, compute_highest_tick(inst))
    move = floor_to_multiple(anchor * inst.liquidation_work_step_ppm * max_(age, 0) // PPM, tick)
    return ite(side > 0, max_(anchor - move, tick), min_(anchor + move, compute_highest_tick(inst)))


def compute_working_limit_walking_away(inst: Instrument, side: int, takeover_price: int, age: int) -> int:
    """Known-bad LIQ-050: the limit moves away from the market with age, unclamped."""
    tick = inst.tick_size
    on_tick = ite(side > 0, ceil_to_multiple(takeover_price, tick), floor_to_multiple(takeover_price, tick))
    anchor = clamp(on_tick, tick, compute_highest_tick(inst))
    move = floor_to_multiple(anchor * inst.liquidation_work_step_ppm * max_(age, 0) // PPM, tick)
    return ite(side > 0, anchor + move, anchor - move)
