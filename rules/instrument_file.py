"""Loading and validating instrument files (``specs/instruments/*.toml``).

The file uses BitMEX's field names.  Decimals may be written as TOML numbers
or strings; either way they are parsed exactly (TOML floats are read as text,
never as binary floats).  Every problem is an :class:`InstrumentError` that
names the field, e.g. ``XBTUSD.toml: maintMargin: must be below initMargin``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from perpspec.rules.contract import compute_lot_value_inverse
from perpspec.rules.instrument import ContractKind, FeeTier, Instrument
from perpspec.rules.num import PPM
from perpspec.rules.parse import (
    ParseError,
    loads_toml,
    parse_duration_ms,
    parse_int,
    parse_ppm,
    parse_scaled,
    read_input_file,
)

DAY_MS = 86_400_000


class InstrumentError(ValueError):
    """An instrument file or override that is malformed or inconsistent."""

    def __init__(self, source: str, field: str, message: str) -> None:
        super().__init__(f"{source}: {field}: {message}")
        self.source = source
        self.field = field
        self.message = message


def builtin_dir() -> Path:
    """The directory holding the shipped instrument files."""
    return Path(str(resources.files("perpspec.specs").joinpath("instruments")))


def builtin_symbols() -> tuple[str, ...]:
    """Symbols of the shipped instruments, sorted."""
    return tuple(sorted(path.stem for path in builtin_dir().glob("*.toml")))


def read_mapping(path: Path) -> dict[str, Any]:
    """Read an instrument file into a raw mapping (decimals kept as text)."""
    try:
        return loads_toml(read_input_file(path).decode("utf-8"), parse_float=str)
    except tomllib.TOMLDecodeError as error:  # NestedTooDeeply too
        raise InstrumentError(path.name, "(file)", f"not valid TOML: {error}") from error
    except OSError as error:
        raise InstrumentError(str(path), "(file)", f"cannot read: {error.strerror}") from error


def load_instrument(symbol_or_path: str, overrides: Mapping[str, object] | None = None) -> Instrument:
    """Load a shipped instrument by symbol, or any instrument file by path, with overrides.

    ``overrides`` maps BitMEX field names to values, e.g. ``{"takerFee": "0.00075"}``.
    """
    candidate = Path(symbol_or_path)
    if candidate.suffix == ".toml" or candidate.exists():
        path = candidate
    else:
        path = builtin_dir().joinpath(f"{symbol_or_path}.toml")
        if not path.exists():
            known = ", ".join(builtin_symbols())
            raise InstrumentError(symbol_or_path, "symbol", f"unknown instrument (known: {known})")
    mapping = read_mapping(path)
    for name, value in (overrides or {}).items():
        if name not in mapping and name not in _OPTIONAL_FIELDS:
            raise InstrumentError(path.name, name, "not an instrument field")
        mapping[name] = value
    return parse_instrument(mapping, path.name)


def load_builtin_instruments() -> dict[str, Instrument]:
    """Every shipped instrument, by symbol."""
    return {symbol: load_instrument(symbol) for symbol in builtin_symbols()}


_REQUIRED_FIELDS = (
    "symbol",
    "type",
    "quoteCurrency",
    "settlCurrency",
    "priceScale",
    "tickSize",
    "lotSize",
    "multiplier",
    "initMargin",
    "maintMargin",
    "riskLimit",
    "riskStep",
    "makerFee",
    "takerFee",
    "fundingInterval",
    "maxOrderQty",
    "maxPrice",
)
_OPTIONAL_FIELDS: tuple[str, ...] = ("feeTiers", "settlementFee", "expiry", "markMethod", "description")
# index / mark / funding / settlement parameters (rules/impact.py, mark.py, funding.py, settlement.py)
_PRICE_FUNDING_FIELDS: dict[str, tuple[str, Any]] = {
    "impactNotional": ("impact_notional", parse_int),
    "fixedInterestRate": ("fixed_interest_daily_ppm", parse_ppm),
    "fundingPremiumClamp": ("premium_clamp_ppm", parse_ppm),
    "fundingCapRatio": ("funding_cap_ratio_ppm", parse_ppm),
    "fundingChangeCapRatio": ("funding_change_cap_ratio_ppm", parse_ppm),
    "premiumSampleInterval": ("premium_sample_ms", parse_duration_ms),
    "fairBasisRefresh": ("fair_basis_refresh_ms", parse_duration_ms),
    "impactSpreadTicks": ("impact_spread_ticks", parse_int),
    "limitBand": ("limit_band_ppm", parse_ppm),
    "settlementTwap": ("settlement_twap_ms", parse_duration_ms),
}
_OPTIONAL_FIELDS += tuple(_PRICE_FUNDING_FIELDS)
# liquidation fee and per-step margin increments (default: BitMEX's rule, one maintMargin per step)
_RISK_FIELDS: dict[str, tuple[str, Any]] = {
    "liquidationFee": ("liquidation_fee_ppm", parse_ppm),
    "liquidationWorkStep": ("liquidation_work_step_ppm", parse_ppm),
    "concentrationShare": ("concentration_share_ppm", parse_ppm),
    "concentrationFloor": ("concentration_floor", parse_int),
    "maintMarginStep": ("maint_margin_step_ppm", parse_ppm),
    "initMarginStep": ("init_margin_step_ppm", parse_ppm),
}
_OPTIONAL_FIELDS += tuple(_RISK_FIELDS)
# spot pairs (engine/core/exchange.py): the base asset and how much of it one contract is
_SPOT_FIELDS: dict[str, tuple[str, Any]] = {
    "baseCurrency": ("base_currency", lambda value, name: _string(value, name)),
    "baseMultiplier": ("base_multiplier", parse_int),
}
_OPTIONAL_FIELDS += tuple(_SPOT_FIELDS)
MARK_METHODS = ("FairPrice", "LastPrice", "LastPriceProtected")


def parse_instrument(mapping: Mapping[str, Any], source: str = "<instrument>") -> Instrument:
    """Validate a raw mapping and build the :class:`Instrument`."""
    for name in _REQUIRED_FIELDS:
        if name not in mapping:
            raise InstrumentError(source, name, "missing")
    unknown = sorted(set(mapping) - set(_REQUIRED_FIELDS) - set(_OPTIONAL_FIELDS))
    if unknown:
        raise InstrumentError(source, unknown[0], "not an instrument field")
    try:
        instrument = _build(mapping)
    except ParseError as error:
        raise InstrumentError(source, error.field, error.message) from error
    problem = validate(instrument)
    if problem is not None:
        raise InstrumentError(source, problem[0], problem[1])
    return instrument


def _string(value: object, name: str) -> str:
    """A text field's value: a TOML string, never ``str()`` of a number, bool, date or array (``validate`` judges it)."""
    if not isinstance(value, str):
        raise ParseError(name, f"expected a string, got {value!r}")
    return value


