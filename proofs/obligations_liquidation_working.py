"""Proof obligations of working a taken-over position (rules/liquidation_working.py, LIQ-050/051).

Per instrument kind (inverse XBTUSD, quanto ETHUSD, linear XBTUSDT) and side of the
taken-over position (long: the engine sells; short: it buys), unbounded: any
take-over price (any integer, since LIQ-036 takes an owing pool over beyond the
price range), any age ≥ 0 and — unless said otherwise — any ``liquidationWorkStep``
in ``[0, 100%]`` (the instrument's step is a symbol, not its file value):

* **LIQ-050 age 0 is the bankruptcy price** — for a take-over price in
  ``[tick, maxPrice]`` the age-0 limit is that price on the tick rounded toward
  the system (the smallest tick ≥ it when selling, the largest ≤ it when buying),
  and a lot filled at any tick price within that limit never draws on the fund
  (INS-001 ≥ 0);
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
  stated band (attack2, issue 13).

Known-bad variants (each expected refuted): the anchor rounded away from the
system (age 0 draws on the fund); the limit walking away from the market; the
walk without a floor (ede41d3: past the mark); every offer once the cover is
negative (ede41d3).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import attrs

from perpspec.proofs.known_bad_liquidation_working import (
    compute_offer_limit_every_offer_once_uncovered,
    compute_offer_limit_walking_past_the_mark,
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
from perpspec.proofs.prover import ProofResult, Prover
from perpspec.proofs.registry import Obligation, register
from perpspec.proofs.sym import all_of, any_of, implies
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
from perpspec.rules.num import PPM, max_
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
        limit = limit_rule(inst, side, bankruptcy, 0, prover.symbol("mark_price"))  # any mark
        if side > 0:  # selling: the smallest tick at or above the bankruptcy price
            rounded = all_of(limit >= bankruptcy, limit - tick < bankruptcy)
        else:  # buying: the largest tick at or below it
            rounded = all_of(limit <= bankruptcy, limit + tick > bankruptcy)
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


def _register() -> None:
    for symbol in SYMBOLS:
        slow = SLOW_TIMEOUT_MS if load_instrument(symbol).is_inverse else None
        for side_name, side in SIDES:
            where = f"{symbol}/{side_name}"
            entries: list[tuple[str, str, str, str, Callable[[], ProofResult], str]] = [
                (f"LIQ-050/age-zero-is-bankruptcy/{where}", "LIQ-050", "INV-INSURANCE-NONNEG",
                 "At age 0 the working limit is the take-over price on the tick rounded toward the system; a fill "
                 "within it never draws on the fund.",
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
