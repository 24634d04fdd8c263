"""Proof obligations of working a taken-over position (rules/liquidation_working.py, LIQ-050/051).

Per instrument kind (inverse XBTUSD, quanto ETHUSD, linear XBTUSDT) and side of the
taken-over position (long: the engine sells; short: it buys), unbounded: any
take-over price (any integer, since LIQ-036 takes an owing pool over beyond the
price range), any age ≥ 0 and — unless said otherwise — any ``liquidationWorkStep``
in ``[0, 100%]`` (the instrument's step is a symbol, not its file value):

* **LIQ-050 age 0 is the bankruptcy price** — for a take-over price in
  ``[tick, maxPrice]`` the age-0 limit is on the tick and at or better than that
  price; once the mark has reached it, exactly that price on the tick rounded
  toward the system (the smallest tick ≥ it when selling, the largest ≤ it when
  buying; before, the mark band when that is better, session 17); and a lot
  filled at any tick price within that limit never draws on the fund (INS-001 ≥ 0);
* **LIQ-050 monotone** — the limit at ``age + 1`` is never less aggressive than
  at ``age`` (never higher when selling, never lower when buying);
* **LIQ-050 in range** — every limit is on the tick grid and in ``[tick, maxPrice]``;
* **LIQ-051 best first** — the offers within the offer limit (the working
  limit, or the close-out bound once the fund cover is negative) are a prefix of a
  best-first list: a price at least as good as one within the limit is within it
  (so the engine's book sweep to the last accepted price takes exactly them);
* **LIQ-051 fund never negative** — a fill the restricted offers give, taken
  under INS-002, leaves the fund ≥ 0 (the file's step);
* **LIQ-051 conservation** — such a fill: the maker's fill, the liquidation
  engine's cost basis and the fund's delta sum to zero (the file's step);
* **LIQ-051 no worse than the floor** — an offer a close-out may take (any
  age, any mark, either sign of ADL-031's fund cover) is at or better than the
  take-over price on the tick (so it draws nothing, the age-0 obligation) or at
  or better than the close-out floor ``mark ∓ ⌊mark × 5%⌋`` (selling: minus):
  the fund pays per contract at most the loss at mark ADL-031 counts plus the
  stated band (attack2, issue 13);
* **LIQ-051 within the mark band** (session 17) — stronger: every offer a
  close-out may take (any take-over price, age, fund cover, step; a mark in
  ``[tick, maxPrice]``) is at or better than ``mark ∓ ⌊mark × 5%⌋`` itself,
  whatever the take-over price (review15 find 1: the bound fell back to the
  take-over price for a close-out in profit at mark);
* **LIQ-051 no draw before the bankruptcy price** (session 17) — a close-out
  whose mark has not reached its bankruptcy price (ADL-032's condition: it is
  in profit at mark, never due) may take no offer worse than that price (a
  held long sells at or above it, a held short buys at or below it), so, for a
  take-over price in the price range, no fill it makes draws on the fund
  (INS-001 ≥ 0), whatever the fund cover and the age (review15 find 2).

Known-bad variants (each expected refuted): the anchor rounded away from the
system (age 0 draws on the fund); the limit walking away from the market; the
walk without a floor (ede41d3: past the mark); every offer once the cover is
negative (ede41d3); the session-16 bound (the anchor when the mark is beyond it);
the widening to the band on the cover alone; the walk stepping from the anchor
while the close-out is in profit at mark.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import attrs

from perpspec.proofs.known_bad_liquidation_working import (
    compute_offer_limit_anchor_bound,
    compute_offer_limit_every_offer_once_uncovered,
    compute_offer_limit_walking_in_profit,
    compute_offer_limit_walking_past_the_mark,
    compute_offer_limit_widening_on_the_cover_alone,
    compute_working_limit_rounded_away,
    compute_working_limit_walking_away,
)
from perpspec.proofs.lemmas import FLOOR_MONOTONE, PRODUCT_MONOTONE
from perpspec.proofs.obligations_waterfall import (
    SLOW_TIMEOUT_MS,
    SYMBOLS,
    assume_position,
    assume_price,
    prove_each,
)
from perpspec.proofs.prover import ProofResult, Prover, Status
from perpspec.proofs.registry import Obligation, register
from perpspec.proofs.sym import all_of, any_of, implies
from perpspec.rules.adl import has_mark_reached_bankruptcy
from perpspec.rules.contract import compute_value
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.insurance import compute_affordable_lots, compute_fill_delta
from perpspec.rules.liquidation_working import (
    CLOSE_OUT_MARK_BAND_PPM,
    compute_offer_limit,
    compute_working_anchor,
    compute_working_limit,
    is_within_working_limit,
)
from perpspec.rules.num import PPM, max_, not_
from perpspec.rules.position import Position, apply_fill

SIDES = (("long", 1), ("short", -1))  # the taken-over position: long (the engine sells) or short (it buys)
LimitRule = Callable[[Instrument, int, int, int, int], int]
OfferLimitRule = Callable[[Instrument, int, int, int, int, int], int]


def _symbolic_step(prover: Prover, symbol: str) -> Instrument:
    """The instrument with ``liquidationWorkStep`` a symbol in ``[0, 100%]`` (its validated range)."""
    step = prover.symbol("liquidation_work_step_ppm")
    prover.assume(step >= 0, "liquidationWorkStep ≥ 0")
    prover.assume(step <= PPM, "liquidationWorkStep ≤ 100%")
    return attrs.evolve(load_instrument(symbol), liquidation_work_step_ppm=step)


def prove_age_zero_is_bankruptcy(symbol: str, side: int, limit_rule: LimitRule) -> ProofResult:
    """LIQ-050 at age 0: the take-over price on the tick toward the system; a fill within it never draws."""
    with Prover() as prover:
        inst = _symbolic_step(prover, symbol)
        tick = inst.tick_size
        bankruptcy, price = prover.symbol("takeover_price"), prover.symbol("fill_price")
        prover.assume(bankruptcy >= tick, "take-over price at least one tick")
        prover.assume(bankruptcy <= inst.max_price, "take-over price at most maxPrice")
        assume_price(prover, inst, price, "fill price")
        mark = prover.symbol("mark_price")  # any mark
        limit = limit_rule(inst, side, bankruptcy, 0, mark)
        # once the mark has reached the take-over price, exactly that price on the tick; before (in profit at mark),
        # at or better than it (the mark band when that is better: session 17)
        reached = has_mark_reached_bankruptcy(side, bankruptcy, mark)
        if side > 0:  # selling: the smallest tick at or above the bankruptcy price
            rounded = all_of(limit >= bankruptcy, implies(reached, limit - tick < bankruptcy))
        else:  # buying: the largest tick at or below it
            rounded = all_of(limit <= bankruptcy, implies(reached, limit + tick > bankruptcy))
        no_draw = implies(
            is_within_working_limit(side, price, limit),
            compute_fill_delta(inst, side * inst.lot_size, price, bankruptcy) >= 0,
        )
        return prove_each(
            prover,
            [
                (all_of(limit % tick == 0, rounded), f"LIQ-050 age 0 on the tick toward the system {symbol}"),
                (no_draw, f"LIQ-050 a fill within the age-0 limit never draws {symbol}"),
            ],
        )


def prove_monotone(symbol: str, side: int, limit_rule: LimitRule) -> ProofResult:
    """LIQ-050: one waterfall older, the limit is never less aggressive."""
    with Prover() as prover:
        inst = _symbolic_step(prover, symbol)
        bankruptcy, age, mark = prover.symbol("takeover_price"), prover.symbol("age"), prover.symbol("mark_price")
        prover.assume(age >= 0, "age ≥ 0")
        # the move's product and floors, split by lemmas (each proved before the goal)
        anchor, step = compute_working_anchor(inst, side, bankruptcy), inst.liquidation_work_step_ppm
        prover.use(PRODUCT_MONOTONE, anchor, 0, step)
        scaled = anchor * step
        prover.use(PRODUCT_MONOTONE, scaled, max_(age, 0), max_(age + 1, 0))
        prover.use(FLOOR_MONOTONE, PPM, scaled * max_(age, 0), scaled * max_(age + 1, 0))
        moved_now, moved_later = scaled * max_(age, 0) // PPM, scaled * max_(age + 1, 0) // PPM
        prover.use(FLOOR_MONOTONE, inst.tick_size, moved_now, moved_later)
        now, later = limit_rule(inst, side, bankruptcy, age, mark), limit_rule(inst, side, bankruptcy, age + 1, mark)
        goal = later <= now if side > 0 else later >= now
        return prover.prove(goal, f"LIQ-050 monotone {symbol} side {side}")


def prove_in_range(symbol: str, side: int, limit_rule: LimitRule) -> ProofResult:
    """LIQ-050: every limit is a tick price in ``[tick, maxPrice]``, whatever the take-over price and age."""
    with Prover() as prover:
        inst = _symbolic_step(prover, symbol)
        bankruptcy, age, mark = prover.symbol("takeover_price"), prover.symbol("age"), prover.symbol("mark_price")
        prover.assume(age >= 0, "age ≥ 0")
        limit = limit_rule(inst, side, bankruptcy, age, mark)  # any mark, even outside the price range
        goal = all_of(limit >= inst.tick_size, limit <= inst.max_price, limit % inst.tick_size == 0)
        return prover.prove(goal, f"LIQ-050 in range {symbol} side {side}")


def prove_best_first_prefix(symbol: str, side: int) -> ProofResult:
    """LIQ-051: a price at least as good as one within the limit is within it (the allowed offers are a prefix)."""
    with Prover() as prover:
        inst = _symbolic_step(prover, symbol)
        bankruptcy, age = prover.symbol("takeover_price"), prover.symbol("age")
        price, better = prover.symbol("price"), prover.symbol("better_price")
        prover.assume(age >= 0, "age ≥ 0")
        prover.assume(better >= price if side > 0 else better <= price, "better_price at least as good for the engine")
        mark, cover = prover.symbol("mark_price"), prover.symbol("fund_cover")
        limit = compute_offer_limit(inst, side, bankruptcy, age, mark, cover)  # either sign of the cover
        goal = implies(is_within_working_limit(side, price, limit), is_within_working_limit(side, better, limit))
        return prover.prove(goal, f"LIQ-051 best first {symbol} side {side}")


def prove_restricted_fill_keeps_fund(symbol: str, side: int) -> ProofResult:
    """LIQ-051 with INS-002: a fill within the working limit (any age), as many lots as the fund affords, keeps it ≥ 0."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        fund, price, bankruptcy = prover.symbol("fund"), prover.symbol("price"), prover.symbol("takeover_price")
        age, offered = prover.symbol("age"), prover.symbol("offered_lots")
        assume_price(prover, inst, price, "fill price")
        assume_price(prover, inst, bankruptcy, "take-over price", on_tick=False)
        prover.assume(fund >= 0, "INV-INSURANCE-NONNEG before")
        prover.assume(offered >= 0, "offered lots")
        prover.assume(age >= 0, "age ≥ 0")
        mark, cover = prover.symbol("mark_price"), prover.symbol("fund_cover")
        limit = compute_offer_limit(inst, side, bankruptcy, age, mark, cover)
        prover.assume(is_within_working_limit(side, price, limit), "the offer is within the offer limit")
        lots = compute_affordable_lots(inst, side, price, bankruptcy, fund, offered)
        delta = compute_fill_delta(inst, side * lots * inst.lot_size, price, bankruptcy)
        return prover.prove(fund + delta >= 0, f"LIQ-051 fund ≥ 0 {symbol} side {side}")


