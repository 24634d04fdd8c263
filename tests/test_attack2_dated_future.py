"""Attack review 2 (money paths): a dated future trades until ``Settle`` runs, and accepts funding.

1. Trading after expiry (low-medium).  ``Settle`` (SET-003/004) may run at any time at or after
   ``expiry_ms``; until it does, ``PlaceOrder`` on the expired contract is accepted and fills.  From
   the expiry instant on, the settlement price is known to everyone (SET-001: the index TWAP of the
   window *ending* at expiry), so an order placed after expiry trades against resting orders at a
   price whose settlement outcome is certain: a trader picks off every stale order left in the book
   at no risk (the money comes from the makers, not from the fund).  BitMEX stops trading a future
   at expiry and settles it then.

   Fixed (engine/core/entry.py ``check_entry``, and amend): a new, amended or triggered order in
   a dated future once ``time_ms >= inst.expiry_ms`` (the existing ``Reason.CONTRACT_SETTLED`` or a
   new ``ContractExpired``), and cancel its live orders at expiry (or at the latest in ``Settle``,
   as now).

2. Funding on a future (low).  ``FundingTick`` on XBTZ26 is accepted and moves wallets between its
   holders although the instrument file says "futures do not fund" (``fundingInterval`` is only a
   required field).  It needs an operator command, so no trader can trigger it, but a wrong feed or
   a scheduler iterating all instruments would move money.  Proposed fix (engine/core/prices.py
   ``funding``): ``inst.expiry_ms is not None`` is refused (NotPerpetual), as spot pairs are.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Rejected
from perpspec.engine.core.exchange import Engine

PRICE = 5_000_000


def _future_with_a_resting_bid() -> tuple[Engine, int]:
    """Account 3 bids 1,000 XBTZ26 at 50,000.00; returns the engine and the contract's expiry."""
    engine = Engine()
    expiry = engine.instrument_map["XBTZ26"].expiry_ms
    assert expiry is not None
    for account in (2, 3):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**8))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTZ26", mark_price=PRICE, index_price=PRICE))
    engine.process(c.PlaceOrder(time_ms=0, account=3, symbol="XBTZ26", side="Buy", order_qty=1_000, price=PRICE))
    return engine, expiry



def test_no_order_fills_in_a_future_after_its_expiry() -> None:
    engine, expiry = _future_with_a_resting_bid()
    assert isinstance(engine.process(c.TimeTick(time_ms=expiry + 1))[-1], Accepted)
    events = engine.process(
        c.PlaceOrder(time_ms=expiry + 1, account=2, symbol="XBTZ26", side="Sell", order_qty=1_000, price=PRICE)
    )
    assert isinstance(events[-1], Rejected)
    assert engine.accounts[2].positions.get("XBTZ26") is None or engine.accounts[2].positions["XBTZ26"].qty == 0


def test_orders_before_expiry_still_trade() -> None:
    """The guard above must not stop trading before expiry (one millisecond before: a fill)."""
    engine, expiry = _future_with_a_resting_bid()
    engine.process(c.TimeTick(time_ms=expiry - 1))
    events = engine.process(
        c.PlaceOrder(time_ms=expiry - 1, account=2, symbol="XBTZ26", side="Sell", order_qty=1_000, price=PRICE)
    )
    assert isinstance(events[-1], Accepted)
    assert engine.accounts[2].positions["XBTZ26"].qty == -1_000



def test_a_dated_future_takes_no_funding() -> None:
    engine, _ = _future_with_a_resting_bid()
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="XBTZ26", side="Sell", order_qty=1_000, price=PRICE))
    wallets = (engine.accounts[2].wallets["XBt"], engine.accounts[3].wallets["XBt"])
    events = engine.process(c.FundingTick(time_ms=0, symbol="XBTZ26", rate_e8=10_000))
    assert isinstance(events[-1], Rejected)
    assert (engine.accounts[2].wallets["XBt"], engine.accounts[3].wallets["XBt"]) == wallets
