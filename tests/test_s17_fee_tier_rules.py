"""ACC-008 / ACC-009 (session 17): the fee tier and a fill's USD volume are rules (``rules.fee_tier``), proved.

They decide which rate a fill pays, so they are money; red team 19 found them in the engine with no rule id, no
obligation and no waiver.  The engine's ``Account.fee_tier`` and the fill path call these functions; the values are
the ones the engine computed before (the suites of issue 9's fee tiers pass unchanged).
"""

from __future__ import annotations

import pytest

from perpspec.engine.core.accounts import compute_fee_tier as engine_fee_tier
from perpspec.engine.core.accounts import compute_usd_volume as engine_usd_volume
from perpspec.rules.fee_tier import (
    FEE_WINDOW_DAYS,
    compute_fee_tier,
    compute_usd_volume,
    compute_window_volume,
)
from perpspec.rules.instrument_file import load_instrument

XBTUSD = load_instrument("XBTUSD")
XBTUSDT = load_instrument("XBTUSDT")
ETHUSD = load_instrument("ETHUSD")


def test_acc_008_the_window_is_the_30_days_before_the_day() -> None:
    day = 20_000
    history = ((day - 31, 7), (day - 30, 11), (day - 1, 13), (day, 17))
    assert compute_window_volume(history, day) == 24  # the day itself and day − 31 do not count
    assert FEE_WINDOW_DAYS == 30


@pytest.mark.parametrize(("adv", "tier"), [(0, 0), (999_999, 0), (1_000_000, 1), (4_999_999, 1), (5_000_000, 2),
                                           (10**9, 9), (10**12, 9)])
def test_acc_008_the_highest_tier_the_floored_average_reaches(adv: int, tier: int) -> None:
    assert [row.adv_usd for row in XBTUSD.fee_tiers][:3] == [0, 1_000_000, 5_000_000]
    assert compute_fee_tier(XBTUSD, adv * FEE_WINDOW_DAYS) == tier
    if adv > 0 and tier > 0 and XBTUSD.fee_tiers[tier].adv_usd == adv:
        assert compute_fee_tier(XBTUSD, adv * FEE_WINDOW_DAYS - 1) == tier - 1  # one USD short: floored, not reached


def test_the_engine_reads_the_rule() -> None:
    day = 20_000
    volumes = {day - 2: 30 * 1_000_000, day - 40: 10**12, day: 10**12}
    assert engine_fee_tier(XBTUSD, volumes, day) == compute_fee_tier(XBTUSD, 30 * 1_000_000) == 1


def test_acc_009_usd_volume() -> None:
    # the settlement asset's USD price is (price, scale): XBt at the XBTUSD mark 5,000,000 over priceScale 100
    assert compute_usd_volume(XBTUSD, -300, 5_000_000, 5_000_000, 100, 100_000_000) == 300  # inverse: one USD a contract
    # XBTUSDT: 1,000 contracts at 50,000.00 = 50,000,000 USDt minor units = 50 USDT, at 1 USD per USDT
    assert compute_usd_volume(XBTUSDT, 1_000, 5_000_000, 1, 1, 1_000_000) == 50
    # ETHUSD (quanto, XBt): 3 contracts at 3,000.00 = 900,000 XBt; at 50,000 USD per XBT = 450 USD, floored
    assert compute_usd_volume(ETHUSD, 3, 300_000, 5_000_000, 100, 100_000_000) == 450
    assert compute_usd_volume(ETHUSD, 1, 300_005, 100, 100, 100_000_000) == 0  # 0.00300005 USD: floored to 0
    assert engine_usd_volume(ETHUSD, 3, 300_000, (5_000_000, 100)) == 450
    assert engine_usd_volume(XBTUSD, -300, 5_000_000, (5_000_000, 100)) == 300


def test_acc_010_a_spot_trade_s_postings() -> None:
    # XBT_USDT: lot 100 of 100 XBt each; 1,000 contracts at 50,000.00 USDT = 500,000,000 USDt of quote value
    from perpspec.rules.instrument_file import builtin_dir
    from perpspec.rules.position import apply_spot_trade

    spot = load_instrument(str(builtin_dir() / "spot" / "XBT_USDT.toml"))
    trade = apply_spot_trade(spot, 1_000, 5_000_000, 750, -250)
    value = 1_000 * spot.multiplier * 5_000_000 // spot.price_scale
    assert (trade.buyer_commission, trade.seller_commission) == (value * 750 // 1_000_000, -(value * 250 // 1_000_000))
    assert trade.buyer_quote == -value - trade.buyer_commission
    assert trade.seller_quote == value - trade.seller_commission
    assert (trade.buyer_base, trade.seller_base) == (1_000 * spot.base_multiplier, -1_000 * spot.base_multiplier)
    assert trade.buyer_quote + trade.seller_quote + trade.fee_pool_delta == 0
