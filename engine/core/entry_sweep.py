"""The sweep of a plain limit order that crosses the book, as one function over flat state (issue 14's lean sweep).

:func:`enter_crossing` is the tail of :meth:`engine.core.entry.OrderEntry._enter`
for an accepted plain limit order (``entry_plain.place_plain``'s checks: no
instructions, GoodTillCancel, a trader's cross position in a contract with
proved kernels) that crosses the book: the New execution, live, the sweep, then
filled (forgotten), halted by LIQ-044 (cancelled) or resting.

:func:`sweep_cross` is :meth:`engine.core.fills.Fills.sweep` for such an
order: the book's matching with the LIQ-044/LIQ-053 guard
(:meth:`Fills._kernel_guard`) and the application of every fill
(:meth:`Fills._apply_fills`).  It makes the same rule calls — the ``fill_*``
kernels for both sides of each fill, the ``trade`` kernel (ACC-004) per
fill, ACC-006 (:meth:`Fills.apply_effect`) for an isolated maker, the flat
bookkeeping of a cross side otherwise, the position events — and the same
changes in the same order, except that it keeps the taker's pool in the
guard's attributes (one cross position; its pool and fee rate come from the
entry checks, which read the same state), reuses the guard's maker fee rates
(ACC-007's, one per maker order, decided when the sweep first reaches it) when applying, and adds each account's fee-tier volume once per sweep (the
sum of the fills' volumes, each rounded as before; nothing reads today's
volume during a sweep).  Anything unusual (a spot pair, no kernels, the
liquidation engine, a ReduceOnly taker, an isolated taker) is not offered to
it; makers of every kind (isolated, ReduceOnly, icebergs, hidden, the
taker's own) are handled as the general path handles them.
``tests/test_entry_sweep.py`` runs both paths on generated command streams
and compares every event and the state hash.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from perpspec.engine.core import orders as o
from perpspec.engine.core.accounts import MINOR_PER_UNIT, Account
from perpspec.engine.core.book import Fill
from perpspec.engine.core.isolated_fill import available_before_fill
from perpspec.engine.core.ledger import LIQUIDATOR, peek_position
from perpspec.engine.core.liquidation_guard import closes_exactly, is_cross_close_kept
from perpspec.engine.core.orders import Order
from perpspec.engine.kernels import dispatch
from perpspec.rules.fee_tier import compute_usd_volume
from perpspec.rules.instrument import Instrument
from perpspec.rules.margin import CROSS as MARGIN_CROSS
from perpspec.rules.position import Position
from perpspec.rules.solvency import (
    FILL_CANCEL_TEXT,
    compute_cross_draw,
    is_cross_pool_kept,
    is_free_wallet_kept,
)

if TYPE_CHECKING:
    from perpspec.engine.core.entry import OrderEntry
    from perpspec.engine.core.fills import Fills

CROSS: Final = MARGIN_CROSS  # rules.margin.CROSS as a compiled constant (an imported name is a module-dict lookup per read)


def enter_crossing(
    entry: OrderEntry, account: Account, inst: Instrument, order: Order, index: int, pool: tuple[int, ...], fee: int
) -> None:
    """``_enter`` of an accepted plain limit order that crosses the book.

    ``index``: its kernels' branch; ``pool`` and ``fee``: the account's pool (``Risk.pool_tuple``) and taker fee rate
    as the checks read them (nothing they depend on changes before the sweep).
    """
    registry = entry.registry
    entry.stream.emit_exec(o.EXEC_NEW, order)
    registry.go_live(account, order)
    ps = account.position(inst)
    qty_before = ps.qty
    entry.charged_reach = 0
    fills = entry.fills
    sweep_cross(fills, account, inst, order, order.price, CrossGuard(fills, inst, order, index, pool, fee))
    if order.leaves_qty == 0:
        registry.forget(order)
    elif fills.halted:  # LIQ-044: its next fill would have taken the account beyond its bankruptcy price
        registry.cancel(order, FILL_CANCEL_TEXT)
    else:
        order.reset_shown()
        entry.market.books[inst.symbol].add(order)
        ps.put_order(order.order_id, order.leaves_qty if order.is_buy else -order.leaves_qty, order.price)
    if order.cum_qty > 0:
        fills.cancel_unfunded_after_trade(inst, account, qty_before)
    if entry.triggers.conditional[inst.symbol]:  # after_trading: Triggers.run returns at once on an empty pool
        entry.after_trading(inst)


class MakerPool:
    """One maker account's pool during a sweep, flat: :meth:`Risk.pool_tuple`'s nine figures as fields (compiled,
    unboxed), the pool margin at the sweep's start, the fill outcome last judged for it and LIQ-053's cross pool of
    an isolated maker (read once).  The fee rate is each maker order's (ACC-007: :attr:`CrossGuard.rates`)."""

    def __init__(self, pool: tuple[int, int, int, int, int, int, int, int, int]) -> None:
        self.qty, self.cost, self.leverage, self.tier, self.margin = pool[0], pool[1], pool[2], pool[3], pool[4]
        self.other_pnl, self.other_maint, self.free, self.equity = pool[5], pool[6], pool[7], pool[8]
        self.start = pool[4]
        self.start_free = pool[7]  # LIQ-053: the cross pool's draw is measured from (start_free, start)
        self.judged = False  # out is the outcome of (j_signed, j_price, j_fee) on the pool as it stands
        self.j_signed = 0
        self.j_price = 0
        self.j_fee = 0
        self.j_available = 0
        self.out: tuple[int, int, int, int, int, int] = (0, 0, 0, 0, 0, 0)
        self.cross_read = False
        self.cross: tuple[int, int] | None = None
        # ACC-006's available as the next fill finds it (LIQ-040's PoolState.available): exact for the account's first
        # fill of the sweep (available_before_fill), 0 once a fold moved the pool (LIQ-049), as Fills' guards
        self.available = 0
        self.moved = False

    def pool(self) -> tuple[int, ...]:
        """The pool as ``Risk.pool_tuple`` gives it."""
        return (
            self.qty, self.cost, self.leverage, self.tier, self.margin, self.other_pnl, self.other_maint, self.free,
            self.equity,
        )


