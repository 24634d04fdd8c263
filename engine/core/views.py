"""Read-only views of the whole exchange: the ``rules.invariants.ExchangeView`` answers, the step record, the state hash.

:class:`Views` reads every component and changes nothing.  The sequencer
(:class:`engine.core.exchange.Engine`) answers its public read API through it,
so the invariants, the simulator and the tests see one exchange.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from perpspec.engine.core.events import Event, RuleEvent
from perpspec.engine.core.ledger import LIQUIDATOR, Ledger
from perpspec.engine.core.market import Market
from perpspec.engine.core.orders import Order
from perpspec.engine.core.registry import OrderRegistry
from perpspec.engine.core.risk import Risk
from perpspec.engine.core.stream import EventStream
from perpspec.engine.core.triggers import Triggers
from perpspec.engine.core.waterfall import Waterfall
from perpspec.rules.instrument import Instrument
from perpspec.rules.margin import MarginSetting, RestingOrder
from perpspec.rules.position import Position


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
            waterfall_complete=self.stream.waterfall_complete,
            funding=tuple(self.stream.funding_postings),
            waterfall_events=tuple(e.record for e in events if isinstance(e, RuleEvent)),
            flat_before=self.stream.flat_before,
            reduce_only_fills=tuple(self.stream.reduce_only_fills),
            liquidating_accounts=tuple(sorted({pending.account for pending in self.waterfall.pending})),
        )

    def canonical(self) -> tuple[object, ...]:
        """The full state as nested tuples of ints and strings, in a fixed order."""
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
                            x.time_in_force, x.cl_ord_id) for _, x in sorted(pool.items())))
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
        )

    def state_hash(self) -> str:
        """SHA-256 of :meth:`canonical` (independent of PYTHONHASHSEED and dict insertion order)."""
        return hashlib.sha256(repr(self.canonical()).encode()).hexdigest()
