"""Proof obligations of ACC-008 (the fee tier from 30-day volume) and ACC-009 (a fill's USD volume).

Which rate a fill pays is money: a tier too high gives a trader a discount (or a larger rebate) he has not earned.
These rules lived in the engine without an id or a proof until red team 19 found them (session 17); they are now
``rules.fee_tier`` and the engine calls them.

* **ACC-008 window**: only the 30 days before the day count — a day's own volume, and days older than 30, add
  nothing (30 symbolic daily volumes in the window and one on each side of it).
* **ACC-008 tier**: for any window volume ≥ 0, the tier is the highest row of the instrument's ``feeTiers`` whose
  threshold the floored average daily volume reaches: its threshold is reached, no later row's is.  Known-bads:
  the average rounded up (a trader one dollar short of a tier gets it), the first reached row instead of the last.
* **ACC-008 monotone**: more volume never gives a lower tier.
* **ACC-009**: a fill's USD volume is ``|qty|`` for an inverse contract, else the notional converted at the
  settlement asset's USD price (any price ≥ 0 over the scale the engine passes: XBTUSD's ``priceScale`` for XBt, 1 for
  USDt) floored once: never above the exact amount, less than one USD below it.  Known-bads: rounded up; the price
  rounded up to whole dollars first (redteam22_4, when that rounding was engine glue); the price floored to whole
  dollars first (up to one USD per XBT below).
* **ACC-010** (a spot fill's postings, also found by red team 19 as engine-only arithmetic): each asset's postings
  sum to zero with the fee pool, the base moves ``qty × baseMultiplier``, and each commission is ACC-002's, never
  below the exact fee.  Known-bad: the seller's commission left out of the fee pool.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from perpspec.proofs.obligations_core import assume_valid_price
from perpspec.proofs.prover import ProofResult, Prover
from perpspec.proofs.registry import Expectation, Obligation, register
from perpspec.proofs.sym import BoolLike, all_of, implies
from perpspec.rules.contract import compute_notional
from perpspec.rules.fee_tier import (
    FEE_WINDOW_DAYS,
    compute_fee_tier,
    compute_usd_volume,
    compute_window_volume,
)
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import builtin_dir, load_instrument
from perpspec.rules.num import PPM, abs_, ceildiv, floordiv, ite
from perpspec.rules.position import SpotTrade, apply_spot_trade

SHIPPED = ("XBTUSD", "ETHUSD", "XBTUSDT", "XBTZ26")
MINOR_PER_UNIT = {"XBt": 100_000_000, "USDt": 1_000_000}  # the engine's table (engine.core.accounts)
DAY = 20_000  # any day index: the window is relative to it

TierRule = Callable[[Instrument, int], int]


def _add(id: str, rule_id: str, statement: str, run: Callable[[], ProofResult], expect: Expectation = "proved",
         invariant_id: str = "ROUNDING-TOWARD-SYSTEM") -> None:
    bad = expect == "refuted"
    register(Obligation(
        id=f"KNOWN-BAD/{id}" if bad else id, rule_id=rule_id, invariant_id=invariant_id,
        statement=f"Known-bad: {statement}" if bad else statement, run=run, expect=expect,
    ))  # fmt: skip


def prove_window() -> ProofResult:
    """ACC-008: the window volume is the sum of the 30 days before ``DAY``; that day and older days add nothing."""
    with Prover() as prover:
        days = tuple(range(DAY - FEE_WINDOW_DAYS - 1, DAY + 1))  # one day older than the window, the window, the day
        volumes = tuple(prover.symbol(f"volume_{index}") for index in range(len(days)))
        for volume in volumes:
            prover.assume(volume >= 0, "volumes ≥ 0")
        total = compute_window_volume(tuple(zip(days, volumes, strict=True)), DAY)
        in_window = sum(volumes[1:-1], 0)
        return prover.prove(total == in_window, "ACC-008 window")


def _tier_first_reached(inst: Instrument, window_volume: int) -> int:
    """KNOWN-BAD ACC-008: the lowest reached row above row 0 instead of the highest (a trader stops at tier 1)."""
    adv = window_volume // FEE_WINDOW_DAYS
    tier = 0
    for index in reversed(range(1, len(inst.fee_tiers))):
        tier = ite(adv >= inst.fee_tiers[index].adv_usd, index, tier)
    return tier


def _tier_average_rounded_up(inst: Instrument, window_volume: int) -> int:
    """KNOWN-BAD ACC-008: the average daily volume rounded up."""
    adv = ceildiv(window_volume, FEE_WINDOW_DAYS)
    tier = 0
    for index, row in enumerate(inst.fee_tiers):
        tier = ite(adv >= row.adv_usd, index, tier)
    return tier


def prove_tier(symbol: str, rule: TierRule = compute_fee_tier) -> ProofResult:
    """ACC-008: the tier is the highest row whose threshold the floored average reaches."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        volume = prover.symbol("window_volume")
        prover.assume(volume >= 0, "window volume ≥ 0")
        tier = rule(inst, volume)
        claims: list[BoolLike] = [tier >= 0, tier < len(inst.fee_tiers)]
        for index, row in enumerate(inst.fee_tiers[1:], start=1):
            reached = volume >= row.adv_usd * FEE_WINDOW_DAYS  # ⌊volume / 30⌋ ≥ threshold, in whole dollars
            claims += [implies(reached, tier >= index), implies(tier == index, reached)]
        return prover.prove(all_of(*claims), f"ACC-008 tier {symbol}")


