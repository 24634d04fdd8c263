"""Instruments: the contract parameters every rule reads.

An instrument is concrete configuration (never symbolic).  Its values come
from a data file under ``specs/instruments/`` (see :mod:`rules.instrument_file`)
and are stored as integers in named units:

* prices in *price units*: ``price_scale`` units make one unit of the quote
  currency (XBTUSD: ``price_scale = 100``, so a price unit is 0.01 USD and the
  tick 0.5 USD is 50 units);
* money in the settlement currency's minor unit (XBt = 1e-8 XBT, USDt = 1e-6 USDT);
* rates in parts per million (``5_000 ppm = 0.50%``);
* time in milliseconds of the logical clock.

BitMEX's field names are kept in the data files and in :data:`BITMEX_NAMES`.
"""

from __future__ import annotations

import enum

import attrs

from perpspec.rules.num import PPM


class ContractKind(enum.Enum):
    """How a contract's value depends on its price (reference §1)."""

    INVERSE = "inverse"  # 1 quote unit per contract, settled in the base coin (XBTUSD)
    QUANTO = "quanto"  # fixed settlement amount per quote unit of price (ETHUSD)
    LINEAR = "linear"  # settled in the quote currency (XBTUSDT)
    SPOT = "spot"  # a spot pair: base asset against quote asset, fully funded, no margin (engine only)


@attrs.frozen(kw_only=True)
class FeeTier:
    """One row of the fee schedule: applies from ``adv_usd`` of 30-day average daily volume."""

    adv_usd: int
    maker_fee_ppm: int
    taker_fee_ppm: int


@attrs.frozen(kw_only=True)
class Instrument:
    """A contract's parameters in integer units (BitMEX name in the comment)."""

    symbol: str  # symbol
    kind: ContractKind  # isInverse / isQuanto
    quote_currency: str  # quoteCurrency
    settl_currency: str  # settlCurrency, e.g. "XBt"
    price_scale: int  # price units per one quote-currency unit (not a BitMEX field)
    tick_size: int  # tickSize, price units
    lot_size: int  # lotSize, contracts
    multiplier: int  # multiplier (inverse: negative, |multiplier| minor units per coin)
    init_margin_ppm: int  # initMargin
    maint_margin_ppm: int  # maintMargin
    risk_limit: int  # riskLimit, settlement minor units
    risk_step: int  # riskStep, settlement minor units
    maker_fee_ppm: int  # makerFee (negative = rebate)
    taker_fee_ppm: int  # takerFee
    fee_tiers: tuple[FeeTier, ...] = ()  # fee schedule by 30-day ADV, ascending
    funding_interval_ms: int  # fundingInterval
    max_order_qty: int  # maxOrderQty, contracts
    max_price: int  # maxPrice, price units
    settlement_fee_ppm: int = 0  # settlementFee (dated futures)
    expiry_ms: int | None = None  # expiry (None: perpetual)
    mark_method: str = "FairPrice"  # markMethod
    # -- prices and funding (rules/impact.py, mark.py, funding.py, settlement.py) --
    impact_notional: int | None = None  # impactNotional, settlement minor units (None: no impact prices)
    fixed_interest_daily_ppm: int | None = None  # fixedInterestRate per day (None: quote - base indices)
    premium_clamp_ppm: int = 500  # fundingPremiumClamp: F = P + clamp(I - P, ±0.05%)
    funding_cap_ratio_ppm: int = 750_000  # fundingCapRatio: |F| <= 75% (IM - MM)
    funding_change_cap_ratio_ppm: int = 750_000  # fundingChangeCapRatio: |F - F_prev| <= 75% MM
    premium_sample_ms: int = 60_000  # premiumSampleInterval: P and I sampled every minute
    fair_basis_refresh_ms: int = 30_000  # fairBasisRefresh: % fair basis refreshed every 30 s
    impact_spread_ticks: int = 3  # impactSpreadTicks: refresh while spread < max(MM, 3 ticks)
    limit_band_ppm: int = 100_000  # limitBand: LastPrice limit up/down around the session reference
    settlement_twap_ms: int = 1_800_000  # settlementTwap: futures settle on the 30-minute index TWAP
    # -- liquidation fee and risk-step increments (checked by `perpspec check-params`) --
    liquidation_fee_ppm: int = 0  # liquidationFee: check-params only (PRM-LIQ-FEE); the engine charges none, refuses non-zero
    liquidation_work_step_ppm: int = 0  # liquidationWorkStep: LIQ-050 limit move per waterfall (0: held at bankruptcy)
    concentration_share_ppm: int = PPM  # concentrationShare: RSK-008 reduce-only above this share of the open interest
    concentration_floor: int = 0  # concentrationFloor: RSK-008 applies from this open value (minor units) on
    maint_margin_step_ppm: int = attrs.field(  # maintMarginStep: MM added per risk step (default maintMargin)
        default=attrs.Factory(lambda self: self.maint_margin_ppm, takes_self=True)
    )
    init_margin_step_ppm: int = attrs.field(  # initMarginStep: IM added per risk step (default maintMargin)
        default=attrs.Factory(lambda self: self.maint_margin_ppm, takes_self=True)
    )
    # -- spot pairs (kind SPOT): value(qty, price) is the quote amount in settlCurrency minor units --
    base_currency: str = ""  # baseCurrency: the asset bought and sold (spot only)
    base_multiplier: int = 0  # baseMultiplier: base minor units per contract (spot only)

    @property
    def is_inverse(self) -> bool:
        """BitMEX ``isInverse``."""
        return self.kind is ContractKind.INVERSE

    @property
    def is_quanto(self) -> bool:
        """BitMEX ``isQuanto``."""
        return self.kind is ContractKind.QUANTO

    @property
    def is_perpetual(self) -> bool:
        """True for a perpetual swap (no expiry)."""
        return self.expiry_ms is None

    @property
    def max_leverage_hundredths(self) -> int:
        """Largest leverage allowed, in hundredths (1 / initMargin; 100x = 10_000)."""
        return (PPM * 100) // self.init_margin_ppm  # floor: never more leverage than IM allows


