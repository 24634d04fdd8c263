"""LIQ-052 and the spot reservation of an incoming order: a taker may spend exactly what it holds, fee per fill.

Two findings of the session-5 mutation run over ``engine/core/fills.py`` (issue 13):

* a bug: since LIQ-052 (432e726) every spot fill touches both accounts (``OrderRegistry.touch``), which cancels a
  spot order whose reservation the balance no longer covers.  The incoming order's reservation is still its whole
  quantity's during the sweep, so a buyer that spent more than half of its balance had its own order cancelled
  ("balance no longer covers the reservation") after its fills: a filled order reported Canceled, and a Good-Till-
  Cancel remainder that the balance covers never rested.  Fixed in ``Fills._apply_spot_fills``: the taker's
  account is marked for the liquidation index only; ``OrderEntry._enter`` settles its reservation after the sweep.
* the guard's bookkeeping over several fills of one sweep: ACC-002's commission is rounded up per fill, so two
  fills of 100 at 50,005.00 cost 2 × (5,000,500 + 5,001) = 10,011,002 USDt while the order's reservation
  (one commission on 10,001,000) is 10,011,001.  A buyer holding exactly the reservation fills once and is then
  stopped by LIQ-052 (its second fill would take its balance to -1); holding one unit more, it fills twice.
"""

from __future__ import annotations

from pathlib import Path

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, Execution
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.solvency import FILL_CANCEL_TEXT

SPOT = load_instrument(str(Path(__file__).resolve().parent.parent / "specs" / "instruments" / "spot" / "XBT_USDT.toml"))
PRICE = 5_000_500  # 50,005.00: 100 contracts are worth 5,000,500 USDt, their 0.1% taker fee 5,000.5 -> 5,001
ONE_FILL = 5_000_500 + 5_001


def _buy(wallet: int, qty: int, sellers: int = 2) -> tuple[Engine, list[Event]]:
    """Accounts 2 and 3 each offer 100 at PRICE; account 1 (``wallet`` USDt) buys ``qty`` at PRICE."""
    engine = Engine({"XBT_USDT": SPOT})
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBT_USDT", mark_price=PRICE, index_price=PRICE))
    for account, asset, amount in ((1, "USDt", wallet), (2, "XBt", 10**8), (3, "XBt", 10**8)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset=asset, amount=amount))
    for seller in (2, 3)[:sellers]:
        offer = c.PlaceOrder(time_ms=0, account=seller, symbol="XBT_USDT", side="Sell", order_qty=100, price=PRICE)
        assert isinstance(engine.process(offer)[-1], Accepted)
    events = engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="XBT_USDT", side="Buy", order_qty=qty, price=PRICE))
    assert isinstance(events[-1], Accepted)
    return engine, events


def _reports(events: list[Event]) -> list[tuple[str, int, str]]:
    return [(e.exec_type, e.last_qty, e.text) for e in events if isinstance(e, Execution) and e.account == 1]


def test_a_spot_buy_that_spends_its_whole_balance_is_filled_not_cancelled() -> None:
    engine, events = _buy(2 * ONE_FILL, 200)
    assert _reports(events) == [("New", 0, ""), ("Trade", 100, ""), ("Trade", 100, "")]
    assert engine.accounts[1].wallets == {"USDt": 0, "XBt": 20_000}
    assert engine.accounts[1].reserved == {}
    engine, events = _buy(ONE_FILL, 100, sellers=1)  # one fill: exactly the balance
    assert _reports(events) == [("New", 0, ""), ("Trade", 100, "")]
    assert engine.accounts[1].wallets == {"USDt": 0, "XBt": 10_000}


def test_a_good_till_cancel_spot_buy_rests_its_remainder_when_the_balance_covers_it() -> None:
    engine, events = _buy(16_000_000, 300)  # the remainder of 100 needs 5,005,501 of the 5,988,998 left
    assert _reports(events) == [("New", 0, ""), ("Trade", 100, ""), ("Trade", 100, "")]
    assert engine.accounts[1].wallets == {"USDt": 16_000_000 - 2 * ONE_FILL, "XBt": 20_000}
    assert engine.accounts[1].reserved == {"USDt": ONE_FILL}
    (order,) = (engine.registry.live_orders[i] for i in engine.accounts[1].orders)
    assert order.leaves_qty == 100


def test_liq_052_stops_a_taker_whose_next_fill_its_balance_does_not_cover_fee_rounded_per_fill() -> None:
    engine, events = _buy(2 * ONE_FILL - 1, 200)  # exactly the reservation of 200: one commission, rounded once
    assert _reports(events) == [("New", 0, ""), ("Trade", 100, ""), ("Canceled", 0, FILL_CANCEL_TEXT)]
    assert engine.accounts[1].wallets == {"USDt": ONE_FILL - 1, "XBt": 10_000}
    assert engine.accounts[1].reserved == {}
    assert len(engine.market.books["XBT_USDT"].asks) == 1  # account 3's offer still rests


def _buy_beside_an_isolated_position(wallet: int) -> tuple[Engine, list[Event]]:
    """As ``_buy``, with account 1 also long 40,000 XBTUSDT isolated at 10x (201,650,000 USDt of isolated margin).

    The isolated margin is out of the cross pool but in the equity, so here the pool alone decides LIQ-052.
    """
    engine = Engine({"XBT_USDT": SPOT, "XBTUSDT": load_instrument("XBTUSDT")})
    for symbol in ("XBT_USDT", "XBTUSDT"):
        engine.process(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=5_000_000, index_price=5_000_000))
    for account, asset, amount in ((1, "USDt", wallet), (2, "XBt", 10**8), (3, "XBt", 10**8), (4, "USDt", 10**12)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset=asset, amount=amount))
    steps = (
        c.SetLeverage(time_ms=0, account=1, symbol="XBTUSDT", leverage_hundredths=1_000),
        c.PlaceOrder(time_ms=0, account=4, symbol="XBTUSDT", side="Sell", order_qty=40_000, price=5_000_000),
        c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSDT", side="Buy", order_qty=40_000, price=5_000_000),
        c.PlaceOrder(time_ms=0, account=2, symbol="XBT_USDT", side="Sell", order_qty=100, price=PRICE),
        c.PlaceOrder(time_ms=0, account=3, symbol="XBT_USDT", side="Sell", order_qty=100, price=PRICE),
    )
    for command in steps:
        assert isinstance(engine.process(command)[-1], Accepted)
    assert engine.accounts[1].positions["XBTUSDT"].iso_margin == 201_650_000
    events = engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="XBT_USDT", side="Buy", order_qty=200, price=PRICE))
    assert isinstance(events[-1], Accepted)
    return engine, events


def test_liq_052_the_cross_pool_net_of_isolated_margin_stops_a_taker_its_equity_would_not() -> None:
    # the wallet after the 1.5 USDT XBTUSDT fee: 201,650,000 isolated + exactly the spot order's reservation
    engine, events = _buy_beside_an_isolated_position(201_650_000 + 1_500_000 + 2 * ONE_FILL - 1)
    assert _reports(events) == [("New", 0, ""), ("Trade", 100, ""), ("Canceled", 0, FILL_CANCEL_TEXT)]
    assert engine.accounts[1].wallets == {"USDt": 201_650_000 + ONE_FILL - 1, "XBt": 10_000}
    engine, events = _buy_beside_an_isolated_position(201_650_000 + 1_500_000 + 2 * ONE_FILL)
    assert _reports(events) == [("New", 0, ""), ("Trade", 100, ""), ("Trade", 100, "")]
    assert engine.accounts[1].wallets == {"USDt": 201_650_000, "XBt": 20_000}
