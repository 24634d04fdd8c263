"""LIQ-024 / INS-005 in the book after a refused maker: what the next judgement is given (session 13, helper "mutants").

Found by ``python -m tests.mutation engine/core/waterfall.py`` (``Waterfall._close_in_book`` and ``level_totals``):
the tests of session 12's halting close-out (tests/test_close_out_refusals_cost.py,
tests/test_attack11_open_insurance_nonneg.py) refuse every maker of a level before anything fills, so the
bookkeeping after a refusal (the contracts still to close, what left each level, whether the kept prefix of the
book still covers) and the prefix's own edge (the level at which its whole lots first cover the close-out) were
never read by a test: a close-out that miscounted them left contracts with the liquidation engine (ADL-031
deferred) or sold more than it held, and no test failed.

The market: the whale of tests/test_engine_liquidation.py (3 XBT, long 25,000 ETHUSD at 3,000.00) is taken over
when the mark falls to 2,940.00 with no bid in the book (the fund covers it: ADL deferred).  Attackers (the red
team's find_2 recipe) each sold ``size`` contracts at 2,900.00 before the fall, then bid ``size`` at 3,080.00 (their
loss there is more than they kept) and withdrew all they could, so LIQ-054 refuses their bids in a close-out.
Account 2 (10,000 XBT) bids ahead of them at 3,080.00 and below; the next mark update closes the position.

Rules: LIQ-024, INS-005, LIQ-054, ADL-031.
"""

from __future__ import annotations

from typing import Any

import pytest

from perpspec.engine.core import closeout
from perpspec.engine.core import commands as c
from perpspec.engine.core.book import Book
from perpspec.engine.core.events import Accepted, Event, Execution, RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.events import AdlDeferred, AdlFill, LiquidationFill
from perpspec.rules.instrument_file import load_instrument

ETHUSD = load_instrument("ETHUSD")
XBT = 100_000_000
MARK = 294_000
HIGH = 308_000  # a bid above the mark (a surplus for the fund), inside the 5% band
TICK = ETHUSD.tick_size


def ok(events: list[Event]) -> list[Event]:
    assert isinstance(events[-1], Accepted), events[-1]
    return events


