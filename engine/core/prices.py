"""Prices, funding and settlement: the commands that move every position of a contract at once.

:class:`Prices` handles PriceUpdate (new mark and/or index price: triggers
fire, then the liquidation waterfall runs when the mark moved), FundingTick
(each instant paid once, FND-021, the paid ones in ``Market.funded``; FND-008 through ``rules.funding.compute_funding_exchange``; the liquidation
engine's share paid by the insurance fund, never beyond it: FND-019) and Settle
(SET-003/004/005: a dated future's positions closed at the settlement price).
It owns no state of its own (the prices and paid instants live in :class:`engine.core.market.Market`).
"""

from __future__ import annotations

from perpspec.engine.core import commands as cmd
from perpspec.engine.core import orders as o
from perpspec.engine.core.entry import OrderEntry
from perpspec.engine.core.events import Execution, Reason
from perpspec.engine.core.fills import Fills
from perpspec.engine.core.ledger import LIQUIDATOR, Ledger
from perpspec.engine.core.market import Market, is_spot
from perpspec.engine.core.registry import OrderRegistry
from perpspec.engine.core.rejects import Rej, field_values, first_wrong_type, is_int
from perpspec.engine.core.risk import Risk
from perpspec.engine.core.stream import EventStream
from perpspec.engine.core.waterfall import Waterfall
from perpspec.rules.funding import (
    check_funding_instant,
    check_funding_ready,
    compute_cap_abs_e8,
    compute_funding_exchange,
    compute_liquidator_funding,
)
from perpspec.rules.instrument import Instrument
from perpspec.rules.margin import CROSS
from perpspec.rules.position import Position, apply_fill
from perpspec.rules.settlement import (
    check_settlement_ready,
    compute_position_settlement,
    compute_settlement_fee_charged,
    compute_settlement_shortfall,
)