def _text(mapping: Mapping[str, Any], name: str) -> str:
    value = mapping[name]
    if not isinstance(value, str) or not value:
        raise ParseError(name, f"expected a non-empty string, got {value!r}")
    return value


def _build(mapping: Mapping[str, Any]) -> Instrument:
    kind_text = _text(mapping, "type")
    kinds = {kind.value: kind for kind in ContractKind}
    if kind_text not in kinds:
        raise ParseError("type", f"must be one of {', '.join(kinds)}, got {kind_text!r}")
    price_scale = parse_int(mapping["priceScale"], "priceScale")
    if price_scale <= 0 or 10 ** (len(str(price_scale)) - 1) != price_scale:
        raise ParseError("priceScale", "must be a positive power of ten")
    maker = parse_ppm(mapping["makerFee"], "makerFee")
    taker = parse_ppm(mapping["takerFee"], "takerFee")
    tiers = [FeeTier(adv_usd=0, maker_fee_ppm=maker, taker_fee_ppm=taker)]
    raw_tiers = mapping.get("feeTiers", [])
    if not isinstance(raw_tiers, list):
        raise ParseError("feeTiers", "must be an array of tables")
    for index, row in enumerate(raw_tiers):
        where = f"feeTiers[{index}]"
        if not isinstance(row, dict) or set(row) != {"adv", "makerFee", "takerFee"}:
            raise ParseError(where, "needs exactly adv, makerFee, takerFee")
        tiers.append(
            FeeTier(
                adv_usd=parse_int(row["adv"], f"{where}.adv"),
                maker_fee_ppm=parse_ppm(row["makerFee"], f"{where}.makerFee"),
                taker_fee_ppm=parse_ppm(row["takerFee"], f"{where}.takerFee"),
            )
        )
    expiry = mapping.get("expiry")
    mark_method = mapping.get("markMethod", "FairPrice")
    if mark_method not in MARK_METHODS:
        raise ParseError("markMethod", f"must be one of {', '.join(MARK_METHODS)}")
    return Instrument(
        symbol=_text(mapping, "symbol"),
        kind=kinds[kind_text],
        quote_currency=_text(mapping, "quoteCurrency"),
        settl_currency=_text(mapping, "settlCurrency"),
        price_scale=price_scale,
        tick_size=parse_scaled(mapping["tickSize"], price_scale, "tickSize"),
        lot_size=parse_int(mapping["lotSize"], "lotSize"),
        multiplier=parse_int(mapping["multiplier"], "multiplier"),
        init_margin_ppm=parse_ppm(mapping["initMargin"], "initMargin"),
        maint_margin_ppm=parse_ppm(mapping["maintMargin"], "maintMargin"),
        risk_limit=parse_int(mapping["riskLimit"], "riskLimit"),
        risk_step=parse_int(mapping["riskStep"], "riskStep"),
        maker_fee_ppm=maker,
        taker_fee_ppm=taker,
        fee_tiers=tuple(tiers),
        funding_interval_ms=parse_duration_ms(mapping["fundingInterval"], "fundingInterval"),
        max_order_qty=parse_int(mapping["maxOrderQty"], "maxOrderQty"),
        max_price=parse_scaled(mapping["maxPrice"], price_scale, "maxPrice"),
        settlement_fee_ppm=parse_ppm(mapping.get("settlementFee", 0), "settlementFee"),
        expiry_ms=None if expiry is None else parse_int(expiry, "expiry"),
        mark_method=_text({"markMethod": mark_method}, "markMethod"),
        **{
            attr: parse(mapping[name], name)
            for name, (attr, parse) in {**_PRICE_FUNDING_FIELDS, **_RISK_FIELDS, **_SPOT_FIELDS}.items()
            if name in mapping
        },
    )


