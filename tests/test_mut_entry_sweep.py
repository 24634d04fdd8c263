"""The lean sweep of a crossing plain limit order (``engine.core.entry_sweep``) at its edges (mutation survivors).

Each case is a plain GoodTillCancel limit order from a cross position crossing the book (the orders the lean
sweep takes; a counter on ``entry_plain``'s ``enter_crossing`` checks that it did), with the figures the general
path gives (tests/test_fill_guard_sweep_fold.py's cases, there with market orders that take the general path).
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core import entry_plain, entry_sweep
from perpspec.engine.core.events import Execution, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.solvency import FILL_CANCEL_TEXT

ETHUSD = load_instrument("ETHUSD")
HIGH, LOW = 310_000, 295_000


@pytest.fixture
def lean(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many orders the lean sweep entered."""
    calls: list[int] = []
    original = entry_sweep.enter_crossing

    def counting(*args: object) -> None:
        calls.append(1)
        original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(entry_plain, "enter_crossing", counting)
    return calls


def test_liq_044_a_maker_hit_twice_by_a_plain_limit_sell_is_judged_after_its_first_fill(
    lean: list[int],
) -> None:
    # account 3 (2,000,000 XBt) bids 100 at 3,100.00 and 100 at 3,050.00 at a mark of 3,100.00; the mark falls to
    # 2,950.00; a plain limit sell of 200 at 3,050.00 meets both: each fill alone fits the wallet, both do not
    engine = Engine({"ETHUSD": ETHUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=HIGH, index_price=HIGH))
    for account, amount in ((2, 10**10), (3, 2_000_000)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    for price in (HIGH, HIGH - 5_000):
        placed = engine.process(
            c.PlaceOrder(time_ms=0, account=3, symbol="ETHUSD", side="Buy", order_qty=100, price=price)
        )
        assert not isinstance(placed[-1], Rejected), placed[-1]
    engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=LOW, index_price=LOW))
    events = engine.process(
        c.PlaceOrder(time_ms=1, account=2, symbol="ETHUSD", side="Sell", order_qty=200, price=HIGH - 5_000)
    )
    assert lean == [1]
    maker = [
        (e.exec_type, e.last_qty, e.last_px, e.text)
        for e in events
        if isinstance(e, Execution) and e.account == 3
    ]
    assert maker == [("Trade", 100, HIGH, ""), ("Canceled", 0, 0, FILL_CANCEL_TEXT)]
    assert engine.positions(3)["ETHUSD"].qty == 100
    assert engine.positions(2)["ETHUSD"].qty == -100  # the rest of the sell rests at 3,050.00
