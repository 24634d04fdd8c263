"""Session 16: ``what-if`` prices compared in one unit, marks held to ``maxPrice``, ``perpspec.position`` = CLI.

Red team session 14:

* find_1: ``--set priceScale=10000`` flagged every liquidation price as changed, comparing the raw
  integers of two price units (1/100 and 1/10000 USD) while both columns printed "49261.5"; the list of
  changed parameters said ``price_scale``.  Prices before and after are now compared as amounts of the
  quote currency (cross-multiplied: exact, no rounding), and every field is shown by its file name.
* find_2: a proposed ``maxPrice`` below today's mark was accepted (liquidation prices clamped to a
  ``maxPrice`` below the mark, shorts "not liquidatable" past their own liquidation price), and a
  positions file's mark above the current ``maxPrice`` too.  Both are refused, naming mark and field.
* find_5: ``perpspec.position`` refused the off-tick marks ``perpspec position`` takes (real marks carry
  cents on a 0.5 tick).  The library now accepts and refuses what the CLI does, compared on a grid.
"""

from __future__ import annotations

import itertools
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

import perpspec
from perpspec.engine.cli.main import main
from perpspec.engine.cli.what_if import changed_parameters
from perpspec.engine.simulation import what_if
from perpspec.engine.simulation.what_if import StateError, compare, parse_state, read_state_file
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_instrument

EXAMPLE = Path(__file__).resolve().parent.parent / "specs" / "what_if" / "positions.toml"


def _what_if(capsys: pytest.CaptureFixture[str], *settings: str, state: Path = EXAMPLE) -> tuple[int, Any, str]:
    argv = ["what-if", "--params", "XBTUSD", "--state", str(state), "--json"]
    for setting in settings:
        argv += ["--set", setting]
    status = main(argv)
    captured = capsys.readouterr()
    return status, json.loads(captured.out) if status == 0 else None, captured.err


# -- find_1: one price unit -------------------------------------------------------------------


