"""Amending a live order: AmendOrder's checks, its money, and the change.

:class:`Amendments` handles AmendOrder.  The new open quantity, price, stopPx
or peg offset is validated first, in the order the rejects are decided
(:meth:`Amendments.amend`); an order that asks for more is then checked for
money (RSK-008's concentration when it adds to a triggered order, then
:meth:`Amendments._check_amend_funds`: the spot balance LIQ-055, or
LIQ-042, the risk limit RSK-007 and the order margin MRG-060 with MRG-061's
chosen-tier charge); and only then changed (:meth:`Amendments._apply_amend`:
an untriggered order is re-indexed, an amendment that crosses the book trades
as a new order would, any other keeps or loses its queue place in the book).
The price checks, LIQ-042 and MRG-061's requirement are order entry's own
(:class:`engine.core.entry.OrderEntry`), so an amendment is judged as a new
order is.  It owns no state of its own.

Split out of ``entry.py`` (which keeps PlaceOrder and triggered orders) so
that module stays readable in one sitting.
"""

from __future__ import annotations

from perpspec.engine.core import commands as cmd
from perpspec.engine.core import orders as o
from perpspec.engine.core.accounts import Account, PositionState
from perpspec.engine.core.entry import MAX_CL_ORD_ID, OrderEntry
from perpspec.engine.core.entry_terms import LIMIT_PRICED, check_price_protection, trailing_reference
from perpspec.engine.core.events import Reason
from perpspec.engine.core.fills import Fills
from perpspec.engine.core.ledger import Ledger, peek_position
from perpspec.engine.core.market import Market, is_expired, is_spot
from perpspec.engine.core.orders import Order
from perpspec.engine.core.registry import OrderRegistry, reducible
from perpspec.engine.core.rejects import Rej, is_int, show
from perpspec.engine.core.risk import Risk
from perpspec.engine.core.stream import EventStream
from perpspec.engine.core.triggers import Triggers
from perpspec.rules.instrument import Instrument
from perpspec.rules.margin import check_order_margin, compute_order_requirement
from perpspec.rules.risk_limit import check_risk_limit
from perpspec.rules.solvency import FILL_CANCEL_TEXT


