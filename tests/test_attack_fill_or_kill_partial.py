"""Attack review: a FillOrKill order fills in full or not at all, even when LIQ-044 cancels a maker mid-sweep.

Found by the session-5 integrity review.  ``OrderEntry._enter`` asks ``Book.can_fill``
whether the book holds enough up to the limit, counting every resting order; the sweep
then runs the LIQ-044 guard, which cancels a maker whose fill would take it beyond its
bankruptcy price and moves on.  The FillOrKill order then trades what is left and its
rest is cancelled as if it were ImmediateOrCancel: a partial fill of an all-or-nothing
order (BitMEX: "FillOrKill: execute the whole quantity immediately or cancel").

XBTUSD at 50,000.00: thin account 3 (0.0025 XBT) offers 10,000 at 50,000.00, account 1
offers 1,000 at 50,100.00; the mark rises 5% to 52,500.00, so account 3's offer would now
fill 5% under the mark, beyond its equity.  Account 2 sends a FillOrKill buy of 11,000
up to 50,100.00: without the fix it buys 1,000 from account 1 ("Canceled: ImmediateOrCancel").

Proposed fix (engine/core/entry.py ``_enter``, with engine/core/fills.py): decide the
FillOrKill with the guard — run the sweep's matching with the LIQ-044 guard on a dry run
(or count only makers the guard would grant) and cancel the order without any trade when
the safe quantity is short; the unsafe maker is cancelled either way.
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Execution
from perpspec.engine.core.exchange import Engine


@pytest.mark.xfail(strict=True, reason="engine/core/entry.py: can_fill counts makers the LIQ-044 guard then cancels")
def test_fill_or_kill_is_not_partially_filled_when_a_maker_is_cancelled_as_unsafe() -> None:
    engine = Engine()
    for account, deposit in ((1, 10**9), (2, 10**9), (3, 250_000)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=deposit))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    engine.process(c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Sell", order_qty=10_000, price=5_000_000))
    engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Sell", order_qty=1_000, price=5_010_000))
    engine.process(c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=5_250_000, index_price=5_250_000))
    events = engine.process(
        c.PlaceOrder(time_ms=1, account=2, symbol="XBTUSD", side="Buy", order_qty=11_000, price=5_010_000,
                     time_in_force="FillOrKill")
    )
    assert isinstance(events[-1], Accepted)
    traded = sum(e.last_qty for e in events if isinstance(e, Execution) and e.exec_type == "Trade" and e.account == 2)
    assert traded in (0, 11_000)
