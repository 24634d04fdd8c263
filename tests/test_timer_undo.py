"""The timers a command's time fires are a TimeTick at that time, whatever the command's fate (session 15).

A command's time fires the timers due by then (Day orders of past days expire, dead man's switches cancel their
accounts' orders) before its handler runs.  Session 12 undid them, from what they recorded (``registry.TimerUndo``),
when the handler then rejected the command, and twinned that undo against a dump of the whole state; this file
keeps its name and its streams.  Session 15 commits them instead (ORD-023, ORD-050; redteam10_1: the undo made every
rejected command after midnight cost every Day order on the exchange, again and again): the reference is now a
twin that sees a ``TimeTick`` at the command's time whenever timers are due, then the command.  Both run the same
streams (switches re-armed to fire at the next command, resting, hidden, iceberg, stop, ReduceOnly, Day and spot
orders, rejected commands of every kind at due times, price moves that liquidate) and must give the same events
after every command (the tick's own ``Accepted`` aside), the same state hash, the same state in every field, and
the same events ever after, also when restored from either one's snapshot.

Rules: ORD-023 (Day), ORD-050 (the dead man's switch; BitMEX ``POST /order/cancelAllAfter``).
"""

from __future__ import annotations

import enum
import random
from collections import deque
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perpspec.engine.core import commands as c
from perpspec.engine.core import exchange
from perpspec.engine.core.accounts import DAY_MS
from perpspec.engine.core.events import Accepted, Execution, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.records import slot_names
from perpspec.engine.core.state_codec import decode_state
from perpspec.rules.instrument_file import load_instrument
from tests.test_attack11_switches import counted_dumps

COMPILED = not exchange.__file__.endswith(".py")  # a compiled engine's own calls cannot be counted from here
SPOT_FILE = Path(__file__).resolve().parent.parent / "specs" / "instruments" / "spot" / "XBT_USDT.toml"
MARKS = {"XBTUSD": 5_000_000, "ETHUSD": 300_000, "XBT_USDT": 5_000_000}
ACCOUNTS = (1, 2, 3, 4, 5, 6)
MAKER = 9
# derived caches a rejected handler may have filled (for the state it saw, or the real one): not state
CACHES = frozenset({"resting_cache", "_pm", "_pm_key", "fee_cache"})
TIMER_TEXTS = ("Canceled: Day order expired", "Canceled: Cancel-all-after")


def new_engine() -> Engine:
    instruments = {symbol: load_instrument(symbol) for symbol in ("XBTUSD", "ETHUSD")}
    instruments["XBT_USDT"] = load_instrument(str(SPOT_FILE))
    return Engine(instruments, max_liquidations_per_update=8)


def setup(rng: random.Random) -> list[Any]:
    out: list[Any] = [c.DepositInsurance(time_ms=0, asset="XBt", amount=10**8)]
    for account in (*ACCOUNTS, MAKER):
        out.append(c.VerifyAccount(time_ms=0, account=account))
        rich = account == MAKER
        out.append(c.Deposit(time_ms=0, account=account, asset="XBt",
                             amount=10**11 if rich else rng.choice((3 * 10**6, 10**7, 10**8))))
        out.append(c.Deposit(time_ms=0, account=account, asset="USDt", amount=10**12 if rich else 10**10))
    for symbol, mark in MARKS.items():
        out.append(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=mark, index_price=mark))
    return out


