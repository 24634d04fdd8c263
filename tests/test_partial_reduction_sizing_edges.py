"""LIQ-008/010/013 at their edges: a lot worth more than the tier's limit, and a limit price using the headroom exactly.

Found by ``python -m tests.mutation rules/liquidation.py`` (issue 13, mutants 25, 34 and 55):

* LIQ-008 keeps the most whole lots whose cost fits the lower tier, *zero* included: when a single lot is worth
  more than the tier's limit the whole position is closed (nothing pinned the lower bound of the clamp; an
  instrument's ``riskLimit`` only has to be positive, so a lot may be worth more than it);
* LIQ-013 prices the FillOrKill with *no* reserve: at the limit price the pool is left with exactly the new tier's
  maintenance, not one unit more;
* LIQ-010 signs the reduction like the position, also for a position of one contract.
"""

from __future__ import annotations

from perpspec.rules.contract import compute_value
from perpspec.rules.instrument_file import load_instrument, validate
from perpspec.rules.liquidation import (
    compute_partial_plan,
    compute_partial_reduction,
    compute_pool_residual,
    compute_reduction_to_tier,
)
from perpspec.rules.margin import CROSS
from perpspec.rules.position import Position
from tests.strategies import BUILTIN

MARK = 5_000_000  # 50,000.00


def test_liq_008_a_lot_worth_more_than_the_tiers_limit_closes_the_whole_position() -> None:
    # XBTUSDT with a 10 USDT base limit and 10 USDT steps (valid: riskLimit and riskStep only need to be positive);
    # a long of two lots (1,000 contracts each, 50 USDT a lot at 50,000.00): tiers 0-3 (limit <= 40 USDT) hold no
    # lot, so both are closed; tiers 4-8 hold one; tier 9 holds both
    inst = load_instrument("XBTUSDT", {"riskLimit": 10_000_000, "riskStep": 10_000_000})
    assert validate(inst) is None
    position = Position(qty=2_000, cost=compute_value(inst, 2_000, MARK))
    assert position.cost == 100_000_000
    assert [compute_reduction_to_tier(inst, position, tier) for tier in (0, 3, 4, 8, 9)] == [2_000, 2_000, 1_000, 1_000, 0]
    short = Position(qty=-2_000, cost=compute_value(inst, -2_000, MARK))
    assert compute_reduction_to_tier(inst, short, 3) == 2_000
    # LIQ-010 one tier down from 4: the whole position, leaving it flat
    reduction = compute_partial_reduction(inst, position, CROSS, 4, 10**9, 0, MARK)
    assert (reduction.close_qty, reduction.kept, reduction.new_tier) == (2_000, Position(qty=0, cost=0), 3)


def test_liq_013_the_limit_price_leaves_exactly_the_new_tiers_maintenance() -> None:
    # XBTUSDT long of 30,000,000 contracts at 50,000.00 (1.5 M USDT: one step above the 1 M base limit): LIQ-010
    # closes 10,000,000.  The pool's equity is set so that closing at 49,000.00 leaves exactly the new maintenance:
    # that is the limit price (LIQ-013, no reserve), and it is feasible (LIQ-014) with nothing to spare
    inst = BUILTIN["XBTUSDT"]
    position = Position(qty=30_000_000, cost=compute_value(inst, 30_000_000, MARK))
    probe = compute_partial_reduction(inst, position, CROSS, 1, 10**13, 0, MARK)
    assert (probe.close_qty, probe.new_tier, probe.new_maintenance) == (10_000_000, 0, 10_765_000_000)
    headroom = probe.closed_mark_value - compute_value(inst, probe.close_qty, 4_900_000)
    assert headroom == 10_000_000_000  # 10,000 USDT: what closing 10,000,000 at 49,000.00 loses against the mark
    plan = compute_partial_plan(inst, position, CROSS, 1, headroom + probe.new_maintenance, 0, MARK)
    assert (plan.limit_price, plan.feasible, plan.reduction.headroom) == (4_900_000, True, headroom)
    reduction = plan.reduction
    at_limit = compute_pool_residual(inst, reduction.close_qty, reduction.closed_mark_value, headroom, 4_900_000)
    assert at_limit == 0
    one_tick_worse = 4_900_000 - inst.tick_size
    assert compute_pool_residual(inst, reduction.close_qty, reduction.closed_mark_value, headroom, one_tick_worse) < 0


def test_liq_010_a_one_contract_long_over_the_limit_is_closed_by_selling_its_contract() -> None:
    # ETHUSD (lot 1) with a 0.001 XBT base limit and steps (valid): one contract at 3,000.00 (0.003 XBT) is two
    # steps up; one step down holds no lot, so LIQ-010 closes the contract, signed like the position (mutant 55 of
    # the tool's list, ``position.qty > 0`` -> ``> 1``, sold it short instead; the survivors file had called that
    # unreachable because no *shipped* instrument's limit is below one contract)
    inst = load_instrument("ETHUSD", {"riskLimit": 100_000, "riskStep": 100_000})
    assert validate(inst) is None
    for qty in (1, -1):
        position = Position(qty=qty, cost=compute_value(inst, qty, 300_000))
        reduction = compute_partial_reduction(inst, position, CROSS, 2, 10**8, 0, 300_000)
        assert (reduction.close_qty, reduction.kept, reduction.new_tier) == (qty, Position(qty=0, cost=0), 1)
        assert reduction.closed_mark_value == 300_000 * qty
