"""Which orders a liquidation and an ADL cancel: the liquidated pool's contract, the deleveraged contract, no other.

Found by ``python -m tests.mutation engine/core/waterfall.py`` (helper "mutcheck", session 9): mutants #61
(``Waterfall._cancel_pool_orders``: ``order.symbol == member`` -> ``!=``) and #87 (``Waterfall._adl``: the same
change) survived every test naming the waterfall, the slow differential included: no test had a liquidated or
deleveraged account with resting orders in two contracts.  Read through the engine's ``open_orders`` and the
cancellation's execution reports.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Execution, RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.events import AdlFill, Liquidation, OrdersCancelled
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.order_margin import RestingOrder

INSTRUMENTS = {symbol: load_instrument(symbol) for symbol in ("ETHUSD", "XBTUSD")}
ETHUSD = INSTRUMENTS["ETHUSD"]
XBT = 100_000_000


def _run(engine: Engine, command: c.Command) -> list[object]:
    events: list[object] = list(engine.process(command))
    assert isinstance(events[-1], Accepted), events[-1]
    return events


def _engine(deposits: tuple[tuple[int, int], ...]) -> Engine:
    engine = Engine(INSTRUMENTS)
    for symbol, price in (("ETHUSD", 300_000), ("XBTUSD", 5_000_000)):
        _run(engine, c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=price, index_price=price))
    for account, amount in deposits:
        _run(engine, c.VerifyAccount(time_ms=0, account=account))
        _run(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    return engine


def _cancelled(events: list[object]) -> list[tuple[int, str, int, str]]:
    return [(r.account_id, r.symbol, r.open_order_qty, r.reason) for e in events if isinstance(e, RuleEvent)
            and isinstance(r := e.record, OrdersCancelled)]


def _cancel_reports(events: list[object]) -> list[tuple[int, str, str]]:
    return [(e.account, e.symbol, e.text) for e in events if isinstance(e, Execution) and e.exec_type == "Canceled"]


def test_liq_020_an_isolated_pools_liquidation_cancels_its_contracts_orders_only() -> None:
    """LIQ-020: account 3's isolated XBTUSD pool (1,000 at 50,000.00, 100x) is taken over at a mark of 49,628.00;
    its XBTUSD bid is cancelled, its ETHUSD bid (cross, another pool) keeps resting."""
    engine = _engine(((2, 10 * XBT), (3, XBT)))
    _run(engine, c.SetLeverage(time_ms=0, account=3, symbol="XBTUSD", leverage_hundredths=10_000))
    _run(engine, c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Sell", order_qty=1_000, price=5_000_000))
    _run(engine, c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Buy", order_qty=1_000, price=5_000_000))
    _run(engine, c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Buy", order_qty=100, price=4_000_000))
    _run(engine, c.PlaceOrder(time_ms=0, account=3, symbol="ETHUSD", side="Buy", order_qty=10, price=200_000))
    events = _run(engine, c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=4_962_800, index_price=4_962_800))
    assert [(r.account_id, r.pool) for e in events if isinstance(e, RuleEvent)
            and isinstance(r := e.record, Liquidation)] == [(3, "isolated:XBTUSD")]
    assert _cancelled(events) == [(3, "XBTUSD", 100, "liquidation")]
    assert _cancel_reports(events) == [(3, "XBTUSD", "Canceled: liquidation")]
    assert list(engine.open_orders(3)) == [RestingOrder(symbol="ETHUSD", qty=10, price=200_000)]


def test_adl_020_a_deleveraged_account_loses_its_orders_in_that_contract_only() -> None:
    """ADL-020 (tests/test_engine_liquidation.py's scenario): account 1's 25,000 ETHUSD long is taken over at 2,940.00
    with no bid and deleveraged against account 2's short at 2,700.00; account 2's ETHUSD offer is cancelled,
    its XBTUSD bid keeps resting."""
    engine = _engine(((1, 3 * XBT), (2, 1_000 * XBT)))
    for account, steps in ((1, 1), (2, 4)):
        _run(engine, c.SetRiskLimit(time_ms=0, account=account, symbol="ETHUSD",
                                    risk_limit=ETHUSD.risk_limit + steps * ETHUSD.risk_step))
    _run(engine, c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Sell", order_qty=25_000, price=300_000))
    _run(engine, c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=25_000, price=300_000))
    _run(engine, c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Sell", order_qty=10, price=330_000))
    _run(engine, c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Buy", order_qty=100, price=4_000_000))
    _run(engine, c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=294_000, index_price=294_000))
    events = _run(engine, c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=270_000, index_price=270_000))
    assert [r.account_id for e in events if isinstance(e, RuleEvent)
            and isinstance(r := e.record, AdlFill)] == [2]
    assert _cancel_reports(events) == [(2, "ETHUSD", "Canceled: auto-deleveraging")]
    assert list(engine.open_orders(2)) == [RestingOrder(symbol="XBTUSD", qty=100, price=4_000_000)]
