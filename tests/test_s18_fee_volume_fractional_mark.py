"""ACC-009 at a fractional XBTUSD mark: the XBt -> USD price is part of the rule, floored once (redteam22 find 4).

Before, ``Market.usd_per_unit`` floored the XBTUSD mark to whole USD outside any rule, and ACC-009 took that rate as
an input: rounded *up* instead (1,500,030 USD of volume for 30 XBT at 50,000.50) nothing noticed
(/work/coord/repro18/redteam22_4.py).  Now ``rules.fee_tier.compute_usd_volume`` takes the mark and XBTUSD's
priceScale (``Market.usd_price`` passes them unrounded) and floors the volume once; ``ACC-009/floor/*`` prove it
never above the exact USD value and less than one USD below it, and the known-bads (the price rounded up, or floored,
to whole dollars first) are refuted.

Scenario: XBTUSD mark 50,000.50 USD; an ETHUSD trade of 10,000 contracts at 3,000 USD (3,000,000,000 XBt, 30 XBT):
each account's volume_by_day gains exactly 30 × 50,000.50 = 1,500,015 USD (the whole-dollar mark gave 1,500,000, the
mark rounded up 1,500,030), on the lean sweep and the general path alike.
"""

from __future__ import annotations

from typing import Any

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core import entry_plain
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine
from perpspec.rules.contract import compute_notional
from perpspec.rules.fee_tier import compute_usd_volume
from perpspec.rules.instrument_file import load_instrument

X, E = "XBTUSD", "ETHUSD"
XBT_MARK = 5_000_050  # 50,000.50 USD
PRICE = 300_000  # 3,000.00 USD
XBT = load_instrument(X)
ETH = load_instrument(E)

ORDERS: dict[str, dict[str, Any]] = {
    "limit": {"price": PRICE},
    "IOC": {"price": PRICE, "time_in_force": "ImmediateOrCancel"},
    "market": {"ord_type": "Market"},
}


def _volumes(monkeypatch: pytest.MonkeyPatch, qty: int, lean: bool, taker: dict[str, Any]) -> dict[int, dict[int, int]]:
    with monkeypatch.context() as patch:
        patch.setattr(entry_plain, "SWEEPS", lean)
        e = Engine({X: XBT, E: ETH})
        e.process(c.PriceUpdate(time_ms=0, symbol=X, mark_price=XBT_MARK, index_price=XBT_MARK))
        e.process(c.PriceUpdate(time_ms=0, symbol=E, mark_price=PRICE, index_price=PRICE))
        for account in (1, 2):
            e.process(c.VerifyAccount(time_ms=0, account=account))
            e.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**11))
        placed = e.process(c.PlaceOrder(time_ms=1, account=2, symbol=E, side="Sell", order_qty=qty, price=PRICE))
        assert isinstance(placed[-1], Accepted)
        placed = e.process(c.PlaceOrder(time_ms=1, account=1, symbol=E, side="Buy", order_qty=qty, **taker))
        assert isinstance(placed[-1], Accepted)
        return {account: dict(e.ledger.accounts[account].volume_by_day) for account in (1, 2)}


PATHS = [(name, lean) for name in ORDERS for lean in (True, False)]


@pytest.mark.parametrize(("taker", "lean"), PATHS, ids=[f"{n}-{'lean' if lean else 'general'}" for n, lean in PATHS])
def test_acc_009_volume_at_a_fractional_xbtusd_mark_is_floored_once(
    monkeypatch: pytest.MonkeyPatch, taker: str, lean: bool
) -> None:
    notional = compute_notional(ETH, 10_000, PRICE)
    assert notional == 3_000_000_000  # 30 XBT
    exact_times_scale = notional * XBT_MARK  # the USD value × 10⁸ XBt per XBT × priceScale 100
    assert exact_times_scale == 1_500_015 * 100_000_000 * XBT.price_scale  # 30 × 50,000.50, exactly
    assert _volumes(monkeypatch, 10_000, lean, ORDERS[taker]) == {1: {0: 1_500_015}, 2: {0: 1_500_015}}


def test_acc_009_volume_never_above_the_exact_usd_value(monkeypatch: pytest.MonkeyPatch) -> None:
    # 1 ETHUSD at 3,000 = 300,000 XBt = 0.003 XBT, × 50,000.50 = 150.0015 USD: floored to 150
    assert _volumes(monkeypatch, 1, True, ORDERS["limit"]) == {1: {0: 150}, 2: {0: 150}}
    # 7 contracts: 0.021 XBT × 50,000.50 = 1,050.0105 USD -> 1,050 (the mark rounded up would give 1,050.021 -> 1,050
    # too; the 10,000 case above tells them apart)
    assert _volumes(monkeypatch, 7, False, ORDERS["IOC"]) == {1: {0: 1_050}, 2: {0: 1_050}}


def test_acc_009_rule_reads_the_unrounded_price() -> None:
    assert compute_usd_volume(ETH, 10_000, PRICE, XBT_MARK, XBT.price_scale, 100_000_000) == 1_500_015
    # a price short of a whole dollar is not a whole dollar less: 0.99 USD per XBT, 30 XBT -> 29 USD (29.7 floored)
    assert compute_usd_volume(ETH, 10_000, PRICE, 99, 100, 100_000_000) == 29
    assert compute_usd_volume(ETH, 10_000, PRICE, 0, 1, 100_000_000) == 0  # no XBTUSD mark: no volume
