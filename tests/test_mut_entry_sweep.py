"""The lean sweep of a crossing plain limit order (``engine.core.entry_sweep``) at its edges (mutation survivors).

Each case is a plain GoodTillCancel limit order from a cross position crossing the book (the orders the lean
sweep takes; a counter on ``entry_plain``'s ``enter_crossing`` checks that it did), with the figures the general
path gives (tests/test_fill_guard_sweep_fold.py's cases, there with market orders that take the general path).
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core import entry_plain, entry_sweep
from perpspec.engine.core.events import Execution, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.solvency import FILL_CANCEL_TEXT

ETHUSD = load_instrument("ETHUSD")
HIGH, LOW = 310_000, 295_000


@pytest.fixture
def lean(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many orders the lean sweep entered."""
    calls: list[int] = []
    original = entry_sweep.enter_crossing

    def counting(*args: object) -> None:
        calls.append(1)
        original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(entry_plain, "enter_crossing", counting)
    return calls


def test_liq_044_a_maker_hit_twice_by_a_plain_limit_sell_is_judged_after_its_first_fill(
    lean: list[int],
) -> None:
    # account 3 (2,000,000 XBt) bids 100 at 3,100.00 and 100 at 3,050.00 at a mark of 3,100.00; the mark falls to
    # 2,950.00; a plain limit sell of 200 at 3,050.00 meets both: each fill alone fits the wallet, both do not
    engine = Engine({"ETHUSD": ETHUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=HIGH, index_price=HIGH))
    for account, amount in ((2, 10**10), (3, 2_000_000)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    for price in (HIGH, HIGH - 5_000):
        placed = engine.process(
            c.PlaceOrder(time_ms=0, account=3, symbol="ETHUSD", side="Buy", order_qty=100, price=price)
        )
        assert not isinstance(placed[-1], Rejected), placed[-1]
    engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=LOW, index_price=LOW))
    events = engine.process(
        c.PlaceOrder(time_ms=1, account=2, symbol="ETHUSD", side="Sell", order_qty=200, price=HIGH - 5_000)
    )
    assert lean == [1]
    maker = [
        (e.exec_type, e.last_qty, e.last_px, e.text)
        for e in events
        if isinstance(e, Execution) and e.account == 3
    ]
    assert maker == [("Trade", 100, HIGH, ""), ("Canceled", 0, 0, FILL_CANCEL_TEXT)]
    assert engine.positions(3)["ETHUSD"].qty == 100
    assert engine.positions(2)["ETHUSD"].qty == -100  # the rest of the sell rests at 3,050.00


def _maker_bids(
    wallet: int, bids: list[tuple[int, int]], mark: int, start: int = HIGH
) -> tuple[Engine, list[tuple[str, int, int, str]]]:
    """Account 3 (``wallet``) rests ``bids`` (qty, price) at a mark of ``start``; the mark falls to ``mark``; account 2
    sells into every bid with a plain limit order at the lowest bid.  Returns the engine and account 3's executions."""
    engine = Engine({"ETHUSD": ETHUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=start, index_price=start))
    for account, amount in ((2, 10**10), (3, wallet)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    for qty, price in bids:
        placed = engine.process(
            c.PlaceOrder(time_ms=0, account=3, symbol="ETHUSD", side="Buy", order_qty=qty, price=price)
        )
        assert not isinstance(placed[-1], Rejected), placed[-1]
    engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=mark, index_price=mark))
    total = sum(qty for qty, _ in bids)
    low = min(price for _, price in bids)
    events = engine.process(
        c.PlaceOrder(time_ms=1, account=2, symbol="ETHUSD", side="Sell", order_qty=total, price=low)
    )
    return engine, [
        (e.exec_type, e.last_qty, e.last_px, e.text)
        for e in events
        if isinstance(e, Execution) and e.account == 3
    ]


def test_liq_044_after_a_bid_refused_at_one_price_the_same_size_at_a_safer_price_is_judged_afresh(
    lean: list[int],
) -> None:
    # 100 at 3,100.00 would lose 3,000,000 XBt against a mark of 2,800.00 (more than the 2,000,000 wallet): refused;
    # 100 at 2,810.00 loses 100,000: filled (the lean guard's remembered refusal is not reused at another price)
    engine, maker = _maker_bids(2_000_000, [(100, HIGH), (100, 281_000)], 280_000)
    assert lean == [1]
    assert maker == [("Trade", 100, 281_000, ""), ("Canceled", 0, 0, FILL_CANCEL_TEXT)]
    assert engine.positions(3)["ETHUSD"].qty == 100


def test_liq_044_after_a_bid_refused_at_one_size_a_smaller_one_at_the_same_price_is_judged_afresh(
    lean: list[int],
) -> None:
    # 200 at 3,100.00 would lose 3,000,000 XBt against 2,950.00 (more than the 2,500,000 wallet): refused;
    # 100 at the same price loses 1,500,000: filled (nor for another size)
    engine, maker = _maker_bids(2_500_000, [(200, HIGH), (100, HIGH)], LOW)
    assert lean == [1]
    assert maker == [("Trade", 100, HIGH, ""), ("Canceled", 0, 0, FILL_CANCEL_TEXT)]
    assert engine.positions(3)["ETHUSD"].qty == 100


@pytest.mark.parametrize("qty", [1, 2])
def test_fnd_a_plain_limit_taker_opening_from_flat_is_a_holder_and_pays_funding(
    lean: list[int], qty: int
) -> None:
    # account 2 buys ``qty`` ETHUSD from flat with a plain limit order; a funding rate of 1% (longs pay) then moves
    # exactly the funding of its position from its wallet to the short's (the holders the lean sweep keeps)
    engine = Engine({"ETHUSD": ETHUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=HIGH, index_price=HIGH))
    for account in (2, 3):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**9))
    engine.process(
        c.PlaceOrder(time_ms=0, account=3, symbol="ETHUSD", side="Sell", order_qty=qty, price=HIGH)
    )
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Buy", order_qty=qty, price=HIGH))
    assert lean == [1]
    assert engine.positions(2)["ETHUSD"].qty == qty
    wallets = [engine.accounts[a].wallet("XBt") for a in (2, 3)]
    engine.process(c.FundingTick(time_ms=1, symbol="ETHUSD", rate_e8=1_000_000))
    paid = wallets[0] - engine.accounts[2].wallet("XBt")
    assert paid == -(wallets[1] - engine.accounts[3].wallet("XBt"))
    assert (
        paid == 3_100 * qty
    )  # 1% of |value| (100 XBt per dollar of ETHUSD price: 3,100.00 × 100 = 310,000 XBt)


def test_liq_044_a_refusal_is_not_reused_where_a_price_equals_the_next_quantity(lean: list[int]) -> None:
    # at ETHUSD 1.00 (100 price units) with a second bid of 100 contracts: no part of a remembered judgement
    # (quantity, price) may stand in for another (the mark falls to 0.50)
    engine, maker = _maker_bids(7_500, [(200, 100), (100, 100)], 50, start=100)
    assert lean == [1]
    assert maker == [("Trade", 100, 100, ""), ("Canceled", 0, 0, FILL_CANCEL_TEXT)]
    assert engine.positions(3)["ETHUSD"].qty == 100
