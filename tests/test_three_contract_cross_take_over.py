"""LIQ-023/035/037 for a cross pool of three contracts: the engine takes it over at the rules model's prices.

Found by ``python -m tests.mutation engine/core/waterfall.py`` (``Waterfall._take_over``): LIQ-035 prices every
position but the first at what the pool's residual *plus the PnL at mark of the positions still to take* needs, and
LIQ-037 lets the last one go beyond the price range; with two positions the middle term is always empty, and the
whole-waterfall differential (tests/test_waterfall_differential.py) has pools of at most two contracts.  Account 1
(1 XBT, cross) is long ETHUSD, XBTUSD and XBTZ26 (all settled in XBt, all within their base risk limits); ETHUSD's
mark falls.  The engine's take-over records must equal ``rules.waterfall.process_waterfall`` on the same state.
"""

from __future__ import annotations

import attrs
import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.adl import POLICIES
from perpspec.rules.events import Liquidation
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.waterfall import process_waterfall
from tests.test_waterfall_differential import MAKER, ledger_of

INSTRUMENTS = {symbol: load_instrument(symbol) for symbol in ("ETHUSD", "XBTUSD", "XBTZ26")}
START = {"ETHUSD": 300_000, "XBTUSD": 5_000_000, "XBTZ26": 5_000_000}
SIZES = {"ETHUSD": 10_000, "XBTUSD": 500_000, "XBTZ26": 300_000}


@pytest.mark.parametrize("xbt_mark", [5_000_000, 4_960_000, 5_040_000])
@pytest.mark.parametrize("mark", [285_000, 240_000, 150_000])
def test_a_three_contract_cross_pool_is_taken_over_at_the_rules_prices(mark: int, xbt_mark: int) -> None:
    engine = Engine(INSTRUMENTS)
    for symbol, price in START.items():
        engine.process(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=price, index_price=price))
    for account, amount in ((1, 10**8), (2, 10**12), (MAKER, 10**8)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    for symbol, qty in SIZES.items():
        engine.process(c.PlaceOrder(time_ms=0, account=2, symbol=symbol, side="Sell", order_qty=qty, price=START[symbol]))
        engine.process(c.PlaceOrder(time_ms=0, account=1, symbol=symbol, side="Buy", order_qty=qty, price=START[symbol]))
    assert sorted(engine.positions(1)) == ["ETHUSD", "XBTUSD", "XBTZ26"]
    for symbol in ("XBTUSD", "XBTZ26"):  # the positions still to take carry a PnL at mark (LIQ-035's middle term)
        engine.process(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=xbt_mark, index_price=xbt_mark))
    ledger, books = ledger_of(engine)
    moved = attrs.evolve(ledger, marks={**ledger.marks, "ETHUSD": mark}, clock_ms=ledger.clock_ms + 1)
    rules = process_waterfall(moved, books, POLICIES["ranked-queue"], moved="ETHUSD")
    events = engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=mark, index_price=mark))
    by_engine = [e.record for e in events if isinstance(e, RuleEvent) and isinstance(e.record, Liquidation)]
    by_rules = [r for r in rules.events if isinstance(r, Liquidation)]
    assert [len(r.taken) for r in by_engine] == [3]
    assert [(r.taken, r.residual_margin) for r in by_engine] == [(r.taken, r.residual_margin) for r in by_rules]
