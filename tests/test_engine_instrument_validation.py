"""``Engine(instruments=...)`` checks every instrument it is given exactly as a snapshot's are checked.

An instrument file is refused by ``rules.instrument_file.validate`` when its parameters are unsound (a zero tick or
lot divides by zero, a margin above 100% or a maintenance margin at or above the initial one breaks the proofs'
assumptions), and the snapshot check (``engine.core.state_check``) refuses a snapshot holding such an instrument.
Until session 11 the engine's constructor took any hand-built ``Instrument`` (``attrs.evolve`` of a shipped one), so
a library caller could build an engine that the snapshot of its own state could not restore.  Now the constructor
runs the snapshot check's per-instrument predicate (``state_check.check_instrument``: field types, the symbol its
key, ``validate``) and raises an ``InstrumentError`` naming the instrument, the field and the reason.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.state_codec import CodecError
from perpspec.rules.instrument_file import InstrumentError, load_builtin_instruments, load_instrument
from tests.test_snapshot_validation import PAYLOAD, forged

XBTUSD = load_instrument("XBTUSD")


def _refusal(instruments: dict[Any, Any]) -> str:
    with pytest.raises(InstrumentError) as refused:
        Engine(instruments)
    return str(refused.value)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tick_size": 0}, "tickSize: must be positive"),
        ({"lot_size": 0}, "lotSize: must be positive"),
        ({"init_margin_ppm": 1_000_001}, "initMargin: must be at most 1 (100%)"),
        ({"maint_margin_ppm": 10_000}, "maintMargin: must be below initMargin"),
        ({"max_price": 10**13}, "maxPrice: an inverse lot must be worth at least one minor unit at maxPrice"),
        ({"multiplier": 100_000_000}, "multiplier: must be negative exactly for inverse contracts (BitMEX sign "
                                      "convention)"),
        ({"tick_size": 50.0}, "tick_size: must be an integer, is float"),
        ({"lot_size": True}, "lot_size: must be an integer, is bool"),
        ({"mark_method": "Index"}, "mark_method: 'Index' is not one of ['FairPrice', 'LastPrice', "
                                   "'LastPriceProtected']"),
        ({"settl_currency": ""}, "symbol: symbol and settlCurrency must not be empty"),
    ],
)
def test_an_instrument_the_instrument_files_refuse_is_refused_by_the_constructor(changes: dict[str, object],
                                                                                   message: str) -> None:
    assert _refusal({"XBTUSD": attrs.evolve(XBTUSD, **changes)}) == f"instruments['XBTUSD']: {message}"


def test_an_instrument_under_another_symbol_is_refused() -> None:
    assert _refusal({"XBTUSD": XBTUSD, "XBT": XBTUSD}) == "instruments['XBT']: symbol: 'XBTUSD' differs from its key"


def test_a_value_that_is_not_an_instrument_is_refused() -> None:
    assert _refusal({"XBTUSD": "XBTUSD"}) == "instruments['XBTUSD']: (instrument): must be a Instrument, is str"


def test_a_key_that_is_not_a_symbol_is_refused() -> None:
    assert _refusal({1: XBTUSD}) == "instruments: (key): must be a symbol string, is int"


def test_the_refusal_names_the_field_the_snapshot_check_names() -> None:
    """One predicate: the constructor and ``Engine.from_snapshot`` refuse the same instrument for the same reason."""
    unsound = attrs.evolve(XBTUSD, maint_margin_ppm=10_000)
    data, _ = forged(lambda state: state["instrument_map"].update(XBTUSD=unsound), PAYLOAD)
    with pytest.raises(CodecError) as snapshot_refused:
        Engine.from_snapshot(data)
    assert str(snapshot_refused.value) == (
        "engine state field instrument_map['XBTUSD'] (maintMargin): must be below initMargin at byte offset 0"
    )
    assert _refusal({"XBTUSD": unsound}) == (
        "instruments['XBTUSD']: maintMargin: must be below initMargin"
    )


def test_the_shipped_instruments_and_a_sound_hand_built_one_are_accepted() -> None:
    assert sorted(Engine().instrument_map) == sorted(load_builtin_instruments())
    tier0 = attrs.evolve(XBTUSD.fee_tiers[0], taker_fee_ppm=500)  # tier 0 is takerFee (the file loader's)
    sound = attrs.evolve(  # the highest maxPrice validate accepts
        XBTUSD, max_price=2 * 10**12, taker_fee_ppm=500, fee_tiers=(tier0, *XBTUSD.fee_tiers[1:])
    )
    engine = Engine({"XBTUSD": sound})
    assert engine.instrument_map == {"XBTUSD": sound}
    assert isinstance(engine.process(c.VerifyAccount(time_ms=0, account=1))[-1], Accepted)
    assert Engine.from_snapshot(engine.snapshot()).state_hash() == engine.state_hash()