def validate(inst: Instrument) -> tuple[str, str] | None:
    """First inconsistency as ``(BitMEX field, reason)``, or None when the instrument is sound."""
    positive = [
        (inst.tick_size, "tickSize"),
        (inst.lot_size, "lotSize"),
        (inst.max_order_qty, "maxOrderQty"),
        (inst.max_price, "maxPrice"),
        (inst.price_scale, "priceScale"),
        (inst.funding_interval_ms, "fundingInterval"),
    ]
    for value, name in positive:
        if value <= 0:
            return name, "must be positive"
    checks: list[tuple[bool, str, str]] = [
        (10 ** (len(str(inst.price_scale)) - 1) == inst.price_scale, "priceScale", "must be a positive power of ten"),
        (inst.max_order_qty % inst.lot_size == 0, "maxOrderQty", "must be a multiple of lotSize"),
        (inst.max_price % inst.tick_size == 0, "maxPrice", "must be a multiple of tickSize"),
        (inst.multiplier != 0, "multiplier", "must not be zero"),
        (
            (inst.multiplier < 0) == inst.is_inverse,
            "multiplier",
            "must be negative exactly for inverse contracts (BitMEX sign convention)",
        ),
        (inst.maint_margin_ppm > 0, "maintMargin", "must be positive"),
        (inst.init_margin_ppm <= PPM, "initMargin", "must be at most 1 (100%)"),
        (inst.maint_margin_ppm < inst.init_margin_ppm, "maintMargin", "must be below initMargin"),
        (inst.risk_limit > 0, "riskLimit", "must be positive"),
        (inst.risk_step > 0, "riskStep", "must be positive"),
        (-PPM < inst.maker_fee_ppm < PPM, "makerFee", "must be between -1 and 1"),
        (0 <= inst.taker_fee_ppm < PPM, "takerFee", "must be between 0 and 1"),
        (inst.maker_fee_ppm <= inst.taker_fee_ppm, "makerFee", "must not exceed takerFee"),
        (0 <= inst.settlement_fee_ppm < PPM, "settlementFee", "must be between 0 and 1"),
        (DAY_MS % inst.funding_interval_ms == 0, "fundingInterval", "must divide 24 hours"),
        (inst.impact_notional is None or inst.impact_notional > 0, "impactNotional", "must be positive"),
        (0 <= (inst.fixed_interest_daily_ppm or 0) < PPM, "fixedInterestRate", "must be between 0 and 1"),
        (0 <= inst.premium_clamp_ppm < PPM, "fundingPremiumClamp", "must be between 0 and 1"),
        (0 <= inst.funding_cap_ratio_ppm <= PPM, "fundingCapRatio", "must be between 0 and 1"),
        (0 <= inst.funding_change_cap_ratio_ppm <= PPM, "fundingChangeCapRatio", "must be between 0 and 1"),
        (inst.premium_sample_ms > 0, "premiumSampleInterval", "must be positive"),
        (
            inst.funding_interval_ms % max(inst.premium_sample_ms, 1) == 0,
            "premiumSampleInterval",
            "must divide fundingInterval",
        ),
        (inst.fair_basis_refresh_ms > 0, "fairBasisRefresh", "must be positive"),
        (inst.impact_spread_ticks > 0, "impactSpreadTicks", "must be positive"),
        (0 < inst.limit_band_ppm < PPM, "limitBand", "must be between 0 and 1 (exclusive)"),
        (inst.settlement_twap_ms > 0, "settlementTwap", "must be positive"),
        (0 <= inst.liquidation_fee_ppm < PPM, "liquidationFee", "must be between 0 and 1"),
        (0 <= inst.liquidation_work_step_ppm <= PPM, "liquidationWorkStep", "must be between 0 and 1"),
        (0 < inst.concentration_share_ppm <= PPM, "concentrationShare", "must be above 0 and at most 1"),
        (inst.concentration_floor >= 0, "concentrationFloor", "must not be negative"),
        (inst.maint_margin_step_ppm >= 0, "maintMarginStep", "must not be negative"),
        (inst.init_margin_step_ppm >= 0, "initMarginStep", "must not be negative"),
    ]
    if not inst.is_inverse:
        # Linear and quanto values are multiplier * price / price_scale per contract (CON-002): exact for every
        # whole lot at every price *unit*, not only on the tick grid, because value is also paid at prices off it
        # (marks, a take-over at mark, ADL at the take-over price, a settlement TWAP).  A value that needed
        # rounding there would round both sides toward the trader: floor(x) + floor(-x) = -1 (redteam16_1).
        exact = (inst.lot_size * inst.multiplier) % inst.price_scale == 0
        checks.append((exact, "multiplier", "lotSize * multiplier must be a multiple of priceScale (whole minor units)"))
    else:
        # CON-001 rounds an inverse lot's value half up, so above 2 * lotSize * |multiplier| * priceScale a lot
        # is worth 0: a position there would cost nothing, need no margin and pay no fee, and an account that
        # never deposited could hold one and owe once the price falls.  The value falls as the price rises, so
        # checking it at maxPrice covers every valid price.
        worth = compute_lot_value_inverse(inst, inst.max_price) > 0
        checks.append((worth, "maxPrice", "an inverse lot must be worth at least one minor unit at maxPrice"))
    if inst.kind is ContractKind.SPOT:
        # a fill moves qty * baseMultiplier of the base asset: zero would sell nothing for the price paid, a
        # negative one would move the base asset against the trade (the seller paid in it, the buyer's wallet
        # below zero), and a base asset that is the quote asset would net the two legs in one wallet
        checks.append((inst.base_multiplier > 0, "baseMultiplier", "must be positive for a spot pair"))
        checks.append((inst.base_currency != "", "baseCurrency", "must be named for a spot pair"))
        checks.append(
            (inst.base_currency != inst.settl_currency, "baseCurrency", "must differ from settlCurrency")
        )
    # Tier 0 is what every account below the first threshold pays (Account.fee_tier starts there), and the
    # margin rules reserve commission at takerFee: it is the file's makerFee/takerFee at zero volume, so the
    # fee checks above bind it.  Tier k >= 1 is the file's feeTiers[k - 1], under the same fee bounds.
    first = FeeTier(adv_usd=0, maker_fee_ppm=inst.maker_fee_ppm, taker_fee_ppm=inst.taker_fee_ppm)
    checks.append((inst.fee_tiers[:1] == (first,), "feeTiers", "tier 0 must be (adv 0, makerFee, takerFee)"))
    for index, tier in enumerate(inst.fee_tiers[1:], start=1):
        previous = inst.fee_tiers[index - 1]
        checks.append((tier.adv_usd > previous.adv_usd, f"feeTiers[{index - 1}].adv", "must ascend"))
        checks.append(
            (-PPM < tier.maker_fee_ppm <= tier.taker_fee_ppm < PPM, f"feeTiers[{index - 1}]", "bad fees")
        )
        checks.append((tier.taker_fee_ppm >= 0, f"feeTiers[{index - 1}].takerFee", "must be between 0 and 1"))
    for ok, field, reason in checks:
        if not ok:
            return field, reason
    return None
