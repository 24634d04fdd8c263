"""review21_4: pegPriceType on an order that is not Pegged was accepted and ignored (a Limit "PrimaryPeg" placed as a
plain Limit, serve answering 200 with the peg in the row); a pegOffsetValue on a Stop likewise.  Bad input gets a
typed rejection and changes nothing: both are refused, and a trailing stop (Pegged, TrailingStopPeg) still places."""

from __future__ import annotations

from typing import Any

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Reason, Rejected
from perpspec.engine.core.exchange import Engine

SYMBOL, PRICE = "XBTUSD", 5_000_000


def _engine() -> Engine:
    engine = Engine()
    for command in (
        c.PriceUpdate(time_ms=0, symbol=SYMBOL, mark_price=PRICE, index_price=PRICE),
        c.VerifyAccount(time_ms=0, account=1),
        c.Deposit(time_ms=0, account=1, asset="XBt", amount=10**8),
    ):
        assert isinstance(engine.process(command)[-1], Accepted)
    return engine


@pytest.mark.parametrize(
    ("side", "fields", "reason"),
    [
        ("Buy", {"ord_type": "Limit", "price": PRICE - 1000, "peg_price_type": "PrimaryPeg"}, Reason.INVALID_ORD_TYPE),
        ("Sell", {"ord_type": "Stop", "stop_px": PRICE - 1000, "peg_price_type": "MarketPeg"}, Reason.INVALID_ORD_TYPE),
        (
            "Sell",
            {"ord_type": "StopLimit", "stop_px": PRICE - 1000, "price": PRICE - 2000, "peg_price_type": "TrailingStopPeg"},
            Reason.INVALID_ORD_TYPE,
        ),
        ("Buy", {"ord_type": "Limit", "price": PRICE - 3000, "peg_price_type": "bogus"}, Reason.INVALID_ORD_TYPE),
        ("Sell", {"ord_type": "Stop", "stop_px": PRICE - 1000, "peg_offset_value": -1000}, Reason.INVALID_PRICE),
    ],
)
def test_a_peg_on_an_order_that_is_not_pegged_is_refused_and_changes_nothing(
    side: str, fields: dict[str, Any], reason: Reason
) -> None:
    engine, unchanged = _engine(), _engine()
    events = engine.process(c.PlaceOrder(time_ms=1, account=1, symbol=SYMBOL, side=side, order_qty=100, **fields))
    assert isinstance(events[-1], Rejected)
    assert events[-1].reason == reason
    # the state of an engine that refused an order for an unknown symbol (a refusal numbers its events, nothing else)
    assert isinstance(unchanged.process(c.PlaceOrder(time_ms=1, account=1, symbol="NONE", side=side, order_qty=100))[-1], Rejected)
    assert engine.state_hash() == unchanged.state_hash()


def test_a_trailing_stop_still_places() -> None:
    engine = _engine()
    events = engine.process(
        c.PlaceOrder(
            time_ms=1, account=1, symbol=SYMBOL, side="Sell", order_qty=100, ord_type="Pegged",
            peg_price_type="TrailingStopPeg", peg_offset_value=-1000,
        )
    )
    assert isinstance(events[-1], Accepted)
