"""The trigger index (engine/core/triggers.py ``StopIndex``) never changes which conditional orders fire.

:meth:`Triggers.run` reads the due orders from an index of the pool by stop
price, brought in line with the pool at each run (session 12; before it, a
``Quiet`` shortcut skipped a pass that would judge the same orders on the same
prices).  These tests run the same commands with the index and with the rule
as it read before (tests/test_trigger_index.py ``reference_run``: every order
judged on every pass) and compare every event and the state hash, with stop
prices amended in place (the change the pool's keys do not show), stops on the
mark, the last and the index price, and trailing stops.
"""

from __future__ import annotations

from random import Random
from typing import Any

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Execution
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.triggers import Triggers
from perpspec.rules.instrument_file import load_instrument
from tests.streams import MAKER, SYMBOL, TICK, TRADERS, command_stream
from tests.test_trigger_index import interpreted_only, reference_run


def with_stop_amends(seed: int, length: int) -> list[Any]:
    """The durability stream with stops on every price, trailing stops and stopPx amendments mixed in.

    The amendments move live untriggered stops (read from an engine that runs the
    stream as it is built) to around the mark, so some become due in place.
    """
    rng = Random(seed)
    engine = Engine({SYMBOL: load_instrument(SYMBOL)})
    out: list[Any] = []
    mark = 5_000_000

    def send(command: Any) -> None:
        out.append(command)
        engine.process(command)

    for command in command_stream(seed, length):
        send(command)
        if isinstance(command, c.PriceUpdate) and command.mark_price is not None:
            mark = command.mark_price
        roll = rng.random()
        time_ms = command.time_ms
        trader = rng.choice(TRADERS)
        pool = sorted(engine.triggers.conditional[SYMBOL].values(), key=lambda order: order.order_id)
        if roll < 0.15 and pool:
            order = rng.choice(pool)
            send(c.AmendOrder(time_ms=time_ms, account=order.account, order_id=order.order_id,
                              stop_px=mark + rng.randint(-30, 30) * TICK))
        elif roll < 0.18:
            side = rng.choice(("Buy", "Sell"))
            send(c.PlaceOrder(time_ms=time_ms, account=trader, symbol=SYMBOL, side=side, order_qty=100,
                              ord_type="Stop", peg_price_type="TrailingStopPeg",
                              peg_offset_value=(1 if side == "Buy" else -1) * rng.randint(5, 40) * TICK))
        elif roll < 0.22:
            send(c.PlaceOrder(time_ms=time_ms, account=MAKER, symbol=SYMBOL, side="Sell", order_qty=100,
                              stop_px=mark - rng.randint(0, 3) * TICK, exec_inst="LastPrice"))
    return out


def run(commands: list[Any]) -> tuple[list[Any], str]:
    engine = Engine({SYMBOL: load_instrument(SYMBOL)})
    events: list[Any] = []
    for command in commands:
        events.extend(engine.process(command))
    return events, engine.state_hash()


@interpreted_only
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_same_events_and_state_with_the_index_and_the_reference_rule(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    commands = with_stop_amends(seed, 1_500)
    fast_events, fast_hash = run(commands)
    monkeypatch.setattr(Triggers, "run", reference_run)
    slow_events, slow_hash = run(commands)
    assert fast_events == slow_events
    assert fast_hash == slow_hash
    def count(exec_type: str) -> int:
        return sum(1 for e in fast_events if isinstance(e, Execution) and e.exec_type == exec_type)

    assert count("TriggeredOrActivatedBySystem") > 20  # the comparison covers orders that fired...
    assert count("Replaced") > 20  # ... and stops amended in place


def test_a_stop_amended_through_the_price_fires_at_once() -> None:
    engine = Engine({SYMBOL: load_instrument(SYMBOL)})
    for command in (
        c.VerifyAccount(time_ms=0, account=1),
        c.Deposit(time_ms=0, account=1, asset="XBt", amount=10**9),
        c.VerifyAccount(time_ms=0, account=2),
        c.Deposit(time_ms=0, account=2, asset="XBt", amount=10**9),
        c.PriceUpdate(time_ms=0, symbol=SYMBOL, mark_price=5_000_000, index_price=5_000_000),
        c.PlaceOrder(time_ms=0, account=2, symbol=SYMBOL, side="Buy", order_qty=1_000, price=4_990_000),
    ):
        engine.process(command)
    engine.process(c.PlaceOrder(time_ms=1, account=1, symbol=SYMBOL, side="Sell", order_qty=100, stop_px=4_900_000))
    engine.process(c.PriceUpdate(time_ms=2, symbol=SYMBOL, mark_price=5_000_000))  # a pass with nothing due
    assert engine.triggers.by_stop[SYMBOL].synced  # the index holds the stop at its old price
    events = engine.process(c.AmendOrder(time_ms=3, account=1, order_id=2, stop_px=5_000_000))
    assert any(isinstance(e, Execution) and e.exec_type == "TriggeredOrActivatedBySystem" for e in events)
    assert not engine.triggers.conditional[SYMBOL]
