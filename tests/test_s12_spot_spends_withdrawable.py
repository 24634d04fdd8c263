"""LIQ-055 and INV-SPOT-SPEND: a spot trade spends only what the account could withdraw (red-team finds 1 and 4, s12).

* find 4: a cross XBTUSDT long +10,000 USDT in profit backed a 9,000 USDT spot buy (the entry check read MRG-050's
  *available* balance, which counts cross unrealised profit; LIQ-052 only kept the cross pool's equity ≥ 0): the
  USDt wallet went to −7,946.5 USDT, the 0.18 XBT were withdrawn, and when the mark came back the insurance fund
  paid.  The same with a spot SELL of XBt backed by an XBTUSD short's profit.  And a withdrawal could take what a
  resting spot bid reserved, leaving the reservation backed only by profit (MRG-064 took the smaller of the
  withdrawable balance and the available balance net of reservations, not the withdrawable balance net of them).
* find 1: a spot market buy was charged at the price the book showed, a maker there was refused at its fill, and the
  sweep went on to a dearer level: the buyer spent money its other spot bid reserved (or margin in use).

Each scenario is asserted on the engine's outcome (fails on the code before LIQ-055), and INV-SPOT-SPEND is shown to
flag the end states the old code reached, so a regression is caught by the engine state machine as well.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from perpspec.engine.core import commands as c
from perpspec.engine.core import risk as risk_module
from perpspec.engine.core.events import Accepted, Event, Execution, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_builtin_instruments, load_instrument
from perpspec.rules.invariants import StepInfo, check_all, check_spot_spend
from perpspec.rules.solvency import FILL_CANCEL_TEXT, compute_spot_spendable, is_spot_spend_withdrawable

SPOT = load_instrument(str(Path(__file__).resolve().parent.parent / "specs" / "instruments" / "spot" / "XBT_USDT.toml"))
COMPILED = not risk_module.__file__.endswith(".py")  # a compiled engine's methods cannot be patched from here
PRICE = 5_000_000  # 50,000.00
RISEN = 6_000_000
T, MM, S, M = 1, 2, 3, 4


def _engine() -> Engine:
    instruments = dict(load_builtin_instruments())
    instruments["XBT_USDT"] = SPOT
    engine = Engine(instruments)
    engine.track_steps = True
    for account in (T, MM, S, M):
        _ok(engine, c.VerifyAccount(time_ms=0, account=account))
    for symbol in ("XBTUSDT", "XBT_USDT", "XBTUSD"):
        _ok(engine, c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=PRICE, index_price=PRICE))
    return engine


def _ok(engine: Engine, command: object) -> list[Event]:
    events = engine.process(command)  # type: ignore[arg-type]
    assert isinstance(events[-1], Accepted), (command, events[-1])
    return events


def _flags(engine: Engine, events: list[Event]) -> dict[str, list[str]]:
    return {key: found for key, found in check_all(engine, engine.step_info(events)).items() if found}


def _long_in_profit(usdt_deposit: int) -> Engine:
    """T (``usdt_deposit`` USDt) is long 1 XBT of XBTUSDT (cross) at 50,000; the mark rises to 60,000 (+10,000 USDT)."""
    engine = _engine()
    _ok(engine, c.Deposit(time_ms=0, account=T, asset="USDt", amount=usdt_deposit))
    _ok(engine, c.Deposit(time_ms=0, account=MM, asset="USDt", amount=10**13))
    _ok(engine, c.Deposit(time_ms=0, account=S, asset="XBt", amount=10**9))
    _ok(engine, c.PlaceOrder(time_ms=0, account=MM, symbol="XBTUSDT", side="Sell", order_qty=1_000_000, price=PRICE))
    _ok(engine, c.PlaceOrder(time_ms=0, account=T, symbol="XBTUSDT", side="Buy", order_qty=1_000_000, price=PRICE))
    return engine


def _rise(engine: Engine) -> None:
    _ok(engine, c.PriceUpdate(time_ms=1, symbol="XBTUSDT", mark_price=RISEN, index_price=RISEN))


# --- the kernels -------------------------------------------------------------------------------------------------


def test_liq_055_spendable_is_the_withdrawable_balance_less_the_other_reservations() -> None:
    assert compute_spot_spendable(1_000, 300) == 700
    assert [is_spot_spend_withdrawable(700, 700), is_spot_spend_withdrawable(699, 700)] == [True, False]
    assert is_spot_spend_withdrawable(-5, 0)  # spending nothing is always allowed


# --- find 4: unrealised profit spent on the spot pair ------------------------------------------------------------


def test_a_spot_buy_backed_by_a_cross_position_s_unrealised_profit_is_refused_and_changes_nothing() -> None:
    engine = _long_in_profit(1_100_000_000)  # 1,100 USDT
    _rise(engine)
    _ok(engine, c.PlaceOrder(time_ms=1, account=S, symbol="XBT_USDT", side="Sell", order_qty=180_000, price=PRICE))
    before = (engine.accounts[T].canonical(), engine.accounts[S].canonical(), engine.live_orders.keys() - set())
    assert engine.desk.withdrawable(engine.accounts[T], "USDt") == 24_250_000  # what a Withdraw may take: 24.25 USDT
    events = engine.process(c.PlaceOrder(time_ms=1, account=T, symbol="XBT_USDT", side="Buy", order_qty=180_000, price=PRICE))
    assert isinstance(events[-1], Rejected)
    assert events[-1].text == "needs 9009000000 USDt, free 24250000"
    assert (engine.accounts[T].canonical(), engine.accounts[S].canonical(), engine.live_orders.keys() - set()) == before
    assert engine.accounts[T].wallets == {"USDt": 1_062_500_000}


def test_a_spot_sell_backed_by_a_short_s_unrealised_profit_is_refused() -> None:
    engine = _engine()
    _ok(engine, c.Deposit(time_ms=0, account=T, asset="XBt", amount=3_000_000))  # 0.03 XBT
    _ok(engine, c.Deposit(time_ms=0, account=MM, asset="XBt", amount=10**11))
    _ok(engine, c.Deposit(time_ms=0, account=S, asset="USDt", amount=10**12))
    _ok(engine, c.PlaceOrder(time_ms=0, account=MM, symbol="XBTUSD", side="Buy", order_qty=100_000, price=PRICE))
    _ok(engine, c.PlaceOrder(time_ms=0, account=T, symbol="XBTUSD", side="Sell", order_qty=100_000, price=PRICE))
    _ok(engine, c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=4_000_000, index_price=4_000_000))
    _ok(engine, c.PlaceOrder(time_ms=1, account=S, symbol="XBT_USDT", side="Buy", order_qty=400_000, price=PRICE))
    events = engine.process(c.PlaceOrder(time_ms=1, account=T, symbol="XBT_USDT", side="Sell", order_qty=400_000, price=PRICE))
    assert isinstance(events[-1], Rejected)
    assert events[-1].text == f"needs 40000000 XBt, free {engine.desk.withdrawable(engine.accounts[T], 'XBt')}"
    assert engine.accounts[T].wallets == {"XBt": 2_850_000}


def test_a_withdrawal_leaves_a_resting_spot_bid_s_reservation_in_place_beside_a_position_in_profit() -> None:
    """MRG-064 netted the reservations from the available balance only: with a cross position +10,000 USDT in profit
    a withdrawal could take the 9,009 USDT a resting spot bid reserved (the reservation then backed by unrealised
    profit: the engine state machine's "reservations never exceed the balance" broken).  Now only the 15.25 USDT
    beyond the reservation may go, and the bid, taken, is paid from money that is there."""
    engine = _long_in_profit(10_100_000_000)  # 10,100 USDT: the bid below is withdrawable money when placed
    _ok(engine, c.PlaceOrder(time_ms=0, account=T, symbol="XBT_USDT", side="Buy", order_qty=180_000, price=PRICE))
    assert engine.accounts[T].reserved == {"USDt": 9_009_000_000}
    _rise(engine)
    assert engine.desk.withdrawable(engine.accounts[T], "USDt") == 15_250_000  # 9,024,250,000 before
    refused = engine.process(c.Withdraw(time_ms=1, account=T, asset="USDt", amount=15_250_001))
    assert isinstance(refused[-1], Rejected)
    _ok(engine, c.Withdraw(time_ms=1, account=T, asset="USDt", amount=15_250_000))
    assert engine.accounts[T].wallets == {"USDt": 10_047_250_000}
    events = _ok(engine, c.PlaceOrder(time_ms=1, account=S, symbol="XBT_USDT", side="Sell", order_qty=180_000, price=PRICE))
    assert [e.exec_type for e in events if isinstance(e, Execution) and e.account == T] == ["Trade"]
    assert engine.accounts[T].wallets == {"USDt": 1_042_750_000, "XBt": 18_000_000}  # the bid's 4.5 USDT maker fee
    assert engine.accounts[T].reserved == {}
    assert _flags(engine, events) == {}


# --- find 1: a spot market order's sweep beyond the price it was charged at -------------------------------------


def _market_buy_after_a_refused_maker(with_position: bool) -> tuple[Engine, list[Event]]:
    """S offers 0.5 XBT at 50,000 (its fill refused: S's XBTUSD long lost 6%), M at 52,000; T market-buys 0.5 XBT."""
    engine = _engine()
    for account, asset, amount in ((S, "XBt", 100_000_000), (M, "XBt", 10**10), (MM, "XBt", 10**10), (MM, "USDt", 10**14)):
        _ok(engine, c.Deposit(time_ms=0, account=account, asset=asset, amount=amount))
    _ok(engine, c.PlaceOrder(time_ms=0, account=S, symbol="XBT_USDT", side="Sell", order_qty=500_000, price=PRICE))
    _ok(engine, c.PlaceOrder(time_ms=0, account=M, symbol="XBT_USDT", side="Sell", order_qty=500_000, price=5_200_000))
    _ok(engine, c.PlaceOrder(time_ms=0, account=MM, symbol="XBTUSD", side="Sell", order_qty=500_000, price=PRICE))
    _ok(engine, c.PlaceOrder(time_ms=0, account=S, symbol="XBTUSD", side="Buy", order_qty=500_000, price=PRICE))
    _ok(engine, c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=4_700_000, index_price=4_700_000))
    need = 25_025_000_000  # 0.5 XBT at 50,000 and the 0.1% taker fee
    if with_position:  # 2 XBT of XBTUSDT cross: its margin is what the dearer level would have spent
        _ok(engine, c.Deposit(time_ms=0, account=T, asset="USDt", amount=need + 2_251_500_000))
        _ok(engine, c.PlaceOrder(time_ms=0, account=MM, symbol="XBTUSDT", side="Sell", order_qty=2_000_000, price=PRICE))
        _ok(engine, c.PlaceOrder(time_ms=0, account=T, symbol="XBTUSDT", side="Buy", order_qty=2_000_000, price=PRICE))
    else:  # a resting spot bid reserves 750.75 USDT of T's balance
        _ok(engine, c.Deposit(time_ms=0, account=T, asset="USDt", amount=need + 1_501_500_000))
        _ok(engine, c.PlaceOrder(time_ms=0, account=T, symbol="XBT_USDT", side="Buy", order_qty=30_000, price=2_500_000))
    events = _ok(engine, c.PlaceOrder(time_ms=0, account=T, symbol="XBT_USDT", side="Buy", order_qty=500_000, ord_type="Market"))
    return engine, events


def _reports_of_t(events: list[Event]) -> list[tuple[str, int, int, str]]:
    return [(e.exec_type, e.last_qty, e.last_px, e.text) for e in events if isinstance(e, Execution) and e.account == T]


def test_a_spot_market_buy_stops_at_the_price_it_was_charged_at_when_the_maker_there_is_refused() -> None:
    engine, events = _market_buy_after_a_refused_maker(with_position=False)
    assert _reports_of_t(events) == [
        ("New", 0, 0, ""),
        ("Canceled", 0, 0, "Canceled: market order reached its price limit"),  # before: a fill at 52,000.00
    ]
    assert engine.accounts[T].wallets == {"USDt": 26_526_500_000}
    assert engine.accounts[T].reserved == {"USDt": 750_750_000}
    assert len(engine.market.books["XBT_USDT"].asks) == 1  # M's offer at 52,000.00 still rests
    assert _flags(engine, events) == {}


def test_a_spot_market_buy_never_spends_a_cross_position_s_margin() -> None:
    engine, events = _market_buy_after_a_refused_maker(with_position=True)
    assert [report[0] for report in _reports_of_t(events)] == ["New", "Canceled"]
    assert engine.available(T, "USDt") >= 0  # -901,000,000 before
    assert _flags(engine, events) == {}


# --- INV-SPOT-SPEND sees the old end states ----------------------------------------------------------------------


def test_inv_spot_spend_flags_a_wallet_left_backed_by_unrealised_profit() -> None:
    engine = _long_in_profit(1_100_000_000)
    _rise(engine)
    engine.accounts[T].wallets["USDt"] = -7_946_500_000  # find 4's end state after the spot buy
    spent = StepInfo(spot_spends=((T, "USDt"),))
    accepted = StepInfo(spot_orders=((T, "USDt", 0),))
    assert len(check_spot_spend(engine, spent)) == 1
    assert len(check_spot_spend(engine, accepted)) == 1
    engine.accounts[T].wallets["USDt"] = 1_062_500_000  # the state before it: the invariant holds
    assert check_spot_spend(engine, spent) == []


def test_inv_spot_spend_flags_an_order_that_spent_what_another_spot_order_reserves() -> None:
    engine = _engine()
    _ok(engine, c.Deposit(time_ms=0, account=T, asset="USDt", amount=500_500_000))  # find 1's end state: 500.5 USDT
    assert check_spot_spend(engine, StepInfo(spot_orders=((T, "USDt", 500_500_000),))) == []
    assert check_spot_spend(engine, StepInfo(spot_orders=((T, "USDt", 750_750_000),))) == [
        "account 1 USDt: a spot trade took 250250000 of margin in use, unrealised profit or money its other spot "
        "orders reserve (750750000)"
    ]


@pytest.mark.skipif(COMPILED, reason="patches a method of the engine's risk component (interpreted only)")
def test_the_state_machine_s_invariant_catches_a_regression_to_the_available_balance(monkeypatch: pytest.MonkeyPatch) -> None:
    """LIQ-055 undone (spot spends judged on MRG-050's available balance, as before): INV-SPOT-SPEND fires."""

    def available(self: risk_module.Risk, account: object, asset: str) -> int:
        return self.account_margin(account, asset).available_margin  # type: ignore[arg-type]

    monkeypatch.setattr(risk_module.Risk, "spot_withdrawable", available)
    engine = _long_in_profit(1_100_000_000)
    _rise(engine)
    _ok(engine, c.PlaceOrder(time_ms=1, account=S, symbol="XBT_USDT", side="Sell", order_qty=180_000, price=PRICE))
    events = _ok(engine, c.PlaceOrder(time_ms=1, account=T, symbol="XBT_USDT", side="Buy", order_qty=180_000, price=PRICE))
    assert engine.accounts[T].wallets["USDt"] == -7_946_500_000
    assert list(_flags(engine, events)) == ["INV-SPOT-SPEND"]


# --- the property: no accepted spot order, no spot fill, spends what could not be withdrawn ----------------------


@settings(max_examples=100, deadline=None)
@given(
    side=st.sampled_from(["Buy", "Sell"]),
    position_qty=st.integers(0, 40).map(lambda lots: lots * 50_000),
    move_ppm=st.integers(-60_000, 60_000),
    deposit=st.integers(1, 60).map(lambda tenths: tenths * 100_000_000),
    orders=st.lists(
        st.tuples(st.sampled_from(["Buy", "Sell"]), st.integers(1, 80), st.integers(-40, 40), st.booleans()),
        min_size=1,
        max_size=6,
    ),
    move_again_ppm=st.integers(-150_000, 150_000),
    taken=st.integers(1, 120),
)
def test_no_accepted_spot_order_leaves_a_spender_below_its_withdrawable_floor(
    side: str, position_qty: int, move_ppm: int, deposit: int, orders: list[tuple[str, int, int, bool]], move_again_ppm: int, taken: int
) -> None:
    """T holds a cross XBTUSDT position (any side, size) and some USDt; the mark moves; T then sends spot orders
    against a book of other accounts' offers and bids and rests some of its own; the mark moves again and other
    accounts' market orders take T's resting ones.  After every command: no invariant fires (INV-SPOT-SPEND among
    them) and T's wallets stay ≥ 0."""
    engine = _engine()
    _ok(engine, c.Deposit(time_ms=0, account=T, asset="USDt", amount=deposit))
    _ok(engine, c.Deposit(time_ms=0, account=T, asset="XBt", amount=10_000_000))
    for account in (MM, S, M):
        _ok(engine, c.Deposit(time_ms=0, account=account, asset="USDt", amount=10**13))
        _ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    if position_qty:
        other = "Sell" if side == "Buy" else "Buy"
        _ok(engine, c.PlaceOrder(time_ms=0, account=MM, symbol="XBTUSDT", side=other, order_qty=position_qty, price=PRICE))
        engine.process(c.PlaceOrder(time_ms=0, account=T, symbol="XBTUSDT", side=side, order_qty=position_qty, price=PRICE))
    mark = PRICE + PRICE * move_ppm // 1_000_000 // 100 * 100
    _ok(engine, c.PriceUpdate(time_ms=1, symbol="XBTUSDT", mark_price=mark, index_price=mark))
    for step in range(1, 9):  # offers from 50,100.00 up and bids from 47,400.00 down, 0.01 XBT each
        for account, book_side, price in ((S, "Sell", PRICE + step * 10_000), (M, "Buy", PRICE - 250_000 - step * 10_000)):
            _ok(engine, c.PlaceOrder(time_ms=1, account=account, symbol="XBT_USDT", side=book_side, order_qty=10_000, price=price))
    for order_side, lots, offset, market in orders:
        command = c.PlaceOrder(
            time_ms=1, account=T, symbol="XBT_USDT", side=order_side, order_qty=lots * 1_000,
            price=None if market else PRICE + offset * 5_000, ord_type="Market" if market else None,
        )
        events = engine.process(command)
        assert _flags(engine, events) == {}
        assert all(amount >= 0 for amount in engine.accounts[T].wallets.values())
        event("T's order refused" if isinstance(events[-1], Rejected) else "T's order accepted")
        if any(isinstance(e, Execution) and e.account == T and e.exec_type == "Trade" for e in events):
            event("T's order traded")
    # the mark moves again, and T's resting spot orders are taken as makers
    mark = PRICE + PRICE * move_again_ppm // 1_000_000 // 100 * 100
    _ok(engine, c.PriceUpdate(time_ms=2, symbol="XBTUSDT", mark_price=mark, index_price=mark))
    for account, taker_side in ((S, "Sell"), (M, "Buy")):
        command = c.PlaceOrder(time_ms=2, account=account, symbol="XBT_USDT", side=taker_side, order_qty=taken * 1_000,
                               ord_type="Market")
        events = engine.process(command)
        assert _flags(engine, events) == {}
        assert all(amount >= 0 for amount in engine.accounts[T].wallets.values())
        mine = [e for e in events if isinstance(e, Execution) and e.account == T]
        if any(e.exec_type == "Trade" for e in mine):
            event("T's resting order taken")
        if any(e.text == FILL_CANCEL_TEXT for e in mine):
            event("T's resting order cancelled by LIQ-055")
