"""Attack review 11 (a red-team helper, session 11): an accepted order could leave available balance < 0.

A cross long of 40 lots with a far take-profit offer (10 lots at 14 times the mark) that only reduces it.  The
account sells 50 lots into a bid.  Before the trade, MRG-044 nets the offers (60 lots) against the long (40) and
charges the 20 non-reducing lots their average share of the side's value, mostly the cheap 50-lot order's.  The
fill consumes exactly the cheap order, the long flips to a short of 10, and the far offer, no longer reducing,
is charged in full: the available balance was below zero right after an accepted order (INV-MARGIN-ON-ENTRY),
margin MRG-061's check never asked for.

Fixed in session 12 by MRG-067: after the trade the account's resting orders in the contract are cancelled,
newest first, while its available balance is below zero; here the far offer goes and the short of 10 is funded.
These were strict xfails; they fail on the code before MRG-067.

Rules: MRG-044, MRG-061, MRG-067 (INV-MARGIN-ON-ENTRY).
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine
from perpspec.rules.invariants import check_all


def flipped_by_a_cheap_order(symbol: str, asset: str, trader_deposit: int, far_price: int, buy: bool) -> list[str]:
    """The trader's position is flipped by an order that the side's average prices as cheap; INV-MARGIN-ON-ENTRY."""
    engine = Engine()
    engine.track_steps = True
    opening, closing = ("Sell", "Buy") if buy else ("Buy", "Sell")
    for account, amount in ((1, 10**13), (2, 10**13), (3, trader_deposit)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset=asset, amount=amount))
    engine.process(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=5_000_000, index_price=5_000_000))
    for account, side, qty, price in (
        (1, closing, 40_000, 5_000_000),
        (3, opening, 40_000, 5_000_000),  # the trader's position
        (3, closing, 10_000, far_price),  # its far take-profit: reducing, so charged little
        (2, opening, 50_000, 5_000_000),  # the liquidity the trader's next order takes
    ):
        assert isinstance(engine.process(c.PlaceOrder(time_ms=0, account=account, symbol=symbol, side=side,
                                                      order_qty=qty, price=price))[-1], Accepted)
    events = engine.process(c.PlaceOrder(time_ms=0, account=3, symbol=symbol, side=closing, order_qty=50_000,
                                         price=5_000_000))
    assert isinstance(events[-1], Accepted)
    return check_all(engine, engine.step_info(events))["INV-MARGIN-ON-ENTRY"]


def test_linear_flip_keeps_available_balance() -> None:
    assert flipped_by_a_cheap_order("XBTUSDT", "USDt", 111_160_836, 70_000_000, buy=False) == []


def test_inverse_flip_keeps_available_balance() -> None:
    assert flipped_by_a_cheap_order("XBTUSD", "XBt", 2_263_144, 400_000, buy=True) == []
