"""The per-field check of a decoded engine state: every value of the right type, in range, consistent.

The state codec (:mod:`engine.core.state_codec`) guarantees that bytes describe only well-typed values of the
project's record classes, never code; the state hash guarantees that the hashed part of a state is the one its
writer hashed.  Neither says that ``next_order_id`` is an int, that a clock is not negative, or that the order a
book holds is the one ``live_orders`` holds: a forged snapshot (the hash is anyone's to recompute, and it does not
cover ``live_orders``, ``holders``, the caches or the counters) could load and make the engine fail on its first
command.  :func:`check_engine_state` is run by :meth:`engine.core.exchange.Engine.from_snapshot` (and so by every
loader of a snapshot, a journal's genesis or a store: :func:`engine.durability.recovery.decode_engine`) before the
engine is used; any ill-typed, out-of-range or inconsistent value is a :class:`CodecError` naming the field by its
path (``accounts[3].positions['XBTUSD'].qty``), and nothing is loaded.

The constraints are those the engine itself keeps (each names the code that makes it): ints are exact ``int``
(never ``bool`` or ``float``), ids and clocks are non-negative, prices positive and within the instrument's
``maxPrice`` where the engine checks that on entry, strings are drawn from the engine's vocabularies, every
instrument passes :func:`rules.instrument_file.validate`, and every index points at the objects it indexes
(a live order is the same object in ``live_orders``, its account's ``orders`` and its book level or conditional
pool), an account's ``reserved`` balance is what its live orders' spot reservations hold, each resting spot
order's reservation is what its open quantity at its price needs (``spot_need``), every live Day order is in
``day_orders`` under a day not after today, every armed dead man's switch has its ``dms_heap`` entry, and a take-over
held by the liquidation engine is whole lots.  (The liquidation index ``liq`` is not trusted either: it is rebuilt
from the positions on load, :meth:`engine.core.risk.Risk.rebuilt_index`.)  The instruments are checked by :func:`check_instrument`, which
``Engine(instruments=...)`` runs too (:func:`check_engine_instruments`).  Caches travel in checkpoints
(``PositionState.resting_cache`` / ``_pm``): they must equal what the rules give for the state they cache.
Last, the registry's invariants that read only the state must hold (:mod:`engine.core.state_invariants`).
Deterministic, integer-only, no state is changed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any, Final, NoReturn

import attrs

from perpspec.engine.core import orders as o
from perpspec.engine.core.accounts import DAY_MS, Account, PositionState, compute_fee_tier
from perpspec.engine.core.book import Book, Level
from perpspec.engine.core.closeout import Pending
from perpspec.engine.core.commands import FIELD_INT_MAX
from perpspec.engine.core.fastmargin import RestingCache, order_sums
from perpspec.engine.core.ledger import LIQUIDATOR
from perpspec.engine.core.liqindex import LiqIndex
from perpspec.engine.core.market import is_spot
from perpspec.engine.core.orders import Order
from perpspec.engine.core.records import slot_names
from perpspec.engine.core.registry import spot_need
from perpspec.engine.core.state_codec import CodecError
from perpspec.engine.core.state_invariants import first_state_invariant_problem, state_assets
from perpspec.engine.core.state_names import STATE_NAMES
from perpspec.engine.core.stream import MAX_TIME_MS
from perpspec.rules.adl import POLICIES
from perpspec.rules.instrument import ContractKind, FeeTier, Instrument
from perpspec.rules.instrument_file import MARK_METHODS, InstrumentError, validate
from perpspec.rules.margin import PositionMargin, compute_position_margin
from perpspec.rules.position import Position
from perpspec.rules.risk_limit import compute_tier_limit

# the field names a state must hold (the sequencer's, engine.core.state_names)
STATE_FIELDS: Final = STATE_NAMES

_INSTRUMENT_TEXT: Final = ("symbol", "quote_currency", "settl_currency", "mark_method", "base_currency")
_INSTRUMENT_OPTIONAL: Final = ("expiry_ms", "impact_notional", "fixed_interest_daily_ppm")
_ORDER_BOOLS: Final = (
    "close", "is_buy", "last_within_mark", "live", "post_only", "reduce_only", "triggered", "whole_position"
)
_ORDER_COUNTS: Final = ("cum_qty", "cum_value", "leaves_qty", "order_qty", "shown_qty", "stop_px", "price")


class StateFieldError(Exception):
    """A refused state field: ``path`` names it, ``reason`` says why.

    Raised inside this module only: :func:`check_engine_state` turns it into a ``CodecError`` (not a subclass of
    it: the compiled ``CodecError`` takes no interpreted subclass), :func:`check_engine_instruments` into an
    ``InstrumentError``.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def _fail(path: str, reason: str) -> NoReturn:
    raise StateFieldError(path, reason)


# No int of an engine state is this large (redteam18_1): commands bring ints within 64 bits (the validation
# layer), one at a time, and a fill moves at most maxOrderQty x |multiplier| x maxPrice of 200-digit instrument
# fields, under 2**1400; far below what the state hash's repr (4,300 digits) and the codec (~28,000 bits) carry.
STATE_INT_BITS: Final = 4096
# account and order ids: what commands bring (signed 64 bits) and the engine counts up to
MAX_ID: Final = FIELD_INT_MAX