def prove_restricted_fill_conserves(symbol: str, side: int) -> ProofResult:
    """LIQ-051: a close-out fill conserves (maker, engine cost basis, fund delta) at any tick price, so within any limit.

    Stated for every fill price rather than assuming the limit: a restriction of the offers keeps it.  Unlike
    INS-005's obligation, the take-over price need not be on the tick (LIQ-050 anchors on the tick, the
    take-over price itself is a bankruptcy price).
    """
    inst = load_instrument(symbol)
    with Prover() as prover:
        maker = prover.record(Position, "maker")
        qty, price, bankruptcy = prover.symbol("fill_qty"), prover.symbol("price"), prover.symbol("takeover_price")
        engine = prover.symbol("engine_qty")
        assume_position(prover, inst, maker, "maker")
        assume_price(prover, inst, price, "fill price")  # any tick price: so every price the working limit allows
        assume_price(prover, inst, bankruptcy, "take-over price", on_tick=False)
        prover.assume(qty % inst.lot_size == 0, "fill in whole lots")
        prover.assume(qty * side >= 0, "the engine closes toward flat: sells when long, buys when short")
        prover.assume(engine % inst.lot_size == 0, "engine in whole lots")
        after, realised = apply_fill(inst, maker, qty, price)  # the maker takes the other side
        delta = compute_fill_delta(inst, qty, price, bankruptcy)
        before = -maker.cost - compute_value(inst, engine, bankruptcy)
        after_sum = realised - after.cost - compute_value(inst, engine - qty, bankruptcy) + delta
        return prover.prove(after_sum == before, f"LIQ-051 conservation {symbol} side {side}")