def timer_stream(seed: int, length: int) -> list[Any]:
    """A stream where switches with orders are due at most commands and many commands are refused."""
    rng = random.Random(seed)
    out = setup(rng)
    marks = dict(MARKS)
    ticks = {"XBTUSD": 50, "ETHUSD": 5, "XBT_USDT": 50}
    lots = {"XBTUSD": 100, "ETHUSD": 1, "XBT_USDT": 100}
    time_ms = 0
    while len(out) < length:
        time_ms += rng.choice((0, 0, 1, 1, 2, 3, 7, 40)) if rng.random() < 0.98 else rng.randint(DAY_MS // 3, DAY_MS)
        account = rng.choice((*ACCOUNTS, MAKER))
        symbol = rng.choice(("XBTUSD", "XBTUSD", "ETHUSD", "XBT_USDT"))
        side = rng.choice(("Buy", "Sell"))
        tick, lot = ticks[symbol], lots[symbol]
        offset = rng.randint(-6, 30) * tick
        price = marks[symbol] - offset if side == "Buy" else marks[symbol] + offset
        qty = rng.randint(1, 40) * lot
        roll = rng.random()
        if roll < 0.22:  # re-arm: due at the next command with a time step
            out.append(c.CancelAllAfter(time_ms=time_ms, account=account, timeout_ms=rng.choice((0, 1, 1, 2, 5, 30))))
        elif roll < 0.50:
            extra: dict[str, Any] = {}
            pick = rng.random()
            if pick < 0.15:
                extra["display_qty"] = 0  # hidden
            elif pick < 0.30:
                extra["display_qty"] = lot  # iceberg
            elif pick < 0.45:
                extra["time_in_force"] = "Day"
            elif pick < 0.55 and symbol != "XBT_USDT":
                extra["exec_inst"] = "ReduceOnly"
            elif pick < 0.62:
                extra["exec_inst"] = "ParticipateDoNotInitiate"
            if rng.random() < 0.3:
                extra["cl_ord_id"] = f"c{rng.randint(0, 6)}"  # duplicates: refused
            out.append(c.PlaceOrder(time_ms=time_ms, account=account, symbol=symbol, side=side, order_qty=qty,
                                    price=price, **extra))
        elif roll < 0.57 and symbol != "XBT_USDT":
            stop = marks[symbol] + rng.randint(2, 40) * tick * (1 if side == "Buy" else -1)
            out.append(c.PlaceOrder(time_ms=time_ms, account=account, symbol=symbol, side=side, order_qty=qty,
                                    stop_px=stop, exec_inst=rng.choice(("", "ReduceOnly", "LastPrice"))))
        elif roll < 0.67:  # refused: unknown order, or sometimes one the switch just cancelled
            out.append(c.CancelOrder(time_ms=time_ms, account=account, order_id=rng.randint(1, 400)))
        elif roll < 0.72:
            out.append(c.AmendOrder(time_ms=time_ms, account=account, order_id=rng.randint(1, 400),
                                    leaves_qty=rng.randint(1, 20) * lot))
        elif roll < 0.78:  # refused mostly: too much money, a bad symbol, a malformed field
            out.append(rng.choice((
                c.Withdraw(time_ms=time_ms, account=account, asset="XBt", amount=10**15),
                c.PlaceOrder(time_ms=time_ms, account=account, symbol="NOPE", side=side, order_qty=qty, price=price),
                c.PlaceOrder(time_ms=time_ms, account=account, symbol=symbol, side=side, order_qty=qty * 10**6,
                             price=price),
                c.PlaceOrder(time_ms=time_ms, account=account, symbol=symbol, side=side, order_qty=qty * 500,
                             price=price),  # more than the account's margin: refused after the switch's cancels
                c.PlaceOrder(time_ms=time_ms, account=account, symbol=symbol, side=side, order_qty=qty * 500),
                c.CancelOrder(time_ms=time_ms, account=77, order_id=1),
                c.SetLeverage(time_ms=time_ms, account=account, symbol="XBTUSD", leverage_hundredths=-5),
            )))
        elif roll < 0.86:  # market orders, up to the thin accounts' leverage: positions the price moves liquidate
            out.append(c.PlaceOrder(time_ms=time_ms, account=account, symbol=symbol, side=side,
                                    order_qty=qty * rng.choice((1, 1, 10, 40))))
        elif roll < 0.92 and symbol != "XBT_USDT":
            step = rng.randint(-30, 30) if rng.random() < 0.7 else rng.randint(-2_000, 2_000) * ticks[symbol] // 5
            marks[symbol] = max(20 * tick, marks[symbol] + step * tick)
            out.append(c.PriceUpdate(time_ms=time_ms, symbol=symbol, mark_price=marks[symbol],
                                     index_price=marks[symbol]))
        elif roll < 0.95:
            out.append(c.TimeTick(time_ms=time_ms))
        elif roll < 0.97:
            out.append(c.CancelAll(time_ms=time_ms, account=account, symbol=rng.choice((None, symbol))))
        else:
            out.append(c.TimeTick(time_ms=time_ms - 5))  # TimeWentBackwards (or not, after a standstill)
    return out[:length]


def plain(value: Any, seen: dict[int, int]) -> Any:
    """A value of a decoded state with dicts in key order and shared objects as references: equal states give
    equal values whatever the insertion order of their dicts."""
    if value is None or isinstance(value, (bool, int, str, bytes)):
        return value
    if isinstance(value, dict):
        keyed = sorted((repr(plain(key, {})), key) for key in value)  # visited in key order: the same references
        return ("dict", [(shown, plain(value[key], seen)) for shown, key in keyed])
    if isinstance(value, (list, tuple, deque)):
        return (type(value).__name__, [plain(item, seen) for item in value])
    if id(value) in seen:
        return ("ref", seen[id(value)])
    seen[id(value)] = len(seen)
    if isinstance(value, enum.Enum):
        return ("enum", repr(value))
    names = slot_names(type(value)) or tuple(sorted(vars(value)))
    return (type(value).__name__, [(name, plain(getattr(value, name, None), seen)) for name in names
                                   if name not in CACHES])


def state_of(engine: Engine) -> Any:
    state = decode_state(engine.snapshot())
    return [(name, plain(state[name], {})) for name in sorted(state)]


def ticked_process(engine: Engine, command: Any) -> list[Any]:
    """``command`` on the reference engine: first a TimeTick at its time if timers are due then, numbered as if
    the tick's own ``Accepted`` (or ``Rejected``) were not there; the tick's other events, then the command's."""
    time_ms = getattr(command, "time_ms", None)
    ticked: list[Any] = []
    if type(time_ms) is int and engine.registry.timers_due(time_ms):
        ticked = engine.process(c.TimeTick(time_ms=time_ms))[:-1]
        engine.seq -= 1
    return ticked + engine.process(command)


def run_twins(commands: list[Any]) -> tuple[Engine, Engine, int, int, int]:
    """Both twins through ``commands``, compared after each; (committed, ticked, rejections with timers due,
    acceptances whose timers fired, rejections whose timers cancelled orders)."""
    committed, ticked = new_engine(), new_engine()
    rejected = accepted = cancels = 0
    for command in commands:
        time_ms = getattr(command, "time_ms", None)
        due = type(time_ms) is int and committed.registry.timers_due(time_ms)
        actual = committed.process(command)
        expected = ticked_process(ticked, command)
        assert expected == actual, command
        assert committed.state_hash() == ticked.state_hash(), command
        if due and isinstance(actual[-1], Rejected):
            rejected += 1
            cancels += any(isinstance(event, Execution) and event.text.startswith(TIMER_TEXTS) for event in actual)
        if due and isinstance(actual[-1], Accepted) and len(actual) > 1:
            accepted += 1
    return committed, ticked, rejected, accepted, cancels


def test_a_seeded_stream_gives_the_same_events_and_state_either_way() -> None:
    commands = timer_stream(12, 3_000)
    committed, ticked, rejected, accepted, cancels = run_twins(commands)
    assert rejected > 100  # the stream does reach both paths, often
    assert accepted > 100
    assert cancels > 30
    assert state_of(committed) == state_of(ticked)
    # and ever after, from either one's snapshot
    tail = timer_stream(13, 800)[len(setup(random.Random(13))):]
    tail = [attrs_shift(command, committed.time_ms) for command in tail]
    replicas = [committed, ticked, Engine.from_snapshot(committed.snapshot()), Engine.from_snapshot(ticked.snapshot())]
    for command in tail:
        produced = [replica.process(command) for replica in replicas]
        assert all(events == produced[0] for events in produced), command
    assert len({replica.state_hash() for replica in replicas}) == 1


def attrs_shift(command: Any, by: int) -> Any:
    """``command`` with its time moved on by ``by`` ms."""
    return c.replace(command, time_ms=command.time_ms + by)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=2**32 - 1), length=st.integers(min_value=40, max_value=400))
