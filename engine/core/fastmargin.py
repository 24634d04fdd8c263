"""A memoised evaluation of the order-margin rules for the engine's hot path (MRG-042, MRG-046).

``rules.order_margin.compute_order_sides`` (MRG-042) sums one term per resting
order — its quantity, its value at its worst-case execution price (MRG-040)
and its premium against mark (MRG-041).  The engine evaluates it several times
per new order over every resting order of the account in that contract, which
made it most of the cost of an order.

A term is a pure function of ``(qty, limit price, mark)`` *and*, only for an
order that crosses the book, of the best bid/ask: MRG-040 charges an inverse
buy at ``min(limit, best ask)`` and a linear/quanto sell at
``max(limit, best bid)``; for an order that does not cross (every resting
order, in an uncrossed book) the charge price is its own limit.  So the terms
of non-crossing orders are computed once per ``(symbol, mark)`` **by the
rules' own functions** and reused; crossing orders are always computed
afresh.

The engine's pre-trade check uses three more shortcuts, each exact:

* the sums of an account's resting orders in a contract are kept with its
  position record (``PositionState.resting_cache``) and moved by the
  difference of terms when one order enters, changes or leaves
  (:func:`shift_resting_cache`) — MRG-042 is a plain sum of per-order terms;
* the sums with the new order are those plus its term (:func:`sides_plus`);
* MRG-045/044 over summed sides are memoised on every input
  (:func:`margin_of_sides`): a check's "after" is often the next check's
  "before".

The results are the same integers ``compute_order_sides`` and
``compute_contract_order_margin`` return — ``tests/test_fastmargin.py`` checks
that differentially on generated books, orders, marks and positions — and
nothing here is a rule: the rules stay the single source.  MRG-046 over a set of
orders given explicitly (an amend's "after") is the rule itself,
``compute_contract_order_margin``, called by ``Risk.contract_order_margin``: this
module keeps no composition of its own for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final, Protocol

from perpspec.engine.core.compiled import mypyc_attr
from perpspec.engine.kernels import dispatch
from perpspec.engine.kernels.load import kernel_index
from perpspec.rules.contract import compute_value
from perpspec.rules.instrument import ContractKind, Instrument
from perpspec.rules.margin import CROSS
from perpspec.rules.num import abs_
from perpspec.rules.order_margin import (
    OrderMargin,
    OrderSide,
    compute_order_charge_price,
    compute_order_margin,
    compute_order_margin_req_ppm,
    compute_order_premium,
)
from perpspec.rules.position import Position

Sums = tuple[int, int, int, int, int, int]  # (bid qty, bid value, bid premium, ask qty, ask value, ask premium)
NO_SUMS: Sums = (0, 0, 0, 0, 0, 0)


@mypyc_attr(allow_interpreted_subclasses=True)  # rebuilt by the state codec without __init__ (engine.core.compiled)
class RestingCache:
    """What :func:`resting_sums` kept of a position record's resting orders (``PositionState.resting_cache``).

    A cache, not part of the state hash; it travels in checkpoints and snapshots with its position record.  A
    record of an older engine (a tuple) is treated as no cache: the next :func:`resting_sums` sums afresh.

    The instrument and mark it holds for, MRG-042's six sums of every order's non-crossing term, and bounds on
    the orders' prices (the highest buy and lowest sell, or wider).  A mutable record moved in place by
    :func:`shift_resting_cache`: in the compiled build its fields are unboxed ints (no tuple, no int objects
    allocated per order change).
    """

    __slots__ = (
        "ask_premium", "ask_qty", "ask_value", "bid_premium", "bid_qty", "bid_value", "highest_buy", "inst",
        "lowest_sell", "mark",
    )

    def __init__(self, inst: Instrument, mark: int, sums: Sums, highest_buy: int, lowest_sell: int) -> None:
        self.inst = inst
        self.mark = mark
        self.bid_qty, self.bid_value, self.bid_premium, self.ask_qty, self.ask_value, self.ask_premium = sums
        self.highest_buy = highest_buy
        self.lowest_sell = lowest_sell

    def sums(self) -> Sums:
        """The six kept sums."""
        return self.bid_qty, self.bid_value, self.bid_premium, self.ask_qty, self.ask_value, self.ask_premium


class RestingOrders(Protocol):
    """What the kept sums need of a position record (``engine.core.accounts.PositionState``, which imports this module)."""

    orders: dict[int, tuple[int, int]]  # order id -> (signed leaves, limit price) of the resting orders
    resting_cache: Any  # what resting_sums kept: a RestingCache (anything else, e.g. None: nothing kept)
    leverage: int
    qty: int  # the position's, as ``position`` gives them (without building the record)
    cost: int

    @property
    def position(self) -> Position: ...


Term = tuple[int, int, int]  # (signed qty, value at the charge price, premium)

Sides = tuple[OrderSide, OrderSide]
# per symbol: the instrument object, the mark, and (qty, price) -> term of a non-crossing order for that
# (instrument, mark); anything else than the kept instrument object and mark starts the table over
_TERMS: dict[str, tuple[Instrument, int, dict[tuple[int, int], Term]]] = {}
_MAX_TERMS = 1 << 18  # a bound on memory: the table starts over beyond it
_INVERSE: Final = ContractKind.INVERSE  # read once (an Enum member looked up on its class is a metaclass lookup)


def is_inverse(inst: Instrument) -> bool:
    """``inst.is_inverse`` (``rules.instrument.Instrument.is_inverse``) without the property call and the member lookup."""
    answer = _NAMES.answer
    if answer[0] is not inst:  # the last instrument's answer read inline: one call per ask, not two
        answer = _names_of(inst)
    inverse: bool = answer[3]
    return inverse


class _LastNames:
    """The instrument asked about last (:func:`instrument_names`, :func:`is_inverse`), what they answer of it.

    A native record compiled.  Compiled, an attribute of the (interpreted, frozen) ``Instrument`` record is a dict
    lookup per read; the instrument asked about last is recognised by identity instead (a changed instrument is
    another object).  The answer is one immutable ``(instrument, symbol, settlement currency, inverse)`` tuple
    replaced by one store: another thread sees the old answer or the new one, never a mix.
    """

    def __init__(self) -> None:
        self.answer: tuple[Any, ...] = (None, "", "", False)


_NAMES: Final = _LastNames()


def _names_of(inst: Instrument) -> tuple[Any, ...]:
    answer = _NAMES.answer
    if answer[0] is not inst:
        answer = (inst, inst.symbol, inst.settl_currency, inst.kind is _INVERSE)
        _NAMES.answer = answer
    return answer


def instrument_names(inst: Instrument) -> tuple[str, str]:
    """``(inst.symbol, inst.settl_currency)`` (the last instrument's recognised by identity)."""
    answer = _NAMES.answer
    if answer[0] is not inst:  # the last instrument's answer inline: one call per ask, not two
        answer = _names_of(inst)
    symbol: str = answer[1]
    currency: str = answer[2]
    return symbol, currency


_NO_BUY: Final = -(1 << 62)  # Final: statics of the compiled build, not module-dict lookups
_NO_SELL: Final = 1 << 62


def compute_term(inst: Instrument, qty: int, price: int, mark_price: int, best_bid: int, best_ask: int) -> Term:
    """One order's MRG-042 term, by the rules (MRG-040 charge price, CON-002 value, MRG-041 premium)."""
    charge_price = compute_order_charge_price(inst, qty, price, best_bid, best_ask)
    value = abs_(compute_value(inst, qty, charge_price))
    return qty, value, compute_order_premium(inst, qty, price, mark_price)


def _term_table(inst: Instrument, mark_price: int) -> dict[tuple[int, int], Term]:
    entry = _TERMS.get(inst.symbol)
    if entry is None or entry[0] is not inst or entry[1] != mark_price or len(entry[2]) > _MAX_TERMS:
        entry = (inst, mark_price, {})
        _TERMS[inst.symbol] = entry
    return entry[2]


def resting_term(inst: Instrument, qty: int, price: int, mark_price: int) -> Term:
    """The MRG-042 term of an order that does not cross the book (charged at its own limit).

    The proved ``order_term`` kernel when one is current for ``inst`` (no table);
    else the rules, memoised per ``(symbol, mark)``.
    """
    index = kernel_index(inst)
    if index >= 0:
        value, premium = dispatch.order_term(index, qty, price, mark_price, 0, 0)
        return qty, value, premium
    terms = _term_table(inst, mark_price)
    key = (qty, price)
    term = terms.get(key)
    if term is None:
        term = compute_term(inst, qty, price, mark_price, 0, 0)
        terms[key] = term
    return term




def order_sums(
    inst: Instrument, orders: tuple[tuple[int, int], ...], mark_price: int, best_bid: int, best_ask: int
) -> Sums:
    """MRG-042's sums as six plain ints: :func:`order_sides` without the records."""
    inverse = is_inverse(inst)
    bid_qty = bid_value = bid_premium = 0
    ask_qty = ask_value = ask_premium = 0
    for qty, price in orders:
        # MRG-040's charge price depends on the book only for an order that crosses it
        crossing = (qty > 0 and 0 < best_ask < price) if inverse else (qty < 0 and best_bid > price)
        if crossing:
            _, value, premium = compute_term(inst, qty, price, mark_price, best_bid, best_ask)
        else:
            _, value, premium = resting_term(inst, qty, price, mark_price)
        if qty > 0:
            bid_qty += qty
            bid_value += value
            bid_premium += premium
        else:
            ask_qty -= qty
            ask_value += value
            ask_premium += premium
    return bid_qty, bid_value, bid_premium, ask_qty, ask_value, ask_premium


def sides_of(sums: Sums) -> Sides:
    """The two ``OrderSide`` records of flat sums (for the rules' signatures)."""
    return (
        OrderSide(qty=sums[0], value=sums[1], premium=sums[2]),
        OrderSide(qty=sums[3], value=sums[4], premium=sums[5]),
    )


def order_sides(
    inst: Instrument, orders: tuple[tuple[int, int], ...], mark_price: int, best_bid: int, best_ask: int
) -> tuple[OrderSide, OrderSide]:
    """Equal to ``rules.order_margin.compute_order_sides(inst, orders, mark_price, best_bid, best_ask)``."""
    return sides_of(order_sums(inst, orders, mark_price, best_bid, best_ask))


def resting_sums(inst: Instrument, ps: RestingOrders, mark_price: int, best_bid: int, best_ask: int) -> Sums:
    """Equal to ``compute_order_sides(inst, tuple(ps.orders.values()), mark_price, best_bid, best_ask)``, flat.

    Kept in ``ps.resting_cache`` (moved by :func:`shift_resting_cache` when an
    order changes) while the instrument and mark are the same and no order of
    the set crosses the book, so an unchanged set costs O(1), not one term per order.
    """
    cache = ps.resting_cache
    if isinstance(cache, RestingCache) and cache.inst is inst and cache.mark == mark_price:
        inverse = is_inverse(inst)
        if (best_ask == 0 or cache.highest_buy <= best_ask) if inverse else cache.lowest_sell >= best_bid:
            return cache.sums()
        # the kept bounds only widen (shift_resting_cache): make them exact; the kept sums (every order's
        # non-crossing term) still hold when no order crosses the touch
        highest, lowest = _bounds(ps.orders.values())
        if not ((0 < best_ask < highest) if inverse else (lowest < best_bid)):
            cache.highest_buy, cache.lowest_sell = highest, lowest
            return cache.sums()
    orders = tuple(ps.orders.values())
    sums = order_sums(inst, orders, mark_price, best_bid, best_ask)
    highest_buy, lowest_sell = _NO_BUY, _NO_SELL
    for qty, price in orders:
        if qty > 0:
            highest_buy = max(highest_buy, price)
        else:
            lowest_sell = min(lowest_sell, price)
    # MRG-040: an order crossing the book is charged at the touch, so the sums hold only while none does
    crossing = (0 < best_ask < highest_buy) if is_inverse(inst) else (lowest_sell < best_bid)
    ps.resting_cache = None if crossing else RestingCache(inst, mark_price, sums, highest_buy, lowest_sell)
    return sums


def _bounds(orders: Iterable[tuple[int, int]]) -> tuple[int, int]:
    """(highest buy price, lowest sell price) of ``(signed qty, price)`` orders (sentinels for an empty side)."""
    highest_buy, lowest_sell = _NO_BUY, _NO_SELL
    for qty, price in orders:
        if qty > 0:
            if price > highest_buy:
                highest_buy = price
        elif price < lowest_sell:
            lowest_sell = price
    return highest_buy, lowest_sell


def resting_sides(inst: Instrument, ps: RestingOrders, mark_price: int, best_bid: int, best_ask: int) -> Sides:
    """Equal to ``compute_order_sides(inst, tuple(ps.orders.values()), mark_price, best_bid, best_ask)``."""
    return sides_of(resting_sums(inst, ps, mark_price, best_bid, best_ask))


def sides_plus(
    inst: Instrument, sides: Sides, qty: int, price: int, mark_price: int, best_bid: int, best_ask: int
) -> Sides:
    """``sides`` of a set of orders plus one more order ``(qty, price)``: MRG-042 is a sum of per-order terms."""
    crossing = (qty > 0 and 0 < best_ask < price) if is_inverse(inst) else (qty < 0 and best_bid > price)
    if crossing:
        _, value, premium = compute_term(inst, qty, price, mark_price, best_bid, best_ask)
    else:
        _, value, premium = resting_term(inst, qty, price, mark_price)
    bids, asks = sides
    if qty > 0:
        return OrderSide(qty=bids.qty + qty, value=bids.value + value, premium=bids.premium + premium), asks
    return bids, OrderSide(qty=asks.qty - qty, value=asks.value + value, premium=asks.premium + premium)


def margin_of_sides(inst: Instrument, position: Position, sides: Sides, leverage_hundredths: int) -> OrderMargin:
    """MRG-046's last two steps (MRG-045, MRG-044) over already summed sides, memoised on every input.

    The pre-trade check of an order that then rests whole computes exactly the
    next check's "before" margin of that account, so the memo saves one of the
    two evaluations per check in the common case.
    """
    bids, asks = sides
    index = kernel_index(inst)
    if index >= 0:  # the proved order_margin_* kernel (MRG-045, MRG-044): no memo
        if leverage_hundredths == CROSS:
            out = dispatch.order_margin_cross(
                index, position.qty, position.cost, bids.qty, bids.value, bids.premium, asks.qty, asks.value, asks.premium
            )
        else:
            out = dispatch.order_margin_isolated(
                index, position.qty, position.cost, leverage_hundredths,
                bids.qty, bids.value, bids.premium, asks.qty, asks.value, asks.premium,
            )
        return OrderMargin(
            bid_qty_charged=out[0], ask_qty_charged=out[1], init_margin=out[2], premium=out[3], commission=out[4],
            total=out[5],
        )
    entry = _MARGINS.get(inst.symbol)
    if entry is None or entry[0] is not inst or len(entry[1]) >= _MAX_MARGINS:
        entry = (inst, {})
        _MARGINS[inst.symbol] = entry
    memo = entry[1]
    key = (
        position.qty,
        position.cost,
        leverage_hundredths,
        bids.qty,
        bids.value,
        bids.premium,
        asks.qty,
        asks.value,
        asks.premium,
    )
    margin = memo.get(key)
    if margin is None:
        init_req = compute_order_margin_req_ppm(inst, position.cost, bids, asks, leverage_hundredths)
        margin = compute_order_margin(inst, position.qty, bids, asks, init_req, inst.taker_fee_ppm)
        memo[key] = margin
    return margin


# per symbol: the instrument object the entries were computed for (anything else starts over), and
# (position qty, cost, leverage, the six side sums) -> MRG-046 result
_MARGINS: dict[str, tuple[Instrument, dict[tuple[int, ...], OrderMargin]]] = {}
_MAX_MARGINS = 1 << 14


def resting_order_margin(inst: Instrument, ps: RestingOrders, mark_price: int, best_bid: int, best_ask: int) -> OrderMargin:
    """Equal to ``compute_contract_order_margin(inst, ps.position, tuple(ps.orders.values()), ..., ps.leverage)``.

    MRG-046 of the resting orders: their kept sums (:func:`resting_sides`)
    through the memoised MRG-045/044 (:func:`margin_of_sides`).
    """
    if not ps.orders:
        return _NO_ORDERS
    return margin_of_sides(inst, ps.position, resting_sides(inst, ps, mark_price, best_bid, best_ask), ps.leverage)

def resting_order_margin_total(
    inst: Instrument, ps: RestingOrders, mark_price: int, best_bid: int, best_ask: int
) -> int:
    """``resting_order_margin(inst, ps, mark_price, best_bid, best_ask).total``, without records.

    With a proved kernel set current for ``inst``: the kept sums (:func:`resting_sums`, six ints) straight into
    the ``order_margin_*`` kernel (MRG-045, MRG-044), which :func:`margin_of_sides` calls with the same figures
    after building two ``OrderSide``, a ``Position`` and an ``OrderMargin`` record (MRG-067's clean-up after
    every trade read only the total: those records were a quarter of its cost).  Without one: the record path.
    """
    if not ps.orders:
        return 0
    index = kernel_index(inst)
    if index < 0:
        return resting_order_margin(inst, ps, mark_price, best_bid, best_ask).total
    bid_qty, bid_value, bid_premium, ask_qty, ask_value, ask_premium = resting_sums(
        inst, ps, mark_price, best_bid, best_ask
    )
    if ps.leverage == CROSS:
        out = dispatch.order_margin_cross(
            index, ps.qty, ps.cost, bid_qty, bid_value, bid_premium, ask_qty, ask_value, ask_premium
        )
    else:
        out = dispatch.order_margin_isolated(
            index, ps.qty, ps.cost, ps.leverage,
            bid_qty, bid_value, bid_premium, ask_qty, ask_value, ask_premium,
        )
    total: int = out[5]
    return total


_NO_ORDERS = OrderMargin(bid_qty_charged=0, ask_qty_charged=0, init_margin=0, premium=0, commission=0, total=0)


def shift_resting_cache(cache: RestingCache, old: tuple[int, int] | None, new: tuple[int, int] | None) -> None:
    """Move ``ps.resting_cache`` in place for one resting order changing from ``old`` to ``new`` (None: absent).

    MRG-042 is a sum of per-order terms, so the kept sums move by the
    difference of the two orders' terms, each computed by the rules as for an
    order that does not cross the book (the cache only ever holds such sums:
    :func:`resting_sides` checks the kept price bounds against the touch before
    using them).  The bounds only widen here (a removed order may have been the
    extreme one), which can only make a later check fall back to a full sum.
    """
    inst, mark = cache.inst, cache.mark
    index = kernel_index(inst)
    if old is not None:
        qty, price = old
        value, premium = _value_premium(inst, index, qty, price, mark)
        if qty > 0:
            cache.bid_qty -= qty
            cache.bid_value -= value
            cache.bid_premium -= premium
        else:
            cache.ask_qty += qty
            cache.ask_value -= value
            cache.ask_premium -= premium
    if new is not None:
        qty, price = new
        value, premium = _value_premium(inst, index, qty, price, mark)
        if qty > 0:
            cache.bid_qty += qty
            cache.bid_value += value
            cache.bid_premium += premium
            if price > cache.highest_buy:
                cache.highest_buy = price
        else:
            cache.ask_qty -= qty
            cache.ask_value += value
            cache.ask_premium += premium
            if price < cache.lowest_sell:
                cache.lowest_sell = price


def _value_premium(inst: Instrument, index: int, qty: int, price: int, mark_price: int) -> tuple[int, int]:
    """:func:`resting_term`'s value and premium, given ``kernel_index(inst)`` (compiled, a tuple of two unboxed ints)."""
    if index >= 0:
        return dispatch.order_term(index, qty, price, mark_price, 0, 0)
    _, value, premium = resting_term(inst, qty, price, mark_price)
    return value, premium
