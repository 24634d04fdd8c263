"""FINDING (session 8, helper "mutsurv"; open, not fixed): INV-NO-NEG-EQUITY broken through a carried cross pool.

Found while building a free wallet below zero for ``engine/core/entry_sweep.py`` #59/#111
(tests/test_mut_s8_lean_sweep_free_wallet.py).  A waterfall bounded to one liquidation per update (LIQ-034)
carries account 2's cross pool at −5,108,750 of equity (its cross XBTUSD profit had backed a 1x isolated ETHUSD
margin: a free wallet of −5,108,750).  Before the next update, account 2 sells its cross long at 50,500.00, above
the 50,000.00 mark: LIQ-044 admits the fill (the pool's equity after, −4,193,008, is no lower than before) and so
does LIQ-054's comparison (no lower than the cross pool's equity before).  The account is left with no cross
position and a free wallet of −4,193,008, the state LIQ-054 exists to prevent: when the ETHUSD mark falls to 20.00
the isolated pool is taken over and, once its close-out is done, account 2 is flat at −4,193,008 XBt, which
INV-NO-NEG-EQUITY forbids ("no fill ... leaves a flat account owing").  Without the carry the waterfall would have
taken the cross pool over (the free wallet back to 0, the fund paying the deficit).

Not fixed here: the fix is a rule decision (LIQ-044 / LIQ-054's "no lower than before" for a fill that closes an
account's last cross position while its cross pool is below zero; or no trading in a pool already due), which
touches the proved ``fill_*`` kernels.  The test is expected to fail until then (strict: it reports when fixed).
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine
from perpspec.rules.invariants import check_no_neg_equity

FUND = 10**9
XBT_50K, XBT_55K, ETH_3000 = 5_000_000, 5_500_000, 300_000


@pytest.mark.xfail(strict=True, reason="open finding: a carried cross pool closed above the mark leaves a flat "
                                       "account owing (INV-NO-NEG-EQUITY); a rule decision for the lead")
def test_inv_no_neg_equity_after_a_carried_cross_pool_is_closed_by_its_owner() -> None:
    """INV-NO-NEG-EQUITY / LIQ-054 / LIQ-034: see the module docstring (every command checked)."""
    engine = Engine(max_liquidations_per_update=1)
    engine.track_steps = True
    problems: list[str] = []

    def ok(command: c.Command) -> None:
        events = engine.process(command)
        assert isinstance(events[-1], Accepted), (command, events[-1])
        problems.extend(check_no_neg_equity(engine, engine.step_info(events)))

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
    ok(c.PriceUpdate(time_ms=2, symbol="XBTUSD", mark_price=XBT_50K, index_price=XBT_50K))  # account 2 carried
    trade(2, 3, 2, "XBTUSD", "Sell", 50_000, 5_050_000)
    # today: no cross position left, a free wallet of -4,193,008
    ok(c.PlaceOrder(time_ms=3, account=4, symbol="ETHUSD", side="Buy", order_qty=100, price=2_000))
    for time_ms in (4, 5):
        ok(c.PriceUpdate(time_ms=time_ms, symbol="ETHUSD", mark_price=2_000, index_price=2_000))
    # today: account 2 flat at -4,193,008 XBt (only the invariant is asserted, so a fix makes the test pass)
    assert problems == []  # today: ['account 2 XBt: equity -4193008 < 0 with no position left to liquidate', ...]
