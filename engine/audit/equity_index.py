"""Which holders a mark move can take across zero equity: INV-NO-NEG-EQUITY-AFTER-ADL in time linear in the log.

The auditor judges every account's equity at mark after every mark update and funding instant.  Judging every
holder at every move cost holders x mark rows (redteam18_2: a clean 0.95 MB log took 12-20 s).  A holder's judged
state changes only when its equity in some asset crosses zero, and between two postings (which put the account in
the auditor's ``since_check``) an asset's equity moves only with the marks of the positions that settle in it:

* with **one** such position, equity is ``constant + compute_value(inst, qty, mark)``, monotone in the mark
  (CON-002: linear in it, or minus whole lots times a per-lot value rounded half up, non-increasing in the mark), so
  the account's status stays what it was on one side of a **flip mark** and the index keeps it in a heap per symbol
  (``falls``: judged again when the mark goes below its key; ``rises``: when it goes above);
* with **none**, equity is constant until a posting;
* with **two or more**, or when the account's last judgement left it below zero *unreported* (exempt as a carry,
  a shortfall or a waiting pool: it must be judged again at every move), or a position has no mark yet, the
  account is judged at every move (``always``).

The flip mark is first the mark it was judged at (cheap: nothing computed); when a move crosses that, the account is
judged again and, if its status held, the exact flip mark is found by bisection over the same kernel
(``compute_value``), so a mark going back and forth, or trending, judges each account O(1) times between postings.
Skipping an account is exact: its status, and so the auditor's findings and ``negative_accounts``, are what judging
it would give.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping
from typing import Final

from perpspec.rules.contract import compute_value
from perpspec.rules.instrument import Instrument
from perpspec.rules.position import Position

CAP: Final = 1 << 63  # above any mark a log can state that the ledger accepts (a flip beyond it is judged there)


class EquityIndex:
    """The holders to judge at a mark move: those whose flip mark it crossed, and those judged at every move."""

    def __init__(self, instruments: Mapping[str, Instrument]) -> None:
        self.instruments = instruments
        self.always: set[int] = set()
        self._falls: dict[str, list[tuple[int, int, int]]] = {}  # (-flip, account, version): judged when mark < flip
        self._rises: dict[str, list[tuple[int, int, int]]] = {}  # (flip, account, version): judged when mark > flip
        self._version: dict[int, int] = {}
        self._live: dict[int, int] = {}  # entries of the account's current version
        self._live_total = 0
        self._entries = 0

    def crossed(self, before: Mapping[str, int], marks: Mapping[str, int]) -> set[int]:
        """The accounts whose flip mark the move from ``before`` to ``marks`` crossed (taken out of the index)."""
        found: set[int] = set()
        version = self._version
        for symbol, mark in marks.items():
            if before.get(symbol) == mark:
                continue
            falls = self._falls.get(symbol)
            while falls and -falls[0][0] > mark:
                _, account, stamp = heapq.heappop(falls)
                self._entries -= 1
                if version.get(account) == stamp:
                    found.add(account)
            rises = self._rises.get(symbol)
            while rises and rises[0][0] < mark:
                _, account, stamp = heapq.heappop(rises)
                self._entries -= 1
                if version.get(account) == stamp:
                    found.add(account)
        for account in found:  # out of the index until judged again
            self._forget(account)
        return found

    def unmarked(self, account: int) -> None:
        """The account holds a position with no mark yet (not judged): judged at every move until it is."""
        self._forget(account)
        self.always.add(account)

    def judged(
        self,
        account: int,
        positions: Mapping[str, Position],
        marks: Mapping[str, int],
        equities: Mapping[str, int],
        reported: frozenset[str] | set[str],
        exact: bool,
    ) -> None:
        """Index ``account`` after it was judged at ``marks`` with ``equities`` per asset; ``reported``: its assets
        in the auditor's ``negative_accounts``; ``exact``: find the exact flip marks (a move crossed the last ones)."""
        self._forget(account)
        self.always.discard(account)
        by_asset: dict[str, list[str]] = {}
        for symbol, position in positions.items():
            if position.qty != 0:
                by_asset.setdefault(self.instruments[symbol].settl_currency, []).append(symbol)
        stamp = self._version[account] = self._version.get(account, 0) + 1
        for asset, equity in equities.items():
            symbols = by_asset.get(asset, ())
            if equity < 0 and asset not in reported:
                self._forget(account)
                self.always.add(account)  # exempt this time: judged again at the next move, whatever it is
                return
            if not symbols:
                continue  # constant until a posting
            if len(symbols) > 1:
                self._forget(account)
                self.always.add(account)
                return
            symbol = symbols[0]
            inst, qty, mark = self.instruments[symbol], positions[symbol].qty, marks[symbol]
            if mark <= 0:
                self._forget(account)
                self.always.add(account)
                return
            rising = qty > 0 if inst.is_inverse else qty * inst.multiplier > 0  # equity non-decreasing in the mark
            base = equity - compute_value(inst, qty, mark)
            positive = equity >= 0
            falls = rising == positive  # the status holds from the flip up (else: up to the flip)
            flip = _flip(inst, qty, base, positive, mark, falls) if exact else mark
            if falls:  # judged again when the mark goes below the flip
                heapq.heappush(self._falls.setdefault(symbol, []), (-flip, account, stamp))
            else:  # judged again when the mark goes above it
                heapq.heappush(self._rises.setdefault(symbol, []), (flip, account, stamp))
            self._entries += 1
            self._live[account] = self._live.get(account, 0) + 1
            self._live_total += 1
        if self._entries > 4 * self._live_total + 4096:
            self._compact()

    def _forget(self, account: int) -> None:
        """The account's entries become stale (dropped when popped or compacted)."""
        if account in self._version:
            self._version[account] += 1
        self._live_total -= self._live.pop(account, 0)

    def _compact(self) -> None:
        version = self._version
        for heaps in (self._falls, self._rises):
            for symbol, heap in heaps.items():
                heaps[symbol] = [entry for entry in heap if version.get(entry[1]) == entry[2]]
                heapq.heapify(heaps[symbol])
        self._entries = sum(len(heap) for heaps in (self._falls, self._rises) for heap in heaps.values())


