"""The event stream: the engine's logical clock, its event counter, the current command's events and step record.

The sequencer (:class:`engine.core.exchange.Engine`) owns one :class:`EventStream`
and lends it to every component: a component emits an event by calling
``emit_*`` here, which numbers it (``seq``) and stamps it with the clock
(``time_ms``).  ``seq`` and ``time_ms`` are engine state (snapshotted and
hashed); the rest is the record of one command, reset by :meth:`begin`.
"""

from __future__ import annotations

from typing import Any, Final, cast

from perpspec.engine.core import orders as o
from perpspec.engine.core.events import Event, Execution, RuleEvent, Transaction
from perpspec.engine.core.orders import Order

# Times: milliseconds since the Unix epoch, bounded to [0, MAX_TIME_MS]; one accepted command moves the
# clock forward by at most ``max_clock_step_ms`` (the first move off 0 sets the epoch)
MAX_TIME_MS: Final = 253_402_300_799_999  # = 9999-12-31T23:59:59.999Z
MAX_CLOCK_STEP_MS: Final = 366 * 86_400_000  # = 366 days, the default of ``Engine(max_clock_step_ms=...)``
# compiled, names imported from an interpreted module and tuple.__new__ are a dict lookup and a method lookup per
# read; Final makes them statics (the same objects)
_NEW: Final = tuple.__new__
_EXECUTION: Final = Execution
_TRANSACTION: Final = Transaction


class EventStream:
    """Clock, event counter, the events of the command being processed and what it did (for invariants)."""

    def __init__(self) -> None:
        self.seq = 0  # the last event's number
        self.time_ms = 0  # the logical clock (the last accepted command's time)
        self.max_clock_step_ms = MAX_CLOCK_STEP_MS  # how far one command may move the clock (engine state)
        self.event_time = 0  # the time a Rejected event carries: the command's, once it passed the time checks
        self.out: list[Event] = []  # the current command's events
        # the step record (rules.invariants.StepInfo), not state
        self.orders: dict[tuple[int, str], None] = {}  # (account, asset) of each new/amended order that needed margin
        self.withdrawals: dict[tuple[int, str], None] = {}  # (account, asset)
        # INV-SPOT-SPEND: (account, asset it spends) -> id of its spot order accepted (new or amended) in this command
        self.spot_orders: dict[tuple[int, str], int] = {}
        self.spot_spends: dict[tuple[int, str], None] = {}  # (account, asset) a spot fill LIQ-055 allowed spent
        self.reduce_only_fills: list[tuple[int, str, int, int]] = []  # INV-REDUCE-ONLY over fills, this command
        self.waterfall_complete = True
        self.funding_postings: list[Any] = []
        self.flat_before: tuple[tuple[int, str, int], ...] = ()
        self.flat_at_waterfall = False  # flat_before was taken when the command's first waterfall started
        # the accounts (not the liquidation engine's) of the command's Trade executions no take-over has judged yet
        # (Prices.take_over_filled; emptied where a waterfall's rounds judged its own fills): recorded by emit_exec,
        # which makes every Trade execution, so the take-over does not read the command's events back
        self.filled: dict[int, None] = {}
        # the close-outs a take-over after trades left open in this command: not worked again by its later take-overs
        # (redteam30_1: each stop a close-out print fired started a take-over that re-worked every held close-out)
        self.take_over_stuck: set[int] = set()
        self.track_steps = False  # record what step_info() needs for transition invariants (tests)
        self.replaying = False  # the sequencer is replaying commands after a rollback

    def note_margin_order(self, account: int, asset: str) -> None:
        """An order of ``account`` that needed margin in ``asset`` was accepted (new or amended) in this command."""
        self.orders[(account, asset)] = None  # INV-MARGIN-ON-ENTRY

    def begin(self, out: list[Event]) -> None:
        """A new command: its events go to ``out``; the step record starts empty."""
        self.out = out
        self.filled.clear()
        if self.take_over_stuck:
            self.take_over_stuck = set()
        # the last command's records, replaced only when it filled them (an empty one is already what a new one is;
        # nothing outside holds them: Views.step_info copies)
        if self.orders:
            self.orders = {}
        if self.withdrawals:
            self.withdrawals = {}
        if self.spot_orders:
            self.spot_orders = {}
        if self.spot_spends:
            self.spot_spends = {}
        if self.reduce_only_fills:
            self.reduce_only_fills = []
        self.waterfall_complete = False  # True only once a mark update's (or funding's) waterfall completed
        if self.funding_postings:
            self.funding_postings = []

    def emit_exec(
        self,
        exec_type: str,
        order: Order,
        *,
        last_qty: int = 0,
        last_px: int = 0,
        comm: int = 0,
        liquidity: str = "",
        text: str = "",
        leaves: int | None = None,
        cum: int | None = None,
        status: str | None = None,
    ) -> None:
        """An ``Execution`` of ``order`` (its status derived from ``leaves``/``cum`` unless given)."""
        # compiled: each int of the event is an int object.  One the caller passed as an object (``leaves``, ``cum``)
        # is stored as it is, and one equal to another of this event (an order's open quantity still its quantity,
        # a maker's fill price its limit, a first fill's quantity the cumulative one) is that object again: equal
        # ints, the same event, with fewer int objects made and freed
        order_qty = order.order_qty
        order_price = order.price
        qty_object: Any = order_qty
        price_object: Any = order_price
        leaves_object: Any = leaves
        if leaves_object is None:
            leaves_qty = order.leaves_qty
            leaves_object = qty_object if leaves_qty == order_qty else leaves_qty
        else:
            leaves_qty = cast(int, leaves_object)
        cum_object: Any = cum
        if cum_object is None:
            cum_qty = order.cum_qty
            cum_object = cum_qty
        else:
            cum_qty = cast(int, cum_object)
        if status is None:
            if exec_type == o.EXEC_CANCELED:
                status = o.CANCELED
            elif leaves_qty == 0 and cum_qty > 0:
                status = o.FILLED
            elif cum_qty > 0:
                status = o.PARTIALLY_FILLED
            else:
                status = o.NEW
        last_qty_object: Any = cum_object if last_qty == cum_qty else last_qty
        last_px_object: Any = price_object if last_px == order_price else last_px
        if exec_type == o.EXEC_TRADE and order.account >= 0:
            self.filled[order.account] = None
        self.seq += 1
        # tuple.__new__ is what the NamedTuple's own __new__ calls, without its Python-level frame (the same tuple)
        self.out.append(
            _NEW(_EXECUTION, (
                self.seq,
                self.time_ms,
                exec_type,
                order.account,
                order.symbol,
                order.order_id,
                order.cl_ord_id,
                o.BUY if order.is_buy else o.SELL,
                order.ord_type,
                qty_object,
                price_object,
                order.stop_px,
                last_qty_object,
                last_px_object,
                leaves_object,
                cum_object,
                status,
                comm,
                liquidity,
                text,
            ))
        )

    def emit_tx(self, kind: str, account: int, asset: str, amount: int, symbol: str = "", text: str = "") -> None:
        """A ``Transaction`` (deposit, withdrawal, funding, margin transfer)."""
        self.seq += 1
        self.out.append(_NEW(_TRANSACTION, (self.seq, self.time_ms, kind, account, asset, amount, symbol, text)))

    def emit_rule(self, record: Any, account: int, symbol: str) -> None:
        """A rule record (``rules.events``: liquidation, insurance, ADL…) as a ``RuleEvent``."""
        self.seq += 1
        self.out.append(
            RuleEvent(self.seq, self.time_ms, record.rule_id, type(record).__name__, account, symbol, record)
        )


