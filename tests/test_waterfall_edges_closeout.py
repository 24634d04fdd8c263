"""Closing out a taken-over position at its one-unit edges: LIQ-032, INS-005, ADL-031, ADL-020/021.

Found by ``python -m tests.mutation rules/waterfall_closeout.py`` (issue 13): nothing pinned a close-out fill one
satoshi better or worse than the take-over price (the fund's surplus or draw of exactly 1), a fund cover of
exactly 0 (ADL-031: the fund still covers, so no ADL), a one-contract position on either side of a close-out
or an ADL, one contract left over, or an ADL candidate with one contract resting in orders.  Each test builds
a ledger in which the liquidation engine already holds the position (``pending``) and calls ``close_out``.
"""

from __future__ import annotations

from perpspec.rules.adl import RankedQueuePolicy
from perpspec.rules.contract import compute_value
from perpspec.rules.events import (
    AdlDeferred,
    AdlFill,
    AdlShortfall,
    InsuranceMovement,
    LiquidationFill,
    OrdersCancelled,
    WaterfallEvent,
)
from perpspec.rules.instrument import Instrument
from perpspec.rules.insurance import InsuranceFund
from perpspec.rules.position import Position
from perpspec.rules.waterfall import (
    Book,
    BookLevel,
    Holding,
    Ledger,
    PendingCloseOut,
    Recorder,
    close_out,
    get_fund_cover,
)
from tests.strategies import BUILTIN

XBTUSD, ETHUSD = BUILTIN["XBTUSD"], BUILTIN["ETHUSD"]
INSTRUMENTS = {"XBTUSD": XBTUSD, "ETHUSD": ETHUSD}
XBT = 10**8


def _held(
    symbol: str,
    qty: int,
    takeover_price: int,
    mark: int,
    fund: int,
    holdings: dict[tuple[int, str], Holding] | None = None,
) -> tuple[Ledger, PendingCloseOut]:
    """Account 1's position of ``qty`` already taken over at ``takeover_price``; makers 2.. have 1 XBT each."""
    item = PendingCloseOut(pending_id=0, account_id=1, symbol=symbol, qty=qty, takeover_price=takeover_price)
    ledger = Ledger(
        instrument_map=INSTRUMENTS,
        marks={"XBTUSD": 5_000_000, "ETHUSD": 300_000, symbol: mark},
        wallets={(account, "XBt"): XBT for account in (1, 2, 3, 4)},
        holdings=holdings or {},
        funds={"XBt": InsuranceFund(currency="XBt", balance=fund)},
        pending=(item,),
        next_pending_id=1,
    )
    return ledger, item


def _run(ledger: Ledger, item: PendingCloseOut, book: Book) -> tuple[Ledger, int, list[WaterfallEvent]]:
    rec = Recorder()
    books = {item.symbol: book}
    after, rest = close_out(ledger, books, item, RankedQueuePolicy(), rec)
    return after, rest, rec.events


def _short(inst: Instrument, qty: int, price: int) -> Position:
    return Position(qty=-qty, cost=-compute_value(inst, qty, price))


# -- INS-005: a fill one satoshi better or worse than the take-over price ----------------------------------------


def test_ins_005_a_fill_one_satoshi_better_than_the_take_over_price_pays_that_satoshi_into_the_fund() -> None:
    # 100 XBTUSD taken over at 50,079.00 and sold to a bid one tick higher: the inverse values differ by 1 XBt
    ledger, item = _held("XBTUSD", 100, 5_007_900, 5_000_000, fund=1_000)
    after, rest, events = _run(ledger, item, Book(bids=(BookLevel(price=5_007_950, qty=100, maker_account_id=2),)))
    fill, movement = events
    assert isinstance(fill, LiquidationFill)
    assert isinstance(movement, InsuranceMovement)
    assert (fill.fund_delta, movement.kind, movement.amount, movement.rule_id) == (1, "surplus", 1, "INS-005")
    assert (rest, after.insurance("XBt"), after.pending) == (0, 1_001, ())
    assert after.holdings[(2, "XBTUSD")].position.qty == 100


