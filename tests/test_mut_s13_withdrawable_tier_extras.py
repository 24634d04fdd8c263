"""MRG-064 / LIQ-055's withdrawable figure: less the chosen risk tier's extra, never below zero (session 13, "mutants").

Found by ``python -m tests.mutation engine/core/risk.py`` (``Risk.spot_withdrawable``, session 12's one figure for
a Withdraw and for what a spot order may spend): no test withdrew from an account whose cross position sits at a
risk limit above the one its size needs (the extra initial margin the chosen tier asks: ``cross_tier_extras``), or
from one whose withdrawable balance is below zero; counting the extra the wrong way, or flooring the figure at one
instead of zero, let the account take margin its position needs, and no test failed.

Account 1 deposits 0.1 XBT, raises its ETHUSD risk limit one step (50 -> 100 XBT) and buys 1,000 ETHUSD at
3,000.00 (3 XBT): initial margin 6,000,000 at its own tier and 3,002,250 more at the chosen one (plus 225,000 of
fees paid).  Rules: MRG-064, MRG-050, LIQ-055.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument

ETHUSD = load_instrument("ETHUSD")


def ok(events: list[Event]) -> None:
    assert isinstance(events[-1], Accepted), events[-1]


def refused_text(events: list[Event]) -> str:
    assert isinstance(events[-1], Rejected), events[-1]
    return events[-1].text


def test_a_withdrawal_leaves_the_chosen_tiers_extra_margin_and_takes_nothing_when_below_zero() -> None:
    engine = Engine({"ETHUSD": ETHUSD})
    p = engine.process
    p(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    for account, amount in ((1, 10**7), (2, 10**11)):
        ok(p(c.VerifyAccount(time_ms=0, account=account)))
        ok(p(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount)))
    ok(p(c.SetRiskLimit(time_ms=0, account=1, symbol="ETHUSD", risk_limit=ETHUSD.risk_limit + ETHUSD.risk_step)))
    ok(p(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Sell", order_qty=1_000, price=300_000)))
    ok(p(c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=1_000, price=300_000)))
    assert engine.accounts[1].wallets == {"XBt": 9_775_000}
    # 9,775,000 - 6,229,500 (MRG-050's margin in use) = 3,545,500, less the chosen tier's 3,002,250
    assert refused_text(p(c.Withdraw(time_ms=0, account=1, asset="XBt", amount=543_251))).endswith("withdrawable 543250")
    ok(p(c.Withdraw(time_ms=0, account=1, asset="XBt", amount=543_250)))
    # the mark 10.00 lower: 1,000,000 of unrealised loss; the figure before the extra is below it, nothing may go
    ok(p(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=299_000, index_price=299_000)))
    assert refused_text(p(c.Withdraw(time_ms=1, account=1, asset="XBt", amount=1))).endswith("withdrawable 0")
    assert engine.accounts[1].wallets == {"XBt": 9_775_000 - 543_250}
