"""The snapshot check's exact bounds and messages: a value at the edge loads, one past it is refused by name.

``engine.core.state_check.check_engine_state`` (run by ``Engine.from_snapshot`` and so by every loader) refuses a
snapshot any field of which is ill-typed, out of range or inconsistent, with a ``CodecError`` naming the field
("bad input -> typed reject, no partial change"; ``tests/test_snapshot_validation.py``).  Those tests show *that* a
forgery is refused; a mutation run (``python -m tests.mutation engine/core/state_check.py``, helper "mutcheck",
session 9) showed that each range could be narrowed by one (a clock of 0, a price of 1, an order id of 1, a
one-contract order, a duplicate dead man's switch entry refused) or widened, and each message cut differently,
unnoticed.  Here every bound is met from both sides:

* states the engine itself makes load unchanged: an engine whose first order is a one-contract Day bid with a
  clOrdID (order id 1, leaves 1, day 0) and whose dead man's switch was armed twice for account 0 (two equal heap
  entries), with its XBTUSD mark at 1; engines whose first order is a stop or a spot buy; a take-over held for
  account 0;
* forged values exactly at a bound load (the forger's state hash is the loaded engine's); one step past it is
  refused with the exact message, at offset 0, and no engine is returned.

Two forgeries (``position-order-price-0``, ``sell-at-price-0-cached``) put a position's resting-order entry at price
0 while the order itself rests at 45,000.00 / 3,000.00.  The helper's first version loaded them (the check did not
compare ``PositionState.orders``' signed leaves and price with the live order's); the lead's check now does, so
both are refused, naming the entry — and the ``0 -> 1`` mutants of the price range (#53, #88 in session 9's
numbering) are still killed, by the exact message (the range's refusal would name the bound instead).

The forgeries start from ``tests.test_mut_s8_codec_snapshot.rich_engine`` (order 5 is account 1's Day bid of 500
XBTUSD at 45,000.00, order 8 account 3's ETHUSD ask of 20 at 3,000.00, pending 0 account 2's held XBTUSD take-over).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.fastmargin import RestingCache, order_sums
from perpspec.engine.core.state_check import STATE_FIELDS, check_engine_state
from perpspec.engine.core.state_codec import CodecError, decode_state
from perpspec.rules.adl import POLICIES
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.margin import compute_position_margin
from perpspec.rules.position import Position
from tests.test_mut_s8_codec_snapshot import SPOT
from tests.test_snapshot_validation import BLOB, PAYLOAD, _set, forged

State = dict[str, Any]
Mutation = Callable[[State], None]
LONG = 50  # characters: every message cuts a name to its first 40


def _ok(engine: Engine, command: Any) -> None:
    events = list(engine.process(command))
    assert isinstance(events[-1], Accepted), events[-1]


def _refused(payload: bytes, message: str) -> None:
    """``Engine.from_snapshot`` refuses ``payload`` with exactly ``message`` (and so builds no engine)."""
    with pytest.raises(CodecError) as caught:
        Engine.from_snapshot(payload)
    assert str(caught.value) == f"engine state field {message} at byte offset 0"
    assert caught.value.offset == 0


def _loads(mutate: Mutation, payload: bytes = PAYLOAD) -> Engine:
    """The forged state loads, as the forger hashed it."""
    data, state_hash = forged(mutate, payload)
    engine = Engine.from_snapshot(data)
    assert engine.state_hash() == state_hash
    return engine


def _ps(state: State, account: int, symbol: str) -> Any:
    return state["accounts"][account].positions[symbol]


def _recache(ps: Any, inst: Any, mark: int, highest_buy: int, lowest_sell: int) -> None:
    """A resting cache as the rules give it for ``ps.orders`` (MRG-042, no book) at ``mark``, with these bounds."""
    ps.resting_cache = RestingCache(inst, mark, order_sums(inst, tuple(ps.orders.values()), mark, 0, 0),
                                    highest_buy, lowest_sell)


def _move_bid_to(state: State, price: int) -> None:
    """Order 5 (account 1's only XBTUSD bid, alone at its level) moved to ``price``: book, order and position."""
    book = state["books"]["XBTUSD"]
    level = book.bids.pop(4_500_000)
    level.price = price
    book.bids[price] = level
    book.bid_keys[:] = [price]
    state["live_orders"][5].price = price
    _ps(state, 1, "XBTUSD").orders[5] = (500, price)


def _pm_at(state: State, account: int, symbol: str, mark: int, leverage: int, delta: int = 0) -> None:
    """A position's MRG-020 cache at ``mark`` (its maintenance moved by ``delta``: not the rules' figure)."""
    ps = _ps(state, account, symbol)
    pm = compute_position_margin(state["instrument_map"][symbol], Position(qty=ps.qty, cost=ps.cost), mark, leverage, 0)
    ps._pm = attrs.evolve(pm, pos_maint=pm.pos_maint + delta)
    ps._pm_key = (ps.qty, ps.cost, mark, leverage, 0)


def _heap(entries: list[tuple[int, int]]) -> Mutation:
    return lambda s: s.update(dms_heap=entries)


# -- real engines: their first orders, a repeated switch, a mark of 1, a take-over held for account 0 ---------------


def _small_engine(first: str) -> Engine:
    """Accounts 0, 1, 2 (1 XBT each, account 1 also 10^12 USDt); order 1 is ``first`` ("none": no order yet)."""
    engine = Engine({"XBTUSD": load_instrument("XBTUSD"), "ETHUSD": load_instrument("ETHUSD"), "XBT_USDT": SPOT})
    for symbol, price in (("XBTUSD", 5_000_000), ("ETHUSD", 300_000), ("XBT_USDT", 5_000_000)):
        _ok(engine, c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=price, index_price=price))
    for account in (0, 1, 2):
        _ok(engine, c.VerifyAccount(time_ms=0, account=account))
        _ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**8))
    _ok(engine, c.Deposit(time_ms=0, account=1, asset="USDt", amount=10**12))
    if first == "day-bid":
        _ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=1, price=290_000,
                                 time_in_force="Day", cl_ord_id="first"))
    elif first == "stop":
        _ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=100, ord_type="Stop",
                                 stop_px=5_100_000))
    elif first == "spot-buy":
        _ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol="XBT_USDT", side="Buy", order_qty=10_000, price=4_000_000))
    return engine


