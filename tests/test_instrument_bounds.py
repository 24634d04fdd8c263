"""rules/instrument_file.validate at every bound: the edge value is accepted, one unit past it is refused.

Each case changes one parameter of the shipped XBTUSD (in integer units) and names the BitMEX field the
refusal must name; the ranges are those the rulebook states (fees and rates in (-1, 1) or [0, 1), caps
in [0, 1], intervals positive, the funding interval dividing a day, the sample interval dividing it).
"""

from __future__ import annotations

import attrs
import pytest

from perpspec.rules.instrument_file import load_instrument, validate

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


@pytest.mark.parametrize(("attribute", "accepted", "refused", "field"), BOUNDS, ids=[case[0] for case in BOUNDS])
def test_each_bound_accepts_its_edge_and_refuses_one_unit_past(
    attribute: str, accepted: list[object], refused: list[object], field: str
) -> None:
    assert validate(XBTUSD) is None
    for value in accepted:
        assert validate(attrs.evolve(XBTUSD, **{attribute: value})) is None, value
    for value in refused:
        problem = validate(attrs.evolve(XBTUSD, **{attribute: value}))
        assert problem is not None, value
        assert problem[0] == field, (value, problem)


def test_fee_bounds_taker_in_zero_to_one_and_maker_at_most_taker() -> None:
    maker_at_zero = attrs.evolve(XBTUSD, maker_fee_ppm=0)
    assert validate(attrs.evolve(maker_at_zero, taker_fee_ppm=0)) is None
    assert validate(attrs.evolve(maker_at_zero, taker_fee_ppm=PPM - 1)) is None
    assert validate(attrs.evolve(XBTUSD, maker_fee_ppm=-2, taker_fee_ppm=-1)) == ("takerFee", "must be between 0 and 1")
    assert validate(attrs.evolve(maker_at_zero, taker_fee_ppm=PPM))[0] == "takerFee"  # type: ignore[index]


def test_initial_margin_may_be_the_whole_position_but_not_more() -> None:
    assert validate(attrs.evolve(XBTUSD, init_margin_ppm=PPM)) is None
    assert validate(attrs.evolve(XBTUSD, init_margin_ppm=PPM + 1)) == ("initMargin", "must be at most 1 (100%)")
