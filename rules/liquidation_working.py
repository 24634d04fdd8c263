"""LIQ: working a taken-over position — the liquidation engine's limit walks toward the market (reference §5).

BitMEX, 23 March 2020 ("BitMEX Insurance Fund: Your Questions Answered"): during
12–13 March the liquidation engine took over a large long XBTUSD position and
placed it in the market "at progressively more aggressive (lower) prices"; the
fund's largest intraday decline was 2,606 XBT against a largest unrealised loss
of 5,652 XBT on what it held.  Reference §5: the engine's order starts at the
bankruptcy price; not fillable there, the insurance fund pays to aggress the
market; when that is not enough, ADL.

Two rules say how far into the book a close-out may go at a given moment:

* **LIQ-050** (:func:`compute_working_limit`): the *working limit* of a
  taken-over position ``age`` waterfalls old (0 in the waterfall that took it
  over; one more in every later waterfall, LIQ-034, i.e. after every mark
  update or funding).  At age 0 it is the take-over (bankruptcy) price on the
  tick, rounded toward the system; every later waterfall moves it toward the
  market by ``liquidationWorkStep`` of that price (an instrument parameter,
  specs/instruments/), never beyond one tick or ``maxPrice``.
* **LIQ-051** (:func:`get_working_offers`): the book levels a close-out may
  take are those at or better than the working limit — while the fund still
  covers what the liquidation engine holds at mark (ADL-031's fund cover ≥ 0).
  Once it does not, the limit is lifted: the fund pays to aggress the whole
  book while it can (INS-005, unchanged), before any ADL (ADL-031, unchanged).

INS-005 is unchanged inside the limit: fills better than the take-over price
are surplus for the fund, fills between it and the limit are paid by the fund
while it can pay in full; what the limit excludes stays with the liquidation
engine until a later waterfall.
"""

from __future__ import annotations

from collections.abc import Sequence

from perpspec.rules.instrument import Instrument
from perpspec.rules.insurance import Fill
from perpspec.rules.num import (
    PPM,
    and_,
    ceil_to_multiple,
    clamp,
    concrete,
    floor_to_multiple,
    ite,
    max_,
    min_,
    or_,
)


def compute_highest_tick(inst: Instrument) -> int:
    """The highest price on the tick grid not above ``maxPrice`` (at least one tick)."""
    return max_(floor_to_multiple(inst.max_price, inst.tick_size), inst.tick_size)


def compute_working_anchor(inst: Instrument, side: int, takeover_price: int) -> int:
    """LIQ-050 at age 0: the take-over price on the tick, rounded toward the system, inside ``[tick, maxPrice]``.

    ``side`` is +1 when the taken-over position is long (the engine sells: rounded
    up, it asks no less than the bankruptcy price), -1 when short (the engine buys:
    rounded down, it bids no more).  So a fill at or better than the anchor never
    draws on the fund (INS-001 ≥ 0) whenever the take-over price is in range.
    """
    on_tick = ite(side > 0, ceil_to_multiple(takeover_price, inst.tick_size), floor_to_multiple(takeover_price, inst.tick_size))
    return clamp(on_tick, inst.tick_size, compute_highest_tick(inst))


def compute_working_limit(inst: Instrument, side: int, takeover_price: int, age: int) -> int:
    """LIQ-050: the working limit of a taken-over position ``age`` waterfalls old (price units, on the tick).

    ``anchor − ⌊anchor × age × liquidationWorkStep⌋`` when the engine sells (a
    taken-over long), ``anchor + …`` when it buys (a taken-over short), the move
    floored to whole ticks (toward the system: the limit never moves further than
    stated) and the result kept in ``[tick, maxPrice]``.  Age 0 is the anchor
    (:func:`compute_working_anchor`); each waterfall after the take-over moves it
    toward the market, never back.  A negative ``age`` counts as 0.
    """
    anchor = compute_working_anchor(inst, side, takeover_price)
    # floor: toward the system (the engine offers no further from the bankruptcy price than stated)
    move = floor_to_multiple(anchor * inst.liquidation_work_step_ppm * max_(age, 0) // PPM, inst.tick_size)
    return ite(side > 0, max_(anchor - move, inst.tick_size), min_(anchor + move, compute_highest_tick(inst)))


def is_within_working_limit(side: int, price: int, limit: int) -> bool:
    """LIQ-051: a level at ``price`` may be taken: at or above the limit when selling, at or below when buying."""
    return or_(and_(side > 0, price >= limit), and_(side <= 0, price <= limit))


@concrete
def get_working_offers(
    inst: Instrument, position_qty: int, takeover_price: int, age: int, fund_cover: int, offers: Sequence[Fill]
) -> list[Fill]:
    """LIQ-051: the offers (best first) a close-out of ``position_qty`` may take in this waterfall.

    While ``fund_cover`` (ADL-031: the fund plus the PnL at mark of everything the
    liquidation engine holds in the currency) is ≥ 0, only the offers within the
    working limit (LIQ-050): a prefix of the list, since it is best first.  Once
    the cover is negative, every offer: the fund pays to aggress the market while
    it can (INS-005) before any position is deleveraged (ADL-020).
    """
    if fund_cover < 0:
        return list(offers)
    side = 1 if position_qty > 0 else -1
    limit = compute_working_limit(inst, side, takeover_price, age)
    taken: list[Fill] = []
    for offer in offers:
        if not is_within_working_limit(side, offer.price, limit):
            break  # best first: every later offer is worse
        taken.append(offer)
    return taken


@concrete
def compute_next_age(age: int) -> int:
    """LIQ-050: a close-out still open when a waterfall starts is one waterfall older (ages never go back)."""
    return max(age, 0) + 1
