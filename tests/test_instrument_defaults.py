"""The Instrument record's defaults are BitMEX's documented parameters (reference: bitmex-rules.md).

An instrument file may leave these out; what it then gets must be the exchange's published value,
not a near miss: a premium clamp of 0.05%, caps of 75%, one-minute premium samples, a 30-minute
settlement TWAP, no settlement or liquidation fee, and the risk steps following maintenance margin.
"""

from __future__ import annotations

import attrs

from perpspec.rules.events import InsuranceMovement
from perpspec.rules.instrument import ContractKind, Instrument
from perpspec.rules.instrument_file import load_instrument


def _bare(**overrides: object) -> Instrument:
    """An inverse perpetual given only the fields without a default."""
    values: dict[str, object] = {
        "symbol": "TEST", "kind": ContractKind.INVERSE, "quote_currency": "USD", "settl_currency": "XBt",
        "price_scale": 100, "tick_size": 50, "lot_size": 100, "multiplier": -100_000_000, "init_margin_ppm": 10_000,
        "maint_margin_ppm": 5_000, "risk_limit": 20_000_000_000, "risk_step": 15_000_000_000,
        "maker_fee_ppm": -250, "taker_fee_ppm": 750, "funding_interval_ms": 28_800_000, "max_order_qty": 10_000_000,
        "max_price": 100_000_000,
    }  # fmt: skip
    values.update(overrides)
    return Instrument(**values)  # type: ignore[arg-type]


def test_defaults_are_bitmex_published_parameters() -> None:
    inst = _bare()
    assert inst.premium_clamp_ppm == 500  # F = P + clamp(I - P, -0.05%, +0.05%)
    assert (inst.funding_cap_ratio_ppm, inst.funding_change_cap_ratio_ppm) == (750_000, 750_000)  # 75%
    assert inst.premium_sample_ms == 60_000  # premium and interest sampled every minute
    assert inst.fair_basis_refresh_ms == 30_000
    assert inst.impact_spread_ticks == 3
    assert inst.limit_band_ppm == 100_000
    assert inst.settlement_twap_ms == 1_800_000  # futures settle on a 30-minute TWAP of the index
    assert (inst.settlement_fee_ppm, inst.liquidation_fee_ppm, inst.base_multiplier) == (0, 0, 0)
    assert (inst.maint_margin_step_ppm, inst.init_margin_step_ppm) == (5_000, 5_000)  # follow maintMargin
    assert (inst.expiry_ms, inst.mark_method, inst.fee_tiers) == (None, "FairPrice", ())


def test_kind_and_leverage_properties() -> None:
    inst = _bare()
    assert (inst.is_inverse, inst.is_quanto, inst.is_perpetual) == (True, False, True)
    quanto = attrs.evolve(inst, kind=ContractKind.QUANTO, expiry_ms=1)
    assert (quanto.is_inverse, quanto.is_quanto, quanto.is_perpetual) == (False, True, False)
    assert inst.max_leverage_hundredths == 10_000  # IM 1% -> 100x
    assert _bare(init_margin_ppm=30_000).max_leverage_hundredths == 3_333  # IM 3% -> 33.33x, rounded down
    assert load_instrument("XBTUSD").max_leverage_hundredths == 10_000


def test_an_insurance_movement_outside_a_close_out_names_no_pending_close_out() -> None:
    movement = InsuranceMovement(
        rule_id="INS-001", currency="XBt", kind="deposit", amount=5, balance_before=0, balance_after=5, timestamp_ms=0
    )
    assert movement.pending_id == -1  # -1: not tied to a pending close-out (ids start at 0)
