"""Instrument files: loading, exact parsing, and rejection of malformed or inconsistent parameters."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perpspec.rules.instrument import ContractKind
from perpspec.rules.instrument_file import InstrumentError, builtin_symbols, load_instrument, read_mapping
from perpspec.rules.parse import (
    ParseError,
    format_ppm,
    format_scaled,
    parse_duration_ms,
    parse_ppm,
    parse_scaled,
)


def test_shipped_instruments_include_the_three_contract_types() -> None:
    kinds = {load_instrument(symbol).kind for symbol in builtin_symbols()}
    assert {ContractKind.INVERSE, ContractKind.QUANTO, ContractKind.LINEAR} <= kinds


def test_xbtusd_parameters_are_parsed_exactly() -> None:
    xbtusd = load_instrument("XBTUSD")
    assert (xbtusd.tick_size, xbtusd.lot_size, xbtusd.multiplier) == (50, 100, -100_000_000)
    assert (xbtusd.init_margin_ppm, xbtusd.maint_margin_ppm) == (10_000, 5_000)
    assert (xbtusd.risk_limit, xbtusd.risk_step) == (20_000_000_000, 15_000_000_000)
    assert (xbtusd.maker_fee_ppm, xbtusd.taker_fee_ppm) == (200, 750)
    assert xbtusd.funding_interval_ms == 8 * 3_600_000
    assert xbtusd.max_leverage_hundredths == 10_000


def test_fee_tiers_follow_the_2022_schedule() -> None:
    tiers = load_instrument("XBTUSD").fee_tiers
    assert tiers[0].adv_usd == 0
    assert (tiers[-1].adv_usd, tiers[-1].maker_fee_ppm, tiers[-1].taker_fee_ppm) == (1_000_000_000, -100, 175)


def test_override_by_bitmex_name_changes_only_that_field() -> None:
    base = load_instrument("XBTUSD")
    changed = load_instrument("XBTUSD", {"takerFee": "0.0005", "tickSize": "0.1"})
    assert (changed.taker_fee_ppm, changed.tick_size) == (500, 10)
    assert changed.maint_margin_ppm == base.maint_margin_ppm


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"maintMargin": "0.01"}, "maintMargin"),  # MM = IM
        ({"maintMargin": "0.02"}, "maintMargin"),  # MM > IM
        ({"tickSize": "0"}, "tickSize"),
        ({"riskStep": -1}, "riskStep"),
        ({"lotSize": 0}, "lotSize"),
        ({"multiplier": 100_000_000}, "multiplier"),  # inverse needs a negative multiplier
        ({"tickSize": "0.001"}, "tickSize"),  # finer than the price unit
        ({"fundingInterval": "07:00:00"}, "fundingInterval"),  # does not divide a day
        ({"makerFee": "0.001"}, "makerFee"),  # maker above taker
        ({"initMargin": "abc"}, "initMargin"),
        ({"noSuchField": 1}, "noSuchField"),
    ],
)
def test_bad_parameters_are_rejected_naming_the_field(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(InstrumentError) as caught:
        load_instrument("XBTUSD", overrides)
    assert caught.value.field == field


def test_unknown_symbol_is_rejected_with_the_known_ones() -> None:
    with pytest.raises(InstrumentError, match="XBTUSD"):
        load_instrument("NOPE")


def test_toml_floats_are_read_as_text_not_binary_floats(tmp_path: Path) -> None:
    path = tmp_path / "X.toml"
    path.write_text('a = 0.1\nb = "0.2"\n')
    assert read_mapping(path) == {"a": "0.1", "b": "0.2"}


def test_linear_lot_value_must_be_whole_minor_units() -> None:
    with pytest.raises(InstrumentError) as caught:
        load_instrument("XBTUSDT", {"lotSize": 1, "tickSize": "0.01"})
    assert caught.value.field == "multiplier"


@pytest.mark.parametrize(
    ("text", "scale", "expected"),
    [("0.00075", 1_000_000, 750), ("-0.00025", 1_000_000, -250), ("50000.5", 100, 5_000_050), (".5", 10, 5), ("7", 100, 700)],
)
def test_decimal_parsing_is_exact(text: str, scale: int, expected: int) -> None:
    assert parse_scaled(text, scale, "x") == expected


@pytest.mark.parametrize("text", ["1e5", "0.1.2", "", "nan", "0x10", "--1"])
def test_malformed_decimals_are_rejected(text: str) -> None:
    with pytest.raises(ParseError):
        parse_scaled(text, 100, "x")


def test_percent_and_duration_forms() -> None:
    assert parse_ppm("0.5%", "x") == 5_000
    assert parse_duration_ms("2h", "x") == 7_200_000
    assert parse_duration_ms("08:00:00", "x") == 28_800_000


@given(st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from([1, 10, 100, 1_000_000]))
def test_format_then_parse_round_trips(value: int, scale: int) -> None:
    assert parse_scaled(format_scaled(value, scale), scale, "x") == value


def test_ppm_is_shown_as_a_percentage() -> None:
    assert format_ppm(5_000) == "0.50%"
    assert format_ppm(750) == "0.075%"
