"""LIQ-053 counts what an isolated fill takes from the cross pool: Δ isolated margin − realised + commission.

redteam29_2 / fix29b_1: an isolated 10x ETHUSD short whose pool funding drained is flipped (or fully closed) by a
fill; the closed side's realised loss beyond the pool is the wallet's, i.e. the cross pool's.  Before, LIQ-053's
``moved`` was the isolated margin's change only (negative here), so the fill ran and took the cross pool from
18.7x maintenance to −1,066,500 (flip) or to 0.70x (close) at unchanged marks, liquidated in the fill's own
command.  Now the resting order is cancelled with LIQ-044's text (or the incoming one stops) and the cross pool
keeps its equity.
"""
from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine
from perpspec.rules.solvency import FILL_CANCEL_TEXT, compute_cross_draw

E, P, PX = "ETHUSD", 300_000, 315_000
X, XP, QTY = "XBTUSD", 5_000_000, 50_000


def _ok(e: Engine, cmd: object) -> list[object]:
    ev = e.process(cmd)
    assert isinstance(ev[-1], Accepted), (cmd, ev[-1])
    return ev


def _scenario(qb: int, keep: int, resting: bool) -> tuple[Engine, tuple[int, int]]:
    e = Engine()
    for s, p in ((E, P), (X, XP)):
        _ok(e, c.PriceUpdate(time_ms=0, symbol=s, mark_price=p, index_price=p))
    for a in (1, 2, 3):
        _ok(e, c.VerifyAccount(time_ms=0, account=a))
        _ok(e, c.Deposit(time_ms=0, account=a, asset="XBt", amount=10**10))
    _ok(e, c.Isolate(time_ms=0, account=1, symbol=E, enabled=True))
    _ok(e, c.SetLeverage(time_ms=0, account=1, symbol=E, leverage_hundredths=1000))
    _ok(e, c.PlaceOrder(time_ms=1, account=2, symbol=E, side="Buy", order_qty=1000, price=P))
    _ok(e, c.PlaceOrder(time_ms=1, account=1, symbol=E, side="Sell", order_qty=1000, price=P))
    if resting:
        _ok(e, c.PlaceOrder(time_ms=2, account=1, symbol=E, side="Buy", order_qty=qb, price=PX))
    for t in range(3, 83):
        _ok(e, c.FundingTick(time_ms=t, symbol=E, rate_e8=-100_000))
    _ok(e, c.PlaceOrder(time_ms=171, account=2, symbol=X, side="Sell", order_qty=QTY, price=XP))
    _ok(e, c.PlaceOrder(time_ms=171, account=1, symbol=X, side="Buy", order_qty=QTY, price=XP))
    a1 = e.accounts[1]
    lo, hi = 0, a1.wallet("XBt")  # the largest withdrawal MRG-050 allows
    while lo < hi:
        mid = (lo + hi + 1) // 2
        probe = Engine()
        probe._load(e._dump())
        if isinstance(probe.process(c.Withdraw(time_ms=172, account=1, asset="XBt", amount=mid))[-1], Accepted):
            lo = mid
        else:
            hi = mid - 1
    _ok(e, c.Withdraw(time_ms=172, account=1, asset="XBt", amount=lo - keep))
    _, eq, m, _ = e.risk.pool_of(a1, X)
    return e, (eq, m)


@pytest.mark.parametrize(("qb", "keep"), [(1100, 5_000_000), (1000, 8_000_000)], ids=["flip", "close"])
def test_resting_isolated_flip_keeps_cross_pool(qb: int, keep: int) -> None:
    e, (eq0, m0) = _scenario(qb, keep, resting=True)
    assert eq0 >= m0
    ev = e.process(c.PlaceOrder(time_ms=180, account=3, symbol=E, side="Sell", order_qty=qb, price=PX))
    records = [getattr(x, "record", None) for x in ev]
    assert not [r for r in records if type(r).__name__ == "Liquidation" and getattr(r, "account_id", None) == 1]
    a1 = e.accounts[1]
    _, eq1, m1, _ = e.risk.pool_of(a1, X)
    assert eq1 >= m1
    assert a1.positions[E].qty == -1000  # the flip did not fill
    cancels = [x for x in ev if getattr(x, "account", None) == 1 and getattr(x, "exec_type", "") == "Canceled"]
    assert cancels
    assert cancels[0].text == FILL_CANCEL_TEXT


@pytest.mark.parametrize(("qb", "keep"), [(1100, 5_000_000), (1000, 8_000_000)], ids=["flip", "close"])
def test_incoming_isolated_flip_keeps_cross_pool(qb: int, keep: int) -> None:
    # a guard only: an incoming flip is already rejected at entry on main (ImmediateLiquidation, LIQ-042), before
    # LIQ-053 is reached; the resting cases above are the ones that fail without compute_cross_draw
    e, (eq0, m0) = _scenario(qb, keep, resting=False)
    _ok(e, c.PlaceOrder(time_ms=179, account=3, symbol=E, side="Sell", order_qty=qb, price=PX))
    ev = e.process(c.PlaceOrder(time_ms=180, account=1, symbol=E, side="Buy", order_qty=qb, price=PX))
    records = [getattr(x, "record", None) for x in ev]
    assert not [r for r in records if type(r).__name__ == "Liquidation" and getattr(r, "account_id", None) == 1]
    a1 = e.accounts[1]
    _, eq1, m1, _ = e.risk.pool_of(a1, X)
    assert eq0 >= m0
    assert eq1 >= m1
    assert a1.positions[E].qty == -1000


def test_cross_draw_counts_realised_and_commission() -> None:
    # margin 6,247,500 -> 0 on a full close realising −15,000,000 with commission 100: the wallet pays 8,752,600
    assert compute_cross_draw(20_000_000, 6_247_500, 20_000_000 - 15_000_000 - 100, 0) == 8_752_600
    # a plain margin move with nothing realised is the margin's change
    assert compute_cross_draw(10, 4, 10, 7) == 3
