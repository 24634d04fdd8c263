"""ADL: auto-deleveraging — who closes the part of a bankrupt position nobody would buy (reference §7).

When a taken-over position cannot be closed in the book and the insurance
fund cannot pay for worse fills, the rest is closed against **opposing
positions at the bankruptcy price** of the liquidated position.  The engine
loses nothing on these closes (it took the position over at that price), so
the fund is not touched; the opposing traders give up the difference between
the mark and the bankruptcy price on the contracts closed — the *haircut*.

**Who is eligible** (ADL-003).  A position on the opposite side of the same
contract whose owner

* is not losing on it at the bankruptcy price (``value(qty, bk) − cost ≥ 0``:
  profit at mark is not enough — a solver finding: a position profitable at
  mark but losing at the bankruptcy price would be pushed below zero), and
* keeps a non-negative pool equity at mark even if the whole position is closed
  at the bankruptcy price.  Closing part of it moves the equity linearly
  between today's (≥ 0) and that, so no partial close can push it below zero.

**Ranking** (ADL-001, ADL-002), highest first, longs and shorts separately::

    PnL%               = (markValue − cost) / |cost|
    effective leverage = |markValue| / pool equity     (the distance to bankruptcy)
    score              = PnL% × leverage   if PnL% > 0
                       = PnL% / leverage   if PnL% < 0
                       = 0                 if PnL% = 0 (between the winners and the losers)

Scores are compared as exact fractions by cross-multiplication (never as
floats).  A pool equity ≤ 0 counts as one minor unit (the largest possible
leverage).  **Tie-break** (BitMEX is silent): equal scores are ordered by the
larger position (``|qty|``) first, then by the smaller account id.  One
account holds one position per contract, so the order is a strict total order
over the candidates of one contract side (INV-ADL-ORDER).

**Trigger** (ADL-030, ADL-031).  ADL runs only when the taken-over rest
cannot be closed in the book *and* the contract's insurance fund is depleted
(reference §7).  "Depleted" is measured at mark: the fund's balance plus the
PnL at mark of everything the liquidation engine still holds in that
currency (each held position was taken over at its bankruptcy price, so that
PnL is ``value(qty, mark) − value(qty, bankruptcy)``).  While that sum is
≥ 0 the fund still covers the loss of closing at mark: the engine keeps the
position and retries the book on the next mark update; only when it is < 0
are opposing positions deleveraged.

**Which held position** (ADL-032).  A depleted fund is not enough: a held
position is deleveraged only once the mark has reached its bankruptcy price
(at or beyond it: a held long's mark at or below its take-over price, a held
short's at or above), as reference §7 triggers ADL for a liquidation that
"cannot be filled by the time the mark price reaches the bankruptcy price".
Only then does its own PnL at mark make the fund pay (≤ 0), and only then is
closing it at the bankruptcy price a haircut (≥ 0) for the opposing trader.
A held position in profit at mark stays with the liquidation engine (for the
book, or for settlement) however deep the cover: closing it at its bankruptcy
price would cover no shortfall, it would hand the held profit to the
top-ranked opposing trader (a negative haircut) and leave the fund poorer
(session 16, red team 15).  The held positions that are due are worked in
take-over order, as every close-out (LIQ-034).

**Policies** (one interface, :class:`AdlPolicy`): BitMEX's *ranked queue*
closes the top-ranked positions in full until the quantity is covered;
*pro-rata* closes every eligible position in proportion to its size, in whole
lots: each share is rounded down, and the lots left over go one each to the
positions whose share was rounded down, in ranking order — so the total is
exact and no position gives more than its size.  Both close no more than the
unfilled quantity (INV-ADL-MINIMAL).

**Indicator** (ADL-006, ADL-007): every position shows its priority in 20%
bands of the ranked queue's *cumulative quantity* — BitMEX's five lights and
``deleveragePercentile``: the first fifth of the contracts in the queue shows
5 lights, whatever the number of positions holding them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Protocol

import attrs

from perpspec.rules.contract import compute_value
from perpspec.rules.instrument import Instrument
from perpspec.rules.num import PPM, abs_, and_, concrete, ite, max_, min_, not_, or_

# -- trigger ----------------------------------------------------------------------


def compute_held_pnl(inst: Instrument, held_qty: int, takeover_price: int, mark_price: int) -> int:
    """ADL-030: PnL at mark of a position the liquidation engine holds, taken over at ``takeover_price``."""
    return compute_value(inst, held_qty, mark_price) - compute_value(inst, held_qty, takeover_price)


def compute_fund_cover(fund_balance: int, held_pnls: Sequence[int]) -> int:
    """ADL-031: the fund's balance if everything held were closed at mark; ADL only when this is < 0."""
    total = fund_balance
    for pnl in held_pnls:
        total = total + pnl
    return total


