"""INV-FLAT-NO-SOCIAL-LOSS's input after session 16's ``Engine._acting`` (helper mut17, session 17).

The flat accounts a step records leave out the account acting in it, read as ``exchange.told`` reads it: a
withdrawal's (tests/test_mut_ledger_flat_accounts.py) and an order's (a spot order moves its own wallets by design).
Dropping ``PlaceOrder`` from ``_acting`` listed a flat account placing an order as flat before its own step.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted
from tests.test_mut_ledger_flat_accounts import PRICE, _market


def test_inv_flat_no_social_loss_leaves_out_the_account_placing_an_order() -> None:
    engine = _market()
    events = engine.process(c.PlaceOrder(time_ms=0, account=0, symbol="XBTUSD", side="Buy", order_qty=100,
                                         price=PRICE - 1_000_000))
    assert isinstance(events[-1], Accepted)
    assert engine.step_info(events).flat_before == ((1, "USDt", 0), (1, "XBt", engine.wallet(1, "XBt")))


def test_inv_flat_no_social_loss_leaves_out_no_one_for_a_command_without_an_actor() -> None:
    engine = _market()
    events = engine.process(c.Deposit(time_ms=0, account=0, asset="XBt", amount=1))
    assert isinstance(events[-1], Accepted)
    assert [row[0] for row in engine.step_info(events).flat_before] == [0, 0, 1, 1]


def test_inv_flat_no_social_loss_leaves_out_the_account_amending_an_order() -> None:
    # a flat account's AmendOrder (of an order it does not have: refused) is its own step, as its PlaceOrder is
    engine = _market()
    events = engine.process(c.AmendOrder(time_ms=0, account=0, order_id=10**6, order_qty=200))
    assert not isinstance(events[-1], Accepted)
    assert engine.step_info(events).flat_before == ((1, "USDt", 0), (1, "XBt", engine.wallet(1, "XBt")))
