"""ORD-015 (a conditional order is due), ORD-014 (LastWithinMark's band), ORD-007 (trailing stops) and
INV-TRIGGERS-DUE-FIRED (after every accepted command no untriggered order is due at the prices it leaves).

* the rules at their edges (rules/triggers.py);
* the engine's trigger index (engine/core/triggers.py ``StopIndex``) takes exactly the orders ORD-015 judges due
  and moves the others' trailing stops as ORD-007 does, over generated pools and price paths;
* the invariant flags a crafted state with a due order left waiting, and the two session-13 defects (a close-out
  trading through a LastPrice stop without firing it; the same in another contract of a taken-over pool) when
  ``Prices._waterfall`` does not run the triggers after the waterfall (tests/test_liquidation_trades_fire_stops.py
  is their regression test; this shows the registry catches them too);
* the simulator's reading of it (the nearest order per trigger group) answers as the whole pool does.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpspec.engine.core import commands as c
from perpspec.engine.core import orders as o
from perpspec.engine.core import triggers as engine_triggers
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.orders import Order
from perpspec.engine.core.prices import Prices
from perpspec.engine.core.triggers import IF_TOUCHED, StopIndex, Triggers, _fires_rising
from perpspec.engine.core.views import untriggered_record
from perpspec.engine.simulation.checks import deciding_orders
from perpspec.rules import invariants
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_builtin_instruments
from perpspec.rules.invariants import StepInfo, check_all
from perpspec.rules.invariants_trading import check_triggers_due_fired, check_triggers_due_fired_of
from perpspec.rules.triggers import (
    TriggerPrices,
    UntriggeredOrder,
    compute_trailed_stop_px,
    compute_trailing_stop_px,
    is_rising_trigger,
    is_trigger_due,
    is_within_mark_band,
    select_trigger_price,
)
from tests import test_liquidation_trades_fire_stops as session13

INV = "INV-TRIGGERS-DUE-FIRED"
COMPILED = not engine_triggers.__file__.endswith(".py")


# ------------------------------------------------------------------------------------------- the rules


def test_ord_015_a_buy_stop_is_due_from_its_stop_px_up() -> None:
    """ORD-015 / ORD-003: a buy stop at 50,000 is due at 50,000 and above, not at 49,999."""
    assert [is_trigger_due(True, False, False, 50_000, price, 50_000) for price in (49_999, 50_000, 50_001)] == [
        False,
        True,
        True,
    ]


def test_ord_015_a_sell_stop_is_due_from_its_stop_px_down() -> None:
    """ORD-015 / ORD-003: a sell stop at 50,000 is due at 50,000 and below, not at 50,001."""
    assert [is_trigger_due(False, False, False, 50_000, price, 50_000) for price in (49_999, 50_000, 50_001)] == [
        True,
        True,
        False,
    ]


def test_ord_015_if_touched_orders_fire_the_other_way() -> None:
    """ORD-015 / ORD-005: a buy if-touched is due at or below its stopPx, a sell at or above it."""
    assert [is_trigger_due(True, True, False, 50_000, price, 50_000) for price in (49_999, 50_000, 50_001)] == [
        True,
        True,
        False,
    ]
    assert [is_trigger_due(False, True, False, 50_000, price, 50_000) for price in (49_999, 50_000, 50_001)] == [
        False,
        True,
        True,
    ]


def test_ord_015_no_price_yet_triggers_nothing() -> None:
    """ORD-015: a price of 0 (none published) is due for no order, even a sell stop (0 ≤ any stopPx)."""
    assert not any(
        is_trigger_due(is_buy, touched, within, 50_000, 0, 50_000)
        for is_buy in (True, False)
        for touched in (True, False)
        for within in (True, False)
    )


def test_ord_014_the_band_is_five_percent_of_mark_edge_included() -> None:
    """ORD-014: mark 1,000,000: 950,000 and 1,050,000 are inside, 949,999 and 1,050,001 outside."""
    assert [is_within_mark_band(price, 1_000_000) for price in (949_999, 950_000, 1_050_000, 1_050_001)] == [
        False,
        True,
        True,
        False,
    ]
    assert not is_within_mark_band(1, 0)  # no mark: no price is within 5% of it


def test_ord_015_last_within_mark_counts_only_inside_the_band() -> None:
    """ORD-015 / ORD-014: a LastWithinMark sell stop at 960,000: due at 950,000 (mark 1,000,000), not at 940,000."""
    assert is_trigger_due(False, False, True, 960_000, 950_000, 1_000_000)
    assert not is_trigger_due(False, False, True, 960_000, 940_000, 1_000_000)
    assert is_trigger_due(False, False, False, 960_000, 940_000, 1_000_000)


def test_ord_007_a_sell_trailing_stop_rises_with_the_price_and_never_falls() -> None:
    """ORD-007: offset −500 at stopPx 49,500: the price at 51,000 moves it to 50,500; back at 50,000 it stays."""
    assert compute_trailing_stop_px(False, 49_500, 51_000, -500) == 50_500
    assert compute_trailing_stop_px(False, 50_500, 50_000, -500) == 50_500
    assert compute_trailing_stop_px(False, 50_500, 0, -500) == 50_500  # no price yet: nothing moves


def test_ord_007_a_buy_trailing_stop_falls_with_the_price_and_never_rises() -> None:
    """ORD-007: offset +500 at stopPx 50,500: the price at 49,000 moves it to 49,500; back at 50,000 it stays."""
    assert compute_trailing_stop_px(True, 50_500, 49_000, 500) == 49_500
    assert compute_trailing_stop_px(True, 49_500, 50_000, 500) == 49_500


def test_ord_013_the_trigger_source_selects_the_price() -> None:
    """ORD-013: LastPrice reads the last price, IndexPrice the index, MarkPrice (and anything else) the mark."""
    prices = TriggerPrices(mark_price=1, last_price=2, index_price=3)
    assert [select_trigger_price(source, prices) for source in ("LastPrice", "IndexPrice", "MarkPrice", "")] == [2, 3, 1, 1]


def test_the_engine_heaps_direction_is_the_rules() -> None:
    """ORD-015: StopIndex's rising/falling heap choice (``_fires_rising``) is ``is_rising_trigger`` for every type."""
    for ord_type in sorted(o.CONDITIONAL_TYPES):
        for is_buy in (True, False):
            order = Order(order_id=1, account=1, symbol="XBTUSD", is_buy=is_buy, price=0, order_qty=1, ord_type=ord_type)
            assert _fires_rising(order) == is_rising_trigger(is_buy, ord_type in IF_TOUCHED), (ord_type, is_buy)