def has_mark_reached_bankruptcy(held_qty: int, takeover_price: int, mark_price: int) -> bool:
    """ADL-032: has the mark reached the bankruptcy price of a held close-out (at or beyond it)?

    ``held_qty`` signed as the liquidation engine holds it: a held long at a mark at
    or below ``takeover_price``, a held short at or above it.  Its PnL at mark
    (ADL-030) is then ≤ 0; before, it is in profit at mark.  Also LIQ-050/051's
    condition for drawing on the fund to close it (rules/liquidation_working.py).
    """
    return or_(and_(held_qty > 0, mark_price <= takeover_price), and_(held_qty < 0, mark_price >= takeover_price))


def is_adl_due(held_qty: int, takeover_price: int, mark_price: int, fund_cover: int) -> bool:
    """ADL-032: is a held close-out deleveraged: the fund's cover is < 0 and the mark has reached its bankruptcy price?

    ``held_qty`` signed as the liquidation engine holds it (a held long > 0),
    taken over at ``takeover_price`` (its bankruptcy price); ``fund_cover`` is
    ADL-031's.  A held long is due at a mark at or below that price, a held
    short at or above it: its PnL at mark (ADL-030) is then ≤ 0, and every
    opposing position closed against it at that price gives up a haircut ≥ 0
    (ADL-004).  A held position the mark has not taken there is kept.
    """
    return and_(fund_cover < 0, has_mark_reached_bankruptcy(held_qty, takeover_price, mark_price))


# -- ranking ----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class AdlScore:
    """An exact ranking score ``num / den`` (``den > 0``)."""

    num: int
    den: int


def compute_adl_score(mark_value: int, cost: int, pool_equity: int) -> AdlScore:
    """ADL-001: the ranking score of a position as an exact fraction (PnL% × or ÷ effective leverage)."""
    pnl = mark_value - cost
    abs_cost = max_(abs_(cost), 1)
    abs_mark_value = max_(abs_(mark_value), 1)
    equity = max_(pool_equity, 1)  # equity <= 0: the largest leverage
    # PnL% x leverage = (pnl / |cost|) * (|markValue| / equity)
    # PnL% / leverage = (pnl / |cost|) * (equity / |markValue|)
    num = ite(pnl > 0, pnl * abs_mark_value, ite(pnl < 0, pnl * equity, 0))
    den = ite(pnl > 0, abs_cost * equity, ite(pnl < 0, abs_cost * abs_mark_value, 1))
    return AdlScore(num=num, den=den)


def compare_adl_priority(
    a_num: int, a_den: int, a_size: int, a_id: int, b_num: int, b_den: int, b_size: int, b_id: int
) -> int:
    """ADL-002: 1 when ``a`` is deleveraged before ``b``, -1 when after, 0 only for the same candidate.

    Higher score first (fractions compared by cross-multiplication, ``den > 0``);
    then the larger ``|qty|``; then the smaller account id.
    """
    lhs = a_num * b_den
    rhs = b_num * a_den
    by_id = ite(a_id < b_id, 1, ite(a_id > b_id, -1, 0))
    by_size = ite(a_size > b_size, 1, ite(a_size < b_size, -1, by_id))
    return ite(lhs > rhs, 1, ite(lhs < rhs, -1, by_size))


# -- eligibility ------------------------------------------------------------------