def prove_no_worse_than_floor(symbol: str, side: int, offer_limit_rule: OfferLimitRule) -> ProofResult:
    """LIQ-051: every offer a close-out may take is no worse than the take-over price or than the close-out floor.

    Any take-over price, age ≥ 0, fund cover (either sign), ``liquidationWorkStep`` in
    ``[0, 100%]`` and mark in ``(0, maxPrice]``; the offer any tick price.  The floor is
    ``mark − ⌊mark × band⌋`` when the engine sells, ``mark + ⌊mark × band⌋`` when it buys
    (``CLOSE_OUT_MARK_BAND_PPM``, not rounded to the tick: the rule's tick rounding is toward
    the system, so a tick price within the rule's bound is within this one).
    """
    with Prover() as prover:
        inst = _symbolic_step(prover, symbol)
        bankruptcy, age, price = prover.symbol("takeover_price"), prover.symbol("age"), prover.symbol("offer_price")
        mark, cover = prover.symbol("mark_price"), prover.symbol("fund_cover")
        prover.assume(age >= 0, "age ≥ 0")
        assume_price(prover, inst, mark, "mark", on_tick=False)
        assume_price(prover, inst, price, "offer price")
        band = mark * CLOSE_OUT_MARK_BAND_PPM // PPM
        floor = mark - band if side > 0 else mark + band
        limit = offer_limit_rule(inst, side, bankruptcy, age, mark, cover)
        anchor = compute_working_anchor(inst, side, bankruptcy)
        goal = implies(
            is_within_working_limit(side, price, limit),
            any_of(is_within_working_limit(side, price, anchor), is_within_working_limit(side, price, floor)),
        )
        return prover.prove(goal, f"LIQ-051 no worse than the floor {symbol} side {side}")