def _int(value: object, path: str, low: int | None = None, high: int | None = None) -> int:
    """An exact ``int`` (not a bool, float or subclass) within ``[low, high]``, and of at most
    :data:`STATE_INT_BITS` bits whatever the bounds."""
    if type(value) is not int:
        _fail(path, f"must be an integer, is {type(value).__name__}")
    if (low is not None and value < low) or (high is not None and value > high):
        _fail(path, f"{_shown(value)} is outside [{'-inf' if low is None else low}, {'inf' if high is None else high}]")
    if value.bit_length() > STATE_INT_BITS:
        _fail(path, f"{_shown(value)} is larger than any engine state holds (at most {STATE_INT_BITS} bits)")
    return value


def _id(value: object, path: str, low: int) -> int:
    """An account or order id: an int from ``low`` up to :data:`MAX_ID` (signed 64 bits, as every command's)."""
    _int(value, path, low)
    assert isinstance(value, int)
    if value > MAX_ID:
        _fail(path, f"{_shown(value)} is beyond signed 64 bits: no id the engine makes")
    return value


def _shown(value: int) -> str:
    """An integer for a message: its digits below 10**30 in size, else its size in bits."""
    return str(value) if -(10**30) < value < 10**30 else f"an integer of {value.bit_length()} bits"


def _bool(value: object, path: str) -> bool:
    if type(value) is not bool:
        _fail(path, f"must be a bool, is {type(value).__name__}")
    return value


def _str(value: object, path: str, allowed: frozenset[str] | tuple[str, ...] | None = None) -> str:
    if type(value) is not str:
        _fail(path, f"must be a string, is {type(value).__name__}")
    if allowed is not None and value not in allowed:
        _fail(path, f"{value[:40]!r} is not one of {sorted(allowed)}")
    return value


def _dict(value: object, path: str) -> dict[Any, Any]:
    if type(value) is not dict:
        _fail(path, f"must be a dict, is {type(value).__name__}")
    return value


def _list(value: object, path: str) -> list[Any]:
    if type(value) is not list:
        _fail(path, f"must be a list, is {type(value).__name__}")
    return value


def _pair(value: object, path: str) -> tuple[Any, Any]:
    if type(value) is not tuple or len(value) != 2:
        _fail(path, "must be a pair (a tuple of two)")
    return value[0], value[1]


def _record(value: object, cls: type, path: str, fields: tuple[str, ...]) -> Any:
    """An object of exactly ``cls`` with every field in ``fields`` set."""
    if type(value) is not cls:
        _fail(path, f"must be a {cls.__name__}, is {type(value).__name__}")
    for name in fields:
        if not hasattr(value, name):
            _fail(f"{path}.{name}", "is missing")
    return value


def _key(symbol: object, path: str, known: Mapping[str, object]) -> str:
    """A dict key that is a known instrument symbol."""
    text = _str(symbol, f"{path} key")
    if text not in known:
        _fail(f"{path}[{text[:40]!r}]", "is not an instrument of this engine")
    return text


def check_instrument(symbol: str, inst: object, path: str) -> Instrument:
    """``inst`` as the engine's instrument ``symbol`` (``path`` names it), else :class:`StateFieldError`.

    Every field of the type the instrument files give it, the symbol its key, and the instrument files' own
    soundness rules (:func:`rules.instrument_file.validate`): the one check of a snapshot's instruments and of
    ``Engine(instruments=...)``'s.
    """
    names = tuple(field.name for field in attrs.fields(Instrument))
    _record(inst, Instrument, path, names)
    assert isinstance(inst, Instrument)
    for name in names:
        value = getattr(inst, name)
        where = f"{path}.{name}"
        if name in _INSTRUMENT_TEXT:
            _str(value, where, MARK_METHODS if name == "mark_method" else None)
        elif name == "kind":
            if type(value) is not ContractKind:
                _fail(where, "must be a ContractKind")
        elif name == "fee_tiers":
            if type(value) is not tuple:
                _fail(where, "must be a tuple of fee tiers")
            for index, tier in enumerate(value):
                _record(tier, FeeTier, f"{where}[{index}]", ("adv_usd", "maker_fee_ppm", "taker_fee_ppm"))
                for tier_field in ("adv_usd", "maker_fee_ppm", "taker_fee_ppm"):
                    _int(getattr(tier, tier_field), f"{where}[{index}].{tier_field}")
        elif name in _INSTRUMENT_OPTIONAL and value is None:
            continue
        else:
            _int(value, where)
    if inst.symbol != symbol:
        _fail(f"{path}.symbol", f"{inst.symbol[:40]!r} differs from its key")
    if inst.symbol == "" or inst.settl_currency == "":
        _fail(f"{path}.symbol", "symbol and settlCurrency must not be empty")
    problem = validate(inst)  # the instrument file's own soundness rules
    if problem is not None:
        _fail(f"{path} ({problem[0]})", problem[1])
    if inst.liquidation_fee_ppm != 0:
        # no rule charges it: a liquidated pool's remaining margin goes to the fund (LIQ-006/INS-011), and the
        # partial liquidation's order pays no fee.  An exchange run with it set would look charged and not be
        # (redteam16_2); perpspec check-params still reads it, for a committee weighing one (PRM-LIQ-FEE).
        _fail(f"{path} (liquidationFee)", "is not charged by the engine: must be 0 (perpspec check-params reads it)")
    return inst