def taken_over(attackers: int = 0, size: int = 10) -> Engine:
    """The whale taken over at a mark of 2,940.00 (25,000 contracts held), ``attackers`` short ``size`` each."""
    engine = Engine({"ETHUSD": ETHUSD})
    p = engine.process
    p(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    for account, amount in ((1, 3 * XBT), (2, 10_000 * XBT)):
        ok(p(c.VerifyAccount(time_ms=0, account=account)))
        ok(p(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount)))
    for account in (1, 2):
        limit = ETHUSD.risk_limit + (4 if account == 2 else 1) * ETHUSD.risk_step
        ok(p(c.SetRiskLimit(time_ms=0, account=account, symbol="ETHUSD", risk_limit=limit)))
    ok(p(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Sell", order_qty=25_000, price=300_000)))
    ok(p(c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=25_000, price=300_000)))
    for account in range(100, 100 + attackers):
        ok(p(c.VerifyAccount(time_ms=0, account=account)))
        ok(p(c.Deposit(time_ms=0, account=account, asset="XBt", amount=XBT // 100)))
        ok(p(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Buy", order_qty=size, price=290_000)))
        ok(p(c.PlaceOrder(time_ms=0, account=account, symbol="ETHUSD", side="Sell", order_qty=size, price=290_000)))
    events = p(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=MARK, index_price=MARK))
    deferred = [e.record for e in events if isinstance(e, RuleEvent) and isinstance(e.record, AdlDeferred)]
    assert [d.unfilled_qty for d in deferred] == [25_000]
    return engine


def refusing_bids(engine: Engine, attackers: int, size: int = 10) -> None:
    """Each attacker bids ``size`` at 3,080.00 and withdraws all it may: its bid is refused in a close-out."""
    for account in range(100, 100 + attackers):
        ok(engine.process(c.PlaceOrder(time_ms=1, account=account, symbol="ETHUSD", side="Buy", order_qty=size,
                                       price=HIGH)))
    for account in range(100, 100 + attackers):
        amount = engine.desk.withdrawable(engine.accounts[account], "XBt")
        ok(engine.process(c.Withdraw(time_ms=1, account=account, asset="XBt", amount=amount)))


def bid(engine: Engine, qty: int, price: int) -> None:
    ok(engine.process(c.PlaceOrder(time_ms=1, account=2, symbol="ETHUSD", side="Buy", order_qty=qty, price=price)))


def close(engine: Engine, mark: int = MARK) -> tuple[list[tuple[int, int, int]], list[int], list[Any]]:
    """The next mark update: the close-out's fills (maker, qty, price), the accounts whose orders it cancelled,
    and its ADL records."""
    events = engine.process(c.PriceUpdate(time_ms=2, symbol="ETHUSD", mark_price=mark, index_price=mark))
    records = [e.record for e in events if isinstance(e, RuleEvent)]
    fills = [(r.maker_account_id, r.qty, r.price) for r in records if isinstance(r, LiquidationFill)]
    cancelled = sorted(e.account for e in events if isinstance(e, Execution) and e.exec_type == "Canceled")
    return fills, cancelled, [r for r in records if isinstance(r, AdlDeferred | AdlFill)]


def test_a_fill_before_the_refusal_is_counted_once_in_what_is_left_to_close() -> None:
    # account 2's 5 at 3,080.00 fill, the attackers' 20 are refused; INS-005 judges the 24,995 left again and they
    # close against the bid below (counting the 5 twice, or not at all, closed 24,990 or sold 25,000)
    engine = taken_over(attackers=2)
    bid(engine, 5, HIGH)
    refusing_bids(engine, 2)
    bid(engine, 25_000, MARK)
    fills, cancelled, adl = close(engine)
    assert fills == [(2, -5, HIGH), (2, -24_995, MARK)]
    assert cancelled == [100, 101]
    assert adl == []
    assert engine.positions(1) == {}


def test_the_surplus_of_a_fill_before_the_refusal_pays_for_the_next_judgement() -> None:
    # the take-over price is 2,884.60 and the fund holds 5,875,000; the 5 sold at 3,080.00 pay it 97,700 and the bid
    # below is at 2,880.00, a draw of 460 a contract: the second judgement affords (5,875,000 + 97,700) // 460 =
    # 12,984 contracts (without the surplus, 12,771) and ADL-031 defers the rest, the fund left at 60.  The mark is
    # at the take-over price: a close-out in profit at mark (2,940.00) sells nothing below it (LIQ-050/051, session
    # 17, review15 find 2), and at the take-over price ADL-031's cover is the fund's 5,875,000
    engine = taken_over(attackers=2)
    bid(engine, 5, HIGH)
    refusing_bids(engine, 2)
    bid(engine, 25_000, 288_000)
    fills, cancelled, adl = close(engine, mark=288_460)
    assert fills == [(2, -5, HIGH), (2, -12_984, 288_000)]
    assert cancelled == [100, 101]
    assert [(r.unfilled_qty, r.bankruptcy_price, r.fund_balance) for r in adl] == [(12_011, 288_460, 60)]
    assert engine.insurance_funds["XBt"] == 60

def test_when_the_kept_prefix_no_longer_covers_after_a_refusal_the_book_is_read_again() -> None:
    # the prefix for 25,000 ends at 2,940.00 (15 + 20 + 24,965 = 25,000 exactly); after the 20 are refused it holds
    # 24,965 of the 24,985 left, so the rest of the book is read and the last 20 close at the level below
    engine = taken_over(attackers=2)
    bid(engine, 15, HIGH)
    refusing_bids(engine, 2)
    bid(engine, 24_965, MARK)
    bid(engine, 1_000, MARK - TICK)
    fills, cancelled, adl = close(engine)
    assert fills == [(2, -15, HIGH), (2, -24_965, MARK), (2, -20, MARK - TICK)]
    assert cancelled == [100, 101]
    assert adl == []


def test_one_contract_left_after_a_refusal_is_closed() -> None:
    # account 2's 24,999 fill, the attacker's 1 is refused: the last contract is judged again and sold below
    engine = taken_over(attackers=1, size=1)
    bid(engine, 24_999, HIGH)
    refusing_bids(engine, 1, size=1)
    bid(engine, 100, MARK)
    fills, cancelled, adl = close(engine)
    assert fills == [(2, -24_999, HIGH), (2, -1, MARK)]
    assert cancelled == [100]
    assert adl == []


@pytest.mark.parametrize("split", [1, 2])
def test_the_prefix_reaches_the_level_whose_lots_complete_the_close_out(split: int) -> None:
    # no refusal: 25,000 - split at 2,940.00 and split one tick below; the book read must include the second level
    engine = taken_over()
    bid(engine, 25_000 - split, MARK)
    bid(engine, split, MARK - TICK)
    bid(engine, 500, MARK - 2 * TICK)
    fills, _, adl = close(engine)
    assert fills == [(2, -(25_000 - split), MARK), (2, -split, MARK - TICK)]
    assert adl == []


def test_a_close_out_of_whole_lots_reads_only_the_prefix_of_the_book(monkeypatch: pytest.MonkeyPatch) -> None:
    # the cost half of the prefix (tests/test_close_out_prefix.py proves the rules' answer is the same on it): the
    # close-out asks level_totals for the levels covering its 25,000 contracts, never for the whole book
    if not closeout.__file__.endswith(".py"):
        pytest.skip("the compiled close-out calls level_totals directly: only the interpreted one can be watched")
    engine = taken_over()
    for step in range(10):
        bid(engine, 5_000, MARK - step * TICK)
    asked: list[int | None] = []
    original = closeout.level_totals

    def watched(book: Book, bid_side: bool, enough: int | None = None, lot_size: int = 1) -> list[tuple[int, int]]:
        asked.append(enough)
        return original(book, bid_side, enough, lot_size)

    monkeypatch.setattr(closeout, "level_totals", watched)
    fills, _, _ = close(engine)
    assert asked == [25_000]
    assert [price for _, _, price in fills] == [MARK - step * TICK for step in range(5)]


def test_a_held_close_out_of_one_contract_counts_in_the_fund_cover() -> None:
    # ADL-031: a long of 1 contract taken over at 2,904.55 with the mark at 2,800.00 and nobody bidding; the fund
    # (230 XBt of residual margin) does not cover its loss at mark (-10,455), so ADL closes it at once
    engine = Engine({"ETHUSD": ETHUSD})
    p = engine.process
    p(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    for account, amount in ((2, 10 * XBT), (3, 10_000)):
        ok(p(c.VerifyAccount(time_ms=0, account=account)))
        ok(p(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount)))
    ok(p(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Sell", order_qty=1, price=300_000)))
    ok(p(c.PlaceOrder(time_ms=0, account=3, symbol="ETHUSD", side="Buy", order_qty=1, price=300_000)))
    events = p(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=280_000, index_price=280_000))
    records = [e.record for e in events if isinstance(e, RuleEvent)]
    assert [type(r).__name__ for r in records if isinstance(r, AdlDeferred | AdlFill)] == ["AdlFill"]
    [adl] = [r for r in records if isinstance(r, AdlFill)]
    assert (adl.account_id, adl.close_qty, adl.price) == (2, -1, 290_455)
    assert engine.positions(2) == {}
    assert engine.positions(3) == {}


def test_a_taken_over_short_counts_the_fill_before_the_refusal_once() -> None:
    # the first test's mirror (a close-out that buys): the whale short 25,000 at 3,000.00 is taken over when the
    # mark rises to 3,060.00; account 100 bought 10 at 3,100.00 and offers them at 2,920.00, which LIQ-054 refuses
    up, low = 306_000, 292_000
    engine = Engine({"ETHUSD": ETHUSD})
    p = engine.process
    p(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    for account, amount in ((1, 3 * XBT), (2, 10_000 * XBT), (100, XBT // 100)):
        ok(p(c.VerifyAccount(time_ms=0, account=account)))
        ok(p(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount)))
    for account in (1, 2):
        limit = ETHUSD.risk_limit + (4 if account == 2 else 1) * ETHUSD.risk_step
        ok(p(c.SetRiskLimit(time_ms=0, account=account, symbol="ETHUSD", risk_limit=limit)))
    ok(p(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Buy", order_qty=25_000, price=300_000)))
    ok(p(c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Sell", order_qty=25_000, price=300_000)))
    ok(p(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Sell", order_qty=10, price=310_000)))
    ok(p(c.PlaceOrder(time_ms=0, account=100, symbol="ETHUSD", side="Buy", order_qty=10, price=310_000)))
    events = p(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=up, index_price=up))
    assert [e.record.unfilled_qty for e in events if isinstance(e, RuleEvent) and isinstance(e.record, AdlDeferred)] == [
        25_000
    ]
    ok(p(c.PlaceOrder(time_ms=1, account=2, symbol="ETHUSD", side="Sell", order_qty=5, price=low)))
    ok(p(c.PlaceOrder(time_ms=1, account=100, symbol="ETHUSD", side="Sell", order_qty=10, price=low)))
    ok(p(c.Withdraw(time_ms=1, account=100, asset="XBt", amount=engine.desk.withdrawable(engine.accounts[100], "XBt"))))
    ok(p(c.PlaceOrder(time_ms=1, account=2, symbol="ETHUSD", side="Sell", order_qty=25_000, price=up)))
    events = p(c.PriceUpdate(time_ms=2, symbol="ETHUSD", mark_price=up, index_price=up))
    records = [e.record for e in events if isinstance(e, RuleEvent)]
    assert [(r.maker_account_id, r.qty, r.price) for r in records if isinstance(r, LiquidationFill)] == [
        (2, 5, low),
        (2, 24_995, up),
    ]
    assert [r for r in records if isinstance(r, AdlDeferred | AdlFill)] == []
    assert [e.account for e in events if isinstance(e, Execution) and e.exec_type == "Canceled"] == [100]


def test_a_close_out_in_lots_reads_the_book_again_when_the_prefix_no_longer_covers() -> None:
    # the second test in XBTUSD (lots of 100 contracts, so the prefix is judged in whole lots): a long of 5,000,000
    # at 50,000.0 (2 XBT) taken over at a mark of 49,250.0; accounts 100 and 101 sold 100 each at 48,000.0 and bid
    # them back at 51,500.0 with nothing left to pay the loss; the prefix for 5,000,000 ends at 49,250.0
    # (300 + 200 + 4,999,500), after the refusals it holds 4,999,500 of the 4,999,700 left
    xbtusd = load_instrument("XBTUSD")
    symbol, fall, high = "XBTUSD", 4_925_000, 5_150_000
    engine = Engine({symbol: xbtusd})
    p = engine.process
    p(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=5_000_000, index_price=5_000_000))
    for account, amount in ((1, 2 * XBT), (2, 1_000 * XBT), (100, 100_000), (101, 100_000)):
        ok(p(c.VerifyAccount(time_ms=0, account=account)))
        ok(p(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount)))
    ok(p(c.SetRiskLimit(time_ms=0, account=2, symbol=symbol, risk_limit=xbtusd.risk_limit + 4 * xbtusd.risk_step)))
    ok(p(c.PlaceOrder(time_ms=0, account=2, symbol=symbol, side="Sell", order_qty=5_000_000, price=5_000_000)))
    ok(p(c.PlaceOrder(time_ms=0, account=1, symbol=symbol, side="Buy", order_qty=5_000_000, price=5_000_000)))
    for account in (100, 101):
        ok(p(c.PlaceOrder(time_ms=0, account=2, symbol=symbol, side="Buy", order_qty=100, price=4_800_000)))
        ok(p(c.PlaceOrder(time_ms=0, account=account, symbol=symbol, side="Sell", order_qty=100, price=4_800_000)))
    events = p(c.PriceUpdate(time_ms=1, symbol=symbol, mark_price=fall, index_price=fall))
    assert [e.record.unfilled_qty for e in events if isinstance(e, RuleEvent) and isinstance(e.record, AdlDeferred)] == [
        5_000_000
    ]
    ok(p(c.PlaceOrder(time_ms=1, account=2, symbol=symbol, side="Buy", order_qty=300, price=high)))
    for account in (100, 101):
        ok(p(c.PlaceOrder(time_ms=1, account=account, symbol=symbol, side="Buy", order_qty=100, price=high)))
    for account in (100, 101):
        amount = engine.desk.withdrawable(engine.accounts[account], "XBt")
        ok(p(c.Withdraw(time_ms=1, account=account, asset="XBt", amount=amount)))
    ok(p(c.PlaceOrder(time_ms=1, account=2, symbol=symbol, side="Buy", order_qty=4_999_500, price=fall)))
    ok(p(c.PlaceOrder(time_ms=1, account=2, symbol=symbol, side="Buy", order_qty=10_000, price=fall - 50)))
    events = p(c.PriceUpdate(time_ms=2, symbol=symbol, mark_price=fall, index_price=fall))
    records = [e.record for e in events if isinstance(e, RuleEvent)]
    assert [(r.maker_account_id, r.qty, r.price) for r in records if isinstance(r, LiquidationFill)] == [
        (2, -300, high),
        (2, -4_999_500, fall),
        (2, -200, fall - 50),
    ]
    assert [r for r in records if isinstance(r, AdlDeferred | AdlFill)] == []
    assert sorted(e.account for e in events if isinstance(e, Execution) and e.exec_type == "Canceled") == [100, 101]