class Prices:
    """PriceUpdate, FundingTick and Settle."""

    def __init__(
        self,
        market: Market,
        ledger: Ledger,
        risk: Risk,
        registry: OrderRegistry,
        fills: Fills,
        entry: OrderEntry,
        waterfall: Waterfall,
        stream: EventStream,
    ) -> None:
        self.market = market
        self.ledger = ledger
        self.risk = risk
        self.registry = registry
        self.fills = fills
        self.entry = entry
        self.waterfall = waterfall
        self.stream = stream

    def price_update(self, c: cmd.PriceUpdate) -> Rej | int:
        """PriceUpdate: store the prices, fire the triggers, and after a mark move run the waterfall."""
        inst = self.market.instrument(c.symbol)
        if isinstance(inst, Rej):
            return inst
        if c.mark_price is None and c.index_price is None:
            return Rej(Reason.MALFORMED, "mark_price or index_price required")
        for value in (c.mark_price, c.index_price):
            if value is not None and (not is_int(value) or value <= 0 or value > inst.max_price):
                return Rej(Reason.INVALID_PRICE, "prices must be integers in (0, maxPrice]")
        if c.index_price is not None:
            self.market.index_prices[inst.symbol] = c.index_price
        if c.mark_price is not None:
            self.market.marks[inst.symbol] = c.mark_price
            for account_id in self.risk.multi:
                self.risk.dirty[account_id] = None
        self.entry.run_triggers(inst)
        if c.mark_price is not None:
            self._waterfall(inst)
        return 0

    def _waterfall(self, inst: Instrument, *, unbounded: bool = False) -> None:
        """The liquidation waterfall of ``inst``; its close-outs and partial liquidations trade in the books (of every
        contract a taken-over pool holds), so the last prices move and the stops that watch them fire, as after any
        trade (BitMEX's liquidation orders are book orders: red team 5, a due LastPrice stop waited for the next
        PriceUpdate; review8_2, in the pool's other contracts too), contract by contract in symbol order.  Every
        contract that printed runs them, its last price moved or not: two close-outs can trade through a stop and
        back (red team 7_2), and a run judges every print (``Market.prints``)."""
        market = self.market
        self.take_over_filled()  # the pools the command's own trades left due first: their work is the trades', not the mark's
        self.waterfall.run(inst, unbounded=unbounded)  # it takes over pools holding other contracts too: their close-outs trade there
        self.stream.filled.clear()  # its fills' makers were judged by its own rounds (LIQ-034's budget)
        for symbol in sorted(market.prints):
            self.entry.after_trading(market.instrument_map[symbol])
        self.take_over_filled()  # the stops its prints fired traded

    def take_over_filled(self) -> None:
        """LIQ-034 at a trade: every pool of an account a trade of this command filled (taker or maker) that is below
        maintenance at mark is taken over now, at the current marks, before the command returns (BitMEX's
        liquidation engine takes a pool over at once; a fill at a stale price leaves a maker between bankruptcy and
        maintenance with no mark update: redteam24_1, redteam27_2/3, where 200 such pools made by one sell took three
        updates' budgets and the trader due behind them kept its position).

        The trades are the command's fills not yet judged (``EventStream.filled``, their accounts: a waterfall's own
        fills are judged by its rounds); the take-over is :meth:`Waterfall.take_over` (no per-update budget: it
        liquidates only pools of accounts this command's fills, or its own close-outs, changed).  Its close-outs print, the stops
        watching the prints fire (as after any waterfall) and their fills are judged in turn: each turn liquidates at
        least one pool or fires at least one stop, so the loop ends.
        """
        stream = self.stream
        while stream.filled:
            filled = sorted(stream.filled)
            stream.filled.clear()
            if not self.waterfall.take_over(filled):
                return
            stream.filled.clear()  # its close-outs' makers were judged by its rounds
            for symbol in sorted(self.market.prints):
                self.entry.after_trading(self.market.instrument_map[symbol])

    def funding(self, c: cmd.FundingTick) -> Rej | int:
        """FundingTick: FND-008 between the holders (the liquidation engine's close-outs included), then the waterfall.

        A pool holding the contract below maintenance at mark is first taken over: the waterfall runs at the current
        mark (as a PriceUpdate at an unchanged mark would run it, but without LIQ-034's budget: every pool due is
        taken over), then FND-020 is judged again (redteam24_1: a maker fill at a stale price leaves its pool below
        maintenance with no mark update, and every FundingTick waited for the next PriceUpdate; redteam27_2: one
        sell into many stale bids left more due pools than a budget takes, and while the tick was refused a holder
        closed and the funding it owed at the instant fell on whoever bought after).  Refused (FND-020,
        ``LiquidationPending``) only if a pool were still below maintenance after that waterfall (none is: it stops
        only when no pool is due); the waterfall's own events and take-overs stand, as the cancels of the timers a
        command's time fires do, and nothing else changes.  Before any of it, FND-021: an instant not after the
        contract's last paid one is refused (``FundingAlreadyPaid``, naming that instant) and changes nothing; an
        instant is recorded as paid (``Market.funded``) only once FND-020 lets the tick through.
        """
        inst = self.market.instrument(c.symbol)
        if isinstance(inst, Rej):
            return inst
        if not is_int(c.rate_e8) or abs(c.rate_e8) > 100_000_000:
            return Rej(Reason.MALFORMED, "rate_e8 must be an integer within ±100%")
        if is_spot(inst):
            return Rej(Reason.NOT_SUPPORTED_ON_SPOT, "a spot pair has no funding")
        cap = compute_cap_abs_e8(inst)
        if abs(c.rate_e8) > cap:
            # FND-004: the exchange never charges beyond its cap (below maintenance by construction, so one funding
            # instant cannot take a pool above maintenance below zero near its entry price); the command accepted
            # ±100%, and a carried pool funded at 60% passed LIQ-036's bound (tests/test_s8_free_wallet_reach.py;
            # within the cap, an inverse long's value at a collapsed mark is unbounded: FND-020 below closes that)
            return Rej(Reason.MALFORMED, f"rate_e8 beyond FND-004's cap ±{cap}")
        if inst.expiry_ms is not None:
            return Rej(Reason.NOT_PERPETUAL, f"{inst.symbol} is a dated future: futures do not fund")
        repeated = self.already_paid(inst.symbol, c.time_ms)  # FND-021: before anything runs, the waterfall below included
        if repeated is not None:
            return repeated
        if inst.symbol not in self.market.marks:
            return Rej(Reason.NO_MARK_PRICE, f"{inst.symbol} has no mark price yet")
        hold = check_funding_ready(inst.symbol, self._pools_below_maintenance(inst.symbol))
        if hold is not None:
            self._waterfall(inst, unbounded=True)  # redteam24_1, redteam27_2: take every pool due over at the mark first
            hold = check_funding_ready(inst.symbol, self._pools_below_maintenance(inst.symbol))
        if hold is not None:
            return Rej(Reason.LIQUIDATION_PENDING, f"{hold.detail} (FND-020)")
        self.market.funded[inst.symbol] = c.time_ms  # FND-021: this instant is paid (no refusal follows)
        holders = tuple(
            (account_id, self.ledger.accounts[account_id].positions[inst.symbol].position)
            for account_id in sorted(self.ledger.holders[inst.symbol])
        )
        pending_qty = sum(p.qty for p in self.waterfall.pending if p.symbol == inst.symbol)
        if pending_qty != 0:
            pending_cost = sum(p.cost for p in self.waterfall.pending if p.symbol == inst.symbol)
            holders = ((LIQUIDATOR, Position(qty=pending_qty, cost=pending_cost)), *holders)
        exchange = compute_funding_exchange(inst, holders, self.market.marks[inst.symbol], c.rate_e8)
        asset = inst.settl_currency
        # FND-019: the liquidation engine's share within the fund (plus the residue it receives first)
        deltas = compute_liquidator_funding(
            self.ledger.insurance_funds.get(asset, 0), exchange.residue, exchange.wallet_deltas, LIQUIDATOR
        )
        from perpspec.rules.invariants import FundingPostings

        self.stream.funding_postings.append(
            FundingPostings(
                asset=asset,
                symbol=inst.symbol,
                wallet_deltas=tuple(delta for _, delta in deltas),
                residue=exchange.residue,
            )
        )
        liquidator_share = 0
        for account_id, delta in deltas:
            if delta == 0:
                continue
            if account_id == LIQUIDATOR:
                liquidator_share = delta  # posted after the residue (FND-019): the fund never dips below zero
                continue
            account = self.ledger.accounts[account_id]
            account.wallets[asset] = account.wallet(asset) + delta
            ps = account.positions[inst.symbol]
            if ps.leverage != CROSS:
                ps.iso_margin += delta  # funding is paid from / credited to the isolated pool
            self.registry.touch(account, inst)
            self.stream.emit_tx("Funding", account_id, asset, delta, inst.symbol, f"rate_e8={c.rate_e8}")
        if exchange.residue:
            self.ledger.fund_move(asset, exchange.residue, "funding residue", inst.symbol, -1, "FND-008")
        if liquidator_share:
            self.ledger.fund_move(asset, liquidator_share, "funding", inst.symbol, -1, "FND-019")
        self._waterfall(inst)
        return 0

    def already_paid(self, symbol: str, time_ms: int) -> Rej | None:
        """FND-021's refusal (``FundingAlreadyPaid``) of a FundingTick at ``time_ms`` when that instant is not after
        the last one paid in ``symbol``, else None (also for an unknown symbol: the handler refuses that)."""
        inst = self.market.instrument(symbol)
        if isinstance(inst, Rej):
            return None
        repeated = check_funding_instant(inst.symbol, time_ms, self.market.funded.get(inst.symbol))
        return None if repeated is None else Rej(Reason.FUNDING_ALREADY_PAID, repeated.detail)

    def earlier_instant(self, command: object) -> Rej | None:
        """FND-021 for a FundingTick earlier than the clock, asked by the sequencer before its TimeWentBackwards: a
        well-typed tick whose instant is already paid is refused as that, naming the paid instant, whether or not
        the clock moved since (its fields read as the typed validation layer reads them: nothing else runs)."""
        values = field_values(command)
        if first_wrong_type(command, values) is not None:
            return None
        time_ms, symbol = values[0], values[1]  # FundingTick(time_ms, symbol, rate_e8)
        assert isinstance(time_ms, int)
        assert isinstance(symbol, str)
        return self.already_paid(symbol, time_ms)

    def _pools_below_maintenance(self, symbol: str) -> tuple[int, ...]:
        """The holders of ``symbol`` (sorted) whose pool holding it is below maintenance at mark (LIQ-003) at the tiers
        LIQ-021 would leave it at (``Risk.below_fitting_maintenance``): the liquidation engine's work still carried
        (LIQ-034), which funding (FND-020) and settlement (SET-005) wait for.  A pool below maintenance only at its
        owner's chosen tiers is not waited for: the waterfall would only lower them, and no owner can hold everyone's
        funding or settlement back by choosing a tier (redteam12_2/3)."""
        if symbol not in self.market.marks:
            return ()
        accounts = self.ledger.accounts
        risk = self.risk
        return tuple(a for a in sorted(self.ledger.holders[symbol]) if risk.below_fitting_maintenance(accounts[a], symbol))

    def settle(self, c: cmd.Settle) -> Rej | int:
        """SET-003/004: close every position of a dated future at the settlement price; no more trading.

        Every live order in the contract is cancelled; each holder's position is
        closed by ``rules.settlement.compute_position_settlement`` (a fill of −qty
        through ``apply_fill``, the settlement fee rounded up into the fee pool,
        charged only as far as the holder's pool equity at the settlement price
        reaches: SET-006, that equity taken before its settlement; the Execution's
        ``exec_comm`` is the fee charged); what the liquidation engine holds is
        closed at the same price into the insurance fund, without a fee: the surpluses first, then the draws,
        so the fund is ≥ 0 after each of its movements.

        Losses go through the waterfall first (``check_settlement_ready``,
        SET-005): refused unless the mark is already the settlement price and
        no pool holding the contract is below maintenance there.
        """
        inst = self.market.instrument(c.symbol)
        if isinstance(inst, Rej):
            return inst
        price = c.settlement_price
        if not is_int(price) or price <= 0 or price > inst.max_price:
            return Rej(Reason.INVALID_PRICE, "settlement_price must be an integer in (0, maxPrice]")
        if inst.expiry_ms is None or is_spot(inst):
            return Rej(Reason.NOT_DATED_FUTURE, f"{inst.symbol} has no expiry")
        if self.stream.time_ms < inst.expiry_ms:
            return Rej(Reason.NOT_EXPIRED, f"{inst.symbol} expires at {inst.expiry_ms}")
        if inst.symbol in self.market.settled:
            return Rej(Reason.CONTRACT_SETTLED, f"{inst.symbol} settled at {self.market.settled[inst.symbol]}")
        symbol, asset = inst.symbol, inst.settl_currency
        hold = check_settlement_ready(self.market.marks.get(symbol), price, self._pools_below_maintenance(symbol))
        if hold is not None:
            reason = (
                Reason.MARK_NOT_SETTLEMENT_PRICE if hold.reason == "mark-not-at-settlement-price"
                else Reason.LIQUIDATION_PENDING
            )
            return Rej(reason, f"{hold.detail} (SET-005)")
        held = [p for p in self.waterfall.pending if p.symbol == symbol and p.qty != 0]
        held_pnl = [apply_fill(inst, Position(qty=p.qty, cost=p.cost), -p.qty, price)[1] for p in held]
        fund = self.ledger.insurance_funds.get(asset, 0)
        shortfall = compute_settlement_shortfall(fund, sum(held_pnl))
        if shortfall > 0:  # SET-007: nothing in the engine can reduce the hold after expiry; the refusal names the remedy
            return Rej(
                Reason.INSURANCE_SHORTFALL,
                f"the held close-outs lose {-sum(held_pnl)} {asset} at the settlement price, the fund holds {fund}: "
                f"a DepositInsurance of {shortfall} {asset} lets this Settle through (SET-007)",
            )
        self.market.settled[symbol] = price
        for order_id in sorted(self.registry.live_orders):
            order = self.registry.live_orders[order_id]
            if order.symbol == symbol:
                self.registry.cancel(order, "Canceled: contract settled")
        # SET-003: the surpluses are posted before the draws (each in pending-id order), so the fund, ≥ its balance
        # plus every held PnL (checked above), is ≥ 0 after every movement, not only at the end: the liquidation
        # engine can hold a losing long and a winning short in one contract (session 16, red team 15)
        for pending, pnl in sorted(zip(held, held_pnl, strict=True), key=lambda item: (item[1] < 0, item[0].pending_id)):
            pending.qty, pending.cost = 0, 0
            if pnl != 0:
                self.ledger.fund_move(asset, pnl, "surplus" if pnl > 0 else "draw", symbol, pending.pending_id, "SET-003")
        self.waterfall.pending = [p for p in self.waterfall.pending if p.qty != 0]
        settled = sorted(self.ledger.holders[symbol])
        for account_id in settled:
            account = self.ledger.accounts[account_id]
            ps = account.positions[symbol]
            before = ps.position
            closed, realised, due = compute_position_settlement(inst, before, price)
            # SET-006: the pool's equity at the settlement price (the mark, SET-005), before this settlement
            fee = compute_settlement_fee_charged(due, self.risk.pool_of(account, symbol)[1])
            self.fills.apply_effect(account, ps, inst, closed, realised - fee, realised)
            self.ledger.fees[asset] = self.ledger.fees.get(asset, 0) + fee
            text = f"Settlement: realisedPnl {realised}"
            if fee != due:
                text += f"; settlement fee {due}, charged {fee}: the pool's equity (SET-006)"
            self.stream.seq += 1
            self.stream.out.append(
                Execution(
                    self.stream.seq, self.stream.time_ms, "Settlement", account_id, symbol, 0, "",
                    o.SELL if before.qty > 0 else o.BUY, "", abs(before.qty), price, 0, abs(before.qty), price,
                    0, abs(before.qty), o.FILLED, fee, "", text,
                )
            )
            self.registry.touch(account, inst)
        self.risk.refresh_index()  # flat positions leave the liquidation index before their updates are reported
        for account_id in settled:
            self.risk.emit_position(account_id, symbol)
        return 0
