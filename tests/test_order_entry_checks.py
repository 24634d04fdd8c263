"""Order entry's own checks on the whole engine: maxPrice, the risk limit, margin of a market order, amend quantities.

Found by ``python -m tests.mutation engine/core/entry.py``: each example below is the one a broken check would
let through (or refuse).  Behaviour through public commands only (PlaceOrder, AmendOrder), so it holds whatever
the order path's implementation.  BitMEX semantics: reference §2 (risk limits), §8 (orders, amend).
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Event, Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.contract import compute_notional
from perpspec.rules.instrument_file import load_instrument

ETHUSD = load_instrument("ETHUSD")  # quanto, tick 5, lot 1, settles in XBt
TRADER, MAKER = 1, 2
MARK = 300_000  # 3,000.00


def _engine(trader_xbt: int = 10**10) -> Engine:
    engine = Engine({"ETHUSD": ETHUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=MARK, index_price=MARK))
    for account, amount in ((TRADER, trader_xbt), (MAKER, 10**12)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    return engine


def _limit(engine: Engine, account: int, side: str, qty: int, price: int) -> list[Event]:
    return engine.process(c.PlaceOrder(time_ms=0, account=account, symbol="ETHUSD", side=side, order_qty=qty, price=price))


def _reason(events: list[Event]) -> Reason | None:
    last = events[-1]
    return last.reason if isinstance(last, Rejected) else None


def _order_id(engine: Engine, account: int) -> int:
    [order_id] = [order_id for order_id, order in engine.live_orders.items() if order.account == account]
    return order_id


def test_a_limit_price_of_exactly_max_price_is_accepted_and_one_tick_more_is_not() -> None:
    engine = _engine()
    assert _reason(_limit(engine, TRADER, "Sell", 1, ETHUSD.max_price)) is None
    assert _reason(_limit(engine, TRADER, "Sell", 1, ETHUSD.max_price + ETHUSD.tick_size)) == Reason.PRICE_TOO_HIGH


def test_an_order_taking_position_and_orders_beyond_the_risk_limit_is_refused() -> None:
    # RSK-007: gross = |position cost| + the larger side of the orders, against the base risk limit
    engine = _engine()
    one_contract = compute_notional(ETHUSD, 1, MARK)  # 300,000 XBt at 3,000.00
    base = ETHUSD.risk_limit
    too_many = base // one_contract + 1
    assert _reason(_limit(engine, TRADER, "Buy", too_many, MARK)) == Reason.RISK_LIMIT_EXCEEDED
    assert engine.live_orders == {}
    assert _reason(_limit(engine, TRADER, "Buy", base // one_contract, MARK)) is None


def test_a_market_order_the_account_cannot_margin_is_refused_when_the_book_could_fill_it() -> None:
    engine = _engine(trader_xbt=1_000_000)  # 0.01 XBT: about 3 contracts at 1x, 33 at the default 100x cross
    assert _reason(_limit(engine, MAKER, "Sell", 10_000, MARK)) is None
    events = engine.process(
        c.PlaceOrder(time_ms=0, account=TRADER, symbol="ETHUSD", side="Buy", order_qty=10_000, ord_type="Market")
    )
    assert _reason(events) == Reason.INSUFFICIENT_MARGIN
    assert "ETHUSD" not in engine.positions(TRADER)


def test_amending_order_qty_of_a_partly_filled_order_leaves_the_difference_open() -> None:
    # BitMEX: orderQty is the total; leavesQty = orderQty - cumQty
    engine = _engine()
    _limit(engine, MAKER, "Sell", 100, MARK)
    _limit(engine, TRADER, "Buy", 40, MARK)
    order_id = _order_id(engine, MAKER)
    assert engine.live_orders[order_id].leaves_qty == 60
    assert _reason(engine.process(c.AmendOrder(time_ms=0, account=MAKER, order_id=order_id, order_qty=80))) is None
    assert engine.live_orders[order_id].leaves_qty == 40


def test_close_without_side_or_quantity_sells_a_long_of_one_contract() -> None:
    # reference §8: Close without orderQty closes the whole position; the side is the opposite of the position
    engine = _engine()
    _limit(engine, MAKER, "Sell", 1, MARK)
    _limit(engine, TRADER, "Buy", 1, MARK)
    assert engine.positions(TRADER)["ETHUSD"].qty == 1
    _limit(engine, MAKER, "Buy", 1, MARK)
    events = engine.process(c.PlaceOrder(time_ms=0, account=TRADER, symbol="ETHUSD", exec_inst="Close", price=MARK))
    assert _reason(events) is None
    assert "ETHUSD" not in engine.positions(TRADER)
