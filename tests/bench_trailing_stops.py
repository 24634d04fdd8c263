"""Benchmark (not a test): the cost of trailing stops in a cascade, of a cascade over dead pool slots, and of a
price walk over many trailing stops.  Session 13 (engine/core/triggers.py ``Bucket``, and rev3_2).

    python -m tests.bench_trailing_stops [--quick]

Prints CPU seconds of one command per case:
  cascade N x T      one sell that starts a cascade of N last-price stops (one fire per pass, each a tick lower)
                     while T buy trailing stops on the last price trail on every pass (before: N x T trail calls)
  dead slots K, D    rev3_2: a cascade of K stops after D far stops placed later and cancelled (before: each fire
                     read the pool's last key, O(D))
  walk T             a mark that walks 200 steps down and up over T mark trailing stops (each step moves them
                     all: O(T) per command before and after; shows the buckets cost no more there)
Run it on two checkouts to compare (the figures are in the session's commit messages).
"""

from __future__ import annotations

import sys
import time

from perpspec.engine.core import commands as c
from perpspec.engine.core.exchange import Engine

MARK = 5_000_000
STEP = 50
MAKER = 10**6


def funded(engine: Engine, account: int) -> None:
    engine.process(c.VerifyAccount(time_ms=0, account=account))
    engine.process(c.Deposit(time_ms=0, account=account, asset="USDt", amount=10**15 if account == MAKER else 10**12))


def cascade(stops: int, trailing: int) -> float:
    engine = Engine()
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSDT", mark_price=MARK, index_price=MARK))
    funded(engine, MAKER)
    for step in range(stops + 2):
        engine.process(c.PlaceOrder(time_ms=0, account=MAKER, symbol="XBTUSDT", side="Buy", order_qty=1000,
                                    price=MARK - STEP * (step + 1)))
    accounts = (stops + trailing) // 10 + 3
    for account in range(1, accounts + 1):
        funded(engine, account)
    engine.process(c.PlaceOrder(time_ms=0, account=MAKER, symbol="XBTUSDT", side="Sell", order_qty=1000, price=MARK))
    engine.process(c.PlaceOrder(time_ms=0, account=accounts, symbol="XBTUSDT", side="Buy", order_qty=1000, price=MARK))
    for step in range(stops):
        engine.process(c.PlaceOrder(time_ms=0, account=step // 10 + 1, symbol="XBTUSDT", side="Sell", order_qty=1000,
                                    ord_type="Stop", stop_px=MARK - STEP * (step + 1), exec_inst="LastPrice"))
    first = stops // 10 + 2
    for step in range(trailing):
        engine.process(c.PlaceOrder(time_ms=0, account=first + step // 10, symbol="XBTUSDT", side="Buy",
                                    order_qty=1000, ord_type="Pegged", peg_price_type="TrailingStopPeg",
                                    peg_offset_value=STEP * (stops + 10 + step), exec_inst="LastPrice"))
    assert len(engine.triggers.conditional["XBTUSDT"]) == stops + trailing
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSDT", mark_price=MARK))  # the index built, untimed
    start = time.process_time()
    engine.process(c.PlaceOrder(time_ms=0, account=accounts, symbol="XBTUSDT", side="Sell", order_qty=1000,
                                price=MARK - STEP))
    elapsed = time.process_time() - start
    assert len(engine.triggers.conditional["XBTUSDT"]) == trailing
    return elapsed


def dead_slots(stops: int, dead: int) -> float:
    engine = Engine()
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSDT", mark_price=MARK, index_price=MARK))
    funded(engine, MAKER)
    for step in range(stops + 2):
        engine.process(c.PlaceOrder(time_ms=0, account=MAKER, symbol="XBTUSDT", side="Buy", order_qty=1000,
                                    price=MARK - STEP * (step + 1)))
    account = 0
    for step in range(stops):
        if step % 10 == 0:
            account += 1
            funded(engine, account)
        engine.process(c.PlaceOrder(time_ms=0, account=account, symbol="XBTUSDT", side="Sell", order_qty=1000,
                                    ord_type="Stop", stop_px=MARK - STEP * (step + 1), exec_inst="LastPrice"))
    first = account + 1
    for step in range(dead):
        if step % 10 == 0:
            account += 1
            funded(engine, account)
        engine.process(c.PlaceOrder(time_ms=0, account=account, symbol="XBTUSDT", side="Buy", order_qty=1000,
                                    ord_type="Stop", stop_px=9_000_000, exec_inst="LastPrice"))
    for cancelled in range(first, account + 1):
        engine.process(c.CancelAll(time_ms=0, account=cancelled))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSDT", mark_price=MARK))  # the index rebuilt, untimed
    funded(engine, account + 1)
    start = time.process_time()
    engine.process(c.PlaceOrder(time_ms=0, account=account + 1, symbol="XBTUSDT", side="Sell", order_qty=1000,
                                price=MARK - STEP))
    elapsed = time.process_time() - start
    assert not engine.triggers.conditional["XBTUSDT"]
    return elapsed


def walk(trailing: int) -> float:
    engine = Engine()
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSDT", mark_price=MARK, index_price=MARK))
    for step in range(trailing):
        if step % 10 == 0:
            funded(engine, step // 10 + 1)
        side = "Buy" if step % 2 else "Sell"
        engine.process(c.PlaceOrder(time_ms=0, account=step // 10 + 1, symbol="XBTUSDT", side=side, order_qty=1000,
                                    ord_type="Pegged", peg_price_type="TrailingStopPeg",
                                    peg_offset_value=(1 if side == "Buy" else -1) * STEP * (500 + step)))
    path = [MARK - STEP * step for step in range(100)] + [MARK - STEP * (100 - step) for step in range(100)]
    start = time.process_time()
    for price in path:
        engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSDT", mark_price=price))
    elapsed = time.process_time() - start
    assert len(engine.triggers.conditional["XBTUSDT"]) == trailing
    return elapsed


def main() -> None:
    quick = "--quick" in sys.argv
    for stops, trailing in ((500, 0), (500, 500), (2000, 1000)) if not quick else ((200, 200),):
        print(f"cascade {stops:>5} x {trailing:>5}: {cascade(stops, trailing):.3f} s", flush=True)
    for stops, dead in ((2000, 0), (2000, 20_000)) if not quick else ((200, 2000),):
        print(f"dead slots {stops:>5}, {dead:>6}: {dead_slots(stops, dead):.3f} s", flush=True)
    for trailing in (1000,) if not quick else (100,):
        print(f"walk {trailing:>5} trailing, 200 steps: {walk(trailing):.3f} s", flush=True)


if __name__ == "__main__":
    main()
