"""LIQ-054: closing the last cross position may not leave the free wallet below zero (INV-NO-NEG-EQUITY).

Found in session 8 by helper "mutsurv" while building a free wallet below zero for ``engine/core/entry_sweep.py``
#59/#111.  A waterfall bounded to one liquidation per update (LIQ-034) carries account 2's cross pool at
−5,108,750 of equity (its cross XBTUSD profit had backed a 1x isolated ETHUSD margin: a free wallet of
−5,108,750).  Before the next update, account 2 sold its cross long at 50,500.00, above the 50,000.00 mark:
LIQ-044 admitted the fill (the pool's equity after, −4,193,008, no lower than before) and so did LIQ-054's
comparison (no lower than the cross pool's equity before).  The account was left with no cross position and a
free wallet of −4,193,008, which nothing would ever liquidate: when the ETHUSD mark fell to 20.00 the isolated
pool was taken over and account 2 ended flat at −4,193,008 XBt.

Fixed (rules/solvency.py ``is_free_wallet_kept``): "no lower than before" is allowed only where no cross
position was open before either, and LIQ-054 is asked of a cross fill that closes the account's last open cross
position in the currency.  The owner's sell is now refused whichever path takes it — the lean sweep of a plain
limit order (``engine.core.entry_sweep``), the general path of a ReduceOnly order (``Fills._kernel_guard``) and
the generic rules (``Fills.make_guard`` without kernels) — the pool stays for the
waterfall, which takes it over at the next update (the fund pays its deficit), and the account ends at 0.
A maker taken in the same state is judged by the same call (``liquidation_guard.is_cross_close_kept``, or
``make_guard``'s ``keeps_cross`` without kernels); no maker case is built here: an order resting at such a price
is refused at entry (LIQ-042) while the pool is healthy, and the pool is carried only after a fall.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core import entry_plain, entry_sweep
from perpspec.engine.core.events import Accepted, Event, Execution
from perpspec.engine.core.exchange import Engine
from perpspec.engine.kernels.load import generic_rules_only
from perpspec.rules.invariants_trading import check_no_neg_equity
from perpspec.rules.solvency import FILL_CANCEL_TEXT

FUND = 10**9
XBT_50K, XBT_55K, ETH_3000 = 5_000_000, 5_500_000, 300_000


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield


@pytest.mark.parametrize("path", ["lean", "reduce-only", "generic"])
def test_liq_054_a_carried_cross_pool_may_not_be_closed_into_an_owing_free_wallet(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LIQ-054 / LIQ-034 / INV-NO-NEG-EQUITY: see the module docstring (every command checked)."""
    lean: list[int] = []
    original = entry_sweep.enter_crossing

    def counting(*args: object, **kwargs: object) -> None:
        lean.append(1)
        original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(entry_plain, "enter_crossing", counting)
    with generic_rules_only() if path == "generic" else _nothing():
        engine = Engine(max_liquidations_per_update=1)
        engine.track_steps = True
        problems: list[str] = []

        def ok(command: c.Command) -> list[Event]:
            events = engine.process(command)
            assert isinstance(events[-1], Accepted), (command, events[-1])
            problems.extend(check_no_neg_equity(engine, engine.step_info(events)))
            return events

        def trade(time_ms: int, maker: int, taker: int, symbol: str, side: str, qty: int, price: int) -> None:
            other = "Sell" if side == "Buy" else "Buy"
            ok(c.PlaceOrder(time_ms=time_ms, account=maker, symbol=symbol, side=other, order_qty=qty, price=price))
            ok(c.PlaceOrder(time_ms=time_ms, account=taker, symbol=symbol, side=side, order_qty=qty, price=price))

        ok(c.DepositInsurance(time_ms=0, asset="XBt", amount=FUND))
        for account_id, wallet in ((2, 10**7), (3, 10**10), (4, 10**10), (6, 600_000)):
            ok(c.VerifyAccount(time_ms=0, account=account_id))
            ok(c.Deposit(time_ms=0, account=account_id, asset="XBt", amount=wallet))
        ok(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=XBT_50K, index_price=XBT_50K))
        ok(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=ETH_3000, index_price=ETH_3000))
        trade(0, 3, 2, "XBTUSD", "Buy", 50_000, XBT_50K)
        ok(c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=XBT_55K, index_price=XBT_55K))
        ok(c.SetLeverage(time_ms=1, account=2, symbol="ETHUSD", leverage_hundredths=100))
        trade(1, 4, 2, "ETHUSD", "Buy", 50, ETH_3000)
        trade(1, 3, 6, "XBTUSD", "Buy", 10_000, XBT_55K)
        ok(c.PriceUpdate(time_ms=2, symbol="XBTUSD", mark_price=XBT_50K, index_price=XBT_50K))
        assert "XBTUSD" not in engine.positions(6)  # liquidated; account 2's pool is carried to the next update
        _, equity, maintenance, _ = engine.risk.pool_of(engine.accounts[2], "XBTUSD")
        assert (equity, maintenance) == (-5_108_750, 575_750)
        lean.clear()
        ok(c.PlaceOrder(time_ms=2, account=3, symbol="XBTUSD", side="Buy", order_qty=50_000, price=5_050_000))
        events = ok(c.PlaceOrder(time_ms=2, account=2, symbol="XBTUSD", side="Sell", order_qty=50_000,
                                 price=5_050_000, exec_inst="ReduceOnly" if path == "reduce-only" else ""))
        assert lean == ([1] if path == "lean" else [])
        mine = [(e.exec_type, e.last_qty, e.text) for e in events if isinstance(e, Execution) and e.account == 2]
        assert mine[-1] == ("Canceled", 0, FILL_CANCEL_TEXT)
        assert not [e for e in events if isinstance(e, Execution) and e.exec_type == "Trade"]
        assert engine.positions(2)["XBTUSD"].qty == 50_000  # still open: the waterfall's to take over
        ok(c.PlaceOrder(time_ms=3, account=4, symbol="ETHUSD", side="Buy", order_qty=100, price=2_000))
        for time_ms in (4, 5):
            ok(c.PriceUpdate(time_ms=time_ms, symbol="ETHUSD", mark_price=2_000, index_price=2_000))
        assert engine.positions(2) == {}
        assert engine.accounts[2].wallet("XBt") == 0  # before the fix: −4,193,008
        assert problems == []