# ------------------------------------------------------------------------------------------- the index


class _Market:
    """What ``Triggers.trail`` reads of the market: the prices of one contract."""

    def __init__(self) -> None:
        self.marks: dict[str, int] = {}
        self.last_prices: dict[str, int] = {}
        self.index_prices: dict[str, int] = {}

    def trigger_price(self, symbol: str, source: str) -> int:
        if source == o.LAST_PRICE:
            return self.last_prices.get(symbol, 0)
        if source == o.INDEX_PRICE:
            return self.index_prices.get(symbol, 0)
        return self.marks.get(symbol, 0)


KIND = st.sampled_from((o.STOP, o.STOP_LIMIT, o.MARKET_IF_TOUCHED, o.LIMIT_IF_TOUCHED, o.PEGGED))
SOURCE = st.sampled_from((o.MARK_PRICE, o.LAST_PRICE, o.INDEX_PRICE))
PRICE = st.integers(900, 1_100)
ORDERS = st.lists(st.tuples(KIND, st.booleans(), SOURCE, st.booleans(), PRICE, st.integers(1, 60)), max_size=30)
SEEN = st.one_of(st.just(0), PRICE)  # 0: no price published yet
PATH = st.lists(st.tuples(SEEN, SEEN, SEEN), min_size=1, max_size=8)


def _pool(specs: list[tuple[str, bool, str, bool, int, int]]) -> dict[int, Order]:
    pool: dict[int, Order] = {}
    for order_id, (kind, is_buy, source, within, stop_px, distance) in enumerate(specs, start=1):
        pegged = kind == o.PEGGED
        offset = (distance if is_buy else -distance) if pegged else 0
        pool[order_id] = Order(order_id=order_id, account=order_id, symbol="X", is_buy=is_buy, price=0, order_qty=1,
                               ord_type=kind, stop_px=stop_px, peg_offset=offset, trigger_source=source,
                               last_within_mark=within)
    return pool


def _rule_due(order: Order, prices: TriggerPrices) -> bool:
    price = select_trigger_price(order.trigger_source, prices)
    return is_trigger_due(order.is_buy, order.ord_type in IF_TOUCHED, order.last_within_mark, order.stop_px, price,
                          prices.mark_price)


