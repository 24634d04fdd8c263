"""The ADL ranking of one close-out, computed only as far as the policy reads it (ADL-005, ADL-010).

A close-out that reaches ADL needs its eligible opposing positions (ADL-003)
in ranking order (ADL-001/002).  The ranking score cannot be indexed ahead of
time exactly: it is ``PnL% × effective leverage``, and both factors move with
the mark (``markValue``) and with the pool's equity (the account's wallet and,
for a cross pool, the marks of its other contracts), so two positions can swap
places on any mark update without either of them trading.  What the engine does
instead, exactly:

* it visits the contract's non-zero holders only (``Engine.holders``), tests
  the two conditions that need no pool — the opposite side, not losing at the
  bankruptcy price — before it computes a pool's equity (without its
  maintenance, which ADL does not read), and keeps ADL-003 as the final word;
* the ranked queue (ADL-010) closes the best-ranked positions in full until the
  quantity is covered, so it reads only a prefix of the ranking: the
  candidates go into a heap ordered by ADL-002 (``O(E)``) and only as many as
  are closed are taken out (``O(k log E)``), instead of sorting all ``E``;
  every other policy (pro-rata reads every size) gets the full ranking.

Both give exactly the candidates and ranks of a full scan and sort
(tests/test_adl_ranking.py compares them).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from rules.adl import (
    AdlCandidate,
    AdlPolicy,
    AdlScore,
    RankedQueuePolicy,
    compare_adl_priority,
    rank_candidates,
)


class _Ranked:
    """A candidate in the heap: ``a < b`` when ADL-002 deleverages ``a`` before ``b``."""

    __slots__ = ("candidate", "score", "size")

    def __init__(self, candidate: AdlCandidate) -> None:
        self.candidate = candidate
        self.score: AdlScore = candidate.score
        self.size = abs(candidate.qty)

    def __lt__(self, other: _Ranked) -> bool:
        a, b = self.score, other.score
        return (
            compare_adl_priority(
                a.num, a.den, self.size, self.candidate.account_id, b.num, b.den, other.size, other.candidate.account_id
            )
            == 1
        )


def select_ranked(candidates: Sequence[AdlCandidate], policy: AdlPolicy, lots: int, lot_size: int) -> list[AdlCandidate]:
    """The ranking (ADL-005) as far as ``policy`` reads it for ``lots`` lots to close.

    The ranked queue: the first candidates in ranking order until their sizes
    cover ``lots`` (all of them when they do not); its allocation over this
    prefix is the full ranking's, whose later entries all close 0.  Any other
    policy: every candidate, ranked.
    """
    if not isinstance(policy, RankedQueuePolicy):
        return rank_candidates(candidates)
    heap = [_Ranked(candidate) for candidate in candidates]
    heapq.heapify(heap)
    ranked: list[AdlCandidate] = []
    covered = 0
    while heap and covered < lots:
        first = heapq.heappop(heap).candidate
        ranked.append(first)
        covered += abs(first.qty) // lot_size
    return ranked
