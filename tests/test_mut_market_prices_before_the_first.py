"""``Market``'s answers before a price exists: a trailing stop on an index the contract has not had yet is refused.

Found by the session-7 mutation run over ``engine/core/market.py`` (issue 13): ``Market.trigger_price`` answers 0
for a trigger price the contract has not had yet, which order entry reads as "no price yet"; no test placed a
trailing stop watching the *index* before the first index update (the last-price case is in
``tests/test_trailing_stop_range.py``). Answered as one price unit, a buy trailing stop would be accepted with a
stop price of one unit plus its offset.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Rejected
from perpspec.engine.core.exchange import Engine


def test_an_index_price_trailing_stop_before_any_index_update_is_refused() -> None:
    engine = Engine()
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000))  # a mark, no index yet
    engine.process(c.VerifyAccount(time_ms=0, account=1))
    engine.process(c.Deposit(time_ms=0, account=1, asset="XBt", amount=10**10))
    assert engine.index_prices == {}
    for side, offset in (("Buy", 1_000), ("Sell", -1_000)):
        refused = engine.process(
            c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side=side, order_qty=1, ord_type="Pegged",
                         peg_price_type="TrailingStopPeg", peg_offset_value=offset, exec_inst="Fixed,IndexPrice")
        )[-1]
        assert isinstance(refused, Rejected), refused
        assert (refused.reason.name, refused.text) == ("NO_MARK_PRICE", "no IndexPrice yet for the trailing stop")
    assert engine.live_orders == {}
