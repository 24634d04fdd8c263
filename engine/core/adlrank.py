"""The ADL ranking during one waterfall, kept up to date and read only as far as needed (ADL-003, ADL-005, ADL-010).

A close-out that reaches ADL needs its eligible opposing positions (ADL-003)
in ranking order (ADL-001/002).  The ranking score cannot be indexed across
mark updates: it is ``PnL% × effective leverage``, and both factors move with
the mark (``markValue``) and with the pool's equity (the wallet and, for a
cross pool, the marks of its other contracts), so two positions can swap
places on any mark update without either of them trading.

Within one waterfall the marks do not move, and a position's score changes
only when its account changes — and every change the waterfall makes (a
take-over, a close-out fill, an ADL fill) marks the account dirty for the
liquidation index (``Engine._touch``), which forgets them only at the index
refresh that ends each round; the waterfall notes them in the ranking just
before that refresh.  So :class:`AdlRanking`, created at the start of a
waterfall and dropped at its end (one per mark update or funding, not one per
round), keeps per contract and side every holder's row (qty, cost, pool
equity, mark value, score), built on the first ADL of that side, and re-reads
only the accounts marked dirty since.
The order is produced lazily: the rows sit in a heap ordered by ADL-002
(``O(n)`` to build), and are moved into a sorted ``walked`` prefix only as a
close-out reads further down the ranking.  A close-out under the ranked
queue (ADL-010) walks the ranking from the top, keeps the positions ADL-003
finds eligible for *its* bankruptcy price, and stops once their sizes cover
it; pro-rata reads every row.  A re-read row that ranks before the end of the
prefix is inserted into it (``O(log n)``), any other goes to the heap; an old
row is dropped from the prefix, or marked dead in the heap.

The eligible positions and their order are exactly those of a scan of every
holder through ADL-003 followed by a full sort by ADL-002 (a total order
restricted to a subset keeps its order); tests/test_adl_ranking.py checks it
against that scan, call by call, through whole waterfalls.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Iterator

from perpspec.rules.adl import AdlCandidate, AdlScore, compare_adl_priority


class _Row:
    """A holder's position as ADL ranks it: ``a < b`` when ADL-002 deleverages ``a`` before ``b``."""

    __slots__ = ("candidate", "dead", "score", "size", "walked")

    def __init__(self, candidate: AdlCandidate) -> None:
        self.candidate = candidate
        self.score: AdlScore = candidate.score
        self.size = abs(candidate.qty)
        self.dead = False  # replaced or gone; still in the heap until popped
        self.walked = False  # in the sorted prefix

    def __lt__(self, other: _Row) -> bool:
        a, b = self.score, other.score
        return (
            compare_adl_priority(
                a.num, a.den, self.size, self.candidate.account_id, b.num, b.den, other.size, other.candidate.account_id
            )
            == 1
        )


RowOf = Callable[[int], AdlCandidate | None]  # an account's row on this side, None when it holds none there


class _Side:
    """One side of one contract: ``walked`` (sorted, best first), then ``heap`` (the rest, unordered)."""

    __slots__ = ("heap", "row_of", "rows", "walked")

    def __init__(self, holders: Iterable[int], row_of: RowOf) -> None:
        self.row_of = row_of
        self.rows: dict[int, _Row] = {}
        for account_id in holders:
            candidate = row_of(account_id)
            if candidate is not None:
                self.rows[account_id] = _Row(candidate)
        self.heap = list(self.rows.values())
        heapq.heapify(self.heap)
        self.walked: list[_Row] = []

    def resync(self, account_id: int) -> None:
        """Re-read one account's row (after it changed)."""
        new = self.row_of(account_id)
        old = self.rows.get(account_id)
        if old is not None and new is not None and old.candidate == new:
            return
        if old is not None:
            del self.rows[account_id]
            old.dead = True
            if old.walked:
                index = bisect_left(self.walked, old)
                assert self.walked[index] is old
                del self.walked[index]
        if new is not None:
            row = _Row(new)
            self.rows[account_id] = row
            if self.walked and row < self.walked[-1]:
                row.walked = True
                insort(self.walked, row)
            else:
                heapq.heappush(self.heap, row)

    def in_order(self) -> Iterator[AdlCandidate]:
        """Every row, best ranked first, extending the sorted prefix as far as the caller reads."""
        index = 0
        while True:
            if index < len(self.walked):
                yield self.walked[index].candidate
                index += 1
                continue
            while self.heap and self.heap[0].dead:
                heapq.heappop(self.heap)
            if not self.heap:
                return
            row = heapq.heappop(self.heap)
            row.walked = True
            self.walked.append(row)


class AdlRanking:
    """The ADL rankings of one waterfall (marks fixed), per contract and side, kept up to date from dirty accounts."""

    def __init__(self) -> None:
        self.sides: dict[tuple[str, bool], _Side] = {}
        self.changed: dict[int, None] = {}

    def note(self, account_ids: Iterable[int]) -> None:
        """These accounts may have changed since they were last read."""
        for account_id in account_ids:
            self.changed[account_id] = None

    def ranked(self, symbol: str, longs: bool, holders: Iterable[int], row_of: RowOf) -> Iterator[AdlCandidate]:
        """The holders of ``symbol`` on one side (``longs``), in ADL-002 order, read lazily.

        ``row_of`` gives an account's current row on that side; it is called for
        the holders when the side is first read, then for the noted accounts.
        """
        for built in self.sides.values():
            for account_id in self.changed:
                built.resync(account_id)
        self.changed = {}
        key = (symbol, longs)
        if key not in self.sides:
            self.sides[key] = _Side(holders, row_of)
        return self.sides[key].in_order()
