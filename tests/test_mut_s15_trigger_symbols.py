"""The simulator's choice of contracts for INV-TRIGGERS-DUE-FIRED (``IncrementalChecks.trigger_symbols``, session 14)
(session 15, helper "mut15": its mutants all passed every test, none of which called it directly).

After every command the simulator checks INV-TRIGGERS-DUE-FIRED on the contracts whose untriggered orders the
command can have made due: those holding such orders whose mark, last or index price differs from the one at their
last check (a price absent counts as 0: none yet), and those of a conditional order placed or amended.  A contract
left out is one whose violation the run never reports, so the choice is pinned here: a price that appears for the
first time at one price unit is a change (``get(symbol, 1)`` for the last or index price passed), and a contract
with unchanged prices is not listed again (``kept.get(symbol) == now`` passed).
"""

from __future__ import annotations

import attrs

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event
from perpspec.engine.core.exchange import Engine
from perpspec.engine.simulation.checks import IncrementalChecks
from perpspec.rules.instrument_file import load_instrument

ETH = "ETHUSD"


def ok(engine: Engine, command: object) -> list[Event]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), (command, events[-1])
    return events


def test_inv_triggers_due_fired_is_checked_where_a_price_or_a_conditional_order_moved() -> None:
    inst = attrs.evolve(load_instrument(ETH), tick_size=1)  # prices of one price unit
    engine = Engine({ETH: inst})
    for account in (1, 2):
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    ok(engine, c.PriceUpdate(time_ms=0, symbol=ETH, mark_price=1))  # a mark, no index price yet, no trade
    checks = IncrementalChecks(engine)
    assert checks.trigger_symbols([]) == []  # no untriggered order: nothing to check
    events = ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol=ETH, side="Buy", ord_type="Stop", order_qty=1,
                                     stop_px=3, exec_inst="IndexPrice"))
    assert checks.trigger_symbols(events) == [ETH]  # a stop placed (and prices never seen)
    assert checks.trigger_symbols([]) == []  # nothing moved since
    ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol=ETH, side="Sell", order_qty=1, price=1))
    events = ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol=ETH, side="Buy", order_qty=1, price=1))
    assert engine.market.last_prices[ETH] == 1
    assert checks.trigger_symbols([]) == [ETH]  # the last price: none -> 1
    assert checks.trigger_symbols([]) == []
    ok(engine, c.PriceUpdate(time_ms=0, symbol=ETH, mark_price=1, index_price=1))
    assert checks.trigger_symbols([]) == [ETH]  # the index price: none -> 1
    ok(engine, c.PriceUpdate(time_ms=0, symbol=ETH, mark_price=1, index_price=1))
    assert checks.trigger_symbols([]) == []  # the same prices again
    ok(engine, c.PriceUpdate(time_ms=0, symbol=ETH, mark_price=2, index_price=1))
    assert checks.trigger_symbols([]) == [ETH]  # the mark
    assert checks.trigger_symbols([]) == []
    # a conditional order placed or amended with no price moving: its contract is checked (its stopPx is new)
    events = ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol=ETH, side="Sell", ord_type="Stop", order_qty=1,
                                     stop_px=1))
    assert checks.trigger_symbols(events) == [ETH]
    stop = events[-1].order_id  # type: ignore[attr-defined]
    events = ok(engine, c.AmendOrder(time_ms=0, account=1, order_id=stop, stop_px=2))  # due at the mark 2: it fires
    assert checks.trigger_symbols(events) == [ETH]
    limit = ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol=ETH, side="Buy", order_qty=1, price=1))
    assert checks.trigger_symbols(limit) == []  # a plain order: no stopPx
