"""The lean sweep of a crossing plain limit order (``engine.core.entry_sweep``) at its edges (mutation survivors).

Each case is a plain GoodTillCancel limit order from a cross position crossing the book (the orders the lean
sweep takes; a counter on ``entry_plain``'s ``enter_crossing`` checks that it did), with the figures the general
path gives (tests/test_fill_guard_sweep_fold.py's cases, there with market orders that take the general path).
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core import entry_plain, entry_sweep
from perpspec.engine.core.events import Execution, Rejected, RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.events import Liquidation
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


@pytest.mark.parametrize("taker_buys", [True, False], ids=["taker-buys", "maker-buys"])
@pytest.mark.parametrize("qty", [1, 2])
def test_fnd_both_sides_of_a_lean_sweep_opening_from_flat_are_holders_and_exchange_funding(
    lean: list[int], qty: int, taker_buys: bool
) -> None:
    # account 2's plain limit order trades ``qty`` ETHUSD with account 3's resting one, both from flat; a funding
    # rate of 0.75% (FND-004's ETHUSD cap; longs pay) then moves exactly the long's funding to the short (the holders the lean sweep keeps)
    engine = Engine({"ETHUSD": ETHUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=HIGH, index_price=HIGH))
    for account in (2, 3):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**9))
    taker_side, maker_side = ("Buy", "Sell") if taker_buys else ("Sell", "Buy")
    engine.process(
        c.PlaceOrder(time_ms=0, account=3, symbol="ETHUSD", side=maker_side, order_qty=qty, price=HIGH)
    )
    engine.process(
        c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side=taker_side, order_qty=qty, price=HIGH)
    )
    assert lean == [1]
    long, short = (2, 3) if taker_buys else (3, 2)
    assert engine.positions(long)["ETHUSD"].qty == qty
    wallets = {a: engine.accounts[a].wallet("XBt") for a in (2, 3)}
    engine.process(c.FundingTick(time_ms=1, symbol="ETHUSD", rate_e8=750_000))
    # 0.75% of |value| (100 XBt per dollar of ETHUSD price: 3,100.00 × 100 = 310,000 XBt a contract), exact
    assert wallets[long] - engine.accounts[long].wallet("XBt") == 2_325 * qty
    assert engine.accounts[short].wallet("XBt") - wallets[short] == 2_325 * qty


def test_liq_044_a_refusal_is_not_reused_where_a_price_equals_the_next_quantity(lean: list[int]) -> None:
    # at ETHUSD 1.00 (100 price units) with a second bid of 100 contracts: no part of a remembered judgement
    # (quantity, price) may stand in for another (the mark falls to 0.50)
    engine, maker = _maker_bids(7_500, [(200, 100), (100, 100)], 50, start=100)
    assert lean == [1]
    assert maker == [("Trade", 100, 100, ""), ("Canceled", 0, 0, FILL_CANCEL_TEXT)]
    assert engine.positions(3)["ETHUSD"].qty == 100


def test_liq_044_a_one_contract_bid_left_far_above_a_collapsed_mark_is_cancelled_not_filled(
    lean: list[int],
) -> None:
    # one contract at 3,100.00 with the mark at 2,800.00 loses 30,000 XBt, three times the maker's 10,000
    engine, maker = _maker_bids(10_000, [(1, HIGH)], 280_000)
    assert lean == [1]
    assert maker == [("Canceled", 0, 0, FILL_CANCEL_TEXT)]
    assert engine.positions(3) == {}


def test_liq_053_an_isolated_maker_holding_margin_may_add_what_the_cross_pool_can_spare(
    lean: list[int],
) -> None:
    # account 2 (2 XBT): isolated 1x ETHUSD long of 200 (about 60M of margin), a 1x bid of 100 at 2,990.00 and a
    # cross XBTUSD long of 50,000 fallen from 50,000.00 to 45,000.00; account 4's plain limit sell fills the bid:
    # it moves about 30M into the isolated pool (LIQ-053 measures the move, not the pool), the cross pool keeps
    # its maintenance
    engine = Engine()
    for account, amount in ((2, 2 * 10**8), (3, 10**10), (4, 10**10)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    engine.process(c.SetLeverage(time_ms=0, account=2, symbol="ETHUSD", leverage_hundredths=100))
    for account, symbol, side, qty, price in (
        (4, "ETHUSD", "Sell", 200, 300_000),
        (2, "ETHUSD", "Buy", 200, 300_000),
        (2, "ETHUSD", "Buy", 100, 299_000),
        (3, "XBTUSD", "Sell", 50_000, 5_000_000),
        (2, "XBTUSD", "Buy", 50_000, 5_000_000),
    ):
        placed = engine.process(
            c.PlaceOrder(time_ms=0, account=account, symbol=symbol, side=side, order_qty=qty, price=price)
        )
        assert not isinstance(placed[-1], Rejected), placed[-1]
    engine.process(c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=4_500_000, index_price=4_500_000))
    lean.clear()
    events = engine.process(
        c.PlaceOrder(time_ms=2, account=4, symbol="ETHUSD", side="Sell", order_qty=100, price=299_000)
    )
    assert lean == [1]
    assert FILL_CANCEL_TEXT not in [getattr(e, "text", "") for e in events]
    assert engine.positions(2)["ETHUSD"].qty == 300
    assert not engine.risk.below_maintenance(engine.accounts[2], "XBTUSD")


@pytest.mark.parametrize(("fall", "fills"), [(6_000, [100, 100]), (9_000, [100])])
def test_liq_044_an_isolated_maker_hit_twice_is_judged_on_its_pool_after_the_first_fill(
    lean: list[int], fall: int, fills: list[int]
) -> None:
    # isolated at 50x with exactly the margin its two bids needed (100 at 3,100.00 and 100 at 3,090.00); the mark
    # falls by ``fall``; the first fill's premium comes out of the free wallet (ACC-006), which decides the second
    engine = Engine({"ETHUSD": ETHUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=HIGH, index_price=HIGH))
    for account, amount in ((2, 10**10), (3, 1)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    engine.process(c.SetLeverage(time_ms=0, account=3, symbol="ETHUSD", leverage_hundredths=5_000))
    for price in (HIGH, HIGH - 1_000):
        bid = c.PlaceOrder(time_ms=0, account=3, symbol="ETHUSD", side="Buy", order_qty=100, price=price)
        refused = engine.process(bid)[-1]
        assert isinstance(refused, Rejected), refused
        engine.process(
            c.Deposit(time_ms=0, account=3, asset="XBt", amount=int(refused.text.split()[1].rstrip(",")))
        )
        assert not isinstance(engine.process(bid)[-1], Rejected)
    engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=HIGH - fall, index_price=HIGH - fall))
    events = engine.process(
        c.PlaceOrder(time_ms=1, account=2, symbol="ETHUSD", side="Sell", order_qty=200, price=HIGH - 1_000)
    )
    assert lean == [1]
    traded = [
        e.last_qty for e in events if isinstance(e, Execution) and e.account == 3 and e.exec_type == "Trade"
    ]
    assert traded == fills
    # since session 20 (liq20) a pool its own fills leave below maintenance is taken over in the fill's command: the
    # two stale fills (the second's premium beyond what the free wallet held) leave account 3 there at 6,000
    taken = [e.record.account_id for e in events if isinstance(e, RuleEvent) and isinstance(e.record, Liquidation)]
    assert taken == ([3] if fall == 6_000 else [])
    if taken:
        assert "ETHUSD" not in engine.positions(3)
    else:
        assert engine.positions(3)["ETHUSD"].qty == sum(fills)


@pytest.mark.parametrize(
    ("wallet", "fills"), [(2_000_000, [100]), (2_600_000, [100, 100]), (10**8, [100, 100])]
)
def test_liq_044_a_cross_maker_hit_twice_keeps_its_folded_position(
    lean: list[int], wallet: int, fills: list[int]
) -> None:
    # account 3 bids 100 at 3,100.00 and 100 at 3,050.00, the mark falls to 2,950.00: the fills lose 1,500,000 and
    # 1,000,000 XBt against the mark; the second is judged on the position (100 contracts, their cost) and the
    # wallet the first left
    engine = Engine({"ETHUSD": ETHUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=HIGH, index_price=HIGH))
    for account, amount in ((2, 10**10), (3, wallet)):
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
    traded = [
        e.last_qty for e in events if isinstance(e, Execution) and e.account == 3 and e.exec_type == "Trade"
    ]
    assert traded == fills
