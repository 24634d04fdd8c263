"""A state encoding whose class header is JSON nested past the parser's stack is a ``CodecError``, pinned by a mutant
of session 15's ``state_codec._decode_class`` (session 16, "mut16").

A class header is ``[name, fields]`` as JSON; ``json.loads`` raises ``RecursionError`` (no ``ValueError``) on one
nested a hundred thousand deep.  Snapshots, checkpoints and a journal's binary command records are decoded by
``decode_state``, so bytes from a file reach it: it answers them with its own error, never an internal one.
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import state_codec
from perpspec.engine.core.commands import COMMAND_TYPES, TimeTick
from perpspec.engine.core.state_codec import CodecError, decode_state, encode_state
from perpspec.engine.durability.command_codec import CommandCodec


def _nested_header_state() -> bytes:
    """``encode_state(TimeTick(5))`` with its class header replaced by ``[[[…]]]`` 100,000 deep."""
    data = encode_state(TimeTick(time_ms=5))
    assert data[5] == 0  # the class's first reference: 0, then the header's length and the header
    length = data[6]
    assert data[7 : 7 + length].startswith(b'["')
    nested = b"[" * 100_000 + b"]" * 100_000
    size = bytearray()
    state_codec._put_uvarint(size, len(nested))
    return data[:6] + bytes(size) + nested + data[7 + length :]


def test_a_class_header_nested_past_the_stack_is_a_codec_error() -> None:
    with pytest.raises(CodecError, match=r"malformed class header \(RecursionError"):
        decode_state(_nested_header_state())


def test_a_journal_record_holding_such_a_header_is_a_codec_error() -> None:
    with pytest.raises(CodecError, match=r"malformed class header \(RecursionError"):
        CommandCodec(COMMAND_TYPES.values()).decode(b"B" + _nested_header_state())
