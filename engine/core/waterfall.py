"""The liquidation waterfall: liquidation, close-out in the book, the insurance fund, and ADL.

:class:`Waterfall` runs LIQ-034 after every mark move and funding
(:meth:`Waterfall.run`, as ``rules.waterfall.process_waterfall``): every pool
below maintenance (LIQ-003) is found through the liquidation-price index in
LIQ-033's order and liquidated — its orders cancelled (LIQ-020), its risk
limit lowered and partial FillOrKill reductions tried (LIQ-021/022), else its
positions taken over by the liquidation engine (LIQ-023) with the residual
margin paid to or drawn from the insurance fund (INS-011, the draw capped by
INS-003).  Every close-out still open (a :class:`engine.core.closeout.Pending`) is then worked in
take-over order: in the book while the fund pays (LIQ-024, INS-005: :class:`engine.core.closeout.BookCloseOut`), then by
auto-deleveraging (ADL-020) once the fund no longer covers it (ADL-031) and
the mark has reached its bankruptcy price (ADL-032).

It owns the open close-outs (``pending``), their id counter, the counters in
``stats``, and the waterfall's two settings (the per-update liquidation budget
and the ADL policy).
"""

from __future__ import annotations

from perpspec.engine.core import orders as o
from perpspec.engine.core.accounts import Account
from perpspec.engine.core.adlrank import AdlRanking
from perpspec.engine.core.closeout import BookCloseOut, Pending
from perpspec.engine.core.fills import Fills
from perpspec.engine.core.ledger import Ledger
from perpspec.engine.core.market import Market, is_expired, is_spot
from perpspec.engine.core.orders import Order
from perpspec.engine.core.registry import OrderRegistry
from perpspec.engine.core.risk import Risk
from perpspec.engine.core.stream import EventStream
from perpspec.rules.adl import (
    POLICIES,
    AdlCandidate,
    AdlPolicy,
    RankedQueuePolicy,
    compute_fund_cover,
    compute_haircut,
    compute_held_pnl,
    is_adl_due,
    is_adl_eligible,
)
from perpspec.rules.contract import compute_value
from perpspec.rules.events import (
    AdlDeferred,
    AdlFill,
    AdlShortfall,
    Liquidation,
    OrdersCancelled,
    PartialLiquidation,
    PositionSnapshot,
    RiskLimitLowered,
    TakenOverPosition,
    WaterfallCarried,
)
from perpspec.rules.instrument import Instrument
from perpspec.rules.insurance import compute_draw
from perpspec.rules.liquidation import (
    compute_cover_takeover_price,
    compute_fitting_tier,
    compute_owing_cover_takeover_price,
    compute_owing_takeover_price,
    compute_partial_plan,
    compute_pool_residual,
    compute_position_equity_term,
    compute_requirement,
    compute_takeover_price,
)
from perpspec.rules.liquidation_working import compute_next_age
from perpspec.rules.margin import CROSS
from perpspec.rules.position import Position, apply_fill
from perpspec.rules.risk_limit import compute_tier_limit


