"""Read-only views of the whole exchange: the ``rules.invariants.ExchangeView`` answers, the step record, the state hash.

:class:`Views` reads every component and changes nothing.  The sequencer
(:class:`engine.core.exchange.Engine`) answers its public read API through it,
so the invariants, the simulator and the tests see one exchange.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import attrs

from perpspec.engine.core import orders as o
from perpspec.engine.core.accounts import PositionState
from perpspec.engine.core.events import Event, RuleEvent
from perpspec.engine.core.ledger import LIQUIDATOR, Ledger
from perpspec.engine.core.market import Market
from perpspec.engine.core.orders import Order
from perpspec.engine.core.registry import OrderRegistry
from perpspec.engine.core.risk import Risk
from perpspec.engine.core.stream import EventStream
from perpspec.engine.core.triggers import IF_TOUCHED, Triggers
from perpspec.engine.core.waterfall import Waterfall
from perpspec.rules.instrument import Instrument
from perpspec.rules.margin import MarginSetting
from perpspec.rules.order_margin import RestingOrder
from perpspec.rules.position import Position
from perpspec.rules.triggers import TriggerPrices, UntriggeredOrder

NOTHING: Mapping[str, Position] = MappingProxyType({})  # no position (read-only: shared between accounts)


def untriggered_record(order: Order) -> UntriggeredOrder:
    """An untriggered conditional order as INV-TRIGGERS-DUE-FIRED reads it."""
    return UntriggeredOrder(
        order_id=order.order_id,
        account=order.account,
        is_buy=order.is_buy,
        if_touched=order.ord_type in IF_TOUCHED,
        trailing=order.ord_type == o.PEGGED,
        trigger_source=order.trigger_source,
        last_within_mark=order.last_within_mark,
        stop_px=order.stop_px,
        peg_offset=order.peg_offset,
    )


class PooledReads:
    """What :meth:`Views.pooled_listing` read of every account: positions, wallets, orders (by account id)."""

    def __init__(self) -> None:
        self.positions: dict[int, Mapping[str, Position]] = {}
        self.wallets: dict[int, dict[str, int]] = {}
        self.opened: dict[int, list[RestingOrder]] = {}
        self.reducing: dict[int, list[RestingOrder]] = {}


def _below_zero(wallets: dict[str, int]) -> bool:
    for balance in wallets.values():  # noqa: SIM110 - a loop: native code when compiled (any() takes a generator)
        if balance < 0:
            return True
    return False


class Views:
    """What the invariants and the reports read."""

    def __init__(
        self,
        market: Market,
        ledger: Ledger,
        risk: Risk,
        triggers: Triggers,
        registry: OrderRegistry,
        waterfall: Waterfall,
        stream: EventStream,
    ) -> None:
        self.market = market
        self.ledger = ledger
        self.risk = risk
        self.triggers = triggers
        self.registry = registry
        self.waterfall = waterfall
        self.stream = stream
        # (account, symbol) -> the Position last handed out: an unchanged position is the same frozen value,
        # built once instead of on every read (a derived cache, never state)
        self.shown: dict[tuple[int, str], Position] = {}
        # derived caches of pooled_listing, of the same kind: account -> (its one position record, qty, cost, the
        # mapping shown for them), reused while they are unchanged; order id -> the RestingOrder last shown for it
        self.held_shown: dict[int, tuple[PositionState, int, int, Mapping[str, Position]]] = {}
        self.resting_shown: dict[int, RestingOrder] = {}

    def account_ids(self) -> Sequence[int]:
        """Every account id (the liquidation engine's -1 included), sorted."""
        return sorted(self.ledger.accounts)

    def instruments(self) -> Mapping[str, Instrument]:
        """Instruments by symbol."""
        return self.market.instrument_map

    def wallet(self, account_id: int, asset: str) -> int:
        """walletBalance."""
        return self.ledger.accounts[account_id].wallet(asset)

    def positions(self, account_id: int) -> Mapping[str, Position]:
        """Non-flat positions by symbol (the liquidation engine's are its pending close-outs)."""
        if account_id == LIQUIDATOR:
            merged: dict[str, Position] = {}
            for p in self.waterfall.pending:
                old = merged.get(p.symbol, Position())
                merged[p.symbol] = Position(qty=old.qty + p.qty, cost=old.cost + p.cost)
            return merged
        held = self.ledger.accounts[account_id].positions
        out: dict[str, Position] = {}
        shown = self.shown
        for symbol, state in sorted(held.items()) if len(held) > 1 else held.items():
            if state.qty != 0:
                key = (account_id, symbol)
                known = shown.get(key)
                if known is None or known.qty != state.qty or known.cost != state.cost:
                    known = shown[key] = Position(qty=state.qty, cost=state.cost)
                out[symbol] = known
        return out

    def insurance(self, asset: str) -> int:
        """Insurance fund balance."""
        return self.ledger.insurance_funds.get(asset, 0)

    def fee_pool(self, asset: str) -> int:
        """Commission collected (net of rebates)."""
        return self.ledger.fees.get(asset, 0)

    def funding_pool(self, asset: str) -> int:
        """Funding in flight: none (payments settle within the funding command)."""
        del asset
        return 0

    def net_deposits(self, asset: str) -> int:
        """Deposits − withdrawals (insurance deposits included)."""
        return self.ledger.deposits.get(asset, 0)

    def mark_price(self, symbol: str) -> int:
        """Current mark price (0 before the first update)."""
        return self.market.marks.get(symbol, 0)

    def open_orders(self, account_id: int) -> Sequence[RestingOrder]:
        """Resting orders in the books (untriggered stops excluded)."""
        registry = self.registry
        return [self._resting(registry.live_orders[i]) for i in sorted(self.ledger.accounts[account_id].orders)
                if self._is_open(registry.live_orders[i])]

    def reduce_only_orders(self, account_id: int) -> Sequence[RestingOrder]:
        """Live ReduceOnly orders that can trade (resting or triggered), for INV-REDUCE-ONLY."""
        registry = self.registry
        return [self._resting(registry.live_orders[i]) for i in sorted(self.ledger.accounts[account_id].orders)
                if self._is_reduce_only(registry.live_orders[i])]

    def untriggered_orders(self, symbol: str) -> Sequence[UntriggeredOrder]:
        """The conditional orders of ``symbol`` waiting for their trigger, in order-id order (INV-TRIGGERS-DUE-FIRED)."""
        pool = self.triggers.conditional.get(symbol)
        if not pool:
            return []
        return [untriggered_record(order) for _, order in sorted(pool.items())]

    def trigger_prices(self, symbol: str) -> TriggerPrices:
        """The mark, last and index prices of ``symbol`` (0: none yet), as the triggers read them."""
        market = self.market
        return TriggerPrices(
            mark_price=market.marks.get(symbol, 0),
            last_price=market.last_prices.get(symbol, 0),
            index_price=market.index_prices.get(symbol, 0),
        )

    def orders_by_account(self) -> tuple[dict[int, list[RestingOrder]], dict[int, list[RestingOrder]]]:
        """:meth:`open_orders` and :meth:`reduce_only_orders` of every account holding any order, in one pass.

        The same lists (an account with no order has none and is left out): for a
        reader of the whole state (an invariant check) that would otherwise ask
        every account, most of which hold no order.
        """
        opened: dict[int, list[RestingOrder]] = {}
        reducing: dict[int, list[RestingOrder]] = {}
        live = self.registry.live_orders
        for account_id, account in self.ledger.accounts.items():
            if account.orders:
                orders = [live[i] for i in sorted(account.orders)]
                opened[account_id] = [self._resting(order) for order in orders if self._is_open(order)]
                reducing[account_id] = [self._resting(order) for order in orders if self._is_reduce_only(order)]
        return opened, reducing

    def pooled_listing(self, pooling: bool) -> tuple[list[int], dict[str, int], PooledReads]:
        """Every account read once, as a check of the whole invariant registry reads them (``PooledView``).

        Returns ``(listed, pooled, reads)``.  ``reads`` holds :meth:`orders_by_account`'s two
        maps, :meth:`positions` of every trader account (id ≥ 0) and each trader account's
        wallets (the account's own mapping, not a copy).  An account is *dormant* — left out
        of ``listed``, its wallets summed per asset into ``pooled`` — when ``pooling`` is on
        and it is a trader account holding no position, no order of any kind and no wallet
        below zero; every other account (the liquidation engine's included) is ``listed``, in
        id order.  One pass over the state as it is, no change tracking (compiled with the
        engine, where this pass costs a fraction of the interpreted one); engine/simulation/
        engine_port.py argues, invariant by invariant, that the registry answers the same on it.
        """
        accounts = self.ledger.accounts
        live = self.registry.live_orders
        last = self.held_shown
        shown_before = self.resting_shown
        shown: dict[int, RestingOrder] = {}  # the live orders' only (the cache does not grow with the run)
        listed: list[int] = []
        pooled: dict[str, int] = {}
        reads = PooledReads()
        positions, wallets_of, opened, reducing = reads.positions, reads.wallets, reads.opened, reads.reducing
        for account_id in sorted(accounts):
            account = accounts[account_id]
            orders = account.orders
            if orders:  # as orders_by_account
                mine: list[RestingOrder] = []
                theirs: list[RestingOrder] = []
                for order_id in sorted(orders):
                    order = live[order_id]
                    signed = order.leaves_qty if order.is_buy else -order.leaves_qty
                    resting = shown_before.get(order_id)  # as _resting; built again when the order changed
                    if resting is None or resting.qty != signed or resting.price != order.price:
                        resting = RestingOrder(symbol=order.symbol, qty=signed, price=order.price)
                    shown[order_id] = resting
                    if self._is_open(order):
                        mine.append(resting)
                    if self._is_reduce_only(order):
                        theirs.append(resting)
                opened[account_id] = mine
                reducing[account_id] = theirs
            if account_id < 0:
                listed.append(account_id)  # the liquidation engine: its positions are its close-outs (read on demand)
                continue
            held = account.positions
            out: Mapping[str, Position] = NOTHING  # as positions
            if len(held) == 1:
                for symbol, state in held.items():
                    qty = state.qty
                    if qty != 0:  # the mapping shown last time when this position record has not changed
                        before = last.get(account_id)
                        if before is not None and before[0] is state and before[1] == qty and before[2] == state.cost:
                            out = before[3]
                        else:
                            out = {symbol: Position(qty=qty, cost=state.cost)}
                            last[account_id] = (state, qty, state.cost, out)
            elif held:
                out = self.positions(account_id)
            positions[account_id] = out
            wallets = account.wallets
            wallets_of[account_id] = wallets
            if out or orders or not pooling or _below_zero(wallets):
                listed.append(account_id)
                continue
            for asset, balance in wallets.items():
                pooled[asset] = pooled.get(asset, 0) + balance
        self.resting_shown = shown
        return listed, pooled, reads

    def _is_open(self, order: Order) -> bool:
        return order.live and order.level is not None and order.order_id not in self.registry.spot_reservations

    @staticmethod
    def _is_reduce_only(order: Order) -> bool:
        return order.reduce_only and order.triggered

    @staticmethod
    def _resting(order: Order) -> RestingOrder:
        return RestingOrder(
            symbol=order.symbol, qty=order.leaves_qty if order.is_buy else -order.leaves_qty, price=order.price
        )

    def margin_setting(self, account_id: int, symbol: str) -> MarginSetting:
        """Leverage and extra isolated margin (``posCross``)."""
        ps = self.ledger.accounts[account_id].positions.get(symbol)
        if ps is None:
            return MarginSetting()
        return self.risk.margin_setting(self.market.instrument_map[symbol], ps)


    def step_info(self, events: Sequence[Event] = ()) -> Any:
        """What the last command did (for transition invariants): a ``rules.invariants.StepInfo``.

        ``events`` are that command's events (the waterfall's records are taken from them).
        """
        from perpspec.rules.invariants import StepInfo

        return StepInfo(
            orders=tuple(sorted(self.stream.orders)),
            withdrawals=tuple(sorted(self.stream.withdrawals)),
            spot_orders=tuple(
                (account_id, asset, self._reserved_by_others(account_id, asset, order_id))
                for (account_id, asset), order_id in sorted(self.stream.spot_orders.items())
            ),
            spot_spends=tuple(sorted(self.stream.spot_spends)),
            waterfall_complete=self.stream.waterfall_complete,
            funding=tuple(self.stream.funding_postings),
            waterfall_events=tuple(e.record for e in events if isinstance(e, RuleEvent)),
            flat_before=self.stream.flat_before,
            reduce_only_fills=tuple(self.stream.reduce_only_fills),
            liquidating_accounts=tuple(sorted({pending.account for pending in self.waterfall.pending})),
        )

    def _reserved_by_others(self, account_id: int, asset: str, order_id: int) -> int:
        """What an account's live spot orders other than ``order_id`` reserve in ``asset`` (INV-SPOT-SPEND)."""
        own = self.registry.spot_reservations.get(order_id)
        held = own[1] if own is not None and own[0] == asset else 0
        return self.ledger.accounts[account_id].reserved.get(asset, 0) - held

    def canonical(self, *, funded: bool = True) -> tuple[object, ...]:
        """The full state as nested tuples of ints and strings, in a fixed order (``funded=False``: without FND-021's
        paid instants, as an engine from before them hashed its state)."""
        books = []
        for symbol in sorted(self.market.books):
            book = self.market.books[symbol]
            books.append(
                (
                    symbol,
                    tuple(
                        (x.order_id, x.account, x.is_buy, x.price, x.order_qty, x.leaves_qty, x.shown_qty,
                         x.display_qty, x.cum_qty, x.cum_value, x.ord_type, x.time_in_force, x.cl_ord_id,
                         x.post_only, x.reduce_only, x.close)
                        for x in book.orders_in_priority()
                    ),
                )
            )
        conditional = tuple(
            (symbol, tuple((x.order_id, x.account, x.is_buy, x.ord_type, x.order_qty, x.leaves_qty, x.price,
                            x.stop_px, x.peg_offset, x.trigger_source, x.last_within_mark, x.reduce_only,
                            x.time_in_force, x.cl_ord_id)
                           # what a resting order's row carries beyond the above (Close, ORD-012's whole position,
                           # iceberg/hidden, post-only), only when set: a Close stop hashed as a ReduceOnly one
                           # (review9_1); the hash of every state without such a stop is unchanged
                           + ((x.close, x.whole_position, x.display_qty, x.post_only)
                              if x.close or x.display_qty is not None or x.post_only else ())
                           for _, x in sorted(pool.items())))
            for symbol, pool in sorted(self.triggers.conditional.items())
        )
        return (
            tuple(sorted((s, attrs.astuple(i)) for s, i in self.market.instrument_map.items())),
            tuple(books),
            conditional,
            tuple(sorted(self.market.marks.items())),
            tuple(sorted(self.market.index_prices.items())),
            tuple(sorted(self.market.last_prices.items())),
            tuple(self.ledger.accounts[a].canonical() for a in sorted(self.ledger.accounts)),
            tuple(sorted(self.ledger.insurance_funds.items())),
            tuple(sorted(self.ledger.fees.items())),
            tuple(sorted(self.ledger.deposits.items())),
            tuple(sorted(self.registry.day_orders.items())),
            tuple(sorted(self.registry.dms_heap)),
            tuple(p.canonical() for p in self.waterfall.pending),
            self.risk.liq.canonical(),
            (self.registry.next_order_id, self.waterfall.next_pending_id, self.stream.seq, self.stream.time_ms),
            (self.waterfall.max_liquidations_per_update, self.waterfall.adl_policy_name),
            # only once a contract settled: the hash of every earlier state is unchanged
            *((tuple(sorted(self.market.settled.items())),) if self.market.settled else ()),
            # only once a funding instant is paid (FND-021), tagged (a settled table has the same shape)
            *((("funded", tuple(sorted(self.market.funded.items()))),) if funded and self.market.funded else ()),
        )

    def state_hash(self, *, funded: bool = True) -> str:
        """SHA-256 of :meth:`canonical` (independent of PYTHONHASHSEED and dict insertion order)."""
        return canonical_hash(self.canonical(funded=funded))


class _Hex:
    """An int too long for ``repr`` (Python's 4,300-digit limit), shown in hex: no decimal int reads ``0x``."""

    __slots__ = ("value",)

    def __init__(self, value: int) -> None:
        self.value = value

    def __repr__(self) -> str:
        return hex(self.value)


def _spelt(value: object) -> object:
    """``value`` (a canonical tuple tree) with every int of more than 4,000 digits' size as a :class:`_Hex`."""
    if type(value) is tuple or type(value) is list:
        items = [_spelt(item) for item in value]
        return tuple(items) if type(value) is tuple else items
    if type(value) is int and value.bit_length() > 13_000:
        return _Hex(value)
    return value


def canonical_hash(canonical: tuple[object, ...]) -> str:
    """SHA-256 of ``repr(canonical)``: the state hash.

    No engine state holds an int ``repr`` refuses (the validation layer bounds every command's ints to 64 bits and
    the state check every state's: redteam18_1); were one there, it is spelt in hex rather than raising, so a
    snapshot or a recovery never fails on it.  Every other state's hash is unchanged (the fallback runs only where
    ``repr`` raised).
    """
    try:
        text = repr(canonical)
    except ValueError:
        text = repr(_spelt(canonical))
    return hashlib.sha256(text.encode()).hexdigest()
