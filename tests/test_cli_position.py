"""`perpspec position`: BitMEX field names, exact prices, and exit status 2 on bad input."""

from __future__ import annotations

import json

import pytest

from perpspec.engine.cli.main import main
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.margin import compute_position_margin
from perpspec.rules.parse import format_scaled
from perpspec.rules.position import FLAT, apply_fill

BITMEX_FIELDS = {
    "posCost",
    "posInit",
    "posComm",
    "posMargin",
    "posMaint",
    "maintMargin",
    "markValue",
    "unrealisedPnl",
    "liquidationPrice",
    "bankruptPrice",
    "initMarginReq",
    "maintMarginReq",
}


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    assert main(["position", *argv, "--json"]) == 0
    record: dict[str, object] = json.loads(capsys.readouterr().out)
    return record


def test_json_has_every_bitmex_field_with_integer_money_and_decimal_prices(capsys: pytest.CaptureFixture[str]) -> None:
    record = run_json(
        capsys, "--symbol", "XBTUSD", "--set", "lotSize=1", "--qty", "-1000", "--entry", "50000", "--leverage", "100x"
    )
    assert set(record) >= BITMEX_FIELDS
    expected = {"posCost": 2_000_000, "posInit": 20_000, "posComm": 1_515, "posMaint": 11_515}
    assert expected == {name: record[name] for name in expected}
    assert (record["liquidationPrice"], record["bankruptPrice"]) == ("50251", "50505")
    assert (record["initMarginReq"], record["maintMarginReq"]) == ("0.01", "0.005")


def test_output_is_the_library_function_result(capsys: pytest.CaptureFixture[str]) -> None:
    inst = load_instrument("XBTUSDT", {"takerFee": "0.0005"})
    position, _ = apply_fill(inst, FLAT, 3_000, 4_000_050)
    pm = compute_position_margin(inst, position, 3_900_000, 0, cross_balance=5_000_000)
    record = run_json(
        capsys,
        "--symbol", "XBTUSDT", "--set", "takerFee=0.0005", "--qty", "3000", "--entry", "40000.5",
        "--mark", "39000", "--leverage", "0", "--wallet", "5000000",
    )  # fmt: skip
    assert record["posMaint"] == pm.pos_maint
    assert record["unrealisedPnl"] == pm.unrealised_pnl
    assert record["liquidationPrice"] == format_scaled(pm.liquidation_price, 100)
    assert record["crossMargin"] is True


@pytest.mark.parametrize(("text", "shown"), [("100", "100"), ("100x", "100"), ("2.5", "2.5"), ("2.5X", "2.5")])
def test_leverage_accepts_plain_suffixed_and_fractional_forms(
    capsys: pytest.CaptureFixture[str], text: str, shown: str
) -> None:
    record = run_json(capsys, "--qty", "100", "--entry", "50000", "--leverage", text)
    assert record["leverage"] == shown


def test_table_output_names_fields_and_units(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["position", "--qty", "100", "--entry", "50000", "--leverage", "10"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("liquidationPrice") and line.endswith("USD") for line in lines)
    assert any(line.startswith("posMargin") and line.endswith("XBt") for line in lines)


@pytest.mark.parametrize(
    "argv",
    [
        ["--qty", "150", "--entry", "50000", "--leverage", "100"],  # not a whole lot
        ["--qty", "0", "--entry", "50000", "--leverage", "100"],  # flat
        ["--qty", "100", "--entry", "50000.3", "--leverage", "100"],  # off the tick
        ["--qty", "100", "--entry", "abc", "--leverage", "100"],  # not a number
        ["--qty", "100", "--entry", "2000000", "--leverage", "100"],  # above maxPrice
        ["--qty", "100", "--entry", "50000", "--leverage", "101"],  # above max leverage
        ["--qty", "100", "--entry", "50000", "--leverage", "x"],
        ["--qty", "100", "--entry", "50000"],  # cross without --wallet
        ["--qty", "100", "--entry", "50000", "--leverage", "10", "--wallet", "5"],  # wallet on isolated
        ["--qty", "100", "--entry", "50000", "--leverage", "10", "--set", "nonsense=1"],
        ["--qty", "100", "--entry", "50000", "--leverage", "10", "--set", "maintMargin=0.5"],
        ["--qty", "100", "--entry", "50000", "--leverage", "10", "--set", "takerFee"],
        ["--symbol", "NOPE", "--qty", "100", "--entry", "50000", "--leverage", "10"],
    ],
)
def test_bad_input_exits_2_with_one_line_on_stderr(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    assert main(["position", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
    assert captured.err.startswith("perpspec position: ")


def test_mark_is_accepted_at_price_resolution_off_the_tick_grid(capsys: pytest.CaptureFixture[str]) -> None:
    # XBTUSD: tick 0.5, price unit 0.01 — BitMEX marks carried cents (issue 13); the entry stays on the grid
    inst = load_instrument("XBTUSD")
    position, _ = apply_fill(inst, FLAT, -1_000, 5_000_000)
    pm = compute_position_margin(inst, position, 5_012_337, 10_000)
    record = run_json(
        capsys, "--symbol", "XBTUSD", "--qty", "-1000", "--entry", "50000", "--mark", "50123.37", "--leverage", "100x"
    )
    assert (record["markValue"], record["unrealisedPnl"]) == (pm.mark_value, pm.unrealised_pnl)


def test_mark_finer_than_the_price_unit_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--symbol", "XBTUSD", "--qty", "-1000", "--entry", "50000", "--mark", "50123.371", "--leverage", "100x"]
    assert main(["position", *argv]) == 2
    assert capsys.readouterr().err.startswith("perpspec position: ")


def test_a_position_whose_tier_allows_no_isolated_leverage_is_told_so(capsys: pytest.CaptureFixture[str]) -> None:
    # RSK-005: at 133,332 risk steps XBTUSD's initial margin is above 10,000%, so the largest isolated leverage
    # floors to 0 hundredths; the refusal says so instead of offering "between 0.01 and 0"
    assert main(["position", "--qty", "1000000000000", "--entry", "50000", "--leverage", "10"]) == 2
    err = capsys.readouterr().err
    assert "allows no isolated leverage" in err
    assert "and 0 " not in err
