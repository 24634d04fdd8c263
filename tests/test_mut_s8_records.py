"""The state codec's record registry (``engine/core/records.py``): which classes are records, and fields added later.

Found by ``python -m tests.mutation engine/core/records.py`` (issue 13, session 8).  A state or journal names a class
only through the registry of record classes (never an exception or a plain class), and a state written before a
slot was added to a record decodes with the value the older state means (``ADDED_FIELDS``): LIQ-050's close-out age
is 0 for a close-out taken over before ages were kept — in the engine (``tests/test_liquidation_working.py``) and in
the rules model's ``PendingCloseOut``.
"""

from __future__ import annotations

import json

from perpspec.engine.core.events import Rejected
from perpspec.engine.core.state_codec import CodecError, _put_uvarint, decode_state, encode_state
from perpspec.engine.durability import codec
from perpspec.rules.waterfall_state import PendingCloseOut

NAME = b'["rules.waterfall:PendingCloseOut"'


def test_an_exception_class_is_never_a_record_class_and_a_record_class_is() -> None:
    """The codec's registry admits attrs records, enums, NamedTuples and slotted classes, never an exception:
    ``is_record_class`` answers exactly False for one (a NamedTuple event True)."""
    assert codec.is_record_class(CodecError) is False
    assert codec.is_record_class(KeyError) is False
    assert codec.is_record_class(Rejected) is True
    assert codec.is_record_class(PendingCloseOut) is True


def test_liq_050_a_rules_model_close_out_written_before_ages_were_kept_decodes_at_age_zero() -> None:
    """LIQ-050: the rules model's close-out record from before ``age`` existed decodes with age 0 (its first waterfall)."""
    unset = object.__new__(PendingCloseOut)  # the age slot never assigned: encoded as one UNSET byte, the last
    for name, value in (("pending_id", 3), ("account_id", 7), ("symbol", "XBTUSD"), ("qty", -500),
                        ("takeover_price", 880_000)):
        object.__setattr__(unset, name, value)
    encoded = encode_state([unset])
    assert encoded.endswith(b"U")
    start = encoded.index(NAME)
    end = encoded.index(b"]]", start) + 2
    name, fields = json.loads(encoded[start:end])
    assert fields[-1] == "age"
    older = json.dumps([name, fields[:-1]], separators=(",", ":")).encode()
    length, new_length = bytearray(), bytearray()
    _put_uvarint(length, end - start)
    _put_uvarint(new_length, len(older))
    assert encoded[start - len(length) : start] == bytes(length)
    old = encoded[: start - len(length)] + bytes(new_length) + older + encoded[end:-1]
    [decoded] = decode_state(old)
    assert decoded == PendingCloseOut(pending_id=3, account_id=7, symbol="XBTUSD", qty=-500, takeover_price=880_000,
                                      age=0)