class CrossGuard:
    """The book's guard for a cross taker's sweep: :meth:`Fills._kernel_guard` with the taker's pool flat.

    A pool is ``(qty, cost, leverage, chosen_tier, pool_margin, other_pnl, other_maintenance, free_wallet,
    account_equity)``; the taker's lives in attributes, each maker's in a :class:`MakerPool` of :attr:`makers`.
    """

    def __init__(
        self, fills: Fills, inst: Instrument, taker: Order, index: int, pool: tuple[int, ...], taker_fee: int
    ) -> None:
        self.fills = fills
        self.accounts = fills.ledger.accounts
        self.inst = inst
        self.symbol = inst.symbol
        self.taker = taker
        self.taker_account = taker.account
        self.taker_buys = taker.is_buy
        self.made: list[Fill] = []
        self.mark = fills.market.marks.get(inst.symbol, 0)
        self.index = index
        # the taker's pool (cross: no LIQ-053 check) and the outcome last judged for it
        self.t_qty, self.t_cost, self.t_tier, self.t_margin = pool[0], pool[1], pool[3], pool[4]
        self.t_pnl, self.t_maint, self.t_free, self.t_equity = pool[5], pool[6], pool[7], pool[8]
        self.taker_fee = taker_fee
        self.t_judged = False  # t_out is the outcome of (t_signed, t_price) on the taker's pool as it stands
        self.t_signed = 0
        self.t_price = 0
        self.t_out: tuple[int, int, int, int, int, int] = (0, 0, 0, 0, 0, 0)
        self.makers: dict[Any, MakerPool] = {}  # by the maker's account id
        self.rates = fills.new_sweep()  # ACC-007: each maker order's fee rate, decided when the sweep first reaches it
        self.folded = 0
        self.insolvent: dict[int, None] = {}
        self.halt = False

    def maker(self, account_id: Any) -> MakerPool:
        """The maker's pool, read when it first trades in this sweep (``account_id``: the maker's account as one int
        object, the key of every lookup)."""
        found = self.makers.get(account_id)
        if found is None:
            holder = self.accounts[account_id]
            # Risk.pool_values: the nine figures unboxed (compiled), no tuple object made for them
            pool = self.fills.risk.pool_values(holder, self.inst, peek_position(holder, self.inst), self.index)
            found = self.makers[account_id] = MakerPool(pool)
        return found

    def maker_outcome(self, maker: MakerPool, signed: int, price: int, fee: int) -> tuple[int, int, int, int, int, int]:
        if (
            maker.judged and maker.j_signed == signed and maker.j_price == price and maker.j_fee == fee
            and maker.j_available == maker.available
        ):
            return maker.out
        if maker.leverage == CROSS:
            out = dispatch.fill_cross(
                self.index, maker.qty, maker.cost, maker.tier, maker.margin, maker.other_pnl, maker.other_maint,
                maker.free, maker.equity, signed, price, fee, self.mark,
            )
        else:
            out = dispatch.fill_isolated(
                self.index, maker.qty, maker.cost, maker.leverage, maker.tier, maker.margin, maker.other_pnl,
                maker.other_maint, maker.free, maker.equity, maker.available, signed, price, fee, self.mark,
            )
        maker.judged, maker.j_signed, maker.j_price, maker.j_fee, maker.out = True, signed, price, fee, out
        maker.j_available = maker.available
        return out

    def taker_outcome(self, signed: int, price: int) -> tuple[int, int, int, int, int, int]:
        if self.t_judged and self.t_signed == signed and self.t_price == price:
            return self.t_out
        out = dispatch.fill_cross(
            self.index, self.t_qty, self.t_cost, self.t_tier, self.t_margin, self.t_pnl, self.t_maint, self.t_free,
            self.t_equity, signed, price, self.taker_fee, self.mark,
        )
        self.t_judged, self.t_signed, self.t_price, self.t_out = True, signed, price, out
        return out

    def maker_allowed(self, account_id: Any, signed: int, price: int, fee: int, resting: tuple[int, int]) -> bool:
        maker = self.maker(account_id)
        if not maker.moved and maker.leverage != CROSS:  # a cross pool's is 0 (available_before_fill), as it starts
            maker.available = available_before_fill(
                self.fills.risk, self.accounts[account_id], self.inst, signed, price, fee, resting
            )
        out = self.maker_outcome(maker, signed, price, fee)
        if out[0] == 0:
            return False
        if maker.leverage == CROSS:  # LIQ-054 when the fill closes the account's last cross position
            if not closes_exactly(maker.qty, signed):
                return True  # is_cross_close_kept's own first clause, without building the pool
            return is_cross_close_kept(
                self.fills.market, self.accounts[account_id], self.inst, maker.pool(), signed, price, fee, self.mark,
            )
        if not maker.cross_read:
            maker.cross = self.fills.cross_pool_of(self.accounts[account_id], self.inst.settl_currency)
            maker.cross_read = True
        cross = maker.cross
        if cross is None:  # LIQ-054: no cross position backs a free wallet below zero
            return is_free_wallet_kept(maker.free - maker.margin, out[4] - out[3], False)
        return is_cross_pool_kept(cross[0], cross[1], compute_cross_draw(maker.start_free, maker.start, out[4], out[3]))

    def fold(self) -> None:
        """The fills made since the last call, folded into the pools (each outcome as judged)."""
        made = self.made
        for index in range(self.folded, len(made)):
            done, qty, price = made[index]
            maker = self.makers[done.account]
            out = self.maker_outcome(maker, qty if done.is_buy else -qty, price, self.rates[done.order_id])
            maker.qty, maker.cost, maker.margin, maker.free, maker.equity = out[1], out[2], out[3], out[4], out[5]
            maker.judged = False
            maker.available, maker.moved = 0, True
            taker = self.taker_outcome(qty if self.taker_buys else -qty, price)
            self.t_qty, self.t_cost, self.t_margin = taker[1], taker[2], taker[3]
            self.t_free, self.t_equity = taker[4], taker[5]
            self.t_judged = False
        self.folded = len(made)

    def __call__(self, maker: Order, wanted: int) -> int:
        """How much of ``wanted`` ``maker`` may trade (``< 0``: halt the sweep), as ``Fills._kernel_guard``."""
        granted = self.fills._reduce_only_room(self.symbol, maker, wanted, self.made) if maker.reduce_only else wanted
        if granted == 0:
            return granted
        if self.folded < len(self.made):
            self.fold()
        price = maker.price
        fee = self.fills.resting_fee(self.inst, maker, self.taker, self.made)  # ACC-007
        account_id: Any = maker.account  # compiled: one int object for the guard's lookups
        leaves = maker.leaves_qty - granted
        resting = (maker.order_id, leaves if maker.is_buy else -leaves)
        if not self.maker_allowed(account_id, granted if maker.is_buy else -granted, price, fee, resting):
            self.insolvent[maker.order_id] = None
            return 0
        taker_signed = granted if self.taker_buys else -granted
        if self.taker_outcome(taker_signed, price)[0] == 0 or not self.taker_close_kept(taker_signed, price):
            self.halt = True
            return -1
        return granted

    def taker_close_kept(self, signed: int, price: int) -> bool:
        """LIQ-054 for the cross taker: asked only of a fill that closes its position exactly."""
        if not closes_exactly(self.t_qty, signed):
            return True
        pool = (self.t_qty, self.t_cost, CROSS, self.t_tier, self.t_margin, self.t_pnl, self.t_maint, self.t_free, self.t_equity)
        return is_cross_close_kept(
            self.fills.market, self.accounts[self.taker_account], self.inst, pool, signed, price, self.taker_fee, self.mark
        )