def check_engine_instruments(instruments: Mapping[Any, Any]) -> dict[str, Instrument]:
    """``Engine(instruments=...)``'s table, each instrument checked as a snapshot's is (:func:`check_instrument`).

    Refused with an :class:`InstrumentError` naming the instrument, the field and the reason, e.g.
    ``instruments['XBTUSD']: tickSize: must be positive``: an engine is never built from parameters that the
    instrument files refuse (a zero tick or lot divides by zero, a margin above 100% breaks a proof's assumption).
    """
    table: dict[str, Instrument] = {}
    for symbol, inst in instruments.items():
        if type(symbol) is not str:
            raise InstrumentError("instruments", "(key)", f"must be a symbol string, is {type(symbol).__name__}")
        source = f"instruments[{symbol[:40]!r}]"
        try:
            table[symbol] = check_instrument(symbol, inst, source)
        except StateFieldError as error:
            field = error.path[len(source) :].strip(" .()") or "(instrument)"
            raise InstrumentError(source, field, error.reason) from None
    return table


class _Checker:
    """One pass over one state (kept together: later checks read what earlier ones established)."""

    def __init__(self, state: Mapping[str, Any]) -> None:
        self.state = state
        self.instruments: dict[str, Instrument] = {}
        self.live: dict[int, Order] = {}
        self.accounts: dict[int, Account] = {}
        self.seen_in_place: dict[int, str] = {}  # order id -> where the live order rests (book or pool)
        self.assets: tuple[str, ...] = ()  # the instruments' settlement and base assets

    # ------------------------------------------------------------------ instruments and prices
    def instrument_map(self) -> None:
        table = _dict(self.state["instrument_map"], "instrument_map")
        for symbol, inst in table.items():
            path = f"instrument_map[{_str(symbol, 'instrument_map key')[:40]!r}]"
            self.instruments[symbol] = check_instrument(symbol, inst, path)

    def prices(self) -> None:
        """Mark, index (PriceUpdate) and settlement (Settle) prices in (0, maxPrice]; last prices positive."""
        for name in ("marks", "index_prices", "settled", "last_prices"):
            table = _dict(self.state[name], name)
            for symbol, price in table.items():
                _key(symbol, name, self.instruments)
                high = None if name == "last_prices" else self.instruments[symbol].max_price
                _int(price, f"{name}[{symbol!r}]", 1, high)
            if name == "settled":
                for symbol in table:
                    if self.instruments[symbol].expiry_ms is None:
                        _fail(f"settled[{symbol!r}]", "a perpetual contract never settles")

    def money(self) -> None:
        """Per-asset pools (fund_move, fees, deposits): signed ints by an asset of the instruments (Deposit and
        DepositInsurance refuse any other: UnknownAsset); counters in ``stats``."""
        self.assets = state_assets(self.instruments)
        for name in ("insurance_funds", "fees", "deposits", "stats"):
            for asset, amount in _dict(self.state[name], name).items():
                _str(asset, f"{name} key", None if name == "stats" else self.assets)
                _int(amount, f"{name}[{asset[:40]!r}]", 0 if name == "stats" else None)

    # ------------------------------------------------------------------ orders
    def is_live(self, order: Order) -> bool:
        """``order`` is the very object ``live_orders`` holds under its id."""
        return self.live.get(order.order_id) is order

    def order(self, order: object, path: str) -> Order:
        """An Order's own fields (OrderEntry's checks on entry; the book keeps quantities non-negative)."""
        _record(order, Order, path, slot_names(Order))
        assert isinstance(order, Order)
        _id(order.order_id, f"{path}.order_id", 1)
        _id(order.account, f"{path}.account", LIQUIDATOR)
        _key(order.symbol, f"{path}.symbol", self.instruments)
        _str(order.cl_ord_id, f"{path}.cl_ord_id")
        for name in _ORDER_BOOLS:
            _bool(getattr(order, name), f"{path}.{name}")
        for name in _ORDER_COUNTS:
            _int(getattr(order, name), f"{path}.{name}", 0)
        _int(order.peg_offset, f"{path}.peg_offset")
        _int(order.time_ms, f"{path}.time_ms", 0, MAX_TIME_MS)
        if order.display_qty is not None:
            _int(order.display_qty, f"{path}.display_qty", 0)
        _str(order.ord_type, f"{path}.ord_type", o.ORD_TYPES)
        _str(order.time_in_force, f"{path}.time_in_force", o.TIMES_IN_FORCE)
        _str(order.trigger_source, f"{path}.trigger_source", o.TRIGGER_SOURCES)
        if order.shown_qty > order.leaves_qty:
            _fail(f"{path}.shown_qty", "exceeds leaves_qty")
        if order.whole_position and (order.triggered or not order.close):
            _fail(f"{path}.whole_position", "only an untriggered Close order closes the whole position when it fires")
        if order.level is not None and type(order.level) is not Level:
            _fail(f"{path}.level", "must be a book level or None")
        return order

    def live_orders(self) -> None:
        live = _dict(self.state["live_orders"], "live_orders")
        marks = self.state["marks"]  # a dict keyed by instruments (prices() checked it first)
        next_id = _id(self.state["next_order_id"], "next_order_id", 1)
        for order_id, order in live.items():
            path = f"live_orders[{_int(order_id, 'live_orders key', 1, next_id - 1)}]"
            self.order(order, path)
            if order.order_id != order_id:
                _fail(f"{path}.order_id", "differs from its key")
            if not order.live or order.leaves_qty == 0:
                _fail(path, "a live order must be live with leaves_qty > 0")
            if order.symbol not in marks:  # order entry refuses every order without one (NoMarkPrice; mut16_1)
                _fail(f"{path}.symbol", f"{order.symbol!r} has no mark price: no live order waits or rests there")
            self.order_terms(order, path)
        self.live = live

    def order_terms(self, order: Order, path: str) -> None:
        """A live order's quantities and price as order entry, amends and fills keep them (redteam18_5).

        ``cum_qty + leaves_qty == order_qty`` (a fill moves quantity from leaves to cum, an amend sets
        ``order_qty = cum_qty + leaves``); every quantity whole lots (entry and amend refuse any other,
        InvalidQty, and fills trade whole lots of both sides); a trader's limit price on the tick grid and within
        maxPrice (InvalidPrice / PriceOutOfRange).
        """
        inst = self.instruments[order.symbol]
        if order.cum_qty + order.leaves_qty != order.order_qty:
            _fail(f"{path}.leaves_qty", f"cum_qty {_shown(order.cum_qty)} + leaves_qty {_shown(order.leaves_qty)} is "
                                        f"not order_qty {_shown(order.order_qty)}")
        lot = inst.lot_size
        for name in ("order_qty", "leaves_qty", "cum_qty", "display_qty"):
            qty = getattr(order, name)
            if qty is not None and qty % lot != 0:
                _fail(f"{path}.{name}", f"{_shown(qty)} is not a whole number of lots of {lot}")
        if order.account != LIQUIDATOR and order.price != 0 and (
            order.price % inst.tick_size != 0 or order.price > inst.max_price
        ):
            _fail(f"{path}.price", f"{_shown(order.price)} is not on the tick grid of {inst.tick_size} up to "
                                   f"maxPrice {inst.max_price}")

    def books(self) -> None:
        books = _dict(self.state["books"], "books")
        if sorted(books, key=repr) != sorted(self.instruments, key=repr):
            _fail("books", "must hold one book per instrument (Market)")
        for symbol, book in books.items():
            path = f"books[{symbol!r}]"
            _record(book, Book, path, ("ask_keys", "asks", "bid_keys", "bids", "symbol"))
            if book.symbol != symbol:
                _fail(f"{path}.symbol", "differs from its key")
            for side, keys_name, sign in (("bids", "bid_keys", 1), ("asks", "ask_keys", -1)):
                levels = _dict(getattr(book, side), f"{path}.{side}")
                keys = _list(getattr(book, keys_name), f"{path}.{keys_name}")
                for index, key in enumerate(keys):
                    _int(key, f"{path}.{keys_name}[{index}]")
                for price in levels:
                    _int(price, f"{path}.{side} key", 1, self.instruments[symbol].max_price)
                if keys != sorted(sign * price for price in levels):
                    _fail(f"{path}.{keys_name}", f"must be the sorted keys of {side} (Book.add)")
                for price, level in levels.items():
                    self.level(level, f"{path}.{side}[{price}]", symbol, price, sign == 1)

    def level(self, level: object, path: str, symbol: str, price: int, is_buy: bool) -> None:
        _record(level, Level, path, ("hidden", "live", "price", "shown"))
        assert isinstance(level, Level)
        if _int(level.price, f"{path}.price") != price:
            _fail(f"{path}.price", "differs from its key")
        live = 0
        for queue_name in ("shown", "hidden"):
            queue = getattr(level, queue_name)
            if type(queue) is not deque or queue.maxlen is not None:
                _fail(f"{path}.{queue_name}", "must be an unbounded deque")
            for index, item in enumerate(queue):
                where = f"{path}.{queue_name}[{index}]"
                order = self.order(item, where)
                if (order.display_qty == 0) != (queue_name == "hidden"):
                    _fail(f"{where}.display_qty", f"a {queue_name} queue holds {'no ' if queue_name == 'shown' else ''}"
                          "hidden orders only")
                if not order.live:
                    continue  # a cancelled entry, dropped when it reaches the head (Book.remove)
                live += 1
                if not self.is_live(order):
                    _fail(where, f"live order {order.order_id} is not the one in live_orders")
                if order.symbol != symbol or order.is_buy != is_buy or order.price != price:
                    _fail(where, "symbol, side or price differ from its book level")
                if order.level is not level or not order.triggered:
                    _fail(f"{where}.level", "a resting order must be triggered and point at its level")
                if order.order_id in self.seen_in_place:
                    _fail(where, f"order {order.order_id} rests twice")
                self.seen_in_place[order.order_id] = path
        if _int(level.live, f"{path}.live", 1) != live:
            _fail(f"{path}.live", f"counts {level.live} live orders, the queues hold {live}")

    def conditional(self) -> None:
        pools = _dict(self.state["conditional"], "conditional")
        if sorted(pools, key=repr) != sorted(self.instruments, key=repr):
            _fail("conditional", "must hold one pool per instrument (Triggers)")
        for symbol, pool in pools.items():
            path = f"conditional[{_key(symbol, 'conditional', self.instruments)!r}]"
            for order_id, item in _dict(pool, path).items():
                where = f"{path}[{_id(order_id, f'{path} key', 1)}]"
                order = self.live.get(order_id)
                if order is None or order is not item:
                    _fail(where, "is not the live order of that id")
                if order.symbol != symbol or order.triggered or order.level is not None:
                    _fail(where, "an untriggered order of this contract, outside the book, is expected")
                if order.ord_type not in o.CONDITIONAL_TYPES:
                    _fail(f"{where}.ord_type", "is not a conditional order type")
                if order_id in self.seen_in_place:
                    _fail(where, "is also in a book")
                self.seen_in_place[order_id] = path
        for order_id in self.live:
            if order_id not in self.seen_in_place:
                _fail(f"live_orders[{order_id}]", "rests in no book and waits in no conditional pool")

    # ------------------------------------------------------------------ accounts
    def accounts_(self) -> None:
        accounts = _dict(self.state["accounts"], "accounts")
        for account_id, account in accounts.items():
            path = f"accounts[{_id(account_id, 'accounts key', LIQUIDATOR)}]"
            self.account(account, path, account_id)
        liquidator = accounts.get(LIQUIDATOR)
        if liquidator is None or not liquidator.verified:
            _fail(f"accounts[{LIQUIDATOR}]", "the liquidation engine's account must exist, verified (Ledger)")
        self.accounts = accounts
        for order_id, order in self.live.items():
            owner = accounts.get(order.account)
            if owner is None or owner.orders.get(order_id) is not order:
                _fail(f"live_orders[{order_id}].account", "the order is not in its account's orders")
            resting = self.seen_in_place[order_id].startswith("books")
            if resting and order.account >= 0 and not is_spot(self.instruments[order.symbol]):
                ps = owner.positions.get(order.symbol)
                if ps is None or order_id not in ps.orders:
                    _fail(f"live_orders[{order_id}]", "rests in the book but not in its position's orders (MRG-042)")

    def account(self, account: object, path: str, account_id: int) -> None:
        _record(account, Account, path, slot_names(Account))
        assert isinstance(account, Account)
        if account.account_id != account_id:
            _fail(f"{path}.account_id", "differs from its key")
        _bool(account.verified, f"{path}.verified")
        _int(account.cancel_at_ms, f"{path}.cancel_at_ms", 0)
        for name in ("wallets", "reserved"):
            for asset, amount in _dict(getattr(account, name), f"{path}.{name}").items():
                _str(asset, f"{path}.{name} key", self.assets)
                _int(amount, f"{path}.{name}[{asset[:40]!r}]", 0 if name == "reserved" else None)
        for day, volume in _dict(account.volume_by_day, f"{path}.volume_by_day").items():
            _int(volume, f"{path}.volume_by_day[{_int(day, f'{path}.volume_by_day key', 0)}]", 0)
        for symbol, entry in _dict(account.fee_cache, f"{path}.fee_cache").items():
            where = f"{path}.fee_cache[{_key(symbol, f'{path}.fee_cache', self.instruments)!r}]"
            day, tier = _pair(entry, where)
            _int(day, f"{where}[0]", 0)
            _int(tier, f"{where}[1]", 0, max(0, len(self.instruments[symbol].fee_tiers) - 1))
            # a cached tier is not hashed: one the engine would read (today's or later) must be the volume's, or a
            # crafted snapshot hands an account a better fee under the same state hash (an earlier day's is never read)
            now = self.state["time_ms"]
            if (isinstance(now, int) and day >= now // DAY_MS
                    and tier != compute_fee_tier(self.instruments[symbol], account.volume_by_day, day)):
                _fail(f"{where}[1]", "is not the tier the account's 30-day volume gives for that day (the fee schedule, feeTiers)")
        for order_id, item in _dict(account.orders, f"{path}.orders").items():
            where = f"{path}.orders[{_id(order_id, f'{path}.orders key', 1)}]"
            order = self.live.get(order_id)
            if order is None or order is not item or order.account != account_id:
                _fail(where, "is not a live order of this account")
        for cl_ord_id, order_id in _dict(account.cl_ord_ids, f"{path}.cl_ord_ids").items():
            where = f"{path}.cl_ord_ids[{_str(cl_ord_id, f'{path}.cl_ord_ids key')[:40]!r}]"
            named = self.live.get(_id(order_id, where, 1))
            if named is None or named is not account.orders.get(order_id) or named.cl_ord_id != cl_ord_id:
                _fail(where, "does not name a live order of this account with that clOrdID")
        for symbol, ps in _dict(account.positions, f"{path}.positions").items():
            where = f"{path}.positions[{_key(symbol, f'{path}.positions', self.instruments)!r}]"
            self.position(ps, where, symbol, account)

    def position(self, ps: object, path: str, symbol: str, account: Account) -> None:
        _record(ps, PositionState, path, ("chosen_tier", "cost", "iso_margin", "leverage", "orders", "qty",
                                          "risk_limit", "symbol", "resting_cache", "_pm", "_pm_key"))
        assert isinstance(ps, PositionState)
        inst = self.instruments[symbol]
        if ps.symbol != symbol:
            _fail(f"{path}.symbol", "differs from its key")
        if _int(ps.qty, f"{path}.qty") % inst.lot_size != 0:  # fills trade whole lots (redteam18_5)
            _fail(f"{path}.qty", f"{_shown(ps.qty)} is not a whole number of lots of {inst.lot_size}")
        if ps.qty != 0 and symbol not in self.state["marks"]:  # a position comes of fills, of orders a mark allowed
            _fail(f"{path}.qty", f"a position in {symbol!r}, which has no mark price")
        _int(ps.cost, f"{path}.cost")
        _int(ps.iso_margin, f"{path}.iso_margin")
        _int(ps.leverage, f"{path}.leverage", 0, inst.max_leverage_hundredths)  # SetLeverage's range; 0 = cross
        _int(ps.risk_limit, f"{path}.risk_limit", 1)
        _int(ps.chosen_tier, f"{path}.chosen_tier", 0)
        if ps.risk_limit != compute_tier_limit(inst, ps.chosen_tier):  # the one pair SetRiskLimit makes (RSK-006)
            _fail(f"{path}.risk_limit", f"{_shown(ps.risk_limit)} is not riskLimit + chosen_tier × riskStep "
                                        f"= {_shown(compute_tier_limit(inst, ps.chosen_tier))}")
        for order_id, entry in _dict(ps.orders, f"{path}.orders").items():
            where = f"{path}.orders[{_id(order_id, f'{path}.orders key', 1)}]"
            leaves, price = _pair(entry, where)
            _int(leaves, f"{where}[0]")
            _int(price, f"{where}[1]", 0, inst.max_price)
            order = self.live.get(order_id)
            if order is None or order is not account.orders.get(order_id) or order.symbol != symbol or leaves == 0:
                _fail(where, "is not a resting order of this account in this contract")
            if (leaves, price) != (order.leaves_qty if order.is_buy else -order.leaves_qty, order.price):
                _fail(where, "differs from its order's signed leaves and price (PositionState.put_order)")
        self.caches(ps, path, inst)

    def caches(self, ps: PositionState, path: str, inst: Instrument) -> None:
        """The position's derived caches: absent, or what the rules give (they are outside the state hash)."""
        cache = ps.resting_cache
        if cache is not None:
            where = f"{path}.resting_cache"
            _record(cache, RestingCache, where, slot_names(RestingCache))
            if cache.inst is not inst:
                _fail(f"{where}.inst", "is not the engine's instrument")
            _int(cache.mark, f"{where}.mark", 1, inst.max_price)
            for name in slot_names(RestingCache):
                if name not in ("inst", "mark"):
                    _int(getattr(cache, name), f"{where}.{name}")
            if cache.sums() != order_sums(inst, tuple(ps.orders.values()), cache.mark, 0, 0):
                _fail(where, "does not equal the MRG-042 sums of the position's resting orders")
            for qty, price in ps.orders.values():
                if (qty > 0 and price > cache.highest_buy) or (qty < 0 and price < cache.lowest_sell):
                    _fail(where, "price bounds narrower than the resting orders")
        key = ps._pm_key
        if type(key) is not tuple or len(key) != 5:
            _fail(f"{path}._pm_key", "must be a tuple of five integers")
        for index, item in enumerate(key):
            _int(item, f"{path}._pm_key[{index}]")
        pm = ps._pm
        if pm is None:
            return
        names = tuple(field.name for field in attrs.fields(PositionMargin))
        _record(pm, PositionMargin, f"{path}._pm", names)
        for name in names:
            _int(getattr(pm, name), f"{path}._pm.{name}")
        if key[0] == ps.qty and key[1] == ps.cost and key[3] == ps.leverage:  # the key margin() would match
            _int(key[2], f"{path}._pm_key[2]", 1, inst.max_price)
            try:
                fresh = compute_position_margin(inst, Position(qty=ps.qty, cost=ps.cost), key[2], ps.leverage, key[4])
            except Exception as error:  # inputs the rules refuse: not a cache the engine wrote
                _fail(f"{path}._pm", f"its key is not a margin computation ({type(error).__name__})")
            if fresh != pm:
                _fail(f"{path}._pm", "does not equal MRG-020 for the position it caches")

    # ------------------------------------------------------------------ registry, risk, waterfall
    def registry(self) -> None:
        today = _int(self.state["time_ms"], "time_ms", 0, MAX_TIME_MS) // DAY_MS
        day_orders = _dict(self.state["day_orders"], "day_orders")
        for order_id, day in day_orders.items():
            where = f"day_orders[{_id(order_id, 'day_orders key', 1)}]"
            # placed today or before (OrderEntry.place); a later day would outlive its day (advance_clock expires
            # every one of a past day at once, so any earlier day expires the order as today's does)
            _int(day, where, 0, today)
            order = self.live.get(order_id)
            if order is None or order.time_in_force != o.DAY:
                _fail(where, "is not a live Day order")
        for order_id, order in self.live.items():  # every live Day order expires: it is listed (OrderEntry.place)
            if order.time_in_force == o.DAY and order_id not in day_orders:
                _fail(f"live_orders[{order_id}]", "a live Day order missing from day_orders (it would never expire)")
        heap = _list(self.state["dms_heap"], "dms_heap")
        for index, entry in enumerate(heap):
            deadline, account_id = _pair(entry, f"dms_heap[{index}]")
            _int(deadline, f"dms_heap[{index}][0]", 0)
            _id(account_id, f"dms_heap[{index}][1]", 0)
            if index and heap[(index - 1) // 2] > entry:
                _fail(f"dms_heap[{index}]", "breaks the heap order (heapq)")
        armed = set(heap)
        for account_id, account in sorted(self.accounts.items()):  # an armed switch fires (cancel_all_after)
            if account.cancel_at_ms and (account.cancel_at_ms, account_id) not in armed:
                _fail(f"accounts[{account_id}].cancel_at_ms", "an armed dead man's switch with no dms_heap entry "
                                                              "(it would never fire)")
        reservations = _dict(self.state["spot_reservations"], "spot_reservations")
        for order_id, entry in reservations.items():
            where = f"spot_reservations[{_id(order_id, 'spot_reservations key', 1)}]"
            asset, amount = _pair(entry, where)
            _str(asset, f"{where}[0]")
            _int(amount, f"{where}[1]", 0)
            if order_id not in self.live:
                _fail(where, "reserves for an order that is not live")
        self.reservations()
        for order_id, order in self.live.items():  # OrderRegistry.reserve: a resting spot order's open quantity
            inst = self.instruments[order.symbol]
            if is_spot(inst) and (
                order.reduce_only or order.close or order.ord_type in o.CONDITIONAL_TYPES
                or not self.seen_in_place[order_id].startswith("books")
            ):  # a conditional spot order would trade when it fires, having reserved nothing while it waited
                _fail(f"live_orders[{order_id}]", "a spot order rests in its book, without ReduceOnly/Close or a "
                                                  "trigger (order entry refuses any other: NotSupportedOnSpot)")
            if is_spot(inst) and self.seen_in_place[order_id].startswith("books"):
                need = spot_need(inst, order.is_buy, order.leaves_qty, order.price)
                if reservations.get(order_id) != need:
                    _fail(f"spot_reservations[{order_id}]", f"is not {need!r}, what the resting spot order's open "
                                                            "quantity at its price needs (OrderRegistry.reserve)")
            elif order_id in reservations:
                _fail(f"spot_reservations[{order_id}]", "reserves for an order that is no resting spot order")

    def reservations(self) -> None:
        """Each account's ``reserved`` is the sum, by asset, of its live orders' spot reservations
        (``OrderRegistry.reserve`` keeps the two together; entry's free balance is the wallet less ``reserved``)."""
        expected: dict[int, dict[str, int]] = {}
        for order_id, (asset, amount) in self.state["spot_reservations"].items():
            per_asset = expected.setdefault(self.live[order_id].account, {})
            per_asset[asset] = per_asset.get(asset, 0) + amount
        for account_id, account in sorted(self.accounts.items()):
            held = expected.get(account_id, {})
            for asset in sorted(set(account.reserved) | set(held), key=repr):
                amount = account.reserved.get(asset, 0)
                if amount != held.get(asset, 0):
                    _fail(f"accounts[{account_id}].reserved[{asset[:40]!r}]",
                          f"{_shown(amount)} is not the {_shown(held.get(asset, 0))} its live orders' spot reservations hold")

    def risk(self) -> None:
        for name in ("dirty", "multi"):
            for account_id, value in _dict(self.state[name], name).items():
                where = f"{name}[{_id(account_id, f'{name} key', LIQUIDATOR)}]"
                if value is not None:
                    _fail(where, "must be None (the dict is an ordered set)")
        multi = self.state["multi"]
        for account_id, account in self.accounts.items():  # OrderRegistry.touch: refreshed on every mark update
            if sum(1 for ps in account.positions.values() if ps.qty != 0 and ps.leverage == 0) > 1 and account_id not in multi:
                _fail(f"multi[{account_id}]", "an account with cross positions in several contracts must be listed")
        holders = _dict(self.state["holders"], "holders")
        if sorted(holders, key=repr) != sorted(self.instruments, key=repr):
            _fail("holders", "must hold one table per instrument (Ledger)")
        # the fills keep it: exactly the accounts with a position in the contract (funding, ADL, settlement read it)
        holding: dict[str, list[int]] = {symbol: [] for symbol in holders}
        for account_id, account in sorted(self.accounts.items()):
            for symbol, ps in account.positions.items():
                if ps.qty != 0:
                    holding[symbol].append(account_id)
        for symbol, members in holders.items():
            path = f"holders[{symbol!r}]"
            for account_id, value in _dict(members, path).items():
                where = f"{path}[{_id(account_id, f'{path} key', LIQUIDATOR)}]"
                if value is not None or account_id not in self.accounts:
                    _fail(where, "must be None, for an account of this engine")
            if len(holding[symbol]) != len(members) or not all(account_id in members for account_id in holding[symbol]):
                extra = sorted(set(members) ^ set(holding[symbol]))[0]
                _fail(f"{path}[{extra}]", "holders must list exactly the accounts with a position")
        liq = _record(self.state["liq"], LiqIndex, "liq", ("entries", "longs", "shorts"))
        expected: dict[tuple[bool, str], list[tuple[int, int]]] = {}
        for key, entry in _dict(liq.entries, "liq.entries").items():
            account_id, symbol = _pair(key, "liq.entries key")
            _id(account_id, "liq.entries key[0]", LIQUIDATOR)
            _key(symbol, "liq.entries", self.instruments)
            is_long, price = _pair(entry, f"liq.entries[{key!r}]")
            _bool(is_long, f"liq.entries[{key!r}][0]")
            _int(price, f"liq.entries[{key!r}][1]", 0)
            expected.setdefault((is_long, symbol), []).append((price, account_id))
        for name, is_long in (("longs", True), ("shorts", False)):
            for symbol, table in _dict(getattr(liq, name), f"liq.{name}").items():
                path = f"liq.{name}[{_key(symbol, f'liq.{name}', self.instruments)!r}]"
                for index, entry in enumerate(_list(table, path)):
                    _int(_pair(entry, f"{path}[{index}]")[0], f"{path}[{index}][0]")
                    _int(entry[1], f"{path}[{index}][1]")
                if table != sorted(expected.pop((is_long, symbol), [])):
                    _fail(path, "does not list exactly its entries, sorted (LiqIndex.set)")
        if expected:
            _fail("liq.entries", f"entries {sorted(expected)[0]} missing from their sorted list")

    def waterfall(self) -> None:
        _id(self.state["next_pending_id"], "next_pending_id", 0)
        seen: set[int] = set()
        for index, pending in enumerate(_list(self.state["pending"], "pending")):
            path = f"pending[{index}]"
            _record(pending, Pending, path, slot_names(Pending))
            if _id(pending.pending_id, f"{path}.pending_id", 0) in seen:
                _fail(f"{path}.pending_id", "is not unique")
            seen.add(pending.pending_id)
            if _id(pending.account, f"{path}.account", 0) not in self.accounts:
                _fail(f"{path}.account", "is not an account of this engine")
            lot_size = self.instruments[_key(pending.symbol, f"{path}.symbol", self.instruments)].lot_size
            if pending.symbol not in self.state["marks"]:  # taken over from a position, which a mark allowed (review17_1)
                _fail(f"{path}.symbol", f"a held close-out in {pending.symbol!r}, which has no mark price")
            if pending.symbol in self.state["settled"]:  # Settle posts and drops every close-out of its contract
                _fail(f"{path}.symbol", f"a held close-out in {pending.symbol!r}, which is settled")
            if _int(pending.qty, f"{path}.qty") % lot_size != 0:  # a take-over holds a position's whole lots
                _fail(f"{path}.qty", f"{_shown(pending.qty)} is not a whole number of lots of {lot_size}")
            _int(pending.cost, f"{path}.cost")
            _int(pending.takeover_price, f"{path}.takeover_price", 0)
            _int(pending.age, f"{path}.age", 0)
        _int(self.state["max_liquidations_per_update"], "max_liquidations_per_update", 1)
        _str(self.state["adl_policy_name"], "adl_policy_name", tuple(POLICIES))

    def clock(self) -> None:
        """The clock, and FND-021's paid instants: a perpetual's (Prices.funding refuses any other), never after it."""
        _int(self.state["seq"], "seq", 0)
        now = _int(self.state["time_ms"], "time_ms", 0, MAX_TIME_MS)
        _int(self.state["max_clock_step_ms"], "max_clock_step_ms", 1)
        for symbol, instant in _dict(self.state["funded"], "funded").items():
            inst = self.instruments[_key(symbol, "funded", self.instruments)]
            if inst.expiry_ms is not None or is_spot(inst):
                _fail(f"funded[{symbol!r}]", "only a perpetual contract funds")
            _int(instant, f"funded[{symbol!r}]", 0, now)  # a FundingTick applied moved the clock to its instant

    def invariants(self) -> None:
        """The registry's state-only invariants on the checked state (:mod:`engine.core.state_invariants`)."""
        problem = first_state_invariant_problem(self.state, self.instruments, self.accounts, self.assets)
        if problem is not None:
            _fail(*problem)


def check_engine_state(state: object) -> None:
    """Refuse (:class:`CodecError` naming the field) a decoded engine state any field of which is ill-typed,
    out of range or inconsistent with the others; return None for a state the engine could have made."""
    try:
        _check_fields(state)
    except StateFieldError as error:
        raise CodecError(f"engine state field {error.path}: {error.reason}", 0) from None


def _check_fields(state: object) -> None:
    if type(state) is not dict:
        _fail("(root)", "must be a dict of state fields")
    missing = [name for name in STATE_FIELDS if name not in state]
    unknown = sorted(str(name)[:40] for name in state if name not in STATE_FIELDS)
    if missing or unknown:
        _fail("(root)", f"fields missing {missing[:5]}, unknown {unknown[:5]}")
    checker = _Checker(state)
    checker.instrument_map()
    checker.prices()
    checker.money()
    checker.live_orders()
    checker.books()
    checker.conditional()
    checker.accounts_()
    checker.registry()
    checker.risk()
    checker.waterfall()
    checker.clock()
    checker.invariants()


__all__ = [
    "STATE_FIELDS", "StateFieldError", "check_engine_instruments", "check_engine_state", "check_instrument",
]
