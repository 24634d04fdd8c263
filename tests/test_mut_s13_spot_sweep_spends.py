"""LIQ-055 across one sweep: a maker's earlier fills count against what it may spend (session 13, helper "mutants").

Found by ``python -m tests.mutation engine/core/fills.py`` (``Fills._spot_guard``): the guard folds each earlier fill
of the sweep into what its account has spent (``spent``), and judges the next fill against what a Withdraw could
take less that (``is_spot_spend_withdrawable(room - earlier, amount)``).  No test had one account's two resting
spot orders filled by the same incoming order with the account's room exactly used up, or one unit short: the
sweep could let the second fill spend the same money again (the account's XBt wallet below what its XBTUSD long
needs: a spot sale of margin in use), or refuse a fill the account could pay for, and no test failed.

M deposits 1 XBT and 1,000 USDT, offers 0.01 XBT at 50,000.00 and 0.02 XBT at 50,000.50 on XBT_USDT (sells spend
exactly their base amount: no fee in XBt), then withdraws all it may (its offers keep exactly what they reserve);
account 1 buys through both.  Rules: LIQ-055, LIQ-044 (a refused maker is cancelled with FILL_CANCEL_TEXT).
"""

from __future__ import annotations

import attrs

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Event, Execution, RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument, validate
from perpspec.rules.solvency import FILL_CANCEL_TEXT
from tests.test_s12_spot_spends_withdrawable import PRICE, SPOT, _engine, _ok

M, TAKER, MM = 4, 1, 2


def offered(asks: list[tuple[int, int]], long_xbtusd: int = 0) -> tuple[Engine, list[int]]:
    """M's offers, each ``(qty, price)``, and all else M may withdraw withdrawn; M long ``long_xbtusd`` XBTUSD."""
    engine = _engine()
    for account, asset, amount in ((M, "XBt", 10**8), (M, "USDt", 10**9), (TAKER, "USDt", 10**13), (MM, "XBt", 10**10)):
        _ok(engine, c.Deposit(time_ms=0, account=account, asset=asset, amount=amount))
    if long_xbtusd:
        _ok(engine, c.PlaceOrder(time_ms=0, account=MM, symbol="XBTUSD", side="Sell", order_qty=long_xbtusd, price=PRICE))
        _ok(engine, c.PlaceOrder(time_ms=0, account=M, symbol="XBTUSD", side="Buy", order_qty=long_xbtusd, price=PRICE))
    ids = []
    for qty, price in asks:
        placed = _ok(engine, c.PlaceOrder(time_ms=0, account=M, symbol="XBT_USDT", side="Sell", order_qty=qty, price=price))
        ids.append(placed[-1].order_id)  # type: ignore[attr-defined]
    amount = engine.desk.withdrawable(engine.accounts[M], "XBt")
    _ok(engine, c.Withdraw(time_ms=0, account=M, asset="XBt", amount=amount))
    assert engine.risk.spot_withdrawable(engine.accounts[M], "XBt") == sum(qty for qty, _ in asks) * 100
    return engine, ids


def buy_through(engine: Engine, qty: int, price: int) -> list[Event]:
    placed = c.PlaceOrder(time_ms=1, account=TAKER, symbol="XBT_USDT", side="Buy", order_qty=qty, price=price)
    return _ok(engine, placed)


def m_executions(events: list[Event]) -> list[tuple[int, str, int, str]]:
    return [(e.order_id, e.exec_type, e.last_qty, e.text) for e in events if isinstance(e, Execution) and e.account == M]


def test_one_offer_that_reserved_all_m_may_withdraw_fills() -> None:
    engine, [ask] = offered([(10_000, PRICE)])
    events = buy_through(engine, 10_000, PRICE)
    assert m_executions(events) == [(ask, "Trade", 10_000, "")]
    assert engine.accounts[M].wallets["XBt"] == 0