def sweep_cross(fills: Fills, account: Account, inst: Instrument, order: Order, limit: int, guard: CrossGuard) -> None:
    """:meth:`Fills.sweep` of a trader's order from a cross position, not ReduceOnly, in a contract with kernels."""
    book = fills.market.books[inst.symbol]
    made = guard.made
    dropped: list[Order] = []
    book.match(order.is_buy, limit, order.leaves_qty, account.account_id, made, dropped, guard)
    fills._insolvent = guard.insolvent
    fills._halt_seen = fills.halted = guard.halt
    if made or dropped:
        _apply(fills, guard, account, inst, order, made, dropped)


def _apply(
    fills: Fills, guard: CrossGuard, taker_account: Account, inst: Instrument, taker: Order, made: list[Fill],
    dropped: list[Order],
) -> None:
    """:meth:`Fills._apply_fills` for the sweep of :func:`sweep_cross` (the taker's side flat: a cross trader)."""
    ledger = fills.ledger
    accounts = ledger.accounts
    stream = fills.stream
    market = fills.market
    symbol = inst.symbol
    asset = inst.settl_currency
    taker_ps = taker_account.positions[symbol]
    # each maker once, in the order of its first fill: (order, open quantity and executed quantity before the sweep).
    # Compiled, an int field used as a dict key or stored in a tuple is boxed anew at each use: an account or order id
    # is boxed once per fill (``Any``), and the running quantities stay int objects from the tuple to the event
    running: dict[Any, tuple[Order, Any, Any]] = {}
    for maker, qty, _ in made:
        order_key: Any = maker.order_id
        seen = running.get(order_key)
        if seen is None:
            running[order_key] = (maker, maker.leaves_qty + qty, maker.cum_qty - qty)
        else:
            running[order_key] = (maker, seen[1] + qty, seen[2] - qty)
    touched: dict[Any, None] = {taker.account: None} if made else {}
    # ACC-009's inputs of every fill but its quantity and price, read once (accounts.compute_usd_volume's, per fill)
    usd_price, usd_scale = market.usd_price(inst)
    minor = MINOR_PER_UNIT.get(asset, 1)
    time_ms = stream.time_ms
    index = guard.index
    taker_fee = guard.taker_fee
    taker_buys = taker.is_buy
    holders = ledger.holders[symbol]
    taker_id = taker_account.account_id
    taker_usd = 0
    volumes: dict[Any, int] = {}
    # the taker's wallet, the fee pool and the last price move once, after the fills: nothing in the loop reads
    # them (a maker is never the taker's account: Book.match drops those, self-trade prevention)
    taker_delta = 0
    fee_delta = 0
    last_price = 0
    rates = guard.rates
    for maker, qty, price in made:
        maker_key: Any = maker.account
        maker_account = accounts[maker_key]
        maker_ps = maker_account.position(inst)
        maker_fee = rates[maker.order_id]  # ACC-007: every maker of a fill was judged by the guard at this rate
        # ACC-004: (qty, cost, realised PnL, commission) of the buyer, then of the seller, then the fee pool's delta;
        # read by constant index (compiled, the kernel's tuple is native: a variable index would box all nine)
        if taker_buys:
            traded = dispatch.trade(index, taker_ps.qty, taker_ps.cost, maker_ps.qty, maker_ps.cost, qty, price,
                                    taker_fee, maker_fee)
            taker_qty, taker_cost, taker_pnl, taker_comm = traded[0], traded[1], traded[2], traded[3]
            maker_qty, maker_cost, maker_pnl, maker_comm = traded[4], traded[5], traded[6], traded[7]
        else:
            traded = dispatch.trade(index, maker_ps.qty, maker_ps.cost, taker_ps.qty, taker_ps.cost, qty, price,
                                    maker_fee, taker_fee)
            maker_qty, maker_cost, maker_pnl, maker_comm = traded[0], traded[1], traded[2], traded[3]
            taker_qty, taker_cost, taker_pnl, taker_comm = traded[4], traded[5], traded[6], traded[7]
        # the taker's side: a cross trader's position and wallet (Fills._apply_side, flat)
        old_qty = taker_ps.qty
        new_qty = taker_qty
        taker_ps.qty, taker_ps.cost = new_qty, taker_cost
        taker_delta += taker_pnl - taker_comm
        if (old_qty == 0) != (new_qty == 0):
            if new_qty == 0:
                holders.pop(taker_id, None)
            else:
                holders[taker_id] = None
        if maker_ps.leverage != CROSS or maker.account == LIQUIDATOR:
            maker_leaves = running[maker.order_id][1] - qty  # ACC-006: the maker order's filled part released
            fills.apply_effect(
                maker_account, maker_ps, inst, Position(qty=maker_qty, cost=maker_cost),
                maker_pnl - maker_comm, maker_pnl, price,
                (maker.order_id, maker_leaves if maker.is_buy else -maker_leaves),
            )
        else:
            old_qty = maker_ps.qty
            new_qty = maker_qty
            maker_ps.qty, maker_ps.cost = new_qty, maker_cost
            maker_account.wallets[asset] = maker_account.wallets.get(asset, 0) + maker_pnl - maker_comm
            if (old_qty == 0) != (new_qty == 0):
                if new_qty == 0:
                    holders.pop(maker_key, None)
                else:
                    holders[maker_key] = None
        fee_delta += traded[8]
        taker.leaves_qty -= qty
        taker.cum_qty += qty
        taker.cum_value += qty * price
        order_key = maker.order_id
        _, before_leaves, before_cum = running[order_key]
        leaves: Any = before_leaves - qty
        cum: Any = before_cum + qty
        running[order_key] = (maker, leaves, cum)
        stream.emit_exec(o.EXEC_TRADE, taker, last_qty=qty, last_px=price, comm=taker_comm, liquidity=o.REMOVED_LIQUIDITY)
        stream.emit_exec(o.EXEC_TRADE, maker, last_qty=qty, last_px=price, comm=maker_comm, liquidity=o.ADDED_LIQUIDITY,
                         leaves=leaves, cum=cum)
        # fee-tier volume, each fill's rounded down as the general path's; summed per account (today's volume is
        # read from tomorrow on: nothing in the sweep reads it) and added once below
        usd = compute_usd_volume(inst, qty, price, usd_price, usd_scale, minor)
        taker_usd += usd
        if maker.account >= 0:
            volumes[maker_key] = volumes.get(maker_key, 0) + usd
        touched[maker_key] = None
        last_price = price
        market.note_print(symbol, price)  # every print is judged by the last-price triggers (ORD-015)
    if made:
        taker_account.wallets[asset] = taker_account.wallets.get(asset, 0) + taker_delta
        ledger.fees[asset] = ledger.fees.get(asset, 0) + fee_delta
        market.last_prices[symbol] = last_price
        taker_account.add_volume(taker_usd, time_ms)
        for account_id, usd in volumes.items():
            accounts[account_id].add_volume(usd, time_ms)
    registry = fills.registry
    for maker, _, _ in running.values():
        ps = accounts[maker.account].positions[symbol]
        if maker.leaves_qty == 0:
            if maker.live or maker.order_id in registry.live_orders:
                registry.forget(maker)  # out of every index, its position's resting orders too
            else:
                ps.drop_order(maker.order_id)
        elif maker.live:
            ps.put_order(maker.order_id, maker.leaves_qty if maker.is_buy else -maker.leaves_qty, maker.price)
    for maker in dropped:
        accounts[maker.account].positions[symbol].drop_order(maker.order_id)
        if maker.account == taker.account:
            text = "Canceled: self-trade prevention (resting order of the same account)"
        elif maker.order_id in guard.insolvent:
            text = FILL_CANCEL_TEXT  # LIQ-044
        else:
            text = "Canceled: ReduceOnly order would have increased the position"
        registry.cancel(maker, text, in_book=False)
    risk = fills.risk
    for account_id in sorted(touched):
        holder = accounts[account_id]
        registry.fix_reduce_only(holder, inst)
        if account_id >= 0:
            registry.touch(holder, inst)
            risk.emit_position(account_id, symbol)
