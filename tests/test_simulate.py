"""`perpspec simulate`: scenario files and their validation, the seeded generators, and runs through the engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.scenario import (
    PricePoint,
    ScenarioError,
    SplitMix64,
    builtin_names,
    generate_index_path,
    interpolate,
    load_scenario,
)
from engine.simulate import Num, build_population, encode_json, iso_timestamp

SHIPPED = ("calm", "default_crash", "funding_spiral", "short_squeeze")


def test_every_shipped_scenario_loads() -> None:
    assert set(SHIPPED) <= set(builtin_names())
    for name in SHIPPED:
        assert load_scenario(name).name == name


def test_no_argument_loads_the_default_crash() -> None:
    assert load_scenario(None).name == "default_crash"


def test_default_crash_falls_forty_percent_and_partly_rebounds() -> None:
    scenario = load_scenario("default_crash")
    start = scenario.index.points[0].price
    low = min(point.price for point in scenario.index.points)
    end = scenario.index.points[-1].price
    assert (start - low) * 100 // start == 40
    assert low < end < start


def test_splitmix64_matches_the_reference_sequence() -> None:
    # SplitMix64 with seed 1234567 (reference outputs of the published C code)
    rng = SplitMix64(1234567)
    assert [rng.next64() for _ in range(3)] == [
        6457827717110365317,
        3203168211198807973,
        9817491932198370423,
    ]


def test_same_seed_gives_the_same_index_path() -> None:
    first = generate_index_path(load_scenario("default_crash", seed=5))
    second = generate_index_path(load_scenario("default_crash", seed=5))
    assert first == second


def test_another_seed_gives_another_index_path() -> None:
    assert generate_index_path(load_scenario("default_crash", seed=5)) != generate_index_path(
        load_scenario("default_crash", seed=6)
    )


def test_index_path_is_on_the_tick_and_positive() -> None:
    scenario = load_scenario("short_squeeze")
    tick = scenario.instrument.tick_size
    path = generate_index_path(scenario)
    assert len(path) == scenario.steps + 1
    assert [price for price in path if price % tick != 0 or price <= 0] == []


def test_noiseless_path_is_the_interpolated_key_points() -> None:
    scenario = load_scenario("default_crash", [("index.noise", "0")])
    path = generate_index_path(scenario)
    # 01:30 is a key point: 7,900 USD exactly
    assert path[90] == 790_000


def test_interpolation_is_linear_between_points() -> None:
    points = (PricePoint(at_ms=0, price=1000), PricePoint(at_ms=100, price=2000))
    assert interpolate(points, 25) == 1250


def test_population_is_deterministic_and_follows_the_long_share() -> None:
    scenario = load_scenario("default_crash", [("accounts.count", "1000")])
    first = build_population(scenario, first_account=10)
    assert first == build_population(scenario, first_account=10)
    longs = sum(1 for trader in first if trader.is_long)
    assert 540 <= longs <= 660  # long_share 0.6 of 1000


def test_set_override_changes_a_field() -> None:
    scenario = load_scenario("calm", [("accounts.count", "17"), ("adl.policy", "pro-rata")])
    assert (scenario.accounts.count, scenario.adl_policy) == (17, "pro-rata")


def test_instrument_override_reaches_the_instrument() -> None:
    scenario = load_scenario("calm", [("instrument.maintMargin", "0.004")])
    assert scenario.instrument.maint_margin_ppm == 4_000


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("accounts.count", "0", "accounts.count: must be between 1"),
        ("adl.policy", "random", "adl.policy: must be one of"),
        ("accounts.colour", "blue", "accounts.colour: unknown field"),
        ("insurance.balance", "-1", "insurance.balance: must not be negative"),
        ("step", "7m", "duration: must be a whole number of steps"),
        ("instrument.maintMargin", "0.02", "instrument.maintMargin: must be below initMargin"),
        ("accounts.long_share", "1.5", "accounts.long_share: must be between 0 and 1"),
    ],
)
def test_bad_field_is_rejected_with_its_name(field: str, value: str, message: str) -> None:
    with pytest.raises(ScenarioError) as error:
        load_scenario("default_crash", [(field, value)])
    assert message in str(error.value)


def test_unknown_scenario_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ScenarioError, match="shipped: calm"):
        load_scenario("no_such_scenario")


def test_index_from_a_csv_file(tmp_path: Path) -> None:
    (tmp_path / "path.csv").write_text("time,price\n00:00:00,8000\n01:00:00,6000 # the low\n")
    (tmp_path / "s.toml").write_text(
        'duration = "2h"\nstep = "30m"\n[index]\nfile = "path.csv"\n[accounts]\ncount = 3\n'
    )
    scenario = load_scenario(str(tmp_path / "s.toml"))
    assert generate_index_path(scenario) == (800_000, 700_000, 600_000, 600_000, 600_000)


def test_iso_timestamp_of_black_thursday() -> None:
    assert iso_timestamp(1_584_066_960_123) == "2020-03-13T02:36:00.123Z"


def test_json_numbers_are_exact_decimal_text() -> None:
    assert encode_json({"lastPx": Num("7353.5"), "side": "Buy", "qty": 100, "x": None}) == (
        '{"lastPx":7353.5,"side":"Buy","qty":100,"x":null}'
    )
