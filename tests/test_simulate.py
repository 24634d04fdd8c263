"""`perpspec simulate`: scenario files and their validation, the seeded generators, and runs through the engine."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from perpspec.engine.cli.main import main
from perpspec.engine.core.events import RuleEvent
from perpspec.engine.durability.recovery import command_codec, recover
from perpspec.engine.simulation.eventlog import Num, encode_json, event_records, iso_timestamp
from perpspec.engine.simulation.population import build_population
from perpspec.engine.simulation.progress import Progress
from perpspec.engine.simulation.result import SimulationResult, Tally
from perpspec.engine.simulation.scenario import (
    PricePoint,
    ScenarioError,
    builtin_names,
    generate_index_path,
    interpolate,
    load_scenario,
)
from perpspec.engine.simulation.simulate import run_scenario
from perpspec.engine.simulation.splitmix import SplitMix64
from perpspec.rules.events import AdlFill

SHIPPED = ("black_thursday", "calm", "default_crash", "funding_spiral", "short_squeeze", "tiny_crash")


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
    with pytest.raises(ScenarioError, match="shipped: black_thursday, calm, default_crash"):
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


# ---------------------------------------------------------------------------
# Runs through the real engine (the shipped tiny_crash scenario: about a second)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[SimulationResult, Path]:
    out = tmp_path_factory.mktemp("tiny")
    return run_scenario(load_scenario("tiny_crash"), out), out


def test_tiny_crash_liquidates_and_deleverages(tiny_run: tuple[SimulationResult, Path]) -> None:
    result, _ = tiny_run
    assert (result.liquidations > 0, result.adl_fills > 0) == (True, True)


def test_tiny_crash_violates_no_invariant(tiny_run: tuple[SimulationResult, Path]) -> None:
    result, _ = tiny_run
    assert result.invariant_violations == ()


def test_tiny_crash_checks_invariants_after_every_mark_update(tiny_run: tuple[SimulationResult, Path]) -> None:
    result, _ = tiny_run
    # one mark update per step plus the opening one, and the final check
    assert result.invariant_checks == result.steps + 1 + result.funding_instants + 1


def test_tiny_crash_conserves_funds_to_the_satoshi(tiny_run: tuple[SimulationResult, Path]) -> None:
    result, _ = tiny_run
    assert result.conservation_gap == 0


def test_same_seed_gives_the_same_journal_hash(tiny_run: tuple[SimulationResult, Path], tmp_path: Path) -> None:
    result, _ = tiny_run
    again = run_scenario(load_scenario("tiny_crash"), tmp_path)
    assert (again.journal_sha256, again.state_sha256) == (result.journal_sha256, result.state_sha256)


def test_another_seed_gives_another_journal_hash(tiny_run: tuple[SimulationResult, Path], tmp_path: Path) -> None:
    result, _ = tiny_run
    other = run_scenario(load_scenario("tiny_crash", seed=2), tmp_path)
    assert other.journal_sha256 != result.journal_sha256


def test_replaying_the_journal_rebuilds_the_same_state(tiny_run: tuple[SimulationResult, Path]) -> None:
    result, _ = tiny_run
    engine, report, _ = recover(result.journal, command_codec())
    assert (engine.state_hash(), report.replayed) == (result.state_sha256, result.commands)


def test_event_log_is_json_lines_with_bitmex_field_names(tiny_run: tuple[SimulationResult, Path]) -> None:
    result, _ = tiny_run
    rows = [json.loads(line) for line in Path(result.event_log).read_text().splitlines()]
    trades = [row for row in rows if row["table"] == "execution" and row["execType"] == "Trade"]
    missing = [
        name
        for name in ("timestamp", "symbol", "side", "lastQty", "lastPx", "ordStatus", "orderID", "leavesQty")
        if name not in trades[0]
    ]
    assert (len(rows), missing) == (result.log_rows, [])


def test_event_log_prices_are_decimal_numbers(tiny_run: tuple[SimulationResult, Path]) -> None:
    result, _ = tiny_run
    first_instrument = next(
        json.loads(line) for line in Path(result.event_log).read_text().splitlines() if '"instrument"' in line
    )
    assert first_instrument["indicativeSettlePrice"] == 8000


def test_open_interest_in_the_log_is_the_engines(tiny_run: tuple[SimulationResult, Path]) -> None:
    result, _ = tiny_run
    engine, _, _ = recover(result.journal, command_codec())
    longs = sum(
        position.qty
        for account in engine.account_ids()
        for position in engine.positions(account).values()
        if position.qty > 0
    )
    last = [json.loads(line) for line in Path(result.event_log).read_text().splitlines() if '"instrument"' in line][-1]
    assert last["openInterest"] == longs


def test_cli_simulate_prints_the_summary_and_writes_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["simulate", "tiny_crash", "--out", str(tmp_path), "--quiet"])
    printed = capsys.readouterr().out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (status, (tmp_path / "report.html").exists(), summary["invariant_violations"]) == (0, True, 0)
    assert "conservation          exact to the minor unit" in printed


def test_cli_rejects_a_bad_override_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["simulate", "tiny_crash", "--set", "accounts.count=0", "--quiet"])
    assert (status, capsys.readouterr().err.strip()) == (
        2,
        "perpspec simulate: tiny_crash.toml: accounts.count: must be between 1 and 1000000",
    )


def test_close_out_into_a_stale_bid_leaves_no_negative_equity(tmp_path: Path) -> None:
    scenario = load_scenario("tiny_crash", [("accounts.resting_share", "0.1")])
    result = run_scenario(scenario, tmp_path)
    assert result.invariant_violations == ()


def test_adl_score_beyond_int64_is_logged_as_exact_text() -> None:
    inst = load_scenario("tiny_crash").instrument
    fill = AdlFill(
        rule_id="ADL-020", policy="ranked-queue", pending_id=3, symbol="XBTUSD", account_id=7, rank=0,
        position_qty=-100, position_cost=1_000_000, pool_equity=5, score_num=1 << 64, score_den=3, close_qty=-100,
        price=700_000, mark_price=710_000, haircut=10, unfilled_before=100, unfilled_after=0, equity_after=5,
    )
    event = RuleEvent(9, 0, "ADL-020", "AdlFill", 7, "XBTUSD", fill)
    rows = event_records(inst, event, Tally(), {3: 42})
    assert (rows[0]["score_num"], rows[1]["liquidatedAccount"], rows[1]["adlRankingScore"]) == (
        str(1 << 64),
        42,
        Num("6148914691236517205.333333"),
    )


def test_cli_compare_runs_each_variant_into_one_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        ["simulate", "tiny_crash", "--out", str(tmp_path), "--quiet", "--compare", "adl.policy=queue", "adl.policy=pro-rata"]
    )
    document = (tmp_path / "report.html").read_text()
    summary = document.split('data-table="summary"')[1].split("</table>")[0]
    runs = sorted(path.name for path in tmp_path.iterdir() if path.is_dir())
    assert (status, runs) == (0, ["adl.policy_pro-rata", "adl.policy_queue"])
    assert "<th>adl.policy=queue</th><th>adl.policy=pro-rata</th>" in summary


def test_progress_bar_reports_events_per_second_on_a_pipe() -> None:
    stream = io.StringIO()
    bar = Progress(total=4, label="crash", stream=stream)
    for step in range(1, 5):
        bar.update(step, events=step * 1_000)
    bar.close()
    lines = stream.getvalue().splitlines()
    assert (len(lines), "ev/s" in lines[-1], "step 4/4  events 4,000" in lines[-1]) == (4, True, True)


@pytest.mark.deep
def test_default_crash_holds_every_invariant_and_conserves_funds(tmp_path: Path) -> None:
    result = run_scenario(load_scenario(None), tmp_path)
    assert (result.invariant_violations, result.conservation_gap, result.liquidations > 500, result.adl_fills > 0) == (
        (),
        0,
        True,
        True,
    )


@pytest.mark.deep
@pytest.mark.parametrize(
    "name",
    [
        "black_thursday",
        "calm",
        "short_squeeze",
        "funding_spiral",
    ],
)
def test_shipped_scenario_holds_every_invariant_and_conserves_funds(name: str, tmp_path: Path) -> None:
    result = run_scenario(load_scenario(name), tmp_path)
    assert (result.invariant_violations, result.conservation_gap) == ((), 0)
