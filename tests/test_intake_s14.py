"""Session 14 intake: input-integrity defects the red team found (redteam8_1..3) and their fixes.

* the key store file's rows are exactly typed, never coerced (a disabled key stays disabled, a null secret is refused);
* a journal whose sequence numbers would not fit the records' u64 is refused at open, and a full writer appends nothing;
* numbers in text are ASCII digits only ("５００００" is no price), and an instrument file's text fields are strings;
* derived state in a snapshot is rebuilt (the liquidation index) or checked against what the engine keeps it equal to
  (Day orders, dead man's switches, spot reservations) on load.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from perpspec.engine.cli.main import main, whole_number
from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.liqindex import LiqIndex
from perpspec.engine.core.state_codec import CodecError, decode_state, encode_state
from perpspec.engine.durability.journal import (
    MAX_SEQ,
    JournalCorrupt,
    JournalFull,
    JournalWriter,
    SyncPolicy,
    genesis_link,
    journal_header,
    read_journal,
    read_snapshot,
    snapshot_bytes,
)
from perpspec.engine.durability.recovery import (
    JOURNAL_NAME,
    DurableExchange,
    command_codec,
    decode_engine,
    encode_engine,
    genesis_meta,
    snapshot_path,
)
from perpspec.engine.serve.errors import ApiError
from perpspec.engine.serve.keys import KeyStore, KeyStoreError
from perpspec.engine.serve.units import parse_iso_ms, parse_order_uuid, parse_units
from perpspec.rules.instrument_file import InstrumentError, builtin_dir, load_instrument
from perpspec.rules.parse import ParseError, parse_duration_ms, parse_int, parse_ppm, parse_scaled

GOOD: dict[str, Any] = {"id": "GoodKey", "secret": "s" * 48, "account": 1, "permissions": ["read", "trade"]}


def _store(tmp_path: Path, rows: object) -> KeyStore:
    path = str(tmp_path / "keys.json")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, json.dumps({"keys": rows}).encode())
    os.close(fd)
    return KeyStore(path)


@pytest.mark.parametrize(("change", "field"), [
    ({"enabled": "false"}, "enabled"),
    ({"enabled": 0}, "enabled"),
    ({"enabled": None}, "enabled"),
    ({"secret": None}, "secret"),
    ({"secret": ""}, "secret"),
    ({"secret": "short"}, "secret"),
    ({"secret": "s" * 47 + " "}, "secret"),
    ({"secret": 12345}, "secret"),
    ({"account": 1.9}, "account"),
    ({"account": 1.0}, "account"),
    ({"account": True}, "account"),
    ({"account": "1"}, "account"),
    ({"account": -1}, "account"),
    ({"permissions": "trade"}, "permissions"),
    ({"permissions": ["admin"]}, "permissions"),
    ({"permissions": ["read", "read"]}, "permissions"),
    ({"permissions": [1]}, "permissions"),
    ({"id": ""}, "id"),
    ({"id": 7}, "id"),
    ({"enable": False}, "unknown field(s) enable"),
])
def test_an_ill_typed_key_row_is_refused_naming_the_row_and_field(tmp_path: Path, change: dict[str, Any],
                                                                   field: str) -> None:
    store = _store(tmp_path, [GOOD, {**GOOD, "id": "Other", **change}])
    with pytest.raises(KeyStoreError) as refused:
        store.load()
    assert "keys[1]" in str(refused.value)
    assert field in str(refused.value)
    assert store.get("GoodKey") is None  # nothing of the file is half-loaded


@pytest.mark.parametrize("rows", [{"id": "x"}, "keys", None, [None], [[1, 2]]])
def test_a_key_store_of_the_wrong_shape_is_refused(tmp_path: Path, rows: object) -> None:
    with pytest.raises(KeyStoreError):
        _store(tmp_path, rows).load()


def test_a_missing_field_and_a_twice_listed_id_are_refused(tmp_path: Path) -> None:
    row = dict(GOOD)
    del row["secret"]
    with pytest.raises(KeyStoreError, match=r"keys\[0\]\.secret: missing"):
        _store(tmp_path, [row]).load()
    with pytest.raises(KeyStoreError, match="listed twice"):
        _store(tmp_path, [GOOD, GOOD]).load()


def test_well_typed_rows_load_and_a_saved_store_loads_back(tmp_path: Path) -> None:
    store = _store(tmp_path, [GOOD, {**GOOD, "id": "Off", "enabled": False, "permissions": [], "account": 0},
                              {**GOOD, "id": "Dash", "secret": "a-b_" * 12}])
    store.load()
    off = store.get("Off")
    assert off is not None
    assert (off.enabled, off.account, off.permissions) == (False, 0, ())
    made = store.create(2**40, ["trade", "read", "withdraw"])
    store.save()
    again = KeyStore(store.path)
    again.load()
    assert again.keys() == store.keys()
    assert again.get(made.key_id) == made


# ----------------------------------------------------------------------------- redteam8_3: seq beyond u64


def _store_at(directory: Path, first: int) -> None:
    """A store whose journal starts at ``first`` (no records) with a genesis snapshot at ``first - 1``."""
    engine = Engine()
    header = journal_header(first, command_codec().schema, genesis_meta(engine))
    (directory / JOURNAL_NAME).write_bytes(header)
    Path(snapshot_path(str(directory), first - 1)).write_bytes(
        snapshot_bytes(first - 1, engine.state_hash().encode(), encode_engine(engine), genesis_link(header)))


def test_a_journal_first_seq_beyond_u64_is_refused_at_open(tmp_path: Path) -> None:
    _store_at(tmp_path, MAX_SEQ + 1)
    with pytest.raises(JournalCorrupt, match="first_seq is beyond"):
        DurableExchange.open(str(tmp_path), command_codec(), Engine, policy=SyncPolicy())
    with pytest.raises(JournalCorrupt, match="first_seq is beyond"):
        read_journal(str(tmp_path / JOURNAL_NAME))


def test_a_journal_at_the_last_seq_takes_one_command_then_refuses_typed(tmp_path: Path) -> None:
    _store_at(tmp_path, MAX_SEQ)
    durable, _ = DurableExchange.open(str(tmp_path), command_codec(), Engine, policy=SyncPolicy())
    try:
        durable.submit(c.VerifyAccount(time_ms=1, account=5))  # seq MAX_SEQ: the last a record carries
        assert durable.writer.next_seq == MAX_SEQ + 1
        with pytest.raises(JournalFull):
            durable.submit(c.VerifyAccount(time_ms=1, account=6))
        assert durable.writer.next_seq == MAX_SEQ + 1  # nothing appended, the seq not advanced
        durable.commit()
    finally:
        durable.close()
    assert read_journal(str(tmp_path / JOURNAL_NAME)).last_seq == MAX_SEQ
    with pytest.raises(JournalCorrupt, match="no command can be appended"):  # full: not continued
        DurableExchange.open(str(tmp_path), command_codec(), Engine, policy=SyncPolicy())


def test_a_writer_is_not_created_beyond_u64(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="first_seq"):
        JournalWriter.create(str(tmp_path / "j.log"), {}, first_seq=MAX_SEQ + 1, policy=SyncPolicy())
    assert not (tmp_path / "j.log").exists()


# ----------------------------------------------------------------------------- ASCII digits only

FOREIGN_DIGITS = ["\uff15\uff10\uff10\uff10\uff10", "\u0665\u0660", "\u0967", "5\u0660", "1.\u0665", "-\uff11", "\U0001d7ce"]


@pytest.mark.parametrize("text", FOREIGN_DIGITS)
def test_a_number_of_non_ascii_digits_is_refused(text: str) -> None:
    for parse in (lambda t: parse_scaled(t, 100, "price"), lambda t: parse_int(t, "qty"), lambda t: parse_ppm(t, "fee")):
        with pytest.raises(ParseError):
            parse(text)
    with pytest.raises(ApiError):
        parse_units(text, 100, "Invalid price")


@pytest.mark.parametrize("text", ["\uff11h", "\u0661\u0662:00:00", "1:\u0660\u0660:00", "\u0665ms"])
def test_a_duration_of_non_ascii_digits_is_refused(text: str) -> None:
    with pytest.raises(ParseError):
        parse_duration_ms(text, "fundingInterval")


def test_ascii_numbers_still_parse() -> None:
    assert parse_scaled(" 50000.5 ", 100, "price") == 5_000_050
    assert parse_int("1_000", "qty") == 1000
    assert parse_duration_ms("08:00:00", "d") == parse_duration_ms("8h", "d") == 28_800_000
    assert parse_iso_ms("1970-01-02T00:00:00.000Z") == 86_400_000
    assert parse_order_uuid("00000000-0000-4000-8000-00000000000a") == 10


def test_api_times_and_order_ids_of_non_ascii_digits_or_a_trailing_newline_are_refused() -> None:
    assert parse_iso_ms("\uff12\uff10\uff12\uff16-01-01") is None
    assert parse_iso_ms("2026-01-01T0\u0661:00:00Z") is None
    assert parse_iso_ms("2026-01-01\n") is None
    assert parse_order_uuid("00000000-0000-4000-8000-00000000000a\n") is None


@pytest.mark.parametrize("value", ["\uff15", "\u0665", "+\u0665", "5.0", "0x5", ""])
def test_cli_whole_numbers_are_ascii_digits(value: str) -> None:
    with pytest.raises(ValueError):
        whole_number(value)
    assert (whole_number("42"), whole_number("-7"), whole_number(" +3 ")) == (42, -7, 3)


def test_cli_refuses_a_non_ascii_account(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["keys", "create", "--account", "\uff15", "--store", str(tmp_path)])
    assert refused.value.code == 2
    assert "invalid int value" in capsys.readouterr().err
    assert not (tmp_path / "keys.json").exists()


def _spot_file(tmp_path: Path, **changes: str) -> Path:
    text = (builtin_dir() / "spot" / "XBT_USDT.toml").read_text()
    lines = [line for line in text.splitlines() if line.split("=")[0].strip() not in changes]
    path = tmp_path / "spot.toml"
    path.write_text("\n".join([*lines, *(f"{name} = {value}" for name, value in changes.items())]) + "\n")
    return path


@pytest.mark.parametrize("value", ["5", "true", "[\"XBT\"]", "2026-01-01", "{ a = 1 }"])
def test_an_instrument_files_base_currency_must_be_a_string(tmp_path: Path, value: str) -> None:
    assert load_instrument(str(_spot_file(tmp_path))).base_currency == "XBt"  # the file itself loads
    with pytest.raises(InstrumentError, match="baseCurrency"):
        load_instrument(str(_spot_file(tmp_path, baseCurrency=value)))


def test_an_instrument_files_prices_of_non_ascii_digits_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InstrumentError, match="maxPrice"):
        load_instrument(str(_spot_file(tmp_path, maxPrice='"\uff11\uff10\uff10\uff10\uff10\uff10\uff10"')))


# ----------------------------------------------------------------------------- redteam8_2: derived state on load


def _liquidatable_engine() -> Engine:
    """redteam8_2's store, as an engine: account 1 long 100,000 XBTUSD at 50,000 (liquidation price 49,749.50),
    indexed and not dirty; a bid of account 9 at 40,000 to take the close-out."""
    engine = Engine()
    for command in (
        c.VerifyAccount(time_ms=0, account=1), c.VerifyAccount(time_ms=0, account=9),
        c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000),
        c.Deposit(time_ms=0, account=1, asset="XBt", amount=2_310_000),
        c.Deposit(time_ms=0, account=9, asset="XBt", amount=10**10),
        c.DepositInsurance(time_ms=0, asset="XBt", amount=10**9),
        c.PlaceOrder(time_ms=0, account=9, symbol="XBTUSD", side="Sell", order_qty=100_000, price=5_000_000),
        c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=100_000, price=5_000_000),
        c.PlaceOrder(time_ms=0, account=9, symbol="XBTUSD", side="Buy", order_qty=100_000, price=4_000_000),
        c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000),
    ):
        assert isinstance(engine.process(command)[-1], Accepted), command
    assert (1, "XBTUSD") in engine.liq.entries
    assert not engine.risk.dirty
    return engine


def _reloaded(engine: Engine, mutate: Any) -> Engine:
    state = decode_state(engine.snapshot())
    mutate(state)
    return Engine.from_snapshot(encode_state(state))


def _crash(engine: Engine) -> int:
    """Account 1's position after the mark drops to 45,000 (0: liquidated)."""
    assert isinstance(engine.process(c.PriceUpdate(time_ms=2, symbol="XBTUSD", mark_price=4_500_000,
                                                   index_price=4_500_000))[-1], Accepted)
    return int(engine.accounts[1].positions["XBTUSD"].qty)