def test_ins_005_a_fill_one_satoshi_worse_than_the_take_over_price_draws_that_satoshi_from_the_fund() -> None:
    # taken over at 50,079.50 and the mark far below (ADL-031 cover < 0: every bid is offered, LIQ-051):
    # selling to the bid one tick lower costs the fund exactly 1 XBt
    ledger, item = _held("XBTUSD", 100, 5_007_950, 4_000_000, fund=1_000)
    assert get_fund_cover(ledger, "XBt") < 0
    after, rest, events = _run(ledger, item, Book(bids=(BookLevel(price=5_007_900, qty=100, maker_account_id=2),)))
    fill, movement = events
    assert isinstance(fill, LiquidationFill)
    assert isinstance(movement, InsuranceMovement)
    assert (fill.fund_delta, movement.kind, movement.amount) == (-1, "draw", -1)
    assert (rest, after.insurance("XBt")) == (0, 999)


# -- LIQ-032: one-contract close-outs and one contract left ---------------------------------------------------------


def test_liq_032_a_one_contract_long_is_sold_into_the_bid() -> None:
    ledger, item = _held("ETHUSD", 1, 300_000, 300_000, fund=XBT)
    ask = BookLevel(price=300_010, qty=4, maker_account_id=3)
    books = {"ETHUSD": Book(bids=(BookLevel(price=300_005, qty=1, maker_account_id=2),), asks=(ask,))}
    rec = Recorder()
    after, rest = close_out(ledger, books, item, RankedQueuePolicy(), rec)
    events = rec.events
    assert books["ETHUSD"] == Book(bids=(), asks=(ask,))  # the bid is consumed, the asks untouched
    fill = events[0]
    assert isinstance(fill, LiquidationFill)
    assert (fill.qty, fill.fund_delta) == (-1, compute_value(ETHUSD, 1, 300_005) - compute_value(ETHUSD, 1, 300_000))
    assert (rest, after.pending) == (0, ())
    assert after.holdings[(2, "ETHUSD")].position.qty == 1  # the maker bought
    assert after.insurance("XBt") == XBT + fill.fund_delta


def test_liq_032_one_contract_left_after_the_book_stays_with_the_liquidation_engine_and_is_deferred() -> None:
    ledger, item = _held("ETHUSD", 3, 300_000, 300_000, fund=XBT)
    after, rest, events = _run(ledger, item, Book(bids=(BookLevel(price=300_000, qty=2, maker_account_id=2),)))
    assert rest == 1
    assert [(p.pending_id, p.qty) for p in after.pending] == [(0, 1)]
    deferred = events[-1]
    assert isinstance(deferred, AdlDeferred)
    assert (deferred.unfilled_qty, deferred.fund_cover) == (1, XBT)


# -- ADL-031: a fund cover of exactly zero still covers -------------------------------------------------------------


def _with_eligible_short() -> dict[tuple[int, str], Holding]:
    # account 3 is short 5 ETHUSD from 3,100.00: in profit at 3,000.00, eligible against a bankrupt long
    return {(3, "ETHUSD"): Holding(position=_short(ETHUSD, 5, 310_000))}


def test_adl_031_a_position_held_at_the_mark_with_an_empty_fund_is_deferred_not_deleveraged() -> None:
    ledger, item = _held("ETHUSD", 5, 300_000, 300_000, fund=0, holdings=_with_eligible_short())
    assert get_fund_cover(ledger, "XBt") == 0
    after, rest, events = _run(ledger, item, Book())
    assert rest == 5
    assert [type(event) for event in events] == [AdlDeferred]
    assert after.holdings[(3, "ETHUSD")].position.qty == -5


def test_adl_031_one_tick_of_loss_at_mark_with_an_empty_fund_goes_to_adl() -> None:
    ledger, item = _held("ETHUSD", 5, 300_000, 299_995, fund=0, holdings=_with_eligible_short())
    assert get_fund_cover(ledger, "XBt") < 0
    after, rest, events = _run(ledger, item, Book())
    assert rest == 0
    assert [type(event) for event in events] == [AdlFill]
    assert after.holdings[(3, "ETHUSD")].position.qty == 0


# -- ADL-020 / ADL-021: one contract -----------------------------------------------------------------------------------


