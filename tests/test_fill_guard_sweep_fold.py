"""LIQ-044 over a sweep: each fill is judged on the accounts as the sweep's earlier fills left them.

Found by ``python -m tests.mutation engine/core/fills.py`` (``Fills.make_guard``'s fold of earlier fills, on the
generic rules path): no test had one maker hit twice in a sweep where only the two fills together take it beyond
its bankruptcy price.  Account 3 rests two ETHUSD bids (100 at 3,100.00 and 100 at 3,050.00) while the mark is
3,100.00; the mark falls to 2,950.00; a market sell of 200 meets both.  The first fill loses 1,500,000 XBt
against the mark, the second another 1,000,000: each alone fits the maker's 2,000,000 XBt, both do not, so the
second bid is cancelled (LIQ-044) and not filled.  The same with and without the proved kernels, and when the
taker is account 0 (only the liquidation engine's negative ids trade unchecked).
"""

from __future__ import annotations

from contextlib import nullcontext

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Execution, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.engine.kernels.load import generic_rules_only
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.solvency import FILL_CANCEL_TEXT

ETHUSD = load_instrument("ETHUSD")
HIGH, LOW = 310_000, 295_000


@pytest.mark.parametrize("taker", [2, 0], ids=["taker-2", "taker-0"])
@pytest.mark.parametrize("kernels", [True, False], ids=["kernels", "generic-rules"])
def test_a_maker_hit_twice_in_one_sweep_is_judged_after_its_first_fill(kernels: bool, taker: int) -> None:
    with nullcontext() if kernels else generic_rules_only():
        engine = Engine({"ETHUSD": ETHUSD})
        engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=HIGH, index_price=HIGH))
        for account, amount in ((taker, 10**10), (3, 2_000_000)):
            engine.process(c.VerifyAccount(time_ms=0, account=account))
            engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
        for price in (HIGH, HIGH - 5_000):
            placed = engine.process(c.PlaceOrder(time_ms=0, account=3, symbol="ETHUSD", side="Buy", order_qty=100, price=price))
            assert not isinstance(placed[-1], Rejected), placed[-1]
        engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=LOW, index_price=LOW))
        events = engine.process(
            c.PlaceOrder(time_ms=1, account=taker, symbol="ETHUSD", side="Sell", order_qty=200, ord_type="Market")
        )
        maker = [(e.exec_type, e.last_qty, e.last_px, e.text) for e in events if isinstance(e, Execution) and e.account == 3]
        assert maker == [("Trade", 100, HIGH, ""), ("Canceled", 0, 0, FILL_CANCEL_TEXT)]
        assert engine.positions(3)["ETHUSD"].qty == 100
