"""Spot execution reports on the whole engine: a resting order's leavesQty and cumQty after each partial fill.

Found by ``python -m tests.mutation engine/core/fills.py``: the spot path's maker reports were never read.
BitMEX (reference §8): every Trade execution carries the order's remaining ``leavesQty`` and filled ``cumQty``;
they always sum to ``orderQty``.
"""

from __future__ import annotations

from pathlib import Path

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Execution, Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument

SPOT = load_instrument(str(Path(__file__).resolve().parent.parent / "specs" / "instruments" / "spot" / "XBT_USDT.toml"))
PRICE = 5_000_000
SELLER, BUYER = 2, 1


def _market() -> Engine:
    engine = Engine({"XBT_USDT": SPOT})
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBT_USDT", mark_price=PRICE, index_price=PRICE))
    engine.process(c.VerifyAccount(time_ms=0, account=BUYER))
    engine.process(c.Deposit(time_ms=0, account=BUYER, asset="USDt", amount=10_000_000_000))
    engine.process(c.VerifyAccount(time_ms=0, account=SELLER))
    engine.process(c.Deposit(time_ms=0, account=SELLER, asset="XBt", amount=100_000_000))
    return engine


def _trades(events: list[object], account: int) -> list[tuple[int, int, int]]:
    return [
        (e.last_qty, e.leaves_qty, e.cum_qty)
        for e in events
        if isinstance(e, Execution) and e.exec_type == "Trade" and e.account == account
    ]


def test_a_resting_spot_order_reports_what_is_left_and_what_is_filled_after_each_fill() -> None:
    engine = _market()
    lot = SPOT.lot_size
    engine.process(c.PlaceOrder(time_ms=0, account=SELLER, symbol="XBT_USDT", side="Sell", order_qty=10 * lot, price=PRICE))
    first = engine.process(c.PlaceOrder(time_ms=0, account=BUYER, symbol="XBT_USDT", side="Buy", order_qty=4 * lot, price=PRICE))
    second = engine.process(c.PlaceOrder(time_ms=0, account=BUYER, symbol="XBT_USDT", side="Buy", order_qty=3 * lot, price=PRICE))
    assert _trades(first, SELLER) == [(4 * lot, 6 * lot, 4 * lot)]
    assert _trades(second, SELLER) == [(3 * lot, 3 * lot, 7 * lot)]
    assert _trades(second, BUYER) == [(3 * lot, 0, 3 * lot)]


def test_an_iceberg_filled_several_times_in_one_sweep_reports_each_fill_in_turn() -> None:
    engine = _market()
    lot = SPOT.lot_size
    engine.process(
        c.PlaceOrder(time_ms=0, account=SELLER, symbol="XBT_USDT", side="Sell", order_qty=10 * lot, price=PRICE,
                     display_qty=2 * lot)
    )
    events = engine.process(c.PlaceOrder(time_ms=0, account=BUYER, symbol="XBT_USDT", side="Buy", order_qty=6 * lot, price=PRICE))
    reports = _trades(events, SELLER)
    assert sum(qty for qty, _, _ in reports) == 6 * lot
    assert all(leaves + cum == 10 * lot for _, leaves, cum in reports)
    assert [cum for _, _, cum in reports] == sorted({cum for _, _, cum in reports})  # rising, each fill counted once
    assert reports[-1][1:] == (4 * lot, 6 * lot)


def test_a_spot_taker_that_rests_after_two_fills_shows_their_average_price() -> None:
    engine = _market()
    lot = SPOT.lot_size
    for qty, price in ((lot, PRICE), (3 * lot, PRICE + 100)):
        engine.process(c.PlaceOrder(time_ms=0, account=SELLER, symbol="XBT_USDT", side="Sell", order_qty=qty, price=price))
    engine.process(c.PlaceOrder(time_ms=0, account=BUYER, symbol="XBT_USDT", side="Buy", order_qty=5 * lot, price=PRICE + 100))
    [order] = [order for order in engine.live_orders.values() if order.account == BUYER]
    assert (order.cum_qty, order.avg_px()) == (4 * lot, (PRICE + 3 * (PRICE + 100)) // 4)


def test_a_spot_buy_may_be_amended_up_to_exactly_the_free_quote_balance() -> None:
    lot = SPOT.lot_size
    price = PRICE - 100  # rests: no asks
    probe = _market()
    probe.process(c.PlaceOrder(time_ms=0, account=BUYER, symbol="XBT_USDT", side="Buy", order_qty=2 * lot, price=price))
    need_two = probe.accounts[BUYER].reserved["USDt"]  # value + taker fee of 2 lots
    engine = Engine({"XBT_USDT": SPOT})
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBT_USDT", mark_price=PRICE, index_price=PRICE))
    engine.process(c.VerifyAccount(time_ms=0, account=BUYER))
    engine.process(c.Deposit(time_ms=0, account=BUYER, asset="USDt", amount=need_two))
    engine.process(c.PlaceOrder(time_ms=0, account=BUYER, symbol="XBT_USDT", side="Buy", order_qty=lot, price=price))
    order_id = max(engine.live_orders)
    exact = engine.process(c.AmendOrder(time_ms=0, account=BUYER, order_id=order_id, order_qty=2 * lot))
    beyond = engine.process(c.AmendOrder(time_ms=0, account=BUYER, order_id=order_id, order_qty=3 * lot))
    assert not isinstance(exact[-1], Rejected)
    assert isinstance(beyond[-1], Rejected)
    assert beyond[-1].reason == Reason.INSUFFICIENT_BALANCE
    assert engine.accounts[BUYER].reserved["USDt"] == need_two