def is_adl_eligible(
    inst: Instrument, qty: int, cost: int, pool_equity: int, mark_price: int, bankrupt_qty: int, bankruptcy_price: int
) -> bool:
    """ADL-003: may this position be closed against a bankrupt position of ``bankrupt_qty`` at its bankruptcy price?

    Opposite side; not losing at the bankruptcy price; pool equity at mark
    still ≥ 0 if the whole position were closed at the bankruptcy price.
    """
    opposite = ite(qty > 0, 1, ite(qty < 0, -1, 0)) * ite(bankrupt_qty > 0, 1, -1) < 0
    value_at_bankruptcy = compute_value(inst, qty, bankruptcy_price)
    not_losing = value_at_bankruptcy - cost >= 0
    equity_if_closed = pool_equity + value_at_bankruptcy - compute_value(inst, qty, mark_price)
    return and_(opposite, and_(not_losing, and_(equity_if_closed >= 0, pool_equity >= 0)))


def compute_haircut(inst: Instrument, close_qty: int, mark_price: int, bankruptcy_price: int) -> int:
    """ADL-004: what closing ``close_qty`` (signed like the candidate's position) at the bankruptcy price costs its owner against the mark."""
    return compute_value(inst, close_qty, mark_price) - compute_value(inst, close_qty, bankruptcy_price)


# -- allocation policies ---------------------------------------------------------------


def compute_queue_allocation(sizes: Sequence[int], unfilled: int) -> tuple[int, ...]:
    """ADL-010: BitMEX's ranked queue — each candidate in ranking order closes up to its size until covered.

    ``sizes`` and ``unfilled`` in whole lots (≥ 0); the result is lots per candidate.
    """
    remaining = unfilled
    allocation: list[int] = []
    for size in sizes:  # structural: the number of candidates is concrete
        take = max_(min_(size, remaining), 0)
        allocation.append(take)
        remaining = remaining - take
    return tuple(allocation)


def compute_pro_rata_allocation(sizes: Sequence[int], unfilled: int) -> tuple[int, ...]:
    """ADL-011: pro-rata by size — floor shares, then one leftover lot each in ranking order.

    ``sizes`` (lots, ≥ 0, in ranking order) and ``unfilled`` (lots).  When the
    candidates hold less than ``unfilled`` in total, every one closes in full.
    Otherwise share ``i`` is ``floor(unfilled × size_i / total)``; the
    ``unfilled − Σ shares`` lots left over (fewer than the number of shares
    that were rounded down) go one each to the candidates whose share was
    rounded down, in ranking order.
    """
    total = 0
    for size in sizes:  # structural
        total = total + size
    covered = unfilled >= total
    shares = [compute_pro_rata_share(unfilled, size, total) for size in sizes]
    given = 0
    for share in shares:  # structural
        given = given + share.lots
    leftover = unfilled - given
    allocation: list[int] = []
    for size, share in zip(sizes, shares, strict=True):  # structural
        extra = ite(and_(leftover > 0, share.rounded_down), 1, 0)
        leftover = leftover - extra
        allocation.append(ite(covered, size, share.lots + extra))
    return tuple(allocation)


@attrs.frozen(kw_only=True)
class ProRataShare:
    """One candidate's floor share of the unfilled lots, and whether it was rounded down."""

    lots: int
    rounded_down: bool


def compute_pro_rata_share(unfilled: int, size: int, total: int) -> ProRataShare:
    """ADL-012: ``floor(unfilled × size / total)`` lots, and whether a fraction was cut off (``total > 0``)."""
    safe_total = ite(total == 0, 1, total)
    lots = unfilled * size // safe_total  # floor: never above the exact share
    return ProRataShare(lots=lots, rounded_down=unfilled * size - lots * safe_total > 0)


class AdlPolicy(Protocol):
    """How the unfilled lots of a bankrupt position are spread over the ranked, eligible candidates."""

    @property
    def name(self) -> str:
        """The policy's name, as events show it."""
        ...

    def allocate(self, sizes: Sequence[int], unfilled: int) -> tuple[int, ...]:
        """Lots closed per candidate (same order as ``sizes``, which is ranking order)."""
        ...


@attrs.frozen(kw_only=True)
class RankedQueuePolicy:
    """BitMEX: the highest-ranked positions are closed first, each in full, until covered."""

    name: str = "ranked-queue"

    def allocate(self, sizes: Sequence[int], unfilled: int) -> tuple[int, ...]:
        """Applies ADL-010 over the ranked candidates."""
        return compute_queue_allocation(sizes, unfilled)


