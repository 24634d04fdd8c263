"""INV-DETERMINISM for the engine: the same commands give the same events and state hash in any process.

A seeded stream (orders of every kind, cancels, amends, price moves sharp
enough to liquidate, funding, dead man's switches) runs here and in fresh
interpreters with other ``PYTHONHASHSEED`` values; the event-stream hash and
the state hash must agree.  Also: a snapshot restored in-process continues
to the same hash, and a rollback after an internal error leaves the same
state as never having sent the command.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from random import Random

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import InternalError, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument

ROOT = Path(__file__).resolve().parent.parent
SYMBOLS = ("XBTUSD", "ETHUSD")


def stream(seed: int, length: int) -> list[c.Command]:
    """A reproducible command stream exercising the whole engine."""
    rng = Random(seed)
    marks = {"XBTUSD": 5_000_000, "ETHUSD": 300_000}
    ticks = {"XBTUSD": 50, "ETHUSD": 5}
    lots = {"XBTUSD": 100, "ETHUSD": 1}
    out: list[c.Command] = []
    t = 0
    for symbol, mark in marks.items():
        out.append(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=mark, index_price=mark))
    for account in range(1, 7):
        out.append(c.VerifyAccount(time_ms=0, account=account))
        out.append(c.Deposit(time_ms=0, account=account, asset="XBt", amount=rng.randint(5, 500) * 1_000_000))
    out.append(c.DepositInsurance(time_ms=0, asset="XBt", amount=1_000_000))
    for _ in range(length):
        t += rng.choice((0, 0, 1, 1000))
        symbol = rng.choice(SYMBOLS)
        account = rng.randint(1, 6)
        side = rng.choice(("Buy", "Sell"))
        price = (marks[symbol] // ticks[symbol] + rng.randint(-30, 30)) * ticks[symbol]
        qty = rng.randint(1, 80) * lots[symbol]
        roll = rng.random()
        if roll < 0.45:
            out.append(c.PlaceOrder(time_ms=t, account=account, symbol=symbol, side=side, order_qty=qty, price=price,
                                    time_in_force=rng.choice(("GoodTillCancel", "ImmediateOrCancel", "Day")),
                                    exec_inst=rng.choice(("", "", "ReduceOnly", "ParticipateDoNotInitiate")),
                                    display_qty=rng.choice((None, None, 0))))
        elif roll < 0.55:
            out.append(c.PlaceOrder(time_ms=t, account=account, symbol=symbol, side=side, order_qty=qty * 20,
                                    ord_type="Market"))
        elif roll < 0.62:
            out.append(c.PlaceOrder(time_ms=t, account=account, symbol=symbol, side=side, order_qty=qty,
                                    ord_type="Stop", stop_px=price, exec_inst=rng.choice(("", "LastPrice"))))
        elif roll < 0.72:
            out.append(c.CancelOrder(time_ms=t, account=account, order_id=rng.randint(1, 400)))
        elif roll < 0.78:
            out.append(c.AmendOrder(time_ms=t, account=account, order_id=rng.randint(1, 400), leaves_qty=qty,
                                    price=price))
        elif roll < 0.9:
            marks[symbol] = max(ticks[symbol], marks[symbol] + marks[symbol] * rng.randint(-120, 120) // 1000)
            marks[symbol] -= marks[symbol] % ticks[symbol]
            out.append(c.PriceUpdate(time_ms=t, symbol=symbol, mark_price=marks[symbol], index_price=marks[symbol]))
        elif roll < 0.94:
            out.append(c.FundingTick(time_ms=t, symbol=symbol, rate_e8=rng.randint(-375_000, 375_000)))
        elif roll < 0.97:
            out.append(c.CancelAllAfter(time_ms=t, account=account, timeout_ms=rng.choice((0, 5_000))))
        else:
            out.append(c.SetLeverage(time_ms=t, account=account, symbol=symbol,
                                     leverage_hundredths=rng.choice((0, 1_000, 2_500))))
    return out


def run(seed: int, length: int) -> tuple[str, str, int]:
    """(events hash, state hash, liquidations) of the stream on a fresh engine."""
    engine = Engine({s: load_instrument(s) for s in SYMBOLS})
    digest = hashlib.sha256()
    for command in stream(seed, length):
        for item in engine.process(command):
            digest.update(repr(item).encode())
    return digest.hexdigest(), engine.state_hash(), engine.stats.get("liquidations", 0)


def run_in_fresh_process(seed: int, length: int, hash_seed: str) -> tuple[str, str, int]:
    env = dict(os.environ, PYTHONHASHSEED=hash_seed, PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, "-m", "tests.test_engine_determinism", str(seed), str(length)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )
    events_hash, state_hash, liquidations = result.stdout.split()
    return events_hash, state_hash, int(liquidations)


def test_same_stream_same_events_and_hash_in_processes_with_other_hash_seeds() -> None:
    here = run(11, 700)
    assert here[2] > 0  # the stream reaches the waterfall
    assert run_in_fresh_process(11, 700, "1") == here
    assert run_in_fresh_process(11, 700, "4242") == here


def test_snapshot_restored_continues_to_the_same_hash() -> None:
    commands = stream(5, 400)
    straight = Engine({s: load_instrument(s) for s in SYMBOLS})
    for command in commands:
        straight.process(command)
    first = Engine({s: load_instrument(s) for s in SYMBOLS})
    for command in commands[:200]:
        first.process(command)
    second = Engine.from_snapshot(first.snapshot())
    for command in commands[200:]:
        second.process(command)
    assert second.state_hash() == straight.state_hash()


def test_internal_error_is_a_reject_and_leaves_the_state_as_before() -> None:
    commands = stream(3, 150)
    engine = Engine({s: load_instrument(s) for s in SYMBOLS})
    for command in commands:
        engine.process(command)
    before = engine.canonical()

    def broken(self: Engine, command: object) -> None:
        self.accounts[1].wallets["XBt"] = -1  # a half-applied change…
        raise ZeroDivisionError("planted bug")  # …then a crash

    from perpspec.engine.core import exchange

    original = exchange._HANDLERS[c.TimeTick]
    exchange._HANDLERS[c.TimeTick] = broken  # type: ignore[assignment]
    try:
        events = engine.process(c.TimeTick(time_ms=engine.time_ms))
    finally:
        exchange._HANDLERS[c.TimeTick] = original
    assert [type(e) for e in events] == [InternalError, Rejected]
    after = list(engine.canonical())
    expected = list(before)
    # only the event counter moved (two events were emitted)
    assert after[14] == (expected[14][0], expected[14][1], expected[14][2] + 2, expected[14][3])  # type: ignore[index]
    assert after[:14] + after[15:] == expected[:14] + expected[15:]


if __name__ == "__main__":
    print(*run(int(sys.argv[1]), int(sys.argv[2])))
