"""An index of positions by liquidation price, per contract: O(log n + k) per mark update.

Each indexed position carries its **trigger price**: the last mark price at
which its margin pool is still at or above maintenance (MRG-010 with the
pool's margin and the LIQ-001 maintenance as the reserve), computed with
every *other* input of the pool fixed.  A long is a candidate when the mark
is *below* its trigger price, a short when the mark is *above* it.  Entries
live in two lists per contract sorted by ``(price, account)``, so the
candidates of a mark update are one bisection plus the ``k`` entries found,
never a scan of all accounts.

The index is a filter, not the rule: the engine re-checks every candidate
with the rules' own predicate (LIQ-003) before liquidating, and thresholds
are rounded toward safety, so a stale or rounded entry can only produce a
candidate that is then found healthy — never a missed liquidation, provided
the engine refreshes the entries whose inputs changed (it marks accounts
dirty after fills, deposits, withdrawals, funding and margin changes, and
refreshes them before it queries).

MRG-010 clamps its threshold to ``[tickSize, maxPrice]``: a short unsafe at
every valid price gets one tick, a long ``maxPrice`` — a trigger the mark
can sit *at* (or, for a short, below) without passing it.  Such a position
is indexed beyond the bound (:func:`index_trigger`: a short at 0, a long at
``maxPrice + 1``), where every mark passes it, so LIQ-003 decides (attack
review 3: a pool below zero at a price bound was never liquidated).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort

from perpspec.engine.core.compiled import mypyc_attr

_BIG = 1 << 62


def index_trigger(is_long: bool, threshold: int, tick_size: int, max_price: int) -> int:
    """The trigger to index for MRG-010's (clamped) ``threshold``: beyond the bound when it is clamped to one.

    A short's threshold at one tick and a long's at ``maxPrice`` may be clamped (unsafe at every valid
    price), so they are indexed where every valid mark selects them: a short at 0, a long at
    ``maxPrice + 1``.  Only a filter: a position exactly safe at the bound becomes a candidate that
    LIQ-003 then finds healthy; nothing is liquidated that LIQ-003 does not call liquidatable.
    """
    if is_long:
        return max_price + 1 if threshold >= max_price else threshold
    return 0 if threshold <= tick_size else threshold


@mypyc_attr(allow_interpreted_subclasses=True)  # picklable when compiled (engine.core.compiled)
class LiqIndex:
    """Per contract: longs and shorts sorted by ``(trigger price, account)``."""

    __slots__ = ("entries", "longs", "shorts")

    def __init__(self) -> None:
        self.longs: dict[str, list[tuple[int, int]]] = {}
        self.shorts: dict[str, list[tuple[int, int]]] = {}
        self.entries: dict[tuple[int, str], tuple[bool, int]] = {}  # (account, symbol) -> (is_long, price)

    def __len__(self) -> int:
        return len(self.entries)

    def set(self, account: int, symbol: str, is_long: bool, price: int) -> None:
        """Index ``account``'s position in ``symbol`` at trigger ``price`` (replaces any previous entry)."""
        key = (account, symbol)
        old = self.entries.get(key)
        if old == (is_long, price):
            return
        if old is not None:
            self._drop(account, symbol, old)
        self.entries[key] = (is_long, price)
        table = self.longs if is_long else self.shorts
        insort(table.setdefault(symbol, []), (price, account))

    def remove(self, account: int, symbol: str) -> None:
        """Forget ``account``'s position in ``symbol`` (flat)."""
        old = self.entries.pop((account, symbol), None)
        if old is not None:
            self._drop(account, symbol, old)

    def _drop(self, account: int, symbol: str, old: tuple[bool, int]) -> None:
        is_long, price = old
        table = (self.longs if is_long else self.shorts)[symbol]
        index = bisect_left(table, (price, account))
        assert table[index] == (price, account)
        del table[index]

    def candidates(self, symbol: str, mark_price: int) -> list[tuple[int, int]]:
        """``(account, trigger price)`` of positions in ``symbol`` beyond their trigger at ``mark_price``.

        Longs with trigger > mark (furthest first: highest trigger), then shorts
        with trigger < mark (furthest first: lowest trigger); ties by account.
        """
        longs = self.longs.get(symbol, [])
        shorts = self.shorts.get(symbol, [])
        start = bisect_right(longs, (mark_price, _BIG))
        end = bisect_left(shorts, (mark_price, -_BIG))
        found = [(account, price) for price, account in sorted(longs[start:], key=lambda e: (-e[0], e[1]))]
        found.extend((account, price) for price, account in shorts[:end])
        return found

    def canonical(self) -> tuple[object, ...]:
        """Sorted contents, for the state hash."""
        return tuple(sorted(self.entries.items()))
