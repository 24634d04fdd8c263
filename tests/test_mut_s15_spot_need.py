"""A spot buy's reservation when its taker fee is zero (session 15, helper "mut15").

``registry.spot_need`` (session 14 moved it out of ``OrderRegistry`` for the state check to use): a buy reserves its
quote value plus its taker fee, the fee never counted below 0 (``max(0, fee)``: a rebate is not credited ahead of
the trade).  Every spot instrument the suite used charged a positive taker fee (at least 1 unit, rounded up), so
``max(1, fee)`` passed every test.  A spot instrument may charge no fee (takerFee 0 is valid); then a buy of 100 XBT_USDT (0.0001 XBT) at 50,000.00
reserves its value, 5,000,000 USDt, exactly.  Rules: LIQ-055 (a spot order reserves what it may spend), ACC-002
(the commission, rounded up toward the fee pool: 0 with no fee).
"""

from __future__ import annotations

import attrs

from perpspec.engine.core import commands as c
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.registry import spot_need
from perpspec.rules.instrument_file import load_builtin_instruments
from tests.test_s12_spot_spends_withdrawable import PRICE, SPOT, _ok

VALUE = 5_000_000  # 100 contracts at 50,000.00, in USDt


def test_liq_055_a_spot_buy_with_no_taker_fee_reserves_its_value_exactly() -> None:
    tier = attrs.evolve(SPOT.fee_tiers[0], maker_fee_ppm=0, taker_fee_ppm=0)
    inst = attrs.evolve(SPOT, maker_fee_ppm=0, taker_fee_ppm=0, fee_tiers=(tier,))
    assert spot_need(inst, True, 100, PRICE) == ("USDt", VALUE)
    instruments = dict(load_builtin_instruments())
    instruments["XBT_USDT"] = inst
    engine = Engine(instruments)
    _ok(engine, c.VerifyAccount(time_ms=0, account=1))
    _ok(engine, c.PriceUpdate(time_ms=0, symbol="XBT_USDT", mark_price=PRICE, index_price=PRICE))
    _ok(engine, c.Deposit(time_ms=0, account=1, asset="USDt", amount=VALUE))
    _ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol="XBT_USDT", side="Buy", order_qty=100, price=PRICE))
    assert engine.accounts[1].reserved == {"USDt": VALUE}
