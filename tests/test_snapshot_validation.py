"""A forged snapshot whose values are ill-typed, out of range or inconsistent is refused by field, and loads nothing.

The state hash is anyone's to recompute (and it does not cover ``live_orders``, ``holders``, the counters of the
waterfall or the position caches), so the codec's "bytes never select code" (DESIGN §7) is not enough: a snapshot
with ``next_order_id = "x"`` and a matching hash loaded, and the engine failed on its first command.  Every loader
(``Engine.from_snapshot``, the store's ``decode_engine``, so ``recover`` / ``perpspec replay`` / ``what-if
--state`` / a journal's genesis) now runs :func:`engine.core.state_check.check_engine_state` first: each forgery
below — built from the rich engine of ``test_mut_s8_codec_snapshot`` (every one of the 28 state fields holding
something), written as a snapshot of a real store with its recomputed state hash — is a ``CodecError`` /
``SnapshotCorrupt`` naming the field, the store's files are untouched, and recovery without the snapshot rebuilds
the genuine state (helper "snapcheck", session 8; the engine rule "bad input -> typed reject, no partial change").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.exchange import _STATE, Engine
from perpspec.engine.core.fastmargin import RestingCache
from perpspec.engine.core.state_check import STATE_FIELDS, check_engine_state
from perpspec.engine.core.state_codec import CodecError, decode_state, encode_state
from perpspec.engine.durability.journal import SnapshotCorrupt, read_snapshot, write_snapshot
from perpspec.engine.durability.recovery import (
    JOURNAL_NAME,
    DurableExchange,
    command_codec,
    decode_engine,
    encode_engine,
    recover,
)
from tests.test_mut_s8_codec_snapshot import AFTER, EXPIRY, rich_engine

RICH = rich_engine()
PAYLOAD = encode_engine(RICH)  # the store's form (caches left out)
BLOB = RICH.snapshot()  # the engine's own checkpoint form (caches kept)

Mutation = Callable[[dict[str, Any]], None]


def _order(state: dict[str, Any], order_id: int) -> Any:
    return state["live_orders"][order_id]


def _set(target: Any, name: str, value: object) -> None:
    object.__setattr__(target, name, value)  # frozen records (Instrument) too: a forger writes any bytes


def _first_level(state: dict[str, Any]) -> Any:
    return state["books"]["XBTUSD"].bids[4_500_000]


# (test id, the forgery, the field the refusal must name); order 5 is account 1's Day bid in XBTUSD, order 6
# account 4's untriggered stop, order 7 account 5's spot buy, order 8 account 3's ETHUSD ask
FORGERIES: list[tuple[str, Mutation, str]] = [
    # the counters and the clock (issue of helper mutcodec: a string id, a negative clock, a None counter)
    ("next_order_id-str", lambda s: s.update(next_order_id="x"), "next_order_id: must be an integer, is str"),
    ("time_ms-negative", lambda s: s.update(time_ms=-5), "time_ms: -5 is outside [0, 253402300799999]"),
    ("time_ms-beyond", lambda s: s.update(time_ms=253_402_300_800_000), "time_ms: 253402300800000 is outside"),
    ("seq-none", lambda s: s.update(seq=None), "seq: must be an integer, is NoneType"),
    ("seq-bool", lambda s: s.update(seq=True), "seq: must be an integer, is bool"),
    ("next_pending_id-float", lambda s: s.update(next_pending_id=1.0), "next_pending_id: must be an integer, is float"),
    ("next_order_id-below-live", lambda s: s.update(next_order_id=8), "live_orders key: 8 is outside [1, 7]"),
    ("max_liq-zero", lambda s: s.update(max_liquidations_per_update=0), "max_liquidations_per_update: 0 is outside"),
    ("clock-step-zero", lambda s: s.update(max_clock_step_ms=0), "max_clock_step_ms: 0 is outside"),
    ("adl-policy", lambda s: s.update(adl_policy_name="lottery"), "adl_policy_name: 'lottery' is not one of"),
    ("stats-negative", lambda s: s["stats"].update(liquidations=-1), "stats['liquidations']: -1 is outside"),
    # the registry
    ("live_orders-str", lambda s: s.update(live_orders={1: "o"}), "live_orders[1]: must be a Order, is str"),
    ("live-key-mismatch", lambda s: s["live_orders"].update({9: s["live_orders"].pop(5)}), "live_orders[9].order_id"),
    ("live-order-dropped", lambda s: s["live_orders"].pop(8), "books['ETHUSD'].asks[300000].shown[0]: live order 8"),
    ("order-leaves-negative", lambda s: _set(_order(s, 5), "leaves_qty", -1), "live_orders[5].leaves_qty: -1"),
    ("order-qty-float", lambda s: _set(_order(s, 5), "order_qty", 500.0), "live_orders[5].order_qty: must be an int"),
    ("order-side-int", lambda s: _set(_order(s, 5), "is_buy", 1), "live_orders[5].is_buy: must be a bool, is int"),
    ("order-type", lambda s: _set(_order(s, 6), "ord_type", "Bogus"), "live_orders[6].ord_type: 'Bogus' is not"),
    ("order-tif", lambda s: _set(_order(s, 5), "time_in_force", 3), "live_orders[5].time_in_force: must be a str"),
    ("order-display", lambda s: _set(_order(s, 5), "display_qty", -1), "live_orders[5].display_qty: -1 is outside"),
    ("order-symbol", lambda s: _set(_order(s, 5), "symbol", "DOGEUSD"), "live_orders[5].symbol['DOGEUSD']"),
    ("order-shown", lambda s: _set(_order(s, 5), "shown_qty", 501), "live_orders[5].shown_qty: exceeds leaves_qty"),
    ("day_orders", lambda s: s["day_orders"].update({5: -1}), "day_orders[5]: -1 is outside"),
    ("dms-heap-order", lambda s: s["dms_heap"].extend([(5, 1), (1, 1)]), "dms_heap[1]: breaks the heap order"),
    ("dms-heap-shape", lambda s: s["dms_heap"].append([1, 2]), "dms_heap[1]: must be a pair"),
    ("spot-reservation", lambda s: s["spot_reservations"].update({7: ("USDt", -1)}), "spot_reservations[7][1]"),
    ("spot-reservation-dead", lambda s: s["spot_reservations"].update({99: ("USDt", 1)}), "spot_reservations[99]"),
    # the market
    ("instrument-tick", lambda s: _set(s["instrument_map"]["XBTUSD"], "tick_size", 0), "instrument_map['XBTUSD']"),
    ("instrument-kind", lambda s: _set(s["instrument_map"]["ETHUSD"], "kind", "quanto"), ".kind: must be a Contr"),
    ("instrument-key", lambda s: s["instrument_map"].update(ZZZ=s["instrument_map"]["XBTUSD"]), "['ZZZ'].symbol"),
    ("mark-zero", lambda s: s["marks"].update(XBTUSD=0), "marks['XBTUSD']: 0 is outside"),
    ("index-above-max", lambda s: s["index_prices"].update(XBTUSD=10**12), "index_prices['XBTUSD']: 1000000000000"),
    ("last-price-str", lambda s: s["last_prices"].update(XBTUSD="5"), "last_prices['XBTUSD']: must be an integer"),
    ("settled-perpetual", lambda s: s["settled"].update(XBTUSD=5_000_000), "settled['XBTUSD']: a perpetual"),
    ("books-missing", lambda s: s["books"].pop("ETHUSD"), "books: must hold one book per instrument"),
    ("level-price", lambda s: _set(_first_level(s), "price", 4_500_050), "books['XBTUSD'].bids[4500000].price"),
    ("level-live-count", lambda s: _set(_first_level(s), "live", 2), "bids[4500000].live: counts 2 live orders"),
    ("book-keys", lambda s: s["books"]["XBTUSD"].bid_keys.append(1), "books['XBTUSD'].bid_keys: must be the sorted"),
    ("book-clone", lambda s: _first_level(s).shown.__setitem__(0, _order(s, 5).clone()), "shown[0]: live order 5"),
    ("conditional-triggered", lambda s: _set(_order(s, 6), "triggered", True), "conditional['XBTUSD'][6]"),
    ("conditional-unknown", lambda s: s["conditional"].update(DOGEUSD={}), "conditional: must hold one pool"),
    # the ledger
    ("insurance-float", lambda s: s["insurance_funds"].update(XBt=1e9), "insurance_funds['XBt']: must be an int"),
    ("fees-key", lambda s: s["fees"].update({1: 5}), "fees key: must be a string, is int"),
    ("deposits-none", lambda s: s["deposits"].update(XBt=None), "deposits['XBt']: must be an integer"),
    ("account-key", lambda s: s["accounts"].update({7: s["accounts"].pop(1)}), "accounts[7].account_id"),
    ("account-id-negative", lambda s: s["accounts"].update({-2: s["accounts"][1]}), "accounts key: -2 is outside"),
    ("liquidator-missing", lambda s: s["accounts"].pop(-1), "accounts[-1]: the liquidation engine's account"),
    ("verified-int", lambda s: _set(s["accounts"][1], "verified", 1), "accounts[1].verified: must be a bool"),
    ("wallet-float", lambda s: s["accounts"][1].wallets.update(XBt=1.5), "accounts[1].wallets['XBt']: must be an"),
    ("reserved-negative", lambda s: s["accounts"][5].reserved.update(USDt=-1), "accounts[5].reserved['USDt']: -1"),
    ("volume-day", lambda s: s["accounts"][1].volume_by_day.update({-1: 5}), "accounts[1].volume_by_day key: -1"),
    ("fee-tier", lambda s: s["accounts"][1].fee_cache.update(XBTUSD=(20812, 99)), "fee_cache['XBTUSD'][1]: 99 is"),
    ("cancel-at", lambda s: _set(s["accounts"][3], "cancel_at_ms", -1), "accounts[3].cancel_at_ms: -1 is outside"),
    ("cl-ord-id", lambda s: s["accounts"][1].cl_ord_ids.update(other=5), "accounts[1].cl_ord_ids['other']"),
    ("account-orders", lambda s: s["accounts"][2].orders.update({5: _order(s, 5)}), "accounts[2].orders[5]"),
    ("order-not-in-account", lambda s: s["accounts"][4].orders.clear(), "live_orders[6].account: the order is not"),
    ("position-qty", lambda s: _set(s["accounts"][1].positions["ETHUSD"], "qty", "10"), "positions['ETHUSD'].qty"),
    ("leverage-negative", lambda s: _set(s["accounts"][4].positions["ETHUSD"], "leverage", -1), ".leverage: -1"),
    ("position-symbol", lambda s: _set(s["accounts"][1].positions["ETHUSD"], "symbol", "XBTUSD"), "ETHUSD'].symbol"),
    ("position-order", lambda s: s["accounts"][1].positions["XBTUSD"].orders.update({6: (1, 1)}), ".orders[6]"),
    # risk and the waterfall
    ("holders-value", lambda s: s["holders"]["XBTUSD"].update({3: 0}), "holders['XBTUSD'][3]: must be None"),
    ("holders-unknown", lambda s: s["holders"]["XBTUSD"].update({77: None}), "holders['XBTUSD'][77]"),
    ("holders-flat", lambda s: s["holders"]["XBTUSD"].update({1: None}), "holders['XBTUSD'][1]: holders must list"),
    ("holders-missing", lambda s: s["holders"]["ETHUSD"].pop(4), "holders['ETHUSD'][4]: holders must list exactly"),
    ("holders-table", lambda s: s["holders"].pop("ETHUSD"), "holders: must hold one table per instrument"),
    ("conditional-pool", lambda s: s["conditional"].pop("ETHUSD"), "conditional: must hold one pool per instrument"),
    ("dirty-key", lambda s: s["dirty"].update(a=None), "dirty key: must be an integer, is str"),
    ("multi-value", lambda s: s["multi"].update({3: 1}), "multi[3]: must be None"),
    ("multi-missing", lambda s: s["multi"].pop(3), "multi[3]: an account with cross positions in several"),
    ("liq-entry-unlisted", lambda s: s["liq"].entries.update({(1, "XBT_USDT"): (True, 5)}), "liq.entries: entries"),
    ("liq-list-extra", lambda s: s["liq"].shorts["XBTUSD"].append((1, 1)), "liq.shorts['XBTUSD']: does not list"),
    ("liq-price-str", lambda s: s["liq"].entries.update({(3, "XBTUSD"): (False, "1")}), "liq.entries[(3, 'XBTUSD')][1]"),
    ("pending-qty", lambda s: _set(s["pending"][0], "qty", "1000"), "pending[0].qty: must be an integer"),
    ("pending-duplicate", lambda s: s["pending"].append(s["pending"][0]), "pending[1].pending_id: is not unique"),
    ("pending-account", lambda s: _set(s["pending"][0], "account", 99), "pending[0].account: is not an account"),
    ("pending-age", lambda s: _set(s["pending"][0], "age", -1), "pending[0].age: -1 is outside"),
]


def forged(mutate: Mutation, payload: bytes = PAYLOAD) -> tuple[bytes, str | None]:
    """The forged payload and the state hash a forger computes for it (None when the engine cannot hash it)."""
    state = decode_state(payload)
    mutate(state)
    blank = Engine(instruments={})
    for name, value in state.items():
        setattr(blank, name, value)
    try:
        state_hash: str | None = blank.state_hash()
    except Exception:
        state_hash = None
    return encode_state(state), state_hash


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store whose genesis is the rich engine, one command and one snapshot after it."""
    directory = tmp_path_factory.mktemp("store")
    durable, _ = DurableExchange.open(str(directory), command_codec(), rich_engine)
    durable.submit(AFTER[0])
    durable.snapshot()
    durable.close()
    return directory