class Waterfall:
    """Liquidation, close-outs, the insurance fund's part and ADL."""

    def __init__(
        self,
        market: Market,
        ledger: Ledger,
        risk: Risk,
        registry: OrderRegistry,
        fills: Fills,
        closeout: BookCloseOut,
        stream: EventStream,
        *,
        max_liquidations_per_update: int,
        adl_policy: str,
    ) -> None:
        self.market = market
        self.ledger = ledger
        self.risk = risk
        self.registry = registry
        self.fills = fills
        self.closeout = closeout
        self.stream = stream
        self.pending: list[Pending] = []
        self.next_pending_id = 0
        self.stats: dict[str, int] = {}
        self.max_liquidations_per_update = max_liquidations_per_update
        self.adl_policy_name = adl_policy

    def run(self, inst: Instrument, *, unbounded: bool = False) -> None:
        """LIQ-034 after a mark move or funding: liquidate every pool due (found through the index), close out, ADL.

        Each round, as rules.waterfall.process_waterfall: first every pool below maintenance
        at mark is liquidated, in LIQ-033's order (:meth:`_due_pools`: the contract whose mark
        moved first, then the others by symbol; in each, the index's order), then every
        close-out still open is worked in take-over order (pending id), the book first,
        then ADL (:meth:`_close_pending`).  Another round follows one that liquidated a pool, or one
        whose close-outs changed accounts when a pool is then due.  Each contract costs one index
        query per round; the work (liquidated pools) is bounded by ``max_liquidations_per_update`` in all.
        Where that budget runs out, the pools still due wait for the next update (:meth:`_carry`).
        ``unbounded`` (a FundingTick's waterfall, FND-020): the budget is every pool that exists (each account's
        cross pool and one per contract; a pool taken over has its orders cancelled and cannot be taken again in
        this run), so every pool due is taken over and nothing is carried (redteam27_2: one fill into many stale
        bids left more due pools than one budget, and each refused tick let a holder close before its funding).
        """
        self._note_flat()
        marks = self.market.marks
        for held in self.pending:  # LIQ-050: a close-out's age counts the waterfalls the mark spent at its price
            held.age = compute_next_age(held.age, held.qty, held.takeover_price, marks[held.symbol])
        self.risk.refresh_index()
        order = [inst.symbol, *(s for s in sorted(self.market.marks) if s != inst.symbol)]
        self._rounds(inst.symbol, order, self._every_pool() if unbounded else self.max_liquidations_per_update, None)

    def take_over(self, accounts: list[int]) -> bool:
        """LIQ-034 at a trade: take over every pool of ``accounts`` (those the command's fills touched) below maintenance
        at mark, then work the close-outs as a waterfall does; False (nothing done) when none is due.

        No per-update budget and no carry: each later round liquidates only pools of accounts the round before
        changed (the makers its close-outs filled, ADL), so every pool liquidated was touched by a fill of this
        command and the work stays proportional to the command's fills; the bound of every pool that exists
        (:meth:`_every_pool`) only guarantees the end.  The marks have not moved: no held close-out is a waterfall
        older (LIQ-050), and the command's waterfall stays complete only if a mark update's completed and nothing
        is held after.
        """
        order = sorted(self.market.marks)
        due = self._due_among(accounts, order)
        if not due:
            return False
        self._note_flat()
        complete = self.stream.waterfall_complete
        # the close-outs held before this take-over are the next update's to work, as before trades took pools over:
        # a take-over works the close-outs it makes (redteam30_1: every held close-out of the exchange, re-worked)
        self.stream.take_over_stuck.update(held.pending_id for held in self.pending)
        self._rounds("", order, self._every_pool(), due)
        self.stream.waterfall_complete = complete and self.stream.waterfall_complete and not self.pending
        return True

    def _note_flat(self) -> None:
        """INV-FLAT-NO-SOCIAL-LOSS is about the waterfall: who is flat when the command's first one starts (once per
        command: a later run's snapshot would list an account an earlier run deleveraged flat: redteam27_4)."""
        stream = self.stream
        if stream.track_steps and not stream.replaying and not stream.flat_at_waterfall:
            stream.flat_before, stream.flat_at_waterfall = self.ledger.flat_accounts(None), True

    def _every_pool(self) -> int:
        """A budget of every pool that exists (each account's cross pool and one per contract): a pool taken over has
        its orders cancelled and cannot be taken again in the run, so a run with it stops only when none is due."""
        return max(self.max_liquidations_per_update, len(self.ledger.accounts) * (len(self.market.instrument_map) + 1))

    def _due_among(self, accounts: list[int], order: list[str]) -> list[tuple[int, str]]:
        """The pools of ``accounts`` (ascending, each once) below maintenance at mark (LIQ-003), in LIQ-033's order
        (the contracts in ``order``; in each, the index's: longs from the highest trigger down, then shorts from the
        lowest up, ties by account); a cross pool where it is first found.  Reads each account's pools (no index
        query); the index is refreshed only when one is due (for its order)."""
        # the pools due, in the order they are first found: accounts ascending, each one's positions by symbol.  An
        # isolated pool is one position, found once; a cross pool is found once per account and settlement currency
        # (the ``cross:<currency>`` of Risk.pool_key, without building its string: speed21)
        due: list[tuple[int, list[str]]] = []
        ledger_accounts = self.ledger.accounts
        marks = self.market.marks
        instruments = self.market.instrument_map
        risk = self.risk
        for account_id in accounts:
            account = ledger_accounts.get(account_id)
            if account is None or account_id < 0:
                continue
            positions = account.positions
            crossed: list[str] = []  # the settlement currencies of the cross pools already read
            for symbol in sorted(positions) if len(positions) > 1 else positions:
                ps = positions[symbol]
                if ps.qty == 0 or symbol not in marks:
                    continue
                if ps.leverage == CROSS:
                    currency = instruments[symbol].settl_currency
                    if currency in crossed:
                        continue
                    crossed.append(currency)
                _, equity, maintenance, members = risk.pool_of(account, symbol)
                if members and risk.is_liquidatable(equity, maintenance):
                    due.append((account_id, members))
        if not due:
            return []
        self.risk.refresh_index()
        rank = {symbol: index for index, symbol in enumerate(order)}
        keys = []
        for account_id, members in due:
            found = []
            for member in members:
                entry = self.risk.liq.entries.get((account_id, member))
                if entry is not None and member in rank:
                    is_long, trigger = entry
                    found.append((rank[member], 0 if is_long else 1, -trigger if is_long else trigger, account_id, member))
            if found:
                keys.append(min(found))
        return [(key[3], key[4]) for key in sorted(keys)]

    def _rounds(self, symbol: str, order: list[str], budget: int, among: list[tuple[int, str]] | None) -> None:
        """The rounds of :meth:`run` (``among`` None) or :meth:`take_over` (``among``: the first round's pools; each
        later round's, the pools due of the accounts the round before changed)."""
        # close-outs left open in this update: retried on the next one (as rules.waterfall); a take-over after trades
        # shares the command's set, so K stops chained by its close-outs' prints do not re-work every held close-out
        # K times (redteam30_1: K x H^2 in one PlaceOrder); the marks do not move within a command
        stuck: set[int] = self.stream.take_over_stuck if among is not None else set()
        # this waterfall's ADL rankings: the marks do not move while it runs, and every account it changes is
        # marked in ``self.risk.dirty`` until the index refresh that ends a round; the ranking is told those
        # accounts before each refresh (and in each ADL), so it re-reads exactly them and is built once per pass
        ranking = AdlRanking()
        due: list[tuple[int, str]] | None = among  # the next round's pools, when already found
        while True:
            # rules.waterfall step 3: close-out fills (and partial liquidations' FillOrKill orders) can take
            # a maker below maintenance, even to negative equity when its bid rested far above a falling
            # mark; the index re-checks every touched account, so a round that liquidated anything is
            # followed by another, and so is a round that liquidated nothing but changed an account (a close-out
            # carried over from an earlier update filled a maker, or ADL closed a position) when the index
            # then finds a pool due (attack review 3: such a maker was left bankrupt until the next update).
            # Each further round starts with a pool due, found just before it, so it liquidates at least one:
            # at most ``max_liquidations_per_update`` further rounds, the same bound on work.
            round_start = budget
            for account_id, symbol in self._due_pools(order) if due is None else due:
                if budget == 0:
                    break
                account = self.ledger.accounts[account_id]
                _, equity, maintenance, members = self.risk.pool_of(account, symbol)
                if not self.risk.is_liquidatable(equity, maintenance) or not members:
                    continue  # LIQ-031 re-checks: an earlier liquidation's fills may have restored it
                budget -= 1
                self._liquidate(account, symbol)
            self._close_pending(stuck, ranking)
            changed = self.risk.dirty  # the accounts changed in this round (their index entries are stale)
            ranking.note(changed)  # changed in this round: forgotten by the refresh below
            self.risk.refresh_index()
            if budget == 0:
                break
            if among is not None:  # a take-over: only the pools of the accounts this round changed
                due = self._due_among(sorted(changed), order)
                if not due:
                    break
                continue
            due = None
            if budget == round_start:
                due = self._due_pools(order) if changed else []
                if not due:
                    break
        carried = self._carry(symbol or order[0], order) if budget == 0 else []
        if carried:
            self.stream.waterfall_complete = False  # LIQ-034: cut by the budget (another contract's may have completed)
        elif not self.pending:
            self.stream.waterfall_complete = True

    def _carry(self, symbol: str, order: list[str]) -> list[tuple[int, str]]:
        """LIQ-034: the budget is spent: the pools still due wait for the next update, named by a record.

        As rules.waterfall.process_waterfall: found once the round's close-outs are worked (the index is fresh),
        in LIQ-033's order; none left due, no record (the waterfall is complete, whatever its budget).
        """
        carried = self._due_pools(order)
        if carried:
            pools = tuple(self.risk.pool_key(self.ledger.accounts[a], member) for a, member in carried)
            record = WaterfallCarried(
                rule_id="LIQ-034", symbol=symbol, max_liquidations=self.max_liquidations_per_update,
                pools_due=len(carried), account_ids=tuple(account_id for account_id, _ in carried), pools=pools,
            )
            self.stream.emit_rule(record, -1, symbol)
        return carried

    def _due_pools(self, order: list[str]) -> list[tuple[int, str]]:
        """LIQ-033 through the index: every pool below maintenance at mark, as (account, a symbol of the pool).

        The contracts in ``order``; in each, the index's candidates — longs from the highest
        liquidation price down, then shorts from the lowest up, ties by account — confirmed
        by LIQ-003 on the pool; a cross pool with positions in several contracts is taken
        where it is first found.  One query per contract, ``O(log n + k)``: no scan.
        """
        due: list[tuple[int, str]] = []
        found: dict[tuple[int, str], None] = {}
        for symbol in order:
            for account_id, _ in self.risk.liq.candidates(symbol, self.market.marks[symbol]):
                account = self.ledger.accounts[account_id]
                ps = account.positions.get(symbol)
                if ps is None or ps.qty == 0:
                    continue
                pool = (account_id, self.risk.pool_key(account, symbol))
                if pool in found:
                    continue
                _, equity, maintenance, members = self.risk.pool_of(account, symbol)
                if not self.risk.is_liquidatable(equity, maintenance) or not members:
                    continue
                found[pool] = None
                due.append((account_id, symbol))
        return due

    def _liquidate(self, account: Account, symbol: str) -> None:
        """LIQ-023: cancel the pool's orders, take its positions over (the largest at its bankruptcy price).

        The others at mark, or beyond it as far as the pool's deficit needs (LIQ-035), as rules.waterfall._take_over.
        """
        inst = self.market.instrument_map[symbol]
        _, _, _, members = self.risk.pool_of(account, symbol)
        self._cancel_pool_orders(account, symbol, members)
        if self._partially_liquidate(account, symbol):
            self.registry.touch(account, inst)
            return
        margin, equity, maintenance, members = self.risk.pool_of(account, symbol)
        if not members:
            return
        snapshot = self._snapshot(account, members)
        primary, residual, taken = self._take_over(account, members, margin, equity)
        self.stream.emit_rule(
            Liquidation(
                rule_id="LIQ-023", account_id=account.account_id,
                pool=("isolated:" + symbol) if account.positions[symbol].leverage != CROSS else "cross:" + inst.settl_currency,
                currency=inst.settl_currency, pool_margin=margin, positions=snapshot, equity=equity,
                maintenance=maintenance, taken=tuple(taken), residual_margin=residual,
            ),
            account.account_id,
            symbol,
        )
        asset = inst.settl_currency
        if residual >= 0:
            amount = residual
        else:
            amount = -self._insurance_draw(asset, -residual)
        if amount != 0:
            account.wallets[asset] = account.wallet(asset) - amount
            self.ledger.fund_move(asset, amount, "residual" if amount > 0 else "draw", primary, -1, "INS-011")
        self.stats["liquidations"] = self.stats.get("liquidations", 0) + 1
        self.registry.touch(account, inst)

    def _cancel_pool_orders(self, account: Account, symbol: str, members: list[str]) -> None:
        """LIQ-020: cancel the orders of the pool holding ``symbol`` (reported per contract)."""
        inst = self.market.instrument_map[symbol]
        # LIQ-020: an isolated pool's orders in its contract; a cross pool's orders in every contract
        # settled in its currency (their margin came from the same balance, which the pool now loses)
        if account.positions[symbol].leverage != CROSS:
            order_symbols = [symbol]
        else:
            currency = inst.settl_currency
            order_symbols = sorted(
                {
                    self.registry.live_orders[i].symbol
                    for i in account.orders
                    if self.market.instrument_map[self.registry.live_orders[i].symbol].settl_currency == currency
                    and not is_spot(self.market.instrument_map[self.registry.live_orders[i].symbol])
                }
                | set(members)
            )
        for member in order_symbols:
            open_qty = 0
            for order_id in sorted(account.orders):
                order = self.registry.live_orders[order_id]
                if order.symbol == member:
                    open_qty += order.leaves_qty
                    self.registry.cancel(order, "Canceled: liquidation")
            if open_qty:
                self.stream.emit_rule(
                    OrdersCancelled(
                        rule_id="LIQ-020", account_id=account.account_id, symbol=member, open_order_qty=open_qty,
                        reason="liquidation",
                    ),
                    account.account_id,
                    member,
                )

    def _take_over(
        self, account: Account, members: list[str], margin: int, equity: int
    ) -> tuple[str, int, list[TakenOverPosition]]:
        """LIQ-023/035: the liquidation engine takes the pool's positions over; (primary symbol, residual, taken)."""
        ranked = []
        for member in members:
            mps = account.positions[member]
            minst = self.market.instrument_map[member]
            req = compute_requirement(minst, mps.position, mps.leverage, mps.chosen_tier)
            ranked.append((-req.pos_maint, member, req.pos_comm))
        ranked.sort()
        _, primary, primary_comm = ranked[0]
        pps = account.positions[primary]
        pinst = self.market.instrument_map[primary]
        own_term = compute_position_equity_term(pinst, pps.position, self.market.marks[primary])  # LIQ-004
        # LIQ-036 for a pool of one position (beyond the price range when it already owes), else LIQ-005
        takeover = compute_owing_takeover_price if len(ranked) == 1 else compute_takeover_price
        bankruptcy = takeover(pinst, pps.position, equity - own_term, primary_comm)
        residual = margin
        taken = []
        terms = {}  # LIQ-035: each position's unrealised PnL at mark (LIQ-004's equity term)
        for _, member, _ in ranked:
            mps = account.positions[member]
            terms[member] = compute_position_equity_term(
                self.market.instrument_map[member], mps.position, self.market.marks[member]
            )
        for index, (_, member, _) in enumerate(ranked):
            mps = account.positions[member]
            minst = self.market.instrument_map[member]
            later = sum(terms[other] for _, other, _ in ranked[index + 1 :])  # the positions still to take, at mark
            # LIQ-035 for the others; the last one taken over absorbs what the range could not (LIQ-037)
            cover = compute_owing_cover_takeover_price if index == len(ranked) - 1 else compute_cover_takeover_price
            price = bankruptcy if member == primary else cover(minst, mps.position, residual + later, self.market.marks[member])
            qty, cost = mps.qty, mps.cost
            # the position as the liquidation engine takes it over: its state and its prices (then the flat row)
            self.risk.emit_position(account.account_id, member)
            residual = compute_pool_residual(minst, qty, cost, residual, price)
            position, realised = apply_fill(minst, mps.position, -qty, price)
            liq_position, _ = apply_fill(minst, Position(), qty, price)
            asset = minst.settl_currency
            account.wallets[asset] = account.wallet(asset) + realised
            mps.qty, mps.cost, mps.iso_margin = position.qty, position.cost, 0
            self.ledger.holders[member].pop(account.account_id, None)
            pending = Pending(self.next_pending_id, account.account_id, member, qty, liq_position.cost, price)
            self.next_pending_id += 1
            self.pending.append(pending)
            taken.append(
                TakenOverPosition(symbol=member, qty=qty, cost=cost, takeover_price=price, pending_id=pending.pending_id)
            )
            self.risk.emit_position(account.account_id, member)
        return primary, residual, taken

    def _insurance_draw(self, asset: str, deficit: int) -> int:
        """INS-003: what the fund pays towards a pool's ``deficit``: as far as its (non-negative) balance reaches."""
        return compute_draw(self.ledger.insurance_funds.get(asset, 0), deficit)

    def _snapshot(self, account: Account, members: list[str]) -> tuple[PositionSnapshot, ...]:
        """The pool's positions as the liquidation records show them (at the current marks)."""
        return tuple(
            PositionSnapshot(
                symbol=m,
                qty=account.positions[m].qty,
                cost=account.positions[m].cost,
                leverage_hundredths=account.positions[m].leverage,
                chosen_tier=account.positions[m].chosen_tier,
                mark_price=self.market.marks[m],
            )
            for m in members
        )


    def _partially_liquidate(self, account: Account, symbol: str) -> bool:
        """LIQ-021/022: lower risk limits, then FillOrKill reductions one tier at a time; True when that sufficed."""
        pool_key = self.risk.pool_key(account, symbol)
        _, _, _, members = self.risk.pool_of(account, symbol)
        for member in members:  # LIQ-021: the chosen risk limit down to what the position fits
            mps = account.positions[member]
            minst = self.market.instrument_map[member]
            fitting = compute_fitting_tier(minst, abs(mps.cost))
            if fitting < mps.chosen_tier:
                _, equity, before, _ = self.risk.pool_of(account, symbol)
                from_tier = mps.chosen_tier
                mps.chosen_tier = fitting
                mps.risk_limit = compute_tier_limit(minst, fitting)
                _, _, after, _ = self.risk.pool_of(account, symbol)
                self.stream.emit_rule(
                    RiskLimitLowered(
                        rule_id="LIQ-021", account_id=account.account_id, symbol=member, from_tier=from_tier,
                        to_tier=fitting, gross_value=abs(mps.cost), equity=equity, maintenance_before=before,
                        maintenance_after=after,
                    ),
                    account.account_id,
                    member,
                )
        for _ in range(16):  # LIQ-022: one tier at a time
            margin, equity, maintenance, members = self.risk.pool_of(account, symbol)
            if not self.risk.is_liquidatable(equity, maintenance):
                return True
            candidates = []
            for member in members:
                mps = account.positions[member]
                minst = self.market.instrument_map[member]
                if is_expired(minst, self.stream.time_ms):
                    continue  # an expired future's book trades no more (entry's CONTRACT_EXPIRED): no reduction there
                req = compute_requirement(minst, mps.position, mps.leverage, mps.chosen_tier)
                if req.steps > 0:
                    candidates.append((-req.pos_maint, member, req))
            if not candidates:
                return False
            _, member, req = min(candidates, key=lambda item: (item[0], item[1]))
            mps = account.positions[member]
            minst = self.market.instrument_map[member]
            plan = compute_partial_plan(
                minst, mps.position, mps.leverage, req.steps, equity, maintenance - req.pos_maint, self.market.marks[member]
            )
            snapshot = self._snapshot(account, members)
            qty = abs(plan.close_qty)
            is_buy = plan.close_qty < 0  # closing a short buys
            fills: list[tuple[int, int]] = []
            filled = False
            if plan.feasible and qty > 0 and self.market.books[member].can_fill(
                is_buy, plan.limit_price, qty, account.account_id
            ):
                filled, fills = self._fill_or_kill(account, minst, is_buy, qty, plan.limit_price)
                if filled:
                    mps.chosen_tier = plan.new_tier
                    mps.risk_limit = compute_tier_limit(minst, plan.new_tier)
                    self.stats["partial_liquidations"] = self.stats.get("partial_liquidations", 0) + 1
            _, _, maintenance_after, _ = self.risk.pool_of(account, symbol)
            self.stream.emit_rule(
                PartialLiquidation(
                    rule_id="LIQ-022", account_id=account.account_id, pool=pool_key, symbol=member,
                    mark_price=self.market.marks[member], equity=equity, maintenance=maintenance, pool_margin=margin,
                    positions=snapshot, close_qty=plan.close_qty, limit_price=plan.limit_price, filled=filled,
                    fills=tuple(fills), from_tier=req.steps, to_tier=plan.new_tier,
                    maintenance_after=maintenance_after,
                ),
                account.account_id,
                member,
            )
            if not filled:
                return False
        _, equity, maintenance, _ = self.risk.pool_of(account, symbol)  # LIQ-031: the check after the sixteenth
        return not self.risk.is_liquidatable(equity, maintenance)


    def _fill_or_kill(
        self, account: Account, inst: Instrument, is_buy: bool, qty: int, limit_price: int
    ) -> tuple[bool, list[tuple[int, int]]]:
        """LIQ-022's reduction: a fee-free FillOrKill order of the account's; (filled in full, its fills).

        Killed unless the sweep would fill it in full with every maker judged by the sweep's own guard
        (``Fills.can_fill``, a dry run): the book's quantity alone counts makers LIQ-054 / LIQ-053 refuse,
        and a sweep that met one filled the order in part and then took the account over (a FillOrKill
        partly filled, and a pool the part had brought back above maintenance taken over all the same:
        tests/test_partial_liquidation_refused_maker.py).  A killed reduction places no order.
        """
        order = Order(
            order_id=self.registry.next_order_id, account=account.account_id, symbol=inst.symbol, is_buy=is_buy,
            price=limit_price, order_qty=qty, time_in_force=o.FILL_OR_KILL, time_ms=self.stream.time_ms,
        )
        self.fills.fee_free = True
        try:
            if not self.fills.can_fill(account, inst, order, limit_price):
                return False, []
            self.registry.next_order_id += 1
            self.registry.live_orders[order.order_id] = order
            account.orders[order.order_id] = order
            self.stream.emit_exec(o.EXEC_NEW, order, text="Liquidation: partial (FillOrKill)")
            fills = self.fills.sweep(account, inst, order, limit_price)
        finally:
            self.fills.fee_free = False
        self.registry.forget(order)
        return order.leaves_qty == 0, fills

    def _close_pending(self, stuck: set[int], ranking: AdlRanking) -> None:
        """LIQ-032 for everything the liquidation engine holds, in take-over order: the book while the fund pays, then ADL.

        What the book leaves is deleveraged (ADL-020) only when ADL-032 (``is_adl_due``) says so: the fund's
        cover (ADL-031) is < 0 and the mark has reached the close-out's bankruptcy price.  A close-out in
        profit at mark is kept however deep the cover (session 16, red team 15: deleveraging it at its
        bankruptcy price handed the held profit to the opposing trader, a negative haircut).

        A close-out left open (deferred by ADL-031, or with no eligible ADL taker) joins ``stuck`` and
        is not retried by a later round of the same update, only by the next update.

        A close-out in a dated future past its expiry does not meet the book: no trade after expiry (its
        resting orders are stale: SET-001's price is fixed by the window ending at expiry, and order entry
        refuses every trade then).  It is held for settlement (SET-003 closes it at the settlement price
        into the fund) while the fund covers what is held (ADL-031) or the mark has not reached its
        bankruptcy price (ADL-032), else auto-deleveraged at that price (ADL-020) as any close-out the book
        did not take (session 14, red team 7).
        """
        for pending in [p for p in self.pending if p.pending_id not in stuck]:
            inst = self.market.instrument_map[pending.symbol]
            if not is_expired(inst, self.stream.time_ms):
                # ADL-031 as the waterfall found it: a refusal in the book widens no limit (LIQ-051)
                self.closeout.close_in_book(inst, pending, self._fund_cover(inst.settl_currency))
            if pending.qty == 0:
                continue
            stuck.add(pending.pending_id)
            cover = self._fund_cover(inst.settl_currency)
            mark = self.market.marks[inst.symbol]
            if not is_adl_due(pending.qty, pending.takeover_price, mark, cover):
                # ADL-031: the fund still covers what is held at mark; ADL-032: or the mark has not reached this
                # one's bankruptcy price (in profit at mark, closing it at that price would give the profit away)
                self.stream.emit_rule(
                    AdlDeferred(
                        rule_id="ADL-031" if cover >= 0 else "ADL-032", pending_id=pending.pending_id, symbol=inst.symbol,
                        unfilled_qty=abs(pending.qty), bankruptcy_price=pending.takeover_price,
                        mark_price=mark,
                        fund_balance=self.ledger.insurance_funds.get(inst.settl_currency, 0), fund_cover=cover,
                    ),
                    -1,
                    inst.symbol,
                )
                continue
            self._adl(inst, pending, ranking)
        self.pending = [p for p in self.pending if p.qty != 0]

    def _fund_cover(self, asset: str) -> int:
        """ADL-031: the fund plus the PnL at mark of everything the liquidation engine holds in ``asset``."""
        pnls = []
        for held in self.pending:
            inst = self.market.instrument_map[held.symbol]
            if inst.settl_currency == asset and held.qty != 0:
                pnls.append(compute_held_pnl(inst, held.qty, held.takeover_price, self.market.marks[held.symbol]))
        return compute_fund_cover(self.ledger.insurance_funds.get(asset, 0), pnls)

    def adl_row(self, inst: Instrument, longs: bool, account_id: int) -> AdlCandidate | None:
        """A holder's position in ``inst`` as ADL ranks it, when it is on the ``longs`` side (else None)."""
        symbol = inst.symbol
        if account_id < 0 or account_id not in self.ledger.holders[symbol]:
            return None
        account = self.ledger.accounts[account_id]
        ps = account.positions.get(symbol)
        if ps is None or ps.qty == 0 or (ps.qty > 0) != longs:
            return None
        mark_value = compute_value(inst, ps.qty, self.market.marks[symbol])
        return AdlCandidate(
            account_id=account_id, qty=ps.qty, cost=ps.cost,
            pool_equity=self.risk.pool_equity(account, symbol, mark_value), mark_value=mark_value,
        )

    def _adl_ranked(self, inst: Instrument, pending: Pending, policy: AdlPolicy, ranking: AdlRanking) -> list[AdlCandidate]:
        """ADL-003 and ADL-005: the eligible opposing positions in ranking order, as far as ``policy`` reads them.

        The ranked queue (ADL-010) closes the first ones in full until covered, so the walk down
        the ranking stops there; any other policy gets every eligible position.  The ranking is
        the waterfall's (engine.core.adlrank), brought up to date with the accounts touched since.
        """
        symbol = inst.symbol
        mark = self.market.marks[symbol]
        bankruptcy = pending.takeover_price
        longs = pending.qty < 0  # a taken-over short is closed against longs
        lots = abs(pending.qty) // inst.lot_size
        prefix_only = isinstance(policy, RankedQueuePolicy)
        ranking.note(self.risk.dirty)
        ranked: list[AdlCandidate] = []
        covered = 0
        rows = ranking.ranked(symbol, longs, self.ledger.holders[symbol], lambda account_id: self.adl_row(inst, longs, account_id))
        for candidate in rows:
            if not is_adl_eligible(inst, candidate.qty, candidate.cost, candidate.pool_equity, mark, pending.qty, bankruptcy):
                continue
            ranked.append(candidate)
            covered += abs(candidate.qty) // inst.lot_size
            if prefix_only and covered >= lots:
                break
        return ranked

    def _adl(self, inst: Instrument, pending: Pending, ranking: AdlRanking) -> None:
        """ADL-020: close the rest against ranked, eligible opposing positions at the bankruptcy price."""
        symbol = inst.symbol
        mark = self.market.marks[symbol]
        policy: AdlPolicy = POLICIES[self.adl_policy_name]
        ranked = self._adl_ranked(inst, pending, policy, ranking)
        lots = abs(pending.qty) // inst.lot_size
        allocation = policy.allocate([abs(c.qty) // inst.lot_size for c in ranked], lots)
        unfilled = abs(pending.qty)
        asset = inst.settl_currency
        for rank, (candidate, take) in enumerate(zip(ranked, allocation, strict=True)):
            if take == 0:
                continue
            account = self.ledger.accounts[candidate.account_id]
            for order_id in sorted(account.orders):
                order = self.registry.live_orders[order_id]
                if order.symbol == symbol:
                    self.registry.cancel(order, "Canceled: auto-deleveraging")
            close_qty = (take if candidate.qty > 0 else -take) * inst.lot_size
            ps = account.positions[symbol]
            price = pending.takeover_price
            position, realised = apply_fill(inst, ps.position, -close_qty, price)
            self.fills.apply_effect(account, ps, inst, position, realised, realised)
            liq_position, liq_realised = apply_fill(inst, Position(qty=pending.qty, cost=pending.cost), close_qty, price)
            pending.qty, pending.cost = liq_position.qty, liq_position.cost
            if liq_realised != 0:
                self.ledger.fund_move(asset, liq_realised, "surplus" if liq_realised > 0 else "draw", symbol,
                                pending.pending_id, "INS-005")
            _, equity_after, _, _ = self.risk.pool_of(account, symbol)
            score = candidate.score
            self.stream.emit_rule(
                AdlFill(
                    rule_id="ADL-020", policy=policy.name, pending_id=pending.pending_id, symbol=symbol,
                    account_id=candidate.account_id, rank=rank, position_qty=candidate.qty,
                    position_cost=candidate.cost, pool_equity=candidate.pool_equity, score_num=score.num,
                    score_den=score.den, close_qty=close_qty, price=price, mark_price=mark,
                    haircut=compute_haircut(inst, close_qty, mark, price), unfilled_before=unfilled,
                    unfilled_after=unfilled - abs(close_qty), equity_after=equity_after,
                ),
                candidate.account_id,
                symbol,
            )
            unfilled -= abs(close_qty)
            self.registry.fix_reduce_only(account, inst)
            self.registry.touch(account, inst)
            self.risk.emit_position(candidate.account_id, symbol)
            self.stats["adl_fills"] = self.stats.get("adl_fills", 0) + 1
        if unfilled > 0:
            self.stream.emit_rule(
                AdlShortfall(
                    rule_id="ADL-021", pending_id=pending.pending_id, symbol=symbol, unfilled_qty=unfilled,
                    bankruptcy_price=pending.takeover_price, eligible_count=len(ranked),  # all: the walk was not cut short
                ),
                -1,
                symbol,
            )
            self.stream.waterfall_complete = False
