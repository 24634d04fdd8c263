"""LIQ-036/037 at their boundary: a pool left at exactly zero does not owe; one that owes ends at exactly zero.

Found by ``python -m tests.mutation rules/liquidation.py`` (issue 13, mutants 43, 67 and 45).  LIQ-036 takes a
pool's only position over beyond the price range only when LIQ-005's price, clamped to ``[tickSize, maxPrice]``,
still leaves the pool *below* zero; LIQ-037 takes the last position of an owing cross pool over at its unclamped
bankruptcy price for a *zero* reserve.  The proofs (``owing-pool-ends-solvent``) hold for both sides of each
boundary, so only exact values tell them apart.  ETHUSD (quanto, tick 0.05, maxPrice 1,000,000.00): a long of 10
contracts bought at 3,000.00 is worth exactly 10 XBT at maxPrice.
"""

from __future__ import annotations

from perpspec.rules.contract import compute_value
from perpspec.rules.liquidation import (
    compute_cover_takeover_price,
    compute_owing_cover_takeover_price,
    compute_owing_takeover_price,
    compute_takeover_price,
)
from perpspec.rules.position import Position
from tests.strategies import BUILTIN

ETHUSD = BUILTIN["ETHUSD"]
ENTRY = 300_000  # 3,000.00
MARK = 300_000
LONG = Position(qty=10, cost=compute_value(ETHUSD, 10, ENTRY))  # 3,000,000 XBt


def _left(backing: int, price: int) -> int:
    return backing + compute_value(ETHUSD, LONG.qty, price) - LONG.cost


def test_liq_036_a_pool_left_at_exactly_zero_by_the_clamped_price_does_not_owe_and_is_taken_over_at_max_price() -> None:
    # the pool's margin is 9.97 XBT below zero: closing at maxPrice (worth 10 XBT) leaves exactly 0, less than the
    # 1,000 XBt reserve (so LIQ-005's price is clamped) but not below zero: no owing take-over beyond the range
    backing = LONG.cost - compute_value(ETHUSD, LONG.qty, ETHUSD.max_price)
    assert backing == -997_000_000
    assert compute_takeover_price(ETHUSD, LONG, backing, 1_000) == ETHUSD.max_price
    assert _left(backing, ETHUSD.max_price) == 0
    assert compute_owing_takeover_price(ETHUSD, LONG, backing, 1_000) == ETHUSD.max_price
    assert compute_owing_takeover_price(ETHUSD, LONG, backing, 1) == ETHUSD.max_price


def test_liq_036_one_satoshi_more_owed_takes_the_pool_over_beyond_max_price_with_its_reserve() -> None:
    backing = LONG.cost - compute_value(ETHUSD, LONG.qty, ETHUSD.max_price) - 1
    price = compute_owing_takeover_price(ETHUSD, LONG, backing, 1_000)
    assert price == 100_000_105  # one satoshi short at maxPrice: 1,001 XBt more needs 21 ticks (50 XBt each)
    assert _left(backing, price) == 1_049
    assert _left(backing, price - ETHUSD.tick_size) == 999  # one tick less keeps less than the reserve


def test_liq_037_the_last_position_of_an_owing_pool_is_taken_over_where_the_pool_ends_at_exactly_zero() -> None:
    # owing 10 XBT more than the long is worth at 2,000,000.00 (twice maxPrice): LIQ-035's price, clamped to
    # maxPrice, leaves the pool below zero, so LIQ-037 prices it beyond the range for a zero reserve: exactly at
    # 2,000,000.00, where the pool ends at 0 (a reserve of one satoshi would need one more tick)
    beyond = 2 * ETHUSD.max_price
    backing = LONG.cost - compute_value(ETHUSD, LONG.qty, beyond)
    assert compute_cover_takeover_price(ETHUSD, LONG, backing, MARK) == ETHUSD.max_price
    assert _left(backing, ETHUSD.max_price) < 0
    assert compute_owing_cover_takeover_price(ETHUSD, LONG, backing, MARK) == beyond
    assert _left(backing, beyond) == 0
    assert _left(backing, beyond - ETHUSD.tick_size) < 0
