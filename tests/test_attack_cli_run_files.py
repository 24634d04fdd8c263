"""Attack review of ``perpspec explain`` and ``perpspec export``: a damaged run folder is an input error.

Found by the session-5 integrity review: a ``summary.json`` nested deeper than the JSON
parser recurses, a ``summary.json`` that is a list, or an event row with a 5,000-digit
number ended ``explain``/``export`` with "internal error" and status 70 (a perpspec bug,
by the CLI's own contract) instead of one line naming the folder and status 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perpspec.engine.cli.main import main

ROW = {"table": "transaction", "seq": 1, "timestamp": "2020-03-12T00:00:00.000Z", "transactType": "Deposit",
       "account": 5, "currency": "XBt", "amount": 100, "symbol": "", "text": ""}


def _run(tmp_path: Path, summary: str, row: str = json.dumps(ROW)) -> Path:
    (tmp_path / "events.jsonl").write_text(row + "\n")
    (tmp_path / "summary.json").write_text(summary)
    return tmp_path


@pytest.mark.parametrize("summary", ["[" * 2_000 + "]" * 2_000, "[1, 2]", '{"coin": "many"}'])
def test_explain_of_a_damaged_summary_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], summary: str
) -> None:
    assert main(["explain", "--account", "5", str(_run(tmp_path, summary))]) == 2
    assert "is not a readable perpspec run" in capsys.readouterr().err


def test_explain_of_a_sound_folder_still_tells_the_story(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--account", "5", str(_run(tmp_path, "{}"))]) == 0
    assert "internal error" not in capsys.readouterr().err


def test_export_of_a_row_with_a_5000_digit_number_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    row = json.dumps(ROW).replace('"amount": 100', '"amount": ' + "9" * 5_000)
    run = _run(tmp_path, "{}", row)
    assert main(["export", str(run), "--out", str(tmp_path / "csv")]) == 2
    assert "is not a readable perpspec event log" in capsys.readouterr().err
