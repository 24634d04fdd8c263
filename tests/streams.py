"""Seeded command streams for the durability tests (kill test, cross-process determinism).

A stream is a realistic day on one XBTUSD book: a well-funded market maker
quoting around the mark, thinly funded traders taking positions with limit,
market and stop orders, cancels and amends (some of unknown orders: typed
rejects), withdrawals, dead man's switches, funding, and a mark price that
random-walks with occasional jumps — so liquidations, insurance moves and ADL
happen.  Only ``random.Random(seed)`` decides, so the same seed gives the
same list of commands on every machine.
"""

from __future__ import annotations

import random
from typing import Any

from perpspec.engine.core import commands as c

SYMBOL = "XBTUSD"
TICK = 50  # XBTUSD tick: 0.5 USD in price units of 0.01 USD
LOT = 100
MAKER = 1
TRADERS = tuple(range(2, 9))


def command_stream(seed: int, length: int) -> list[Any]:
    """``length`` commands (after the setup) deciding everything with ``random.Random(seed)``."""
    rng = random.Random(seed)
    mark = 5_000_000  # 50,000 USD
    time_ms = 0
    out: list[Any] = [c.DepositInsurance(time_ms=0, asset="XBt", amount=5 * 10**7)]
    for account in (MAKER, *TRADERS):
        out.append(c.VerifyAccount(time_ms=0, account=account))
        amount = 10**11 if account == MAKER else rng.choice((2 * 10**6, 5 * 10**6, 10**7, 10**8))
        out.append(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    out.append(c.PriceUpdate(time_ms=0, symbol=SYMBOL, mark_price=mark, index_price=mark))
    placed = 0
    while len(out) < length:
        time_ms += rng.randint(0, 2_000)
        roll = rng.random()
        trader = rng.choice(TRADERS)
        side = rng.choice(("Buy", "Sell"))
        if roll < 0.10:
            step = rng.randint(-40, 40) if rng.random() < 0.9 else rng.randint(-900, 900)
            mark = max(1_000_000, min(9_000_000, mark + step * TICK))
            out.append(c.PriceUpdate(time_ms=time_ms, symbol=SYMBOL, mark_price=mark, index_price=mark))
        elif roll < 0.40:
            offset = rng.randint(1, 40) * TICK
            price = mark - offset if side == "Buy" else mark + offset
            qty = rng.randint(1, 60) * LOT
            out.append(c.PlaceOrder(time_ms=time_ms, account=MAKER, symbol=SYMBOL, side=side, order_qty=qty, price=price))
            placed += 1
        elif roll < 0.58:
            qty = rng.randint(1, 120) * LOT
            if rng.random() < 0.5:
                out.append(c.PlaceOrder(time_ms=time_ms, account=trader, symbol=SYMBOL, side=side, order_qty=qty))
            else:
                price = mark + rng.randint(-10, 10) * TICK
                tif = rng.choice((None, None, "ImmediateOrCancel", "FillOrKill"))
                out.append(
                    c.PlaceOrder(
                        time_ms=time_ms, account=trader, symbol=SYMBOL, side=side, order_qty=qty, price=price,
                        time_in_force=tif, cl_ord_id=f"t{len(out)}" if rng.random() < 0.3 else "",
                    )
                )
            placed += 1
        elif roll < 0.64:
            distance = rng.randint(5, 200) * TICK
            stop_px = mark + distance if side == "Buy" else mark - distance
            out.append(
                c.PlaceOrder(
                    time_ms=time_ms, account=trader, symbol=SYMBOL, side=side, order_qty=rng.randint(1, 50) * LOT,
                    stop_px=stop_px, exec_inst=rng.choice(("", "ReduceOnly", "LastPrice", "IndexPrice")),
                )
            )
            placed += 1
        elif roll < 0.74:
            account = MAKER if rng.random() < 0.7 else trader
            out.append(c.CancelOrder(time_ms=time_ms, account=account, order_id=rng.randint(1, placed + 3)))
        elif roll < 0.79:
            account = MAKER if rng.random() < 0.7 else trader
            if rng.random() < 0.5:
                out.append(c.AmendOrder(time_ms=time_ms, account=account, order_id=rng.randint(1, placed + 3),
                                        leaves_qty=rng.randint(1, 30) * LOT))
            else:
                out.append(c.AmendOrder(time_ms=time_ms, account=account, order_id=rng.randint(1, placed + 3),
                                        price=mark + rng.randint(-60, 60) * TICK))
        elif roll < 0.82:
            out.append(c.Withdraw(time_ms=time_ms, account=trader, asset="XBt", amount=rng.randint(1, 10**6)))
        elif roll < 0.84:
            out.append(c.CancelAllAfter(time_ms=time_ms, account=trader, timeout_ms=rng.choice((0, 5_000, 60_000))))
        elif roll < 0.87:
            out.append(c.TimeTick(time_ms=time_ms))
        elif roll < 0.90:
            out.append(c.SetLeverage(time_ms=time_ms, account=trader, symbol=SYMBOL,
                                     leverage_hundredths=rng.choice((0, 500, 1_000, 2_500, 5_000, 10_000))))
        elif roll < 0.92:
            out.append(c.FundingTick(time_ms=time_ms, symbol=SYMBOL, rate_e8=rng.randint(-30_000, 30_000)))
        elif roll < 0.94:
            out.append(c.CancelAll(time_ms=time_ms, account=trader, symbol=rng.choice((None, SYMBOL))))
        elif roll < 0.96:
            out.append(c.Deposit(time_ms=time_ms, account=trader, asset="XBt", amount=rng.randint(1, 10**7)))
        else:
            out.append(c.PlaceOrder(time_ms=time_ms, account=MAKER, symbol=SYMBOL, side=side,
                                    order_qty=rng.randint(50, 400) * LOT, price=mark))
            placed += 1
    return out[:length]
