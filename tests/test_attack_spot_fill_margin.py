"""Attack review: a spot fill that spends a wallet a cross position needs (ACC-004 spot fills, LIQ-003, LIQ-043).

Found by the session-5 integrity review; fixed on main by LIQ-052 (432e726: the spot fill is
refused and both accounts are refreshed in the liquidation index).  Spot balances and linear-contract margin share the
``USDt`` wallet.  A spot bid reserves its quote amount, so the margin check of a new order
does not count it; but the liquidation test of a cross pool counts the whole wallet,
reservation included.  Account 1 (1,000 USDT) rests a spot bid reserving 945.945 USDT,
opens 40,000 XBTUSDT long on the rest, and the mark falls 4%: the pool (equity 918.5
USDT) is above maintenance only thanks to the reserved money.  Then the spot bid fills:

1. ``Fills._apply_spot_fills`` never marks the two accounts dirty, so the liquidation
   index keeps the position's old liquidation price: at the next mark updates (even
   10% lower) the bankrupt position is never liquidated, INV-NO-NEG-EQUITY-AFTER-ADL
   fails after every update and the hole grows with the price (−147 USDT at −10%).
   Fix (engine/core/fills.py): ``self.risk.dirty[...] = None`` for buyer and seller of
   every spot fill, as Deposit and Withdraw do.
2. The fill itself is not held to LIQ-043 (``solvency = ... and not is_spot(inst)``): it
   takes the account from +918.5 to −26.97 USDT of equity, a loss the insurance fund
   then bears.  Fix, one of: judge a spot fill like a contract fill (a resting spot
   order whose fill would take a pool in its asset below zero is cancelled, LIQ-044), or
   count live spot reservations out of a cross pool's equity in LIQ-003 (reserved money
   is not margin), so the pool is liquidated before the reservation is spent.
"""

from __future__ import annotations

from pathlib import Path

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.invariants import check_all
from perpspec.rules.invariants_trading import compute_account_equity

SPOT = load_instrument(str(Path(__file__).resolve().parent.parent / "specs" / "instruments" / "spot" / "XBT_USDT.toml"))
PRICE = 5_000_000  # 50,000.00
FALLEN = 4_800_000  # −4%: the spot fill would leave the account below zero
FALLEN_LESS = 4_875_000  # −2.5%: the spot fill leaves it above zero, below maintenance


def _spot_bid_filled_after_the_fall(fallen: int = FALLEN) -> Engine:
    engine = Engine({"XBT_USDT": SPOT, "XBTUSDT": load_instrument("XBTUSDT")})
    engine.track_steps = True
    for symbol in ("XBT_USDT", "XBTUSDT"):
        engine.process(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=PRICE, index_price=PRICE))
    engine.process(c.DepositInsurance(time_ms=0, asset="USDt", amount=10**9))
    for account, asset, amount in ((1, "USDt", 10**9), (2, "XBt", 10**8), (3, "USDt", 10**12)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset=asset, amount=amount))
    steps = (
        c.PlaceOrder(time_ms=0, account=1, symbol="XBT_USDT", side="Buy", order_qty=18_900, price=PRICE),
        c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSDT", side="Sell", order_qty=100_000, price=PRICE),
        c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSDT", side="Buy", order_qty=40_000, price=PRICE),
        c.PriceUpdate(time_ms=1, symbol="XBTUSDT", mark_price=fallen, index_price=fallen),
    )
    for command in steps:
        assert isinstance(engine.process(command)[-1], Accepted)
    assert engine.accounts[1].reserved == {"USDt": 945_945_000}
    assert compute_account_equity(engine, 1, "USDt") == 918_500_000 + (fallen - FALLEN) * 40_000 // 100
    assert engine.accounts[1].positions["XBTUSDT"].qty == 40_000
    sold = engine.process(c.PlaceOrder(time_ms=1, account=2, symbol="XBT_USDT", side="Sell", order_qty=18_900, price=PRICE))
    assert isinstance(sold[-1], Accepted)
    return engine


def test_a_position_left_bankrupt_by_a_spot_fill_is_liquidated_at_the_next_mark_update() -> None:
    engine = _spot_bid_filled_after_the_fall()
    engine.process(c.PriceUpdate(time_ms=2, symbol="XBTUSDT", mark_price=FALLEN, index_price=FALLEN))
    violations = {key: found for key, found in check_all(engine, engine.step_info()).items() if found}
    assert violations == {}
    position = engine.accounts[1].positions["XBTUSDT"].qty
    assert position == 0 or compute_account_equity(engine, 1, "USDt") >= 0  # liquidated, or never made bankrupt


def test_a_spot_fill_does_not_take_a_solvent_account_below_zero_equity() -> None:
    engine = _spot_bid_filled_after_the_fall()
    assert compute_account_equity(engine, 1, "USDt") >= 0  # −26,972,500 before LIQ-052


def test_a_spot_bid_whose_fill_would_leave_a_cross_pool_below_maintenance_is_cancelled_not_filled() -> None:
    """Before LIQ-055 the fill was allowed (equity stayed ≥ 0: 3,027,500 USDt, below maintenance) and the next mark
    update liquidated the position.  The bid's 945.945 USDT are now margin in use, not withdrawable: LIQ-055
    cancels the bid instead, and the position keeps its margin (equity 948.5 USDT)."""
    engine = _spot_bid_filled_after_the_fall(FALLEN_LESS)
    assert compute_account_equity(engine, 1, "USDt") == 948_500_000
    assert engine.accounts[1].reserved == {}
    assert "XBt" not in engine.accounts[1].wallets  # nothing bought
    engine.process(c.PriceUpdate(time_ms=2, symbol="XBTUSDT", mark_price=FALLEN_LESS, index_price=FALLEN_LESS))
    assert engine.accounts[1].positions["XBTUSDT"].qty == 40_000  # above maintenance: not liquidated
    assert {key: found for key, found in check_all(engine, engine.step_info()).items() if found} == {}
