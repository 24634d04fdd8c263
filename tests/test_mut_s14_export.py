"""Session 13's export checks measured by mutants (session 14, helper "mut14").

Found by ``python -m tests.mutation engine/simulation/export.py engine/cli/export.py`` on the lines session 13
changed (review8_3, red team 6 find 4): the numbers an event log may hold (``read_decimal``: exponents within
10**±60, at most 120 fraction digits), plain table names of at most 64 characters (``check_table_name``) and the
one-line refusals that name where the problem is (a line of the log, a row given) and quote a bounded part of it.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from perpspec.engine.cli.main import main
from perpspec.engine.simulation.export import (
    ExportInputError,
    check_table_name,
    group_by_table,
    read_event_rows,
)


def log(tmp_path: Path, text: str) -> Path:
    events = tmp_path / "events.jsonl"
    events.write_text(text)
    return events


@pytest.mark.parametrize("number", ["1e60", "-9.5E+60", "1e-60", "1." + "0" * 119 + "1"])
def test_numbers_at_the_edge_of_the_range_are_read_exactly(tmp_path: Path, number: str) -> None:
    """Kills both ``> MAX_DECIMAL_EXPONENT`` -> ``>=`` of ``read_decimal`` (the adjusted exponent, and the 120
    fraction digits).

    10**60 and 10**-60 are inside the range and a decimal with exactly 120 fraction digits is too (the tests had
    only numbers beyond it); the mutants refused them as out of range."""
    events = log(tmp_path, '{"table": "execution", "price": ' + number + "}\n")
    assert [row["price"] for row in read_event_rows(events)] == [Decimal(number)]


def test_an_out_of_range_number_is_quoted_by_its_first_40_characters(tmp_path: Path) -> None:
    """Kills ``text[:40]`` -> ``text[:41]`` in ``read_decimal``: the refusal quotes a bounded prefix of the
    number (the number may be megabytes long), exactly 40 characters."""
    number = "1234567890" * 5 + "e400"
    events = log(tmp_path, '{"table": "execution", "price": ' + number + "}\n")
    with pytest.raises(ExportInputError) as caught:
        list(read_event_rows(events))
    assert caught.value.reason == f"the number {number[:40]} is out of range for an event log"


def test_a_table_name_of_64_characters_is_plain_and_one_of_65_is_not() -> None:
    """Kills ``len(table) > _TABLE_NAME_MAX`` -> ``>=`` in ``check_table_name`` (both the check and the "..." of
    the refusal).

    A plain identifier of 64 characters names a file; 65 are refused, quoted by their first 64 and "...".  An
    invalid name of exactly 64 characters is quoted whole, without "..."."""
    assert check_table_name("t" * 64, "line 1") == "t" * 64
    with pytest.raises(ExportInputError) as caught:
        check_table_name("t" * 65, "line 1")
    assert caught.value.reason.startswith(f"table {'t' * 64!r}... is not")
    with pytest.raises(ExportInputError) as caught:
        check_table_name("-" * 64, "line 1")
    assert caught.value.reason.startswith(f"table {'-' * 64!r} is not")


def test_rows_given_are_named_by_their_number_from_one() -> None:
    """Kills ``enumerate(rows, start=1)`` -> ``start=2`` in ``group_by_table``: the refusal of a row given in
    memory names it as the second row, not the third."""
    with pytest.raises(ExportInputError) as caught:
        group_by_table([{"table": "execution"}, {"table": "../x"}])
    assert caught.value.where == "row 2"


def test_the_cli_quotes_at_most_300_characters_of_the_refusal(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Kills ``str(error)[:300]`` -> ``[:301]`` in ``engine/cli/export.py``: a table of control characters makes a
    refusal longer than 300 characters (each shown as ``\\x00``); the one line quotes its first 300."""
    events = log(tmp_path, json.dumps({"table": "\x00" * 100}) + "\n")
    assert main(["export", str(tmp_path), "--format", "csv"]) == 2
    err = capsys.readouterr().err.strip()
    with pytest.raises(ExportInputError) as caught:
        list(read_event_rows(events))
    assert len(str(caught.value)) > 300
    assert err.endswith(f"EVENTS: {events}: {str(caught.value)[:300]}")
    assert not (tmp_path / "csv").exists()
