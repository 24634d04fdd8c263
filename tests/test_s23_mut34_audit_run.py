"""mut34: the auditor's funding *run* (engine/audit/instant.py: Instant.claim, get_tick_before) where a mutation round
found it untested (session 23; the code of aud22: f397542, c880d3b, 6e1e78c).

- ``claim``: each match claims the *latest* unclaimed execution it accepts, and never one another match claimed
  (two fills of a partial liquidation at the same quantity and price are two executions); a restart clears every
  mark of the run (``run_marked`` too); a position claimed twice keeps the first (the one before the run changed it);
- ``get_tick_before``: the instant just closed is read only at the rate row's own timestamp, and says whether a
  mark row came in its run (``TickStart.marked``).
"""

from __future__ import annotations

from collections.abc import Callable

from perpspec.engine.audit.instant import Execution, Instant, TickStart, get_tick_before
from perpspec.rules.position import Position

X, P = "XBTUSD", 5_000_000
A = Position(qty=100, cost=2_000)
B = Position(qty=200, cost=4_000)
C = Position(qty=-50, cost=-1_000)


def _maker(account: int) -> Callable[[Execution], bool]:
    return lambda row: row[:4] == (account, X, -100, P)


def test_a_match_claims_the_latest_execution_it_accepts() -> None:
    """A close-out's maker (7, -100 @ P) traded the same quantity at the same price earlier in the instant, by a plain
    trade: the close-out claims the latest, the earlier one is a plain trade (the run restarts after it), and the
    run's position before is the one the close-out's fill found (B), not the plain trade's (A)."""
    now = Instant()
    now.trade((7, X, -100, P, A))
    now.trade((7, X, -100, P, B))
    now.claim((_maker(7),))
    assert now.before == {(7, X): B}
    assert now.unclaimed == []


def test_two_matches_claim_two_executions_never_one_twice() -> None:
    """A partial liquidation's two fills at the same quantity and price: both executions are its own, the run goes
    on (nothing unclaimed), and the position before is the first fill's."""
    now = Instant()
    now.before, now.worked = {(3, X): C}, True  # the run so far
    now.trade((7, X, -100, P, A))
    now.trade((7, X, -100, P, B))
    now.claim((_maker(7), _maker(7)))
    assert now.worked  # no restart: every execution claimed
    assert now.before == {(3, X): C, (7, X): A}  # the first change's position before


def test_a_position_claimed_again_keeps_the_one_before_the_run_changed_it() -> None:
    now = Instant()
    now.trade((7, X, -100, P, A))
    now.claim((_maker(7),))
    now.trade((7, X, -100, P, B))
    now.claim((_maker(7),))
    assert now.before == {(7, X): A}


def test_a_plain_trade_restarts_the_run_and_its_mark_rows() -> None:
    now = Instant()
    now.before, now.worked, now.taken_first, now.run_marked = {(3, X): C}, True, {X}, {X}
    now.explained = True  # opened by a mark row or a plain trade (a run opened by nothing is kept: redteam34_1)
    now.trade((9, X, 100, P, A))  # claimed by no record: a plain trade
    now.claim()
    assert (now.before, now.worked, now.taken_first, now.run_marked) == ({}, False, set(), set())
    now.first_line = 10
    assert get_tick_before(now, None, 12, "t", X) == ({}, False)  # no mark row in the run since the trade


def test_the_instant_just_closed_is_read_at_its_own_timestamp_and_says_whether_it_was_marked() -> None:
    now = Instant()
    now.first_line = 12  # the rate row opens the instant
    previous = TickStart(timestamp="t5", before={(7, X): A}, taken_first=frozenset(), marked=frozenset({X}))
    assert get_tick_before(now, previous, 12, "t5", X) == ({(7, X): A}, True)
    unmarked = TickStart(timestamp="t5", before={(7, X): A}, taken_first=frozenset())
    assert get_tick_before(now, unmarked, 12, "t5", X) == ({(7, X): A}, False)
    assert get_tick_before(now, previous, 12, "t6", X) == ({}, False)  # another instant's: nothing to roll back