def test_the_checked_fields_are_the_engines_state_fields() -> None:
    assert tuple(name for name, _ in _STATE) == STATE_FIELDS


@pytest.mark.parametrize(("mutate", "field"), [pytest.param(m, f, id=name) for name, m, f in FORGERIES])
def test_a_forged_field_is_refused_by_name_by_every_loader(mutate: Mutation, field: str) -> None:
    payload, _ = forged(mutate)
    for load in (decode_engine, Engine.from_snapshot):
        with pytest.raises(CodecError, match=re.escape(field)) as caught:
            load(payload)
        assert str(caught.value).startswith("engine state field ")


def test_the_reported_forgeries_carry_a_matching_hash_the_old_loader_accepted() -> None:
    """next_order_id="x", time_ms=-5, seq=None, live_orders={1: "o"}: each hashes (the forger's hash matches)."""
    for name in ("next_order_id-str", "time_ms-negative", "seq-none", "live_orders-str"):
        mutate = next(m for n, m, _ in FORGERIES if n == name)
        assert forged(mutate)[1] is not None, name


@pytest.mark.parametrize(
    ("mutate", "field"),
    [pytest.param(m, f, id=name) for name, m, f in FORGERIES if name in
     ("next_order_id-str", "time_ms-negative", "seq-none", "live_orders-str", "order-leaves-negative",
      "book-clone", "account-orders", "liq-list-extra", "pending-qty", "instrument-tick")],
)
def test_a_forged_snapshot_with_a_matching_hash_is_refused_by_recovery_and_changes_nothing(
    store: Path, mutate: Mutation, field: str
) -> None:
    journal = str(store / JOURNAL_NAME)
    (seq, path), = [(int(p.stem.split("-")[1]), p) for p in store.glob("snapshot-*.snap")]
    genuine = read_snapshot(str(path))
    payload, state_hash = forged(mutate, genuine.payload)
    assert state_hash is not None
    assert payload != genuine.payload
    forgery = store / "forged.snap"
    write_snapshot(str(forgery), seq, state_hash.encode(), payload, genuine.chain_head)
    files = {p.name: p.read_bytes() for p in store.iterdir() if p.is_file()}  # the forgery included
    with pytest.raises(SnapshotCorrupt, match=re.escape("state does not decode (engine state field ")) as caught:
        recover(journal, command_codec(), [str(forgery)], strict_snapshot=True)
    assert field in str(caught.value)
    # skipped when not named explicitly: the genuine state is rebuilt from the journal, the forgery reported
    engine, report, _ = recover(journal, command_codec(), [str(forgery)])
    assert report.snapshot_seq == 0
    assert "engine state field" in report.problems[0]
    reference, _, _ = recover(journal, command_codec(), [str(path)], strict_snapshot=True)
    assert engine.state_hash() == reference.state_hash()
    assert {p.name: p.read_bytes() for p in store.iterdir() if p.is_file()} == files
    forgery.unlink()