def _flip(inst: Instrument, qty: int, base: int, positive: bool, mark: int, falls: bool) -> int:
    """The last mark, going down (``falls``) or up from ``mark``, at which ``base + value(qty, m) >= 0`` is still
    ``positive`` (the same kernel as ``compute_account_equity``)."""

    def holds(m: int) -> bool:
        return (base + compute_value(inst, qty, m) >= 0) == positive

    return _lowest(holds, mark) if falls else _highest(holds, mark)


def _lowest(holds: Callable[[int], bool], mark: int) -> int:
    """The smallest m in [1, mark] from which ``holds(m)`` is true up to ``mark`` (``holds(mark)`` is true and
    ``holds`` is monotone: false below some point, true from it)."""
    low, high = 1, mark
    if holds(low):
        return low
    while high - low > 1:  # holds(high), not holds(low)
        middle = (low + high) // 2
        if holds(middle):
            high = middle
        else:
            low = middle
    return high


def _highest(holds: Callable[[int], bool], mark: int) -> int:
    """The largest m >= mark up to which ``holds(m)`` is true (``holds(mark)`` is true, ``holds`` monotone: true up to
    some point, false above it); :data:`CAP` when it holds there."""
    low, high = mark, max(2 * mark, mark + 1)
    while high < CAP and holds(high):
        low, high = high, min(2 * high, CAP)
    if holds(high):
        return high
    while high - low > 1:  # holds(low), not holds(high)
        middle = (low + high) // 2
        if holds(middle):
            low = middle
        else:
            high = middle
    return low
