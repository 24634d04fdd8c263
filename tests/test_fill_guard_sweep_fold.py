"""LIQ-044 over a sweep: each fill is judged on the accounts as the sweep's earlier fills left them.

Found by ``python -m tests.mutation engine/core/fills.py`` (``Fills.make_guard``'s fold of earlier fills, on the
generic rules path): no test had one maker hit twice in a sweep where only the two fills together take it beyond
its bankruptcy price.  Account 3 rests two ETHUSD bids (100 at 3,100.00 and 100 at 3,050.00) while the mark is
3,100.00; the mark falls to 2,950.00; a market sell of 200 meets both.  The first fill loses 1,500,000 XBt
against the mark, the second another 1,000,000: each alone fits the maker's 2,000,000 XBt, both do not, so the
second bid is cancelled (LIQ-044) and not filled.  The same with and without the proved kernels, and when the
taker is account 0 (only the liquidation engine's negative ids trade unchecked).
"""

from __future__ import annotations

from contextlib import nullcontext

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Execution, Rejected, RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.engine.kernels.load import generic_rules_only
from perpspec.rules.events import Liquidation
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.solvency import FILL_CANCEL_TEXT

ETHUSD = load_instrument("ETHUSD")
HIGH, LOW = 310_000, 295_000


@pytest.mark.parametrize("taker", [2, 0], ids=["taker-2", "taker-0"])
@pytest.mark.parametrize("kernels", [True, False], ids=["kernels", "generic-rules"])
def test_a_maker_hit_twice_in_one_sweep_is_judged_after_its_first_fill(kernels: bool, taker: int) -> None:
    with nullcontext() if kernels else generic_rules_only():
        engine = Engine({"ETHUSD": ETHUSD})
        engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=HIGH, index_price=HIGH))
        for account, amount in ((taker, 10**10), (3, 2_000_000)):
            engine.process(c.VerifyAccount(time_ms=0, account=account))
            engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
        for price in (HIGH, HIGH - 5_000):
            placed = engine.process(c.PlaceOrder(time_ms=0, account=3, symbol="ETHUSD", side="Buy", order_qty=100, price=price))
            assert not isinstance(placed[-1], Rejected), placed[-1]
        engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=LOW, index_price=LOW))
        events = engine.process(
            c.PlaceOrder(time_ms=1, account=taker, symbol="ETHUSD", side="Sell", order_qty=200, ord_type="Market")
        )
        maker = [(e.exec_type, e.last_qty, e.last_px, e.text) for e in events if isinstance(e, Execution) and e.account == 3]
        assert maker == [("Trade", 100, HIGH, ""), ("Canceled", 0, 0, FILL_CANCEL_TEXT)]
        assert engine.positions(3)["ETHUSD"].qty == 100


def _maker_bids(
    wallet: int, bids: list[tuple[int, int]], mark: int, start: int = HIGH
) -> tuple[Engine, list[tuple[str, int, int, str]]]:
    """Account 3 (``wallet``) rests ``bids`` (qty, price) at a mark of ``start``; the mark falls to ``mark``; account 2
    sells into every bid at market.  Returns the engine and account 3's executions of that sell."""
    engine = Engine({"ETHUSD": ETHUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=start, index_price=start))
    for account, amount in ((2, 10**10), (3, wallet)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    for qty, price in bids:
        placed = engine.process(c.PlaceOrder(time_ms=0, account=3, symbol="ETHUSD", side="Buy", order_qty=qty, price=price))
        assert not isinstance(placed[-1], Rejected), placed[-1]
    engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=mark, index_price=mark))
    total = sum(qty for qty, _ in bids)
    events = engine.process(c.PlaceOrder(time_ms=1, account=2, symbol="ETHUSD", side="Sell", order_qty=total, ord_type="Market"))
    return engine, [(e.exec_type, e.last_qty, e.last_px, e.text) for e in events if isinstance(e, Execution) and e.account == 3]


@pytest.mark.parametrize("kernels", [True, False], ids=["kernels", "generic-rules"])
def test_a_one_contract_bid_left_far_above_a_collapsed_mark_is_cancelled_not_filled(kernels: bool) -> None:
    # one contract at 3,100.00 with the mark at 2,800.00 loses 30,000 XBt, three times the maker's 10,000
    with nullcontext() if kernels else generic_rules_only():
        engine, maker = _maker_bids(10_000, [(1, HIGH)], 280_000)
    assert maker == [("Canceled", 0, 0, FILL_CANCEL_TEXT)]
    assert engine.positions(3) == {}