def _empty(liq: LiqIndex) -> None:
    liq.entries.clear()
    for table in (*liq.longs.values(), *liq.shorts.values()):
        table.clear()


def _shift(liq: LiqIndex) -> None:
    """Account 1's trigger moved to one tick, where no mark passes it."""
    liq.remove(1, "XBTUSD")
    liq.set(1, "XBTUSD", True, 1)


@pytest.mark.parametrize("forge", [_empty, _shift])
def test_a_forged_liquidation_index_is_rebuilt_on_load_and_the_position_liquidated(forge: Any) -> None:
    honest = _liquidatable_engine()
    reference = Engine.from_snapshot(honest.snapshot())
    assert reference.state_hash() == honest.state_hash()
    loaded = _reloaded(honest, lambda state: forge(state["liq"]))
    assert loaded.state_hash() == honest.state_hash()  # the index is the positions', whatever the bytes said
    assert loaded.liq.entries == honest.liq.entries
    assert (_crash(loaded), _crash(reference)) == (0, 0)
    assert loaded.state_hash() == reference.state_hash()
    # the rollback checkpoint holds the rebuilt index too: a failed command restores that, not the forgery
    assert decode_state(loaded._checkpoint)["liq"].entries == honest.liq.entries


def test_forged_entries_for_no_position_are_dropped_and_a_dirty_accounts_kept() -> None:
    honest = _liquidatable_engine()

    def forge(state: dict[str, Any]) -> None:
        liq = state["liq"]
        liq.set(-1, "XBTUSD", True, 10**9)  # the liquidation engine: never indexed
        liq.set(9, "ETHUSD", False, 1)  # account 9 holds no ETHUSD: no refresh would ever drop it
        liq.set(9, "XBTUSD", False, 1)  # account 9's short, shifted; dirty: the next refresh recomputes it
        state["dirty"][9] = None

    loaded = _reloaded(honest, forge)
    assert loaded.liq.entries == {**honest.liq.entries, (9, "XBTUSD"): (False, 1)}
    reference = Engine.from_snapshot(honest.snapshot())
    assert _crash(loaded) == _crash(reference) == 0
    assert loaded.state_hash() == reference.state_hash()


