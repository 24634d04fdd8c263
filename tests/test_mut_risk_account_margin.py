"""MRG-050's available balance at order entry, with resting orders in two contracts of one currency.

Found by the session-7 mutation run over ``engine/core/risk.py`` (issue 13): ``Risk.account_margin`` takes the
order margin the entry path has just computed (``known``: the order's own contract, before the order) instead of
recomputing it, and every *other* contract's order margin from its own resting orders. No test had resting orders
in two contracts when an order was refused, so using the known figure for the wrong contract went unnoticed.

Account 2 (1 XBT, cross, no position) rests a buy of 10 ETHUSD at 2,900.00 (MRG-046: 62,394 XBt) and a buy of
1,000 XBTUSD at 49,000.00 (23,486 XBt); a buy of 5,000,000 XBTUSD at 49,000.00 is then refused naming the
available balance 100,000,000 − 62,394 − 23,486 = 99,914,120.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Reason, Rejected
from perpspec.engine.core.exchange import Engine


def test_mrg_050_the_refusal_counts_each_contracts_own_resting_order_margin() -> None:
    engine = Engine()
    engine.process(c.VerifyAccount(time_ms=0, account=2))
    engine.process(c.Deposit(time_ms=0, account=2, asset="XBt", amount=10**8))
    for symbol, mark in (("ETHUSD", 300_000), ("XBTUSD", 5_000_000)):
        engine.process(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=mark, index_price=mark))
    for symbol, qty, price in (("ETHUSD", 10, 290_000), ("XBTUSD", 1_000, 4_900_000)):
        events = engine.process(c.PlaceOrder(time_ms=0, account=2, symbol=symbol, side="Buy", order_qty=qty, price=price))
        assert isinstance(events[-1], Accepted), events[-1]
    margins = {
        symbol: engine.risk.contract_order_margin(engine.instrument_map[symbol], ps)
        for symbol, ps in engine.accounts[2].positions.items()
    }
    assert margins == {"ETHUSD": 62_394, "XBTUSD": 23_486}
    assert engine.available(2, "XBt") == 99_914_120
    refused = engine.process(
        c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Buy", order_qty=5_000_000, price=4_900_000)
    )[-1]
    assert isinstance(refused, Rejected), refused
    assert (refused.reason, refused.text) == (Reason.INSUFFICIENT_MARGIN, "needs 117423681, available 99914120")
