"""Attack review: an amend is held to the same price protection as a new limit order (reference §8, ORD fat finger).

Found by the session-5 integrity review; fixed on main in 4a7e789 (check_price_protection
used by both).  ``OrderEntry.check_entry`` refuses a
limit sell more than 5% below min(best bid, mark) larger than the best bid's
size (``PriceOutsideProtectionBand``); ``OrderEntry.amend`` never runs that
check.  So the refused order is placed in two steps: a sell at a harmless
price, then an amend of its price to 20% below the mark.  The amended order
sweeps the bids without the band and rests far through the market, where a
colluding account can buy it.

XBTUSD at 50,000.00; account 3 bids 100 contracts at 49,900.00.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Reason, Rejected
from perpspec.engine.core.exchange import Engine

MARK = 5_000_000
THROUGH = 4_000_000  # 20% below the mark


def _engine_with_a_small_bid() -> Engine:
    engine = Engine()
    for account in (2, 3):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**9))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=MARK, index_price=MARK))
    engine.process(c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Buy", order_qty=100, price=4_990_000))
    return engine


def test_a_new_limit_sell_through_the_band_is_refused() -> None:
    engine = _engine_with_a_small_bid()
    events = engine.process(
        c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Sell", order_qty=10_000, price=THROUGH)
    )
    assert isinstance(events[-1], Rejected)
    assert events[-1].reason == Reason.FAT_FINGER


def test_amending_a_limit_sell_through_the_band_is_refused_like_a_new_one() -> None:
    engine = _engine_with_a_small_bid()
    placed = engine.process(
        c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Sell", order_qty=10_000, price=5_100_000)
    )
    assert isinstance(placed[-1], Accepted)
    before = engine.state_hash()
    events = engine.process(c.AmendOrder(time_ms=0, account=2, order_id=placed[-1].order_id, price=THROUGH))
    assert isinstance(events[-1], Rejected)
    assert events[-1].reason == Reason.FAT_FINGER
    engine.seq -= 1  # the reject's own sequence number is the only trace it leaves
    assert engine.state_hash() == before
