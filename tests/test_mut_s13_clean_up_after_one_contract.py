"""MRG-067 after a trade of a single contract (session 13, helper "mutants").

Found by ``python -m tests.mutation engine/core/entry.py engine/core/entry_sweep.py``: the clean-up runs after an
order "traded" (``order.cum_qty > 0``), and every test traded at least a lot of 100 or 1,000 contracts, so a
clean-up that waited for more than one contract went unnoticed.  On ETHUSD (lots of 1 contract):

Trader 3 (2,450,541 XBt) is long 40 ETHUSD at 3,000.00 and offers 40 at 42,000.00 (reducing, so cheap in margin);
it then offers 50 at 3,000.00 against a bid of 1 contract (account 2): 1 fills, the long is 39, and the side's
offers (40 far, 49 near) are now charged at a dearer average (MRG-044): its available balance falls below zero, so
MRG-067 cancels its newest order, the 49 left of that offer.  Both entry paths: a plain limit order (the crossing
fast path, engine/core/entry_sweep.py) and a hidden one (displayQty 0: the generic path, OrderEntry._enter).

Rules: MRG-067, MRG-068, MRG-044 (INV-MARGIN-ON-ENTRY).
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, Execution
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.invariants import check_margin_on_entry

MARK = 300_000
UNFUNDED_TEXT = "Canceled: the account's trade left its available balance below zero"


def ok(events: list[Event]) -> list[Event]:
    assert isinstance(events[-1], Accepted), events[-1]
    return events


@pytest.mark.parametrize("hidden", [False, True])
def test_a_one_contract_fill_that_leaves_the_taker_unfunded_cancels_its_newest_order(hidden: bool) -> None:
    engine = Engine({"ETHUSD": load_instrument("ETHUSD")})
    engine.track_steps = True
    p = engine.process
    p(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=MARK, index_price=MARK))
    for account, amount in ((1, 10**12), (2, 10**12), (3, 2_450_541)):
        ok(p(c.VerifyAccount(time_ms=0, account=account)))
        ok(p(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount)))
    ok(p(c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Sell", order_qty=40, price=MARK)))
    ok(p(c.PlaceOrder(time_ms=0, account=3, symbol="ETHUSD", side="Buy", order_qty=40, price=MARK)))
    far = ok(p(c.PlaceOrder(time_ms=0, account=3, symbol="ETHUSD", side="Sell", order_qty=40, price=14 * MARK)))[-1]
    ok(p(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Buy", order_qty=1, price=MARK)))
    display = {"display_qty": 0} if hidden else {}
    events = ok(p(c.PlaceOrder(time_ms=0, account=3, symbol="ETHUSD", side="Sell", order_qty=50, price=MARK, **display)))
    near = events[-1]
    assert isinstance(far, Accepted)
    assert isinstance(near, Accepted)
    trades = [e.last_qty for e in events if isinstance(e, Execution) and e.account == 3 and e.exec_type == "Trade"]
    assert trades == [1]
    assert [e.order_id for e in events if isinstance(e, Execution) and e.text == UNFUNDED_TEXT] == [near.order_id]
    assert sorted(engine.accounts[3].positions["ETHUSD"].orders) == [far.order_id]
    assert engine.positions(3)["ETHUSD"].qty == 39
    assert engine.available(3, "XBt") >= 0
    assert check_margin_on_entry(engine, engine.step_info(events)) == []