def _offer_symbols(prover: Prover, symbol: str) -> tuple[Instrument, Any, Any, Any, Any, Any]:
    """The LIQ-051 offer obligations' inputs: the instrument with a symbolic ``liquidationWorkStep``, then the
    take-over price (any integer), the age (≥ 0), the offer (a tick price), the mark (in ``[tick, maxPrice]``, off
    the tick grid allowed: below one tick no tick price is within 5% above it) and the fund's cover (either sign)."""
    inst = _symbolic_step(prover, symbol)
    bankruptcy, age, price = prover.symbol("takeover_price"), prover.symbol("age"), prover.symbol("offer_price")
    mark, cover = prover.symbol("mark_price"), prover.symbol("fund_cover")
    prover.assume(age >= 0, "age ≥ 0")
    assume_price(prover, inst, mark, "mark", on_tick=False)
    prover.assume(mark >= inst.tick_size, "mark at least one tick")
    assume_price(prover, inst, price, "offer price")
    return inst, bankruptcy, age, price, mark, cover


def prove_within_mark_band(symbol: str, side: int, offer_limit_rule: OfferLimitRule) -> ProofResult:
    """LIQ-051: every offer a close-out may take is at or better than the mark ∓ 5% of it, whatever the take-over price.

    Any take-over price (LIQ-036: any integer), age ≥ 0, fund cover, ``liquidationWorkStep`` in
    ``[0, 100%]``; the mark in ``[tick, maxPrice]`` (below one tick no tick price is within 5% above
    it, and the bound is the lowest tick); the offer any tick price.  The band is not rounded to the
    tick (the rule's rounding is toward the system).
    """
    with Prover() as prover:
        inst, bankruptcy, age, price, mark, cover = _offer_symbols(prover, symbol)
        band = mark * CLOSE_OUT_MARK_BAND_PPM // PPM
        floor = mark - band if side > 0 else mark + band
        limit = offer_limit_rule(inst, side, bankruptcy, age, mark, cover)
        goal = implies(is_within_working_limit(side, price, limit), is_within_working_limit(side, price, floor))
        return prover.prove(goal, f"LIQ-051 within the mark band {symbol} side {side}")


