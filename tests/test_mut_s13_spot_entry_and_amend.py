"""LIQ-055 at entry and at amendment of a spot order, at the edges (session 13, helper "mutants").

Found by ``python -m tests.mutation engine/core/entry.py`` (``OrderEntry.check_entry``'s spot branch and
``OrderEntry._check_amend_funds``): no test amended a spot order at all (the amendment's reservation check, its
refusal text and the "an amendment that reserves no more is never refused for money" rule were never run), and no
test placed a spot order needing exactly what the account may spend.

A buy of 100 XBT_USDT contracts (0.0001 XBT) at 50,000.00 reserves its value, 5,000,000 USDt, and the 0.1% taker
fee, 5,000: 5,005,000.  Rules: LIQ-055 (a spot order reserves only what a Withdraw could take, less the account's
other reservations; an amendment is judged on what it reserves beyond what the order holds).
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, Rejected
from tests.test_mut_s13_spot_sweep_spends import M, offered
from tests.test_s12_spot_spends_withdrawable import PRICE, _engine, _ok

NEED = 5_005_000  # 100 contracts at 50,000.00 and the taker fee


def refused(events: list[Event]) -> str:
    assert isinstance(events[-1], Rejected), events[-1]
    return events[-1].text


def test_a_bid_needing_exactly_the_balance_is_accepted_and_its_amendments_are_judged_beyond_what_it_holds() -> None:
    engine = _engine()
    _ok(engine, c.Deposit(time_ms=0, account=M, asset="USDt", amount=NEED))
    placed = _ok(engine, c.PlaceOrder(time_ms=0, account=M, symbol="XBT_USDT", side="Buy", order_qty=100, price=PRICE))
    bid = placed[-1].order_id  # type: ignore[attr-defined]
    assert engine.accounts[M].reserved == {"USDt": NEED}
    # twice the size needs 5,005,000 more than the bid holds, and nothing else is free
    text = refused(engine.process(c.AmendOrder(time_ms=0, account=M, order_id=bid, order_qty=200)))
    assert text == f"needs {NEED} more USDt, free 0"
    _ok(engine, c.Deposit(time_ms=0, account=M, asset="USDt", amount=NEED))
    events = engine.process(c.AmendOrder(time_ms=0, account=M, order_id=bid, order_qty=200))  # exactly what is free
    assert isinstance(events[-1], Accepted), events[-1]
    assert engine.accounts[M].reserved == {"USDt": 2 * NEED}
    assert engine.live_orders[bid].leaves_qty == 200


def test_an_amendment_that_reserves_no_more_is_accepted_when_the_balance_fell_below_the_reservations() -> None:
    # M's offers reserve 3,000,000 XBt, all a Withdraw could take; M's XBTUSD long then loses 2,000 of it: moving
    # the second offer's price asks for nothing more (a sale reserves its base amount), so it is not refused
    engine, [_, second] = offered([(10_000, PRICE), (20_000, PRICE + 50)], long_xbtusd=1_000)
    _ok(engine, c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=PRICE - 5_000, index_price=PRICE - 5_000))
    assert engine.risk.spot_withdrawable(engine.accounts[M], "XBt") == 2_998_000
    events = engine.process(c.AmendOrder(time_ms=1, account=M, order_id=second, price=PRICE + 100))
    assert isinstance(events[-1], Accepted), events[-1]
    assert engine.live_orders[second].price == PRICE + 100
    assert engine.accounts[M].reserved == {"XBt": 3_000_000}
