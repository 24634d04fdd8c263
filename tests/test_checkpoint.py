"""The Engine's own checkpoint: the registry-only state encoding, never pickle.

``Engine.snapshot`` / ``from_snapshot`` and the restore after an internal error all go through
:mod:`engine.core.state_codec` — the encoding and class registry of the store's
snapshots — so no byte the engine reads back can select code
(``tests/test_integrity.py`` fails on any pickle in engine/).
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core import exchange
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.state_codec import STATE_MAGIC, decode_state
from tests.streams import command_stream

T0 = 1_600_000_000_000  # 2020-09-13


def busy_engine(seed: int = 5, length: int = 600) -> Engine:
    """An engine after a realistic day: resting orders, positions, liquidations (tests/streams.py)."""
    engine = Engine()
    for command in command_stream(seed, length):
        engine.process(command)
    return engine


def test_the_checkpoint_is_the_state_encoding_of_the_engine_state_by_name() -> None:
    blob = busy_engine().snapshot()
    assert blob.startswith(STATE_MAGIC)
    assert list(decode_state(blob)) == [name for name, _ in exchange._STATE]


def test_the_checkpoint_round_trips_to_the_same_state_hash_and_the_same_bytes() -> None:
    engine = busy_engine()
    blob = engine.snapshot()
    restored = Engine.from_snapshot(blob)
    assert (restored.state_hash(), restored.snapshot()) == (engine.state_hash(), blob)


def test_an_engine_restored_from_its_checkpoint_goes_on_as_the_original() -> None:
    commands = command_stream(6, 800)
    straight, first = Engine(), Engine()
    for command in commands:
        straight.process(command)
    for command in commands[:400]:
        first.process(command)
    second = Engine.from_snapshot(first.snapshot())
    for command in commands[400:]:
        second.process(command)
    assert second.state_hash() == straight.state_hash()


def test_a_rejected_command_whose_clock_move_fired_timers_leaves_the_bytes_a_time_tick_leaves() -> None:
    engine = Engine()
    for command in (
        c.VerifyAccount(time_ms=T0, account=1),
        c.Deposit(time_ms=T0, account=1, asset="XBt", amount=10**8),
        c.PriceUpdate(time_ms=T0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000),
        c.PlaceOrder(time_ms=T0, account=1, symbol="XBTUSD", side="Buy", order_qty=100, price=4_000_000),
        c.CancelAllAfter(time_ms=T0, account=1, timeout_ms=10_000),
    ):
        assert isinstance(engine.process(command)[-1], Accepted)
    twin = Engine.from_snapshot(engine.snapshot())
    assert isinstance(twin.process(c.TimeTick(time_ms=T0 + 20_000))[-1], Accepted)
    # the dead man's switch is due at T0 + 10 s: moving the clock fires it, and it stays fired (session 15)
    rejected = engine.process(c.CancelOrder(time_ms=T0 + 20_000, account=1, order_id=999))
    assert [type(event).__name__ for event in rejected] == ["Execution", "Rejected"]
    assert (engine.state_hash(), engine.snapshot()) == (twin.state_hash(), twin.snapshot())
