"""A ReduceOnly order cancelled by a refused command's switch leaves the ReduceOnly index; the next is still cut.

Session 13 (helper "mutants") wrote this for ``OrderRegistry.undo_timers``, which put a refused command's switch
cancels back and had to count a ReduceOnly order back into the derived index ``fix_reduce_only`` reads (counted
-1 instead of 1, a second ReduceOnly order was never cut to the position: ORD-011).  Session 15 removed the undo:
the timers a command's time fires stay fired, whatever the command's fate (ORD-050).  The stream now pins the
other side: the switch's cancel of a ReduceOnly order in a refused command takes it out of the index for good.

Account 1 is long 10 ETHUSD and rests a ReduceOnly sell of 10; its switch (60 s, armed at 1 s) is due when a
command of account 2 is refused at 61 s: the sell is cancelled and the clock stays at 61 s.  Account 1 places a
second ReduceOnly sell of 10 and sells 3 of its position: only the second order is cut, to the 7 left.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, Execution, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument

ETH = 300_000


def ok(events: list[Event]) -> Accepted:
    assert isinstance(events[-1], Accepted), events[-1]
    return events[-1]


def test_a_reduce_only_order_a_refused_commands_switch_cancelled_leaves_the_index_for_good() -> None:
    engine = Engine({"ETHUSD": load_instrument("ETHUSD")})
    p = engine.process
    p(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=ETH, index_price=ETH))
    for account in (1, 2):
        ok(p(c.VerifyAccount(time_ms=0, account=account)))
        ok(p(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10)))
    ok(p(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Sell", order_qty=10, price=ETH)))
    ok(p(c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=10, price=ETH)))
    first = ok(p(c.PlaceOrder(time_ms=1_000, account=1, symbol="ETHUSD", side="Sell", order_qty=10, price=ETH + 5_000,
                              exec_inst="ReduceOnly"))).order_id
    ok(p(c.CancelAllAfter(time_ms=1_000, account=1, timeout_ms=60_000)))
    refused = p(c.CancelOrder(time_ms=61_000, account=2, order_id=999))
    assert [type(e) for e in refused] == [Execution, Rejected]  # the switch fired, and stays fired
    assert (first in engine.live_orders, engine.time_ms) == (False, 61_000)
    second = ok(p(c.PlaceOrder(time_ms=61_000, account=1, symbol="ETHUSD", side="Sell", order_qty=10,
                               price=ETH + 6_000, exec_inst="ReduceOnly"))).order_id
    ok(p(c.PlaceOrder(time_ms=61_000, account=2, symbol="ETHUSD", side="Buy", order_qty=3, price=ETH - 1_000)))
    events = p(c.PlaceOrder(time_ms=61_000, account=1, symbol="ETHUSD", side="Sell", order_qty=3, price=ETH - 1_000))
    assert isinstance(events[-1], Accepted)
    assert engine.positions(1)["ETHUSD"].qty == 7
    replaced = [(e.order_id, e.leaves_qty) for e in events if isinstance(e, Execution) and e.exec_type == "Replaced"]
    assert replaced == [(second, 7)]
    assert engine.live_orders[second].leaves_qty == 7
    assert engine.registry.reduce_only_index() == {(1, "ETHUSD"): {second: engine.live_orders[second]}}
