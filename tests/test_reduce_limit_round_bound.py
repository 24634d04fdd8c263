"""LIQ-016's bound: the reserve is raised to the fee at the price it gives at most 8 times, then that price is used.

Found by ``python -m tests.mutation rules/liquidation.py`` (issue 13, mutant 39: ``range(8)`` -> ``range(9)``).  For
an inverse long or a linear short one round suffices; for a linear long the reserve converges by the taker fee rate
per round, so with an ordinary fee (0.075%) it settles in two or three rounds and the bound was never reached.  A
taker fee of 50% is valid (``takerFee`` only has to lie in [0, 1)): the reserve then halves its distance to the
fixed point each round and is still short of it after 8, and LIQ-016 returns round 8's price ([I]: "8 rounds at
most, keeping the most conservative price").
"""

from __future__ import annotations

from perpspec.rules.contract import compute_notional, compute_value
from perpspec.rules.liquidation import compute_reduce_limit_price, compute_requirement, compute_takeover_price
from perpspec.rules.margin import CROSS
from perpspec.rules.position import Position, compute_commission
from tests.strategies import BUILTIN

XBTUSDT = BUILTIN["XBTUSDT"]
LONG = Position(qty=1_000_000, cost=compute_value(XBTUSDT, 1_000_000, 5_000_000))  # 1 XBT at 50,000.00
MARGIN = 5_000_000_000  # 5,000 USDT
FEE_PPM = 500_000  # 50%
LOTS_SLACK = 1_000  # one unit per lot (1,000 lots)


def _fee_at(price: int) -> int:
    return compute_commission(compute_notional(XBTUSDT, LONG.qty, price), FEE_PPM) + LOTS_SLACK


def test_liq_016_a_50_percent_taker_fee_stops_after_eight_rounds_at_round_eights_price() -> None:
    pos_comm = compute_requirement(XBTUSDT, LONG, CROSS, 0).pos_comm
    assert pos_comm == 38_250_000
    assert compute_takeover_price(XBTUSDT, LONG, MARGIN, pos_comm) == 4_503_850  # round 0: the bankruptcy price
    price = compute_reduce_limit_price(XBTUSDT, LONG, MARGIN, pos_comm, FEE_PPM)
    assert price == 8_982_500  # 89,825.00
    # round 8's reserve gives that price, but the fee there is still larger: a ninth round would move it further
    assert compute_takeover_price(XBTUSDT, LONG, MARGIN, 44_824_751_000) == price
    assert _fee_at(price) == 44_912_501_000
    assert compute_takeover_price(XBTUSDT, LONG, MARGIN, _fee_at(price)) == 8_991_300

