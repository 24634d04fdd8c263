"""The order path of a plain limit order, as one function (issue 14's lean order path).

:func:`place_resting` is :meth:`engine.core.entry.OrderEntry.place` for the
commonest command of a busy book: a plain limit order (:func:`engine.core.entry_terms.is_plain_limit`,
no clOrdID) of a verified account in a cross-margined contract with proved kernels, priced
inside the fat-finger band.  It makes the same checks
in the same order, through the same rule kernels and helpers
(:meth:`Risk.pool_values` and the ``order_solvent_cross`` kernel for LIQ-042,
:func:`engine.core.fastmargin.resting_sums` and the fused ``pretrade_cross``
kernel for MRG-042/045/044/060, ``rules.risk_limit.check_risk_limit`` for RSK-007,
:meth:`Risk.available_margin` and ``rules.margin.check_order_margin`` for MRG-050),
but reads each input once and builds the ``Order`` record only once the order
is accepted.

It decides nothing by itself: whenever a check would refuse the order, or the
order is anything but the case above, it returns :data:`NOT_HANDLED` *before
changing anything*, and the caller runs the general path, which makes the same
pure checks again and gives the typed reject (or handles the other case).  When
it accepts, it makes exactly the general path's changes in the same order
(order id, the New execution, live, the non-crossing sweep, resting in the
book, the kept MRG-042 sums, the triggers), so events, journal and state are
byte for byte those of the general path (``tests/test_entry_plain.py`` runs both).
An order that crosses the book is entered by :func:`engine.core.entry_sweep.enter_crossing`
(the general ``_enter`` with the lean sweep; ``tests/test_entry_sweep.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, cast

from perpspec.engine.core import commands as cmd
from perpspec.engine.core import orders as o
from perpspec.engine.core.entry_sweep import enter_crossing
from perpspec.engine.core.entry_terms import check_price_protection
from perpspec.engine.core.fastmargin import resting_sums
from perpspec.engine.core.ledger import peek_position
from perpspec.engine.core.market import is_spot
from perpspec.engine.core.orders import Order
from perpspec.engine.kernels import dispatch
from perpspec.engine.kernels.load import kernel_index
from perpspec.rules.instrument import Instrument
from perpspec.rules.margin import CROSS as MARGIN_CROSS
from perpspec.rules.margin import check_order_margin, compute_tier_free_available
from perpspec.rules.risk_limit import check_risk_limit

if TYPE_CHECKING:
    from perpspec.engine.core.entry import OrderEntry

CROSS: Final = MARGIN_CROSS  # rules.margin.CROSS as a compiled constant (an imported name is a module-dict lookup per read)
# the rules' checks as compiled constants (a rule function called by its imported name is a module-dict lookup first)
CHECK_RISK_LIMIT: Final = check_risk_limit
CHECK_ORDER_MARGIN: Final = check_order_margin
NOT_HANDLED: Final = -1  # the general path decides (order ids start at 1)
# PlaceOrder's fields in declaration order: the order of the values the typed validation layer reads
FIELDS: Final = (
    "time_ms", "account", "symbol", "side", "order_qty", "price", "ord_type", "time_in_force", "exec_inst",
    "display_qty", "stop_px", "peg_offset_value", "peg_price_type", "cl_ord_id",
)
assert tuple(name for name, _, _ in cmd.FIELD_KINDS[cmd.PlaceOrder]) == FIELDS
SWEEPS = True  # a crossing order takes entry_sweep's lean sweep (tests switch it off to compare with the general path)


class _LastLimits:
    """The instrument :func:`place_resting` read last and what it reads of it (a native record when compiled).

    Compiled, an attribute of the (interpreted, frozen) ``Instrument`` record is a dict lookup per read, seven per
    order; the instrument read last is recognised by identity instead (a changed instrument is another object, and
    the answer holds the instrument, so its identity is not reused).  The answer is one immutable tuple replaced by
    one store: another thread sees the old answer or the new one, never a mix.
    """

    def __init__(self) -> None:
        self.answer: tuple[Any, ...] = _NO_LIMITS


# (instrument, is_spot, expiry_ms, lot_size, max_order_qty, tick_size, max_price, settl_currency, symbol)
_NO_LIMITS: Final[tuple[Any, ...]] = (None, True, None, 0, 0, 0, 0, "", "")
_LIMITS: Final = _LastLimits()


def instrument_limits(inst: Instrument) -> tuple[Any, ...]:
    """``(inst, is_spot(inst), inst.expiry_ms, inst.lot_size, inst.max_order_qty, inst.tick_size, inst.max_price,
    inst.settl_currency, inst.symbol)`` (the last instrument's recognised by identity)."""
    answer = _LIMITS.answer
    if answer[0] is not inst:
        answer = (
            inst, is_spot(inst), inst.expiry_ms, inst.lot_size, inst.max_order_qty, inst.tick_size, inst.max_price,
            inst.settl_currency, inst.symbol,
        )
        _LIMITS.answer = answer
    return answer


def place_resting(entry: OrderEntry, values: tuple[object, ...]) -> int:
    """PlaceOrder of a plain limit order (resting whole, or crossing: ``enter_crossing``): its order id, or
    :data:`NOT_HANDLED` (nothing changed).

    ``values``: the command's fields as the sequencer's typed validation layer read and checked them
    (``rejects.field_values``, in :data:`FIELDS` order), so each field is read once; the sequencer has moved the
    clock.
    """
    (
        _, account_field, symbol_field, side_field, qty_field, price_field, ord_type, time_in_force, exec_inst,
        display_qty, stop_px, peg_offset_value, peg_price_type, cl_ord_id,
    ) = values
    if (
        price_field is None
        or cl_ord_id != ""
        or exec_inst != ""
        or not (ord_type is None or ord_type == o.LIMIT)
        or time_in_force is not None
        or display_qty is not None
        or stop_px is not None
        or peg_offset_value is not None
        or peg_price_type is not None
        or qty_field is None
        or side_field is None
    ):
        return NOT_HANDLED
    # every field has its declared type (the typed validation layer): the casts only name it
    account_id = cast(int, account_field)
    market = entry.market
    account_key: Any = account_field  # compiled: the command's int object as the key, not ``account_id`` boxed anew
    account = entry.ledger.accounts.get(account_key)
    if account is None or not account.verified or account_id < 0:
        return NOT_HANDLED
    symbol = cast(str, symbol_field)
    inst = market.instrument_map.get(symbol)
    if inst is None:
        return NOT_HANDLED
    limits = instrument_limits(inst)
    if limits[1] or symbol in market.settled:  # a spot pair, or settled
        return NOT_HANDLED
    mark = market.marks.get(symbol, 0)
    if mark == 0:  # no mark yet (a mark price is positive)
        return NOT_HANDLED
    time_ms = entry.stream.time_ms
    expiry_ms: int | None = limits[2]
    if expiry_ms is not None and time_ms >= expiry_ms:
        return NOT_HANDLED
    kernel_ix = kernel_index(inst)  # the proved kernel set's branch, -1 without one
    if kernel_ix < 0:
        return NOT_HANDLED
    # entry_terms.side_and_qty and check_price of the general path, for a positive quantity with its side given
    side = cast(str, side_field)
    qty = cast(int, qty_field)
    price = cast(int, price_field)
    if side == o.BUY:
        is_buy = True
    elif side == o.SELL:
        is_buy = False
    else:
        return NOT_HANDLED
    lot_size: int = limits[3]
    max_order_qty: int = limits[4]
    tick_size: int = limits[5]
    max_price: int = limits[6]
    if (
        qty <= 0
        or qty % lot_size != 0
        or qty > max_order_qty
        or price <= 0
        or price % tick_size != 0
        or price > max_price
    ):
        return NOT_HANDLED
    book = market.books[symbol]
    crossing = book.crosses(is_buy, price)  # it trades: entry_sweep.enter_crossing once accepted
    if crossing and (not SWEEPS or entry.fills.fee_free):  # fee-free (a liquidation's) sweeps: the general path
        return NOT_HANDLED
    stored = account.positions.get(limits[8])  # peek_position: the position record, or a flat stand-in
    ps = stored if stored is not None else peek_position(account, inst)
    if ps.leverage != CROSS:
        return NOT_HANDLED
    # check_entry: the fat-finger band, LIQ-042 (the kernel; a refusal's figures come from the rule), MRG-060, RSK-007,
    # RSK-008
    if check_price_protection(book, mark, is_buy, price, qty) is not None:
        return NOT_HANDLED
    signed = qty if is_buy else -qty
    fills = entry.fills
    fee = fills.fee_ppm(account, inst, False)
    pool = entry.risk.pool_values(account, inst, ps, kernel_ix)
    solvent = dispatch.order_solvent_cross(
        kernel_ix, pool[0], pool[1], pool[3], pool[4], pool[5], pool[6], pool[7], pool[8], signed, price, fee, mark
    )
    if solvent[0] != 1:
        return NOT_HANDLED
    best_bid = book.best_bid() or 0
    best_ask = book.best_ask() or 0
    bid_qty, bid_value, bid_premium, ask_qty, ask_value, ask_premium = resting_sums(inst, ps, mark, best_bid, best_ask)
    checked = dispatch.pretrade_cross(
        kernel_ix, ps.qty, ps.cost, mark, bid_qty, bid_value, bid_premium, ask_qty, ask_value, ask_premium,
        signed, price, best_bid, best_ask,
    )
    cost = ps.cost
    gross = (cost if cost >= 0 else -cost) + max(checked[1], checked[4])  # RSK-007's input: |cost| + the larger side
    if CHECK_RISK_LIMIT(gross, ps.risk_limit) is not None:
        return NOT_HANDLED
    # RSK-008 (OrderEntry.check_concentration): a flat account is never concentrated, so only a holder is asked
    if ps.qty != 0 and entry.check_concentration(inst, ps.qty, signed) is not None:
        return NOT_HANDLED
    om_before, requirement = checked[6], checked[8]
    asset: str = limits[7]  # the settlement currency
    # MRG-061's requirement (OrderEntry.order_requirement): MRG-060's plus the chosen tier's extra of the fill, which
    # an opening order pays even when MRG-060 asks nothing (session 17); one attribute read at the base tier
    if requirement > 0:
        requirement += entry._chosen_tier_extra(inst, ps, signed, price)
    elif ps.chosen_tier != 0:
        requirement = entry.order_requirement(inst, ps, signed, price, requirement)
    needs_margin = requirement > 0
    if needs_margin:
        if symbol in account.positions:
            available = entry.risk.available_margin_in(account, asset, symbol, om_before)
        else:
            available = entry.risk.account_margin(account, asset).available_margin
        available -= account.reserved.get(asset, 0)  # free_balance: net of what live spot orders reserve
        # what chosen tiers hold (MRG-061): 0 without one
        available = compute_tier_free_available(available, entry.risk.held_tier_extras(account, asset))
        if CHECK_ORDER_MARGIN(available, requirement) is not None:
            return NOT_HANDLED
    # accepted: the general path's changes, in its order (check_entry's note, place, _enter)
    entry.charged_reach = 0
    stream = entry.stream
    if needs_margin:
        stream.note_margin_order(account.account_id, asset)  # INV-MARGIN-ON-ENTRY
    registry = entry.registry
    order_id = registry.next_order_id
    registry.next_order_id = order_id + 1
    order = Order(order_id=order_id, account=account.account_id, symbol=symbol, is_buy=is_buy, price=price,
                  order_qty=qty, time_ms=time_ms)
    if crossing:
        enter_crossing(entry, account, inst, order, kernel_ix, pool, fee)
        return order_id
    stream.emit_exec(o.EXEC_NEW, order)
    registry.go_live(account, order)
    # (what Fills.sweep makes sure of): the record read above, or one made now (nothing since removed a position)
    resting = stored if stored is not None else account.position(inst)
    # Fills.sweep of an order that crosses nothing: no fill, only the sweep's own notes reset
    if fills._insolvent:
        fills._insolvent = {}
    fills._halt_seen = fills.halted = False
    order.reset_shown()
    book.add(order)
    resting.put_order(order_id, signed, price)
    if entry.triggers.conditional[symbol]:  # after_trading: Triggers.run returns at once on an empty pool
        entry.after_trading(inst)
    return order_id
