"""LIQ-052's account-equity side: it decides when an isolated position past its bankruptcy price is still held.

The two open mutants of the session-5 mutation run over the new code (``Fills._equities_in`` counting the equity
one minor unit high, ``Fills._spot_guard`` adding instead of subtracting what earlier fills of the same sweep
spent) change a decision only when the account's equity in the currency is below its cross pool's equity, i.e.
an isolated position's loss exceeds its margin.  A bounded waterfall leaves such a position with its owner until
a later update (``max_liquidations_per_update``): here the limit is 1, account 1 is taken over and account 4
keeps an isolated 50x XBTUSDT long 4% under water (loss 200 USDT against a margin of 103.8 USDT).  Its cross pool
(wallet less isolated margin) is then 96.175 USDT above its equity, so LIQ-052's equity condition is the binding
one, and it is checked to the minor unit and across two fills of one sweep.
"""

from __future__ import annotations

from pathlib import Path

from perpspec.engine.core import commands as c
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.invariants_trading import compute_account_equity
from perpspec.rules.solvency import FILL_CANCEL_TEXT

SPOT = load_instrument(str(Path(__file__).resolve().parent.parent / "specs" / "instruments" / "spot" / "XBT_USDT.toml"))
PRICE = 5_000_000  # 50,000.00
FALLEN = 4_800_000


def _carried_over(deposit: int, bids: tuple[tuple[int, int], ...]) -> Engine:
    """Accounts 4 and 1 isolated 50x long 100,000 XBTUSDT; account 4 rests spot ``bids``; the mark falls 4%."""
    engine = Engine({"XBT_USDT": SPOT, "XBTUSDT": load_instrument("XBTUSDT")}, max_liquidations_per_update=1)
    for symbol in ("XBT_USDT", "XBTUSDT"):
        engine.process(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=PRICE, index_price=PRICE))
    engine.process(c.DepositInsurance(time_ms=0, asset="USDt", amount=10**12))
    for account, asset, amount in ((1, "USDt", 10**9), (4, "USDt", deposit), (2, "XBt", 10**9), (3, "USDt", 10**13)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset=asset, amount=amount))
    for account in (4, 1):
        engine.process(c.SetLeverage(time_ms=0, account=account, symbol="XBTUSDT", leverage_hundredths=5_000))
        engine.process(c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSDT", side="Sell", order_qty=100_000, price=PRICE))
        engine.process(c.PlaceOrder(time_ms=0, account=account, symbol="XBTUSDT", side="Buy", order_qty=100_000, price=PRICE))
    for qty, price in bids:
        engine.process(c.PlaceOrder(time_ms=0, account=4, symbol="XBT_USDT", side="Buy", order_qty=qty, price=price))
    engine.process(c.PriceUpdate(time_ms=1, symbol="XBTUSDT", mark_price=FALLEN, index_price=FALLEN))
    assert engine.accounts[1].positions["XBTUSDT"].qty == 0  # taken over: the one liquidation of this update
    assert engine.accounts[4].positions["XBTUSDT"].qty == 100_000  # carried over, past its bankruptcy price
    return engine


def _sell(engine: Engine, qty: int, price: int) -> int:
    """Account 2 sells ``qty`` spot at ``price``; how many of account 4's bids LIQ-052 cancelled."""
    events = engine.process(c.PlaceOrder(time_ms=2, account=2, symbol="XBT_USDT", side="Sell", order_qty=qty, price=price))
    return [getattr(event, "text", None) for event in events].count(FILL_CANCEL_TEXT)


def test_liq_052_a_fill_leaving_the_account_at_exactly_zero_equity_executes_and_one_unit_more_does_not() -> None:
    # 8,000 at 50,000.00 spend 400,200,000 USDt (the value and the maker fee)
    at_zero = _carried_over(603_950_000, ((8_000, PRICE),))
    assert compute_account_equity(at_zero, 4, "USDt") == 400_200_000
    assert _sell(at_zero, 8_000, PRICE) == 0
    assert at_zero.accounts[4].wallets["XBt"] == 800_000
    short = _carried_over(603_949_999, ((8_000, PRICE),))
    assert compute_account_equity(short, 4, "USDt") == 400_199_999
    assert _sell(short, 8_000, PRICE) == 1
    assert short.accounts[4].wallets.get("XBt", 0) == 0


def test_liq_052_a_second_fill_of_the_sweep_is_judged_after_what_the_first_spent() -> None:
    engine = _carried_over(10**9, ((8_000, PRICE), (9_000, PRICE - 100)))
    assert engine.fills._equities_in(engine.accounts[4], "USDt") == (892_425_000, 796_250_000)
    assert _sell(engine, 17_000, PRICE - 100) == 1  # the first bid fills, the second would take equity below 0
    assert engine.accounts[4].wallets["XBt"] == 800_000