def prove_tier_monotone(symbol: str) -> ProofResult:
    """ACC-008: more window volume never gives a lower tier."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        low, high = prover.symbol("low_volume"), prover.symbol("high_volume")
        prover.assume(low >= 0, "volume ≥ 0")
        prover.assume(high >= low, "more volume")
        return prover.prove(compute_fee_tier(inst, high) >= compute_fee_tier(inst, low), f"ACC-008 monotone {symbol}")


def _usd_volume_rounded_up(inst: Instrument, qty: int, price: int, usd: int, scale: int, minor: int) -> int:
    """KNOWN-BAD ACC-009: the converted notional rounded up."""
    return abs_(qty) if inst.is_inverse else ceildiv(compute_notional(inst, qty, price) * usd, minor * scale)


def _usd_volume_price_rounded_up(inst: Instrument, qty: int, price: int, usd: int, scale: int, minor: int) -> int:
    """KNOWN-BAD ACC-009: the USD price rounded up to whole dollars before the floor (redteam22_4's planted slip)."""
    return abs_(qty) if inst.is_inverse else floordiv(compute_notional(inst, qty, price) * ceildiv(usd, scale), minor)


def _usd_volume_price_floored_first(inst: Instrument, qty: int, price: int, usd: int, scale: int, minor: int) -> int:
    """KNOWN-BAD ACC-009: the USD price floored to whole dollars first (two floors: up to one USD per unit below)."""
    return abs_(qty) if inst.is_inverse else floordiv(compute_notional(inst, qty, price) * (usd // scale), minor)


def usd_price_scale(inst: Instrument) -> int:
    """The scale of the USD price the engine passes for ``inst``'s settlement asset (``Market.usd_price``): XBTUSD's
    ``priceScale`` for XBt (the XBTUSD mark), 1 for USDt."""
    return load_instrument("XBTUSD").price_scale if inst.settl_currency == "XBt" else 1


def prove_usd_volume(symbol: str, rule: Callable[..., int] = compute_usd_volume) -> ProofResult:
    """ACC-009: |qty| for an inverse contract; else the exact converted notional floored once."""
    inst = load_instrument(symbol)
    minor = MINOR_PER_UNIT[inst.settl_currency]
    scale = usd_price_scale(inst)
    with Prover() as prover:
        qty, price, usd = prover.symbol("qty"), prover.symbol("price"), prover.symbol("usd_price")
        prover.assume(qty % inst.lot_size == 0, "whole lots")
        assume_valid_price(prover, inst, price, "price")
        prover.assume(usd >= 0, "a USD price ≥ 0 (0: unknown, no volume)")
        volume = rule(inst, qty, price, usd, scale, minor)
        if inst.is_inverse:
            return prover.prove(volume == abs_(qty), f"ACC-009 {symbol}")
        exact = compute_notional(inst, qty, price) * usd  # the USD volume times minor × scale, exactly
        unit = minor * scale
        return prover.prove(all_of(volume * unit <= exact, exact < (volume + 1) * unit), f"ACC-009 {symbol}")


def _spot_trade_fee_pool_short(inst: Instrument, qty: int, price: int, buyer_ppm: int, seller_ppm: int) -> SpotTrade:
    """KNOWN-BAD ACC-010: the fee pool credited the buyer's commission only."""
    trade = apply_spot_trade(inst, qty, price, buyer_ppm, seller_ppm)
    return SpotTrade(
        buyer_quote=trade.buyer_quote, buyer_base=trade.buyer_base, seller_base=trade.seller_base,
        seller_quote=trade.seller_quote, buyer_commission=trade.buyer_commission,
        seller_commission=trade.seller_commission, fee_pool_delta=trade.buyer_commission,
    )


def prove_spot_trade(rule: Callable[..., SpotTrade] = apply_spot_trade) -> ProofResult:
    """ACC-010 on the shipped spot pair: each asset conserves, the base amount is exact, commissions ≥ exact."""
    inst = load_instrument(str(builtin_dir() / "spot" / "XBT_USDT.toml"))
    with Prover() as prover:
        qty, price = prover.symbol("qty"), prover.symbol("price")
        buyer_ppm, seller_ppm = prover.symbol("buyer_fee_ppm"), prover.symbol("seller_fee_ppm")
        prover.assume(qty > 0, "qty > 0")
        prover.assume(qty % inst.lot_size == 0, "whole lots")
        assume_valid_price(prover, inst, price, "price")
        for rate in (buyer_ppm, seller_ppm):
            prover.assume(rate > -PPM, "rate above −100%")
            prover.assume(rate < PPM, "rate below 100%")
        trade = rule(inst, qty, price, buyer_ppm, seller_ppm)
        value = compute_notional(inst, qty, price)
        return prover.prove(all_of(
            trade.buyer_quote + trade.seller_quote + trade.fee_pool_delta == 0,
            trade.buyer_base + trade.seller_base == 0,
            trade.buyer_base == qty * inst.base_multiplier,
            trade.buyer_quote == -value - trade.buyer_commission,
            trade.buyer_commission * PPM >= value * buyer_ppm,
            trade.seller_commission * PPM >= value * seller_ppm,
        ), "ACC-010 spot trade")


def _register() -> None:
    p = functools.partial
    _add("ACC-010/conserves/XBT_USDT", "ACC-010",
         "XBT_USDT: a spot fill moves the value plus the buyer's commission out of the buyer's quote, qty × "
         "baseMultiplier of base from the seller to the buyer, the value less the seller's commission to the seller, "
         "both commissions (each ≥ the exact fee) to the fee pool: each asset's postings sum to zero.",
         prove_spot_trade, invariant_id="INV-CONSERVATION")
    _add("ACC-010/fee-pool-short/XBT_USDT", "ACC-010", "the fee pool credited the buyer's commission only.",
         functools.partial(prove_spot_trade, _spot_trade_fee_pool_short), expect="refuted", invariant_id="INV-CONSERVATION")
    _add("ACC-008/window", "ACC-008",
         "The fee tier reads the 30 days before the day: that day's own volume and days older than 30 add nothing.",
         prove_window)
    for symbol in SHIPPED:
        _add(f"ACC-008/highest-tier-reached/{symbol}", "ACC-008",
             f"{symbol}: the tier is the highest feeTiers row whose threshold the 30-day average daily USD volume, "
             "floored, reaches: its threshold is reached and no later row's is.",
             p(prove_tier, symbol))
        if len(load_instrument(symbol).fee_tiers) >= 3:  # one row: every rule gives tier 0, nothing to refute
            _add(f"ACC-008/average-rounded-up/{symbol}", "ACC-008",
                 "the average daily volume rounded up (a trader short of a threshold gets its discount).",
                 p(prove_tier, symbol, _tier_average_rounded_up), expect="refuted")
            _add(f"ACC-008/lowest-tier-reached/{symbol}", "ACC-008",
                 "the lowest reached row above row 0 instead of the highest.",
                 p(prove_tier, symbol, _tier_first_reached), expect="refuted")
        _add(f"ACC-008/monotone/{symbol}", "ACC-008", f"{symbol}: more volume never gives a lower fee tier.",
             p(prove_tier_monotone, symbol))
        _add(f"ACC-009/floor/{symbol}", "ACC-009",
             f"{symbol}: a fill's USD volume is |qty| (inverse) or its notional converted to USD at the settlement "
             "asset's unrounded USD price, rounded down once: never above the exact amount, less than one USD below it.",
             p(prove_usd_volume, symbol))
        if not load_instrument(symbol).is_inverse:  # inverse: |qty| is exact, no rounding to get wrong
            _add(f"ACC-009/rounded-up/{symbol}", "ACC-009", "the USD volume rounded up.",
                 p(prove_usd_volume, symbol, _usd_volume_rounded_up), expect="refuted")
        if usd_price_scale(load_instrument(symbol)) > 1 and not load_instrument(symbol).is_inverse:
            _add(f"ACC-009/price-rounded-up/{symbol}", "ACC-009",
                 "the settlement asset's USD price rounded up to whole dollars before the volume is floored.",
                 p(prove_usd_volume, symbol, _usd_volume_price_rounded_up), expect="refuted")
            _add(f"ACC-009/price-floored-first/{symbol}", "ACC-009",
                 "the settlement asset's USD price floored to whole dollars first (two floors: up to one USD per unit "
                 "below the exact volume).",
                 p(prove_usd_volume, symbol, _usd_volume_price_floored_first), expect="refuted")


_register()