def test_a_fresh_engines_first_day_bid_of_one_contract_a_repeated_switch_and_a_mark_of_one_load() -> None:
    """Order id 1 in live_orders, day_orders, the clOrdID table and the position's orders (leaves 1, day 0); the
    dead man's switch of account 0 armed twice at the same deadline (two equal heap entries); XBTUSD's mark at 1."""
    engine = _small_engine("day-bid")
    _ok(engine, c.CancelAllAfter(time_ms=0, account=0, timeout_ms=60_000))
    _ok(engine, c.CancelAllAfter(time_ms=0, account=0, timeout_ms=60_000))
    _ok(engine, c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=1, index_price=1))
    state = decode_state(engine.snapshot())
    assert state["dms_heap"] == [(60_000, 0), (60_000, 0)]
    assert state["day_orders"] == {1: 0}
    assert state["accounts"][1].cl_ord_ids == {"first": 1}
    assert _ps(state, 1, "ETHUSD").orders == {1: (1, 290_000)}
    assert state["live_orders"][1].leaves_qty == 1
    assert state["marks"]["XBTUSD"] == 1
    assert Engine.from_snapshot(engine.snapshot()).state_hash() == engine.state_hash()


@pytest.mark.parametrize("first", ["stop", "spot-buy"])
def test_a_fresh_engines_first_stop_or_spot_buy_loads(first: str) -> None:
    """Order id 1 waiting in a conditional pool (a stop) or holding a spot reservation (a spot buy)."""
    engine = _small_engine(first)
    state = decode_state(engine.snapshot())
    if first == "stop":
        assert list(state["conditional"]["XBTUSD"]) == [1]
    else:
        assert list(state["spot_reservations"]) == [1]
    assert Engine.from_snapshot(engine.snapshot()).state_hash() == engine.state_hash()


