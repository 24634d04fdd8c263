"""Attack review 3: every command type with boundary values on a state reached by the seeded search.

For each command type, a valid template is taken, and each field in turn gets each boundary value (0, -1, 1,
2**63 - 1, 2**63, 2**64, -2**63, 10**30, times backwards, unknown symbols / assets / accounts / orders).  The
engine must answer with one Accepted or Rejected, never an InternalError; a rejected command must change nothing;
an accepted one must leave every registered invariant holding.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, InternalError, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.invariants import check_all
from tests.attack3_search import _without_seq, instruments, run

INTS = (0, -1, 1, 2**31, 2**63 - 1, 2**63, 2**64, -(2**63), 10**30, -(10**30))
STRS = ("", "XBTUSD ", "xbtusd", "NOPE", "XBt", "USDt", "XBT_USDT", "XBTZ26", "Buy", "Sell", "\x00", "Close",
        "ReduceOnly,Close", "LastPrice,IndexPrice", "GoodTillCancel", "Stop", "TrailingStopPeg")


def engine_at(seed: int, length: int) -> Engine:
    """The engine the search reaches after ``length`` commands of ``seed``."""
    result = run(seed, length, keep_history=True)
    assert result.problem is None, result.problem
    import random

    rng = random.Random(seed)
    engine = Engine(instruments(), max_liquidations_per_update=rng.choice((1, 2, 64)))
    for command in result.history:
        engine.process(command)
    engine.track_steps = True
    return engine


def templates(engine: Engine) -> list[Any]:
    now = engine.time_ms
    order_id = min(engine.live_orders) if engine.live_orders else 1
    owner = engine.live_orders[order_id].account if engine.live_orders else 2
    return [
        c.PlaceOrder(time_ms=now, account=2, symbol="XBTUSD", side="Buy", order_qty=100, price=engine.marks["XBTUSD"] // 50 * 50),
        c.PlaceOrder(time_ms=now, account=2, symbol="XBTUSDT", side="Sell", order_qty=1000, stop_px=1_000_000),
        c.PlaceOrder(time_ms=now, account=2, symbol="XBT_USDT", side="Sell", order_qty=100, price=engine.marks["XBT_USDT"] // 50 * 50),
        c.PlaceOrder(time_ms=now, account=3, symbol="XBTUSD", side="Sell", order_qty=100, peg_offset_value=-500,
                     peg_price_type="TrailingStopPeg", ord_type="Stop"),
        c.AmendOrder(time_ms=now, account=owner, order_id=order_id, price=100_000),
        c.AmendOrder(time_ms=now, account=owner, order_id=order_id, leaves_qty=100),
        c.CancelOrder(time_ms=now, account=owner, order_id=order_id),
        c.CancelAll(time_ms=now, account=owner, symbol="XBTUSD"),
        c.CancelAllAfter(time_ms=now, account=2, timeout_ms=60_000),
        c.VerifyAccount(time_ms=now, account=77),
        c.Deposit(time_ms=now, account=2, asset="XBt", amount=1_000),
        c.Withdraw(time_ms=now, account=2, asset="USDt", amount=1_000),
        c.SetLeverage(time_ms=now, account=2, symbol="ETHUSD", leverage_hundredths=1_000),
        c.Isolate(time_ms=now, account=2, symbol="XBTUSD", enabled=True),
        c.TransferMargin(time_ms=now, account=2, symbol="XBTUSD", amount=1_000),
        c.SetRiskLimit(time_ms=now, account=2, symbol="XBTUSD", risk_limit=35_000_000_000),
        c.PriceUpdate(time_ms=now, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000),
        c.FundingTick(time_ms=now, symbol="XBTUSDT", rate_e8=10_000),
        c.TimeTick(time_ms=now),
        c.DepositInsurance(time_ms=now, asset="USDt", amount=10),
        c.Settle(time_ms=now, symbol="XBTZ26", settlement_price=engine.marks["XBTZ26"]),
    ]


def variants(template: Any, engine: Engine) -> list[Any]:
    out = []
    for name, kind, optional in c.FIELD_KINDS[type(template)]:
        declared = kind.__name__ + (" | None" if optional else "")
        values: tuple[Any, ...]
        if name == "time_ms":
            values = (engine.time_ms - 1, 0, -1, 2**63, engine.time_ms + 366 * 86_400_000 + 1)
        elif declared in ("int", "int | None"):
            values = INTS
        elif declared in ("str", "str | None"):
            values = STRS
        elif declared == "bool":
            values = (False, True)
        else:
            continue
        for value in values:
            out.append(c.replace(template, **{name: value}))
    return out


def sweep(seed: int, length: int) -> tuple[Counter[str], list[str]]:
    base = engine_at(seed, length)
    blob = base.snapshot()
    tally: Counter[str] = Counter()
    problems: list[str] = []
    for template in templates(base):
        for command in variants(template, base):
            engine = Engine.from_snapshot(blob)
            engine.track_steps = True
            before = _without_seq(engine)
            events = engine.process(command)
            last = events[-1]
            if any(isinstance(e, InternalError) for e in events):
                problems.append(f"{command}: InternalError")
                continue
            if isinstance(last, Rejected):
                tally["rejected:" + last.reason.value] += 1
                if _without_seq(engine) != before:
                    problems.append(f"{command}: rejected {last.reason} but the state changed")
            elif isinstance(last, Accepted):
                tally["accepted"] += 1
                found = {k: v for k, v in check_all(engine, engine.step_info(events)).items() if v}
                if found:
                    problems.append(f"{command}: {found}")
            else:
                problems.append(f"{command}: last event {last}")
    return tally, problems


if __name__ == "__main__":
    import sys

    for seed in range(int(sys.argv[1]), int(sys.argv[2])):
        tally, problems = sweep(seed, 200)
        print(seed, sum(tally.values()), dict(tally))
        for problem in problems:
            print("  ", problem)
