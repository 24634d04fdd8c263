"""Benchmark script (not a test): red team 5's three single-command costs, before and after session 13.

Run it against a tree (the engine it imports is the one measured), e.g. old and new::

    PYTHONPATH=/path/to/old/tree python -P tests/bench_costs_s13.py
    python tests/bench_costs_s13.py
    PYTHONPATH=build/native:. python -P tests/bench_costs_s13.py      # the compiled build

Scenarios (process CPU time, one run each; sizes from the command line: churn N K):
  churn     one resting sell at the best ask, then ``churn`` place/cancel pairs at that price (redteam5_2): the level's
            entries, the snapshot size and one 100-contract market buy (mean of 10), a FillOrKill buy of 100
  reach     ``n`` bids of 100 at one price, ``k`` sell stops firing into them in one PriceUpdate (redteam5_4)
  reduce    a maker with ``n`` resting orders and one ReduceOnly order, ``k`` sell stops firing into its bid in one
            PriceUpdate (redteam5_3); the same without the ReduceOnly order
"""

from __future__ import annotations

import sys
import time
from typing import Any

from perpspec.engine.core import commands as c
from perpspec.engine.core import exchange
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine

SYMBOL = "XBTUSD"


def ok(engine: Engine, command: Any) -> list[Any]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), (command, events[-1])
    return events


def fund(engine: Engine, *accounts: int, amount: int = 10**12) -> None:
    for account in accounts:
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))


def order(account: int, side: str, qty: int, price: int | None = None, **extra: Any) -> c.PlaceOrder:
    return c.PlaceOrder(time_ms=0, account=account, symbol=SYMBOL, side=side, order_qty=qty, price=price, **extra)


def churn(pairs: int) -> str:
    engine = Engine()
    fund(engine, 1, 2, amount=10**10)
    ok(engine, c.PriceUpdate(time_ms=0, symbol=SYMBOL, mark_price=5_000_000, index_price=5_000_000))
    ok(engine, order(1, "Sell", 1_000_000, 5_000_000))
    started = time.process_time()
    for _ in range(pairs):
        order_id = ok(engine, order(1, "Sell", 100, 5_000_000))[-1].order_id
        ok(engine, c.CancelOrder(time_ms=0, account=1, order_id=order_id))
    churn_s = time.process_time() - started
    level = engine.books[SYMBOL].asks[5_000_000]
    entries = len(level.shown) + len(level.hidden)
    started = time.process_time()
    for _ in range(10):
        ok(engine, order(2, "Buy", 100, ord_type="Market"))
    market_ms = (time.process_time() - started) / 10 * 1000
    started = time.process_time()
    ok(engine, order(2, "Buy", 100, 5_000_000, time_in_force="FillOrKill"))
    fok_ms = (time.process_time() - started) * 1000
    return (f"churn {pairs:,} pairs: {churn_s:.2f} s; level {entries:,} entries for {level.live} live; snapshot "
            f"{len(engine.snapshot()):,} B; market buy {market_ms:.2f} ms; FillOrKill {fok_ms:.2f} ms")


def stops(engine: Engine, k: int, stop_px: int, mark: int) -> float:
    for j in range(k):
        fund(engine, 100 + j, amount=10**8)
        ok(engine, c.PlaceOrder(time_ms=0, account=100 + j, symbol=SYMBOL, side="Sell", order_qty=100,
                                ord_type="Stop", stop_px=stop_px))
    started = time.process_time()
    engine.process(c.PriceUpdate(time_ms=1, symbol=SYMBOL, mark_price=mark, index_price=mark))
    return time.process_time() - started


def reach(n: int, k: int) -> str:
    took = []
    for split in (True, False):
        engine = Engine()
        fund(engine, 1)
        ok(engine, c.PriceUpdate(time_ms=0, symbol=SYMBOL, mark_price=5_000_000, index_price=5_000_000))
        for _ in range(n if split else 1):
            ok(engine, order(1, "Buy", 100 if split else 100 * n, 4_980_000))
        took.append(stops(engine, k, 4_990_000, 4_985_000))
    return f"reach: {k:,} stop fires into {n:,} bids at one price {took[0]:.3f} s (one bid of that size {took[1]:.3f} s)"


def reduce(n: int, k: int) -> str:
    took = []
    for reduce_only in (True, False):
        engine = Engine()
        fund(engine, 1, 2)
        ok(engine, c.PriceUpdate(time_ms=0, symbol=SYMBOL, mark_price=5_000_000, index_price=5_000_000))
        ok(engine, order(2, "Sell", 100, 5_000_000))
        ok(engine, order(1, "Buy", 100, 5_000_000))
        if reduce_only:
            ok(engine, order(1, "Sell", 100, 6_000_000, exec_inst="ReduceOnly"))
        ok(engine, order(1, "Buy", 100 * k, 4_980_000))
        for i in range(n):
            ok(engine, order(1, "Buy", 100, 4_000_000 - 50 * (i % 2000)))
        took.append(stops(engine, k, 4_990_000, 4_985_000))
    return (f"reduce: maker with {n:,} orders, {k:,} stop fires into its bid {took[0]:.3f} s with a ReduceOnly "
            f"order ({took[1]:.3f} s without)")


def main(argv: list[str]) -> None:
    sizes = [int(arg) for arg in argv[1:]] or [100_000, 16_000, 1_000]
    pairs, n, k = [*sizes, 16_000, 1_000][:3]
    print(f"engine: {'compiled' if not exchange.__file__.endswith('.py') else 'interpreted'} {exchange.__file__}")
    print(churn(pairs))
    print(reach(n, k))
    print(reduce(n, k))


if __name__ == "__main__":
    main(sys.argv)
