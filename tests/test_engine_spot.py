"""Spot pairs on the same engine: full balance reservation, no margin, no position, no liquidation."""

from __future__ import annotations

from pathlib import Path

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Execution, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.invariants import check_all

SPOT = load_instrument(str(Path(__file__).resolve().parent.parent / "specs" / "instruments" / "spot" / "XBT_USDT.toml"))
PRICE = 5_000_000  # 50,000.00 USDT per XBT


def market() -> Engine:
    engine = Engine({"XBT_USDT": SPOT, "XBTUSDT": load_instrument("XBTUSDT")})
    for symbol in ("XBT_USDT", "XBTUSDT"):
        engine.process(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=PRICE, index_price=PRICE))
    engine.process(c.VerifyAccount(time_ms=0, account=1))
    engine.process(c.Deposit(time_ms=0, account=1, asset="USDt", amount=1_000_000_000))  # 1,000 USDT
    engine.process(c.VerifyAccount(time_ms=0, account=2))
    engine.process(c.Deposit(time_ms=0, account=2, asset="XBt", amount=10_000_000))  # 0.1 XBT
    return engine


def place(engine: Engine, account: int, side: str, qty: int, price: int | None = PRICE) -> list[object]:
    return list(
        engine.process(
            c.PlaceOrder(time_ms=0, account=account, symbol="XBT_USDT", side=side, order_qty=qty, price=price,
                         ord_type=None if price is not None else "Market")
        )
    )


def no_violations(engine: Engine) -> dict[str, list[str]]:
    return {k: v for k, v in check_all(engine, engine.step_info()).items() if v}


def test_buy_reserves_its_value_and_taker_fee() -> None:
    engine = market()
    place(engine, 1, "Buy", 10_000, PRICE - 100)  # 0.01 XBT at 49,999: 499.99 USDT + 0.1% fee
    assert engine.accounts[1].reserved == {"USDt": 499_990_000 + 499_990}


def test_buy_beyond_the_free_quote_balance_is_rejected() -> None:
    engine = market()
    events = place(engine, 1, "Buy", 20_000, PRICE - 100)  # 999.98 USDT + fee > 1,000 USDT
    last = events[-1]
    assert isinstance(last, Rejected)
    assert last.reason.value == "InsufficientBalance"


def test_sell_needs_the_base_asset() -> None:
    engine = market()
    events = place(engine, 1, "Sell", 100, PRICE)
    assert isinstance(events[-1], Rejected)


def test_trade_moves_quote_one_way_and_base_the_other_with_fees_in_quote() -> None:
    engine = market()
    place(engine, 2, "Sell", 10_000, PRICE)  # 0.01 XBT, maker
    events = place(engine, 1, "Buy", 10_000, PRICE)
    trades = [e for e in events if isinstance(e, Execution) and e.exec_type == "Trade"]
    assert [t.last_qty for t in trades] == [10_000, 10_000]
    value = 500_000_000  # 500 USDT
    assert engine.wallet(1, "XBt") == 1_000_000
    assert engine.wallet(1, "USDt") == 1_000_000_000 - value - 500_000  # taker 0.1%
    assert engine.wallet(2, "XBt") == 9_000_000
    assert engine.wallet(2, "USDt") == value - 250_000  # maker 0.05%
    assert engine.fee_pool("USDt") == 750_000
    assert engine.accounts[1].reserved == {}
    assert engine.accounts[2].reserved == {}
    assert engine.positions(1) == {}
    assert no_violations(engine) == {}


def test_cancel_releases_the_reservation() -> None:
    engine = market()
    events = place(engine, 2, "Sell", 10_000, PRICE + 1_000)
    order_id = events[-1].order_id  # type: ignore[attr-defined]
    assert engine.accounts[2].reserved == {"XBt": 1_000_000}
    engine.process(c.CancelOrder(time_ms=0, account=2, order_id=order_id))
    assert engine.accounts[2].reserved == {}


def test_reserved_quote_cannot_be_withdrawn() -> None:
    engine = market()
    place(engine, 1, "Buy", 10_000, PRICE - 100)
    events = engine.process(c.Withdraw(time_ms=0, account=1, asset="USDt", amount=600_000_000))
    assert isinstance(events[-1], Rejected)


def test_spot_has_no_leverage_stops_or_reduce_only() -> None:
    engine = market()
    lev = engine.process(c.SetLeverage(time_ms=0, account=1, symbol="XBT_USDT", leverage_hundredths=1_000))
    stop = engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="XBT_USDT", side="Buy", order_qty=100,
                                       ord_type="Stop", stop_px=PRICE))
    reduce = engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="XBT_USDT", side="Buy", order_qty=100,
                                         price=PRICE, exec_inst="ReduceOnly"))
    assert [e[-1].reason.value for e in (lev, stop, reduce) if isinstance(e[-1], Rejected)] == [
        "NotSupportedOnSpot", "NotSupportedOnSpot", "NotSupportedOnSpot"
    ]


def test_spot_reservation_also_limits_perpetual_margin_in_the_same_asset() -> None:
    engine = market()
    place(engine, 1, "Buy", 19_000, PRICE - 100)  # reserves ~950.93 USDT of 1,000
    events = engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSDT", side="Buy", order_qty=100_000,
                                         price=PRICE - 100))  # 0.1 XBT at 50x: ~100 USDT margin
    assert isinstance(events[-1], Rejected)
    assert isinstance(engine.process(c.CancelAll(time_ms=0, account=1))[-1], Accepted)
    events = engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSDT", side="Buy", order_qty=100_000,
                                         price=PRICE - 100))
    assert isinstance(events[-1], Accepted)
