"""Attack review: a market order's initial margin is charged at a price its fills cannot go past (MRG-060, INV-MARGIN-ON-ENTRY).

Found by the session-5 integrity review.  ``OrderEntry.check_entry`` charges a market
order's margin at ``compute_market_reach``: the worst price the book reaches for its
quantity, counting every resting order.  The sweep then runs the LIQ-044 guard, which
cancels a maker whose fill would take it beyond its bankruptcy price, and goes on up to
the 5% fat-finger cap: the order fills deeper than the price it was charged at.  The
same root cause as the partial FillOrKill (tests/test_attack_fill_or_kill_partial.py).

XBTUSD: thin account 3 offers 10,000 at 50,000.00; the mark rises to 52,500.00 (account
3's offer is now unsafe to fill); account 1 offers 10,000 at 52,500.00 and 10,000 at
55,000.00.  Account 2 (0.01 XBT) buys 20,000 at market: charged as if it paid 50,000.00
and 52,500.00, it pays 52,500.00 and 55,000.00 and is left with an available balance of
−294,219 XBt: INV-MARGIN-ON-ENTRY fails, a position opened without its initial margin.

Proposed fix (engine/core/entry.py ``_enter``): sweep a market order that needed margin
no further than the price it was charged at (``min(cap, charge price)``; the rest is
cancelled as at its price limit), or compute the reach with the makers the guard grants.
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine
from perpspec.rules.invariants import check_all


@pytest.mark.xfail(strict=True, reason="engine/core/entry.py: market reach counts makers the LIQ-044 guard cancels")
def test_a_market_order_never_fills_beyond_the_price_its_margin_was_charged_at() -> None:
    engine = Engine()
    engine.track_steps = True
    for account, deposit in ((1, 10**9), (2, 1_000_000), (3, 250_000)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=deposit))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    engine.process(c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Sell", order_qty=10_000, price=5_000_000))
    engine.process(c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=5_250_000, index_price=5_250_000))
    for price in (5_250_000, 5_500_000):
        engine.process(c.PlaceOrder(time_ms=1, account=1, symbol="XBTUSD", side="Sell", order_qty=10_000, price=price))
    events = engine.process(c.PlaceOrder(time_ms=1, account=2, symbol="XBTUSD", side="Buy", order_qty=20_000))
    assert isinstance(events[-1], Accepted)
    assert check_all(engine, engine.step_info())["INV-MARGIN-ON-ENTRY"] == []
