"""LIQ-051's close-out floor at its boundary, in the engine: an offer exactly at the floor is taken, one tick worse is not.

The floor (``rules.liquidation_working.compute_mark_bound``) is the mark less 5% when the
liquidation engine sells a taken-over long, plus 5% when it buys back a taken-over short, on the
tick toward the system.  It bounds the working limit's walk while ADL-031's fund cover is ≥ 0
(LIQ-050) and every offer once the cover is negative (LIQ-051); what the book does not take
there waits (cover ≥ 0) or goes to ADL-020 at the bankruptcy price (cover < 0).  Account 2
(1,200,000 XBt) opens 50,000 XBTUSD at 50,000.00 against account 3; account 5 rests the only
offer on the close-out's side.

* long, cover < 0: the mark gaps to 48,500.00 (bankruptcy 49,481.00, fund 1,000,000): floor 46,075.00;
* long, cover ≥ 0: 40 updates at 48,900.00 (fund 10^8): floor 46,455.00;
* short, cover < 0: the mark gaps to 51,500.00 (bankruptcy 50,530.00, fund 1,000,000): ceiling 54,075.00;
* short, cover ≥ 0: 40 updates at 51,100.00 (fund 10^8): ceiling 53,655.00.
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.events import AdlFill, LiquidationFill
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.insurance import Fill
from perpspec.rules.liquidation_working import CLOSE_OUT_MARK_BAND_PPM, compute_mark_bound, get_working_offers
from perpspec.rules.num import PPM

XBTUSD = load_instrument("XBTUSD")
TICK = XBTUSD.tick_size
# (name, side of the taken-over position, fund, mark, updates at that mark, the floor / ceiling)
CASES = [
    ("long-uncovered", 1, 1_000_000, 4_850_000, 1, 4_607_500),
    ("long-covered", 1, 10**8, 4_890_000, 40, 4_645_500),
    ("short-uncovered", -1, 1_000_000, 5_150_000, 1, 5_407_500),
    ("short-covered", -1, 10**8, 5_110_000, 40, 5_365_500),
]


def _close_out(side: int, fund: int, mark: int, updates: int, offer: int) -> tuple[Engine, list[LiquidationFill], int]:
    engine = Engine()
    engine.process(c.DepositInsurance(time_ms=0, asset="XBt", amount=fund))
    for account, wallet in ((2, 1_200_000), (3, 10**10), (5, 10**10)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=wallet))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    opens, closes = ("Buy", "Sell") if side > 0 else ("Sell", "Buy")
    engine.process(c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side=closes, order_qty=50_000, price=5_000_000))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side=opens, order_qty=50_000, price=5_000_000))
    engine.process(c.PlaceOrder(time_ms=0, account=5, symbol="XBTUSD", side=opens, order_qty=50_000, price=offer))
    fills: list[LiquidationFill] = []
    adl = 0
    for step in range(1, updates + 1):
        for event in engine.process(c.PriceUpdate(time_ms=step, symbol="XBTUSD", mark_price=mark, index_price=mark)):
            if isinstance(event, RuleEvent) and isinstance(event.record, LiquidationFill):
                fills.append(event.record)
            elif isinstance(event, RuleEvent) and isinstance(event.record, AdlFill):
                adl += abs(event.record.close_qty)
    assert engine.accounts[2].positions["XBTUSD"].qty == 0  # taken over
    return engine, fills, adl


@pytest.mark.parametrize(("name", "side", "fund", "mark", "updates", "floor"), CASES, ids=[case[0] for case in CASES])
def test_the_floor_is_five_percent_past_the_mark_on_the_tick(
    name: str, side: int, fund: int, mark: int, updates: int, floor: int
) -> None:
    assert CLOSE_OUT_MARK_BAND_PPM == 50_000
    assert floor == mark - side * (mark * CLOSE_OUT_MARK_BAND_PPM // PPM)  # these marks: already on the tick
    assert compute_mark_bound(XBTUSD, side, mark) == floor


@pytest.mark.parametrize(("name", "side", "fund", "mark", "updates", "floor"), CASES, ids=[case[0] for case in CASES])
def test_an_offer_exactly_at_the_floor_is_taken(
    name: str, side: int, fund: int, mark: int, updates: int, floor: int
) -> None:
    engine, fills, _ = _close_out(side, fund, mark, updates, floor)
    assert fills
    assert {fill.price for fill in fills} == {floor}
    assert engine.accounts[5].positions["XBTUSD"].qty == side * sum(abs(fill.qty) for fill in fills)


@pytest.mark.parametrize(("name", "side", "fund", "mark", "updates", "floor"), CASES, ids=[case[0] for case in CASES])
def test_an_offer_one_tick_worse_is_not_taken(
    name: str, side: int, fund: int, mark: int, updates: int, floor: int
) -> None:
    engine, fills, adl = _close_out(side, fund, mark, updates, floor - side * TICK)
    assert fills == []
    position = engine.accounts[5].positions.get("XBTUSD")
    assert position is None or position.qty == 0
    assert engine.insurance_funds["XBt"] >= fund  # nothing paid to the offer (the take-over itself adds the margin left)
    if fund < 10**8:  # the cover is negative: the whole close-out is deleveraged at the bankruptcy price
        assert adl == 50_000
    else:  # the cover is positive: the close-out waits for the book (ADL-031)
        assert adl == 0


def test_a_one_contract_long_is_closed_by_selling_down_to_the_floor() -> None:
    # ETHUSD's lot is one contract: a taken-over long of 1 sells (the floor below the mark), never buys
    ethusd = load_instrument("ETHUSD")
    tick, mark = ethusd.tick_size, 20_000 * ethusd.tick_size
    floor = compute_mark_bound(ethusd, 1, mark)
    bids = [Fill(qty=1, price=floor + tick), Fill(qty=1, price=floor), Fill(qty=1, price=floor - tick)]
    assert get_working_offers(ethusd, 1, mark, 0, mark, -1, bids) == bids[:2]
    ceiling = compute_mark_bound(ethusd, -1, mark)
    asks = [Fill(qty=1, price=ceiling - tick), Fill(qty=1, price=ceiling), Fill(qty=1, price=ceiling + tick)]
    assert get_working_offers(ethusd, -1, mark, 0, mark, -1, asks) == asks[:2]  # a short of 1 buys, up to the ceiling
