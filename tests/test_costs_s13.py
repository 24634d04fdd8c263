"""Session 13 (red team 5): three single commands whose cost grew with what they did not change.

* redteam5_2: a cancel only marked its order dead; the entry left the level's queue only on reaching its head, which
  never happens while an older order rests there.  Place/cancel churn behind one resting order grew the level, the
  snapshots and every reader walking it without bound.  Now ``Book.remove`` compacts a level whose dead entries
  outnumber its live orders (``Level.compact``; amortised O(1) per cancel, the live orders keep their queue order),
  a timer's cancels included (session 15: they are committed, never put back).
* redteam5_4: ``entry_terms.compute_market_reach`` copied and summed the whole first level before looking at what
  the order needs; now it stops at the order that covers it.  ``Book.dry_match`` (FillOrKill) copied the level's
  shown queue, and the fat-finger band's test summed the best level (``Book.depth``): both now stop early too.
* redteam5_3: ``OrderRegistry.fix_reduce_only`` scanned and sorted all the account's orders after every sweep once the
  account held one ReduceOnly order; now a derived (not state) index of the live, triggered ReduceOnly orders per
  (account, symbol) gives it just those.

Each regression test counts the work (entries held, entries walked, scans of an account's orders), not the time,
and fails on the old code; the twins keep the old functions verbatim and compare answers on generated books.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from perpspec.engine.core import commands as c
from perpspec.engine.core import exchange
from perpspec.engine.core.book import Book, Fill, Guard, Level
from perpspec.engine.core.entry_terms import check_price_protection, compute_market_reach
from perpspec.engine.core.events import Accepted, Execution, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.orders import Order

COMPILED = not exchange.__file__.endswith(".py")
SYMBOL = "XBTUSD"
PRICE = 5_000_000


# ------------------------------------------------------------------ helpers
class CountingDeque(deque[Order]):
    """A level queue that counts the entries read from it (the work a reader does)."""

    walked = 0

    def __iter__(self) -> Iterator[Order]:
        for order in super().__iter__():
            CountingDeque.walked += 1
            yield order


class CountingDict(dict[int, object]):
    """An account's ``orders`` that counts the scans over it."""

    scans = 0

    def __iter__(self) -> Iterator[int]:
        CountingDict.scans += 1
        return super().__iter__()


def ok(engine: Engine, command: Any) -> list[Any]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), (command, events[-1])
    return events


def funded_engine(accounts: tuple[int, ...] = (1, 2, 3, 4)) -> Engine:
    engine = Engine()
    for account in accounts:
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    ok(engine, c.PriceUpdate(time_ms=0, symbol=SYMBOL, mark_price=PRICE, index_price=PRICE))
    return engine


def place(engine: Engine, account: int, side: str, qty: int, price: int | None = None, **extra: Any) -> int:
    command = c.PlaceOrder(time_ms=0, account=account, symbol=SYMBOL, side=side, order_qty=qty, price=price, **extra)
    order_id = ok(engine, command)[-1].order_id
    assert isinstance(order_id, int)
    return order_id


def makers_of(events: list[Any], taker: int) -> list[int]:
    """The maker orders of a taker's trades, in the order they traded."""
    return [e.order_id for e in events if isinstance(e, Execution) and e.exec_type == "Trade" and e.account != taker]


def make(order_id: int, account: int, is_buy: bool, price: int, qty: int, display: int | None = None,
         reduce_only: bool = False) -> Order:
    return Order(order_id=order_id, account=account, symbol="T", is_buy=is_buy, price=price, order_qty=qty,
                 display_qty=display, reduce_only=reduce_only)


# generated books: (account, is_buy, price, qty, display, reduce_only, cancelled)
RESTING = st.tuples(
    st.integers(0, 3), st.booleans(), st.integers(98, 102), st.integers(1, 30),
    st.one_of(st.none(), st.just(0), st.integers(1, 10)), st.booleans(), st.booleans(),
)


