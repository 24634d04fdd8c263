"""``perpspec export`` refuses numbers no event log holds, instead of writing them out digit by digit (review8_3).

Decimals are read exactly (``Decimal``) and written with ``format(value, "f")``: a 30-byte line ``1e300000000`` gave
a 300 MB cell (2 GB of memory), and ``NaN`` went into the CSV.  A number whose exponent is beyond 10**±60 and the
JSON constants NaN/Infinity are now a typed input error naming the line (exit 2 from the CLI); ordinary decimals
still export exactly.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from perpspec.engine.cli.main import main
from perpspec.engine.simulation.export import ExportInputError, export_events, read_event_rows


def log(tmp_path: Path, text: str) -> Path:
    events = tmp_path / "events.jsonl"
    events.write_text(text)
    return events


@pytest.mark.parametrize("number", ["1e300000000", "1e61", "1e-61", "-7E+400", "1." + "0" * 130 + "1"])
def test_an_out_of_range_number_is_a_typed_error(tmp_path: Path, number: str) -> None:
    events = log(tmp_path, '{"table": "execution", "price": 1.5}\n{"table": "execution", "price": ' + number + "}\n")
    with pytest.raises(ExportInputError, match=r"line 2: the number .* is out of range"):
        list(read_event_rows(events))


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_json_constants_are_refused(tmp_path: Path, constant: str) -> None:
    events = log(tmp_path, '{"table": "execution", "price": ' + constant + "}\n")
    with pytest.raises(ExportInputError, match=f"line 1: {constant} is not a number"):
        list(read_event_rows(events))


def test_the_cli_refuses_in_one_line_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log(tmp_path, '{"table": "execution", "price": 1e300000000}\n')
    assert main(["export", str(tmp_path), "--format", "csv"]) == 2
    assert "out of range" in capsys.readouterr().err
    assert not (tmp_path / "csv").exists()


def test_ordinary_decimals_export_exactly(tmp_path: Path) -> None:
    events = log(tmp_path, '{"table": "execution", "price": 49876.5, "rate": 1e-8, "big": 1.5e30}\n')
    rows = list(read_event_rows(events))
    assert rows[0]["price"] == Decimal("49876.5")
    export_events(events, tmp_path / "csv", "csv")
    text = (tmp_path / "csv" / "execution.csv").read_text()
    assert "49876.5" in text
    assert "0.00000001" in text
    assert "1500000000000000000000000000000" in text