def test_a_take_over_held_for_account_0_loads() -> None:
    """LIQ-023 with no bid: account 0 (a valid id) bought 1,000 XBTUSD at 100x and the mark fell between its
    liquidation and bankruptcy prices; the held close-out names account 0."""
    engine = _small_engine("none")
    _ok(engine, c.SetLeverage(time_ms=0, account=0, symbol="XBTUSD", leverage_hundredths=10_000))
    _ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Sell", order_qty=1_000, price=5_000_000))
    _ok(engine, c.PlaceOrder(time_ms=0, account=0, symbol="XBTUSD", side="Buy", order_qty=1_000, price=5_000_000))
    liquidation, bankruptcy = engine.risk.position_prices(engine.accounts[0], "XBTUSD")
    mark = (liquidation + bankruptcy) // 2 // 50 * 50
    _ok(engine, c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=mark, index_price=mark))
    assert [p.account for p in decode_state(engine.snapshot())["pending"]] == [0]
    assert Engine.from_snapshot(engine.snapshot()).state_hash() == engine.state_hash()


def test_a_one_contract_bid_above_its_caches_highest_buy_is_refused() -> None:
    """Two one-contract ETHUSD bids at 2,900.00 (the engine keeps a resting cache once there are two); a cache
    whose highest buy is one price unit below them does not bound them."""
    engine = _small_engine("day-bid")
    _ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=1, price=290_000))
    blob = engine.snapshot()
    cache = _ps(decode_state(blob), 1, "ETHUSD").resting_cache
    assert (cache.highest_buy, cache.sums()[0]) == (290_000, 2)

    def narrow(state: State) -> None:
        _ps(state, 1, "ETHUSD").resting_cache.highest_buy = 289_999

    _refused(forged(narrow, blob)[0], "accounts[1].positions['ETHUSD'].resting_cache: price bounds narrower than the "
             "resting orders")


# -- forged values exactly at a bound load ------------------------------------------------------------------------


def _at_price_one(state: State) -> None:
    # the lowest price a trader's order rests at: one tick (50); price 1 is off the tick grid, which the state
    # check refuses since session 17 (redteam18_5)
    _move_bid_to(state, 50)


def _cache_mark_one(state: State) -> None:
    ps = _ps(state, 1, "XBTUSD")
    _recache(ps, state["instrument_map"]["XBTUSD"], 1, ps.resting_cache.highest_buy, ps.resting_cache.lowest_sell)


def _buy_at_highest(state: State) -> None:
    ps = _ps(state, 1, "XBTUSD")
    assert ps.orders == {5: (500, 4_500_000)}
    ps.resting_cache.highest_buy = 4_500_000  # exactly the bid's price


def _sell_at_lowest(state: State) -> None:
    ps = _ps(state, 3, "ETHUSD")
    assert ps.orders == {8: (-20, 300_000)}
    _recache(ps, state["instrument_map"]["ETHUSD"], 300_000, -(1 << 62), 300_000)  # exactly the ask's price


def _liq_price_zero(state: State) -> None:
    """Account 1's ETHUSD long entry at liquidation price 0, first in its sorted list."""
    state["liq"].entries[(1, "ETHUSD")] = (True, 0)
    state["liq"].longs["ETHUSD"] = [(0, 1), (243_030, 4)]


def _sell_at_price_zero(state: State) -> None:
    """MRG-042 with no book (best bid and ask 0): a sell entry at price 0 is not charged as crossing a bid."""
    ps = _ps(state, 3, "ETHUSD")
    ps.orders[8] = (-20, 0)
    _recache(ps, state["instrument_map"]["ETHUSD"], 300_000, -(1 << 62), 0)
    assert ps.resting_cache.sums() == (0, 0, 0, 20, 0, 6_000_000)  # as crossing a bid of 1 the value would be 20


def _reserve_nothing(state: State, reserved: dict[str, int]) -> None:
    """Order 7 (account 5's spot buy) reserves 0 USDt, and account 5's ``reserved`` says so (``reserved``)."""
    state["spot_reservations"][7] = ("USDt", 0)
    state["accounts"][5].reserved = reserved


def _risk_tier(state: State, steps: int) -> None:
    inst, ps = state["instrument_map"]["XBTUSD"], _ps(state, 1, "XBTUSD")
    _set(ps, "risk_limit", inst.risk_limit + steps * inst.risk_step)
    _set(ps, "chosen_tier", steps)


def _last_fee_tier(state: State) -> None:
    account = state["accounts"][1]
    account.volume_by_day.update({20811: 30 * 1_000_000_000})  # XBTUSD's last tier: 1,000,000,000 USD a day
    account.fee_cache.update(XBTUSD=(20812, 9))