def test_a_dirty_accounts_stale_entry_survives_the_round_trip_and_its_hash() -> None:
    """A deposit marks account 1 dirty; its entry is refreshed only at the next mark: kept as it is on load."""
    engine = _liquidatable_engine()
    assert isinstance(engine.process(c.Deposit(time_ms=1, account=1, asset="XBt", amount=10**8))[-1], Accepted)
    assert 1 in engine.risk.dirty
    stale = dict(engine.liq.entries)
    loaded = Engine.from_snapshot(engine.snapshot())
    assert (loaded.liq.entries, loaded.state_hash()) == (stale, engine.state_hash())
    assert _crash(loaded) == _crash(engine) != 0  # the deposit saved it, in both


def test_a_forged_index_in_a_store_is_rebuilt_by_recovery(tmp_path: Path) -> None:
    """redteam8_2 end to end: the forged snapshot with a recomputed hash loads the positions' index."""
    honest = _liquidatable_engine()
    durable, _ = DurableExchange.open(str(tmp_path), command_codec(), lambda: honest, policy=SyncPolicy())
    path = durable.snapshot()
    durable.close()
    snap = read_snapshot(path)
    state = decode_state(snap.payload)
    _empty(state["liq"])
    payload = encode_state(state)
    Path(path).write_bytes(snapshot_bytes(snap.seq, decode_engine(payload).state_hash().encode(), payload,
                                          snap.chain_head))
    durable, _ = DurableExchange.open(str(tmp_path), command_codec(), Engine, policy=SyncPolicy())
    try:
        assert _crash(durable.exchange) == 0
    finally:
        durable.close()


