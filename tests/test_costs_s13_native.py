"""The compiled engine (``perpspec build-native``) agrees with the interpreted one on session 13's cost fixes.

A seeded stream churns one price level (place/cancel behind a resting order, so ``Level.compact`` runs, also
between snapshots), rests and fires ReduceOnly limit and stop orders (the ReduceOnly index), sends market and
FillOrKill orders into long levels (market reach, the dry run), fat-finger limit orders, dead man's switches firing
under refused commands (since session 15 their cancels stay, compacted as any cancel).  The interpreted engine
journals it; a child process running the compiled engine reruns the journal, snapshots included: every event, the
state hash and the journal and snapshot bytes must agree (tests/test_native.py's ``both_engines``).  Skipped, with
the reason, when the compiled engine is not built or is stale.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.book import Level
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine
from perpspec.engine.durability.recovery import list_snapshots
from tests.test_native import both_engines, needs_build
from tests.test_trigger_index import interpreted_only

SYMBOL = "XBTUSD"
PRICE = 5_000_000
TICK = 500


def costs_stream(seed: int, length: int) -> list[Any]:
    """The seeded commands; an interpreted engine runs them as they are drawn, so a churn's cancel names the order
    its placement got (the ids of accepted orders only)."""
    rng = random.Random(seed)
    engine = Engine()
    out: list[Any] = [c.PriceUpdate(time_ms=0, symbol=SYMBOL, mark_price=PRICE, index_price=PRICE)]
    for account in range(1, 7):
        out.append(c.VerifyAccount(time_ms=0, account=account))
        out.append(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    out.append(c.PlaceOrder(time_ms=0, account=1, symbol=SYMBOL, side="Sell", order_qty=100_000, price=PRICE + TICK))
    out.append(c.PlaceOrder(time_ms=0, account=2, symbol=SYMBOL, side="Buy", order_qty=100_000, price=PRICE - TICK))
    for command in out:
        engine.process(command)
    time_ms = 0
    for _ in range(length):
        account = rng.randint(1, 6)
        side = rng.choice(("Buy", "Sell"))
        near = PRICE + (1 if side == "Sell" else -1) * rng.randint(1, 4) * TICK
        roll = rng.random()
        drawn: list[Any] = []
        if roll < 0.35:  # churn at the best levels: most placements are cancelled at once
            drawn.append(c.PlaceOrder(time_ms=time_ms, account=account, symbol=SYMBOL, side=side,
                                      order_qty=100 * rng.randint(1, 5), price=near,
                                      display_qty=rng.choice((None, None, 0, 100))))
        elif roll < 0.45:
            live = sorted(engine.ledger.accounts[account].orders)
            drawn.append(c.CancelOrder(time_ms=time_ms, account=account, order_id=rng.choice(live) if live else 1))
        elif roll < 0.62:
            market = rng.random() < 0.5
            drawn.append(c.PlaceOrder(time_ms=time_ms, account=account, symbol=SYMBOL, side=side,
                                      order_qty=100 * rng.randint(1, 30), ord_type="Market" if market else "Limit",
                                      price=None if market else PRICE + rng.randint(-12, 12) * TICK,
                                      time_in_force=rng.choice((None, "FillOrKill", "ImmediateOrCancel")),
                                      exec_inst=rng.choice(("", "ReduceOnly"))))
        elif roll < 0.72:
            drawn.append(c.PlaceOrder(time_ms=time_ms, account=account, symbol=SYMBOL, side=side, order_qty=100,
                                      stop_px=PRICE + rng.randint(-6, 6) * TICK,
                                      exec_inst=rng.choice(("ReduceOnly", "ReduceOnly", ""))))
        elif roll < 0.8:
            drawn.append(c.CancelAllAfter(time_ms=time_ms, account=account, timeout_ms=rng.choice((0, 1, 40))))
        elif roll < 0.9:
            mark = PRICE + rng.randint(-8, 8) * TICK
            drawn.append(c.PriceUpdate(time_ms=time_ms, symbol=SYMBOL, mark_price=mark, index_price=mark))
        else:
            drawn.append(c.Withdraw(time_ms=time_ms, account=account, asset="XBt", amount=10**15))  # refused
        for command in drawn:
            events = engine.process(command)
            out.append(command)
            placed = events[-1]
            if roll < 0.35 and isinstance(placed, Accepted) and placed.order_id in engine.registry.live_orders \
                    and rng.random() < 0.9:
                cancel = c.CancelOrder(time_ms=time_ms, account=account, order_id=placed.order_id)
                engine.process(cancel)
                out.append(cancel)
        time_ms += rng.choice((0, 0, 1, 30, 60))
    return out


@needs_build
@interpreted_only
def test_the_compiled_engine_agrees_on_churn_reduce_only_and_reach(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = costs_stream(seed=3, length=1_500)
    compactions: list[int] = []
    compact = Level.compact

    def counted(level: Level) -> None:
        compactions.append(level.price)
        compact(level)

    monkeypatch.setattr(Level, "compact", counted)
    result = both_engines(tmp_path, stream)
    assert len(compactions) > 10  # the interpreted run compacted levels (the compiled one must do the same)
    names = [type(event).__name__ for event in result["events"]]
    assert names.count("Execution") > 500
    assert (result["child"]["events"], result["child"]["event_hash"]) == (len(result["events"]), result["event_hash"])
    assert result["child"]["state_hash"] == result["state_hash"]
    interpreted, compiled = result["interpreted"], result["compiled"]
    assert (compiled / "journal.log").read_bytes() == (interpreted / "journal.log").read_bytes()
    snapshots = [{Path(path).name: Path(path).read_bytes() for _, path in list_snapshots(str(store))}
                 for store in (interpreted, compiled)]
    assert len(snapshots[0]) >= 2  # the store keeps its latest snapshots
    assert snapshots[0] == snapshots[1]