AT_BOUND: list[tuple[str, Mutation, bytes]] = [
    # a risk limit loads only as the pair SetRiskLimit makes: riskLimit + k * riskStep with chosen_tier k (RSK-006)
    ("risk_limit-tier-3", lambda s: _risk_tier(s, 3), PAYLOAD),
    ("max_clock_step_ms-1", lambda s: s.update(max_clock_step_ms=1), PAYLOAD),
    ("volume-0", lambda s: s["accounts"][1].volume_by_day.update({20812: 0}), PAYLOAD),
    ("cache-mark-1", _cache_mark_one, BLOB),
    ("pm-key-mark-1", lambda s: _pm_at(s, 3, "ETHUSD", 1, 0), BLOB),
    # stale entries beside account 3's armed switch (an armed switch keeps its entry: session 14)
    ("dms-deadline-0", lambda s: s.update(dms_heap=[(0, 3), *s["dms_heap"]]), PAYLOAD),
    ("dms-heap-six", lambda s: s.update(dms_heap=[(1, 0), (10, 0), (2, 0), (11, 0), (12, 0), (3, 0), *s["dms_heap"]]),
     PAYLOAD),
    # (session 14: a reservation of 0 for a resting spot buy is refused, not what spot_need gives for it; a forged
    # liquidation-index entry loads but is rebuilt from the positions: tests/test_intake_s14.py)
    ("pending-takeover-0", lambda s: _set(s["pending"][0], "takeover_price", 0), PAYLOAD),
    ("stats-0", lambda s: s["stats"].update(liquidations=0), PAYLOAD),
    ("bid-at-price-1", _at_price_one, PAYLOAD),
    # the last tier, cached for a day whose 30 previous days' volume reaches it (a cached tier the engine could read
    # must be the volume's: session 13, tests/test_snapshot_fee_cache.py)
    ("fee-tier-last", _last_fee_tier, PAYLOAD),
    ("buy-at-highest-buy", _buy_at_highest, BLOB),
    ("sell-at-lowest-sell", _sell_at_lowest, BLOB),
]


@pytest.mark.parametrize(("mutate", "payload"), [pytest.param(m, p, id=name) for name, m, p in AT_BOUND])
def test_a_value_exactly_at_its_bound_loads(mutate: Mutation, payload: bytes) -> None:
    _loads(mutate, payload)


def test_a_forged_liquidation_index_entry_loads_as_the_positions_own() -> None:
    """Session 14 (redteam8_2): the index is rebuilt on load, so a forged entry at price 0 is not what loads."""
    engine = _loads(lambda s: None)
    data, forged_hash = forged(_liq_price_zero, PAYLOAD)
    loaded = Engine.from_snapshot(data)
    assert loaded.liq.entries == engine.liq.entries
    assert loaded.state_hash() == engine.state_hash() != forged_hash


@pytest.mark.parametrize("reserved", [{}, {"USDt": 0}])
def test_a_resting_spot_buy_reserving_nothing_is_refused(reserved: dict[str, int]) -> None:
    """Session 14: a reservation must be what the order's open quantity at its price needs (spot_need)."""
    data, _ = forged(lambda s: _reserve_nothing(s, reserved), PAYLOAD)
    with pytest.raises(CodecError, match=r"spot_reservations\[7\]: is not \('USDt', "):
        Engine.from_snapshot(data)


# -- one step past a bound, and the messages: refused with exactly this text ----------------------------------------


def _hidden_in_shown(state: State) -> None:
    _set(state["live_orders"][5], "display_qty", 0)


def _live_order_leaves_zero(state: State) -> None:
    _set(state["live_orders"][5], "leaves_qty", 0)
    _set(state["live_orders"][5], "shown_qty", 0)


def _six_missing_six_unknown() -> State:
    state: State = decode_state(PAYLOAD)
    for name in STATE_FIELDS[:6]:
        del state[name]
    state.update({f"extra{index}": None for index in range(6)})
    return state


