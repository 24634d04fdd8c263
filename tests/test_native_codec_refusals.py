"""The compiled engine refuses hostile records, snapshots and instruments with the same typed errors as interpreted.

mypyc checks a local variable's type at every assignment: a variable first bound to a ``list`` raises ``TypeError``
when a decoded value of another type is assigned to it.  In ``CommandCodec.decode`` a ``B`` record whose fields are
not a list (a tuple, a string) and in ``use_writer_schema`` a journal header whose schema names a class with
something other than a list of field names were refused with ``CodecError`` interpreted but raised ``TypeError``
compiled (session 11, found by running the codec tests against ``build/native``), which recovery and the gateway do
not catch as damage.  Each record below is decoded in a child process running the compiled build
(``perpspec build-native``) and in this one; both must give the same ``CodecError`` (message and offset).

Likewise a forged snapshot and an unsound instrument: the snapshot check's refusal was briefly (session 11) an
interpreted subclass of the compiled ``CodecError``, which the compiled class refuses to initialise (``TypeError``);
it is now a ``CodecError`` itself, and ``Engine(instruments=...)``'s an ``InstrumentError``.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest

from perpspec.engine.bench import native as native
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.state_codec import encode_state
from perpspec.engine.durability.recovery import command_codec
from perpspec.rules.instrument_file import load_instrument
from tests.test_native import run_compiled
from tests.test_snapshot_validation import PAYLOAD, forged

needs_build = pytest.mark.skipif(native.status() is not None, reason=str(native.status()))

RECORDS = [
    b"B" + encode_state(["CancelOrder", (1, 2)]),
    b"B" + encode_state(["CancelOrder", "fields"]),
    b"B" + encode_state(["", (5,)]),
]
SCHEMAS: list[Any] = [{"CancelOrder": "order_id"}, {"CancelOrder": None}]

# run in the compiled build: decode each record and apply each schema, report the exception of each
CHILD = """
import json, sys
from perpspec.engine.core.state_codec import CodecError
from perpspec.engine.durability.recovery import command_codec
records, schemas = json.loads(sys.argv[1])
out = []
def outcome(call):
    try:
        call()
        return ["ok", None, None]
    except Exception as error:
        return [type(error).__name__, str(error), getattr(error, "offset", None)]
for record in records:
    out.append(outcome(lambda: command_codec().decode(bytes.fromhex(record))))
for schema in schemas:
    out.append(outcome(lambda: command_codec().use_writer_schema(schema)))
import perpspec.engine.durability.command_codec as module
print(json.dumps({"outcomes": out, "compiled": module.__file__.endswith(".so")}))
"""


def _outcome(call: Any) -> list[Any]:
    try:
        call()
    except Exception as error:
        return [type(error).__name__, str(error), getattr(error, "offset", None)]
    return ["ok", None, None]


def _interpreted() -> list[list[Any]]:
    codec = command_codec()
    return [_outcome(lambda record=record: codec.decode(record)) for record in RECORDS] + [
        _outcome(lambda schema=schema: command_codec().use_writer_schema(schema)) for schema in SCHEMAS
    ]


def test_the_interpreted_codec_refuses_each_with_a_codec_error() -> None:
    assert _interpreted() == [
        ["CodecError", "binary command fields are not a list at byte offset 20", 20],
        ["CodecError", "binary command fields are not a list at byte offset 20", 20],
        ["CodecError", "binary command fields are not a list at byte offset 9", 9],
        ["CodecError", "journal schema of CancelOrder is not a list of field names", None],
        ["CodecError", "journal schema of CancelOrder is not a list of field names", None],
    ]


@needs_build
def test_the_compiled_codec_refuses_each_with_the_same_codec_error() -> None:
    argument = json.dumps([[record.hex() for record in RECORDS], SCHEMAS])
    child = run_compiled("-c", CHILD, argument)
    assert child["compiled"] is True
    assert child["outcomes"] == _interpreted()


UNSOUND = attrs.evolve(load_instrument("XBTUSD"), tick_size=0)
FORGED = forged(lambda state: state["instrument_map"].update(XBTUSD=UNSOUND), PAYLOAD)[0]
ENGINE_CHILD = """
import json, sys
import attrs
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument
import perpspec.engine.core.exchange as module
def outcome(call):
    try:
        call()
        return ["ok", None]
    except Exception as error:
        return [type(error).__name__, str(error)]
out = [outcome(lambda: Engine.from_snapshot(bytes.fromhex(sys.argv[1]))),
       outcome(lambda: Engine({"XBTUSD": attrs.evolve(load_instrument("XBTUSD"), tick_size=0)}))]
print(json.dumps({"outcomes": out, "compiled": module.__file__.endswith(".so")}))
"""


def _engine_outcomes() -> list[list[Any]]:
    out = []
    for call in (lambda: Engine.from_snapshot(FORGED),
                 lambda: Engine({"XBTUSD": UNSOUND})):
        try:
            call()
            out.append(["ok", None])
        except Exception as error:
            out.append([type(error).__name__, str(error)])
    return out


def test_the_interpreted_engine_refuses_a_forged_snapshot_and_an_unsound_instrument() -> None:
    assert _engine_outcomes() == [
        ["CodecError", "engine state field instrument_map['XBTUSD'] (tickSize): must be positive at byte offset 0"],
        ["InstrumentError", "instruments['XBTUSD']: tickSize: must be positive"],
    ]


@needs_build
def test_the_compiled_engine_refuses_them_with_the_same_typed_errors() -> None:
    child = run_compiled("-c", ENGINE_CHILD, FORGED.hex())
    assert child["compiled"] is True
    assert child["outcomes"] == _engine_outcomes()
