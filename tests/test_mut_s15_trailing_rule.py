"""ORD-007's rule (rules/triggers.py ``compute_trailing_stop_px``, session 14): a buy's stopPx never falls to 0 or
below (session 15, helper "mut15").

The engine's accepted trailing stops never reach that edge (a buy trails above the price with a positive offset,
and prices are positive), so the suite, which drives the rule through the engine, let ``candidate > 0`` become
``candidate >= 0`` or ``candidate > 1``.  The rule is total: it is what the engine applies to any stop it judges one
by one (``StopIndex.odd``: a snapshot's offsets pointing the wrong way) and what the proofs read; its edge is pinned
here directly.
"""

from __future__ import annotations

from perpspec.rules.triggers import compute_trailing_stop_px


def test_ord_007_a_buy_stop_falls_to_one_price_unit_but_never_to_zero_or_below() -> None:
    # candidate = price + pegOffsetValue: 1 is a price, 0 and -1 are not
    assert compute_trailing_stop_px(True, 100, 50, -49) == 1
    assert compute_trailing_stop_px(True, 100, 50, -50) == 100
    assert compute_trailing_stop_px(True, 100, 50, -51) == 100
    # the ordinary case, for contrast: the price falls, the buy's stopPx follows it down at its distance
    assert compute_trailing_stop_px(True, 100, 40, 50) == 90


def test_ord_007_a_stop_follows_only_away_and_a_price_of_zero_moves_nothing() -> None:
    assert compute_trailing_stop_px(False, 90, 120, -20) == 100  # a sell's stopPx rises with the price
    assert compute_trailing_stop_px(False, 90, 100, -20) == 90  # never back down
    assert compute_trailing_stop_px(True, 90, 60, 20) == 80  # a buy's falls with the price
    assert compute_trailing_stop_px(True, 90, 80, 20) == 90  # never back up
    assert compute_trailing_stop_px(False, 90, 0, -20) == 90  # no price yet
    assert compute_trailing_stop_px(True, 90, 0, 20) == 90
