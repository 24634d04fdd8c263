"""The event log's JSON text is what it was before the encoder was made quicker (issue 14, byte identity).

``encode_json`` now runs the C encoder built once (not anew per record, as
``JSONEncoder.encode`` does), skips the bare-number substitution when no
:func:`Num` value is in the text, and substitutes with a function rather than a
template.  Each record here, tricky strings included, must encode to exactly the
text of the previous ``_BARE_NUMBER.sub(r"\\1", _ENCODE(value))``.
"""

from __future__ import annotations

from typing import Any

import pytest

from perpspec.engine.simulation.eventlog import _BARE_NUMBER, _ENCODE, Num, encode_json


def previous(value: Any) -> str:
    return _BARE_NUMBER.sub(r"\1", _ENCODE(value))


RECORDS: list[Any] = [
    {"table": "execution", "seq": 1, "price": Num("7353.5"), "lastPx": Num("-0.00001"), "stopPx": None, "text": ""},
    {"table": "transaction", "amount": -(10**30), "text": "Funding", "flag": True, "other": False},
    {"text": "\x00123"},  # a string that is a marked number by accident: bare, as before
    {"text": 'a"\x00123'},  # an escaped quote before it: the old substitution's text, whatever it is
    {"text": "\x00abc", "n": Num("12.")},  # marks that are not numbers stay strings
    {"text": "ünïcode ✓ \n\t\\ \u2028"},
    {"rows": [Num("1"), {"inner": Num("2.5")}, [None, 3]], "empty": {}, "list": []},
    {},
    {"k": Num("0")},
    [Num("1"), "x"],
    "just a string",
    7,
]


@pytest.mark.parametrize("value", RECORDS)
def test_encode_json_gives_the_previous_text(value: Any) -> None:
    assert encode_json(value) == previous(value)


def test_numbers_are_bare() -> None:
    assert encode_json({"a": Num("1.5"), "b": "x"}) == '{"a":1.5,"b":"x"}'
