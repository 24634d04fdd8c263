"""LIQ-022's bound on work: at most 16 FillOrKill reductions of one pool in one liquidation, then LIQ-023.

Found by ``python -m tests.mutation rules/waterfall_liquidate.py`` (issue 13): ``liquidate_pool`` tries one
FillOrKill reduction per risk-limit step, at most 16 times, and nothing exercised that bound.  A cross pool stops
after one filled reduction (LIQ-014 only accepts a plan whose fills leave the new step's maintenance), but an
isolated pool can stay below maintenance after each: ACC-006 moves the margin a reduction frees to the cross
wallet.  Here an isolated 100x XBTUSDT long of 350,000,000 (17.5 M USDT, 33 steps above the base limit) holds
1.5% of its value less than its requirement, and the only bid rests 23.4% below the mark: every reduction fills
and leaves the pool below maintenance, so after the sixteenth the liquidation engine takes the rest over.
"""

from __future__ import annotations

from perpspec.rules.contract import compute_value
from perpspec.rules.events import Liquidation, PartialLiquidation
from perpspec.rules.insurance import InsuranceFund
from perpspec.rules.liquidation import compute_requirement
from perpspec.rules.position import Position
from perpspec.rules.waterfall import Book, BookLevel, Holding, Ledger, Recorder, get_pool, liquidate_pool
from tests.strategies import BUILTIN

XBTUSDT = BUILTIN["XBTUSDT"]
MARK = 5_000_000  # 50,000.00, also the entry
BID = 3_830_000  # 38,300.00
QTY = 350_000_000
LEVERAGE = 10_000  # 100x isolated


def test_liq_022_an_isolated_pool_is_reduced_at_most_16_times_in_one_liquidation_then_taken_over() -> None:
    position = Position(qty=QTY, cost=compute_value(XBTUSDT, QTY, MARK))
    req = compute_requirement(XBTUSDT, position, LEVERAGE, 0)
    margin = req.pos_init + req.pos_comm - abs(position.cost) * 15 // 1_000
    ledger = Ledger(
        instrument_map={"XBTUSDT": XBTUSDT},
        marks={"XBTUSDT": MARK},
        wallets={(1, "USDt"): margin + 10**6, (2, "USDt"): 10**16},
        holdings={(1, "XBTUSDT"): Holding(position=position, leverage_hundredths=LEVERAGE, isolated_margin=margin)},
        funds={"USDt": InsuranceFund(currency="USDt")},
    )
    assert req.steps == 33
    assert get_pool(ledger, 1, "isolated:XBTUSDT").excess < 0
    rec = Recorder(trace_states=True)
    books = {"XBTUSDT": Book(bids=(BookLevel(price=BID, qty=QTY, maker_account_id=2),))}
    liquidate_pool(ledger, books, 1, "isolated:XBTUSDT", rec)
    reductions = [event for event in rec.events if isinstance(event, PartialLiquidation)]
    assert [event.filled for event in reductions] == [True] * 16
    assert [event.to_tier for event in reductions] == list(range(32, 16, -1))  # one step each
    # still below maintenance after the sixteenth: no seventeenth try, the take-over follows
    after_last = rec.states[rec.events.index(reductions[-1])]
    assert get_pool(after_last, 1, "isolated:XBTUSDT").excess < 0
    takeovers = [event for event in rec.events if isinstance(event, Liquidation)]
    assert len(takeovers) == 1
    assert rec.events.index(takeovers[0]) > rec.events.index(reductions[-1])
    assert takeovers[0].taken[0].qty == reductions[-1].positions[0].qty - reductions[-1].close_qty