RICH_STATE_FORGERIES = [
    ("day-order-missing", lambda s: s["day_orders"].pop(5), "live_orders[5]: a live Day order missing from day_orders"),
    ("day-order-later", lambda s: s["day_orders"].update({5: s["day_orders"][5] + 1}), "day_orders[5]: "),
    ("day-order-not-day", lambda s: s["day_orders"].update({8: 0}), "day_orders[8]: is not a live Day order"),
    ("day-order-dead", lambda s: s["day_orders"].update({4: 0}), "day_orders[4]: is not a live Day order"),
    ("switch-unarmed-heap", lambda s: s["dms_heap"].clear(), "accounts[3].cancel_at_ms: an armed dead man's switch"),
    ("switch-moved", lambda s: object.__setattr__(s["accounts"][3], "cancel_at_ms", s["accounts"][3].cancel_at_ms + 1),
     "accounts[3].cancel_at_ms: an armed dead man's switch"),
    ("spot-reservation-less", lambda s: (s["spot_reservations"].update({7: ("USDt", s["spot_reservations"][7][1] - 1)}),
                                          s["accounts"][5].reserved.update(USDt=s["accounts"][5].reserved["USDt"] - 1)),
     "spot_reservations[7]: is not"),
    ("spot-reservation-gone", lambda s: (s["spot_reservations"].pop(7), s["accounts"][5].reserved.pop("USDt")),
     "spot_reservations[7]: is not"),
    ("spot-reservation-perp", lambda s: (s["spot_reservations"].update({8: ("XBt", 1)}),
                                          s["accounts"][3].reserved.update(XBt=1)),
     "spot_reservations[8]: reserves for an order that is no resting spot order"),
]


@pytest.mark.parametrize(("mutate", "field"), [pytest.param(m, f, id=n) for n, m, f in RICH_STATE_FORGERIES])
def test_derived_registry_state_is_checked_against_the_orders_and_accounts(mutate: Any, field: str) -> None:
    from tests.test_mut_s8_codec_snapshot import rich_engine  # builds an engine: only here

    rich = rich_engine()
    assert Engine.from_snapshot(rich.snapshot()).state_hash() == rich.state_hash()
    state = decode_state(encode_engine(rich))
    mutate(state)
    for load in (decode_engine, Engine.from_snapshot):
        with pytest.raises(CodecError, match=re.escape(field)):
            load(encode_state(state))
