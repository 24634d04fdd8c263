"""LIQ-034's bound on work per mark update: at most ``max_rounds`` (8) rounds of liquidations and close-outs.

Found by ``python -m tests.mutation rules/waterfall.py`` (issue 13): the default bound could be raised without
any test noticing.  A cascade makes it observable: a long is liquidated and closed out into a maker's bid
resting above the falling mark; the maker (a one-satoshi wallet) is then below maintenance itself, is
liquidated in the next round and closed out into the next maker's bid, and so on (the fund is nearly spent, so
ADL-031's cover is negative and LIQ-051 offers every bid; the fund pays each fill's 1,540 XBt below the take-over
price).  Nine thin makers need ten
rounds; the waterfall stops after eight, reports itself incomplete and leaves the next pool for the next update.
"""

from __future__ import annotations

from perpspec.rules.adl import RankedQueuePolicy
from perpspec.rules.contract import compute_value
from perpspec.rules.events import AdlDeferred, Liquidation
from perpspec.rules.insurance import InsuranceFund
from perpspec.rules.position import Position
from perpspec.rules.waterfall import Book, BookLevel, Holding, Ledger, WaterfallResult, process_waterfall
from tests.strategies import BUILTIN

XBTUSD = BUILTIN["XBTUSD"]
ENTRY = 5_000_000  # 50,000.00: the first long's entry and every maker's bid
MARK = 4_900_000  # the mark fell to 49,000.00
QTY = 1_000
THIN_MAKERS = range(2, 11)  # accounts 2..10: one satoshi each, every one pushed under by its fill
RICH_MAKER = 11
FUND = 30_000  # less than the loss the liquidation engine holds at mark: ADL-031 cover < 0, every bid offered


def _cascade() -> tuple[Ledger, dict[str, Book]]:
    first = Position(qty=QTY, cost=compute_value(XBTUSD, QTY, ENTRY))
    wallets = {(account, "XBt"): 1 for account in [1, *THIN_MAKERS]}
    wallets[(RICH_MAKER, "XBt")] = 100 * 10**8
    bids = tuple(
        BookLevel(price=ENTRY, qty=QTY, maker_account_id=account) for account in [*THIN_MAKERS, RICH_MAKER]
    )
    ledger = Ledger(
        instrument_map={"XBTUSD": XBTUSD},
        marks={"XBTUSD": MARK},
        wallets=wallets,
        holdings={(1, "XBTUSD"): Holding(position=first)},
        funds={"XBt": InsuranceFund(currency="XBt", balance=FUND)},
        deposits={"XBt": sum(wallets.values()) - first.cost + FUND},
    )
    return ledger, {"XBTUSD": Book(bids=bids)}


def _liquidated(result: WaterfallResult) -> list[int]:
    return [event.account_id for event in result.events if isinstance(event, Liquidation)]


def test_liq_034_a_waterfall_stops_after_8_rounds_and_leaves_the_next_pool_of_a_cascade_for_the_next_update() -> None:
    ledger, books = _cascade()
    result = process_waterfall(ledger, books, RankedQueuePolicy(), moved="XBTUSD")
    # round 1 liquidates account 1 and closes it out into maker 2, round k liquidates maker k: eight rounds
    assert _liquidated(result) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert result.complete is False
    # maker 9 bought account 8's close-out and waits, below maintenance, for the next update
    assert result.ledger.holdings[(9, "XBTUSD")].position.qty == QTY
    assert (10, "XBTUSD") not in result.ledger.holdings  # maker 10's bid was never reached


def test_liq_034_with_room_for_every_round_the_cascade_ends_at_the_funded_maker() -> None:
    ledger, books = _cascade()
    result = process_waterfall(ledger, books, RankedQueuePolicy(), max_rounds=11, moved="XBTUSD")
    assert _liquidated(result) == [1, *THIN_MAKERS]
    assert result.complete is True
    assert result.ledger.holdings[(RICH_MAKER, "XBTUSD")].position.qty == QTY
    assert result.ledger.pending == ()


def test_liq_034_a_close_out_left_with_one_contract_is_not_retried_in_the_same_update() -> None:
    # a cross long of 3 ETHUSD taken over at 2,969.00; the book takes 2 at 2,970.00 and the fund covers the last
    # contract at mark (ADL-031): it is deferred once and waits for the next update, even though the waterfall runs
    # a second round (its take-over made round 1 busy)
    eth = BUILTIN["ETHUSD"]
    position = Position(qty=3, cost=compute_value(eth, 3, 300_000))
    ledger = Ledger(
        instrument_map={"ETHUSD": eth},
        marks={"ETHUSD": 297_000},
        wallets={(1, "XBt"): 10_000, (2, "XBt"): 10**8},
        holdings={(1, "ETHUSD"): Holding(position=position)},
        funds={"XBt": InsuranceFund(currency="XBt", balance=10**6)},
    )
    book = {"ETHUSD": Book(bids=(BookLevel(price=297_000, qty=2, maker_account_id=2),))}
    result = process_waterfall(ledger, book, RankedQueuePolicy(), moved="ETHUSD")
    deferred = [event for event in result.events if isinstance(event, AdlDeferred)]
    assert [(event.pending_id, event.unfilled_qty) for event in deferred] == [(0, 1)]
    assert [(item.pending_id, item.qty) for item in result.ledger.pending] == [(0, 1)]
    assert result.complete is True