@settings(max_examples=300, deadline=None)
@given(ORDERS, PATH)
def test_the_trigger_index_takes_what_ord_015_judges_due_and_trails_as_ord_007(
    specs: list[tuple[str, bool, str, bool, int, int]], path: list[tuple[int, int, int]]
) -> None:
    """ORD-015 / ORD-007: pass after pass along a price path, StopIndex.take_due returns exactly the orders the rule
    judges due (in order-id order) and leaves every other trailing stop where ORD-007 moves it, one by one (a
    LastWithinMark one only by a price within ORD-014's band)."""
    pool = _pool(specs)
    reference = copy.deepcopy(pool)
    market = _Market()
    triggers = Triggers.__new__(Triggers)
    triggers.market = market  # type: ignore[assignment]
    index = StopIndex(pool)
    index.rebuild()
    for mark, last, index_price in path:
        market.marks["X"], market.last_prices["X"], market.index_prices["X"] = mark, last, index_price
        prices = TriggerPrices(mark_price=mark, last_price=last, index_price=index_price)
        expected = [order_id for order_id, order in sorted(reference.items()) if _rule_due(order, prices)]
        for order_id, order in reference.items():
            if order_id not in expected and order.ord_type == o.PEGGED:
                price = select_trigger_price(order.trigger_source, prices)
                order.stop_px = compute_trailed_stop_px(
                    order.is_buy, order.last_within_mark, order.stop_px, price, mark, order.peg_offset
                )
        due = index.take_due(triggers, mark, last, index_price)
        index.write_back()
        assert [order.order_id for order in due] == expected
        for order_id in expected:  # fired: out of both pools
            del pool[order_id]
            del reference[order_id]
        assert {key: order.stop_px for key, order in pool.items()} == {
            key: order.stop_px for key, order in reference.items()
        }


# ------------------------------------------------------------------------------------------- the invariant


def _engine_with_a_last_price_stop() -> tuple[Engine, int]:
    engine, stop = session13.thin_long_over_a_bid(stop_px=4_956_000)
    return engine, stop


def test_inv_triggers_due_fired_holds_while_the_stop_waits() -> None:
    """INV-TRIGGERS-DUE-FIRED: a LastPrice sell stop at 49,560 with the last price at 50,000 is not due."""
    engine, _ = _engine_with_a_last_price_stop()
    assert check_all(engine, engine.step_info())[INV] == []


def test_inv_triggers_due_fired_flags_a_due_stop_left_waiting() -> None:
    """INV-TRIGGERS-DUE-FIRED: the same stop with the last price moved to 49,550 behind the engine's back is flagged."""
    engine, stop = _engine_with_a_last_price_stop()
    engine.market.last_prices["XBTUSD"] = 4_955_000  # no trigger run: a crafted state
    found = check_all(engine, engine.step_info())[INV]
    assert found == [
        f"XBTUSD: account 3's sell stop {stop} (stopPx 4956000, LastPrice) is due at 4955000 (mark 5000000) "
        "and was not triggered"
    ]


def test_a_view_without_conditional_orders_has_none_to_check() -> None:
    """INV-TRIGGERS-DUE-FIRED: a view that keeps no conditional orders (another engine's) reports nothing."""

    class Bare:
        def instruments(self) -> dict[str, Instrument]:
            return {}

    assert check_triggers_due_fired(Bare(), StepInfo()) == []  # type: ignore[arg-type]


def _old_waterfall(self: Prices, inst: Instrument) -> None:
    """``Prices._waterfall`` before session 13 (857a1f7): the waterfall, and no trigger run after its trades."""
    self.waterfall.run(inst)


@pytest.mark.skipif(COMPILED, reason="patches the engine (a compiled class cannot be patched)")
def test_the_invariant_catches_session_13s_close_out_through_a_last_price_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    """INV-TRIGGERS-DUE-FIRED, redteam5_5: without the trigger run after the waterfall the close-out at 49,550 leaves
    the LastPrice sell stop at 49,560 waiting; the registry flags it (with the run, it holds)."""
    engine, stop = _engine_with_a_last_price_stop()
    events = session13.ok(engine, c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=4_960_000))
    assert check_all(engine, engine.step_info(events))[INV] == []
    monkeypatch.setattr(Prices, "_waterfall", _old_waterfall)
    engine, stop = _engine_with_a_last_price_stop()
    events = session13.ok(engine, c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=4_960_000))
    assert stop in engine.triggers.conditional["XBTUSD"]
    found = check_all(engine, engine.step_info(events))[INV]
    assert len(found) == 1
    assert f"sell stop {stop} " in found[0]
    assert "due at 4955000" in found[0]


