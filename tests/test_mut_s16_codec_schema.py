"""A journal record whose writer's schema lacks a field this build requires is refused as a ``CodecError``,
pinned by a mutant of session 15's NamedTuple decoding (session 16, "mut16").

A command class is a NamedTuple since session 15, and a record is rebuilt from the writer's fields by name, the
fields the writer did not have taking this build's defaults.  A field with no default that the writer did not have
cannot be rebuilt: the codec refuses the record as the journal's own error (``CodecError``: recovery reports the
store corrupt), never a ``KeyError`` escaping the reader.
"""

from __future__ import annotations

import attrs
import pytest

from perpspec.engine.core.commands import COMMAND_TYPES, Deposit
from perpspec.engine.durability.command_codec import CodecError, CommandCodec


@attrs.frozen(kw_only=True)
class DepositWithoutAmount:
    """A Deposit as a (forged or foreign) writer had it: no ``amount``, which this build's Deposit requires."""

    time_ms: int
    account: int
    asset: str


def _writer() -> CommandCodec:
    DepositWithoutAmount.__name__ = "Deposit"
    classes: list[type] = [cls for name, cls in COMMAND_TYPES.items() if name != "Deposit"]
    return CommandCodec([*classes, DepositWithoutAmount])


def test_a_record_lacking_a_required_field_is_refused_as_a_codec_error() -> None:
    writer = _writer()
    record = writer.encode(DepositWithoutAmount(time_ms=5, account=1, asset="XBt"))
    reader = CommandCodec(COMMAND_TYPES.values())
    reader.use_writer_schema(writer.schema)
    with pytest.raises(CodecError, match=r"record of Deposit lacks its fields \['amount'\]"):
        reader.decode(record)


def test_a_record_with_every_required_field_is_rebuilt_by_name() -> None:
    writer = CommandCodec(COMMAND_TYPES.values())
    reader = CommandCodec(COMMAND_TYPES.values())
    reader.use_writer_schema(writer.schema)
    command = Deposit(time_ms=5, account=1, asset="XBt", amount=7)
    assert reader.decode(writer.encode(command)) == command