# BitMEX field name -> attribute of Instrument, for tables and overrides.
BITMEX_NAMES: dict[str, str] = {
    "symbol": "symbol",
    "quoteCurrency": "quote_currency",
    "settlCurrency": "settl_currency",
    "tickSize": "tick_size",
    "lotSize": "lot_size",
    "multiplier": "multiplier",
    "initMargin": "init_margin_ppm",
    "maintMargin": "maint_margin_ppm",
    "riskLimit": "risk_limit",
    "riskStep": "risk_step",
    "makerFee": "maker_fee_ppm",
    "takerFee": "taker_fee_ppm",
    "fundingInterval": "funding_interval_ms",
    "maxOrderQty": "max_order_qty",
    "maxPrice": "max_price",
    "settlementFee": "settlement_fee_ppm",
    "expiry": "expiry_ms",
    "markMethod": "mark_method",
    "impactNotional": "impact_notional",
    "fixedInterestRate": "fixed_interest_daily_ppm",
    "fundingPremiumClamp": "premium_clamp_ppm",
    "fundingCapRatio": "funding_cap_ratio_ppm",
    "fundingChangeCapRatio": "funding_change_cap_ratio_ppm",
    "premiumSampleInterval": "premium_sample_ms",
    "fairBasisRefresh": "fair_basis_refresh_ms",
    "impactSpreadTicks": "impact_spread_ticks",
    "limitBand": "limit_band_ppm",
    "settlementTwap": "settlement_twap_ms",
    "liquidationFee": "liquidation_fee_ppm",
    "liquidationWorkStep": "liquidation_work_step_ppm",
    "concentrationShare": "concentration_share_ppm",
    "concentrationFloor": "concentration_floor",
    "maintMarginStep": "maint_margin_step_ppm",
    "initMarginStep": "init_margin_step_ppm",
}