def build(rows: list[tuple[int, bool, int, int, int | None, bool, bool]], compact: bool = True) -> Book:
    """A book of the rows that do not cross (each side stays on its own side of 100), some cancelled after."""
    book = Book("T")
    cancelled = []
    for order_id, (account, is_buy, price, qty, display, reduce_only, cancel) in enumerate(rows):
        if (price > 100) if is_buy else (price <= 100):
            price = 200 - price if is_buy else 201 - price
        order = make(order_id, account, is_buy, price, qty, display, reduce_only)
        book.add(order)
        if cancel:
            cancelled.append(order)
    for order in cancelled:
        if order.live:
            if compact:
                book.remove(order)
            else:
                remove_uncompacted(book, order)
    return book


def remove_uncompacted(book: Book, order: Order) -> None:
    """``Book.remove`` without its compaction (as ``remove(order, compact=False)`` did until session 15): a level
    holding every dead entry, the reference the compacted books are compared with."""
    order.live = False
    level = order.level
    assert isinstance(level, Level)
    order.level = None
    level.live -= 1
    if level.live == 0:
        (book.bids if order.is_buy else book.asks).pop(level.price)
        keys = book.bid_keys if order.is_buy else book.ask_keys
        keys.remove(level.price if order.is_buy else -level.price)


# ------------------------------------------------------- redteam5_2: compaction
def test_place_cancel_churn_behind_a_resting_order_does_not_grow_its_level() -> None:
    engine = funded_engine()
    place(engine, 1, "Sell", 1_000_000, PRICE)
    for _ in range(300):
        order_id = place(engine, 1, "Sell", 100, PRICE)
        ok(engine, c.CancelOrder(time_ms=0, account=1, order_id=order_id))
    level = engine.books[SYMBOL].asks[PRICE]
    assert level.live == 1
    assert len(level.shown) + len(level.hidden) <= 2 * level.live  # old code: 301 entries for 1 live order


def test_compaction_keeps_the_live_orders_in_queue_order_and_they_trade_so() -> None:
    engine = funded_engine()
    rng = random.Random(7)
    kept = [place(engine, 2, "Sell", 100, PRICE)]
    for step in range(400):
        order_id = place(engine, 1 + step % 2, "Sell", 100 * (1 + step % 7), PRICE,
                         display_qty=rng.choice((None, 0, 100)))
        if rng.random() < 0.1:
            kept.append(order_id)
        else:
            ok(engine, c.CancelOrder(time_ms=0, account=1 + step % 2, order_id=order_id))
        level = engine.books[SYMBOL].asks[PRICE]
        assert len(level.shown) + len(level.hidden) <= 2 * level.live + 1
    book = engine.books[SYMBOL]
    in_priority = [order.order_id for order in book.orders_in_priority()]
    hidden = [oid for oid in kept if engine.registry.live_orders[oid].display_qty == 0]
    assert in_priority == [oid for oid in kept if oid not in hidden] + hidden
    # a buyer of everything meets them in that order (each displayed slice before the hidden ones)
    total = sum(engine.registry.live_orders[oid].leaves_qty for oid in kept)
    events = ok(engine, c.PlaceOrder(time_ms=0, account=3, symbol=SYMBOL, side="Buy", order_qty=total,
                                     ord_type="Market"))
    makers = makers_of(events, 3)
    assert list(dict.fromkeys(makers)) == in_priority
    assert PRICE not in book.asks


def test_a_timers_cancels_in_a_rejected_command_stay_and_are_compacted() -> None:
    """Session 15: a switch's cancels are committed (ORD-050) and compact the level as any cancel does."""
    engine = funded_engine()
    head = place(engine, 3, "Sell", 100, PRICE)
    for _ in range(4):
        place(engine, 2, "Sell", 100, PRICE)
    ok(engine, c.CancelAllAfter(time_ms=0, account=2, timeout_ms=1_000))
    # the switch fires at t=2000 (account 2's four orders cancelled: 1 live of 5 entries), the command is refused
    refused = engine.process(c.CancelOrder(time_ms=2_000, account=3, order_id=10**9))
    assert isinstance(refused[-1], Rejected)
    level = engine.books[SYMBOL].asks[PRICE]
    entries = [o.order_id for o in (*level.shown, *level.hidden)]
    assert (level.live, len(entries), [o for o in entries if o in engine.live_orders]) == (1, 2, [head])
    # compacted at the third cancel (5 entries > 2 x 2 live), as four ordinary cancels would leave it
    events = ok(engine, c.PlaceOrder(time_ms=2_000, account=4, symbol=SYMBOL, side="Buy", order_qty=300,
                                     ord_type="Market"))
    assert makers_of(events, 4) == [head]


