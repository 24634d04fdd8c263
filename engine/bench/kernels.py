"""Per-call cost of the specialised kernels beside the generic rules they equal (a script, not a test).

``python -m perpspec.engine.bench.kernels [SYMBOL]`` times, on one instrument,
each kernel and the rule calls it replaces on the same arguments (a realistic
long position, a resting book of both sides, an order), interleaved in one
process, and prints microseconds per call and the speed-up.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from perpspec.engine.kernels.load import kernels_for
from perpspec.rules.contract import compute_value
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.margin import (
    CROSS,
    compute_account_margin,
    compute_order_requirement,
    compute_position_margin,
)
from perpspec.rules.num import abs_
from perpspec.rules.order_margin import (
    OrderSide,
    compute_order_charge_price,
    compute_order_margin,
    compute_order_margin_req_ppm,
    compute_order_premium,
    compute_order_sides,
)
from perpspec.rules.position import Position, apply_trade


def per_call_ns(function: Callable[[], Any], calls: int) -> float:
    """Best of three runs of ``calls`` calls, nanoseconds per call."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter_ns()
        for _ in range(calls):
            function()
        best = min(best, (time.perf_counter_ns() - start) / calls)
    return best


def main(argv: list[str] | None = None) -> int:
    """Print the table for the instrument named on the command line (default XBTUSD)."""
    args = sys.argv[1:] if argv is None else argv
    inst = load_instrument(args[0] if args else "XBTUSD")
    kernels = kernels_for(inst)
    if kernels is None:
        print(f"no proved kernels for {inst.symbol}")
        return 1
    tick, lot, fee = inst.tick_size, inst.lot_size, inst.taker_fee_ppm
    mark = (5_000_000 // tick) * tick if inst.is_inverse else (inst.max_price // 1000 // tick) * tick
    qty = 30 * lot
    cost = compute_value(inst, qty, mark - 10 * tick)
    position = Position(qty=qty, cost=cost)
    orders = ((5 * lot, mark - 2 * tick), (-7 * lot, mark + 3 * tick))
    bids, asks = compute_order_sides(inst, orders, mark, 0, 0)
    sides = (bids.qty, bids.value, bids.premium, asks.qty, asks.value, asks.premium)
    order_qty, order_price = 4 * lot, mark - tick

    def rules_pretrade() -> int:
        one_bids, one_asks = compute_order_sides(inst, ((order_qty, order_price),), mark, 0, 0)
        after_bids = OrderSide(qty=bids.qty + one_bids.qty, value=bids.value + one_bids.value,
                               premium=bids.premium + one_bids.premium)
        after_asks = OrderSide(qty=asks.qty + one_asks.qty, value=asks.value + one_asks.value,
                               premium=asks.premium + one_asks.premium)
        before_ppm = compute_order_margin_req_ppm(inst, cost, bids, asks, CROSS)
        before = compute_order_margin(inst, qty, bids, asks, before_ppm, fee).total
        after_ppm = compute_order_margin_req_ppm(inst, cost, after_bids, after_asks, CROSS)
        after = compute_order_margin(inst, qty, after_bids, after_asks, after_ppm, fee).total
        return compute_order_requirement(inst, position, mark, CROSS, 0, before, after, order_qty, order_price)

    def rules_term() -> tuple[int, int]:
        charge = compute_order_charge_price(inst, order_qty, order_price, 0, 0)
        return abs_(compute_value(inst, order_qty, charge)), compute_order_premium(inst, order_qty, order_price, mark)

    pairs: list[tuple[str, Callable[[], Any], Callable[[], Any]]] = [
        ("MRG-020 position margin (cross)",
         lambda: compute_position_margin(inst, position, mark, CROSS),
         lambda: kernels.position_margin_cross(qty, cost, mark, 0, 0)),
        ("MRG-042 term (MRG-040, CON-002, MRG-041)", rules_term,
         lambda: kernels.order_term(order_qty, order_price, mark, 0, 0)),
        ("ACC-004 trade",
         lambda: apply_trade(inst, position, Position(qty=-qty, cost=-cost), lot, mark, fee, fee),
         lambda: kernels.trade(qty, cost, -qty, -cost, lot, mark, fee, fee)),
        ("MRG-050 + MRG-020, one cross position",
         lambda: compute_account_margin(10**9, (compute_position_margin(inst, position, mark, CROSS),), 0),
         lambda: kernels.account_margin_cross_1(10**9, 0, qty, cost, mark)),
        ("fused pre-trade (MRG-042 + 045/044 x2 + 060)", rules_pretrade,
         lambda: kernels.pretrade_cross(qty, cost, mark, *sides, order_qty, order_price, 0, 0)),
    ]
    print(f"{inst.symbol}: µs per call, generic rules vs the proved kernel (best of 3)")
    for label, rule, kernel in pairs:
        rule_ns, kernel_ns = per_call_ns(rule, 2_000), per_call_ns(kernel, 20_000)
        print(f"  {label:<46} {rule_ns / 1000:7.2f}  {kernel_ns / 1000:7.2f}  x{rule_ns / kernel_ns:5.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
