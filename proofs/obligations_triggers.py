"""Proof obligations of the trigger rules (rules/triggers.py): ORD-015 due, ORD-014 band, ORD-007/016/017 trailing.

Unbounded, for every order kind (buy or sell; stop or if-touched; with or without ``LastWithinMark``):

* **ORD-015/fires-from-stop** — an order is due exactly from its stopPx on in its firing direction: at a price
  equal to its stopPx, at every price further on (while ``LastWithinMark``'s band holds), never before it, never
  at a price of 0.  That monotonicity is what lets an index fire by one comparison against a sorted key.
* **ORD-015/index-keys** — the engine's trigger index (engine/core/triggers.py ``StopIndex``) decides what the rule
  decides: a fixed-stop order's heap test (key ``stopPx`` on a rising heap, ``−stopPx`` on a falling one, popped
  up to the price's key, in a pass that reads the heap: a price published, ``LastWithinMark``'s band).
* **ORD-014/edge** — the band around the mark is ``⌊mark / 20⌋`` price units each side, the edge included.
* **ORD-007/never-back** — a trailing stop's stopPx moves only away from the price (a sell's up, a buy's down).
* **ORD-007/never-fires** — a trailing stop's bucket in the index is taken exactly when the rule says it is due
  (``level − distance ≥ sign · price``), a bucket moved to the price (only in a pass that reads it:
  ``is_bucket_moved``) writes the stopPx ORD-007 gives at a price that counts (ORD-016), and that move never makes
  the stop due.
* **ORD-016/in-band** — ORD-007 with ORD-014's band (``compute_trailed_stop_px``): a ``LastWithinMark`` trailing stop
  moves only on a price within the band, never back, never into being due; the index's bucket, moved only in a
  pass the band allows (``is_bucket_moved`` of take_at's ``is_index_read``: the gate pass_level pops by), writes
  what the rule gives (red team 10: a wick out of the band dragged the stop along).
* **ORD-017/anchor** — a trailing stop placed (or re-offset) from ``compute_trailing_reference`` starts from a
  price that counts, is not due there, and the next pass at the same prices leaves it where it is.

The index obligations do not restate the index: they call the index kernels of rules/triggers.py (heap keys and
bounds, the comparison every heap pops by, a bucket's level, the level a pass moves it to, the stopPx written
back), which engine/core/triggers.py calls for every decision, so a slip there is refuted here; the engine file
is in ``DEPENDS_ON`` (a stored run is not reused after it changes).

Each has a known-bad variant that Z3 refutes: a strict comparison at stopPx (in the rule, in the index's pop), an
if-touched order firing the stop's way, a falling heap keyed by ``+stopPx``, a band without its edge, a trailing
stop that follows the price back, a band group's bucket moved out of the band (the pass's gate ignoring whether it
reads the group, through ORD-016/in-band and ORD-007/never-fires), a ``LastWithinMark`` stop placed from a last
price out of the band.

The invariant they serve is INV-TRIGGERS-DUE-FIRED: after every accepted command no untriggered order is due.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from perpspec.proofs.kernels_common import iff
from perpspec.proofs.prover import ProofResult, Prover
from perpspec.proofs.registry import Obligation, register
from perpspec.proofs.sym import all_of, implies
from perpspec.rules.num import and_, ite, not_, or_
from perpspec.rules.triggers import (
    compute_bucket_bound,
    compute_bucket_key,
    compute_bucket_stop_px,
    compute_index_key,
    compute_moved_level,
    compute_signed_price,
    compute_trailed_stop_px,
    compute_trailing_distance,
    compute_trailing_level,
    compute_trailing_reach,
    compute_trailing_reference,
    compute_trailing_stop_px,
    is_bucket_moved,
    is_index_key_reached,
    is_index_read,
    is_level_passed,
    is_rising_trigger,
    is_trigger_due,
    is_within_mark_band,
)

# The engine's trigger index decides by the index kernels of rules/triggers.py that these obligations prove; a
# change to how it calls them must not reuse a stored run (proofs/rulebook_status.py: declared_files).
DEPENDS_ON = ("engine/core/triggers.py",)

INVARIANT = "INV-TRIGGERS-DUE-FIRED"
KINDS = tuple((is_buy, if_touched) for is_buy in (True, False) for if_touched in (False, True))

DueRule = Callable[[bool, bool, bool, int, int, int], bool]
BandRule = Callable[[int, int], bool]
TrailRule = Callable[[bool, int, int, int], int]
TrailedRule = Callable[[bool, bool, int, int, int, int], int]
ReferenceRule = Callable[[bool, int, int], int]
ReachedRule = Callable[[int, int], bool]
KeyRule = Callable[[bool, int], int]
MovedRule = Callable[[bool, int, int], bool]


def _kind_name(is_buy: bool, if_touched: bool, within: bool) -> str:
    return f"{'buy' if is_buy else 'sell'}-{'if-touched' if if_touched else 'stop'}{'-within-mark' if within else ''}"


def prove_fires_from_stop(is_buy: bool, if_touched: bool, within: bool, due: DueRule = is_trigger_due) -> ProofResult:
    """ORD-015: due at stopPx, at every price beyond it in the firing direction, never before it, never at 0."""
    rising = is_rising_trigger(is_buy, if_touched)
    with Prover() as prover:
        stop, price, further, mark = (prover.symbol(name) for name in ("stop_px", "price", "further_price", "mark_price"))
        prover.assume(all_of(stop > 0, price > 0, mark > 0), "prices > 0")
        # ``further`` is at or beyond ``price`` in the firing direction (a rising trigger's above it, else below)
        prover.assume(all_of(further > 0, ite(rising, further - price, price - further) >= 0), "further on")

        def is_due(at: int) -> bool:
            return due(is_buy, if_touched, within, stop, at, mark)

        def counts(at: int) -> bool:
            return or_(not within, is_within_mark_band(at, mark))

        before = ite(rising, stop - price, price - stop) > 0  # the price has not reached stopPx
        goal = all_of(
            implies(counts(stop), is_due(stop)),
            implies(and_(is_due(price), counts(further)), is_due(further)),
            implies(before, not_(is_due(price))),
            not_(due(is_buy, if_touched, within, stop, 0, mark)),
        )
        return prover.prove(goal, f"ORD-015 fires from stopPx {_kind_name(is_buy, if_touched, within)}")


def prove_index_keys(
    is_buy: bool,
    if_touched: bool,
    within: bool,
    due: DueRule = is_trigger_due,
    reached: ReachedRule = is_index_key_reached,
    key: KeyRule = compute_index_key,
) -> ProofResult:
    """ORD-015: StopIndex's heap test is the rule's answer.  A pass reads the order's heap
    (:func:`is_index_read`) and pops it while the key of its stopPx is reached by the key of the price
    (:func:`is_index_key_reached` of :func:`compute_index_key`): the functions StopIndex.add, take_at and
    pop_below call."""
    rising = is_rising_trigger(is_buy, if_touched)  # StopIndex.add's heap (_fires_rising)
    with Prover() as prover:
        stop, price, mark = (prover.symbol(name) for name in ("stop_px", "price", "mark_price"))
        prover.assume(all_of(stop > 0, price >= 0, mark >= 0), "prices ≥ 0")
        taken = and_(is_index_read(within, price, mark), reached(key(rising, stop), key(rising, price)))
        return prover.prove(
            iff(due(is_buy, if_touched, within, stop, price, mark), taken),
            f"ORD-015 index keys {_kind_name(is_buy, if_touched, within)}",
        )


def prove_bucket(
    is_buy: bool,
    within: bool,
    due: DueRule = is_trigger_due,
    trail: TrailedRule = compute_trailed_stop_px,
    reached: ReachedRule = is_index_key_reached,
    moved: MovedRule = is_bucket_moved,
) -> ProofResult:
    """ORD-015 and ORD-007 (with ORD-016) on a trailing-stop bucket, through the functions StopIndex calls: the
    bucket holds the order's stopPx; a pass takes the stop (the bucket's heap entry, then the stop in the bucket)
    exactly when the rule says it is due; a bucket the pass moves (only one it reads and the price passed:
    :func:`is_bucket_moved`, pass_level's loop test) is moved to the price, and the stopPx written back is the one
    ORD-016 gives (:func:`compute_trailed_stop_px`: ORD-007 at a price that counts); a pass that does not read the
    bucket moves it not at all; and that move never makes the stop due."""
    with Prover() as prover:
        names = ("stop_px", "price", "mark_price", "peg_offset", "nearest_distance")
        stop, price, mark, offset, nearest = (prover.symbol(name) for name in names)
        prover.assume(all_of(stop > 0, price > 0, mark >= 0), "prices > 0 (take_due reads no price of 0)")
        distance = compute_trailing_distance(is_buy, offset)  # StopIndex.add_trailing
        prover.assume(distance > 0, "pegOffsetValue points away from the price (a sell's < 0, a buy's > 0)")
        prover.assume(all_of(nearest > 0, nearest <= distance), "the bucket's nearest stop is no further")
        level = compute_trailing_level(is_buy, stop, distance)  # StopIndex.add_trailing
        signed_price = compute_signed_price(is_buy, price)  # StopIndex.take_at
        # take_trailing: the bucket leaves the heap of buckets by its nearest stop, then the stop leaves the bucket
        bucket_reached = reached(compute_bucket_key(level, nearest), compute_bucket_bound(signed_price))
        stop_reached = reached(distance, compute_trailing_reach(level, signed_price))
        read = is_index_read(within, price, mark)  # StopIndex.take_at, once per group
        taken = and_(read, and_(bucket_reached, stop_reached))
        # pass_level: the buckets popped while is_bucket_moved holds move to compute_moved_level, the rest stay
        bucket_moved = moved(read, level, signed_price)
        moved_level = ite(bucket_moved, compute_moved_level(level, signed_price), level)
        new_stop = trail(is_buy, within, stop, price, mark, offset)

        def is_due(stop_px: int) -> bool:
            return due(is_buy, False, within, stop_px, price, mark)

        goal = all_of(
            compute_bucket_stop_px(is_buy, level, distance) == stop,
            iff(is_due(stop), taken),
            implies(bucket_moved, is_level_passed(level, signed_price)),  # a bucket moves only toward the price
            implies(not_(read), moved_level == level),  # a pass that does not read the group moves none of it
            compute_bucket_stop_px(is_buy, moved_level, distance) == new_stop,  # write_back, take_trailing
            implies(not_(is_due(stop)), not_(is_due(new_stop))),
        )
        return prover.prove(goal, f"ORD-015/ORD-007 trailing bucket {_kind_name(is_buy, False, within)}")


def prove_never_back(is_buy: bool, trail: TrailRule = compute_trailing_stop_px) -> ProofResult:
    """ORD-007: a trailing stop's stopPx never moves toward the price: a sell's never falls, a buy's never rises."""
    with Prover() as prover:
        stop, price, offset = (prover.symbol(name) for name in ("stop_px", "price", "peg_offset"))
        prover.assume(all_of(stop > 0, price >= 0), "stopPx > 0, price ≥ 0")
        prover.assume(ite(is_buy, offset, -offset) > 0, "pegOffsetValue points away from the price")
        new_stop = trail(is_buy, stop, price, offset)
        goal = all_of(ite(is_buy, stop - new_stop, new_stop - stop) >= 0, new_stop > 0)
        return prover.prove(goal, f"ORD-007 never back {'buy' if is_buy else 'sell'}")


def prove_trailed_bucket(
    is_buy: bool, within: bool, moved: MovedRule = is_bucket_moved, trail: TrailedRule = compute_trailed_stop_px
) -> ProofResult:
    """ORD-016 (ORD-007 with ORD-014) on a trailing-stop bucket, through the functions StopIndex calls: a pass moves
    the bucket only when it reads the group (take_at's :func:`is_index_read`: a LastWithinMark group's only in the
    band) and the price passed its level (:func:`is_bucket_moved`, pass_level's loop test), and the stopPx written
    back is :func:`compute_trailed_stop_px`'s; that never moves the stop back or makes it due, and a price out of
    the band moves a LastWithinMark stop not at all.  ``moved``: a known-bad gate stands in (the pass before red
    team 10 ignored the band)."""
    with Prover() as prover:
        stop, price, mark, offset = (prover.symbol(name) for name in ("stop_px", "price", "mark_price", "peg_offset"))
        prover.assume(all_of(stop > 0, price > 0, mark >= 0), "prices > 0")
        distance = compute_trailing_distance(is_buy, offset)  # StopIndex.add_trailing
        prover.assume(distance > 0, "pegOffsetValue points away from the price (a sell's < 0, a buy's > 0)")
        level = compute_trailing_level(is_buy, stop, distance)  # StopIndex.add_trailing
        signed_price = compute_signed_price(is_buy, price)  # StopIndex.take_at
        read = is_index_read(within, price, mark)  # StopIndex.take_at, once per group
        bucket_moved = moved(read, level, signed_price)  # pass_level pops the bucket while this holds
        moved_level = ite(bucket_moved, compute_moved_level(level, signed_price), level)  # pass_level
        moved_stop = compute_bucket_stop_px(is_buy, moved_level, distance)  # write_back
        new_stop = trail(is_buy, within, stop, price, mark, offset)
        counts = or_(not within, is_within_mark_band(price, mark))  # ORD-014: the price counts
        old_due = is_trigger_due(is_buy, False, within, stop, price, mark)
        goal = all_of(
            moved_stop == new_stop,
            ite(is_buy, stop - new_stop, new_stop - stop) >= 0,
            new_stop > 0,
            implies(not_(counts), new_stop == stop),
            implies(not_(old_due), not_(is_trigger_due(is_buy, False, within, new_stop, price, mark))),
        )
        gate = "" if moved is is_bucket_moved else " ungated"
        return prover.prove(goal, f"ORD-016 in band{gate} {_kind_name(is_buy, False, within)}")


def prove_anchor(is_buy: bool, reference: ReferenceRule = compute_trailing_reference) -> ProofResult:
    """ORD-017 (ORD-007 with ORD-014): a LastWithinMark trailing stop placed at ``reference + pegOffsetValue`` starts from a
    price in the band, is not due at the last price, and a pass at the same prices does not move it."""
    sign = -1 if is_buy else 1
    with Prover() as prover:
        last, mark, offset = (prover.symbol(name) for name in ("last_price", "mark_price", "peg_offset"))
        prover.assume(all_of(last > 0, mark > 0), "prices > 0 (the engine refuses a trailing stop before them)")
        prover.assume(-sign * offset > 0, "pegOffsetValue points away from the price (a sell's < 0, a buy's > 0)")
        anchor = reference(True, last, mark)
        stop = anchor + offset  # OrderEntry._stop_prices / amend: stopPx = reference + pegOffsetValue
        goal = all_of(
            is_within_mark_band(anchor, mark),
            not_(is_trigger_due(is_buy, False, True, stop, last, mark)),
            compute_trailed_stop_px(is_buy, True, stop, last, mark, offset) == stop,
        )
        return prover.prove(goal, f"ORD-017 anchor {'buy' if is_buy else 'sell'}-stop-within-mark")


def prove_band_edge(band: BandRule = is_within_mark_band) -> ProofResult:
    """ORD-014: within the band exactly when at most ``⌊mark / 20⌋`` price units from the mark (5%, edge included)."""
    with Prover() as prover:
        mark, away = prover.symbol("mark_price"), prover.symbol("away")
        prover.assume(mark > 0, "mark > 0")
        edge = mark // 20
        inside = and_(away >= -edge, away <= edge)
        return prover.prove(iff(band(mark + away, mark), inside), "ORD-014 band edge")


# -- known-bad variants (each refuted by the obligation it is run through) --------------------------------------


def _due_strict(is_buy: bool, if_touched: bool, last_within_mark: bool, stop_px: int, price: int, mark_price: int) -> bool:
    """KNOWN-BAD ORD-015: ``>``/``<`` instead of ``≥``/``≤`` (a price touching stopPx does not trigger)."""
    rising = is_rising_trigger(is_buy, if_touched)
    reached = or_(and_(rising, price > stop_px), and_(not_(rising), price < stop_px))
    in_band = or_(not_(last_within_mark), is_within_mark_band(price, mark_price))
    return and_(price != 0, and_(in_band, reached))


def _due_touched_as_stop(is_buy: bool, if_touched: bool, last_within_mark: bool, stop_px: int, price: int, mark_price: int) -> bool:
    """KNOWN-BAD ORD-015: an if-touched order fires the stop's way (ORD-005 ignored)."""
    del if_touched
    return is_trigger_due(is_buy, False, last_within_mark, stop_px, price, mark_price)


def _due_band_ignored(is_buy: bool, if_touched: bool, last_within_mark: bool, stop_px: int, price: int, mark_price: int) -> bool:
    """KNOWN-BAD ORD-015: ``LastWithinMark`` ignored (a last price 6% from the mark triggers)."""
    del last_within_mark
    return is_trigger_due(is_buy, if_touched, False, stop_px, price, mark_price)


def _band_strict(price: int, mark_price: int) -> bool:
    """KNOWN-BAD ORD-014: the band's edge excluded."""
    return (price - mark_price) * ite(price >= mark_price, 1, -1) * 20 < mark_price


def _trail_both_ways(is_buy: bool, stop_px: int, price: int, peg_offset: int) -> int:
    """KNOWN-BAD ORD-007: the stopPx follows the price both ways (back toward it too)."""
    del is_buy
    return ite(price != 0, price + peg_offset, stop_px)


def _trailed_both_ways(
    is_buy: bool, last_within_mark: bool, stop_px: int, price: int, mark_price: int, peg_offset: int
) -> int:
    """KNOWN-BAD ORD-007 (as ORD-016 reads it): the stopPx follows the price both ways (back toward it too)."""
    del is_buy, last_within_mark, mark_price
    return ite(price != 0, price + peg_offset, stop_px)


def _moved_ungated(read: bool, level: int, signed_price: int) -> bool:
    """KNOWN-BAD ORD-016 index: a bucket moves whenever the price passed its level, read or not (pass_level outside
    take_at's band test, before red team 10: an out-of-band wick drags a LastWithinMark stop)."""
    del read
    return is_level_passed(level, signed_price)


def _reference_last_always(last_within_mark: bool, price: int, mark_price: int) -> int:
    """KNOWN-BAD ORD-017: a LastWithinMark trailing stop placed from the last price even out of the band."""
    del last_within_mark, mark_price
    return price


def _key_unnegated(rising: bool, price: int) -> int:
    """KNOWN-BAD ORD-015 index: every heap keyed by ``+stopPx`` against ``+price`` (a falling heap pops the orders
    not yet due)."""
    del rising
    return price


def _reached_strict(key: int, bound: int) -> bool:
    """KNOWN-BAD ORD-015 index: an entry popped only below its bound (an order whose stopPx the price touches is
    not taken: red team 11's planted ``pop_below``)."""
    return key < bound


def _register() -> None:
    p = functools.partial
    for is_buy, if_touched in KINDS:
        for within in (False, True):
            name = _kind_name(is_buy, if_touched, within)
            register(
                Obligation(
                    id=f"ORD-015/fires-from-stop/{name}",
                    rule_id="ORD-015",
                    invariant_id=INVARIANT,
                    statement=(
                        f"A {name} order is due at its stopPx, at every price beyond it in its firing direction "
                        "(while the band holds), never before it and never at a price of 0."
                    ),
                    run=p(prove_fires_from_stop, is_buy, if_touched, within),
                )
            )
            register(
                Obligation(
                    id=f"ORD-015/index-keys/{name}",
                    rule_id="ORD-015",
                    invariant_id=INVARIANT,
                    statement=f"The trigger index's heap test for a {name} order decides exactly what ORD-015 decides.",
                    run=p(prove_index_keys, is_buy, if_touched, within),
                )
            )
        register(
            Obligation(
                id=f"KNOWN-BAD/ORD-015/strict/{_kind_name(is_buy, if_touched, False)}",
                rule_id="ORD-015",
                invariant_id=INVARIANT,
                statement="Known-bad: a strict comparison, so a price touching stopPx does not trigger.",
                run=p(prove_fires_from_stop, is_buy, if_touched, False, _due_strict),
                expect="refuted",
            )
        )
        if is_rising_trigger(is_buy, if_touched):
            continue  # keyed by +stopPx is right for a rising trigger
        register(
            Obligation(
                id=f"KNOWN-BAD/ORD-015/index-unnegated/{_kind_name(is_buy, if_touched, False)}",
                rule_id="ORD-015",
                invariant_id=INVARIANT,
                statement="Known-bad: the index keyed by +stopPx on both heaps (a falling trigger's test reversed).",
                run=p(prove_index_keys, is_buy, if_touched, False, key=_key_unnegated),
                expect="refuted",
            )
        )
    for is_buy in (True, False):
        side = "buy" if is_buy else "sell"
        register(
            Obligation(
                id=f"KNOWN-BAD/ORD-015/index-strict/{_kind_name(is_buy, False, False)}",
                rule_id="ORD-015",
                invariant_id=INVARIANT,
                statement="Known-bad: the index pops an entry only below its bound, so a stop its price touches waits.",
                run=p(prove_index_keys, is_buy, False, False, reached=_reached_strict),
                expect="refuted",
            )
        )
        register(
            Obligation(
                id=f"KNOWN-BAD/ORD-007/bucket-strict/{side}",
                rule_id="ORD-007",
                invariant_id=INVARIANT,
                statement="Known-bad: a trailing stop's bucket pops a stop only below its reach (one touched waits).",
                run=p(prove_bucket, is_buy, False, reached=_reached_strict),
                expect="refuted",
            )
        )
        register(
            Obligation(
                id=f"KNOWN-BAD/ORD-015/touched-as-stop/{side}",
                rule_id="ORD-015",
                invariant_id=INVARIANT,
                statement="Known-bad: an if-touched order fires the stop's way.",
                run=p(prove_fires_from_stop, is_buy, True, False, _due_touched_as_stop),
                expect="refuted",
            )
        )
        register(
            Obligation(
                id=f"KNOWN-BAD/ORD-015/band-ignored/{side}",
                rule_id="ORD-015",
                invariant_id=INVARIANT,
                statement="Known-bad: LastWithinMark ignored, so a price outside the band triggers.",
                run=p(prove_index_keys, is_buy, False, True, _due_band_ignored),
                expect="refuted",
            )
        )
        register(
            Obligation(
                id=f"ORD-007/never-back/{side}",
                rule_id="ORD-007",
                invariant_id=INVARIANT,
                statement=f"A {side} trailing stop's stopPx moves only away from the price, and stays above 0.",
                run=p(prove_never_back, is_buy),
            )
        )
        register(
            Obligation(
                id=f"KNOWN-BAD/ORD-007/both-ways/{side}",
                rule_id="ORD-007",
                invariant_id=INVARIANT,
                statement="Known-bad: the stopPx follows the price back toward it.",
                run=p(prove_never_back, is_buy, _trail_both_ways),
                expect="refuted",
            )
        )
        for within in (False, True):
            name = _kind_name(is_buy, False, within)
            register(
                Obligation(
                    id=f"ORD-007/never-fires/{name}",
                    rule_id="ORD-007",
                    invariant_id=INVARIANT,
                    statement=(
                        f"A {name} trailing stop's index bucket is due exactly when ORD-015 says; a bucket moved to the "
                        "price, only in a pass that reads it, writes the stopPx ORD-016 gives; a move never makes the "
                        "stop due."
                    ),
                    run=p(prove_bucket, is_buy, within),
                )
            )
        register(
            Obligation(
                id=f"KNOWN-BAD/ORD-007/never-fires-both-ways/{side}",
                rule_id="ORD-007",
                invariant_id=INVARIANT,
                statement="Known-bad: a stopPx following the price both ways is not what the index's buckets write.",
                run=p(prove_bucket, is_buy, False, is_trigger_due, _trailed_both_ways),
                expect="refuted",
            )
        )
    _register_in_band()
    register(
        Obligation(
            id="ORD-014/edge",
            rule_id="ORD-014",
            invariant_id=INVARIANT,
            statement="A price is within LastWithinMark's band exactly when at most ⌊mark / 20⌋ units from the mark.",
            run=prove_band_edge,
        )
    )
    register(
        Obligation(
            id="KNOWN-BAD/ORD-014/edge-excluded",
            rule_id="ORD-014",
            invariant_id=INVARIANT,
            statement="Known-bad: the band's edge excluded.",
            run=p(prove_band_edge, _band_strict),
            expect="refuted",
        )
    )



def _register_in_band() -> None:
    """ORD-016 / ORD-017 (ORD-007 with ORD-014, red team 10): the band-aware trailing rule, the index's guarded pass, the anchor."""
    p = functools.partial
    for is_buy in (True, False):
        side = "buy" if is_buy else "sell"
        for within in (False, True):
            name = _kind_name(is_buy, False, within)
            register(
                Obligation(
                    id=f"ORD-016/in-band/{name}",
                    rule_id="ORD-016",
                    invariant_id=INVARIANT,
                    statement=(
                        f"A {name} trailing stop moves only on a price that counts (ORD-014), away from the price "
                        "and never into being due; the index's bucket, moved only in a pass the band allows, writes "
                        "that stopPx."
                    ),
                    run=p(prove_trailed_bucket, is_buy, within),
                )
            )
        register(
            Obligation(
                id=f"KNOWN-BAD/ORD-016/out-of-band-moves/{side}",
                rule_id="ORD-016",
                invariant_id=INVARIANT,
                statement="Known-bad: a LastWithinMark bucket moved by a price outside the band (before red team 10).",
                run=p(prove_trailed_bucket, is_buy, True, _moved_ungated),
                expect="refuted",
            )
        )
        register(
            Obligation(
                id=f"KNOWN-BAD/ORD-007/never-fires-ungated/{side}",
                rule_id="ORD-007",
                invariant_id=INVARIANT,
                statement=(
                    "Known-bad: the index moves a LastWithinMark bucket in a pass that does not read it (out of the "
                    "band), so the stopPx written back is not ORD-016's."
                ),
                run=p(prove_bucket, is_buy, True, moved=_moved_ungated),
                expect="refuted",
            )
        )
        register(
            Obligation(
                id=f"ORD-017/anchor/{side}",
                rule_id="ORD-017",
                invariant_id=INVARIANT,
                statement=(
                    f"A LastWithinMark {side} trailing stop starts from a price within the band (the mark while the "
                    "last price is out of it), is not due there, and stays put at the same prices."
                ),
                run=p(prove_anchor, is_buy),
            )
        )
        register(
            Obligation(
                id=f"KNOWN-BAD/ORD-017/anchor-out-of-band/{side}",
                rule_id="ORD-017",
                invariant_id=INVARIANT,
                statement="Known-bad: a LastWithinMark trailing stop placed from a last price outside the band.",
                run=p(prove_anchor, is_buy, _reference_last_always),
                expect="refuted",
            )
        )


_register()
