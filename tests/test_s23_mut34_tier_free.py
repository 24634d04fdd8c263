"""mut34: MRG-061's tier-free figure at its call sites, where a mutation round found it untested (session 23).

``Risk.spot_withdrawable`` (LIQ-055's input) is MRG-050's withdrawable balance less the chosen tiers' extras,
floored at 0 (``max(0, compute_tier_free_available(...))``).  Dropping the floor changed no test: below zero, the
spot order is refused either way, but its refusal names the figure (``free``), which must be 0, not the negative
balance.

Account 1 deposits 0.1 XBT, raises its ETHUSD risk limit one step and buys 1,000 ETHUSD at 3,000.00 (as
tests/test_mut_s13_withdrawable_tier_extras.py), withdraws down to the chosen tier's extra, and the mark falls 10.00:
the withdrawable balance less the extra is -1,000,000 XBt.
"""

from __future__ import annotations

from pathlib import Path

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument

ETHUSD = load_instrument("ETHUSD")
SPOT = load_instrument(str(Path(__file__).resolve().parent.parent / "specs" / "instruments" / "spot" / "XBT_USDT.toml"))


def _ok(events: list[Event]) -> None:
    assert isinstance(events[-1], Accepted), events[-1]


def test_a_spot_order_beyond_a_negative_tier_free_withdrawable_names_0_free() -> None:
    engine = Engine({"ETHUSD": ETHUSD, "XBT_USDT": SPOT})
    p = engine.process
    _ok(p(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000)))
    _ok(p(c.PriceUpdate(time_ms=0, symbol="XBT_USDT", mark_price=5_000_000, index_price=5_000_000)))
    for account, amount in ((1, 10**7), (2, 10**11)):
        _ok(p(c.VerifyAccount(time_ms=0, account=account)))
        _ok(p(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount)))
    _ok(p(c.SetRiskLimit(time_ms=0, account=1, symbol="ETHUSD", risk_limit=ETHUSD.risk_limit + ETHUSD.risk_step)))
    _ok(p(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Sell", order_qty=1_000, price=300_000)))
    _ok(p(c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=1_000, price=300_000)))
    _ok(p(c.Withdraw(time_ms=0, account=1, asset="XBt", amount=543_250)))  # all but the chosen tier's extra
    _ok(p(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=299_000, index_price=299_000)))  # 1,000,000 lost
    assert engine.risk.spot_withdrawable(engine.accounts[1], "XBt") == 0
    events = p(c.PlaceOrder(time_ms=1, account=1, symbol="XBT_USDT", side="Sell", order_qty=SPOT.lot_size,
                            price=5_000_000))
    refused = events[-1]
    assert isinstance(refused, Rejected)
    assert (refused.reason, refused.text) == (Reason.INSUFFICIENT_BALANCE, "needs 10000 XBt, free 0")
