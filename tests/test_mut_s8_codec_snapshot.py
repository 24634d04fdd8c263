"""Every field of the engine's state through a snapshot and back: the same state hash, the same behaviour after.

``Engine.snapshot`` / ``Engine.from_snapshot`` (and the store's ``encode_engine`` / ``decode_engine``) write the
state in the registry-only state encoding (engine/core/state_codec.py; DESIGN §7 "bytes from outside never select
code"; the journal's "restart = load snapshot, replay the tail; the state hash after recovery equals the hash
before the crash").  The engine here is built through public commands so that every one of the 28 state fields
the snapshot holds (``engine.core.exchange._STATE``) is non-empty or away from its default — a held take-over
(LIQ-023 / ADL-031), a settled contract (SET-003), a Day order (ORD time in force), a dead man's switch, a stop,
a spot reservation, an isolated position, an insurance fund and fees — and the restored engine is then run on
the same commands as the original: the same events, one by one, and the same state hash.

A snapshot cut short, or naming a field no engine has, is refused as a typed error by the store's decoder
(helper "mutcodec", session 8, issue 13).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import _STATE, Engine
from perpspec.engine.core.state_codec import CodecError, decode_state, encode_state
from perpspec.engine.durability.recovery import decode_engine, encode_engine
from perpspec.rules.instrument_file import load_instrument

SPOT = load_instrument(str(Path(__file__).resolve().parent.parent / "specs" / "instruments" / "spot" / "XBT_USDT.toml"))
T0 = 1_798_000_000_000  # 200,000 s before XBTZ26's expiry
EXPIRY = 1_798_200_000_000
DAY_MS = 86_400_000
PRICE = 5_000_000


def _ok(engine: Engine, command: Any) -> list[Any]:
    events = list(engine.process(command))
    assert isinstance(events[-1], Accepted), events[-1]
    return events


def rich_engine() -> Engine:
    """An engine whose every state field holds something (checked by the first test)."""
    instruments = {symbol: load_instrument(symbol) for symbol in ("XBTUSD", "ETHUSD", "XBTZ26")}
    engine = Engine(
        {**instruments, "XBT_USDT": SPOT},
        max_liquidations_per_update=7,
        adl_policy="pro-rata",
        max_clock_step_ms=40_000_000_000,
    )
    t = T0
    for account in (1, 2, 3, 4, 5):
        _ok(engine, c.VerifyAccount(time_ms=t, account=account))
        _ok(engine, c.Deposit(time_ms=t, account=account, asset="XBt", amount=10**10 if account != 2 else 2_000_000))
    _ok(engine, c.Deposit(time_ms=t, account=5, asset="USDt", amount=10**12))
    _ok(engine, c.DepositInsurance(time_ms=t, asset="XBt", amount=10**9))
    for symbol, price in (("XBTUSD", PRICE), ("XBTZ26", PRICE), ("ETHUSD", 300_000), ("XBT_USDT", PRICE)):
        _ok(engine, c.PriceUpdate(time_ms=t, symbol=symbol, mark_price=price, index_price=price))
    # XBTZ26: a trade, then the contract settles at its expiry (SET-003): `settled`
    _ok(engine, c.PlaceOrder(time_ms=t, account=3, symbol="XBTZ26", side="Sell", order_qty=100, price=PRICE))
    _ok(engine, c.PlaceOrder(time_ms=t, account=4, symbol="XBTZ26", side="Buy", order_qty=100, price=PRICE))
    assert engine.instrument_map["XBTZ26"].expiry_ms == EXPIRY
    _ok(engine, c.PriceUpdate(time_ms=EXPIRY, symbol="XBTZ26", mark_price=PRICE, index_price=PRICE))
    _ok(engine, c.Settle(time_ms=EXPIRY, symbol="XBTZ26", settlement_price=PRICE))
    t = EXPIRY + 1
    # XBTUSD: account 2 (0.02 XBT) buys 1,000 at 100x from account 3; the mark then falls between its liquidation
    # and bankruptcy prices with no bid in the book: the liquidation engine holds the take-over (`pending`)
    _ok(engine, c.SetLeverage(time_ms=t, account=2, symbol="XBTUSD", leverage_hundredths=10_000))
    _ok(engine, c.PlaceOrder(time_ms=t, account=3, symbol="XBTUSD", side="Sell", order_qty=1_000, price=PRICE))
    _ok(engine, c.PlaceOrder(time_ms=t, account=2, symbol="XBTUSD", side="Buy", order_qty=1_000, price=PRICE))
    liquidation, bankruptcy = engine.risk.position_prices(engine.accounts[2], "XBTUSD")
    mark = (liquidation + bankruptcy) // 2 // 50 * 50
    _ok(engine, c.PriceUpdate(time_ms=t, symbol="XBTUSD", mark_price=mark, index_price=mark))
    assert engine.pending
    # resting orders: a Day order with a clOrdID, a stop, a spot buy (its reservation), an isolated ETHUSD long
    _ok(engine, c.PlaceOrder(time_ms=t, account=1, symbol="XBTUSD", side="Buy", order_qty=500, price=PRICE - 500_000,
                             time_in_force="Day", cl_ord_id="day-1"))
    _ok(engine, c.PlaceOrder(time_ms=t, account=4, symbol="XBTUSD", side="Buy", order_qty=200, ord_type="Stop",
                             stop_px=PRICE + 10_000))
    _ok(engine, c.PlaceOrder(time_ms=t, account=5, symbol="XBT_USDT", side="Buy", order_qty=10_000, price=PRICE - 100))
    _ok(engine, c.SetLeverage(time_ms=t, account=4, symbol="ETHUSD", leverage_hundredths=500))
    _ok(engine, c.PlaceOrder(time_ms=t, account=3, symbol="ETHUSD", side="Sell", order_qty=50, price=300_000))
    _ok(engine, c.PlaceOrder(time_ms=t, account=4, symbol="ETHUSD", side="Buy", order_qty=20, price=300_000))
    _ok(engine, c.PlaceOrder(time_ms=t, account=1, symbol="ETHUSD", side="Buy", order_qty=10, price=300_000))
    _ok(engine, c.CancelAllAfter(time_ms=t, account=3, timeout_ms=60_000))
    _ok(engine, c.FundingTick(time_ms=t, symbol="ETHUSD", rate_e8=10_000))
    return engine


AFTER = [
    c.PriceUpdate(time_ms=EXPIRY + 30_000, symbol="ETHUSD", mark_price=310_000, index_price=310_000),
    c.PlaceOrder(time_ms=EXPIRY + 40_000, account=3, symbol="XBT_USDT", side="Sell", order_qty=10_000, price=PRICE - 100),
    c.TimeTick(time_ms=EXPIRY + 70_000),  # the dead man's switch fires
    c.PlaceOrder(time_ms=EXPIRY + 80_000, account=1, symbol="XBTUSD", side="Buy", order_qty=1_000, price=PRICE),
    c.PriceUpdate(time_ms=EXPIRY + 90_000, symbol="XBTUSD", mark_price=PRICE + 10_000, index_price=PRICE + 10_000),
    c.TimeTick(time_ms=(EXPIRY // DAY_MS + 1) * DAY_MS),  # the next day: the Day order expires
    c.CancelOrder(time_ms=(EXPIRY // DAY_MS + 1) * DAY_MS, account=4, cl_ord_id="none"),
]


def test_every_state_field_is_away_from_a_fresh_engines() -> None:
    """The round trip below is only worth something if each field holds state (derived caches aside)."""
    engine, fresh = rich_engine(), Engine(instruments={})
    empty = [
        name
        for name, owner in _STATE
        if encode_state(getattr(getattr(engine, owner), name)) == encode_state(getattr(getattr(fresh, owner), name))
    ]
    assert empty == ["dirty"]  # the risk cache's work list, emptied by every query


def test_a_restored_engine_has_the_same_hash_bytes_and_events_as_the_original() -> None:
    original = rich_engine()
    blob = original.snapshot()
    restored = Engine.from_snapshot(blob)
    assert (restored.state_hash(), restored.snapshot()) == (original.state_hash(), blob)
    stored = decode_engine(encode_engine(original))
    assert stored.state_hash() == original.state_hash()
    for command in AFTER:
        expected = list(original.process(command))
        assert list(restored.process(command)) == expected
        assert list(stored.process(command)) == expected
        assert restored.state_hash() == stored.state_hash() == original.state_hash()


def test_the_continuation_exercises_the_restored_timers_stop_spot_order_and_take_over() -> None:
    """AFTER is not idle: it fires the dead man's switch and the Day expiry, triggers the stop, fills the spot
    order, and the held take-over is closed by a bid."""
    engine = rich_engine()
    pending, live = len(engine.pending), len(engine.live_orders)
    texts = [getattr(e, "text", "") for command in AFTER for e in engine.process(command)]
    assert "Canceled: Cancel-all-after (dead man's switch) fired" in texts
    assert "Canceled: Day order expired" in texts
    assert (pending, len(engine.pending)) == (1, 0)
    assert live > len(engine.live_orders)
    assert engine.registry.spot_reservations == {}


@pytest.mark.parametrize("cut", [5, 100, 1_000, -1_000, -10, -1])
def test_a_snapshot_cut_short_is_a_codec_error_at_an_offset(cut: int) -> None:
    blob = encode_engine(rich_engine())
    with pytest.raises(CodecError) as caught:
        decode_engine(blob[:cut])
    assert caught.value.offset is not None
    assert 0 < caught.value.offset <= len(blob[:cut])


def test_a_snapshot_with_a_field_no_engine_has_is_refused_by_name() -> None:
    state = decode_state(encode_engine(rich_engine()))
    state["owner_password"] = "x"
    with pytest.raises(CodecError, match=r"engine state has attributes \['owner_password'\] no engine has"):
        decode_engine(encode_state(state))