def test_after_a_bid_refused_at_one_price_the_same_size_at_a_safer_price_is_judged_afresh() -> None:
    # 100 at 3,100.00 would lose 3,000,000 XBt against a mark of 2,800.00 (more than the 2,000,000 wallet): refused;
    # 100 at 2,810.00 loses 100,000: filled (the refusal of the first is not reused for the second)
    engine, maker = _maker_bids(2_000_000, [(100, HIGH), (100, 281_000)], 280_000)
    assert maker == [("Trade", 100, 281_000, ""), ("Canceled", 0, 0, FILL_CANCEL_TEXT)]  # fills first, then cancels
    assert engine.positions(3)["ETHUSD"].qty == 100


def test_after_a_bid_refused_at_one_size_a_smaller_one_at_the_same_price_is_judged_afresh() -> None:
    # 200 at 3,100.00 would lose 3,000,000 XBt against 2,950.00 (more than the 2,500,000 wallet): refused;
    # 100 at the same price loses 1,500,000: filled
    engine, maker = _maker_bids(2_500_000, [(200, HIGH), (100, HIGH)], LOW)
    assert maker == [("Trade", 100, HIGH, ""), ("Canceled", 0, 0, FILL_CANCEL_TEXT)]
    assert engine.positions(3)["ETHUSD"].qty == 100


@pytest.mark.parametrize(("fall", "fills"), [(6_000, [100, 100]), (9_000, [100])])
@pytest.mark.parametrize("kernels", [True, False], ids=["kernels", "generic-rules"])
def test_an_isolated_maker_hit_twice_is_judged_on_its_pool_after_the_first_fill(
    kernels: bool, fall: int, fills: list[int]
) -> None:
    # isolated at 50x with exactly the margin its two bids needed (100 at 3,100.00 and 100 at 3,090.00); the mark
    # falls by ``fall``; the first fill's premium comes out of the free wallet (ACC-006), which decides the second
    with nullcontext() if kernels else generic_rules_only():
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
            engine.process(c.Deposit(time_ms=0, account=3, asset="XBt", amount=int(refused.text.split()[1].rstrip(","))))
            assert not isinstance(engine.process(bid)[-1], Rejected)
        engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=HIGH - fall, index_price=HIGH - fall))
        events = engine.process(c.PlaceOrder(time_ms=1, account=2, symbol="ETHUSD", side="Sell", order_qty=200, ord_type="Market"))
    traded = [e.last_qty for e in events if isinstance(e, Execution) and e.account == 3 and e.exec_type == "Trade"]
    assert traded == fills
    # since session 20 (liq20) a pool its own fills leave below maintenance is taken over in the fill's command: the
    # two stale fills (the second's premium beyond what the free wallet held) leave account 3 there at 6,000
    taken = [e.record.account_id for e in events if isinstance(e, RuleEvent) and isinstance(e.record, Liquidation)]
    assert taken == ([3] if fall == 6_000 else [])
    if taken:
        assert "ETHUSD" not in engine.positions(3)
    else:
        assert engine.positions(3)["ETHUSD"].qty == sum(fills)


def test_a_refusal_is_not_reused_where_a_price_equals_the_next_quantity() -> None:
    # the same judged-afresh case at ETHUSD 1.00 (100 price units) with a second bid of 100 contracts: no part of
    # a remembered judgement (quantity, price, fee) may stand in for another (the mark falls to 0.50)
    engine, maker = _maker_bids(7_500, [(200, 100), (100, 100)], 50, start=100)
    assert maker == [("Trade", 100, 100, ""), ("Canceled", 0, 0, FILL_CANCEL_TEXT)]
    assert engine.positions(3)["ETHUSD"].qty == 100


def test_a_refusal_is_not_reused_where_the_next_price_equals_the_makers_fee_rate() -> None:
    # XBTUSD's maker fee at the first tier is 200 ppm; its price 200 is $2.00.  Account 3 (5 XBT) bids 100 contracts
    # at $2.50 and 100 at $2.00 while the mark is $2.50; the mark falls to $1.95: the first fill would lose about
    # 11.3 XBT (refused), the second about 1.3 XBT (filled, judged afresh)
    xbtusd = load_instrument("XBTUSD")
    engine = Engine({"XBTUSD": xbtusd})
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=250, index_price=250))
    for account, amount in ((2, 10**12), (3, 5 * 10**8)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    assert xbtusd.fee_tiers[0].maker_fee_ppm == 200
    for price in (250, 200):
        placed = engine.process(c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Buy", order_qty=100, price=price))
        assert not isinstance(placed[-1], Rejected), placed[-1]
    engine.process(c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=195, index_price=195))
    events = engine.process(c.PlaceOrder(time_ms=1, account=2, symbol="XBTUSD", side="Sell", order_qty=200, ord_type="Market"))
    maker = [(e.exec_type, e.last_qty, e.last_px, e.text) for e in events if isinstance(e, Execution) and e.account == 3]
    assert maker == [("Trade", 100, 200, ""), ("Canceled", 0, 0, FILL_CANCEL_TEXT)]
