"""Pure pieces of order entry (:mod:`engine.core.entry`): the price a market order reaches, the plain-limit test, LIQ-042 by kernel,
the price a trailing stop starts from.

Split out of ``entry.py`` so that module stays readable in one sitting; :class:`engine.core.entry.OrderEntry`
is their only caller.
"""

from __future__ import annotations

from perpspec.engine.core import commands as cmd
from perpspec.engine.core import orders as o
from perpspec.engine.core.accounts import PositionState
from perpspec.engine.core.book import Book, Level
from perpspec.engine.core.events import Reason
from perpspec.engine.core.market import Market
from perpspec.engine.core.rejects import Rej, show
from perpspec.engine.kernels import dispatch
from perpspec.engine.kernels.load import KernelSet
from perpspec.rules.instrument import Instrument
from perpspec.rules.margin import CROSS
from perpspec.rules.triggers import compute_trailing_reference

FAT_FINGER_PPM = 50_000  # 5%: market orders capped, limit orders checked (reference §8)
LIMIT_PRICED = (o.LIMIT, o.STOP_LIMIT, o.LIMIT_IF_TOUCHED)  # the order types the band applies to


def check_price_protection(book: Book, mark: int, is_buy: bool, price: int, leaves: int) -> Rej | None:
    """The 5% fat-finger band of a limit price (reference §8), for a new, triggered or amended order.

    A buy priced more than 5% above max(best ask, mark), or a sell more than 5% below min(best bid, mark),
    is refused when it is larger than the best opposite level's size.
    """
    if is_buy:
        best = book.best_ask()
        reference = max(best or 0, mark)
        band = reference + reference * FAT_FINGER_PPM // 1_000_000  # floor: the band is not widened
        if price > band and not book.shows_at_least(False, leaves):  # larger than the best ask's displayed size
            return Rej(Reason.FAT_FINGER, f"buy more than 5% above {reference} larger than best ask size")
        return None
    best = book.best_bid()
    reference = mark if best is None else min(best, mark)
    band = reference - reference * FAT_FINGER_PPM // 1_000_000
    if price < band and not book.shows_at_least(True, leaves):  # larger than the best bid's displayed size
        return Rej(Reason.FAT_FINGER, f"sell more than 5% below {reference} larger than best bid size")
    return None


def compute_market_reach(book: Book, is_buy: bool, qty: int, cap: int, account_id: int) -> int:
    """The worst price a market order of ``qty`` can reach before ``cap`` (0 if no liquidity).

    Own orders (cancelled by self-trade prevention) are not liquidity.  ReduceOnly
    makers (which may not be allowed to trade) do not count towards ``qty``, but a
    level holding one is reached, so the price is never better than the one the
    sweep will actually reach: the margin is charged there (MRG-060).
    """
    levels = book.asks if is_buy else book.bids
    keys = book.ask_keys if is_buy else book.bid_keys
    need = qty
    worst = 0
    for key in reversed(keys):
        price = -key if is_buy else key
        if (price > cap) if is_buy else (price < cap):
            break
        level = levels[price]
        left, reached = _reach_level(level, need, account_id)
        if reached:
            worst = price
        need = left
        if need == 0:
            break
    return worst


def _reach_level(level: Level, need: int, account_id: int) -> tuple[int, bool]:
    """:func:`compute_market_reach` at one level: what is left of ``need`` after its liquidity, and whether a live
    order of another account rests there.

    Walked in queue order and left at the order that covers ``need`` (red team 5, redteam5_4: summing the whole
    level first made K market orders into a level of N orders cost K x N in one command).
    """
    reached = False
    for queue in (level.shown, level.hidden):
        for resting in queue:
            if resting.live and resting.account != account_id:
                reached = True
                if not resting.reduce_only:
                    leaves = resting.leaves_qty
                    if leaves >= need:
                        return 0, True
                    need -= leaves
    return need, reached



def trailing_reference(market: Market, symbol: str, trigger_source: str, last_within_mark: bool) -> int:
    """The price a trailing stop is placed, or its offset amended, from (ORD-007): its trigger source's price; with
    LastWithinMark the mark while that price is outside ORD-014's band (:func:`rules.triggers.compute_trailing_reference`).
    0 while its price is not published yet."""
    price = market.trigger_price(symbol, trigger_source)
    return compute_trailing_reference(last_within_mark, price, market.marks.get(symbol, 0))


def is_plain_limit(c: cmd.PlaceOrder) -> bool:
    """A limit order with nothing but side, quantity, price and maybe a clOrdID (the fast validation path)."""
    return (
        c.price is not None
        and (c.ord_type is None or c.ord_type == o.LIMIT)
        and c.exec_inst == ""
        and c.time_in_force is None
        and c.display_qty is None
        and c.stop_px is None
        and c.peg_offset_value is None
        and c.peg_price_type is None
    )


def is_solvent_by_kernel(kernels: KernelSet, pool: tuple[int, ...], signed: int, price: int, fee: int, mark: int) -> bool:
    """LIQ-042 (``rules.solvency.is_order_solvent``) as the proved ``order_solvent_*`` kernel of the instrument.

    ``pool`` is :meth:`engine.core.risk.Risk.pool_tuple`'s flat pool.
    """
    qty, cost, leverage, tier, margin, other_pnl, other_maint, free, equity = pool
    if leverage == CROSS:
        solvent = dispatch.order_solvent_cross(
            kernels.index, qty, cost, tier, margin, other_pnl, other_maint, free, equity, signed, price, fee, mark
        )
    else:
        solvent = dispatch.order_solvent_isolated(
            kernels.index, qty, cost, leverage, tier, margin, other_pnl, other_maint, free, equity, signed, price, fee, mark
        )
    return solvent[0] == 1


def side_and_qty(
    c: cmd.PlaceOrder, inst: Instrument, ps: PositionState, close: bool
) -> tuple[bool, int] | Rej:
    """A PlaceOrder's side and quantity (``is_buy``, contracts): signed orderQty, or a Close's whole position."""
    qty = c.order_qty
    side = c.side
    if side is not None and side not in o.SIDES:
        return Rej(Reason.MALFORMED, f"side must be Buy or Sell, got {show(side)}")
    if qty is None:
        if not close:
            return Rej(Reason.INVALID_QTY, "orderQty is required (except with Close)")
        if ps.qty == 0:
            return Rej(Reason.NO_POSITION, "Close without orderQty needs an open position")
        if side is None:
            side = o.SELL if ps.qty > 0 else o.BUY
        qty = abs(ps.qty)
    elif qty < 0:
        if side is not None:
            return Rej(Reason.INVALID_QTY, "negative orderQty together with side")
        side, qty = o.SELL, -qty
    elif side is None:
        side = o.BUY
    is_buy = side == o.BUY
    if qty <= 0 or qty % inst.lot_size != 0:
        return Rej(Reason.INVALID_QTY, f"orderQty must be a positive multiple of lotSize {inst.lot_size}")
    if qty > inst.max_order_qty:
        return Rej(Reason.QTY_TOO_LARGE, f"orderQty above maxOrderQty {inst.max_order_qty}")
    return is_buy, qty