def prove_no_draw_before_bankruptcy(symbol: str, side: int, offer_limit_rule: OfferLimitRule) -> ProofResult:
    """LIQ-051 with ADL-032: a close-out the mark has not taken to its bankruptcy price takes no offer that draws.

    Any age ≥ 0, fund cover (either sign), ``liquidationWorkStep`` in ``[0, 100%]``; the mark in
    ``[tick, maxPrice]`` and not at or beyond the take-over price; the offer any tick price.  First
    goal, for any take-over price (any integer): the offer is at or better than it (selling: ≥ it;
    buying: ≤ it).  Second, for a take-over price in ``[tick, maxPrice]`` (INS-001 divides by it for
    an inverse contract): a lot filled there has an INS-001 delta ≥ 0.
    """
    result: ProofResult | None = None
    for in_range in (False, True):
        with Prover() as prover:
            inst, bankruptcy, age, price, mark, cover = _offer_symbols(prover, symbol)
            prover.assume(not_(has_mark_reached_bankruptcy(side, bankruptcy, mark)), "in profit at mark (ADL-032: not due)")
            limit = offer_limit_rule(inst, side, bankruptcy, age, mark, cover)
            within = is_within_working_limit(side, price, limit)
            if not in_range:
                result = prover.prove(
                    implies(within, is_within_working_limit(side, price, bankruptcy)),
                    f"LIQ-051 no offer past the bankruptcy price before the mark reaches it {symbol} side {side}",
                )
                if result.status is not Status.PROVED:
                    return result
                continue
            assume_price(prover, inst, bankruptcy, "take-over price", on_tick=False)
            delta = compute_fill_delta(inst, side * inst.lot_size, price, bankruptcy)
            result = prover.prove(
                implies(within, delta >= 0),
                f"LIQ-051 no draw before the mark reaches the bankruptcy price {symbol} side {side}",
            )
    assert result is not None
    return result

