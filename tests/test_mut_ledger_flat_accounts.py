"""INV-FLAT-NO-SOCIAL-LOSS's input: which accounts the engine records as flat before a step (``Ledger.flat_accounts``).

Found by the session-6 mutation run over ``engine/core/ledger.py`` (issue 13): no test read the flat accounts a
step records (``Engine.step_info().flat_before``, what the invariant checks), so dropping account 0, keeping only the
acting account, or counting an account whose position record is closed (``qty`` 0) as a holder went unnoticed.
Pinned here through public commands: of five verified accounts, account 0 never traded, account 1 opened and closed
a position (a record with ``qty`` 0 remains), accounts 2 and 3 hold positions, and account 4 has a resting order.
Before a mark update the flat ones are 0 and 1 (every asset, their wallets); before account 0's own withdrawal only
account 1 (the acting account is left out: its wallet moves by design).
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine

PRICE = 5_000_000  # 50,000.00


def _market() -> Engine:
    engine = Engine()
    for account in (0, 1, 2, 3, 4):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**8 + account))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=PRICE, index_price=PRICE))
    for buyer, seller in ((1, 2), (3, 1)):  # 1 opens and closes 100 contracts; 2 is left short, 3 long
        engine.process(
            c.PlaceOrder(time_ms=0, account=seller, symbol="XBTUSD", side="Sell", order_qty=100, price=PRICE)
        )
        bought = engine.process(
            c.PlaceOrder(time_ms=0, account=buyer, symbol="XBTUSD", side="Buy", order_qty=100, price=PRICE)
        )
        assert isinstance(bought[-1], Accepted)
    resting = engine.process(
        c.PlaceOrder(time_ms=0, account=4, symbol="XBTUSD", side="Buy", order_qty=100, price=4_000_000)
    )
    assert isinstance(resting[-1], Accepted)
    assert engine.positions(1) == {}
    assert engine.positions(0) == {}
    assert engine.positions(2)["XBTUSD"].qty == -100
    assert engine.positions(3)["XBTUSD"].qty == 100
    engine.track_steps = True
    return engine


def test_inv_flat_no_social_loss_records_every_flat_trader_account_account_0_included() -> None:
    engine = _market()
    events = engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=PRICE, index_price=PRICE))
    assert isinstance(events[-1], Accepted)
    assert engine.wallet(0, "XBt") == 10**8
    assert engine.step_info(events).flat_before == (
        (0, "USDt", 0),
        (0, "XBt", 10**8),
        (1, "USDt", 0),
        (1, "XBt", engine.wallet(1, "XBt")),
    )


def test_inv_flat_no_social_loss_leaves_out_the_withdrawing_account() -> None:
    engine = _market()
    events = engine.process(c.Withdraw(time_ms=0, account=0, asset="XBt", amount=5))
    assert isinstance(events[-1], Accepted)
    assert engine.wallet(0, "XBt") == 10**8 - 5
    assert engine.step_info(events).flat_before == ((1, "USDt", 0), (1, "XBt", engine.wallet(1, "XBt")))
