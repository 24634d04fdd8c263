"""A fee schedule never pays a trade out of the fee pool, and no tier charges more than the margin rules reserve.

Session 13 (after red team 6's tier-0 find): ``validate`` let a maker rebate exceed the taker fee (makerFee -0.10%
with takerFee 0.05% passed "maker <= taker"), so every trade paid the pair 0.05% out of the fee pool: two accounts
of one owner, maker and taker in turn, drain it.  Any two accounts trade at any two tiers, so the largest rebate of
the schedule must not exceed its lowest taker fee.  And the order-margin rules reserve commission at takerFee (tier
0's): a higher tier charging more than that could take a fill past what was reserved.

Rules: instrument parameters (validate), ACC-002 (fee tiers).
"""

from __future__ import annotations

import attrs
import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument import FeeTier
from perpspec.rules.instrument_file import InstrumentError, load_builtin_instruments, validate

BUILTIN = load_builtin_instruments()
XBTUSDT = BUILTIN["XBTUSDT"]
WASH = attrs.evolve(  # tier 0 (and the file's fees): a 0.10% rebate, a 0.05% taker fee
    XBTUSDT, maker_fee_ppm=-1_000, taker_fee_ppm=500,
    fee_tiers=(FeeTier(adv_usd=0, maker_fee_ppm=-1_000, taker_fee_ppm=500),),
)


def test_a_rebate_beyond_the_taker_fee_is_refused() -> None:
    assert validate(WASH) == ("feeTiers", "a maker rebate must not exceed the lowest taker fee")
    with pytest.raises(InstrumentError, match=r"feeTiers.*rebate"):
        Engine(instruments={**BUILTIN, "XBTUSDT": WASH})


def test_a_higher_tiers_rebate_is_judged_against_every_tiers_taker_fee() -> None:
    tiers = (XBTUSDT.fee_tiers[0], FeeTier(adv_usd=10**6, maker_fee_ppm=-300, taker_fee_ppm=200))
    assert validate(attrs.evolve(XBTUSDT, fee_tiers=tiers)) == (
        "feeTiers", "a maker rebate must not exceed the lowest taker fee")
    # tier 0's rebate (-250) against this tier's taker fee: exactly even is the most a schedule may give
    even = (XBTUSDT.fee_tiers[0], FeeTier(adv_usd=10**6, maker_fee_ppm=-200, taker_fee_ppm=250))
    assert validate(attrs.evolve(XBTUSDT, fee_tiers=even)) is None
    over = (XBTUSDT.fee_tiers[0], FeeTier(adv_usd=10**6, maker_fee_ppm=-200, taker_fee_ppm=249))
    assert validate(attrs.evolve(XBTUSDT, fee_tiers=over)) == ("feeTiers", "a maker rebate must not exceed the lowest taker fee")


def test_no_tier_charges_more_than_takerfee() -> None:
    tiers = (XBTUSDT.fee_tiers[0], FeeTier(adv_usd=10**6, maker_fee_ppm=0, taker_fee_ppm=XBTUSDT.taker_fee_ppm + 1))
    assert validate(attrs.evolve(XBTUSDT, fee_tiers=tiers)) == ("feeTiers[0].takerFee", "must not exceed takerFee")


def test_the_shipped_schedules_pass() -> None:
    for symbol, inst in sorted(BUILTIN.items()):
        assert validate(inst) is None, symbol
        assert min(t.maker_fee_ppm for t in inst.fee_tiers) + min(t.taker_fee_ppm for t in inst.fee_tiers) >= 0


def wash_trade_fee_pool(inst: object) -> int:
    """The fee pool after one 50,000 USDT trade between two funded accounts (the engine checks nothing more)."""
    engine = Engine.__new__(Engine)
    Engine.__init__(engine, instruments={**BUILTIN, "XBTUSDT": inst})
    for account in (1, 2):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="USDt", amount=10**12))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSDT", mark_price=5_000_000, index_price=5_000_000))
    for account, side in ((1, "Sell"), (2, "Buy")):
        events = engine.process(c.PlaceOrder(time_ms=0, account=account, symbol="XBTUSDT", side=side,
                                             order_qty=1_000_000, price=5_000_000))
        assert isinstance(events[-1], Accepted)
    return engine.ledger.fees.get("USDt", 0)


def test_the_shipped_schedule_earns_from_a_trade_and_the_refused_one_would_have_paid() -> None:
    assert wash_trade_fee_pool(XBTUSDT) > 0
    with pytest.raises(InstrumentError):  # before: accepted, and the pool went to -25,000,000 (-25 USDT)
        wash_trade_fee_pool(WASH)