def test_adl_020_a_one_contract_long_is_deleveraged_against_the_short() -> None:
    ledger, item = _held("ETHUSD", 1, 300_000, 299_000, fund=0, holdings=_with_eligible_short())
    after, rest, events = _run(ledger, item, Book())
    [fill] = events
    assert isinstance(fill, AdlFill)
    assert (fill.account_id, fill.close_qty, fill.price, fill.unfilled_after) == (3, -1, 300_000, 0)
    assert (rest, after.pending) == (0, ())
    assert after.holdings[(3, "ETHUSD")].position.qty == -4


def test_adl_020_a_short_close_out_deleverages_a_one_contract_long() -> None:
    # account 1's short of 2 taken over at 3,000.00, the mark above it; account 4 is long 1 from 2,900.00
    holdings = {(4, "ETHUSD"): Holding(position=Position(qty=1, cost=compute_value(ETHUSD, 1, 290_000)))}
    ledger, item = _held("ETHUSD", -2, 300_000, 301_000, fund=0, holdings=holdings)
    after, rest, events = _run(ledger, item, Book())
    fill, shortfall = events
    assert isinstance(fill, AdlFill)
    assert isinstance(shortfall, AdlShortfall)
    assert (fill.account_id, fill.close_qty, fill.unfilled_after) == (4, 1, 1)
    assert after.holdings[(4, "ETHUSD")].position == Position(qty=0, cost=0)
    # ADL-021: exactly one contract no eligible position could take
    assert (shortfall.unfilled_qty, shortfall.eligible_count, rest) == (1, 1, -1)
    assert [(p.pending_id, p.qty) for p in after.pending] == [(0, -1)]


def test_adl_020_a_candidate_with_one_contract_resting_has_its_orders_cancelled() -> None:
    holdings = {(3, "ETHUSD"): Holding(position=_short(ETHUSD, 5, 310_000), open_order_qty=1)}
    ledger, item = _held("ETHUSD", 5, 300_000, 299_000, fund=0, holdings=holdings)
    after, _, events = _run(ledger, item, Book())
    cancel, fill = events
    assert isinstance(cancel, OrdersCancelled)
    assert isinstance(fill, AdlFill)
    assert (cancel.account_id, cancel.open_order_qty, cancel.reason) == (3, 1, "adl")
    assert after.holdings[(3, "ETHUSD")].open_order_qty == 0


def test_adl_003_account_0_and_a_one_contract_short_are_candidates() -> None:
    holdings = {
        (0, "ETHUSD"): Holding(position=_short(ETHUSD, 1, 310_000)),
        (3, "ETHUSD"): Holding(position=_short(ETHUSD, 1, 305_000)),
    }
    ledger, item = _held("ETHUSD", 2, 300_000, 299_000, fund=0, holdings=holdings)
    after, rest, events = _run(ledger, item, Book())
    fills = [event for event in events if isinstance(event, AdlFill)]
    assert sorted(fill.account_id for fill in fills) == [0, 3]
    assert rest == 0
    assert after.holdings[(0, "ETHUSD")].position.qty == after.holdings[(3, "ETHUSD")].position.qty == 0


def test_liq_032_a_bid_partly_taken_keeps_its_last_contract_in_the_book() -> None:
    ledger, item = _held("ETHUSD", 2, 300_000, 300_000, fund=XBT)
    books = {"ETHUSD": Book(bids=(BookLevel(price=300_000, qty=3, maker_account_id=2),))}
    _, rest = close_out(ledger, books, item, RankedQueuePolicy(), Recorder())
    assert rest == 0
    assert books["ETHUSD"].bids == (BookLevel(price=300_000, qty=1, maker_account_id=2),)


def test_adl_021_a_one_contract_long_nobody_can_take_stays_long_with_the_liquidation_engine() -> None:
    # fund empty and one tick of loss at mark (ADL-031 cover < 0), no book and no opposing position: the shortfall
    # is the one contract, and what the engine still holds is the same long of one
    ledger, item = _held("ETHUSD", 1, 300_000, 299_995, fund=0)
    after, rest, events = _run(ledger, item, Book())
    [shortfall] = events
    assert isinstance(shortfall, AdlShortfall)
    assert (shortfall.unfilled_qty, shortfall.eligible_count, rest) == (1, 0, 1)
    assert [(p.pending_id, p.qty) for p in after.pending] == [(0, 1)]
