"""LIQ-003 after a spot fill: both accounts' liquidation-index entries are refreshed, the incoming order's too.

Found by the session-5 mutation run over ``engine/core/fills.py`` (issue 13): a spot fill spends a wallet that a
cross position in the same currency stands on (LIQ-052 keeps it solvent, not above maintenance), so the account's
liquidation price moves.  tests/test_spot_fill_solvency.py checks this for a resting spot bid of account 1; here
the spender is the incoming order, and the accounts include account 0 (a trader like any other: only the
liquidation engine's negative accounts are left out).

Account 1 (or 0) buys 40,000 XBTUSDT at 50,000.00 on 1,000 USDT, then buys 19,000 XBT_USDT contracts (950 USDT and
0.95 USDT of fee) from account 2 as the incoming order (or rests the bid, 0.475 USDT of fee): 47.55 (48.025) USDT
of equity left.  The mark falls to 49,500.00 (27.55 USDT, above maintenance) and then to 49,000.00: below
maintenance, the position is liquidated at once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.invariants_trading import compute_account_equity

SPOT = load_instrument(str(Path(__file__).resolve().parent.parent / "specs" / "instruments" / "spot" / "XBT_USDT.toml"))
PRICE = 5_000_000


def _spent_on_spot(buyer: int, buyer_rests: bool) -> Engine:
    engine = Engine({"XBT_USDT": SPOT, "XBTUSDT": load_instrument("XBTUSDT")})
    for symbol in ("XBT_USDT", "XBTUSDT"):
        engine.process(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=PRICE, index_price=PRICE))
    engine.process(c.DepositInsurance(time_ms=0, asset="USDt", amount=10**9))
    for account, asset, amount in ((buyer, "USDt", 10**9), (2, "XBt", 10**8), (3, "USDt", 10**12)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset=asset, amount=amount))
    spot = [
        c.PlaceOrder(time_ms=0, account=2, symbol="XBT_USDT", side="Sell", order_qty=19_000, price=PRICE),
        c.PlaceOrder(time_ms=0, account=buyer, symbol="XBT_USDT", side="Buy", order_qty=19_000, price=PRICE),
    ]
    if buyer_rests:
        spot.reverse()
    steps = [
        c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSDT", side="Sell", order_qty=100_000, price=PRICE),
        c.PlaceOrder(time_ms=0, account=buyer, symbol="XBTUSDT", side="Buy", order_qty=40_000, price=PRICE),
        c.PriceUpdate(time_ms=0, symbol="XBTUSDT", mark_price=PRICE, index_price=PRICE),  # the index is fresh again
        *spot,
    ]
    for command in steps:
        assert isinstance(engine.process(command)[-1], Accepted)
    fee = 475_000 if buyer_rests else 950_000  # ACC-002: the maker's 0.05% or the taker's 0.1% of 950 USDT
    assert engine.accounts[buyer].wallets == {"USDt": 48_500_000 - fee, "XBt": 1_900_000}
    return engine


@pytest.mark.parametrize("buyer", [0, 1])
@pytest.mark.parametrize("buyer_rests", [False, True])
def test_liq_003_a_spot_spender_is_liquidated_at_the_first_mark_below_its_new_maintenance(buyer: int, buyer_rests: bool) -> None:
    engine = _spent_on_spot(buyer, buyer_rests)
    account = engine.accounts[buyer]
    engine.process(c.PriceUpdate(time_ms=1, symbol="XBTUSDT", mark_price=4_950_000, index_price=4_950_000))
    assert account.positions["XBTUSDT"].qty == 40_000
    assert compute_account_equity(engine, buyer, "USDt") == (28_025_000 if buyer_rests else 27_550_000)
    engine.process(c.PriceUpdate(time_ms=2, symbol="XBTUSDT", mark_price=4_900_000, index_price=4_900_000))
    assert account.positions["XBTUSDT"].qty == 0
