"""Order entry: validating orders, pre-trade checks, entering them into the book; firing triggered orders.

:class:`OrderEntry` handles PlaceOrder.  A new order is parsed
and validated (:meth:`OrderEntry._validate_place`: types, instructions,
quantity, prices, time in force), then checked before it trades
(:meth:`OrderEntry.check_entry`: ReduceOnly, else the concentration RSK-008,
the fat-finger band, the spot balance, the risk limit RSK-007 and the order
margin MRG-060), then entered
(:meth:`OrderEntry._enter`: match up to its limit — for a market order the
fat-finger cap and, when it reduces, the bankruptcy price LIQ-016 — then rest
or cancel the rest).  A conditional order waits in
:class:`engine.core.triggers.Triggers` until it fires
(:meth:`OrderEntry._fire`: the same check and entry).  It owns no state of its own.
AmendOrder is :class:`engine.core.entry_amend.Amendments`, which judges an
amended order through the checks here (``check_price``, ``check_solvency``,
``order_requirement``).
"""

from __future__ import annotations

from typing import Any, Final

from perpspec.engine.core import commands as cmd
from perpspec.engine.core import orders as o
from perpspec.engine.core.accounts import DAY_MS, Account, PositionState
from perpspec.engine.core.entry_terms import (
    FAT_FINGER_PPM,
    LIMIT_PRICED,
    check_price_protection,
    compute_market_reach,
    is_plain_limit,
    is_solvent_by_kernel,
    side_and_qty,
    trailing_reference,
)
from perpspec.engine.core.events import Reason
from perpspec.engine.core.fastmargin import (
    margin_of_sides,
    resting_order_margin,
    resting_sides,
    resting_sums,
    sides_plus,
)
from perpspec.engine.core.fills import Fills
from perpspec.engine.core.ledger import Ledger, peek_position
from perpspec.engine.core.market import Market, is_expired, is_spot
from perpspec.engine.core.orders import Order
from perpspec.engine.core.registry import OrderRegistry, reducible
from perpspec.engine.core.rejects import Rej, show
from perpspec.engine.core.risk import Risk
from perpspec.engine.core.stream import EventStream
from perpspec.engine.core.triggers import Triggers
from perpspec.engine.kernels import dispatch
from perpspec.engine.kernels.load import kernels_for
from perpspec.rules.contract import compute_notional
from perpspec.rules.instrument import Instrument
from perpspec.rules.liquidation import (
    compute_position_equity_term,
    compute_reduce_limit_price,
    compute_requirement,
)
from perpspec.rules.margin import (
    CROSS,
    check_order_margin,
    compute_order_requirement,
    compute_tier_free_available,
)
from perpspec.rules.num import ceil_to_multiple, floor_to_multiple
from perpspec.rules.position import Position, apply_fill
from perpspec.rules.risk_limit import (
    check_concentration,
    check_risk_limit,
    compute_concentration_reach,
    concentration_cannot_refuse,
    is_concentrated,
)
from perpspec.rules.solvency import FILL_CANCEL_TEXT, check_order_solvency

# [I] untriggered conditional orders per account and contract: they need no margin and every price update scans
# them, so without a cap one verified account with no balance could slow every update (session-5 attack review:
# 8,000 stops took an update from 7 µs to 1.4-2.5 ms).  BitMEX capped open stop orders per contract; 10 is its figure.
MAX_OPEN_STOPS = 10
MAX_CL_ORD_ID = 36
# RSK-008's reach values remembered per (instrument, mark) by OrderEntry.reach_notional: a bound on memory (the table
# starts over beyond it)
NOTIONAL_MEMO_MAX: Final = 4096