def test_a_forged_position_cache_is_refused() -> None:
    """The margin caches travel in the engine's own checkpoint, outside the state hash: they must be the rules'."""
    def zero_sums(state: dict[str, Any]) -> None:
        cache = state["accounts"][1].positions["XBTUSD"].resting_cache
        assert isinstance(cache, RestingCache)
        cache.bid_value = 0

    payload, _ = forged(zero_sums, BLOB)
    with pytest.raises(CodecError, match=re.escape("positions['XBTUSD'].resting_cache: does not equal the MRG-042")):
        Engine.from_snapshot(payload)

    def narrow_bounds(state: dict[str, Any]) -> None:
        state["accounts"][1].positions["XBTUSD"].resting_cache.highest_buy = 1

    with pytest.raises(CodecError, match="resting_cache: price bounds narrower"):
        Engine.from_snapshot(forged(narrow_bounds, BLOB)[0])


def test_a_forged_position_margin_cache_is_refused() -> None:
    engine = rich_engine()
    engine.process(c.PriceUpdate(time_ms=EXPIRY + 1, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    blob = engine.snapshot()
    holder = next(
        (account_id, symbol)
        for account_id, account in decode_state(blob)["accounts"].items()
        for symbol, ps in account.positions.items()
        if ps._pm is not None and ps._pm_key[:2] == (ps.qty, ps.cost)
    )

    def richer(state: dict[str, Any]) -> None:
        pm = state["accounts"][holder[0]].positions[holder[1]]._pm
        object.__setattr__(pm, "pos_maint", pm.pos_maint - 1)

    Engine.from_snapshot(blob)  # the genuine one loads
    with pytest.raises(CodecError, match=re.escape("._pm: does not equal MRG-020")):
        Engine.from_snapshot(forged(richer, blob)[0])


def test_the_rich_engine_and_its_continuation_pass_the_check_unchanged() -> None:
    """Validation accepts every state the engine makes: the rich engine, and after each command of AFTER."""
    engine = rich_engine()
    for command in (None, *AFTER):
        if command is not None:
            engine.process(command)
        for payload in (engine.snapshot(), encode_engine(engine)):
            check_engine_state(decode_state(payload))
            assert Engine.from_snapshot(payload).state_hash() == engine.state_hash()


def test_a_checkpoint_with_a_field_no_engine_has_is_refused_by_name() -> None:
    payload, _ = forged(lambda s: s.update(owner="x"), BLOB)
    with pytest.raises(CodecError, match=re.escape("engine state field (root): fields missing [], unknown ['owner']")):
        Engine.from_snapshot(payload)


def test_a_state_that_is_not_a_mapping_is_refused() -> None:
    for value in ([1], None, "state"):
        with pytest.raises(CodecError, match=r"engine state field \(root\): must be a dict"):
            check_engine_state(value)


def test_an_untriggered_order_amended_down_shows_no_more_than_it_leaves_and_its_snapshot_loads() -> None:
    """ORD amend of a conditional order before it triggers (session 9, found by checking every state of the engine
    state machine): account 1's LimitIfTouched buy of 60 ETHUSD (trigger 2,900.00 on the last price, far below)
    amended to leaves 59 kept ``shown_qty`` 60, a state ``check_engine_state`` refuses, so the engine's own snapshot
    of it could not be restored ("shown_qty: exceeds leaves_qty").  The amend now shows a fresh slice: 59."""
    engine = Engine()
    for account in (1, 2):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**9))
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    placed = engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=60,
                                         price=291_000, stop_px=290_000, ord_type="LimitIfTouched"))
    order_id = placed[-1].order_id  # type: ignore[union-attr]
    amended = engine.process(c.AmendOrder(time_ms=0, account=1, order_id=order_id, leaves_qty=59))
    assert type(amended[-1]).__name__ == "Accepted"
    order = engine.live_orders[order_id]
    assert (order.triggered, order.leaves_qty, order.shown_qty) == (False, 59, 59)
    restored = Engine.from_snapshot(engine.snapshot())
    assert restored.state_hash() == engine.state_hash()
