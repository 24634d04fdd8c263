"""The stop-cascade benchmark: CPU time of one command that sets off N last-price stops, one per account.

::

    python -m perpspec.engine.bench.cascade [N ...]        (default 2000 4000 8000)

A market maker bids N + 2 levels 0.5 USDT apart on XBTUSDT; N accounts each rest a Sell stop on the last price at
one of those levels; one sell at the best bid sets them off one by one.  Each fire trades, so it passes through the
triggers' stop index (engine/core/triggers.py) and MRG-067's clean-up after the trade (engine/core/fills.py): both
must stay linear in N.  Session 12 figures (interpreted, a shared 2-core machine): before, 0.45 / 1.6 / 5.8 s for
2,000 / 4,000 / 8,000 stops (MRG-067 re-judged every account of the command at each fire: O(N^2)); after,
0.13 / 0.29 / 0.56 s, the same as with the clean-up switched off.  The ratio per doubling is printed.
"""

from __future__ import annotations

import sys
import time

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine

SYMBOL = "XBTUSDT"
MARK = 5_000_000
STEP = 50  # 0.5 USDT: one level per stop


def cascade_seconds(n: int) -> tuple[float, int]:
    """CPU seconds of the command that fires ``n`` stops, and how many fired."""
    engine = Engine()
    engine.process(c.PriceUpdate(time_ms=0, symbol=SYMBOL, mark_price=MARK, index_price=MARK))
    maker = 10**6
    engine.process(c.VerifyAccount(time_ms=0, account=maker))
    engine.process(c.Deposit(time_ms=0, account=maker, asset="USDt", amount=10**15))
    for level in range(1, n + 3):
        engine.process(c.PlaceOrder(time_ms=0, account=maker, symbol=SYMBOL, side="Buy", order_qty=1000,
                                    price=MARK - STEP * level))
    for account in range(1, n + 1):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="USDt", amount=10**12))
        placed = engine.process(c.PlaceOrder(time_ms=0, account=account, symbol=SYMBOL, side="Sell", order_qty=1000,
                                             ord_type="Stop", stop_px=MARK - STEP * account, exec_inst="LastPrice"))
        assert isinstance(placed[-1], Accepted), placed[-1]
    seller = n + 1
    engine.process(c.VerifyAccount(time_ms=0, account=seller))
    engine.process(c.Deposit(time_ms=0, account=seller, asset="USDt", amount=10**12))
    start = time.process_time()
    events = engine.process(c.PlaceOrder(time_ms=0, account=seller, symbol=SYMBOL, side="Sell", order_qty=1000,
                                         price=MARK - STEP))
    seconds = time.process_time() - start
    fired = sum(1 for event in events if getattr(event, "exec_type", "") == "TriggeredOrActivatedBySystem")
    return seconds, fired


def main(argv: list[str]) -> int:
    sizes = [int(arg) for arg in argv] or [2000, 4000, 8000]
    last = 0.0
    for n in sizes:
        seconds, fired = cascade_seconds(n)
        ratio = f"  x{seconds / last:.2f} on the last size" if last else ""
        print(f"{n:7,d} stops: {fired:7,d} fired, {seconds:.3f} s CPU{ratio}")
        last = seconds
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
