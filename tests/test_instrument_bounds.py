"""rules/instrument_file.validate at every bound: the edge value is accepted, one unit past it is refused.

Each case changes one parameter of the shipped XBTUSD (in integer units) and names the BitMEX field the
refusal must name; the ranges are those the rulebook states (fees and rates in (-1, 1) or [0, 1), caps
in [0, 1], intervals positive, the funding interval dividing a day, the sample interval dividing it).
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import (
    InstrumentError,
    builtin_dir,
    load_instrument,
    parse_instrument,
    read_mapping,
    validate,
)

XBTUSD = load_instrument("XBTUSD")
PPM = 1_000_000
HOUR = 3_600_000

# (attribute, accepted values, refused values, BitMEX field)
BOUNDS = [
    ("tick_size", [50], [0, -50], "tickSize"),
    ("lot_size", [100], [0], "lotSize"),
    ("max_order_qty", [100], [0], "maxOrderQty"),
    ("max_price", [50], [0], "maxPrice"),
    ("price_scale", [100], [0], "priceScale"),
    ("maint_margin_ppm", [1, 9_999], [0, 10_000], "maintMargin"),
    ("risk_limit", [1], [0], "riskLimit"),
    ("risk_step", [1], [0], "riskStep"),
    ("maker_fee_ppm", [-PPM + 1, 750], [-PPM, 751], "makerFee"),
    ("settlement_fee_ppm", [0, PPM - 1], [-1, PPM], "settlementFee"),
    ("funding_interval_ms", [HOUR, 8 * HOUR, 24 * HOUR], [7 * HOUR, 0], "fundingInterval"),
    ("impact_notional", [None, 1], [0], "impactNotional"),
    ("fixed_interest_daily_ppm", [None, 0, PPM - 1], [-1, PPM], "fixedInterestRate"),
    ("premium_clamp_ppm", [0, PPM - 1], [-1, PPM], "fundingPremiumClamp"),
    ("funding_cap_ratio_ppm", [0, PPM], [-1, PPM + 1], "fundingCapRatio"),
    ("funding_change_cap_ratio_ppm", [0, PPM], [-1, PPM + 1], "fundingChangeCapRatio"),
    ("premium_sample_ms", [60_000, 8 * HOUR], [0, 7 * 60_000], "premiumSampleInterval"),
    ("fair_basis_refresh_ms", [1], [0], "fairBasisRefresh"),
    ("impact_spread_ticks", [1], [0], "impactSpreadTicks"),
    ("limit_band_ppm", [1, PPM - 1], [0, PPM], "limitBand"),
    ("settlement_twap_ms", [1], [0], "settlementTwap"),
    ("liquidation_fee_ppm", [0, PPM - 1], [-1, PPM], "liquidationFee"),
    ("maint_margin_step_ppm", [0], [-1], "maintMarginStep"),
    ("init_margin_step_ppm", [0], [-1], "initMarginStep"),
]


def _evolve(inst: Instrument, **changes: Any) -> Instrument:
    """``attrs.evolve``, keeping fee tier 0 the instrument's makerFee/takerFee (as the file loader makes it)."""
    changed = attrs.evolve(inst, **changes)
    tier0 = attrs.evolve(changed.fee_tiers[0], maker_fee_ppm=changed.maker_fee_ppm, taker_fee_ppm=changed.taker_fee_ppm)
    return attrs.evolve(changed, fee_tiers=(tier0, *changed.fee_tiers[1:]))


@pytest.mark.parametrize(("attribute", "accepted", "refused", "field"), BOUNDS, ids=[case[0] for case in BOUNDS])
def test_each_bound_accepts_its_edge_and_refuses_one_unit_past(
    attribute: str, accepted: list[object], refused: list[object], field: str
) -> None:
    assert validate(XBTUSD) is None
    for value in accepted:
        assert validate(_evolve(XBTUSD, **{attribute: value})) is None, value
    for value in refused:
        problem = validate(_evolve(XBTUSD, **{attribute: value}))
        assert problem is not None, value
        assert problem[0] == field, (value, problem)


def test_fee_bounds_taker_in_zero_to_one_and_maker_at_most_taker() -> None:
    maker_at_zero = _evolve(XBTUSD, maker_fee_ppm=0)
    assert validate(_evolve(maker_at_zero, taker_fee_ppm=0)) is None
    assert validate(_evolve(maker_at_zero, taker_fee_ppm=PPM - 1)) is None
    assert validate(_evolve(XBTUSD, maker_fee_ppm=-2, taker_fee_ppm=-1)) == ("takerFee", "must be between 0 and 1")
    assert validate(_evolve(maker_at_zero, taker_fee_ppm=PPM))[0] == "takerFee"  # type: ignore[index]


