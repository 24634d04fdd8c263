"""rules/parse.py: human numbers in, exact integers out (and back), or a ParseError naming the field.

Exact examples at the edges the parser distinguishes (a leading dot, a sign, trailing zeros, a
fraction finer than the unit, every duration unit) and the round trip format → parse.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perpspec.rules.parse import (
    ParseError,
    format_ppm,
    format_scaled,
    parse_duration_ms,
    parse_int,
    parse_ppm,
    parse_scaled,
)


@pytest.mark.parametrize(
    ("text", "scale", "expected"),
    [
        ("0.5", 10, 5),
        (".5", 10, 5),
        ("-.5", 10, -5),
        ("+.25", 100, 25),
        ("+1.50", 100, 150),
        ("-2.25", 4, -9),
        ("1.", 7, 7),
        ("1_000", 3, 3_000),
        (" 12.3400 ", 100, 1_234),
        ("0", 100, 0),
        ("-0.0", 100, 0),
        (7, 100, 700),
        (-7, 3, -21),
        ("50000.5", 100, 5_000_050),
    ],
)
def test_a_decimal_becomes_an_exact_count_of_units(text: object, scale: int, expected: int) -> None:
    assert parse_scaled(text, scale, "field") == expected


@pytest.mark.parametrize("text", [True, 1.5, None, "", "1.2.3", "1e5", "--1", "abc", ".", "0.001"])
def test_what_is_not_an_exact_decimal_of_the_unit_is_refused_naming_the_field(text: object) -> None:
    with pytest.raises(ParseError) as refused:
        parse_scaled(text, 100, "price")
    assert refused.value.field == "price"
    assert str(refused.value).startswith("price: ")


def test_whole_numbers_and_rates() -> None:
    assert parse_int("1_000", "qty") == 1_000
    assert parse_int(-3, "qty") == -3
    assert [parse_ppm("0.5%", "fee"), parse_ppm(" 0.5% ", "fee"), parse_ppm("0.005", "fee"), parse_ppm(1, "fee")] == [
        5_000,
        5_000,
        5_000,
        1_000_000,
    ]
    assert parse_ppm("-0.025%", "fee") == -250
    with pytest.raises(ParseError):
        parse_ppm("0.00001%", "fee")  # finer than 1 ppm


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("01:02:03", 3_723_000),
        ("00:00:01", 1_000),
        ("100:00:00", 360_000_000),
        ("8h", 28_800_000),
        ("30m", 1_800_000),
        ("15s", 15_000),
        ("250ms", 250),
        ("2d", 172_800_000),
        (" 1h ", 3_600_000),
        (42, 42),
    ],
)
def test_durations_in_every_notation(text: object, expected: int) -> None:
    assert parse_duration_ms(text, "interval") == expected


@pytest.mark.parametrize("text", [True, 1.0, "1:2:3", "8 h", "8x", "h", "-1s"])
def test_what_is_not_a_duration_is_refused(text: object) -> None:
    with pytest.raises(ParseError):
        parse_duration_ms(text, "interval")


@pytest.mark.parametrize(
    ("value", "scale", "expected"),
    [
        (-12_345, 100, "-123.45"),
        (12_300, 100, "123"),
        (12_340, 100, "123.4"),
        (5, 1, "5"),
        (-5, 1, "-5"),
        (0, 100, "0"),
        (1, 100, "0.01"),
        (-1, 1_000, "-0.001"),
        (100_000_001, 100_000_000, "1.00000001"),
    ],
)
def test_format_scaled_is_the_exact_decimal(value: int, scale: int, expected: str) -> None:
    assert format_scaled(value, scale) == expected


@pytest.mark.parametrize(
    ("ppm", "expected"),
    [(5_000, "0.50%"), (10_000, "1.00%"), (12_500, "1.25%"), (1_000_000, "100.00%"), (100, "0.01%"), (123, "0.0123%"),
     (0, "0.00%"), (-2_500, "-0.25%")],
)  # fmt: skip
def test_format_ppm_keeps_two_places(ppm: int, expected: str) -> None:
    assert format_ppm(ppm) == expected


@given(st.integers(-(10**15), 10**15), st.sampled_from([1, 10, 100, 10_000, 100_000_000]))
def test_formatting_then_parsing_gives_the_value_back(value: int, scale: int) -> None:
    assert parse_scaled(format_scaled(value, scale), scale, "value") == value
