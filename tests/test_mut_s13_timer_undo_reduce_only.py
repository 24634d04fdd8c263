"""A ReduceOnly order put back by the timer undo is counted again, once (session 13, helper "mutants").

Found by ``python -m tests.mutation engine/core/registry.py`` (``OrderRegistry.undo_timers``): a rejected command
whose time fired a dead man's switch has the switch's cancels undone (registry.TimerUndo), and an order that comes
back must come back into the derived count of live ReduceOnly orders per account, which ``fix_reduce_only`` reads
to skip accounts that have none.  No test put a ReduceOnly order back: counted as -1 instead of 1, a second
ReduceOnly order brought the count to 0 and neither order was cut to the position when it shrank (a ReduceOnly
order left larger than the position it may reduce: ORD-011).

Account 1 is long 10 ETHUSD and rests a ReduceOnly sell of 10; its switch (60 s, armed at 1 s) is due when a
command of account 2 is refused at 61 s (the clock goes back to 1 s with it); account 1 disarms it at 2 s, places a second ReduceOnly sell of 10 and sells 3 of its
position: both orders are cut to the 7 left.
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


def test_a_reduce_only_order_back_from_a_refused_commands_switch_is_still_cut_to_the_position() -> None:
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
    assert [type(e) for e in refused] == [Rejected]  # the switch fired and was undone with the refusal
    assert first in engine.live_orders
    # the refusal put the clock back at 1 s: the switch is disarmed before its deadline, so nothing fires later
    ok(p(c.CancelAllAfter(time_ms=2_000, account=1, timeout_ms=0)))
    second = ok(p(c.PlaceOrder(time_ms=2_000, account=1, symbol="ETHUSD", side="Sell", order_qty=10, price=ETH + 6_000,
                               exec_inst="ReduceOnly"))).order_id
    ok(p(c.PlaceOrder(time_ms=2_000, account=2, symbol="ETHUSD", side="Buy", order_qty=3, price=ETH - 1_000)))
    events = p(c.PlaceOrder(time_ms=2_000, account=1, symbol="ETHUSD", side="Sell", order_qty=3, price=ETH - 1_000))
    assert isinstance(events[-1], Accepted)
    assert engine.positions(1)["ETHUSD"].qty == 7
    replaced = [(e.order_id, e.leaves_qty) for e in events if isinstance(e, Execution) and e.exec_type == "Replaced"]
    assert replaced == [(first, 7), (second, 7)]
    assert [engine.live_orders[o].leaves_qty for o in (first, second)] == [7, 7]
