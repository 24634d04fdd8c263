"""Known-bad copies of LIQ-050 (rules/liquidation_working.py): each must be refuted by its obligation.

* :func:`compute_working_limit_rounded_away` — the age-0 anchor rounded away from the system
  (down when the engine sells, up when it buys): the first fills may draw on the fund at age 0.
* :func:`compute_working_limit_walking_away` — the move applied away from the market: the limit
  grows less aggressive with age (and can leave the price range).
* :func:`compute_offer_limit_walking_past_the_mark` — LIQ-050 before the close-out bound (main at
  ede41d3): the walk has no floor and passes the mark (attack2: a stub bid 17.5% under it is taken).
* :func:`compute_offer_limit_every_offer_once_uncovered` — LIQ-051 before the close-out bound: once
  ADL-031's cover is negative every offer is taken, however far from the mark.
* :func:`compute_offer_limit_anchor_bound` — LIQ-050/051 as main had them until session 17: the
  close-out bound is the anchor whenever the mark is beyond it, so a close-out in profit at mark
  fills at its take-over price however far that is from the mark (review15 find 1).
* :func:`compute_offer_limit_widening_on_the_cover_alone` — the session-17 bound, but widened to it
  on ADL-031's cover alone: a close-out in profit at mark is bought (sold) past its bankruptcy price
  with the fund paying, to spare an ADL that ADL-032 never calls (review15 find 2).
* :func:`compute_offer_limit_walking_in_profit` — the session-17 bound, but the LIQ-050 walk steps
  from the anchor whatever the mark: for a close-out in profit that is away from the mark, and the
  fund pays (review15 find 2, slowly).
"""

from __future__ import annotations

from perpspec.rules.adl import is_adl_due
from perpspec.rules.instrument import Instrument
from perpspec.rules.liquidation_working import (
    compute_close_out_bound,
    compute_highest_tick,
    compute_mark_bound,
    compute_working_anchor,
    compute_working_limit,
)
from perpspec.rules.num import PPM, ceil_to_multiple, clamp, floor_to_multiple, ite, max_, min_


def compute_working_limit_rounded_away(
    inst: Instrument, side: int, takeover_price: int, age: int, _mark_price: int
) -> int:
    """Known-bad LIQ-050: the anchor rounded toward the market instead of toward the system."""
    tick = inst.tick_size
    on_tick = ite(side > 0, floor_to_multiple(takeover_price, tick), ceil_to_multiple(takeover_price, tick))
    anchor = clamp(on_tick, tick, compute_highest_tick(inst))
    move = floor_to_multiple(anchor * inst.liquidation_work_step_ppm * max_(age, 0) // PPM, tick)
    return ite(side > 0, max_(anchor - move, tick), min_(anchor + move, compute_highest_tick(inst)))


def compute_working_limit_walking_away(
    inst: Instrument, side: int, takeover_price: int, age: int, _mark_price: int
) -> int:
    """Known-bad LIQ-050: the limit moves away from the market with age, unclamped."""
    tick = inst.tick_size
    on_tick = ite(side > 0, ceil_to_multiple(takeover_price, tick), floor_to_multiple(takeover_price, tick))
    anchor = clamp(on_tick, tick, compute_highest_tick(inst))
    move = floor_to_multiple(anchor * inst.liquidation_work_step_ppm * max_(age, 0) // PPM, tick)
    return ite(side > 0, anchor + move, anchor - move)


def compute_offer_limit_walking_past_the_mark(
    inst: Instrument, side: int, takeover_price: int, age: int, mark_price: int, fund_cover: int
) -> int:
    """Known-bad LIQ-050/051 (ede41d3): the walk is bounded only by the price range, not by the mark."""
    anchor = compute_working_anchor(inst, side, takeover_price)
    move = floor_to_multiple(anchor * inst.liquidation_work_step_ppm * max_(age, 0) // PPM, inst.tick_size)
    walked = ite(side > 0, max_(anchor - move, inst.tick_size), min_(anchor + move, compute_highest_tick(inst)))
    return ite(fund_cover < 0, compute_working_limit(inst, side, takeover_price, age, mark_price), walked)


def compute_offer_limit_every_offer_once_uncovered(
    inst: Instrument, side: int, takeover_price: int, age: int, mark_price: int, fund_cover: int
) -> int:
    """Known-bad LIQ-051 (ede41d3): with ADL-031's cover < 0 every offer is taken (the limit is the range's end)."""
    every = ite(side > 0, inst.tick_size, compute_highest_tick(inst))
    return ite(fund_cover < 0, every, compute_working_limit(inst, side, takeover_price, age, mark_price))


def compute_offer_limit_anchor_bound(
    inst: Instrument, side: int, takeover_price: int, age: int, mark_price: int, fund_cover: int
) -> int:
    """Known-bad LIQ-050/051 (main until session 17): the bound is the anchor when the mark is beyond it."""
    anchor = compute_working_anchor(inst, side, takeover_price)
    at_mark = compute_mark_bound(inst, side, mark_price)
    bound = ite(side > 0, min_(anchor, at_mark), max_(anchor, at_mark))
    move = floor_to_multiple(anchor * inst.liquidation_work_step_ppm * max_(age, 0) // PPM, inst.tick_size)
    limit = ite(side > 0, max_(anchor - move, bound), min_(anchor + move, bound))
    return ite(fund_cover < 0, bound, limit)


def compute_offer_limit_widening_on_the_cover_alone(
    inst: Instrument, side: int, takeover_price: int, age: int, mark_price: int, fund_cover: int
) -> int:
    """Known-bad LIQ-051: the mark band once ADL-031's cover is < 0, whether or not the mark reached the price."""
    limit = compute_working_limit(inst, side, takeover_price, age, mark_price)
    return ite(fund_cover < 0, compute_close_out_bound(inst, side, mark_price), limit)


def compute_offer_limit_walking_in_profit(
    inst: Instrument, side: int, takeover_price: int, age: int, mark_price: int, fund_cover: int
) -> int:
    """Known-bad LIQ-050: the walk from the anchor (to the mark band) whatever the mark."""
    anchor = compute_working_anchor(inst, side, takeover_price)
    bound = compute_close_out_bound(inst, side, mark_price)
    move = floor_to_multiple(anchor * inst.liquidation_work_step_ppm * max_(age, 0) // PPM, inst.tick_size)
    walked = ite(side > 0, max_(anchor - move, bound), min_(anchor + move, bound))
    return ite(is_adl_due(side, takeover_price, mark_price, fund_cover), bound, walked)