@settings(max_examples=150, deadline=None)
@given(st.lists(RESTING, min_size=1, max_size=60))
def test_a_compacted_level_holds_the_same_live_orders_in_the_same_order(rows: list[Any]) -> None:
    compacted, kept = build(rows), build(rows, compact=False)
    assert [o.order_id for o in compacted.orders_in_priority()] == [o.order_id for o in kept.orders_in_priority()]
    for levels in (compacted.bids, compacted.asks):
        for level in levels.values():
            assert len(level.shown) + len(level.hidden) <= 2 * level.live


# ------------------------------------------------- redteam5_4: market reach
def old_compute_market_reach(book: Book, is_buy: bool, qty: int, cap: int, account_id: int) -> int:
    """entry_terms.compute_market_reach of 0c0723d, verbatim."""
    levels = book.asks if is_buy else book.bids
    keys = book.ask_keys if is_buy else book.bid_keys
    need = qty
    worst = 0
    for key in reversed(keys):
        price = -key if is_buy else key
        if (price > cap) if is_buy else (price < cap):
            break
        level = levels[price]
        available = 0
        reached = False
        for resting in (*level.shown, *level.hidden):
            if resting.live and resting.account != account_id:
                reached = True
                if not resting.reduce_only:
                    available += resting.leaves_qty
        if reached:
            worst = price
        need -= min(need, available)
        if need == 0:
            break
    return worst


@settings(max_examples=300, deadline=None)
@given(st.lists(RESTING, max_size=40), st.booleans(), st.integers(0, 200), st.integers(90, 110), st.integers(0, 4),
       st.booleans())
def test_market_reach_is_the_old_figure(rows: list[Any], is_buy: bool, qty: int, cap: int, account: int,
                                        compact: bool) -> None:
    book = build(rows, compact)
    assert compute_market_reach(book, is_buy, qty, cap, account) == old_compute_market_reach(
        book, is_buy, qty, cap, account)


def one_level_of(count: int, is_buy: bool) -> tuple[Book, Level]:
    book = Book("T")
    for order_id in range(count):
        book.add(make(order_id, 1, is_buy, 100, 100))
    level = (book.bids if is_buy else book.asks)[100]
    level.shown = CountingDeque(level.shown)
    CountingDeque.walked = 0
    return book, level


def test_market_reach_stops_at_the_order_that_covers_the_quantity() -> None:
    if COMPILED:
        return  # a compiled reader's walk cannot be counted from here (the twin above still runs)
    book, _ = one_level_of(500, is_buy=True)
    assert compute_market_reach(book, False, 100, 0, 9) == 100
    assert CountingDeque.walked <= 2  # old code: 500


# ----------------------------------------------- FillOrKill dry run, fat finger
def test_a_fill_or_kill_dry_run_does_not_copy_the_level() -> None:
    if COMPILED:
        return
    book, _ = one_level_of(500, is_buy=False)
    fills: list[Fill] = []
    assert book.dry_match(True, 100, 100, 9, fills, None) == 0
    assert len(fills) == 1
    assert CountingDeque.walked <= 2  # old code: deque(level.shown) read all 500


def test_the_fat_finger_test_stops_at_the_size_it_needs() -> None:
    if COMPILED:
        return
    book, _ = one_level_of(500, is_buy=False)
    assert check_price_protection(book, 100, True, 1_000, 100) is None
    assert CountingDeque.walked <= 2  # old code: Book.depth summed all 500, twice
    assert check_price_protection(book, 100, True, 1_000, 50_001) is not None