class OrderEntry:
    """PlaceOrder and triggered orders: validation, pre-trade checks, entry into the book."""

    def __init__(
        self,
        market: Market,
        ledger: Ledger,
        risk: Risk,
        triggers: Triggers,
        registry: OrderRegistry,
        fills: Fills,
        stream: EventStream,
    ) -> None:
        self.market = market
        self.ledger = ledger
        self.risk = risk
        self.triggers = triggers
        self.registry = registry
        self.fills = fills
        self.stream = stream
        # the price a market-like order's margin was just charged at (MRG-060's reach; 0: none); not state
        self.charged_reach = 0
        # (instrument, mark, {reach: CON-003 value}) of reach_notional: what the rule answered, not state
        self.notional_memo: tuple[Instrument | None, int, dict[int, bool]] = (None, 0, {})

    def place(self, c: cmd.PlaceOrder) -> Rej | int:
        """PlaceOrder: a conditional order waits for its trigger; any other is checked and entered now.

        The sequencer first offers a plain limit order that rests whole to ``entry_plain.place_resting`` (the
        same path as one function); this is the general path for everything it hands back.
        """
        parsed = self._validate_place(c)
        if isinstance(parsed, Rej):
            return parsed
        account, inst, order = parsed
        order.order_id = self.registry.next_order_id
        self.registry.next_order_id += 1
        if order.cl_ord_id:
            account.cl_ord_ids[order.cl_ord_id] = order.order_id
        if order.time_in_force == o.DAY:
            self.registry.day_orders[order.order_id] = self.stream.time_ms // DAY_MS
        if not order.triggered:
            self.registry.go_live(account, order)
            self.triggers.add(order)
            self.stream.emit_exec(o.EXEC_NEW, order)
            self.run_triggers(inst)
            return order.order_id
        self._enter(account, inst, order, emit_new=True)
        self.after_trading(inst)
        return order.order_id

    def _validate_place(self, c: cmd.PlaceOrder) -> tuple[Account, Instrument, Order] | Rej:
        """A PlaceOrder parsed into an (unnumbered) order, or the first typed reject.

        One list of checks in the order the rejects are decided: types and
        instructions here, then :func:`entry_terms.side_and_qty`, the limit price,
        :meth:`_stop_prices`, :meth:`_time_in_force`; a non-conditional order
        is then checked as it would trade (:meth:`check_entry`).  Kept whole so
        the order of the rejects reads top-down.
        """
        target = self.ledger.account_in(c.account, c.symbol)
        if isinstance(target, Rej):
            return target
        account, inst = target
        if inst.symbol in self.market.settled:
            return Rej(Reason.CONTRACT_SETTLED, f"{inst.symbol} is settled")
        if inst.symbol not in self.market.marks:
            return Rej(Reason.NO_MARK_PRICE, f"{inst.symbol} has no mark price yet")
        # every field has its declared type here (the sequencer's typed validation layer, commands.wrong_field_type)
        if is_plain_limit(c):
            return self._validate_plain_limit(c, account, inst)
        insts = o.parse_exec_inst(c.exec_inst)
        if insts is None:
            return Rej(Reason.INVALID_INSTRUCTION, f"bad execInst {show(c.exec_inst)}")
        sources = [s for s in insts if s in o.TRIGGER_SOURCES]
        if len(sources) > 1:
            return Rej(Reason.INVALID_INSTRUCTION, "at most one trigger source")
        close = o.CLOSE in insts
        reduce_only = o.REDUCE_ONLY in insts or close
        post_only = o.POST_ONLY in insts
        ord_type = c.ord_type
        if ord_type is None:
            if c.peg_price_type is not None:
                ord_type = o.PEGGED
            elif c.stop_px is not None:
                ord_type = o.STOP_LIMIT if c.price is not None else o.STOP
            else:
                ord_type = o.LIMIT if c.price is not None else o.MARKET
        if ord_type not in o.ORD_TYPES:
            return Rej(Reason.INVALID_ORD_TYPE, f"unknown ordType {show(ord_type)}")
        if c.peg_price_type is not None and ord_type != o.PEGGED:  # was accepted and ignored (review21_4)
            return Rej(Reason.INVALID_ORD_TYPE, f"pegPriceType is for ordType Pegged, not {ord_type}")
        if is_spot(inst) and (reduce_only or ord_type in o.CONDITIONAL_TYPES):
            return Rej(Reason.NOT_SUPPORTED_ON_SPOT, "spot orders are Limit or Market, without ReduceOnly/Close")
        if len(c.cl_ord_id) > MAX_CL_ORD_ID:
            return Rej(Reason.MALFORMED, "clOrdID longer than 36 characters")
        if c.cl_ord_id and c.cl_ord_id in account.cl_ord_ids:
            return Rej(Reason.DUPLICATE_CL_ORD_ID, f"clOrdID {show(c.cl_ord_id)} is live")
        ps = peek_position(account, inst)
        side_qty = side_and_qty(c, inst, ps, close)
        if isinstance(side_qty, Rej):
            return side_qty
        is_buy, qty = side_qty
        # prices
        price = c.price
        if ord_type in o.PRICED_TYPES:
            if price is None:
                return Rej(Reason.INVALID_PRICE, f"{ord_type} needs a price")
            problem = self.check_price(inst, price)
            if problem is not None:
                return problem
        elif price is not None:
            return Rej(Reason.INVALID_PRICE, f"{ord_type} takes no price")
        stops = self._stop_prices(c, inst, ord_type, is_buy, insts, sources)
        if isinstance(stops, Rej):
            return stops
        stop_px, peg_offset, trigger_source = stops
        conditional = ord_type in o.CONDITIONAL_TYPES
        if conditional and self.open_stops(account, inst.symbol) >= MAX_OPEN_STOPS:
            return Rej(Reason.TOO_MANY_OPEN_STOPS, f"at most {MAX_OPEN_STOPS} untriggered stop orders per contract")
        timing = self._time_in_force(c, inst, ord_type, qty, post_only)
        if isinstance(timing, Rej):
            return timing
        tif, display = timing
        order = Order(
            order_id=0,
            account=account.account_id,
            symbol=inst.symbol,
            is_buy=is_buy,
            price=price or 0,
            order_qty=qty,
            ord_type=ord_type,
            time_in_force=tif,
            display_qty=display,
            cl_ord_id=c.cl_ord_id,
            post_only=post_only,
            reduce_only=reduce_only,
            close=close,
            stop_px=stop_px,
            peg_offset=peg_offset,
            trigger_source=trigger_source,
            last_within_mark=o.LAST_WITHIN_MARK in insts,
            time_ms=self.stream.time_ms,
            # ORD-012: a conditional Close without orderQty closes the position it finds when it fires (_fire)
            whole_position=close and c.order_qty is None and conditional,
        )
        if conditional:
            return account, inst, order
        problem = self.check_entry(account, inst, order)
        if problem is not None:
            return problem
        return account, inst, order

    def open_stops(self, account: Account, symbol: str) -> int:
        """How many untriggered conditional orders ``account`` holds in ``symbol`` (:data:`MAX_OPEN_STOPS`)."""
        waiting = self.triggers.conditional[symbol]
        return sum(1 for order_id in account.orders if order_id in waiting)

    def _validate_plain_limit(
        self, c: cmd.PlaceOrder, account: Account, inst: Instrument
    ) -> tuple[Account, Instrument, Order] | Rej:
        """:meth:`_validate_place` for a plain limit order (:func:`is_plain_limit`): the same checks, same order.

        No execInst, stop, peg, timeInForce or displayQty: the instruction,
        stop-price and time-in-force steps have nothing to refuse (a Limit is
        GoodTillCancel by default, triggered, and shows its whole quantity).
        """
        if len(c.cl_ord_id) > MAX_CL_ORD_ID:
            return Rej(Reason.MALFORMED, "clOrdID longer than 36 characters")
        if c.cl_ord_id and c.cl_ord_id in account.cl_ord_ids:
            return Rej(Reason.DUPLICATE_CL_ORD_ID, f"clOrdID {show(c.cl_ord_id)} is live")
        side_qty = side_and_qty(c, inst, peek_position(account, inst), False)
        if isinstance(side_qty, Rej):
            return side_qty
        is_buy, qty = side_qty
        price = c.price
        assert price is not None
        problem = self.check_price(inst, price)
        if problem is not None:
            return problem
        order = Order(
            order_id=0,
            account=account.account_id,
            symbol=inst.symbol,
            is_buy=is_buy,
            price=price,
            order_qty=qty,
            cl_ord_id=c.cl_ord_id,
            time_ms=self.stream.time_ms,
        )
        problem = self.check_entry(account, inst, order)
        if problem is not None:
            return problem
        return account, inst, order

    def _stop_prices(
        self, c: cmd.PlaceOrder, inst: Instrument, ord_type: str, is_buy: bool, insts: tuple[str, ...], sources: list[str]
    ) -> tuple[int, int, str] | Rej:
        """A PlaceOrder's (stopPx, peg offset, trigger source): stops and if-touched orders, trailing stops."""
        stop_px = 0
        peg_offset = 0
        if ord_type in (o.STOP, o.STOP_LIMIT, o.MARKET_IF_TOUCHED, o.LIMIT_IF_TOUCHED):
            if c.stop_px is None:
                return Rej(Reason.INVALID_PRICE, f"{ord_type} needs stopPx")
            if c.peg_offset_value is not None:
                return Rej(Reason.INVALID_PRICE, f"{ord_type} takes no pegOffsetValue (a trailing stop is Pegged)")
            problem = self.check_price(inst, c.stop_px)
            if problem is not None:
                return problem
            stop_px = c.stop_px
        elif ord_type == o.PEGGED:
            if c.peg_price_type != o.TRAILING_STOP_PEG:
                return Rej(Reason.INVALID_ORD_TYPE, "only pegPriceType=TrailingStopPeg is supported")
            offset = c.peg_offset_value
            if offset is None or offset == 0 or offset % inst.tick_size != 0:
                return Rej(Reason.INVALID_PRICE, "pegOffsetValue must be a non-zero multiple of tickSize")
            if (offset > 0) == (not is_buy):
                return Rej(Reason.INVALID_PRICE, "trailing stop: pegOffsetValue < 0 for a sell, > 0 for a buy")
            peg_offset = offset
        elif c.stop_px is not None or c.peg_offset_value is not None:
            return Rej(Reason.INVALID_PRICE, f"{ord_type} takes no stopPx or pegOffsetValue")
        conditional = ord_type in o.CONDITIONAL_TYPES
        if sources and not conditional:
            return Rej(Reason.INVALID_INSTRUCTION, "trigger source only for stops and if-touched orders")
        if o.LAST_WITHIN_MARK in insts and (not conditional or sources != [o.LAST_PRICE]):
            return Rej(Reason.INVALID_INSTRUCTION, "LastWithinMark needs a stop with LastPrice")
        if o.FIXED in insts and ord_type != o.PEGGED:
            return Rej(Reason.INVALID_INSTRUCTION, "Fixed is for pegged orders")
        trigger_source = sources[0] if sources else o.MARK_PRICE
        if ord_type == o.PEGGED:
            reference = trailing_reference(self.market, inst.symbol, trigger_source, o.LAST_WITHIN_MARK in insts)
            if reference == 0:
                return Rej(Reason.NO_MARK_PRICE, f"no {trigger_source} yet for the trailing stop")
            stop_px = reference + peg_offset
            if stop_px <= 0 or stop_px > inst.max_price:
                return Rej(Reason.INVALID_PRICE, "trailing stop price out of range")
        return stop_px, peg_offset, trigger_source

    def _time_in_force(
        self, c: cmd.PlaceOrder, inst: Instrument, ord_type: str, qty: int, post_only: bool
    ) -> tuple[str, int | None] | Rej:
        """A PlaceOrder's (timeInForce, displayQty): market-like orders IOC or FOK, display only on resting limits."""
        executes_as_market = ord_type in (o.MARKET, o.STOP, o.MARKET_IF_TOUCHED, o.PEGGED)
        tif = c.time_in_force
        if tif is None:
            tif = o.IMMEDIATE_OR_CANCEL if executes_as_market else o.GOOD_TILL_CANCEL
        if tif not in o.TIMES_IN_FORCE:
            return Rej(Reason.INVALID_TIME_IN_FORCE, f"unknown timeInForce {show(tif)}")
        if executes_as_market and tif not in (o.IMMEDIATE_OR_CANCEL, o.FILL_OR_KILL):
            return Rej(Reason.INVALID_TIME_IN_FORCE, f"{ord_type} executes as a market order: IOC or FOK only")
        if post_only and (executes_as_market or tif in (o.IMMEDIATE_OR_CANCEL, o.FILL_OR_KILL)):
            return Rej(Reason.INVALID_INSTRUCTION, "ParticipateDoNotInitiate needs a resting limit order")
        # display
        display = c.display_qty
        if display is not None:
            if ord_type not in o.PRICED_TYPES:
                return Rej(Reason.INVALID_QTY, "displayQty only on limit orders")
            if display < 0 or display > qty or display % inst.lot_size != 0:
                return Rej(Reason.INVALID_QTY, "displayQty must be 0 or a lot multiple up to orderQty")
            if tif in (o.IMMEDIATE_OR_CANCEL, o.FILL_OR_KILL):
                return Rej(Reason.INVALID_TIME_IN_FORCE, "displayQty only on resting orders")
        return tif, display

    def check_price(self, inst: Instrument, price: int) -> Rej | None:
        """A price is a positive multiple of the tick size, at most ``maxPrice``."""
        if price <= 0 or price % inst.tick_size != 0:
            return Rej(Reason.INVALID_PRICE, f"price must be a positive multiple of tickSize {inst.tick_size}")
        if price > inst.max_price:
            return Rej(Reason.PRICE_TOO_HIGH, f"price above maxPrice {inst.max_price}")
        return None

    def _market_limit(self, inst: Instrument, ps: PositionState, is_buy: bool) -> int:
        """The worst price a market order may fill at: the fat-finger band, and the bankruptcy price when reducing."""
        mark = self.market.marks[inst.symbol]
        book = self.market.books[inst.symbol]
        tick = inst.tick_size
        if is_buy:
            reference = max(book.best_ask() or 0, mark)
            # floor to the tick: the cap never exceeds 5% above the reference
            cap = floor_to_multiple(reference + reference * FAT_FINGER_PPM // 1_000_000, tick)
            cap = min(cap, inst.max_price)
        else:
            best_bid = book.best_bid()
            reference = mark if best_bid is None else min(best_bid, mark)
            # ceil to the tick: the floor never goes below 5% under the reference
            cap = max(ceil_to_multiple(reference - reference * FAT_FINGER_PPM // 1_000_000, tick), tick)
        del ps
        return cap

    def bankruptcy_limit(self, account: Account, inst: Instrument, is_buy: bool, cap: int) -> int:
        """A market order that reduces a position stops at its bankruptcy price, fee of closing there covered (LIQ-016)."""
        ps = account.positions.get(inst.symbol)
        if ps is None or ps.qty == 0 or reducible(ps, is_buy) == 0:
            return cap
        _, equity, _, _ = self.risk.pool_of(account, inst.symbol)
        own_term = compute_position_equity_term(inst, ps.position, self.market.marks[inst.symbol])  # LIQ-004
        req = compute_requirement(inst, ps.position, ps.leverage, ps.chosen_tier)
        taker_fee = self.fills.fee_ppm(account, inst, maker=False)
        bankrupt = compute_reduce_limit_price(inst, ps.position, equity - own_term, req.pos_comm, taker_fee)
        return min(cap, bankrupt) if is_buy else max(cap, bankrupt)

    def _chosen_tier_extra(self, inst: Instrument, ps: PositionState, signed: int, price: int) -> int:
        """What a chosen risk limit above the position's own tier adds to an order's requirement.

        MRG-060 prices the position at its own risk steps; the pools (LIQ-001) hold
        it at the chosen tier.  The difference in ``posInit + posComm`` that the fill
        would add is required too, so a position is never born below its own tier's
        initial margin (state-machine find).  What the chosen tiers hold already, this
        contract's and every other cross position's, is not available to the order:
        MRG-061 reads the available balance less it (``Risk.held_tier_extras``).
        """
        if ps.chosen_tier == 0:
            return 0
        filled, _ = apply_fill(inst, ps.position, signed, price)

        def gap(position: Position) -> int:
            chosen = compute_requirement(inst, position, ps.leverage, ps.chosen_tier)
            own = compute_requirement(inst, position, ps.leverage, 0)
            return chosen.pos_init + chosen.pos_comm - own.pos_init - own.pos_comm

        return max(0, gap(filled) - gap(ps.position))

    def order_requirement(self, inst: Instrument, ps: PositionState, signed: int, price: int, requirement: int) -> int:
        """MRG-061's requirement of an order of ``signed`` contracts at ``price`` whose MRG-060 figure is ``requirement``.

        MRG-060's figure plus :meth:`_chosen_tier_extra` when it is positive (as before); and when it is not, the
        chosen-tier extra alone for an order that opens contracts (``|signed|`` beyond what it can reduce): MRG-060
        asks nothing of an order that does not raise the contract's order margin (an inverse buy amended up, a linear
        sell moved down), but its fill still adds the chosen tier's difference to the pool's maintenance.  A pure
        reduction, and any order in a contract at its base tier, stays at MRG-060's figure (no check when it is ≤ 0).
        Session 17 (review14_1): the extra was added only inside ``requirement > 0``, so a buy rested, the tier raised
        (no position: nothing charged), then amended up into the ask filled with nothing charged and left its owner's
        pool at ~4.47M equity against ~43.8M maintenance at the chosen tier with no price move.
        """
        if requirement > 0:
            return requirement + self._chosen_tier_extra(inst, ps, signed, price)
        if ps.chosen_tier == 0 or abs(signed) <= reducible(ps, signed > 0):
            return requirement
        return self._chosen_tier_extra(inst, ps, signed, price)

    def check_entry(self, account: Account, inst: Instrument, order: Order) -> Rej | None:
        """Pre-trade checks of an order about to enter the book (new or triggered): no mutation."""
        self.charged_reach = 0
        if is_expired(inst, self.stream.time_ms):
            # SET-001's price is fixed by the window ending at expiry: a trade after it would pick off stale orders
            return Rej(Reason.CONTRACT_EXPIRED, f"{inst.symbol} expired at {inst.expiry_ms}; it only settles now")
        ps = peek_position(account, inst)
        book = self.market.books[inst.symbol]
        if order.reduce_only:
            room = reducible(ps, order.is_buy)
            if room == 0:
                return Rej(Reason.REDUCE_ONLY_WOULD_INCREASE, "ReduceOnly order would open or increase a position")
            if order.leaves_qty > room:
                order.leaves_qty = order.order_qty = room  # amended down to the position (not yet live)
                order.reset_shown()
        elif not is_spot(inst):
            refusal = self.check_concentration(inst, ps.qty, order.leaves_qty if order.is_buy else -order.leaves_qty)
            if refusal is not None:
                return refusal
        if order.ord_type in LIMIT_PRICED:
            refusal = check_price_protection(self.market.books[inst.symbol], self.market.marks[inst.symbol], order.is_buy, order.price, order.leaves_qty)
            if refusal is not None:
                return refusal
            charge_price = order.price
        else:
            cap = self._market_limit(inst, ps, order.is_buy)
            charge_price = compute_market_reach(book, order.is_buy, order.leaves_qty, cap, account.account_id)
            if charge_price == 0:
                return None  # nothing it could trade with: it will be cancelled without a fill
        if is_spot(inst):
            asset, need = self.registry.spot_need(inst, order.is_buy, order.leaves_qty, charge_price)
            if need > (free := self.risk.spot_spendable(account, asset)):  # LIQ-055: withdrawable, less the others
                return Rej(Reason.INSUFFICIENT_BALANCE, f"needs {need} {asset}, free {free}")
            self.stream.spot_orders[(account.account_id, asset)] = order.order_id  # INV-SPOT-SPEND
            self.charged_reach = 0 if order.ord_type in o.PRICED_TYPES else charge_price  # no sweep beyond (LIQ-055)
            return None
        signed = order.leaves_qty if order.is_buy else -order.leaves_qty
        if order.ord_type in o.PRICED_TYPES:
            refusal = self.check_solvency(account, inst, ps, signed, order.price)
            if refusal is not None:
                return refusal
        mark = self.market.marks[inst.symbol]
        best_bid, best_ask = self.market.best(inst.symbol)
        # MRG-042 is a sum over orders: the resting orders' sides (kept summed with them) plus the new term
        kernels = kernels_for(inst)
        if kernels is not None:  # the proved fused pre-trade kernel: MRG-042 + MRG-045/044 before and after + MRG-060
            bid_qty, bid_value, bid_premium, ask_qty, ask_value, ask_premium = resting_sums(
                inst, ps, mark, best_bid, best_ask
            )
            if ps.leverage == CROSS:
                checked = dispatch.pretrade_cross(
                    kernels.index, ps.qty, ps.cost, mark, bid_qty, bid_value, bid_premium, ask_qty, ask_value, ask_premium,
                    signed, charge_price, best_bid, best_ask,
                )
            else:
                checked = dispatch.pretrade_isolated(
                    kernels.index, ps.qty, ps.cost, mark, ps.leverage, self.risk.margin_setting(inst, ps).pos_cross,
                    bid_qty, bid_value, bid_premium, ask_qty, ask_value, ask_premium,
                    signed, charge_price, best_bid, best_ask,
                )
            after_values = (checked[1], checked[4])
            om_before, requirement = checked[6], checked[8]
        else:
            sides_before = resting_sides(inst, ps, mark, best_bid, best_ask)
            sides_after = sides_plus(inst, sides_before, signed, charge_price, mark, best_bid, best_ask)
            after_values = (sides_after[0].value, sides_after[1].value)
        if not order.reduce_only:
            gross = abs(ps.cost) + max(after_values)  # RSK-007's input
            if check_risk_limit(gross, ps.risk_limit) is not None:
                return Rej(Reason.RISK_LIMIT_EXCEEDED, f"position and orders worth {gross} exceed {ps.risk_limit}")
        if kernels is None:
            position = ps.position  # the Position record: only the generic rules take one
            om_before = resting_order_margin(inst, ps, mark, best_bid, best_ask).total
            om_after = margin_of_sides(inst, position, sides_after, ps.leverage).total
            setting = self.risk.margin_setting(inst, ps)
            requirement = compute_order_requirement(
                inst,
                position,
                mark,
                ps.leverage,
                setting.pos_cross,
                om_before,
                om_after,
                signed,
                charge_price,
            )
        requirement = self.order_requirement(inst, ps, signed, charge_price, requirement)  # MRG-061's (session 17)
        if requirement > 0:
            asset = inst.settl_currency
            if inst.symbol in account.positions:
                available = self.risk.available_margin(account, asset, (inst.symbol, om_before))
            else:
                available = self.risk.account_margin(account, asset).available_margin
            available -= account.reserved.get(asset, 0)  # free_balance: net of what live spot orders reserve
            # what the chosen tiers hold is not free (MRG-061)
            available = compute_tier_free_available(available, self.risk.held_tier_extras(account, asset))
            problem = check_order_margin(available, requirement)
            if problem is not None:
                return Rej(Reason.INSUFFICIENT_MARGIN, f"needs {problem.required}, available {problem.available}")
            self.stream.note_margin_order(account.account_id, inst.settl_currency)  # INV-MARGIN-ON-ENTRY
            if order.ord_type not in o.PRICED_TYPES:
                self.charged_reach = charge_price  # its sweep goes no further than the price it was charged at
        return None

    def check_concentration(self, inst: Instrument, position_qty: int, signed: int) -> Rej | None:
        """RSK-008 (``rules.risk_limit.check_concentration``) for an order of ``signed`` contracts by an account
        holding ``position_qty``, against the contract's open interest and open value now.

        The open interest is the sum of the long positions of the contract's holders (``ledger.holders``) [I]: a
        position the liquidation engine took over and has not closed out yet (a pending close-out, kept by the
        waterfall outside ``holders``) is not counted -- it is being closed, and it is no account's.  The sum stops
        as soon as the rule's share test (``is_concentrated``) is false, which only grows less true as the sum
        grows, so the rule's verdict is the verdict on the whole sum (then "accepted", RSK-008/partial-sum).  A
        flat account reads no holder.  The open value is the open interest at the mark (CON-003).  Before any sum:
        when even the largest open interest that leaves the account concentrated (``compute_concentration_reach``) is
        worth less than the floor (``concentration_cannot_refuse``, the predicate RSK-008/reach assumes), the verdict
        is "accepted", so an account far below the floor's share reads no holder at all.
        """
        symbol = inst.symbol
        mark = self.market.marks[symbol]
        reach = compute_concentration_reach(inst, position_qty)
        if self.reach_cannot_refuse(inst, reach, mark):
            return None  # RSK-008/reach: no open interest that leaves it concentrated is worth the floor
        open_interest = 0
        if is_concentrated(inst, position_qty, open_interest):
            accounts = self.ledger.accounts
            for holder in self.ledger.holders[symbol]:
                qty = accounts[holder].positions[symbol].qty
                if qty > 0:
                    open_interest += qty
                    if not is_concentrated(inst, position_qty, open_interest):
                        break
        open_value = compute_notional(inst, open_interest, mark) if open_interest else 0
        refusal = check_concentration(inst, position_qty, signed, open_interest, open_value)
        if refusal is None:
            return None
        share = inst.concentration_share_ppm
        shown = f"{share // 10_000}%" if share % 10_000 == 0 else f"{share} ppm"
        return Rej(
            Reason.CONCENTRATED_REDUCE_ONLY,
            f"Account is reduce-only in {symbol}: position {refusal.value} is more than "
            f"{shown} of the open interest {refusal.limit} "
            f"(open value {open_value} at or above {inst.concentration_floor}); orders may only reduce it",
        )

    def reach_cannot_refuse(self, inst: Instrument, reach: int, mark: int) -> bool:
        """``rules.risk_limit.concentration_cannot_refuse(inst, reach, mark)`` (RSK-008/reach), the rule's answer remembered.

        The rule is a pure function of the instrument, the reach and the mark; its answers are kept for the
        instrument (by identity: a changed instrument is another object, and the table holds it, so the identity
        is not reused) and the mark asked about last, keyed by the reach, and the table starts over at another
        instrument or mark or beyond :data:`NOTIONAL_MEMO_MAX` entries.  On the bench every holder's order asks
        about its RSK-008 reach, of few distinct sizes (975 for 14,214 orders), each answer about 3.4k
        instructions compiled (session 18).  Not state: nothing outside this method reads it.
        """
        memo = self.notional_memo
        if memo[0] is not inst or memo[1] != mark:
            memo = (inst, mark, {})
            self.notional_memo = memo
        table = memo[2]
        key: Any = reach  # compiled: boxed once for the lookup and the store
        known = table.get(key)
        if known is None:
            if len(table) >= NOTIONAL_MEMO_MAX:
                table.clear()
            known = concentration_cannot_refuse(inst, reach, mark)
            table[key] = known
        return known

    def check_solvency(self, account: Account, inst: Instrument, ps: PositionState, signed: int, price: int) -> Rej | None:
        """LIQ-042 (``rules.solvency.check_order_solvency``) for an order of ``signed`` contracts at ``price``.

        Judged at the taker fee (the worst the order can pay); a market order is
        bounded by its bankruptcy limit (LIQ-016) instead.
        """
        fee = self.fills.fee_ppm(account, inst, maker=False)
        mark = self.market.marks[inst.symbol]
        kernels = kernels_for(inst)
        if kernels is not None and is_solvent_by_kernel(
            kernels, self.risk.pool_tuple(account, inst, ps), signed, price, fee, mark
        ):
            return None  # the proved order_solvent_* kernel; a refusal's figures come from the rule below
        pool = self.risk.pool_state(account, inst, ps)
        refusal = check_order_solvency(inst, pool, signed, price, fee, mark)
        if refusal is None:
            return None
        return Rej(Reason.IMMEDIATE_LIQUIDATION, refusal.reason.value)

    def _enter(self, account: Account, inst: Instrument, order: Order, emit_new: bool) -> None:
        """An accepted (or just triggered) order meets the book (:meth:`_meet_book`); after a trade, MRG-067."""
        qty_before = peek_position(account, inst).qty
        self._meet_book(account, inst, order, emit_new)
        if order.cum_qty > 0:  # it traded (a new or just triggered order has not before)
            self.fills.cancel_unfunded_after_trade(inst, account, qty_before)

    def _meet_book(self, account: Account, inst: Instrument, order: Order, emit_new: bool) -> None:
        """The order meets the book: match, then rest or cancel the rest."""
        book = self.market.books[inst.symbol]
        if emit_new:
            self.stream.emit_exec(o.EXEC_NEW, order)
        self.registry.go_live(account, order)
        # ORD-012: judged against the position the Close order finds, done only once it traded or rests (below)
        close_excess = self._close_excess(account, inst, order) if order.close else ()
        if order.post_only and book.crosses(order.is_buy, order.price):
            self.registry.cancel(order, "Canceled: ParticipateDoNotInitiate order would have traded")
            return
        is_limit = order.ord_type in o.PRICED_TYPES
        ps = account.position(inst)
        limit = (
            order.price
            if is_limit
            else self.bankruptcy_limit(account, inst, order.is_buy, self._market_limit(inst, ps, order.is_buy))
        )
        if not is_limit and self.charged_reach > 0:  # MRG-060 charged it up to this price: no fill beyond it
            limit = min(limit, self.charged_reach) if order.is_buy else max(limit, self.charged_reach)
        self.charged_reach = 0
        if is_spot(inst):
            self.registry.reserve(order, limit)
        if order.time_in_force == o.FILL_OR_KILL and not (
            book.can_fill(order.is_buy, limit, order.leaves_qty, account.account_id)
            and self.fills.can_fill(account, inst, order, limit)
        ):
            self.registry.cancel(order, "Canceled: FillOrKill could not be filled in full")
            return
        self.fills.sweep(account, inst, order, limit)
        if close_excess and (order.cum_qty > 0 or (
            order.leaves_qty > 0 and not self.fills.halted and is_limit
            and order.time_in_force in (o.GOOD_TILL_CANCEL, o.DAY)
        )):
            self._close_cancels_same_side(close_excess)  # it traded or is about to rest: it entered the book
        if order.leaves_qty == 0:
            self.registry.forget(order)
            return
        if self.fills.halted:  # LIQ-044: its next fill would have taken the account beyond its bankruptcy price
            self.registry.cancel(order, FILL_CANCEL_TEXT)
            return
        if is_limit and order.time_in_force in (o.GOOD_TILL_CANCEL, o.DAY):
            order.reset_shown()
            book.add(order)
            if is_spot(inst):
                self.registry.reserve(order)
                return
            ps.put_order(order.order_id, order.leaves_qty if order.is_buy else -order.leaves_qty, order.price)
            return
        text = "Canceled: market order reached its price limit" if not is_limit else "Canceled: ImmediateOrCancel"
        self.registry.cancel(order, text)

    def _close_excess(self, account: Account, inst: Instrument, close: Order) -> tuple[int, ...]:
        """ORD-012: the account's other active same-side limit orders in the contract that a Close order entering
        the book cancels (by order id; none when, together with it, their open quantity stays within the position).

        BitMEX: "will cancel other active limit orders with the same side and
        symbol if the open quantity exceeds the current position".  Active means
        in the book (triggered); untriggered stops wait and are handled by
        ReduceOnly when they fire.  All of them go (by order id), not just
        enough to fit: the Close order is the trader's instruction for the
        position [I].  Judged against the position the Close order finds when it
        meets the book (before it trades).

        *Entering the book* [I, session 17, redteam17_2]: the Close order trades
        (any fill) or rests.  The cancel is done after its sweep, only then, so a
        Close order that does neither changes nothing else: a post-only
        (ParticipateDoNotInitiate) Close that would cross and is cancelled, a
        FillOrKill Close that is killed, and a market or ImmediateOrCancel Close
        that finds no order it can trade with within its limit (cancelled
        without a fill) leave the other orders live.  Before session 17 the
        cancel ran before the post-only and FillOrKill decisions.
        """
        ps = account.positions.get(inst.symbol)
        room = 0 if ps is None else reducible(ps, close.is_buy)
        others = sorted(
            order_id
            for order_id, order in account.orders.items()
            if order_id != close.order_id
            and isinstance(order, Order)
            and order.symbol == inst.symbol
            and order.is_buy == close.is_buy
            and order.triggered
            and order.live
            and order.level is not None
        )
        open_qty = close.leaves_qty + sum(self.registry.live_orders[order_id].leaves_qty for order_id in others)
        if open_qty <= room:
            return ()
        return tuple(others)

    def _close_cancels_same_side(self, order_ids: tuple[int, ...]) -> None:
        """ORD-012: cancel the orders :meth:`_close_excess` chose that are still live (after the Close order entered)."""
        for order_id in order_ids:
            order = self.registry.live_orders.get(order_id)
            if order is not None and order.live:
                self.registry.cancel(order, "Canceled: Close order and open quantity above the position")

    def run_triggers(self, inst: Instrument) -> None:
        """Fire every due conditional order of ``inst`` (:meth:`Triggers.run`), each entered by :meth:`_fire`."""
        self.triggers.run(inst, self._fire)

    def after_trading(self, inst: Instrument) -> None:
        """Triggers that watch the last price may fire after trades."""
        self.run_triggers(inst)

    def _fire(self, inst: Instrument, order: Order) -> None:
        """A conditional order fired: report it, check it as a new order, enter it (or cancel it with the reason).

        ORD-012: a Close order placed without orderQty (``whole_position``) is re-sized to the whole position
        it closes now, before its report (up to maxOrderQty, as a new order); with no position on the other
        side to close, check_entry's ReduceOnly check cancels it.  From here on it is an ordinary Close order.
        """
        account = self.ledger.accounts[order.account]
        order.triggered = True
        whole = order.whole_position
        if whole:
            order.whole_position = False
            room = reducible(peek_position(account, inst), order.is_buy)
            if room > 0:
                order.leaves_qty = order.order_qty = min(room, inst.max_order_qty)
                order.reset_shown()
        self.stream.emit_exec(o.EXEC_TRIGGERED, order)
        problem = self.check_entry(account, inst, order)
        if problem is not None:
            text = problem.text
            if whole and problem.reason is Reason.REDUCE_ONLY_WOULD_INCREASE:
                text = "Close order without orderQty found no position to close"
            self.registry.cancel(order, f"Canceled: triggered but {problem.reason.value}: {text}")
            return
        self._enter(account, inst, order, emit_new=False)