class Amendments:
    """AmendOrder: validation, the money checks of an order that asks for more, the change."""

    def __init__(
        self,
        market: Market,
        ledger: Ledger,
        risk: Risk,
        triggers: Triggers,
        registry: OrderRegistry,
        fills: Fills,
        entry: OrderEntry,
        stream: EventStream,
    ) -> None:
        self.market = market
        self.ledger = ledger
        self.risk = risk
        self.triggers = triggers
        self.registry = registry
        self.fills = fills
        self.entry = entry
        self.stream = stream

    def amend(self, c: cmd.AmendOrder) -> Rej | int:
        """AmendOrder: new quantity, price, stopPx, peg offset or clOrdID of a live order (validated, then applied).

        A new clOrdID (BitMEX's rename) is judged as PlaceOrder judges one: at most 36 characters, and not
        another live order's of the account (``DuplicateClOrdID``); the order's own, ``""`` or None renames
        nothing.  A rename alone is an amendment like any other (every check below still applies).

        The checks read as one list in the order the rejects are decided; the
        money checks are :meth:`_check_amend_funds`, the change :meth:`_apply_amend`.
        """
        account = self.ledger.account(c.account)
        if isinstance(account, Rej):
            return account
        order = self.registry.find_order(account, c.order_id, c.orig_cl_ord_id)
        if isinstance(order, Rej):
            return order
        for name in ("order_qty", "leaves_qty", "price", "stop_px", "peg_offset_value"):
            value = getattr(c, name)
            if value is not None and not is_int(value):
                return Rej(Reason.MALFORMED, f"{name} must be an integer")
        cl_ord_id = order.cl_ord_id
        if c.cl_ord_id is not None and c.cl_ord_id != "" and c.cl_ord_id != cl_ord_id:
            if len(c.cl_ord_id) > MAX_CL_ORD_ID:
                return Rej(Reason.MALFORMED, "clOrdID longer than 36 characters")
            if c.cl_ord_id in account.cl_ord_ids:
                return Rej(Reason.DUPLICATE_CL_ORD_ID, f"clOrdID {show(c.cl_ord_id)} is live")
            cl_ord_id = c.cl_ord_id
        inst = self.market.instrument_map[order.symbol]
        if is_expired(inst, self.stream.time_ms):
            return Rej(Reason.CONTRACT_EXPIRED, f"{inst.symbol} expired at {inst.expiry_ms}; it only settles now")
        if c.order_qty is not None and c.leaves_qty is not None:
            return Rej(Reason.MALFORMED, "orderQty or leavesQty, not both")
        leaves = order.leaves_qty
        if c.order_qty is not None:
            leaves = c.order_qty - order.cum_qty
        elif c.leaves_qty is not None:
            leaves = c.leaves_qty
        if leaves <= 0 or leaves % inst.lot_size != 0:
            return Rej(Reason.INVALID_QTY, "the new open quantity must be a positive multiple of lotSize")
        if order.cum_qty + leaves > inst.max_order_qty:
            return Rej(Reason.QTY_TOO_LARGE, "orderQty above maxOrderQty")
        price = order.price
        if c.price is not None:
            if order.ord_type not in o.PRICED_TYPES:
                return Rej(Reason.NOT_AMENDABLE, f"{order.ord_type} has no price")
            problem = self.entry.check_price(inst, c.price)
            if problem is not None:
                return problem
            price = c.price
        stop_px = order.stop_px
        peg_offset = order.peg_offset
        if c.stop_px is not None or c.peg_offset_value is not None:
            if order.triggered:
                return Rej(Reason.NOT_AMENDABLE, "stopPx/pegOffsetValue only on untriggered orders")
            if c.stop_px is not None:
                if order.ord_type == o.PEGGED:
                    return Rej(Reason.NOT_AMENDABLE, "a trailing stop is amended by pegOffsetValue")
                problem = self.entry.check_price(inst, c.stop_px)
                if problem is not None:
                    return problem
                stop_px = c.stop_px
            if c.peg_offset_value is not None:
                if order.ord_type != o.PEGGED:
                    return Rej(Reason.NOT_AMENDABLE, "pegOffsetValue only on pegged orders")
                offset = c.peg_offset_value
                if offset == 0 or offset % inst.tick_size != 0 or (offset > 0) == (not order.is_buy):
                    return Rej(Reason.INVALID_PRICE, "bad pegOffsetValue")
                peg_offset = offset
                reference = trailing_reference(self.market, order.symbol, order.trigger_source, order.last_within_mark)
                stop_px = reference + offset
                if stop_px <= 0 or stop_px > inst.max_price:
                    return Rej(Reason.INVALID_PRICE, "trailing stop price out of range")
        ps = peek_position(account, inst)
        if order.reduce_only and order.triggered:
            leaves = min(leaves, reducible(ps, order.is_buy))
            if leaves == 0:
                return Rej(Reason.REDUCE_ONLY_WOULD_INCREASE, "nothing left to reduce")
        book = self.market.books[order.symbol]
        crosses = order.triggered and book.crosses(order.is_buy, price) and price != order.price
        if crosses and order.post_only:
            return Rej(Reason.POST_ONLY_WOULD_TRADE, "amended ParticipateDoNotInitiate order would trade")
        if order.triggered and order.ord_type in LIMIT_PRICED and (price != order.price or leaves > order.leaves_qty):
            refusal = check_price_protection(
                self.market.books[inst.symbol], self.market.marks[inst.symbol], order.is_buy, price, leaves
            )
            if refusal is not None:
                return refusal
        if order.triggered and not order.reduce_only and leaves > order.leaves_qty and not is_spot(inst):
            # RSK-008: an amend that adds to a (triggered) order is judged as that order placed now; an untriggered
            # one is judged when it fires, a price-only or smaller amend adds nothing and is not judged
            problem = self.entry.check_concentration(inst, ps.qty, leaves if order.is_buy else -leaves)
            if problem is not None:
                return problem
        problem = self._check_amend_funds(account, inst, ps, order, leaves, price)
        if problem is not None:
            return problem
        if c.order_qty is not None or c.leaves_qty is not None:
            # ORD-012: a quantity given makes a Close order without orderQty an ordinary Close of that quantity
            order.whole_position = False
        return self._apply_amend(account, inst, order, (leaves, price, stop_px, peg_offset), crosses, cl_ord_id)

    def _check_amend_funds(
        self, account: Account, inst: Instrument, ps: PositionState, order: Order, leaves: int, price: int
    ) -> Rej | None:
        """An amended order's balance (spot) or risk limit and order margin (contracts, when it asks for more)."""
        if is_spot(inst):
            asset, need = self.registry.spot_need(inst, order.is_buy, leaves, price)
            held = self.registry.spot_reservations.get(order.order_id, (asset, 0))[1]
            if need > held:  # an amendment that reserves no more is never refused for money
                if need > (free := self.risk.spot_spendable(account, asset, held)):  # LIQ-055, not its own
                    return Rej(Reason.INSUFFICIENT_BALANCE, f"needs {need - held} more {asset}, free {free - held}")
                self.stream.spot_orders[(account.account_id, asset)] = order.order_id  # INV-SPOT-SPEND
            return None
        if order.triggered and (leaves > order.leaves_qty or price != order.price):
            signed = leaves if order.is_buy else -leaves
            unsafe = self.entry.check_solvency(account, inst, ps, signed, price)
            if unsafe is not None:
                return unsafe
            others = tuple(v for k, v in ps.orders.items() if k != order.order_id)
            after = (*others, (signed, price))
            if not order.reduce_only:
                gross = self.risk.gross_value(inst, ps, after)
                if check_risk_limit(gross, ps.risk_limit) is not None:
                    return Rej(Reason.RISK_LIMIT_EXCEEDED, f"position and orders worth {gross} exceed the risk limit")
            om_before = self.risk.contract_order_margin(inst, ps)
            om_after = self.risk.contract_order_margin(inst, ps, after)
            setting = self.risk.margin_setting(inst, ps)
            old_signed = order.leaves_qty if order.is_buy else -order.leaves_qty
            requirement = compute_order_requirement(
                inst, ps.position, self.market.marks[inst.symbol], ps.leverage, setting.pos_cross, om_before, om_after,
                signed - old_signed if leaves > order.leaves_qty else signed, price,
            )
            requirement = self.entry.order_requirement(inst, ps, signed, price, requirement)  # MRG-061's (session 17)
            if requirement > 0:
                asset = inst.settl_currency
                # MRG-061's input, as check_entry's: net of spot reservations and of what the chosen tiers hold
                # the amended order's own resting extra is charged by the requirement, not held twice
                without = ps.copy()
                without.drop_order(order.order_id)
                held = self.risk.held_tier_extras(account, asset, (inst.symbol, without))
                available = self.risk.spendable(account, asset, self.risk.account_margin(account, asset), held)
                refusal = check_order_margin(available, requirement)
                if refusal is not None:
                    return Rej(Reason.INSUFFICIENT_MARGIN, f"needs {refusal.required}, available {refusal.available}")
                self.stream.note_margin_order(account.account_id, inst.settl_currency)  # INV-MARGIN-ON-ENTRY
        return None

    def _apply_amend(
        self,
        account: Account,
        inst: Instrument,
        order: Order,
        amended: tuple[int, int, int, int],
        crosses: bool,
        cl_ord_id: str,
    ) -> int:
        """Apply a checked amendment ``(leaves, price, stopPx, peg offset)`` and clOrdID: untriggered, crossing (it
        trades), or in place."""
        leaves, price, stop_px, peg_offset = amended
        if cl_ord_id != order.cl_ord_id:
            self._rename(account, order, cl_ord_id)
        book = self.market.books[order.symbol]
        spot = is_spot(inst)
        order.stop_px = stop_px
        order.peg_offset = peg_offset
        if not order.triggered:
            order.leaves_qty = leaves
            order.order_qty = order.cum_qty + leaves
            order.price = price
            order.reset_shown()  # shown ≤ leaves, as everywhere (a snapshot holding more was refused on recovery)
            self.triggers.reindex(order)  # its stopPx or peg offset may have changed
            self.stream.emit_exec(o.EXEC_REPLACED, order)
            self.entry.run_triggers(inst)
            return order.order_id
        if crosses:
            order = book.take_out(order)  # a copy stands for it from now on (its old queue entry is left dead)
            self.registry.go_live(account, order)
            ps_real = account.positions[inst.symbol]
            ps_real.drop_order(order.order_id)
            order.price = price
            order.leaves_qty = leaves
            order.order_qty = order.cum_qty + leaves
            self.stream.emit_exec(o.EXEC_REPLACED, order)
            before, qty_before = order.cum_qty, ps_real.qty
            self.fills.sweep(account, inst, order, price)
            if order.leaves_qty == 0:
                self.registry.forget(order)
            elif self.fills.halted:  # LIQ-044
                self.registry.cancel(order, FILL_CANCEL_TEXT)
            else:
                order.reset_shown()
                book.add(order)
                if spot:
                    self.registry.reserve(order)
                else:
                    ps_real.put_order(order.order_id, order.leaves_qty if order.is_buy else -order.leaves_qty, price)
            if order.cum_qty > before:
                self.fills.cancel_unfunded_after_trade(inst, account, qty_before)
            self.entry.after_trading(inst)
            return order.order_id
        kept = book.amend(order, leaves, price)
        if kept is not order:  # requeued: a copy stands for it from now on (its old queue entry is left dead)
            order = kept
            self.registry.go_live(account, order)
        order.order_qty = order.cum_qty + leaves
        if spot:
            self.registry.reserve(order)
        else:
            account.positions[inst.symbol].put_order(order.order_id, leaves if order.is_buy else -leaves, price)
        self.stream.emit_exec(o.EXEC_REPLACED, order)
        return order.order_id

    @staticmethod
    def _rename(account: Account, order: Order, cl_ord_id: str) -> None:
        """The order is known by ``cl_ord_id`` (checked: not another live order's) from now on, in the account's
        clOrdID index too; before any copy is made of it and before its Replaced report, which carries the new id."""
        old = order.cl_ord_id
        if old and account.cl_ord_ids.get(old) == order.order_id:
            del account.cl_ord_ids[old]
        account.cl_ord_ids[cl_ord_id] = order.order_id
        order.cl_ord_id = cl_ord_id