@attrs.frozen(kw_only=True)
class ProRataPolicy:
    """Every eligible position gives up the same fraction of its size (whole lots, exact total)."""

    name: str = "pro-rata"

    def allocate(self, sizes: Sequence[int], unfilled: int) -> tuple[int, ...]:
        """Applies ADL-011 over the ranked candidates."""
        return compute_pro_rata_allocation(sizes, unfilled)


POLICIES: dict[str, AdlPolicy] = {"ranked-queue": RankedQueuePolicy(), "pro-rata": ProRataPolicy()}


# -- candidates and the indicator ----------------------------------------------------------


@attrs.frozen(kw_only=True)
class AdlCandidate:
    """A position as the ranking sees it (money in minor units, qty in contracts)."""

    account_id: int
    qty: int
    cost: int
    pool_equity: int  # equity at mark of the pool the position belongs to
    mark_value: int  # value(qty, mark)

    @property
    def score(self) -> AdlScore:
        """ADL-001 for this position."""
        return compute_adl_score(self.mark_value, self.cost, self.pool_equity)


@concrete
def compare_candidates(left: AdlCandidate, right: AdlCandidate) -> int:
    """Applies ADL-002 on two candidates (1: ``left`` goes first)."""
    a, b = left.score, right.score
    return compare_adl_priority(a.num, a.den, abs(left.qty), left.account_id, b.num, b.den, abs(right.qty), right.account_id)


@concrete
def rank_candidates(candidates: Sequence[AdlCandidate]) -> list[AdlCandidate]:
    """ADL-005: candidates in ranking order, first to be deleveraged first."""

    # each score computed once, not twice per comparison (same order as compare_candidates)
    scored = [(candidate, candidate.score) for candidate in candidates]

    def first_before(left: tuple[AdlCandidate, AdlScore], right: tuple[AdlCandidate, AdlScore]) -> int:
        (a, a_score), (b, b_score) = left, right
        return -compare_adl_priority(
            a_score.num, a_score.den, abs(a.qty), a.account_id, b_score.num, b_score.den, abs(b.qty), b.account_id
        )

    return [candidate for candidate, _ in sorted(scored, key=functools.cmp_to_key(first_before))]


@attrs.frozen(kw_only=True)
class DeleverageIndicator:
    """A position's place in the queue: BitMEX ``deleveragePercentile`` and its five lights."""

    account_id: int
    rank: int  # 0 = first to be deleveraged on its side
    percentile_ppm: int  # 1_000_000 = the very top of the queue
    lights: int  # 1..5, one per 20% band (5 = top 20%)


def compute_deleverage_band(qty_ahead: int, total_qty: int) -> int:
    """ADL-006: the 20% band of a position with ``qty_ahead`` contracts ranked before it in a queue of ``total_qty``.

    BitMEX places a position by the *cumulative quantity* of the ranked queue,
    not by its rank among the positions: 5 lights while less than 20% of the
    queue's contracts are ahead of it, … 1 light when 80% or more are.  With
    equal sizes this is the rank's fifth.
    """
    safe = ite(total_qty == 0, 1, total_qty)
    # floor: a position on a band edge shows the band it has reached
    return 5 - (5 * qty_ahead) // safe


@concrete
def compute_deleverage_indicators(candidates: Sequence[AdlCandidate]) -> list[DeleverageIndicator]:
    """ADL-007: the indicator of every position on one side of one contract (eligible or not).

    Ranked by ADL-005; each position's band (ADL-006) and percentile come from
    the contracts ranked before it: ``percentile = (total − ahead) / total``
    (1_000_000 ppm for the first position: the share of the queue's quantity
    from it to the end).
    """
    ranked = rank_candidates(candidates)
    total = sum(abs(candidate.qty) for candidate in ranked)
    indicators = []
    ahead = 0
    for rank, candidate in enumerate(ranked):
        indicators.append(
            DeleverageIndicator(
                account_id=candidate.account_id,
                rank=rank,
                # floor: the percentile shown never overstates the priority
                percentile_ppm=(total - ahead) * PPM // max(total, 1),
                lights=compute_deleverage_band(ahead, total),
            )
        )
        ahead += abs(candidate.qty)
    return indicators


def is_strictly_ordered(comparison: int) -> bool:
    """ADL-008: a comparison between two distinct candidates must decide (never 0)."""
    return not_(comparison == 0)