PAST_BOUND: list[tuple[str, Mutation, bytes, str]] = [
    ("risk_limit-0", lambda s: _set(_ps(s, 1, "XBTUSD"), "risk_limit", 0), PAYLOAD,
     "accounts[1].positions['XBTUSD'].risk_limit: 0 is outside [1, inf]"),
    ("volume-negative", lambda s: s["accounts"][1].volume_by_day.update({20812: -1}), PAYLOAD,
     "accounts[1].volume_by_day[20812]: -1 is outside [0, inf]"),
    ("position-order-price-negative", lambda s: _ps(s, 1, "XBTUSD").orders.update({5: (500, -1)}), PAYLOAD,
     "accounts[1].positions['XBTUSD'].orders[5][1]: -1 is outside [0, 100000000]"),
    ("position-order-price-0", lambda s: _ps(s, 1, "XBTUSD").orders.update({5: (500, 0)}), PAYLOAD,
     "accounts[1].positions['XBTUSD'].orders[5]: differs from its order's signed leaves and price "
     "(PositionState.put_order)"),
    ("sell-at-price-0-cached", _sell_at_price_zero, BLOB,
     "accounts[3].positions['ETHUSD'].orders[8]: differs from its order's signed leaves and price "
     "(PositionState.put_order)"),
    ("position-order-missing", lambda s: _ps(s, 1, "XBTUSD").orders.pop(5), PAYLOAD,
     "live_orders[5]: rests in the book but not in its position's orders (MRG-042)"),
    ("position-order-leaves-0", lambda s: _ps(s, 1, "XBTUSD").orders.update({5: (0, 4_500_000)}), PAYLOAD,
     "accounts[1].positions['XBTUSD'].orders[5]: is not a resting order of this account in this contract"),
    ("live-order-leaves-0", _live_order_leaves_zero, PAYLOAD,
     "live_orders[5]: a live order must be live with leaves_qty > 0"),
    ("cache-mark-0", lambda s: _set(_ps(s, 1, "XBTUSD").resting_cache, "mark", 0), BLOB,
     "accounts[1].positions['XBTUSD'].resting_cache.mark: 0 is outside [1, 100000000]"),
    ("pm-key-mark-0", lambda s: _set(_ps(s, 3, "XBTUSD"), "_pm_key", (-1000, 2_000_000, 0, 0, 0)), BLOB,
     "accounts[3].positions['XBTUSD']._pm_key[2]: 0 is outside [1, 100000000]"),
    ("pm-isolated-wrong", lambda s: _pm_at(s, 4, "ETHUSD", 300_000, 500, delta=-1), BLOB,
     "accounts[4].positions['ETHUSD']._pm: does not equal MRG-020 for the position it caches"),
    ("dms-deadline-negative", _heap([(-1, 3)]), PAYLOAD, "dms_heap[0][0]: -1 is outside [0, inf]"),
    ("dms-account-negative", _heap([(5, -1)]), PAYLOAD, "dms_heap[0][1]: -1 is outside [0, inf]"),
    ("dms-heap-parent", _heap([(0, 0), (1, 0), (5, 0), (3, 0), (4, 0), (2, 0)]), PAYLOAD,
     "dms_heap[5]: breaks the heap order (heapq)"),
    ("liq-price-negative", lambda s: s["liq"].entries.update({(1, "ETHUSD"): (True, -1)}), PAYLOAD,
     "liq.entries[(1, 'ETHUSD')][1]: -1 is outside [0, inf]"),
    ("liq-list-price-str", lambda s: s["liq"].longs.update(ETHUSD=[("5", 1), (243_030, 4)]), PAYLOAD,
     "liq.longs['ETHUSD'][0][0]: must be an integer, is str"),
    ("pending-takeover-negative", lambda s: _set(s["pending"][0], "takeover_price", -1), PAYLOAD,
     "pending[0].takeover_price: -1 is outside [0, inf]"),
    ("pending-account-negative", lambda s: _set(s["pending"][0], "account", -1), PAYLOAD,
     "pending[0].account: -1 is outside [0, inf]"),
    ("bid-at-price-0", lambda s: _move_bid_to(s, 0), PAYLOAD, "books['XBTUSD'].bids key: 0 is outside [1, 100000000]"),
    ("fee-tier-one-tier", lambda s: s["accounts"][1].fee_cache.update(ETHUSD=(20812, 1)), PAYLOAD,
     "accounts[1].fee_cache['ETHUSD'][1]: 1 is outside [0, 0]"),
    ("fee-tier-count", lambda s: s["accounts"][1].fee_cache.update(XBTUSD=(20812, 10)), PAYLOAD,
     "accounts[1].fee_cache['XBTUSD'][1]: 10 is outside [0, 9]"),
    ("hidden-in-shown", _hidden_in_shown, PAYLOAD,
     "books['XBTUSD'].bids[4500000].shown[0].display_qty: a shown queue holds no hidden orders only"),
    ("instrument-rule", lambda s: _set(s["instrument_map"]["XBTUSD"], "tick_size", 0), PAYLOAD,
     "instrument_map['XBTUSD'] (tickSize): must be positive"),
    # an integer of 10**30 or more (either sign) is shown by its size, below that by its digits
    ("time-10**30", lambda s: s.update(time_ms=10**30), PAYLOAD,
     "time_ms: an integer of 100 bits is outside [0, 253402300799999]"),
    ("time-10**30-1", lambda s: s.update(time_ms=10**30 - 1), PAYLOAD,
     f"time_ms: {10**30 - 1} is outside [0, 253402300799999]"),
    ("time--10**30", lambda s: s.update(time_ms=-(10**30)), PAYLOAD,
     "time_ms: an integer of 100 bits is outside [0, 253402300799999]"),
    ("time--10**30+1", lambda s: s.update(time_ms=-(10**30) + 1), PAYLOAD,
     f"time_ms: {-(10**30) + 1} is outside [0, 253402300799999]"),
    # names cut to 40 characters
    ("unknown-field-long", lambda s: s.update({"q" * LONG: 1}), BLOB,
     f"(root): fields missing [], unknown ['{'q' * 40}']"),
    ("adl-policy-long", lambda s: s.update(adl_policy_name="L" * LONG), PAYLOAD,
     f"adl_policy_name: '{'L' * 40}' is not one of {sorted(POLICIES)}"),
    ("order-symbol-long", lambda s: _set(s["live_orders"][5], "symbol", "S" * LONG), PAYLOAD,
     f"live_orders[5].symbol['{'S' * 40}']: is not an instrument of this engine"),
    ("instrument-key-long", lambda s: s["instrument_map"].update({"K" * LONG: s["instrument_map"]["XBTUSD"]}),
     PAYLOAD, f"instrument_map['{'K' * 40}'].symbol: 'XBTUSD' differs from its key"),
    ("instrument-symbol-long", lambda s: _set(s["instrument_map"]["XBTUSD"], "symbol", "Y" * LONG), PAYLOAD,
     f"instrument_map['XBTUSD'].symbol: '{'Y' * 40}' differs from its key"),
    ("cl-ord-id-long", lambda s: s["accounts"][1].cl_ord_ids.update({"c" * LONG: 5}), PAYLOAD,
     f"accounts[1].cl_ord_ids['{'c' * 40}']: does not name a live order of this account with that clOrdID"),
    # an asset no instrument has is refused by its key (session 17), shown cut at 40 characters as before
    ("fees-asset-long", lambda s: s["fees"].update({"a" * LONG: 1.5}), PAYLOAD,
     f"fees key: '{'a' * 40}' is not one of ['USDt', 'XBt']"),
    ("wallet-asset-long", lambda s: s["accounts"][1].wallets.update({"w" * LONG: 1.5}), PAYLOAD,
     f"accounts[1].wallets key: '{'w' * 40}' is not one of ['USDt', 'XBt']"),
    ("fees-float", lambda s: s["fees"].update({"XBt": 1.5}), PAYLOAD, "fees['XBt']: must be an integer, is float"),
]


@pytest.mark.parametrize(("mutate", "payload", "message"),
                         [pytest.param(m, p, t, id=name) for name, m, p, t in PAST_BOUND])
def test_a_value_past_its_bound_is_refused_with_exactly_its_message(mutate: Mutation, payload: bytes,
                                                                     message: str) -> None:
    _refused(forged(mutate, payload)[0], message)


def test_a_state_missing_six_fields_and_naming_six_unknown_is_refused_naming_the_first_five_of_each() -> None:
    """No loader passes such a state (``Engine.from_snapshot`` fills a missing field with a fresh engine's value),
    so the whole-state check is called directly."""
    with pytest.raises(CodecError) as caught:
        check_engine_state(_six_missing_six_unknown())
    missing = list(STATE_FIELDS[:5])
    unknown = [f"extra{index}" for index in range(5)]
    assert str(caught.value) == f"engine state field (root): fields missing {missing}, unknown {unknown} at byte offset 0"