def _register() -> None:
    for symbol in SYMBOLS:
        slow = SLOW_TIMEOUT_MS if load_instrument(symbol).is_inverse else None
        for side_name, side in SIDES:
            where = f"{symbol}/{side_name}"
            entries: list[tuple[str, str, str, str, Callable[[], ProofResult], str]] = [
                (f"LIQ-050/age-zero-is-bankruptcy/{where}", "LIQ-050", "INV-INSURANCE-NONNEG",
                 "At age 0 the working limit is on the tick and at or better than the take-over price (exactly that "
                 "price on the tick rounded toward the system once the mark has reached it); a fill within it never "
                 "draws on the fund.",
                 functools.partial(prove_age_zero_is_bankruptcy, symbol, side, compute_working_limit), "proved"),
                (f"LIQ-050/monotone/{where}", "LIQ-050", "LIQ-WORKING-MONOTONE",
                 "One waterfall older, the working limit is never less aggressive.",
                 functools.partial(prove_monotone, symbol, side, compute_working_limit), "proved"),
                (f"LIQ-050/in-range/{where}", "LIQ-050", "LIQ-WORKING-IN-RANGE",
                 "Every working limit is a tick price in [tick, maxPrice], whatever the take-over price and age.",
                 functools.partial(prove_in_range, symbol, side, compute_working_limit), "proved"),
                (f"LIQ-051/best-first-prefix/{where}", "LIQ-051", "LIQ-WORKING-PREFIX",
                 "A price at least as good as one within the offer limit (either sign of the fund cover) is within "
                 "it: the allowed offers are a prefix of the best-first book.",
                 functools.partial(prove_best_first_prefix, symbol, side), "proved"),
                (f"LIQ-051/fund-nonneg/{where}", "LIQ-051", "INV-INSURANCE-NONNEG",
                 "A fill within the offer limit (either sign of the fund cover), taken for the lots the fund affords "
                 "(INS-002), leaves the fund ≥ 0.",
                 functools.partial(prove_restricted_fill_keeps_fund, symbol, side), "proved"),
                (f"LIQ-051/conservation/{where}", "LIQ-051", "INV-CONSERVATION",
                 "A close-out fill within the working limit: maker, engine cost basis and fund delta sum to zero.",
                 functools.partial(prove_restricted_fill_conserves, symbol, side), "proved"),
                (f"LIQ-051/no-worse-than-floor/{where}", "LIQ-051", "INV-INSURANCE-NONNEG",
                 "Every offer a close-out may take (any age, mark and fund cover) is at or better than the take-over "
                 "price or than the close-out floor (the mark less 5% when selling, plus 5% when buying).",
                 functools.partial(prove_no_worse_than_floor, symbol, side, compute_offer_limit), "proved"),
                (f"LIQ-051/within-mark-band/{where}", "LIQ-051", "INV-INSURANCE-NONNEG",
                 "Every offer a close-out may take (any take-over price, age and fund cover; a mark in [tick, "
                 "maxPrice]) is within 5% of the mark: at or above the mark less 5% when selling, at or below the "
                 "mark plus 5% when buying.",
                 functools.partial(prove_within_mark_band, symbol, side, compute_offer_limit), "proved"),
                (f"LIQ-051/no-draw-before-bankruptcy/{where}", "LIQ-051", "INV-INSURANCE-NONNEG",
                 "A close-out whose mark has not reached its bankruptcy price (ADL-032: never due) takes no offer "
                 "worse than that price, whatever the fund cover and age: no fill it makes draws on the fund.",
                 functools.partial(prove_no_draw_before_bankruptcy, symbol, side, compute_offer_limit), "proved"),
                (f"KNOWN-BAD/LIQ-051/anchor-bound/{where}", "LIQ-051", "INV-INSURANCE-NONNEG",
                 "Known-bad (main until session 17, review15 find 1): a bound falling back to the take-over price "
                 "when the mark is beyond it fills a close-out in profit at mark far outside the mark band.",
                 functools.partial(prove_within_mark_band, symbol, side, compute_offer_limit_anchor_bound), "refuted"),
                (f"KNOWN-BAD/LIQ-051/widening-on-the-cover-alone/{where}", "LIQ-051", "INV-INSURANCE-NONNEG",
                 "Known-bad (review15 find 2): widening to the mark band on ADL-031's cover alone lets a close-out "
                 "in profit at mark fill past its bankruptcy price, the fund paying.",
                 functools.partial(
                     prove_no_draw_before_bankruptcy, symbol, side, compute_offer_limit_widening_on_the_cover_alone
                 ),
                 "refuted"),
                (f"KNOWN-BAD/LIQ-050/walking-in-profit/{where}", "LIQ-050", "INV-INSURANCE-NONNEG",
                 "Known-bad (review15 find 2): a walk stepping from the take-over price while the close-out is in "
                 "profit at mark moves away from the mark, past the bankruptcy price, the fund paying.",
                 functools.partial(prove_no_draw_before_bankruptcy, symbol, side, compute_offer_limit_walking_in_profit),
                 "refuted"),
                (f"KNOWN-BAD/LIQ-051/walking-past-the-mark/{where}", "LIQ-051", "INV-INSURANCE-NONNEG",
                 "Known-bad (ede41d3): a working limit walking with no floor passes the mark and the floor.",
                 functools.partial(prove_no_worse_than_floor, symbol, side, compute_offer_limit_walking_past_the_mark),
                 "refuted"),
                (f"KNOWN-BAD/LIQ-051/every-offer-once-uncovered/{where}", "LIQ-051", "INV-INSURANCE-NONNEG",
                 "Known-bad (ede41d3): taking every offer once the fund cover is negative takes offers past the floor.",
                 functools.partial(
                     prove_no_worse_than_floor, symbol, side, compute_offer_limit_every_offer_once_uncovered
                 ),
                 "refuted"),
                (f"KNOWN-BAD/LIQ-050/anchor-rounded-away/{where}", "LIQ-050", "INV-INSURANCE-NONNEG",
                 "Known-bad: the age-0 limit rounded away from the system lets the first fill draw on the fund.",
                 functools.partial(prove_age_zero_is_bankruptcy, symbol, side, compute_working_limit_rounded_away),
                 "refuted"),
                (f"KNOWN-BAD/LIQ-050/walking-away/{where}", "LIQ-050", "LIQ-WORKING-MONOTONE",
                 "Known-bad: a limit moving away from the market with age is not monotone.",
                 functools.partial(prove_monotone, symbol, side, compute_working_limit_walking_away), "refuted"),
            ]
            for obligation_id, rule_id, invariant_id, statement, run, expect in entries:
                register(
                    Obligation(
                        id=obligation_id, rule_id=rule_id, invariant_id=invariant_id, statement=statement, run=run,
                        expect="refuted" if expect == "refuted" else "proved", timeout_ms=slow,
                    )
                )


_register()
