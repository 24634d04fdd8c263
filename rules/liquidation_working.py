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
  update or funding, in which the mark is at or past its take-over price, and
  back to 0 in one where it is in profit at mark: :func:`compute_next_age`).  At age 0 it is the take-over (bankruptcy) price on the
  tick, rounded toward the system; once the mark has reached that price
  (ADL-032's condition, :func:`perpspec.rules.adl.has_mark_reached_bankruptcy`:
  at or below it for a held long, at or above for a held short), every later
  waterfall moves it toward the market by ``liquidationWorkStep`` of that price
  (an instrument parameter, specs/instruments/), never beyond one tick or
  ``maxPrice`` — and never past the close-out bound (LIQ-051).  While the mark
  has not reached it the limit does not walk: it is the anchor, or the
  close-out bound when the mark is more than 5% beyond the anchor.
* **LIQ-051** (:func:`get_working_offers`, :func:`compute_offer_limit`): the
  book levels a close-out may take are those at or better than the working
  limit, unless the close-out is due under ADL-032 (:func:`perpspec.rules.adl.is_adl_due`:
  ADL-031's fund cover < 0 *and* the mark at or beyond its bankruptcy price);
  then those at or better than the *close-out bound*
  (:func:`compute_close_out_bound`): the fund pays to aggress the book while it
  can (INS-005, unchanged) down to the bound, and what the book does not take
  there goes to ADL-020 at the bankruptcy price (ADL-031, unchanged).  The bound
  is the *mark band* alone (:func:`compute_mark_bound`): the mark less
  ``CLOSE_OUT_MARK_BAND_PPM`` (5%) of it when the engine sells, plus 5% when it
  buys, on the tick toward the system — whatever the take-over price.

So: every close-out fill is within 5% of the mark (LIQ-051/within-mark-band), and
a close-out the mark has not taken to its bankruptcy price never fills at a price
that draws on the fund (LIQ-051/no-draw-before-bankruptcy), whatever the fund
cover and the age.

**Decision (LIQ-050/051 for a close-out in profit at mark; session 17, review15
finds 1 and 2).**  Until session 17 the bound was the anchor whenever the mark
was beyond it (``min(anchor, mark − 5%)`` selling, ``max(anchor, mark + 5%)``
buying), the cover alone widened the limit to the bound, and the walk stepped
from the anchor whatever the mark.  For a close-out in profit at mark those are
all *away from the mark*: a held short whose mark fell 20% below its take-over
price T was bought back at T from any ask resting there (52,697,000 XBt of held
profit handed to one maker, /work/coord/repro16/review15_1.py), and an
unrelated contract's gap taking the cover below 0 had the fund pay a maker to
take a held short at mark + 5%, 4.5% above T (8,526,000 XBt,
review15_2.py) — paying to avoid an ADL that ADL-032 says never comes for a
close-out in profit.  Closing such a position at the mark would earn the fund its
profit; nothing is owed and nothing needs to be avoided, so it is kept until an
offer is both no worse than T (on the tick toward the system) and within 5% of
the mark, or until the mark reaches T (from then it is worked as any losing
close-out: the walk, and the bound once ADL-032 calls it due).  The price, measured
on the shipped scenarios against the session-16 rules: the fills drawing on the
fund for a close-out in profit at mark disappear (march_2020_bitmex 207 fills,
95.9M XBt; march_2020_small_fund 187, 87.0M; default_crash 74, 143.5M;
short_squeeze 38, 41.3M), but in a steady sell-off a long kept while the mark is
just above T is sold later and lower: march_2020_bitmex ends +1.8% instead of
+3.0% (lowest −5.5% instead of −4.7%, still no ADL), while march_2020_small_fund
(+69M XBt), default_crash (+2.4M), black_thursday (+8.5M) end with more.

INS-005 is unchanged inside the limit: fills better than the take-over price
are surplus for the fund, fills between it and the limit are paid by the fund
while it can pay in full; what the limit excludes stays with the liquidation
engine until a later waterfall.

**Decision (LIQ-050/051 close-out floor; founding engineer, session 6, issue 13
attack2 — for the committee to review).**  Until ede41d3 nothing bounded a
close-out's price: with the cover < 0 every offer was taken, and with it ≥ 0 the
walk went on past the mark, so a colluder's stub bid 17.5% under the mark was
paid from the fund (tests/test_attack2_close_out_stub_bid.py: 1,053,844 of a
1,076,000 fund where ADL at the bankruptcy price costs it nothing; 23.95M for a
loss at mark of about 1.2M).  Rule: *no close-out fill is worse than the mark by
more than 5% of the mark*.  Per contract the fund then pays at most the loss at
mark that ADL-031 counts (bankruptcy − mark) plus 5% of the mark; a stub bid
further away is never taken (proved unbounded per instrument kind and side:
proofs/obligations_liquidation_working.py, LIQ-051/no-worse-than-floor, with the
ede41d3 rules as refuted known-bad variants).

Why not the mark itself (band 0), as the attack review proposed: a floor at the
mark bounds each fill's draw but not the fund's loss, because a taken-over long
that cannot be sold is held while the mark keeps falling.  In a sell-off the
bids stand below the mark (Fair Price Marking: the mark follows the index,
reference §3; XBTUSD traded about 400 under spot at its 13 March 2020 bottom,
stress-history.md), so the engine could sell nothing until the fall stopped.
Measured on march_2020_bitmex (reduced size as tests/test_march_2020.py runs it,
seed 20200312): with band 0 the fund fell to 33% of its start and ended 13 March
at 56% (published: largest decline 7.3%, net +2.8%); with 5% it ends +2.8% with
a largest fall of 5.5%, and the full-size run is byte-identical to ede41d3.
BitMEX itself worked the March 2020 position "at progressively more aggressive
(lower) prices" and prevented ADL [B1]: it sold below the mark.

Why 5%: it is BitMEX's own bound on how far an aggressive order may fill past
the market, the fat-finger band (reference §8: a market sell fills at most 5%
below min(best bid, mark)); here it is measured from the mark alone, so an
order in the book cannot move it.  What remains: an offer at the floor, when
nothing better rests, collects at most 5% of the mark per contract from the
fund.  The band is a named constant (one source; the engine calls these
functions); making it an instrument parameter is left to the committee (it
changes the instrument schema).
"""

from __future__ import annotations

from collections.abc import Sequence

from perpspec.rules.adl import has_mark_reached_bankruptcy, is_adl_due
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


CLOSE_OUT_MARK_BAND_PPM = 50_000  # LIQ-051: how far past the mark a close-out may fill: 5%, the fat-finger band (§8)


def compute_mark_bound(inst: Instrument, side: int, mark_price: int) -> int:
    """LIQ-051: the close-out floor — the worst price a close-out may fill at, 5% past the mark, on the tick.

    Selling (``side`` > 0): the smallest tick at or above ``mark − ⌊mark × band⌋``;
    buying: the largest tick at or below ``mark + ⌊mark × band⌋``; kept in
    ``[tick, maxPrice]``.  The band is floored and the tick rounding is toward
    the system: the engine never fills further from the mark than stated.  See
    the module docstring for the decision (why 5%, why not the mark itself).
    """
    # floor: the band never widens past what is stated
    band = mark_price * CLOSE_OUT_MARK_BAND_PPM // PPM
    on_tick = ite(
        side > 0,
        ceil_to_multiple(mark_price - band, inst.tick_size),
        floor_to_multiple(mark_price + band, inst.tick_size),
    )
    return clamp(on_tick, inst.tick_size, compute_highest_tick(inst))


def compute_close_out_bound(inst: Instrument, side: int, mark_price: int) -> int:
    """LIQ-051: the worst price any close-out fill may have, whatever the take-over price, age and fund cover.

    The mark band (:func:`compute_mark_bound`) alone: 5% past the mark.  (Until session 17 it was the
    anchor when that was worse for the engine — for a close-out in profit at mark, its take-over price
    far from the mark, which handed the held profit to whoever rested an offer there; review15 find 1.)
    """
    return compute_mark_bound(inst, side, mark_price)


def compute_working_limit(inst: Instrument, side: int, takeover_price: int, age: int, mark_price: int) -> int:
    """LIQ-050: the working limit of a taken-over position ``age`` waterfalls old (price units, on the tick).

    Once the mark has reached the take-over price (``has_mark_reached_bankruptcy``, ADL-032's
    condition): ``anchor − ⌊anchor × age × liquidationWorkStep⌋`` when the engine sells (a taken-over
    long), ``anchor + …`` when it buys (a taken-over short), the move floored to whole ticks (toward
    the system: the limit never moves further than stated), and never past the close-out bound
    (:func:`compute_close_out_bound`, LIQ-051: 5% past the mark).  The anchor is then on the far side of
    the mark, so each step is toward the mark.  Before (a close-out in profit at mark), the anchor is
    between the mark and the bound or beyond the bound; a step from it would be away from the mark and
    draw on the fund, so the limit is the anchor or the bound, whichever is better for the engine: it
    does not walk.  Age 0 is the anchor (:func:`compute_working_anchor`) unless the mark is more than
    5% beyond it.  A negative ``age`` counts as 0.  ``side`` is +1 for a taken-over long, -1 for a short.
    """
    anchor = compute_working_anchor(inst, side, takeover_price)
    bound = compute_close_out_bound(inst, side, mark_price)
    # floor: toward the system (the engine offers no further from the bankruptcy price than stated)
    move = floor_to_multiple(anchor * inst.liquidation_work_step_ppm * max_(age, 0) // PPM, inst.tick_size)
    walked = ite(side > 0, max_(anchor - move, bound), min_(anchor + move, bound))
    kept = ite(side > 0, max_(anchor, bound), min_(anchor, bound))  # in profit at mark: no fill draws, none past the band
    return ite(has_mark_reached_bankruptcy(side, takeover_price, mark_price), walked, kept)


def is_within_working_limit(side: int, price: int, limit: int) -> bool:
    """LIQ-051: a level at ``price`` may be taken: at or above the limit when selling, at or below when buying."""
    return or_(and_(side > 0, price >= limit), and_(side <= 0, price <= limit))


def compute_offer_limit(inst: Instrument, side: int, takeover_price: int, age: int, mark_price: int, fund_cover: int) -> int:
    """LIQ-051: the worst price a close-out may take in this waterfall.

    The close-out bound (5% past the mark) when the close-out is due under ADL-032
    (``is_adl_due``: ADL-031's ``fund_cover`` < 0 and the mark at or beyond its bankruptcy
    price — the fund pays to aggress down to the bound, the rest goes to ADL-020); else the
    working limit (LIQ-050).  The cover alone widens nothing: a close-out in profit at mark is
    never due, and paying a maker to take it would spare no ADL (review15 find 2).  Either way
    never past the bound.
    """
    limit = compute_working_limit(inst, side, takeover_price, age, mark_price)
    bound = compute_close_out_bound(inst, side, mark_price)
    return ite(is_adl_due(side, takeover_price, mark_price, fund_cover), bound, limit)


@concrete
def get_working_offers(
    inst: Instrument,
    position_qty: int,
    takeover_price: int,
    age: int,
    mark_price: int,
    fund_cover: int,
    offers: Sequence[Fill],
) -> list[Fill]:
    """LIQ-051: the offers (best first) a close-out of ``position_qty`` may take in this waterfall.

    Those at or better than :func:`compute_offer_limit` (``mark_price``: the mark ADL-031's
    cover is counted at): a prefix of the list, since it is best first.
    """
    side = 1 if position_qty > 0 else -1
    limit = compute_offer_limit(inst, side, takeover_price, age, mark_price, fund_cover)
    taken: list[Fill] = []
    for offer in offers:
        if not is_within_working_limit(side, offer.price, limit):
            break  # best first: every later offer is worse
        taken.append(offer)
    return taken


@concrete
def compute_next_age(age: int, held_qty: int, takeover_price: int, mark_price: int) -> int:
    """LIQ-050: a close-out's age when a waterfall starts: the waterfalls the mark has spent at or beyond its
    take-over price since it last was in profit.

    One more than before while the mark is at or beyond that price (ADL-032's ``has_mark_reached_bankruptcy``), and 0
    while the close-out is in profit at mark, where it does not walk (:func:`compute_working_limit`).  So the first
    waterfall with the mark at the price offers one step past the anchor, the next two, and so on, each time the
    mark comes back: the walk never jumps by the waterfalls a close-out spent in profit (review16_1: it counted
    them, and twelve put the first limit at the far edge of the band, where a bid resting 4.9% below the
    bankruptcy price took the fund's balance in one waterfall).
    """
    if not has_mark_reached_bankruptcy(held_qty, takeover_price, mark_price):
        return 0
    return max(age, 0) + 1