def test_two_offers_that_reserved_all_m_may_withdraw_both_fill_in_one_sweep() -> None:
    engine, [first, second] = offered([(10_000, PRICE), (20_000, PRICE + 50)])
    events = buy_through(engine, 30_000, PRICE + 50)
    assert m_executions(events) == [(first, "Trade", 10_000, ""), (second, "Trade", 20_000, "")]
    assert engine.accounts[M].wallets["XBt"] == 0


def test_the_second_offer_is_cancelled_when_a_mark_move_left_m_short_of_it() -> None:
    # M is long 1,000 XBTUSD; the mark falls to 49,950.00 after the withdrawal: a Withdraw could now take 2,998,000
    # XBt, the first fill spends 1,000,000 of it and the second would spend 2,000,000 more
    engine, [first, second] = offered([(10_000, PRICE), (20_000, PRICE + 50)], long_xbtusd=1_000)
    _ok(engine, c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=PRICE - 5_000, index_price=PRICE - 5_000))
    assert engine.risk.spot_withdrawable(engine.accounts[M], "XBt") == 2_998_000
    wallet = engine.accounts[M].wallets["XBt"]
    events = buy_through(engine, 30_000, PRICE + 50)
    assert m_executions(events) == [(first, "Trade", 10_000, ""), (second, "Canceled", 0, FILL_CANCEL_TEXT)]
    assert engine.accounts[M].wallets["XBt"] == wallet - 1_000_000
    assert engine.risk.spot_withdrawable(engine.accounts[M], "XBt") == 1_998_000


def test_a_bid_maker_spends_its_fill_value_and_its_fee() -> None:
    # a buy spends the quote value plus its fee: M bids 0.1 XBT at 50,000.00 (reserving 5,000 USDT and the 0.1%
    # taker fee, 5 USDT), withdraws all else, and is long 0.001 XBT of XBTUSDT; the mark falls 5,000.00 (5 USDT of
    # loss): a Withdraw could take exactly the 5,000 USDT of value, not the 2.5 USDT maker fee on top: cancelled
    engine = _engine()
    for account, asset, amount in ((M, "USDt", 6 * 10**9), (TAKER, "XBt", 10**10), (MM, "USDt", 10**13)):
        _ok(engine, c.Deposit(time_ms=0, account=account, asset=asset, amount=amount))
    _ok(engine, c.PlaceOrder(time_ms=0, account=MM, symbol="XBTUSDT", side="Sell", order_qty=1_000, price=PRICE))
    _ok(engine, c.PlaceOrder(time_ms=0, account=M, symbol="XBTUSDT", side="Buy", order_qty=1_000, price=PRICE))
    placed = _ok(engine, c.PlaceOrder(time_ms=0, account=M, symbol="XBT_USDT", side="Buy", order_qty=100_000, price=PRICE))
    bid = placed[-1].order_id  # type: ignore[attr-defined]
    assert engine.accounts[M].reserved == {"USDt": 5_005_000_000}
    _ok(engine, c.Withdraw(time_ms=0, account=M, asset="USDt", amount=engine.desk.withdrawable(engine.accounts[M], "USDt")))
    _ok(engine, c.PriceUpdate(time_ms=1, symbol="XBTUSDT", mark_price=PRICE - 500_000, index_price=PRICE - 500_000))
    assert engine.risk.spot_withdrawable(engine.accounts[M], "USDt") == 5_000_000_000
    events = _ok(engine, c.PlaceOrder(time_ms=1, account=TAKER, symbol="XBT_USDT", side="Sell", order_qty=100_000,
                                      price=PRICE))
    assert m_executions(events) == [(bid, "Canceled", 0, FILL_CANCEL_TEXT)]