def old_fat_finger_size(book: Book, bid_side: bool) -> int:
    """The size check_price_protection of 0c0723d compared with (``Book.depth``'s first level)."""
    best = book.best_bid() if bid_side else book.best_ask()
    return book.depth(bid_side, 1)[0][1] if best is not None and book.depth(bid_side, 1) else 0


@settings(max_examples=300, deadline=None)
@given(st.lists(RESTING, max_size=40), st.booleans(), st.integers(-2, 120))
def test_shows_at_least_is_the_old_size_test(rows: list[Any], bid_side: bool, qty: int) -> None:
    book = build(rows)
    assert book.shows_at_least(bid_side, qty) == (not qty > old_fat_finger_size(book, bid_side))


def old_dry_level(level: Level, qty: int, account: int, fills: list[Fill], guard: Guard | None) -> int:
    """Book._dry_level of 0c0723d, verbatim."""
    price = level.price
    leaves: dict[int, int] = {}
    shown_left: dict[int, int] = {}
    shown = deque(level.shown)
    while qty > 0 and shown:
        maker = shown.popleft()
        if not maker.live or maker.account == account:
            continue
        slice_qty = shown_left.get(maker.order_id, maker.shown_qty)
        wanted = slice_qty if slice_qty < qty else qty
        granted = wanted if guard is None else guard(maker, wanted)
        if granted < 0:
            return -1 - qty
        if granted < wanted:
            if granted > 0:
                fills.append((maker, granted, price))
                qty -= granted
            continue
        if slice_qty > qty:
            fills.append((maker, qty, price))
            return 0
        qty -= slice_qty
        fills.append((maker, slice_qty, price))
        left = leaves.get(maker.order_id, maker.leaves_qty) - slice_qty
        leaves[maker.order_id] = left
        if left > 0:
            display = maker.display_qty
            shown_left[maker.order_id] = left if display is None else min(display, left)
            shown.append(maker)
    for maker in level.hidden:
        if qty <= 0:
            break
        if not maker.live or maker.account == account:
            continue
        open_qty = maker.leaves_qty
        wanted = open_qty if open_qty < qty else qty
        granted = wanted if guard is None else guard(maker, wanted)
        if granted < 0:
            return -1 - qty
        if granted < wanted:
            if granted > 0:
                fills.append((maker, granted, price))
                qty -= granted
            continue
        fills.append((maker, wanted, price))
        qty -= wanted
    return qty


def budget_guard(budget: dict[int, int]) -> Guard:
    def guard(maker: Order, wanted: int) -> int:
        if maker.account == 3 and wanted >= 9:
            return -1
        if not maker.reduce_only:
            return wanted
        granted = min(wanted, budget[maker.account])
        budget[maker.account] -= granted
        return granted
    return guard


@settings(max_examples=300, deadline=None)
@given(st.lists(RESTING, max_size=40), st.booleans(), st.integers(0, 300), st.integers(0, 4), st.booleans())
def test_the_dry_run_of_a_level_is_the_old_one(rows: list[Any], is_buy: bool, qty: int, account: int,
                                               guarded: bool) -> None:
    book = build(rows)
    levels = book.asks if is_buy else book.bids
    for price in sorted(levels):
        level = levels[price]
        new_fills: list[Fill] = []
        old_fills: list[Fill] = []
        new = Book._dry_level(level, qty, account, new_fills, budget_guard(dict.fromkeys(range(4), 12)) if guarded
                              else None)
        old = old_dry_level(level, qty, account, old_fills, budget_guard(dict.fromkeys(range(4), 12)) if guarded
                            else None)
        assert (new, [(m.order_id, q, p) for m, q, p in new_fills]) == (old, [(m.order_id, q, p) for m, q, p in
                                                                              old_fills])


# ------------------------------------------------ redteam5_3: ReduceOnly index
def brute_reduce_only(engine: Engine) -> dict[tuple[int, str], list[int]]:
    out: dict[tuple[int, str], list[int]] = {}
    for order in engine.registry.live_orders.values():
        if order.reduce_only and order.triggered:
            out.setdefault((order.account, order.symbol), []).append(order.order_id)
    return {key: sorted(ids) for key, ids in out.items()}


