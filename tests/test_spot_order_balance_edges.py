"""A spot order reserves what it needs (reference §8 spot): exactly the free balance is enough, one lot more is not.

Found by ``python -m tests.mutation engine/core/entry.py`` (``check_entry``'s ``need > free``): no test placed a
spot order needing exactly the free balance.  XBT_USDT (lot 100, 100 satoshis per unit of quantity); the seller
holds 1 XBT and sells all of it, the buyer holds exactly one order's quote value plus the taker fee.
"""

from __future__ import annotations

from pathlib import Path

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.contract import compute_notional
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.position import compute_commission

SPOT = load_instrument(str(Path(__file__).resolve().parent.parent / "specs" / "instruments" / "spot" / "XBT_USDT.toml"))
PRICE = 5_000_000
XBT = 100_000_000


def _market(buyer_usdt: int) -> Engine:
    engine = Engine({"XBT_USDT": SPOT})
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBT_USDT", mark_price=PRICE, index_price=PRICE))
    for account, asset, amount in ((1, "USDt", buyer_usdt), (2, "XBt", XBT)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset=asset, amount=amount))
    return engine


def _order(account: int, side: str, qty: int, price: int) -> c.PlaceOrder:
    return c.PlaceOrder(time_ms=0, account=account, symbol="XBT_USDT", side=side, order_qty=qty, price=price)


def test_a_spot_sell_of_the_whole_free_base_balance_is_accepted_and_one_lot_more_refused() -> None:
    whole = XBT // SPOT.base_multiplier
    engine = _market(0)
    over = engine.process(_order(2, "Sell", whole + SPOT.lot_size, PRICE + 1_000))[-1]
    assert isinstance(over, Rejected), over
    assert over.reason == Reason.INSUFFICIENT_BALANCE
    assert not isinstance(engine.process(_order(2, "Sell", whole, PRICE + 1_000))[-1], Rejected)


def test_a_spot_buy_of_exactly_the_free_quote_balance_with_its_fee_is_accepted() -> None:
    qty = 10 * SPOT.lot_size
    value = compute_notional(SPOT, qty, PRICE - 1_000)
    need = value + compute_commission(value, SPOT.taker_fee_ppm)
    short = _market(need - 1).process(_order(1, "Buy", qty, PRICE - 1_000))[-1]
    assert isinstance(short, Rejected), short
    assert short.reason == Reason.INSUFFICIENT_BALANCE
    assert not isinstance(_market(need).process(_order(1, "Buy", qty, PRICE - 1_000))[-1], Rejected)


def test_a_spot_amend_beyond_the_free_balance_names_what_more_it_needs() -> None:
    # the reservation already held counts: the refusal names only the extra amount
    qty = 10 * SPOT.lot_size
    price = PRICE - 1_000
    value = compute_notional(SPOT, qty, price)
    need = value + compute_commission(value, SPOT.taker_fee_ppm)
    engine = _market(need)
    assert not isinstance(engine.process(_order(1, "Buy", qty, price))[-1], Rejected)
    order_id = max(engine.live_orders)
    bigger = engine.process(c.AmendOrder(time_ms=0, account=1, order_id=order_id, order_qty=2 * qty))[-1]
    assert isinstance(bigger, Rejected), bigger
    value_2 = compute_notional(SPOT, 2 * qty, price)
    more = value_2 + compute_commission(value_2, SPOT.taker_fee_ppm) - need
    assert (bigger.reason, bigger.text) == (Reason.INSUFFICIENT_BALANCE, f"needs {more} more USDt, free 0")


def test_a_partly_filled_spot_maker_stays_live_with_the_rest_reserved_and_a_filled_one_is_gone() -> None:
    engine = _market(10**12)
    lot = SPOT.lot_size
    assert not isinstance(engine.process(_order(2, "Sell", 10 * lot, PRICE))[-1], Rejected)
    [maker_id] = list(engine.live_orders)
    engine.process(_order(1, "Buy", 4 * lot, PRICE))
    assert engine.live_orders[maker_id].leaves_qty == 6 * lot
    assert engine.accounts[2].reserved["XBt"] == 6 * lot * SPOT.base_multiplier
    engine.process(_order(1, "Buy", 6 * lot, PRICE))
    assert maker_id not in engine.live_orders
    assert engine.accounts[2].reserved.get("XBt", 0) == 0
