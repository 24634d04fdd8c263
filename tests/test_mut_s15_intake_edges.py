"""Intake edges session 14 left untested (session 15, helper "mut15").

* ASCII digits only (``rules/parse.py``: ``\\d`` and ``int`` take any script's digits): a number written with only
  a fraction (``.5``) and a duration's seconds were not tried with foreign digits, so putting ``\\d`` back in
  either of those two places passed every test.
* A journal's first seq is in ``[1, MAX_SEQ]`` (``JournalWriter.create``): the upper bound was pinned, dropping the
  lower one passed -- a writer created at seq 0 writes a header its own reader refuses.  A full journal's
  ``JournalFull`` names offset 0 (``1`` there passed too).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from perpspec.engine.durability.journal import MAX_SEQ, JournalFull, JournalWriter, SyncPolicy, read_journal
from perpspec.engine.serve.errors import ApiError
from perpspec.engine.serve.units import parse_units
from perpspec.rules.parse import ParseError, parse_duration_ms, parse_ppm, parse_scaled


@pytest.mark.parametrize("text", [".\u0665", "-.\uff15", "+.\u0967"])
def test_a_fraction_only_number_of_non_ascii_digits_is_refused(text: str) -> None:
    assert parse_scaled("." + "5", 100, "price") == 50  # the same shape in ASCII parses
    with pytest.raises(ParseError):
        parse_scaled(text, 100, "price")
    with pytest.raises(ParseError):
        parse_ppm(text, "fee")
    with pytest.raises(ApiError):
        parse_units(text, 100, "Invalid price")


def test_a_duration_whose_seconds_are_non_ascii_digits_is_refused() -> None:
    assert parse_duration_ms("1:00:05", "fundingInterval") == 3_605_000
    with pytest.raises(ParseError):
        parse_duration_ms("1:00:\u0660\u0665", "fundingInterval")


@pytest.mark.parametrize("first_seq", [0, -1])
def test_a_writer_is_not_created_below_seq_1(tmp_path: Path, first_seq: int) -> None:
    path = tmp_path / "j.log"
    with pytest.raises(ValueError, match="first_seq"):
        JournalWriter.create(str(path), {}, first_seq=first_seq, policy=SyncPolicy())
    assert not path.exists()
    writer = JournalWriter.create(str(path), {}, first_seq=1, policy=SyncPolicy())  # the lowest there is
    writer.close()
    assert read_journal(str(path)).last_seq == 0


def test_a_full_journal_refuses_the_next_record_typed_naming_no_place_in_the_file(tmp_path: Path) -> None:
    """Seq ``MAX_SEQ`` is the last a record carries: the next append raises ``JournalFull`` (nothing appended, the
    seq not advanced); the error points at no damage in the file (offset 0: the journal is whole)."""
    path = tmp_path / "j.log"
    writer = JournalWriter.create(str(path), {}, first_seq=MAX_SEQ, policy=SyncPolicy())
    try:
        assert writer.append(b"last") == MAX_SEQ
        with pytest.raises(JournalFull) as full:
            writer.append(b"one too many")
        assert (full.value.path, full.value.offset) == (str(path), 0)
        assert str(full.value).endswith("at byte offset 0")
        assert writer.next_seq == MAX_SEQ + 1
        writer.commit()
    finally:
        writer.close()
    assert read_journal(str(path)).last_seq == MAX_SEQ