def test_initial_margin_may_be_the_whole_position_but_not_more() -> None:
    assert validate(attrs.evolve(XBTUSD, init_margin_ppm=PPM)) is None
    assert validate(attrs.evolve(XBTUSD, init_margin_ppm=PPM + 1)) == ("initMargin", "must be at most 1 (100%)")


def test_the_price_scale_is_a_positive_power_of_ten_one_included() -> None:
    one = load_instrument("XBTUSD", {"priceScale": 1, "tickSize": "1"})
    assert (one.price_scale, one.tick_size) == (1, 1)
    for scale in (0, -10, 20):
        with pytest.raises(InstrumentError) as refused:
            load_instrument("XBTUSD", {"priceScale": scale})
        assert refused.value.field == "priceScale"


def test_a_premium_sample_of_one_ms_divides_any_funding_interval() -> None:
    assert validate(attrs.evolve(XBTUSD, premium_sample_ms=1)) is None
    assert validate(attrs.evolve(XBTUSD, funding_interval_ms=3, premium_sample_ms=1)) is None  # 3 ms divides a day
    assert validate(attrs.evolve(XBTUSD, funding_interval_ms=3, premium_sample_ms=2))[0] == "premiumSampleInterval"  # type: ignore[index]


def test_a_linear_contracts_lot_value_must_be_whole_minor_units() -> None:
    linear = load_instrument("XBTUSDT")
    # 1 lot × multiplier 3 × tick 50 / scale 100 = 1.5 minor units per tick: not whole
    problem = validate(attrs.evolve(linear, lot_size=1, max_order_qty=1_000, multiplier=3))
    assert problem is not None
    assert problem[0] == "multiplier"
    # 2 × 3 × 50 / 100 = 3 minor units per tick, whole on the grid, but 0.06 per price unit: a value paid at a mark
    # or a settlement price off the grid would round both sides toward the trader (redteam16_1)
    assert validate(attrs.evolve(linear, lot_size=2, max_order_qty=1_000, multiplier=3)) is not None
    assert validate(attrs.evolve(linear, lot_size=100, max_order_qty=1_000, multiplier=3)) is None  # 3 per unit
    # the red team's instrument: the shipped XBTUSDT at priceScale 10,000 (BitMEX's published mark precision)
    assert validate(attrs.evolve(linear, price_scale=10_000, tick_size=5_000, max_price=linear.max_price * 100)) == (
        "multiplier",
        "lotSize * multiplier must be a multiple of priceScale (whole minor units)",
    )


def test_con_001_an_inverse_lot_must_be_worth_a_minor_unit_at_max_price() -> None:
    # XBTUSD: a lot of 100 contracts is worth round_half_up(1e8 * 100 * 100 / maxPrice) XBt; at maxPrice 2e12
    # (20 bn USD) that is round(0.5) = 1 XBt, one price unit more and it is 0.
    assert validate(attrs.evolve(XBTUSD, max_price=2 * 10**12)) is None
    refused = validate(attrs.evolve(XBTUSD, max_price=2 * 10**12 + 50))
    assert refused == ("maxPrice", "an inverse lot must be worth at least one minor unit at maxPrice")
    # a larger lot is worth more, so the same maxPrice becomes valid again
    assert validate(attrs.evolve(XBTUSD, max_price=2 * 10**12 + 50, lot_size=200, max_order_qty=10_000_000)) is None


def test_fee_tiers_must_ascend_and_each_names_its_own_row() -> None:
    tiers = XBTUSD.fee_tiers  # [0] is the base (makerFee/takerFee); the file's feeTiers[k] is tiers[k + 1]
    assert len(tiers) > 3
    for k in (1, 2, len(tiers) - 1):
        same_adv = attrs.evolve(tiers[k], adv_usd=tiers[k - 1].adv_usd)
        changed = attrs.evolve(XBTUSD, fee_tiers=(*tiers[:k], same_adv, *tiers[k + 1 :]))
        assert validate(changed) == (f"feeTiers[{k - 1}].adv", "must ascend"), k
        maker_above = attrs.evolve(tiers[k], maker_fee_ppm=tiers[k].taker_fee_ppm + 1)
        changed = attrs.evolve(XBTUSD, fee_tiers=(*tiers[:k], maker_above, *tiers[k + 1 :]))
        assert validate(changed) == (f"feeTiers[{k - 1}]", "bad fees"), k


def test_a_file_with_a_field_no_instrument_has_is_refused_naming_it() -> None:
    mapping = dict(read_mapping(builtin_dir() / "XBTUSD.toml"))
    for extra in ({"bogus": 1}, {"zzz": 1, "aaa": 2}):
        with pytest.raises(InstrumentError) as refused:
            parse_instrument({**mapping, **extra}, "XBTUSD.toml")
        assert refused.value.field == min(extra)