def test_random_streams_give_the_same_events_and_state_either_way(seed: int, length: int) -> None:
    committed, ticked, *_ = run_twins(timer_stream(seed, length))
    assert state_of(committed) == state_of(ticked)


def funded_book(orders: int) -> Engine:
    """Account 1 with one resting bid re-arming a 1 ms switch; ``orders`` other resting orders of account 2."""
    engine = new_engine()
    for command in setup(random.Random(0)):
        engine.process(command)
    for index in range(orders):
        placed = engine.process(c.PlaceOrder(time_ms=0, account=MAKER, symbol="XBTUSD", side="Sell",
                                             order_qty=100, price=5_100_000 + 50 * index))
        assert isinstance(placed[-1], Accepted)
    placed = engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=100,
                                         price=4_000_000))
    assert isinstance(placed[-1], Accepted)
    return engine


@pytest.mark.skipif(COMPILED, reason="counts the engine's own calls: interpreted only")
def test_rejected_commands_after_a_switch_with_orders_dump_nothing_and_fire_it_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = funded_book(50)
    engine.process(c.CancelAllAfter(time_ms=0, account=1, timeout_ms=1))
    dumps = counted_dumps(monkeypatch)
    answers = [engine.process(c.CancelOrder(time_ms=step, account=2, order_id=10**9)) for step in range(1, 200)]
    assert all(isinstance(events[-1], Rejected) for events in answers)
    assert [event.text for event in answers[0][:-1]] == ["Canceled: Cancel-all-after (dead man's switch) fired"]
    assert [len(events) for events in answers[1:]] == [1] * 198  # nothing left to fire
    assert dumps == []
    assert (engine.accounts[1].orders, engine.accounts[1].cancel_at_ms, engine.time_ms) == ({}, 0, 1)
