"""A command's trade prints are judged in that command only (session 15, helper "mut15").

Session 14 (red team 7) judges a last-price order at every trade print since its contract's triggers last ran
(``Market.prints``), and every command ends with none (``Engine.process`` clears them: they are not state).  Dropping
that clear passed every test.  Prints can outlive the run that should consume them: a run that fires the pool's last
order stops when the pool is empty, and the trades of that fire leave their prints.  Kept, the next command's run
judged a newly placed order at those old prices: here a buy stop placed above the last price, below a price the
previous command printed on its way down, fired at once.  ORD-015: an order is due at the prices printed while it
waits, not at prices printed before it was placed.
"""

from __future__ import annotations

from typing import Any

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core import orders as o
from perpspec.engine.core.entry import OrderEntry
from perpspec.engine.core.events import Accepted, Event, Execution, InternalError, Rejected
from perpspec.engine.core.exchange import Engine
from tests.test_trigger_index import COMPILED

S = "XBTUSD"
PRICE = 5_000_000
TICK = 50


def ok(engine: Engine, command: object) -> list[Event]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), (command, events[-1])
    return events


def test_ord_015_a_stop_placed_after_a_sweep_is_not_judged_at_the_sweeps_old_prints() -> None:
    engine = Engine()
    for account in (1, 2, 3, 4):
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    ok(engine, c.PriceUpdate(time_ms=0, symbol=S, mark_price=PRICE, index_price=PRICE))
    # account 1's last-price sell stop; when it fires it sells 200 into two bids: prints 49,990 then 49,980
    ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol=S, side="Sell", order_qty=200, ord_type="Stop",
                            stop_px=PRICE, exec_inst="LastPrice"))
    ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol=S, side="Buy", order_qty=100, price=PRICE - 20 * TICK))
    ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol=S, side="Buy", order_qty=100, price=PRICE - 40 * TICK))
    ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol=S, side="Buy", order_qty=100, price=PRICE))
    events = ok(engine, c.PlaceOrder(time_ms=0, account=3, symbol=S, side="Sell", order_qty=100))  # last: 50,000
    fired = [e.last_px for e in events if isinstance(e, Execution) and e.exec_type == o.EXEC_TRADE and e.account == 1]
    assert fired == [PRICE - 20 * TICK, PRICE - 40 * TICK]
    assert engine.market.last_prices[S] == PRICE - 40 * TICK
    assert not engine.triggers.conditional[S]
    assert engine.market.prints == {}  # none outlives the command
    # a buy stop between the two prices: due at 49,990 (printed before it existed), not at the last price 49,980
    events = ok(engine, c.PlaceOrder(time_ms=0, account=4, symbol=S, side="Buy", order_qty=100, ord_type="Stop",
                                     stop_px=PRICE - 30 * TICK, exec_inst="LastPrice"))
    stop = events[-1].order_id  # type: ignore[attr-defined]
    assert not any(isinstance(e, Execution) and e.order_id == stop and e.exec_type == o.EXEC_TRIGGERED for e in events)
    assert stop in engine.triggers.conditional[S]


def test_ord_015_a_failed_commands_prints_are_not_judged_after_its_rollback(monkeypatch: pytest.MonkeyPatch) -> None:
    """A command that fails inside (an internal error after its sweep printed 49,990 and 49,980) is rolled back: its
    trades never happened, so neither did its prints (``Engine.process`` drops them with the state; dropping that
    passed every test).  A sell stop at 49,985 placed next, with the last price back at 50,000, is not due."""
    if COMPILED:
        pytest.skip("patches OrderEntry.after_trading (a compiled class cannot be patched)")
    engine = Engine()
    for account in (1, 2, 3, 4):
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    ok(engine, c.PriceUpdate(time_ms=0, symbol=S, mark_price=PRICE, index_price=PRICE))
    ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol=S, side="Buy", order_qty=100, price=PRICE - 20 * TICK))
    ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol=S, side="Buy", order_qty=100, price=PRICE - 40 * TICK))
    ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol=S, side="Buy", order_qty=100, price=PRICE))
    ok(engine, c.PlaceOrder(time_ms=0, account=3, symbol=S, side="Sell", order_qty=100))  # last: 50,000
    engine = Engine.from_snapshot(engine.snapshot())  # its rollback checkpoint: now (nothing to replay)
    failing = c.PlaceOrder(time_ms=0, account=3, symbol=S, side="Sell", order_qty=200)
    after_trading = OrderEntry.after_trading

    def planted(self: OrderEntry, inst: Any) -> None:
        if engine.market.prints:
            raise RuntimeError("planted")
        after_trading(self, inst)

    with monkeypatch.context() as patch:
        patch.setattr(OrderEntry, "after_trading", planted)
        events = engine.process(failing)
    assert isinstance(events[0], InternalError)
    assert isinstance(events[-1], Rejected)
    assert engine.market.last_prices[S] == PRICE  # rolled back
    events = ok(engine, c.PlaceOrder(time_ms=0, account=4, symbol=S, side="Sell", order_qty=100, ord_type="Stop",
                                     stop_px=PRICE - 30 * TICK, exec_inst="LastPrice"))
    stop = events[-1].order_id  # type: ignore[attr-defined]
    assert not any(isinstance(e, Execution) and e.order_id == stop and e.exec_type == o.EXEC_TRIGGERED for e in events)
    assert stop in engine.triggers.conditional[S]
