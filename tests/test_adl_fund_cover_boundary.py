"""ADL-031 at its boundary on the engine: a fund that covers the held close-out to the satoshi defers ADL.

Found by ``python -m tests.mutation engine/core/waterfall.py`` (``_close_pending``'s ``cover >= 0``): the fund's
cover (its balance plus the PnL at mark of what the liquidation engine holds) was never exactly 0 in a test.
The crash of tests/test_engine_liquidation.py (ETHUSD, one cross long of 25,000 at 3,000.00 taken over at
2,944.00 and nobody bidding); the next mark is chosen so the cover is exactly 0, then one satoshi-per-contract
step below it (marks are not on the tick grid, reference §4).
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.adl import compute_held_pnl
from perpspec.rules.events import AdlDeferred, AdlFill, Liquidation
from perpspec.rules.instrument_file import load_instrument
from tests.test_engine_liquidation import XBT, open_long, setup

ETHUSD = load_instrument("ETHUSD")


@pytest.mark.parametrize(("step", "cover", "kinds"), [(0, 0, ["AdlDeferred"]), (-1, -25_000, ["AdlFill"])])
def test_adl_031_a_cover_of_exactly_zero_keeps_the_close_out_for_the_book(step: int, cover: int, kinds: list[str]) -> None:
    engine = setup(3 * XBT)
    open_long(engine, 25_000)
    events = engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=294_000, index_price=294_000))
    [liquidation] = [e.record for e in events if isinstance(e, RuleEvent) and isinstance(e.record, Liquidation)]
    [taken] = liquidation.taken
    fund = engine.insurance_funds["XBt"]
    assert fund % 25_000 == 0  # the residual margin: a whole number of satoshis per contract
    mark = taken.takeover_price - fund // 25_000 + step
    assert fund + compute_held_pnl(ETHUSD, taken.qty, taken.takeover_price, mark) == cover
    events = engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=mark, index_price=mark))
    rules = [e for e in events if isinstance(e, RuleEvent)]
    assert [r.kind for r in rules] == kinds
    deferred = [r.record for r in rules if isinstance(r.record, AdlDeferred)]
    assert [r.fund_cover for r in deferred] == ([cover] if step == 0 else [])


def test_adl_031_counts_a_held_close_out_of_one_contract() -> None:
    # the same crash with a long of one contract: its PnL at mark (about -18,500 XBt at 2,700.00) is all the cover
    # has against the fund's few satoshis, so the close-out is deleveraged, not deferred
    engine = Engine({"ETHUSD": ETHUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    for account, amount in ((1, 7_000), (2, XBT)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Sell", order_qty=1, price=300_000))
    engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=1, price=300_000))
    first = engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=294_000, index_price=294_000))
    assert [e.kind for e in first if isinstance(e, RuleEvent)][:1] == ["Liquidation"]
    events = engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=270_000, index_price=270_000))
    fills = [e.record for e in events if isinstance(e, RuleEvent) and isinstance(e.record, AdlFill)]
    assert [(f.account_id, f.close_qty) for f in fills] == [(2, -1)]