def indexed(engine: Engine) -> dict[tuple[int, str], list[int]]:
    index = engine.registry.reduce_only_index()
    assert all(held for held in index.values())  # no empty entry left behind
    return {key: sorted(held) for key, held in index.items()}


def test_fix_reduce_only_does_not_scan_all_the_accounts_orders() -> None:
    if COMPILED:
        return
    engine = funded_engine()
    place(engine, 2, "Sell", 100, PRICE)
    place(engine, 1, "Buy", 100, PRICE)  # account 1 holds a long of 100
    ro = place(engine, 1, "Sell", 100, 6_000_000, exec_inst="ReduceOnly")
    for step in range(200):
        place(engine, 1, "Buy", 100, 4_000_000 - 50 * step)
    account = engine.ledger.accounts[1]
    account.orders = CountingDict(account.orders)
    CountingDict.scans = 0
    engine.registry.fix_reduce_only(account, engine.instrument_map[SYMBOL])
    assert CountingDict.scans == 0  # old code: a scan of all 202 orders (and a sort) per call
    assert engine.registry.live_orders[ro].leaves_qty == 100
    account.orders = dict(account.orders)


def test_the_reduce_only_index_follows_every_way_an_order_comes_and_goes() -> None:
    rng = random.Random(13)
    engine = funded_engine((1, 2, 3, 4, 5))
    time_ms = 0
    twins_checked = 0
    most = 0  # the most ReduceOnly orders indexed at once (the stream must exercise the index)
    for step in range(600):
        account = rng.randint(1, 5)
        side = rng.choice(("Buy", "Sell"))
        price = PRICE + rng.randint(-6, 6) * 500
        roll = rng.random()
        if roll < 0.45:
            command: Any = c.PlaceOrder(
                time_ms=time_ms, account=account, symbol=SYMBOL, side=side, order_qty=rng.choice((100, 200, 500)),
                price=price, exec_inst=rng.choice(("", "", "ReduceOnly")))
        elif roll < 0.55:
            command = c.PlaceOrder(time_ms=time_ms, account=account, symbol=SYMBOL, side=side, order_qty=100,
                                   ord_type="Market", exec_inst=rng.choice(("", "ReduceOnly")))
        elif roll < 0.65:
            command = c.PlaceOrder(time_ms=time_ms, account=account, symbol=SYMBOL, side=side, order_qty=100,
                                   stop_px=price, exec_inst=rng.choice(("ReduceOnly", "ReduceOnly,LastPrice", "")))
        elif roll < 0.75:
            live = sorted(engine.ledger.accounts[account].orders)
            command = c.CancelOrder(time_ms=time_ms, account=account,
                                    order_id=rng.choice(live) if live else 10**9)
        elif roll < 0.8:
            command = c.CancelAllAfter(time_ms=time_ms, account=account, timeout_ms=rng.choice((0, 1, 50)))
        elif roll < 0.9:
            mark = PRICE + rng.randint(-6, 6) * 500
            command = c.PriceUpdate(time_ms=time_ms, symbol=SYMBOL, mark_price=mark, index_price=mark)
        else:
            command = c.Withdraw(time_ms=time_ms, account=account, asset="XBt", amount=10**15)  # refused
        time_ms += rng.choice((0, 1, 30, 60))
        engine.process(command)
        assert indexed(engine) == brute_reduce_only(engine), step
        most = max(most, sum(len(ids) for ids in brute_reduce_only(engine).values()))
        if step % 150 == 149:  # a snapshot's engine rebuilds the index and goes on the same way
            restored = Engine.from_snapshot(engine.snapshot())
            assert indexed(restored) == brute_reduce_only(restored) == brute_reduce_only(engine)
            assert restored.state_hash() == engine.state_hash()
            probe = c.PriceUpdate(time_ms=time_ms, symbol=SYMBOL, mark_price=PRICE, index_price=PRICE)
            assert repr(restored.process(probe)) == repr(engine.process(probe))
            twins_checked += 1
    assert twins_checked == 4
    assert most >= 3
