"""Book and fills: matching an order against the book and applying every fill's money and bookkeeping.

:class:`Fills` sweeps a taker through the book (:meth:`Fills.sweep`, with the
ReduceOnly guard on makers) and applies each fill: ACC-004
(``rules.position.apply_trade``) for contracts, a quote/base exchange for spot
pairs (ACC-002 fees), ACC-006 for an isolated position's margin
(:meth:`Fills.apply_effect`, which every closing path — liquidation fills,
ADL, settlement — also goes through), the executions, the makers' order
tallies, fee-tier volume and the last price; after a trader's order traded,
MRG-067's clean-up (:meth:`Fills.cancel_unfunded_after_trade`).  It owns no
state of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import attrs

from perpspec.engine.core import orders as o
from perpspec.engine.core.accounts import Account, PositionState, compute_usd_volume
from perpspec.engine.core.book import Fill
from perpspec.engine.core.isolated_fill import available_before_fill, isolated_margin_after_fill
from perpspec.engine.core.ledger import LIQUIDATOR, Ledger, peek_position
from perpspec.engine.core.liquidation_guard import (
    closes_exactly,
    count_other_cross_open,
    is_cross_close_kept,
    make_liquidation_guard,
)
from perpspec.engine.core.market import Market, fee_rates, is_spot
from perpspec.engine.core.orders import Order
from perpspec.engine.core.registry import OrderRegistry
from perpspec.engine.core.risk import Risk
from perpspec.engine.core.stream import EventStream
from perpspec.engine.kernels import dispatch
from perpspec.engine.kernels.load import KernelSet, kernels_for
from perpspec.rules.contract import compute_notional, compute_value
from perpspec.rules.instrument import Instrument
from perpspec.rules.margin import CROSS, compute_tier_free_available, is_cancel_after_trade_due
from perpspec.rules.position import (
    Position,
    apply_spot_trade,
    apply_trade,
    compute_commission,
    compute_resting_fee_ppm,
)
from perpspec.rules.solvency import (
    FILL_CANCEL_TEXT,
    PoolState,
    apply_fill_to_pool,
    compute_cross_draw,
    compute_fill_outcome,
    is_cross_pool_kept,
    is_fill_allowed,
    is_fill_free_wallet_kept,
    is_free_wallet_kept,
    is_spot_spend_allowed,
    is_spot_spend_withdrawable,
)
from perpspec.rules.waterfall_postings import get_opened_qty

UNFUNDED_TEXT: Final = "Canceled: the account's trade left its available balance below zero"  # MRG-067


class Fills:
    """Matching and fill application."""

    def __init__(
        self, market: Market, ledger: Ledger, risk: Risk, registry: OrderRegistry, stream: EventStream
    ) -> None:
        self.market = market
        self.ledger = ledger
        self.risk = risk
        self.registry = registry
        self.stream = stream
        self.fee_free = False  # True during a partial liquidation's FillOrKill (not state)
        self.halted = False  # the last sweep stopped at an unsafe fill of its own order (LIQ-044; not state)
        self._halt_seen = False
        self._insolvent: dict[int, None] = {}  # makers of the current sweep refused by LIQ-044 (not state)
        # ACC-007: the fee rate of each maker order of the current sweep, by order id, and how much of the incoming
        # order its earlier fills took (how many fills counted, their quantity) (not state)
        self._rates: dict[int, int] = {}
        self._taken_count = self._taken_qty = 0  # compiled: two native ints (a list's were boxed at each update)
        self._pairs: dict[int, tuple[int, int]] = {}  # each maker account's (maker, taker) rate, read once per sweep
        # MRG-067's reading position in the command's events (not state): the events list it read, and how far
        self._after_trade_out: list[Any] | None = None
        self._after_trade_read = 0

    def sweep(self, account: Account, inst: Instrument, order: Order, limit: int) -> list[tuple[int, int]]:
        """Match ``order`` (not in the book) against the book up to ``limit``; apply every fill.

        Returns the ``(qty, price)`` of each fill.  Every fill is checked by
        LIQ-044 first (:meth:`make_guard`): an unsafe maker is cancelled, an
        unsafe fill of ``order`` itself halts the sweep (``self.halted``).
        """
        book = self.market.books[inst.symbol]
        if not book.crosses(order.is_buy, limit):  # nothing to match (Book.match would stop at once): no guard
            self._insolvent = {}
            self.new_sweep()
            self._halt_seen = self.halted = False
            if not is_spot(inst):
                self.ledger.accounts[order.account].position(inst)  # as _apply_fills: the position record exists
            return []
        fills: list[Fill] = []
        dropped: list[Order] = []
        guard = self.guard_for(account, inst, order, fills)
        before = account.positions[inst.symbol].qty if inst.symbol in account.positions else 0
        book.match(order.is_buy, limit, order.leaves_qty, account.account_id, fills, dropped, guard)
        self.halted = self._halt_seen
        self._apply_fills(inst, order, fills, dropped)
        if order.reduce_only and fills and self.stream.track_steps:
            after = account.positions[inst.symbol].qty
            self.stream.reduce_only_fills.append((account.account_id, inst.symbol, before, after))
        return [(qty, price) for _, qty, price in fills]

    def guard_for(self, account: Account, inst: Instrument, order: Order, fills: list[Fill]) -> Callable[[Order, int], int]:
        """The guard a sweep of ``order`` runs (and a FillOrKill's dry run): LIQ-052 for a trader's spot order,
        LIQ-044/LIQ-053 for a trader's contract order, the ReduceOnly room alone for the liquidation engine."""
        trader = not self.fee_free and account.account_id >= 0
        if is_spot(inst):
            return self._spot_guard(inst, fills, order) if trader else self.make_guard(inst.symbol, fills)
        return self.make_guard(inst.symbol, fills, order if trader else None)

    def can_fill(self, account: Account, inst: Instrument, order: Order, limit: int) -> bool:
        """FillOrKill: :meth:`sweep` would fill the whole order, every maker judged by the sweep's own guard.

        A dry run of the book's matching (``Book.dry_match``) with the guard :meth:`sweep` would use, so a maker
        LIQ-044 or LIQ-052 would cancel is not counted; nothing changes (the guard's notes are reset).
        """
        book = self.market.books[inst.symbol]
        fills: list[Fill] = []
        guard = self.guard_for(account, inst, order, fills)
        left = book.dry_match(order.is_buy, limit, order.leaves_qty, account.account_id, fills, guard)
        self._insolvent = {}
        self.new_sweep()
        self._halt_seen = False
        return left == 0

    def make_guard(self, symbol: str, fills: list[Fill], taker: Order | None = None) -> Callable[[Order, int], int]:
        """The book's guard: how much of ``wanted`` a maker may trade (``< 0``: halt the sweep).

        * a ReduceOnly maker: no more than what still reduces its position;
        * with ``taker`` (an order of a trader, not a liquidation): LIQ-044
          (``rules.solvency.is_fill_allowed``) for the maker's and the taker's
          side of the fill, each account as it stands after the sweep's earlier
          fills.  An unsafe maker is granted nothing (it leaves the book and is
          cancelled); an unsafe taker halts the sweep;
        * without (the liquidation engine's sweep): LIQ-054 / LIQ-053 for each maker
          (:func:`engine.core.liquidation_guard.make_liquidation_guard`).
        """
        accounts = self.ledger.accounts
        inst = self.market.instrument_map[symbol]
        mark = self.market.marks.get(symbol, 0)
        self._insolvent = {}
        self._halt_seen = False
        self.new_sweep()
        if taker is None:  # the liquidation engine's sweep: LIQ-054 / LIQ-053 for each maker
            return make_liquidation_guard(
                self.market, self.ledger, self.risk, symbol, fills, self._reduce_only_room, self.cross_pool_of, self._insolvent
            )
        kernels = kernels_for(inst)
        if kernels is not None:
            return self._kernel_guard(kernels, inst, fills, taker, mark)
        states: dict[int, PoolState] = {}
        folded = [0]  # how many of ``fills`` are folded into ``states``

        starts: dict[int, tuple[int, int]] = {}  # each pool's (free wallet, margin) before the sweep (LIQ-053)
        crosses: dict[int, tuple[int, int] | None] = {}
        moved: dict[int, None] = {}  # the accounts a fold of this sweep's fills moved

        def state(account_id: int) -> PoolState:
            if account_id not in states:
                holder = accounts[account_id]
                states[account_id] = self.risk.pool_state(holder, inst, peek_position(holder, inst))
                starts[account_id] = (states[account_id].free_wallet, states[account_id].pool_margin)
            return states[account_id]

        def judged(account_id: int, signed: int, price: int, fee: int, resting: tuple[int, int] | None) -> PoolState:
            # ACC-006's available as the fill will find it (LIQ-040's PoolState.available): exact for an account's first
            # fill of the sweep (available_before_fill), 0 after a fold (apply_fill_to_pool); kept for that fold
            pool = state(account_id)
            if account_id not in moved:
                available = available_before_fill(self.risk, accounts[account_id], inst, signed, price, fee, resting)
                pool = states[account_id] = attrs.evolve(pool, available=available)
            return pool

        def keeps_cross(account_id: int, pool: PoolState, signed: int, price: int, fee: int) -> bool:
            if pool.leverage_hundredths == CROSS:
                if not closes_exactly(pool.position.qty, signed):
                    return True  # a cross position stays open: LIQ-054's first clause
                others = count_other_cross_open(self.market, accounts[account_id], symbol)
                return is_fill_free_wallet_kept(inst, pool, signed, price, fee, mark, others)
            if account_id not in crosses:
                crosses[account_id] = self.cross_pool_of(accounts[account_id], inst.settl_currency)
            cross = crosses[account_id]
            if cross is None:  # LIQ-054: no cross position backs a free wallet below zero
                return is_fill_free_wallet_kept(inst, pool, signed, price, fee, mark, 0)
            out = compute_fill_outcome(inst, pool, signed, price, fee, mark)
            free = pool.free_wallet + out.realised - out.commission
            moved = compute_cross_draw(*starts[account_id], free, out.pool_margin)
            return is_cross_pool_kept(cross[0], cross[1], moved)

        def fold() -> None:
            for maker, qty, price in fills[folded[0]:]:
                for account_id, is_buy, fee in (
                    (maker.account, maker.is_buy, self._rates[maker.order_id]),  # ACC-007, as the guard judged it
                    (taker.account, taker.is_buy, self.fee_ppm(accounts[taker.account], inst, maker=False)),
                ):
                    states[account_id] = apply_fill_to_pool(inst, state(account_id), qty if is_buy else -qty, price, fee, mark)
                    moved[account_id] = None
            folded[0] = len(fills)

        def guard(maker: Order, wanted: int) -> int:
            granted = self._reduce_only_room(symbol, maker, wanted, fills) if maker.reduce_only else wanted
            if granted == 0:
                return granted
            fold()
            price = maker.price
            maker_fee = self.resting_fee(inst, maker, taker, fills)  # ACC-007
            maker_qty = granted if maker.is_buy else -granted
            leaves = maker.leaves_qty - granted
            pool = judged(maker.account, maker_qty, price, maker_fee, (maker.order_id, leaves if maker.is_buy else -leaves))
            if not (
                is_fill_allowed(inst, pool, maker_qty, price, maker_fee, mark)
                and keeps_cross(maker.account, pool, maker_qty, price, maker_fee)
            ):
                self._insolvent[maker.order_id] = None
                return 0
            taker_fee = self.fee_ppm(accounts[taker.account], inst, maker=False)
            taker_qty = granted if taker.is_buy else -granted
            pool = judged(taker.account, taker_qty, price, taker_fee, None)
            if not (
                is_fill_allowed(inst, pool, taker_qty, price, taker_fee, mark)
                and keeps_cross(taker.account, pool, taker_qty, price, taker_fee)
            ):
                self._halt_seen = True
                return -1
            return granted

        return guard

    def _reduce_only_room(self, symbol: str, maker: Order, wanted: int, fills: list[Fill]) -> int:
        """How much of ``wanted`` a ReduceOnly maker may trade: no more than what still reduces its position."""
        qty = self.ledger.accounts[maker.account].positions[symbol].qty
        for other, traded, _ in fills:
            if other.account == maker.account:
                qty += traded if other.is_buy else -traded
        room = max(0, -qty) if maker.is_buy else max(0, qty)
        return min(wanted, room)

    def _kernel_guard(
        self, kernels: KernelSet, inst: Instrument, fills: list[Fill], taker: Order, mark: int
    ) -> Callable[[Order, int], int]:
        """:meth:`make_guard` with LIQ-044/LIQ-049 as the proved ``fill_*`` kernels on flat pool tuples.

        A pool is ``(qty, cost, leverage, chosen_tier, pool_margin, other_pnl,
        other_maintenance, free_wallet, account_equity)`` (``Risk.pool_state``'s
        fields).  The kernel that judges a fill also gives the pool after it, so
        the fold of that fill reuses the outcome (same pool, quantity, price and fee).
        """
        accounts = self.ledger.accounts
        symbol = inst.symbol
        pools: dict[int, tuple[int, ...]] = {}
        judged: dict[int, tuple[int, int, int, int, tuple[int, ...]]] = {}  # account -> (signed, price, fee, available, out)
        taker_fees: list[int] = []  # the taker's rate, read when first needed (a fee tier is fixed within a command)
        rates = self._rates  # each maker order's rate (ACC-007), decided when the sweep first reaches it
        folded = [0]
        index = kernels.index  # the instrument's branch of the proved kernels (engine/kernels/dispatch.py)

        starts: dict[int, tuple[int, int]] = {}  # each pool's (free wallet, margin) before the sweep (LIQ-053)
        crosses: dict[int, tuple[int, int] | None] = {}
        # ACC-006's available as an account's next fill finds it (LIQ-040's PoolState.available): exact for its first
        # fill of the sweep (available_before_fill, set when judged), 0 once a fold moved its pool (LIQ-049)
        availables: dict[int, int] = {}
        moved: dict[int, None] = {}

        def pool(account_id: int) -> tuple[int, ...]:
            found = pools.get(account_id)
            if found is None:
                holder = accounts[account_id]
                found = pools[account_id] = self.risk.pool_tuple(holder, inst, peek_position(holder, inst), index)
                starts[account_id] = (found[7], found[4])
            return found

        def allowed(account_id: int, signed: int, price: int, fee: int, resting: tuple[int, int] | None) -> bool:
            if account_id not in moved:
                availables[account_id] = available_before_fill(self.risk, accounts[account_id], inst, signed, price, fee, resting)
            out = outcome(account_id, signed, price, fee)
            if out[0] == 0:
                return False
            if pools[account_id][2] == CROSS:  # LIQ-054 when the fill closes the account's last cross position
                return is_cross_close_kept(self.market, accounts[account_id], inst, pools[account_id], signed, price, fee, mark)
            if account_id not in crosses:
                crosses[account_id] = self.cross_pool_of(accounts[account_id], inst.settl_currency)
            cross = crosses[account_id]
            if cross is None:  # LIQ-054: no cross position backs a free wallet below zero
                before = pools[account_id]
                return is_free_wallet_kept(before[7] - before[4], out[4] - out[3], False)
            return is_cross_pool_kept(cross[0], cross[1], compute_cross_draw(*starts[account_id], out[4], out[3]))

        def outcome(account_id: int, signed: int, price: int, fee: int) -> tuple[int, ...]:
            available = availables.get(account_id, 0)
            seen = judged.get(account_id)
            if seen is not None and seen[0] == signed and seen[1] == price and seen[2] == fee and seen[3] == available:
                return seen[4]
            qty, cost, leverage, tier, margin, other_pnl, other_maint, free, equity = pool(account_id)
            if leverage == CROSS:
                out = dispatch.fill_cross(index, qty, cost, tier, margin, other_pnl, other_maint, free, equity, signed, price, fee, mark)
            else:
                out = dispatch.fill_isolated(
                    index,
                    qty, cost, leverage, tier, margin, other_pnl, other_maint, free, equity, available, signed, price, fee,
                    mark,
                )
            judged[account_id] = (signed, price, fee, available, out)
            return out

        def taker_fee() -> int:
            if not taker_fees:
                taker_fees.append(self.fee_ppm(accounts[taker.account], inst, maker=False))
            return taker_fees[0]

        def fold_one(account_id: int, signed: int, price: int, fee: int) -> None:
            out = outcome(account_id, signed, price, fee)
            _, _, leverage, tier, _, other_pnl, other_maint, _, _ = pools[account_id]
            pools[account_id] = (out[1], out[2], leverage, tier, out[3], other_pnl, other_maint, out[4], out[5])
            del judged[account_id]
            availables[account_id] = 0  # LIQ-049: the pool after a fold carries no available
            moved[account_id] = None

        def guard(maker: Order, wanted: int) -> int:
            granted = self._reduce_only_room(symbol, maker, wanted, fills) if maker.reduce_only else wanted
            if granted == 0:
                return granted
            if folded[0] < len(fills):
                for done, qty, done_price in fills[folded[0]:]:
                    fold_one(done.account, qty if done.is_buy else -qty, done_price, rates[done.order_id])
                    fold_one(taker.account, qty if taker.is_buy else -qty, done_price, taker_fee())
                folded[0] = len(fills)
            price = maker.price
            maker_fee = self.resting_fee(inst, maker, taker, fills)  # ACC-007
            leaves = maker.leaves_qty - granted
            resting = (maker.order_id, leaves if maker.is_buy else -leaves)
            if not allowed(maker.account, granted if maker.is_buy else -granted, price, maker_fee, resting):
                self._insolvent[maker.order_id] = None
                return 0
            if not allowed(taker.account, granted if taker.is_buy else -granted, price, taker_fee(), None):
                self._halt_seen = True
                return -1
            return granted

        return guard

    def cancel_unfunded_after_trade(self, inst: Instrument, taker: Account, qty_before: int) -> None:
        """MRG-067 after ``taker``'s order traded in ``inst`` (its position was ``qty_before`` contracts).

        The accounts whose order needed margin in this command (MRG-060 > 0), and the taker when its fills opened
        contracts: each whose available balance (as MRG-061 reads it: net of spot reservations and of what its cross
        positions' chosen risk tiers hold beyond MRG-050's own-tier figures, ``Risk.held_tier_extras``) is below zero
        has its resting orders in ``inst`` cancelled, newest first, until it is not (``is_cancel_after_trade_due`` per
        order: MRG-068's clean-up).  Makers otherwise keep their orders (rules.margin's MRG-067 says why).
        """
        if is_spot(inst):
            return
        asset = inst.settl_currency
        symbol = inst.symbol
        # of the accounts whose order needed margin in this command, only those an event named since the last call
        # (in this command) are judged again: every other one was left funded, or with no order here, by that call,
        # and nothing changed it since (the mark is the command's; a fill, a new or fired order, a cancel, funding,
        # a liquidation or ADL each name the account).  Judging all of them at every call made a cascade of N
        # fired stops cost O(N^2) (session 12 review, rev3_1); the cancels are the same, in the same order.
        out = self.stream.out
        if out is not self._after_trade_out:  # a new command's events
            self._after_trade_out = out
            self._after_trade_read = 0
        start = self._after_trade_read
        self._after_trade_read = len(out)
        needed = self.stream.orders
        judged: dict[int, None] = {}
        if needed:
            # the accounts whose order needed margin in ``asset`` (usually one: this command's order): the new events
            # are read only until each of them was found named (speed17: the whole sweep's events were read, a tuple
            # key built per event, about 2.5% of the bench's instructions).  Any: the event's int object is the key
            wanted: dict[Any, None] = {account: None for account, held in needed if held == asset}
            if wanted:
                left = len(wanted)
                for index in range(start, len(out)):
                    named: Any = getattr(out[index], "account", -1)
                    if named in wanted and named not in judged:
                        judged[named] = None
                        if len(judged) == left:
                            break
        ps = taker.positions.get(symbol)
        if ps is not None and get_opened_qty(qty_before, ps.qty) != 0:
            judged[taker.account_id] = None
        registry = self.registry
        risk = self.risk
        for account_id in sorted(judged):
            account = self.ledger.accounts[account_id]
            ps = account.positions.get(symbol)
            if ps is None or not ps.orders:
                continue
            # MRG-061's figure: what the chosen tiers hold, the resting orders' included, is not available
            held = risk.held_tier_extras(account, asset)
            # free_balance(account_margin(...)) through the kernels: no margin records per trade
            available = compute_tier_free_available(risk.free_balance_of(account, asset, inst, ps), held)
            if not is_cancel_after_trade_due(available, len(ps.orders)):
                continue  # funded: its orders are not even sorted (a maker named at every fire of a cascade)
            for order_id in sorted(ps.orders, reverse=True):  # order ids: the newest first
                registry.cancel(registry.live_orders[order_id], UNFUNDED_TEXT)
                if held:  # the cancelled order's chosen-tier extra is held no more (Risk.resting_tier_extra)
                    held = risk.held_tier_extras(account, asset)
                available = compute_tier_free_available(risk.free_balance_of(account, asset, inst, ps), held)
                if not is_cancel_after_trade_due(available, len(ps.orders)):
                    break

    def cross_pool_of(self, account: Account, asset: str) -> tuple[int, int] | None:
        """(equity, maintenance) at mark of the account's cross pool in ``asset`` (LIQ-053's inputs), or None
        when the account holds no open cross position there."""
        for symbol in sorted(account.positions):
            ps = account.positions[symbol]
            if ps.qty == 0 or ps.leverage != CROSS or symbol not in self.market.marks:
                continue
            if self.market.instrument_map[symbol].settl_currency == asset:
                _, equity, maintenance, _ = self.risk.pool_of(account, symbol)
                return equity, maintenance
        return None

    def _spot_guard(self, inst: Instrument, fills: list[Fill], taker: Order) -> Callable[[Order, int], int]:
        """The book's guard for a spot pair: LIQ-052 and LIQ-055 for the side of each fill that spends a currency.

        The buyer spends the quote value and its fee, the seller the base amount; each account as it stands after
        the sweep's earlier fills.  LIQ-055: a fill spends only what a Withdraw could take (the incoming order: less
        what the account's other spot orders reserve; a maker: its own reservation is what it spends).  A maker
        whose fill is refused is granted nothing (it leaves the book and is cancelled with LIQ-044's text); a
        refused fill of the incoming order halts the sweep.
        """
        accounts = self.ledger.accounts
        spent: dict[tuple[int, str], int] = {}
        room: dict[tuple[int, str], int] = {}  # LIQ-055 before the sweep, per spending account and currency
        folded = [0]
        self._insolvent = {}
        self._halt_seen = False
        self.new_sweep()
        reservations = self.registry.spot_reservations

        def spending(is_buy: bool, fee_ppm: int, qty: int, price: int) -> tuple[str, int]:
            if is_buy:
                value = compute_notional(inst, qty, price)
                return inst.settl_currency, value + compute_commission(value, fee_ppm)
            return inst.base_currency, qty * inst.base_multiplier

        def taker_fee() -> int:
            return self.fee_ppm(accounts[taker.account], inst, maker=False)

        def allowed(account_id: int, asset: str, amount: int) -> bool:
            key = (account_id, asset)
            earlier = spent.get(key, 0)
            account = accounts[account_id]
            pool, equity = self._equities_in(account, asset)
            if key not in room:
                room[key] = (
                    # the incoming order: its account's other reservations stay put (Risk.spot_spendable)
                    self.risk.spot_spendable(account, asset, reservations.get(taker.order_id, (asset, 0))[1])
                    if account_id == taker.account
                    else self.risk.spot_withdrawable(account, asset)  # a maker: its reservation is what it spends
                )
            if not (is_spot_spend_allowed(pool - earlier, equity - earlier, amount)
                    and is_spot_spend_withdrawable(room[key] - earlier, amount)):
                return False
            if amount > 0:
                self.stream.spot_spends[key] = None  # INV-SPOT-SPEND
            return True

        def guard(maker: Order, wanted: int) -> int:
            for done, qty, price in fills[folded[0]:]:
                for account_id, is_buy, fee in (
                    (done.account, done.is_buy, self._rates[done.order_id]),  # ACC-007, as the guard judged it
                    (taker.account, taker.is_buy, taker_fee()),
                ):
                    asset, amount = spending(is_buy, fee, qty, price)
                    spent[(account_id, asset)] = spent.get((account_id, asset), 0) + amount
            folded[0] = len(fills)
            maker_fee = self.resting_fee(inst, maker, taker, fills)  # ACC-007
            if not allowed(maker.account, *spending(maker.is_buy, maker_fee, wanted, maker.price)):
                self._insolvent[maker.order_id] = None
                return 0
            if not allowed(taker.account, *spending(taker.is_buy, taker_fee(), wanted, maker.price)):
                self._halt_seen = True
                return -1
            return wanted

        return guard

    def _equities_in(self, account: Account, asset: str) -> tuple[int, int]:
        """LIQ-052's inputs in ``asset``: (the cross pool's equity, the account's equity) at mark.

        The cross pool: the wallet less every isolated margin, plus the cross positions' unrealised PnL (LIQ-048);
        the account: the wallet plus every position's unrealised PnL (isolated margin is part of the wallet).
        """
        wallet = account.wallets.get(asset, 0)
        iso_total = pnl_total = cross_pnl = 0
        marks = self.market.marks
        instruments = self.market.instrument_map
        for symbol in sorted(account.positions):
            ps = account.positions[symbol]
            inst = instruments[symbol]
            if inst.settl_currency != asset:
                continue
            if ps.leverage != CROSS:
                iso_total += ps.iso_margin
            if ps.qty == 0 or symbol not in marks:
                continue
            pnl = compute_value(inst, ps.qty, marks[symbol]) - ps.cost
            pnl_total += pnl
            if ps.leverage == CROSS:
                cross_pnl += pnl
        return wallet - iso_total + cross_pnl, wallet + pnl_total

    def fee_ppm(self, account: Account, inst: Instrument, maker: bool) -> int:
        """The account's maker or taker fee rate in ``inst`` (its fee tier today)."""
        if account.account_id < 0 or self.fee_free:
            return 0  # liquidation fills pay no commission (rules.waterfall decision)
        tier = account.fee_tier(inst, self.stream.time_ms)
        rates = fee_rates(inst)
        return rates[0][tier] if maker else rates[1][tier]

    def new_sweep(self) -> dict[int, int]:
        """Forget the last sweep's ACC-007 rates; the (new) table the next sweep's guard fills in."""
        self._rates = {}
        self._taken_count = self._taken_qty = 0
        self._pairs = {}
        return self._rates

    def resting_fee(self, inst: Instrument, maker: Order, taker: Order, fills: list[Fill]) -> int:
        """ACC-007: ``maker``'s fee rate for all its fills from ``taker`` in this sweep (``fills``: the sweep's so far).

        Decided when the sweep first reaches the order (``rules.position.compute_resting_fee_ppm`` on what it
        displays and holds then and what is left of the incoming order, which the sweep matched from its whole open
        quantity) and kept for the sweep: the guard judges every fill, and the fills are applied, at this rate.
        """
        rates = self._rates
        key: Any = maker.order_id  # compiled: an id boxed once for the lookup and the store
        fee = rates.get(key)
        if fee is None:
            taken_qty, count = self._taken_qty, len(fills)
            for done in range(self._taken_count, count):
                taken_qty += fills[done][1]
            self._taken_count, self._taken_qty = count, taken_qty
            account: Any = maker.account
            pair = self._pairs.get(account)
            if pair is None:  # the account's rates, one tier look-up (a fee tier is fixed within a command)
                pair = self._pairs[account] = self.fee_pair(self.ledger.accounts[account], inst)
            fee = rates[key] = compute_resting_fee_ppm(maker.shown_qty, maker.leaves_qty,
                                                       taker.leaves_qty - taken_qty, pair[0], pair[1])
        return fee

    def fee_pair(self, account: Account, inst: Instrument) -> tuple[int, int]:
        """The account's (maker, taker) fee rates in ``inst``: :meth:`fee_ppm` of both, one tier look-up."""
        if account.account_id < 0 or self.fee_free:
            return 0, 0  # liquidation fills pay no commission (rules.waterfall decision)
        tier = account.fee_tier(inst, self.stream.time_ms)
        rates = fee_rates(inst)
        return rates[0][tier], rates[1][tier]

    def _apply_fills(self, inst: Instrument, taker: Order, fills: list[Fill], dropped: list[Order]) -> None:
        """Money and bookkeeping of a sweep: ACC-004 per fill, executions, maker orders, positions."""
        if is_spot(inst):
            self._apply_spot_fills(inst, taker, fills, dropped)
            return
        symbol = inst.symbol
        asset = inst.settl_currency
        taker_account = self.ledger.accounts[taker.account]
        taker_ps = taker_account.positions.get(symbol) or taker_account.position(inst)
        if not fills and not dropped:
            return
        totals: dict[int, int] = {}
        for maker, qty, _ in fills:
            totals[maker.order_id] = totals.get(maker.order_id, 0) + qty
        running: dict[int, tuple[int, int]] = {}
        for maker in {m.order_id: m for m, _, _ in fills}.values():
            total = totals[maker.order_id]
            running[maker.order_id] = (maker.leaves_qty + total, maker.cum_qty - total)
        touched: dict[int, None] = {taker.account: None} if fills else {}
        usd_price = self.market.usd_price(inst)
        kernels = kernels_for(inst)
        time_ms = self.stream.time_ms
        # an account's fee tier is fixed within a command (cached per day; today's volume counts from tomorrow)
        taker_fee = self.fee_ppm(taker_account, inst, maker=False) if fills else 0
        rates = self._rates  # ACC-007: each maker order's rate, as the sweep's guard decided and judged it
        for maker, qty, price in fills:
            maker_account = self.ledger.accounts[maker.account]
            maker_ps = maker_account.position(inst)
            maker_fee = rates.get(maker.order_id)
            if maker_fee is None:  # a sweep without a trader's guard: a fee-free liquidation's, where every rate is 0
                maker_fee = self.fee_ppm(maker_account, inst, maker=True)
            taker_side, maker_side, fee_pool_delta = self._trade(
                kernels, inst, taker.is_buy, taker_ps, maker_ps, qty, price, taker_fee, maker_fee
            )
            self._apply_side(taker_account, taker_ps, inst, taker_side, price)
            leaves_after = running[maker.order_id][0] - qty  # ACC-006: the maker order's margin released as it fills
            self._apply_side(maker_account, maker_ps, inst, maker_side, price,
                             (maker.order_id, leaves_after if maker.is_buy else -leaves_after))
            self.ledger.fees[asset] = self.ledger.fees.get(asset, 0) + fee_pool_delta
            taker.leaves_qty -= qty
            taker.cum_qty += qty
            taker.cum_value += qty * price
            leaves, cum = running[maker.order_id]
            leaves, cum = leaves - qty, cum + qty
            running[maker.order_id] = (leaves, cum)
            self.stream.emit_exec(o.EXEC_TRADE, taker, last_qty=qty, last_px=price, comm=taker_side[3],
                            liquidity=o.REMOVED_LIQUIDITY)
            self.stream.emit_exec(o.EXEC_TRADE, maker, last_qty=qty, last_px=price, comm=maker_side[3],
                            liquidity=o.ADDED_LIQUIDITY, leaves=leaves, cum=cum)
            if taker.account >= 0 or maker.account >= 0:
                usd = compute_usd_volume(inst, qty, price, usd_price)
                if taker.account >= 0:
                    taker_account.add_volume(usd, time_ms)
                if maker.account >= 0:
                    maker_account.add_volume(usd, time_ms)
            touched[maker.account] = None
            self.market.record_trade(symbol, price)  # every print is judged by the last-price triggers (ORD-015)
        for maker in {m.order_id: m for m, _, _ in fills}.values():
            ps = self.ledger.accounts[maker.account].positions[symbol]
            if maker.leaves_qty == 0:
                ps.drop_order(maker.order_id)
                if maker.live or maker.order_id in self.registry.live_orders:
                    self.registry.forget(maker)
            elif maker.live:
                ps.put_order(maker.order_id, maker.leaves_qty if maker.is_buy else -maker.leaves_qty, maker.price)
        for maker in dropped:
            self.ledger.accounts[maker.account].positions[symbol].drop_order(maker.order_id)
            if maker.account == taker.account:
                text = "Canceled: self-trade prevention (resting order of the same account)"
            elif maker.order_id in self._insolvent:
                text = FILL_CANCEL_TEXT  # LIQ-044
            else:
                text = "Canceled: ReduceOnly order would have increased the position"
            self.registry.cancel(maker, text, in_book=False)
        for account_id in sorted(touched):
            account = self.ledger.accounts[account_id]
            self.registry.fix_reduce_only(account, inst)
            if account_id >= 0:
                self.registry.touch(account, inst)
                self.risk.emit_position(account_id, symbol)

    def _apply_spot_fills(self, inst: Instrument, taker: Order, fills: list[Fill], dropped: list[Order]) -> None:
        """A spot trade moves the quote value one way and the base amount the other; fees in the quote asset (ACC-010,
        ``rules.position.apply_spot_trade``, at ACC-002's commission on each side's rate)."""
        quote, base = inst.settl_currency, inst.base_currency
        taker_account = self.ledger.accounts[taker.account]
        usd_price = self.market.usd_price(inst)
        totals: dict[int, int] = {}
        for maker, qty, _ in fills:
            totals[maker.order_id] = totals.get(maker.order_id, 0) + qty
        running = {m.order_id: (m.leaves_qty + totals[m.order_id], m.cum_qty - totals[m.order_id]) for m, _, _ in fills}
        for maker, qty, price in fills:
            maker_account = self.ledger.accounts[maker.account]
            taker_rate = self.fee_ppm(taker_account, inst, maker=False)
            maker_rate = self._rates.get(maker.order_id)  # ACC-007, as the sweep's guard decided it
            if maker_rate is None:  # a sweep without a trader's guard: a fee-free liquidation's, where every rate is 0
                maker_rate = self.fee_ppm(maker_account, inst, maker=True)
            buyer, seller = (taker_account, maker_account) if taker.is_buy else (maker_account, taker_account)
            buyer_rate, seller_rate = (taker_rate, maker_rate) if taker.is_buy else (maker_rate, taker_rate)
            trade = apply_spot_trade(inst, qty, price, buyer_rate, seller_rate)  # ACC-010
            buyer.wallets[quote] = buyer.wallet(quote) + trade.buyer_quote
            buyer.wallets[base] = buyer.wallet(base) + trade.buyer_base
            seller.wallets[base] = seller.wallet(base) + trade.seller_base
            seller.wallets[quote] = seller.wallet(quote) + trade.seller_quote
            self.ledger.fees[quote] = self.ledger.fees.get(quote, 0) + trade.fee_pool_delta
            taker_fee, maker_fee = (
                (trade.buyer_commission, trade.seller_commission) if taker.is_buy
                else (trade.seller_commission, trade.buyer_commission)
            )
            taker.leaves_qty -= qty
            taker.cum_qty += qty
            taker.cum_value += qty * price
            leaves, cum = running[maker.order_id]
            running[maker.order_id] = (leaves - qty, cum + qty)
            self.stream.emit_exec(o.EXEC_TRADE, taker, last_qty=qty, last_px=price, comm=taker_fee,
                            liquidity=o.REMOVED_LIQUIDITY)
            self.stream.emit_exec(o.EXEC_TRADE, maker, last_qty=qty, last_px=price, comm=maker_fee,
                            liquidity=o.ADDED_LIQUIDITY, leaves=leaves - qty, cum=cum + qty)
            taker_account.add_volume(compute_usd_volume(inst, qty, price, usd_price), self.stream.time_ms)
            maker_account.add_volume(compute_usd_volume(inst, qty, price, usd_price), self.stream.time_ms)
            self.market.record_trade(inst.symbol, price)
        for maker in {m.order_id: m for m, _, _ in fills}.values():
            if maker.leaves_qty == 0:
                self.registry.forget(maker)
            else:
                self.registry.reserve(maker)
        for maker in dropped:
            if maker.order_id in self._insolvent:
                text = FILL_CANCEL_TEXT  # LIQ-052
            else:
                text = "Canceled: self-trade prevention (resting order of the same account)"
            self.registry.cancel(maker, text, in_book=False)
        for account_id in sorted({taker.account, *(maker.account for maker, _, _ in fills)} if fills else ()):
            if account_id < 0:
                continue
            if account_id == taker.account:  # its reservation is still the whole order's: OrderEntry._enter settles it
                self.risk.dirty[account_id] = None  # the wallets changed: refresh the liquidation index (LIQ-003)
            else:
                self.registry.touch(self.ledger.accounts[account_id], inst)

    @staticmethod
    def _trade(
        kernels: KernelSet | None,
        inst: Instrument,
        taker_buys: bool,
        taker_ps: PositionState,
        maker_ps: PositionState,
        qty: int,
        price: int,
        taker_fee: int,
        maker_fee: int,
    ) -> tuple[tuple[int, ...], tuple[int, ...], int]:
        """ACC-004 for one fill: (qty, cost, realised PnL, commission) of the taker and of the maker, and the fee pool.

        The proved specialised kernel when one is current for ``inst``, else the rule.
        """
        if kernels is not None:
            if taker_buys:
                traded = dispatch.trade(kernels.index, taker_ps.qty, taker_ps.cost, maker_ps.qty, maker_ps.cost, qty, price,
                                       taker_fee, maker_fee)
                return traded[0:4], traded[4:8], traded[8]
            traded = dispatch.trade(kernels.index, maker_ps.qty, maker_ps.cost, taker_ps.qty, taker_ps.cost, qty, price,
                                   maker_fee, taker_fee)
            return traded[4:8], traded[0:4], traded[8]
        if taker_buys:
            effect = apply_trade(inst, taker_ps.position, maker_ps.position, qty, price, taker_fee, maker_fee)
            taker_effect, maker_effect = effect.buyer, effect.seller
        else:
            effect = apply_trade(inst, maker_ps.position, taker_ps.position, qty, price, maker_fee, taker_fee)
            taker_effect, maker_effect = effect.seller, effect.buyer
        return (
            (taker_effect.position.qty, taker_effect.position.cost, taker_effect.realised_pnl, taker_effect.commission),
            (maker_effect.position.qty, maker_effect.position.cost, maker_effect.realised_pnl, maker_effect.commission),
            effect.fee_pool_delta,
        )

    def _apply_side(
        self, account: Account, ps: PositionState, inst: Instrument, side: tuple[int, ...], price: int,
        resting: tuple[int, int] | None = None,
    ) -> None:
        """One side ``(qty, cost, realised PnL, commission)`` of an ACC-004 fill: :meth:`apply_effect`, flat when cross."""
        if ps.leverage != CROSS or account.account_id == LIQUIDATOR:
            position = Position(qty=side[0], cost=side[1])
            self.apply_effect(account, ps, inst, position, side[2] - side[3], side[2], price, resting)
            return
        old_qty = ps.qty
        ps.qty, ps.cost = side[0], side[1]
        asset = inst.settl_currency
        account.wallets[asset] = account.wallets.get(asset, 0) + side[2] - side[3]
        if (old_qty == 0) != (side[0] == 0):
            holders = self.ledger.holders[inst.symbol]
            if side[0] == 0:
                holders.pop(account.account_id, None)
            else:
                holders[account.account_id] = None

    def apply_effect(
        self, account: Account, ps: PositionState, inst: Instrument, position: Position, wallet_delta: int,
        realised: int, price: int | None = None, resting: tuple[int, int] | None = None,
    ) -> None:
        """A trader's position becomes ``position`` and its wallet moves by ``wallet_delta`` (ACC-006 when isolated;
        ``resting``: the maker order the fill takes, ``(order id, signed leaves after it)``)."""
        asset = inst.settl_currency
        old_qty = ps.qty
        if account.account_id == LIQUIDATOR:
            raise AssertionError("the liquidation engine trades only through _liquidator_fill")
        if ps.leverage != CROSS:
            # isolated: ACC-006 (the rule the waterfall model applies to every fill too)
            old = (old_qty, self.risk.isolated_requirement(inst, ps), ps.iso_margin)
            ps.qty, ps.cost = position.qty, position.cost
            ps.iso_margin = isolated_margin_after_fill(
                self.risk, self.market, account, ps, inst, old, wallet_delta, realised, price, resting
            )
        else:
            ps.qty, ps.cost = position.qty, position.cost
        account.wallets[asset] = account.wallet(asset) + wallet_delta
        if (old_qty == 0) != (ps.qty == 0):
            holders = self.ledger.holders[inst.symbol]
            if ps.qty == 0:
                holders.pop(account.account_id, None)
            else:
                holders[account.account_id] = None
