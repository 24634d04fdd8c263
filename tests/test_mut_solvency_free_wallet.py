"""LIQ-053 / LIQ-054's rule functions at their exact figures (mutation survivors of ``rules/solvency.py``).

``compute_free_wallets`` is pinned term by term on an isolated reduction that realises a loss and pays a
commission (every term non-zero), ``is_fill_free_wallet_kept`` on an isolated open that leaves the free wallet
below zero (refused with no cross position open, accepted with one — the count is "any", not "more than one"),
and ``is_cross_pool_kept`` at a move of exactly one minor unit.
"""

from __future__ import annotations

from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.margin import CROSS
from perpspec.rules.position import Position
from perpspec.rules.solvency import (
    PoolState,
    compute_fill_outcome,
    compute_free_wallets,
    compute_pool_equity,
    is_cross_pool_kept,
    is_fill_free_wallet_kept,
)

XBTUSD = load_instrument("XBTUSD")
MARK = 5_000_000  # $50,000.00
FEE = 750  # ppm


def _isolated(qty: int, cost: int, margin: int, free_wallet: int) -> PoolState:
    return PoolState(
        position=Position(qty=qty, cost=cost), leverage_hundredths=1000, chosen_tier=0, pool_margin=margin, other_pnl=0,
        other_maintenance=0, free_wallet=free_wallet, account_equity=free_wallet, available=0,
    )  # fmt: skip


def test_liq_054_free_wallets_of_an_isolated_reduction_term_by_term() -> None:
    # a 10x long of 10,000 bought at $50,000 (cost 20,000,000 XBt), sold 4,000 at $48,000: a realised loss
    pool = _isolated(10_000, -20_000_000, 2_100_000, 7_000_000)
    outcome = compute_fill_outcome(XBTUSD, pool, -4_000, 4_800_000, FEE, MARK)
    assert outcome.realised < 0
    assert outcome.commission > 0
    assert outcome.pool_margin > 0
    before, after = compute_free_wallets(XBTUSD, pool, outcome, MARK)
    # before: the free wallet less this pool's margin; after: moved by realised − commission, less the margin after
    assert before == 7_000_000 - 2_100_000
    assert after == 7_000_000 + outcome.realised - outcome.commission - outcome.pool_margin


def test_liq_054_free_wallets_of_a_cross_fill() -> None:
    pool = PoolState(
        position=Position(qty=10_000, cost=-20_000_000), leverage_hundredths=CROSS, chosen_tier=0, pool_margin=3_000_000,
        other_pnl=0, other_maintenance=0, free_wallet=3_000_000, account_equity=3_000_000, available=0,
    )  # fmt: skip
    outcome = compute_fill_outcome(XBTUSD, pool, -10_000, 4_800_000, FEE, MARK)
    assert compute_free_wallets(XBTUSD, pool, outcome, MARK) == (
        compute_pool_equity(XBTUSD, pool, MARK),
        outcome.pool_margin,
    )


def test_liq_054_an_isolated_open_below_the_free_wallet_needs_one_open_cross_position() -> None:
    # flat 10x isolated, 1,000,000 XBt free: buying 10,000 at $50,000 needs 2,000,000 of margin plus commissions
    pool = _isolated(0, 0, 0, 1_000_000)
    outcome = compute_fill_outcome(XBTUSD, pool, 10_000, MARK, FEE, MARK)
    _, after = compute_free_wallets(XBTUSD, pool, outcome, MARK)
    assert after < 0
    # no cross position in the currency: the isolated position's own opening never counts as one
    assert not is_fill_free_wallet_kept(XBTUSD, pool, 10_000, MARK, FEE, MARK, 0)
    # one other open cross position backs it (LIQ-053 then judges the move)
    assert is_fill_free_wallet_kept(XBTUSD, pool, 10_000, MARK, FEE, MARK, 1)
    assert is_fill_free_wallet_kept(XBTUSD, pool, 10_000, MARK, FEE, MARK, 2)


def test_liq_053_a_move_of_one_unit_must_leave_the_maintenance() -> None:
    assert is_cross_pool_kept(10, 10, 0)  # nothing moves out
    assert not is_cross_pool_kept(10, 10, 1)  # one unit moved from a pool exactly at maintenance
    assert is_cross_pool_kept(11, 10, 1)
    assert is_cross_pool_kept(10, 10, -1)