def test_a_price_scale_change_alone_moves_no_liquidation_or_bankruptcy_price(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, report, _ = _what_if(capsys, "priceScale=10000")
    assert status == 0
    assert report["summary"]["liquidation_price_changed"] == 0
    for row in report["positions"]:
        assert row["liquidationPriceChanged"] is False
        assert row["liquidationPrice"]["current"] == row["liquidationPrice"]["proposed"]
        assert row["bankruptPrice"]["current"] == row["bankruptPrice"]["proposed"]
    current, proposed = load_instrument("XBTUSD"), load_instrument("XBTUSD", {"priceScale": "10000"})
    instruments = {"XBTUSD": current, "XBTUSDT": load_instrument("XBTUSDT")}
    state = parse_state(read_state_file(EXAMPLE), instruments, str(EXAMPLE))
    result = compare(state, instruments, dict(instruments, XBTUSD=proposed))
    assert not any(change.liquidation_price_changed for change in result.changes)
    assert not any(change.bankrupt_price_changed for change in result.changes)


def test_the_changed_flag_says_whether_the_printed_prices_differ(capsys: pytest.CaptureFixture[str]) -> None:
    """A finer tick at a finer unit does move liquidation prices: the flag follows the amounts, not the units."""
    status, report, _ = _what_if(capsys, "priceScale=10000", "tickSize=0.01")
    assert status == 0
    flags = []
    for row in report["positions"]:
        price = row["liquidationPrice"]
        flags.append(row["liquidationPriceChanged"])
        assert row["liquidationPriceChanged"] == (Decimal(price["current"]) != Decimal(price["proposed"]))
    assert any(flags)
    assert report["summary"]["liquidation_price_changed"] == sum(flags)


def test_same_price_compares_amounts_across_units() -> None:
    same_price = what_if.same_price
    assert same_price(4_926_150, 100, 492_615_000, 10_000)
    assert not same_price(4_926_150, 100, 492_615_001, 10_000)
    assert same_price(5, 1, 500, 100)
    assert not same_price(5, 1, 5, 100)


def test_changed_parameters_use_file_names_for_every_field(capsys: pytest.CaptureFixture[str]) -> None:
    names = what_if.FIELD_NAMES
    assert {field.name for field in attrs.fields(Instrument)} <= set(names)
    assert all("_" not in name for name in names.values())
    status, report, _ = _what_if(capsys, "priceScale=10000")
    assert status == 0
    assert [row["name"] for row in report["changedParameters"]] == ["priceScale"]
    # a makerFee change is its own row, not also a dump of the fee schedule's Python objects
    current = load_instrument("XBTUSD")
    rows = changed_parameters(current, load_instrument("XBTUSD", {"makerFee": "-0.0001"}))
    assert [name for name, _, _ in rows] == ["makerFee"]


# -- find_2: marks within (0, maxPrice] ---------------------------------------------------------


def test_a_proposed_max_price_below_the_mark_is_refused_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _what_if(capsys, "maxPrice=40000")
    assert status == 2
    assert err.count("\n") == 1
    assert "mark of XBTUSD 50000 USD" in err
    assert "outside (0, maxPrice 40000 USD] of the proposed XBTUSD" in err


def test_a_proposed_max_price_at_the_mark_is_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    status, report, _ = _what_if(capsys, "maxPrice=50000")
    assert status == 0
    assert report["changedParameters"] == [{"name": "maxPrice", "current": "1000000", "proposed": "50000"}]


def test_a_positions_file_mark_above_max_price_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "positions.toml"
    state.write_text(EXAMPLE.read_text().replace('XBTUSD = "50000"', 'XBTUSD = "2000000"'))
    status, _, err = _what_if(capsys, "maintMargin=0.008", state=state)
    assert status == 2
    assert err.count("\n") == 1
    assert "marks.XBTUSD: 2000000 is above maxPrice 1000000 USD" in err


def test_compare_itself_refuses_a_mark_above_either_max_price() -> None:
    current = {"XBTUSD": load_instrument("XBTUSD"), "XBTUSDT": load_instrument("XBTUSDT")}
    state = parse_state(read_state_file(EXAMPLE), current, str(EXAMPLE))
    with pytest.raises(StateError, match="proposed XBTUSD"):
        compare(state, current, dict(current, XBTUSD=load_instrument("XBTUSD", {"maxPrice": "40000"})))
    high = attrs.evolve(state, marks={**state.marks, "XBTUSD": current["XBTUSD"].max_price + 1})
    with pytest.raises(StateError, match="current XBTUSD"):
        compare(high, current, current)


# -- find_5: perpspec.position accepts and refuses what perpspec position does --------------------


def _cli(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, Any] | None:
    status = main(["position", *argv, "--json"])
    captured = capsys.readouterr()
    if status == 0:
        record: dict[str, Any] = json.loads(captured.out)
        return record
    assert status == 2, captured.err
    assert captured.err.count("\n") == 1, captured.err
    return None


def _library(**kwargs: Any) -> dict[str, Any] | None:
    try:
        return perpspec.position("XBTUSD", **kwargs)
    except perpspec.InputError:
        return None


def test_position_takes_an_off_tick_mark_as_the_cli_does(capsys: pytest.CaptureFixture[str]) -> None:
    cli = _cli(capsys, ["--qty", "1000", "--entry", "50000", "--mark", "50000.25", "--leverage", "10"])
    assert cli is not None
    assert cli["liquidationPrice"] == "45662.5"
    assert perpspec.position(qty=1000, entry="50000", mark="50000.25", leverage=10) == cli
    with pytest.raises(perpspec.InputError, match="tickSize"):  # an entry is a fill: on the tick grid, as in the CLI
        perpspec.position(qty=1000, entry="50000.25", leverage=10)


QTYS = (1000, -1000, 150, 20_000_000)  # 150: off the lot; 20,000,000 > maxOrderQty (a position, not an order)
ENTRIES = ("50000", "50000.25")
MARKS = (None, "50000.25", "0", "1000000.01")
LEVERAGES = (0, "10x", "150")
WALLETS = (None, "0 XBt", "-1000 XBt", "1 XBT")
POS_CROSS = (None, "0 XBt", "-5 XBt")


def _argv(qty: int, entry: str, mark: str | None, leverage: int | str, wallet: str | None, pos_cross: str | None) -> list[str]:
    argv = [f"--qty={qty}", f"--entry={entry}", f"--leverage={leverage}"]
    if mark is not None:
        argv.append(f"--mark={mark}")
    if wallet is not None:
        argv.append(f"--wallet={wallet.split()[0] if wallet.endswith('XBt') else int(Decimal(wallet.split()[0]) * 10**8)}")
    if pos_cross is not None:
        argv.append(f"--pos-cross={pos_cross.split()[0]}")
    return argv


@pytest.mark.parametrize("qty", QTYS)
def test_position_agrees_with_the_cli_on_a_grid_of_inputs(qty: int, capsys: pytest.CaptureFixture[str]) -> None:
    accepted = 0
    for entry, mark, leverage, wallet, pos_cross in itertools.product(ENTRIES, MARKS, LEVERAGES, WALLETS, POS_CROSS):
        cli = _cli(capsys, _argv(qty, entry, mark, leverage, wallet, pos_cross))
        library = _library(qty=qty, entry=entry, mark=mark, leverage=leverage, wallet=wallet, pos_cross=pos_cross)
        assert library == cli, (qty, entry, mark, leverage, wallet, pos_cross)
        accepted += cli is not None
    assert accepted > 0 or qty == 150
