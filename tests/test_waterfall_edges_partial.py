"""Partial liquidation (LIQ-022, LIQ-010..015) on a one-contract lot: the smallest FillOrKill reductions.

Found by ``python -m tests.mutation rules/waterfall_liquidate.py`` (issue 13): the existing partial-liquidation
tests use XBTUSDT (lots of 1,000), so a reduction of exactly one contract, a FillOrKill order completed by a
one-contract level, and the money of such a reduction to the satoshi were never exercised.  ETHUSD (lot 1) at
3,000.00: 16,667 contracts are worth 50.001 XBT, one contract above the 50 XBT base risk limit, so stepping down
one tier closes exactly one contract; 16,700 contracts close 34.
"""

from __future__ import annotations

from perpspec.rules.adl import RankedQueuePolicy
from perpspec.rules.contract import compute_value
from perpspec.rules.events import PartialLiquidation
from perpspec.rules.insurance import InsuranceFund
from perpspec.rules.invariants import StepInfo, check_conservation
from perpspec.rules.liquidation import apply_partial_close, compute_requirement
from perpspec.rules.margin import CROSS
from perpspec.rules.position import Position
from perpspec.rules.waterfall import Book, BookLevel, Holding, Ledger, get_pool, process_waterfall
from tests.strategies import BUILTIN

ETHUSD = BUILTIN["ETHUSD"]
ENTRY = 300_000  # 3,000.00, also the mark
BID = 299_995  # one tick below the mark: the reduction realises a small loss
MAKERS = 10**9


def _whale(qty: int) -> Ledger:
    """A cross ETHUSD long of ``qty`` one satoshi below its tier-1 maintenance; makers 2 and 3 have 10 XBT each."""
    position = Position(qty=qty, cost=compute_value(ETHUSD, qty, ENTRY))
    wallet = compute_requirement(ETHUSD, position, CROSS, 0).pos_maint - 1
    wallets = {(1, "XBt"): wallet, (2, "XBt"): MAKERS, (3, "XBt"): MAKERS}
    return Ledger(
        instrument_map={"ETHUSD": ETHUSD},
        marks={"ETHUSD": ENTRY},
        wallets=wallets,
        holdings={(1, "ETHUSD"): Holding(position=position)},
        funds={"XBt": InsuranceFund(currency="XBt")},
        deposits={"XBt": sum(wallets.values()) - position.cost},
    )


def test_liq_022_a_reduction_of_exactly_one_contract_sells_it_to_the_bid_and_moves_the_money_exactly() -> None:
    ledger = _whale(16_667)
    assert compute_requirement(ETHUSD, ledger.holdings[(1, "ETHUSD")].position, CROSS, 0).steps == 1
    assert get_pool(ledger, 1, "cross:XBt").excess == -1
    book = {"ETHUSD": Book(bids=(BookLevel(price=BID, qty=5, maker_account_id=2),))}
    result = process_waterfall(ledger, book, RankedQueuePolicy(), moved="ETHUSD")
    [partial] = result.events
    assert isinstance(partial, PartialLiquidation)
    assert (partial.filled, partial.close_qty, partial.fills, partial.makers) == (True, 1, ((1, BID),), (2,))
    assert (partial.from_tier, partial.to_tier) == (1, 0)
    after = result.ledger
    kept, realised = apply_partial_close(ledger.holdings[(1, "ETHUSD")].position, 1, compute_value(ETHUSD, 1, BID))
    assert after.holdings[(1, "ETHUSD")].position == kept
    assert kept.qty == 16_666
    assert after.wallet(1, "XBt") == ledger.wallet(1, "XBt") + realised
    assert after.holdings[(2, "ETHUSD")].position == Position(qty=1, cost=compute_value(ETHUSD, 1, BID))
    assert partial.maintenance_after == get_pool(after, 1, "cross:XBt").maintenance
    assert result.books["ETHUSD"].bids == (BookLevel(price=BID, qty=4, maker_account_id=2),)
    assert check_conservation(after, StepInfo()) == []
    assert result.complete is True


def test_liq_015_a_fill_or_kill_completed_by_a_one_contract_level_fills() -> None:
    # closing 34: 33 from maker 2, the last contract from maker 3; FillOrKill takes both or nothing
    ledger = _whale(16_700)
    levels = (BookLevel(price=BID, qty=33, maker_account_id=2), BookLevel(price=BID, qty=1, maker_account_id=3))
    result = process_waterfall(ledger, {"ETHUSD": Book(bids=levels)}, RankedQueuePolicy(), moved="ETHUSD")
    [partial] = result.events
    assert isinstance(partial, PartialLiquidation)
    assert (partial.filled, partial.close_qty, partial.fills, partial.makers) == (
        True,
        34,
        ((33, BID), (1, BID)),
        (2, 3),
    )
    assert result.ledger.holdings[(1, "ETHUSD")].position.qty == 16_666
    assert result.ledger.holdings[(3, "ETHUSD")].position.qty == 1
    assert result.books["ETHUSD"].bids == ()
    assert check_conservation(result.ledger, StepInfo()) == []


def test_liq_022_a_short_is_reduced_by_buying_from_the_asks() -> None:
    # the mirror image: a cross ETHUSD short of 16,700 one satoshi below its tier-1 maintenance buys 34 back from
    # the asks one tick above the mark
    position = Position(qty=-16_700, cost=-compute_value(ETHUSD, 16_700, ENTRY))
    wallet = compute_requirement(ETHUSD, position, CROSS, 0).pos_maint - 1
    wallets = {(1, "XBt"): wallet, (2, "XBt"): MAKERS}
    ledger = Ledger(
        instrument_map={"ETHUSD": ETHUSD},
        marks={"ETHUSD": ENTRY},
        wallets=wallets,
        holdings={(1, "ETHUSD"): Holding(position=position)},
        funds={"XBt": InsuranceFund(currency="XBt")},
        deposits={"XBt": sum(wallets.values()) - position.cost},
    )
    ask = ENTRY + 5
    book = {"ETHUSD": Book(asks=(BookLevel(price=ask, qty=40, maker_account_id=2),))}
    result = process_waterfall(ledger, book, RankedQueuePolicy(), moved="ETHUSD")
    [partial] = result.events
    assert isinstance(partial, PartialLiquidation)
    assert (partial.filled, partial.close_qty, partial.fills, partial.makers) == (True, -34, ((34, ask),), (2,))
    assert result.ledger.holdings[(1, "ETHUSD")].position.qty == -16_666
    assert result.ledger.holdings[(2, "ETHUSD")].position == Position(qty=-34, cost=-compute_value(ETHUSD, 34, ask))
    assert result.books["ETHUSD"].asks == (BookLevel(price=ask, qty=6, maker_account_id=2),)
    assert check_conservation(result.ledger, StepInfo()) == []