def test_an_isolated_loss_left_for_the_next_update_bounds_a_makers_second_fill() -> None:
    # LIQ-052 judges the account's equity, which an isolated position beyond its bankruptcy price has left below
    # what a Withdraw could take (MRG-050 counts only that position's margin): with one liquidation per update,
    # account 5 (higher liquidation price) is liquidated at the mark's fall to 33,333.00 and M's isolated long of
    # 1 XBT at 10x (0.5 XBT of loss on 0.1 XBT of margin) waits for the next update (WaterfallCarried); M's two
    # offers of 0.3 XBT are met by one buy: the first leaves M's equity at 19,923,500 and the second is cancelled
    engine = Engine({"XBTUSD": load_instrument("XBTUSD"), "XBT_USDT": SPOT}, max_liquidations_per_update=1)
    other = 5
    for account in (M, other, MM, TAKER):
        _ok(engine, c.VerifyAccount(time_ms=0, account=account))
    for symbol in ("XBTUSD", "XBT_USDT"):
        _ok(engine, c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=PRICE, index_price=PRICE))
    for account, asset, amount in ((M, "XBt", 10**8), (other, "XBt", 10**7), (MM, "XBt", 10**11), (TAKER, "USDt", 10**13)):
        _ok(engine, c.Deposit(time_ms=0, account=account, asset=asset, amount=amount))
    for account, leverage, qty in ((M, 1_000, 50_000), (other, 5_000, 100_000)):
        _ok(engine, c.SetLeverage(time_ms=0, account=account, symbol="XBTUSD", leverage_hundredths=leverage))
        _ok(engine, c.PlaceOrder(time_ms=0, account=MM, symbol="XBTUSD", side="Sell", order_qty=qty, price=PRICE))
        _ok(engine, c.PlaceOrder(time_ms=0, account=account, symbol="XBTUSD", side="Buy", order_qty=qty, price=PRICE))
    asks = [
        _ok(engine, c.PlaceOrder(time_ms=0, account=M, symbol="XBT_USDT", side="Sell", order_qty=300_000, price=PRICE))
        for _ in range(2)
    ]
    first, second = (placed[-1].order_id for placed in asks)  # type: ignore[attr-defined]
    events = _ok(engine, c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=3_333_300, index_price=3_333_300))
    assert [type(e.record).__name__ for e in events if isinstance(e, RuleEvent)][-1] == "WaterfallCarried"
    assert engine.fills._equities_in(engine.accounts[M], "XBt") == (89_842_500, 49_923_500)  # (cross pool, account)
    assert engine.risk.spot_withdrawable(engine.accounts[M], "XBt") == 89_842_500
    events = buy_through(engine, 600_000, PRICE)
    assert m_executions(events) == [(first, "Trade", 300_000, ""), (second, "Canceled", 0, FILL_CANCEL_TEXT)]


def test_a_spend_of_one_minor_unit_is_recorded_for_inv_spot_spend() -> None:
    # the smallest spend a valid spot pair allows: a lot of 1 contract of 1 XBt (prices in whole USDT: priceScale 1,
    # tick 1, so a lot is whole minor units of quote at every price); the seller's 1 XBt is spent and INV-SPOT-SPEND
    # is told so
    tiny = attrs.evolve(SPOT, lot_size=1, tick_size=1, price_scale=1, max_price=SPOT.max_price // 100, base_multiplier=1)
    assert validate(tiny) is None
    price = PRICE // 100
    engine = Engine({"XBT_USDT": tiny})
    engine.track_steps = True
    for account in (M, TAKER):
        _ok(engine, c.VerifyAccount(time_ms=0, account=account))
    _ok(engine, c.PriceUpdate(time_ms=0, symbol="XBT_USDT", mark_price=price, index_price=price))
    _ok(engine, c.Deposit(time_ms=0, account=M, asset="XBt", amount=1))
    _ok(engine, c.Deposit(time_ms=0, account=TAKER, asset="USDt", amount=10**9))
    _ok(engine, c.PlaceOrder(time_ms=0, account=M, symbol="XBT_USDT", side="Sell", order_qty=1, price=price))
    events = buy_through(engine, 1, price)
    assert engine.step_info(events).spot_spends == ((TAKER, "USDt"), (M, "XBt"))
    assert engine.accounts[M].wallets == {"XBt": 0, "USDt": 49_975}
