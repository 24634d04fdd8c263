"""``what-if`` compares the same market and the same positions, each side in its own instrument's units.

Red team session 11: ``--set priceScale=1`` evaluated the proposed side with prices still in units
of 1/100 USD (a 50,000 USD mark read as 5,000,000 USD) and printed both columns with the proposed
instrument (find_1); ``--set lotSize=30000`` valued positions that are not whole lots of it, which
no engine could hold, as if they were (a 20,000-contract long needing posMaint 0, find_2). Now the
proposed side reads the marks and entry prices re-expressed exactly in the new price units (or the
comparison is refused naming the price), each column is printed in its own instrument's units, and
a position that is not whole lots of a lot size is refused, named. A proposal that changes what a
contract, a price or the money held is (settlement or quote currency, multiplier) was read the same
way (posted XBt margins counted as USDt) and is refused too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest

from perpspec.engine.cli.main import main
from perpspec.engine.cli.what_if import changed_parameters
from perpspec.engine.simulation.what_if import (
    HeldPosition,
    State,
    StateError,
    WhatIf,
    compare,
    parse_state,
    read_state_file,
)
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_instrument

EXAMPLE = str(Path(__file__).resolve().parent.parent / "specs" / "what_if" / "positions.toml")
WHOLE_DOLLARS = {"priceScale": "1", "tickSize": "1"}


def _instruments(**overrides: str) -> tuple[dict[str, Instrument], dict[str, Instrument]]:
    current = {symbol: load_instrument(symbol) for symbol in ("XBTUSD", "XBTUSDT")}
    return current, dict(current, XBTUSD=load_instrument("XBTUSD", overrides))


def _example_state(current: dict[str, Instrument], text: str | None = None, tmp_path: Path | None = None) -> State:
    path = Path(EXAMPLE)
    if text is not None and tmp_path is not None:
        path = tmp_path / "positions.toml"
        path.write_text(text)
    return parse_state(read_state_file(path), current, str(path))


def _what_if_json(capsys: pytest.CaptureFixture[str], *settings: str) -> Any:
    argv = ["what-if", "--params", "XBTUSD", "--state", EXAMPLE, "--json"]
    for setting in settings:
        argv += ["--set", setting]
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def _xbtusd(result: WhatIf) -> list[tuple[int, int, int, int, int]]:
    """(account, posMaint, excess, liquidation price now, new) of every XBTUSD position."""
    return [
        (c.held.account_id, c.after.pos_maint, c.after.excess, c.before.liquidation_price, c.after.liquidation_price)
        for c in result.changes
        if c.held.symbol == "XBTUSD"
    ]


def test_whole_dollar_prices_keep_every_requirement_and_move_liquidation_by_less_than_a_dollar() -> None:
    current, proposed = _instruments(**WHOLE_DOLLARS)
    state = _example_state(current)
    result = compare(state, current, proposed)
    assert [(c.before.pos_maint, c.before.excess) for c in result.changes] == [
        (c.after.pos_maint, c.after.excess) for c in result.changes
    ]
    # the proposed liquidation price is in whole dollars, the current one in cents
    moves_cents = [abs(after * 100 - before) for _, _, _, before, after in _xbtusd(result)]
    assert [move < 100 for move in moves_cents] == [True] * 4


def test_the_current_column_is_printed_in_the_current_units_whatever_is_proposed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    shipped = _what_if_json(capsys, "maintMargin=0.005")
    whole_dollars = _what_if_json(capsys, "priceScale=1", "tickSize=1")
    columns = ("liquidationPrice", "bankruptPrice", "posMaint")
    assert [[row[name]["current"] for name in columns] for row in shipped["positions"]] == [
        [row[name]["current"] for name in columns] for row in whole_dollars["positions"]
    ]


def test_a_proposed_whole_dollar_liquidation_price_is_printed_in_dollars(capsys: pytest.CaptureFixture[str]) -> None:
    payload = _what_if_json(capsys, "priceScale=1", "tickSize=1")
    [first] = [row for row in payload["positions"] if row["account"] == 1]
    assert first["liquidationPrice"] == {"current": "49261.5", "proposed": "49262"}


def test_an_entry_price_finer_than_the_new_unit_is_refused_naming_it(tmp_path: Path) -> None:
    current, proposed = _instruments(**WHOLE_DOLLARS)
    text = Path(EXAMPLE).read_text().replace('entry = "48000"', 'entry = "48000.5"')
    state = _example_state(current, text, tmp_path)
    with pytest.raises(StateError, match=r"entry price of account 4 XBTUSD 48000\.5 cannot be expressed exactly"):
        compare(state, current, proposed)


def test_a_mark_finer_than_the_new_unit_is_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "positions.toml"
    path.write_text(Path(EXAMPLE).read_text().replace('XBTUSD = "50000"', 'XBTUSD = "50000.25"'))
    argv = ["what-if", "--params", "XBTUSD", "--set", "priceScale=1", "--set", "tickSize=1", "--state", str(path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{path}: mark of XBTUSD 50000.25 cannot be expressed exactly at the proposed priceScale 1" in err


def test_a_position_held_at_a_cost_basis_is_rescaled_by_its_cost_not_its_rounded_entry() -> None:
    current, proposed = _instruments(**WHOLE_DOLLARS)
    example = _example_state(current)
    # an engine snapshot's entry is derived from the cost basis and rounded; money is the cost
    held = attrs.evolve(example.positions[0], entry_price=5_000_001, cost=-200_000_000)
    state = attrs.evolve(example, positions=(held, *example.positions[1:]))
    [change] = [c for c in compare(state, current, proposed).changes if c.held.account_id == 1]
    before, after = change.before, change.after
    assert (before.cost, before.pos_maint, before.excess) == (after.cost, after.pos_maint, after.excess)


def test_positions_not_whole_lots_of_the_proposed_lot_size_are_refused_naming_them() -> None:
    current, proposed = _instruments(lotSize="30000", maxOrderQty="9990000")
    with pytest.raises(StateError) as caught:
        compare(_example_state(current), current, proposed)
    assert str(caught.value) == (
        "3 position(s) not a whole number of lots of the proposed lotSize, which no engine could hold: "
        "account 1 XBTUSD qty 100000 (lotSize 30000), account 3 XBTUSD qty -40000 (lotSize 30000), "
        "account 4 XBTUSD qty 20000 (lotSize 30000)"
    )


def test_a_lot_size_every_position_is_whole_lots_of_is_compared(capsys: pytest.CaptureFixture[str]) -> None:
    payload = _what_if_json(capsys, "lotSize=20000", "maxOrderQty=9980000")
    assert payload["summary"]["positions"] == 5


def test_cli_refuses_an_off_lot_proposal_with_status_two(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["what-if", "--params", "XBTUSD", "--set", "lotSize=30000", "--set", "maxOrderQty=9990000"]
    assert main([*argv, "--state", EXAMPLE, "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{EXAMPLE}: 3 position(s) not a whole number of lots of the proposed lotSize" in captured.err


def test_a_library_state_off_the_current_lot_is_refused() -> None:
    current, _ = _instruments()
    held = HeldPosition(account_id=9, symbol="XBTUSD", qty=150, entry_price=5_000_000, leverage_hundredths=0)
    state = State(wallets={9: {"XBt": 10**8}}, positions=(held,), marks={"XBTUSD": 5_000_000})
    with pytest.raises(StateError, match=r"of the current lotSize, which no engine could hold: account 9 XBTUSD qty 150"):
        compare(state, current, current)


def test_changed_price_fields_are_shown_in_each_instruments_own_units() -> None:
    current, proposed = _instruments(**WHOLE_DOLLARS)
    rows = changed_parameters(current["XBTUSD"], proposed["XBTUSD"])
    assert rows == [("priceScale", "100", "1"), ("tickSize", "0.5", "1")]


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("settlCurrency=USDt", "settlCurrency XBt → USDt"),
        ("quoteCurrency=EUR", "quoteCurrency USD → EUR"),
        ("multiplier=-200000000", "multiplier -100000000 → -200000000"),
    ],
)
def test_a_proposal_changing_what_the_contract_or_its_money_is_is_refused(
    setting: str, named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["what-if", "--params", "XBTUSD", "--set", setting, "--state", EXAMPLE, "--json"]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{EXAMPLE}: XBTUSD: {named} changes what a contract, a price or the money held is" in captured.err


# -- redteam23_7: changed parameters as the instrument file writes them, the held ones apart -----------------------


def test_changed_parameters_are_written_as_the_instrument_file_writes_them() -> None:
    current = load_instrument("XBTUSD")
    proposed = load_instrument("XBTUSD", {"fixedInterestRate": "0.0006", "fundingInterval": "4h", "maintMargin": "0.006"})
    rows = {name: (before, after) for name, before, after in changed_parameters(current, proposed)}
    assert rows["fundingInterval"] == ("08:00:00", "04:00:00")  # not 28800000 → 14400000 (ms)
    assert rows["fixedInterestRate"] == ("not set", "0.06% a day")  # not None → 600 (ppm)
    assert rows["maintMargin"] == ("0.50%", "0.60%")
    assert not any("None" in before + after for before, after in rows.values())


def test_a_scenarios_index_and_funding_fields_are_listed_apart_not_as_changes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A simulate snapshot's instrument sets impactNotional and fixedInterestRate; with no --set they are no
    change of anything a what-if evaluates."""
    from perpspec.engine.cli.what_if import held_parameters

    scenario = load_instrument("XBTUSD", {"impactNotional": 1_000_000_000, "fixedInterestRate": "0.0003"})
    evaluated, held = held_parameters(changed_parameters(scenario, load_instrument("XBTUSD")))
    assert evaluated == []
    assert held == [("impactNotional", "1000000000", "not set"), ("fixedInterestRate", "0.03% a day", "not set")]
    report = _what_if_json(capsys, "fundingInterval=4h")
    assert report["changedParameters"] == []
    assert report["changedHeldParameters"] == [{"name": "fundingInterval", "current": "08:00:00", "proposed": "04:00:00"}]


def test_no_figure_of_a_what_if_depends_on_a_held_parameter() -> None:
    """HELD_FIELDS is listed apart because the comparison does not read it: changing each changes nothing."""
    from perpspec.engine.cli.what_if import HELD_FIELDS

    current, _ = _instruments()
    state = _example_state(current)
    baseline = compare(state, current, current)
    assert any(change.after.liquidatable or change.after.liquidation_price for change in baseline.changes)
    base = current["XBTUSD"]
    for name in HELD_FIELDS:
        value = getattr(base, name)
        if name == "mark_method":
            other: object = "LastPrice"
        elif value is None or value == 0:
            other = 86_400_000 if name.endswith("_ms") else 1_000
        else:
            other = value * 2
        proposed = dict(current, XBTUSD=attrs.evolve(base, **{name: other}))
        assert compare(state, current, proposed) == baseline, name
