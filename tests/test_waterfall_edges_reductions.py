"""LIQ-022's FillOrKill reductions of an isolated pool, one tier at a time, and what ACC-006 leaves after each.

Found by ``python -m tests.mutation rules/waterfall_liquidate.py`` (issue 13): ``liquidate_pool`` tries one
FillOrKill reduction per risk-limit step, at most 16 times.  Until session 6 an isolated pool could stay below
maintenance after each reduction, because ACC-006 charged the closed part's realised loss to the rest and moved
the margin the reduction freed to the cross wallet; this file then reached the bound (16 reductions, then the
take-over).  Since attack review 2 (session 6) the closed part's loss is paid from the requirement it frees, so
each reduction lowers the pool's maintenance (one tier less on the whole rest) by more than it lowers its margin:
here an isolated 100x XBTUSDT long of 350,000,000 (17.5 M USDT, 33 steps above the base limit) holding 1.5% of
its value less than its requirement, with the only bid 23.4% below the mark, is back above maintenance after two
reductions, and nothing is taken over.  (The bound of 16 is no longer reached by this construction.)
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


def test_liq_022_an_isolated_pool_reduced_one_tier_at_a_time_is_back_above_maintenance_after_two() -> None:
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
    assert get_pool(ledger, 1, "isolated:XBTUSDT").excess == -87_500_000_000
    rec = Recorder(trace_states=True)
    books = {"XBTUSDT": Book(bids=(BookLevel(price=BID, qty=QTY, maker_account_id=2),))}
    liquidate_pool(ledger, books, 1, "isolated:XBTUSDT", rec)
    reductions = [event for event in rec.events if isinstance(event, PartialLiquidation)]
    assert [(event.filled, event.to_tier) for event in reductions] == [(True, 32), (True, 31)]
    excesses = [get_pool(rec.states[rec.events.index(event)], 1, "isolated:XBTUSDT").excess for event in reductions]
    # the second reduction restores the pool (before redteam20_1, with the whole deficit kept: -92.5e9 and 67.6e9)
    assert excesses == [-85_000_000_000, 82_623_750_000]
    # each reduction's loss (117,000,000,000 at 38,300.00) is paid from the requirement it frees; the rest keeps its
    # requirement (at the tier the reduction started from; LIQ-012 lowers the chosen tier after) less its share of
    # the 1.5% the pool lacked before (ACC-006 since redteam20_1: 330/350 of it after both), and the cross wallet
    # pays nothing of it
    after = rec.states[rec.events.index(reductions[-1])]
    held = after.holdings[(1, "XBTUSDT")]
    rest = compute_requirement(XBTUSDT, held.position, LEVERAGE, 32)
    lacked = req.pos_init + req.pos_comm - margin
    assert held.position.qty == 330_000_000
    assert held.isolated_margin == rest.pos_init + rest.pos_comm - lacked * 330 // 350
    assert [event for event in rec.events if isinstance(event, Liquidation)] == []
