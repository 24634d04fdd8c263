"""mut34: the lean sweep's maker guard reads ACC-006's available only for a maker's first fill of the sweep.

``engine.core.entry_sweep.CrossGuard.maker_allowed`` sets ``MakerPool.available`` from
``isolated_fill.available_before_fill`` while the maker's pool has not moved (``not maker.moved``); once a fold posted
one of its fills into the pool (LIQ-049), the figure is 0, as in Fills' generic guards (``account_id not in moved``):
``available_before_fill`` reads the account as it stands, before any fill of the sweep is posted, so for a second
fill it is stale.  A mutation round (session 23) dropped ``not maker.moved`` and no test failed.

The maker (account 1) is an isolated 50x ETHUSD short of 1,000 at 3,000.00 with a funding deficit (8 instants of
-0.1%, as tests/test_s21_liq040_available.py) and two resting reducing buys of 500 at 3,050.00; account 3 sells
1,000 into both: the first judgement reads the available the fill finds, the second (after the fold) 0.
"""

from __future__ import annotations

from typing import Any

from perpspec.engine.core import commands as c
from perpspec.engine.kernels import dispatch
from tests.test_s21_liq040_available import MAKER, OTHER, TAKER, E, P, _engine, _leave_available, _ok


def _two_fills(left: int) -> list[tuple[int, ...]]:
    engine = _engine(5000)
    _ok(engine, c.PlaceOrder(time_ms=1, account=OTHER, symbol=E, side="Buy", order_qty=1000, price=P))
    _ok(engine, c.PlaceOrder(time_ms=1, account=MAKER, symbol=E, side="Sell", order_qty=1000, price=P))
    for _ in range(2):
        _ok(engine, c.PlaceOrder(time_ms=2, account=MAKER, symbol=E, side="Buy", order_qty=500, price=305_000,
                                 exec_inst="ReduceOnly"))
    for t in range(3, 11):
        _ok(engine, c.FundingTick(time_ms=t, symbol=E, rate_e8=-100_000))
    _leave_available(engine, left, 20)
    judged: list[tuple[int, ...]] = []
    kernel = dispatch.fill_isolated

    def fill_isolated(*args: int) -> Any:
        out = kernel(*args)
        judged.append(args)
        return out

    dispatch.fill_isolated = fill_isolated  # type: ignore[assignment]
    try:
        _ok(engine, c.PlaceOrder(time_ms=50, account=TAKER, symbol=E, side="Sell", order_qty=1000, price=305_000))
    finally:
        dispatch.fill_isolated = kernel
    assert engine.accounts[MAKER].positions[E].qty == 0  # both fills made
    return judged


def test_the_lean_sweep_reads_the_available_for_the_first_fill_only() -> None:
    for left in (50_000, 10**9):
        judged = _two_fills(left)
        # (index, qty, cost, leverage, tier, margin, other_pnl, other_maint, free, equity, available, fill_qty, ...)
        first = [args for args in judged if args[1] == -1000]
        second = [args for args in judged if args[1] == -500]
        assert first
        assert second
        assert all(args[10] > 0 for args in first)  # the figure the first fill finds
        assert all(args[10] == 0 for args in second)  # after the fold: 0, as Fills' guards
