"""LIQ-052: a spot fill never spends the margin a cross position in the same currency stands on.

Found by the session-5 attack review.  Spot balances and linear-contract margin share the ``USDt`` wallet.  A
resting spot bid reserves its quote amount, so a new order's margin check (MRG-060) does not count it, but the
liquidation trigger of a cross pool (LIQ-003) counts the whole wallet.  Account 1 (1,000 USDT) rests a spot bid,
opens 40,000 XBTUSDT long on the rest, and the mark falls 4%: the pool is above maintenance only thanks to the
reserved money.  Before the fix, the spot bid then filled (the pool went to -26.97 USDT, a loss the insurance fund
bears), and the two accounts were never marked for the liquidation index, so the bankrupt position was never
liquidated as the mark kept falling.
"""

from __future__ import annotations

from pathlib import Path

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.invariants import check_all
from perpspec.rules.invariants_trading import compute_account_equity
from perpspec.rules.solvency import FILL_CANCEL_TEXT, is_spot_spend_allowed

SPOT = load_instrument(str(Path(__file__).resolve().parent.parent / "specs" / "instruments" / "spot" / "XBT_USDT.toml"))
PRICE = 5_000_000  # 50,000.00
FALLEN = 4_800_000  # -4%


def test_liq_052_a_spend_is_allowed_exactly_when_both_stay_non_negative() -> None:
    assert is_spot_spend_allowed(100, 100, 100)
    assert not is_spot_spend_allowed(99, 100, 100)
    assert not is_spot_spend_allowed(100, 99, 100)
    assert is_spot_spend_allowed(-5, -5, 0)  # spending nothing never makes it worse
    assert not is_spot_spend_allowed(-5, 10, 1)


def _engine_after_the_fall(bid_qty: int) -> Engine:
    """Account 1 rests a spot bid of ``bid_qty`` at 50,000.00, buys 40,000 XBTUSDT, and the mark falls 4%."""
    engine = Engine({"XBT_USDT": SPOT, "XBTUSDT": load_instrument("XBTUSDT")})
    engine.track_steps = True
    for symbol in ("XBT_USDT", "XBTUSDT"):
        engine.process(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=PRICE, index_price=PRICE))
    engine.process(c.DepositInsurance(time_ms=0, asset="USDt", amount=10**9))
    for account, asset, amount in ((1, "USDt", 10**9), (2, "XBt", 10**8), (3, "USDt", 10**12)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset=asset, amount=amount))
    steps = (
        c.PlaceOrder(time_ms=0, account=1, symbol="XBT_USDT", side="Buy", order_qty=bid_qty, price=PRICE),
        c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSDT", side="Sell", order_qty=100_000, price=PRICE),
        c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSDT", side="Buy", order_qty=40_000, price=PRICE),
        c.PriceUpdate(time_ms=1, symbol="XBTUSDT", mark_price=FALLEN, index_price=FALLEN),
    )
    for command in steps:
        assert isinstance(engine.process(command)[-1], Accepted)
    assert compute_account_equity(engine, 1, "USDt") == 918_500_000
    return engine


def test_liq_052_a_resting_spot_bid_whose_fill_would_bankrupt_the_pool_is_cancelled_not_filled() -> None:
    engine = _engine_after_the_fall(18_900)  # reserves 945.945 USDT of the 918.5 USDT equity
    fund = engine.insurance_funds["USDt"]
    events = engine.process(c.PlaceOrder(time_ms=1, account=2, symbol="XBT_USDT", side="Sell", order_qty=18_900, price=PRICE))
    assert isinstance(events[-1], Accepted)
    cancels = [e for e in events if getattr(e, "text", None) == FILL_CANCEL_TEXT]
    assert len(cancels) == 1
    assert engine.accounts[1].reserved == {}
    assert "XBt" not in engine.accounts[1].wallets  # nothing bought
    assert compute_account_equity(engine, 1, "USDt") == 918_500_000
    engine.process(c.PriceUpdate(time_ms=2, symbol="XBTUSDT", mark_price=FALLEN, index_price=FALLEN))
    assert {key: found for key, found in check_all(engine, engine.step_info()).items() if found} == {}
    assert engine.insurance_funds["USDt"] == fund


def test_liq_055_a_resting_spot_bid_whose_fill_would_spend_margin_in_use_is_cancelled_not_filled() -> None:
    """Before LIQ-055 this fill was executed (it left 18.05 USDT of equity: solvent, below maintenance) and the
    next mark update liquidated the position.  The 900.9 USDT it spends are margin in use after the fall."""
    engine = _engine_after_the_fall(18_000)
    events = engine.process(c.PlaceOrder(time_ms=1, account=2, symbol="XBT_USDT", side="Sell", order_qty=18_000, price=PRICE))
    assert isinstance(events[-1], Accepted)
    assert [e.text for e in events if getattr(e, "text", None) == FILL_CANCEL_TEXT] == [FILL_CANCEL_TEXT]
    assert "XBt" not in engine.accounts[1].wallets
    assert compute_account_equity(engine, 1, "USDt") == 918_500_000
    assert not engine.risk.below_maintenance(engine.accounts[1], "XBTUSDT")
    engine.process(c.PriceUpdate(time_ms=2, symbol="XBTUSDT", mark_price=FALLEN, index_price=FALLEN))
    assert {key: found for key, found in check_all(engine, engine.step_info()).items() if found} == {}
    assert engine.accounts[1].positions["XBTUSDT"].qty == 40_000