def _pool_long_xbtusd_short_xbtz26_with_an_xbtz26_stop() -> tuple[Engine, int]:
    """tests/test_liquidation_trades_fire_stops.py's review8_2 state: account 1's cross pool long XBTUSD, short
    XBTZ26 on thin margin; account 4 a LastPrice sell stop at 49,900 in XBTZ26 over a bid at 49,800."""
    engine = Engine(dict(load_builtin_instruments()))
    for account, amount in ((1, 60_000), (2, 10**10), (3, 10**10), (4, 10**10)):
        session13.ok(engine, c.VerifyAccount(time_ms=0, account=account))
        session13.ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    for symbol in ("XBTUSD", "XBTZ26"):
        session13.ok(engine, c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=5_000_000, index_price=5_000_000))
    for account, symbol, side, qty, price in (
        (2, "XBTUSD", "Sell", 1_000, 5_000_000), (1, "XBTUSD", "Buy", 1_000, 5_000_000),
        (3, "XBTUSD", "Buy", 100_000, 4_900_000), (2, "XBTZ26", "Buy", 1_000, 5_000_000),
        (1, "XBTZ26", "Sell", 1_000, 5_000_000), (2, "XBTZ26", "Sell", 1_000, 5_000_000),
        (4, "XBTZ26", "Buy", 1_000, 5_000_000), (3, "XBTZ26", "Sell", 100_000, 4_980_000),
    ):
        session13.ok(engine, c.PlaceOrder(time_ms=0, account=account, symbol=symbol, side=side, order_qty=qty,
                                          price=price))
    stop = session13.ok(engine, c.PlaceOrder(time_ms=0, account=4, symbol="XBTZ26", side="Sell", order_qty=1_000,
                                             ord_type="Stop", stop_px=4_990_000, exec_inst="LastPrice"))[-1]
    assert isinstance(stop, Accepted)
    return engine, stop.order_id


@pytest.mark.skipif(COMPILED, reason="patches the engine (a compiled class cannot be patched)")
def test_the_invariant_catches_the_stop_left_in_a_taken_over_pools_other_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    """INV-TRIGGERS-DUE-FIRED, review8_2: an XBTUSD mark update closes the pool's XBTZ26 short through an XBTZ26
    LastPrice stop; running only XBTUSD's triggers after the waterfall (aec43ed's parent) leaves it waiting, and
    the registry flags it in XBTZ26 (with every traded contract's triggers run, it holds)."""
    update = c.PriceUpdate(time_ms=1_000, symbol="XBTUSD", mark_price=4_850_000, index_price=4_850_000)
    engine, stop = _pool_long_xbtusd_short_xbtz26_with_an_xbtz26_stop()
    events = session13.ok(engine, update)
    assert check_all(engine, engine.step_info(events))[INV] == []

    def updated_contract_only(self: Prices, inst: Instrument) -> None:
        last = self.market.last_prices.get(inst.symbol)
        self.waterfall.run(inst)
        if self.market.last_prices.get(inst.symbol) != last:
            self.entry.after_trading(inst)

    monkeypatch.setattr(Prices, "_waterfall", updated_contract_only)
    engine, stop = _pool_long_xbtusd_short_xbtz26_with_an_xbtz26_stop()
    events = session13.ok(engine, update)
    assert stop in engine.triggers.conditional["XBTZ26"]
    found = check_all(engine, engine.step_info(events))[INV]
    assert len(found) == 1
    assert found[0].startswith(f"XBTZ26: account 4's sell stop {stop} (stopPx 4990000, LastPrice)")


# ------------------------------------------------------------------------------------------- the simulator's reading


class _PoolView:
    """A view of one contract's pool: every order (``deciding`` False) or the nearest per group (True)."""

    def __init__(self, pool: dict[int, Order], prices: TriggerPrices, deciding: bool) -> None:
        self.pool, self.prices, self.deciding = pool, prices, deciding

    def untriggered_orders(self, symbol: str) -> Sequence[UntriggeredOrder]:
        orders = deciding_orders(self.pool, self.prices) if self.deciding else [order for _, order in sorted(self.pool.items())]
        return [untriggered_record(order) for order in orders]

    def trigger_prices(self, symbol: str) -> TriggerPrices:
        return self.prices


@settings(max_examples=300, deadline=None)
@given(ORDERS, st.tuples(SEEN, SEEN, SEEN))
def test_the_nearest_order_per_group_decides_as_the_whole_pool(
    specs: list[tuple[str, bool, str, bool, int, int]], prices: tuple[int, int, int]
) -> None:
    """INV-TRIGGERS-DUE-FIRED on deciding_orders (the simulator's reading) gives the whole pool's answer, message for
    message (ORD-015 is monotone in stopPx within a trigger group)."""
    pool = _pool(specs)
    read = TriggerPrices(mark_price=prices[0], last_price=prices[1], index_price=prices[2])
    whole = check_triggers_due_fired_of(_PoolView(pool, read, False), StepInfo(), ["X"])  # type: ignore[arg-type]
    nearest = check_triggers_due_fired_of(_PoolView(pool, read, True), StepInfo(), ["X"])  # type: ignore[arg-type]
    assert whole == nearest


def test_the_invariant_is_registered_and_argued_for_the_pooled_and_incremental_checks() -> None:
    """INV-TRIGGERS-DUE-FIRED is in the registry, and both simulator views say how they read it."""
    from perpspec.engine.simulation.checks import LISTINGS
    from perpspec.engine.simulation.engine_port import POOLING_ARGUED

    assert INV in invariants.REGISTRY
    assert INV in POOLING_ARGUED
    assert LISTINGS[INV] == "step"
