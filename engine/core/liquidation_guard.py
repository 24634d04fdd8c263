"""The book's guard for a sweep of the liquidation engine: LIQ-054 and LIQ-053 for each maker it takes.

A trader's sweep is guarded by :meth:`engine.core.fills.Fills.make_guard` (LIQ-044, LIQ-053, LIQ-054 for
both sides; :func:`is_cross_close_kept` is LIQ-054 for a cross side, shared with the lean sweep).  The liquidation engine's close-out (LIQ-024) and a partial liquidation's FillOrKill (LIQ-022)
are not judged by LIQ-044 (a maker they take below maintenance keeps a position and is liquidated by the
next round of the waterfall, LIQ-034); each maker they take is judged by LIQ-054 (no cross pool left owing
with no position to liquidate) and, an isolated maker, by LIQ-053 (no margin a cross pool needs moves into
the isolated pool).  A refused maker is granted nothing: it leaves the book and is cancelled with
LIQ-044's text.  Each maker is judged as it stands after the sweep's earlier fills (LIQ-049); a
liquidation fill pays no commission.
"""

from __future__ import annotations

from collections.abc import Callable

from perpspec.engine.core.accounts import Account
from perpspec.engine.core.book import Fill
from perpspec.engine.core.ledger import Ledger, peek_position
from perpspec.engine.core.market import Market
from perpspec.engine.core.orders import Order
from perpspec.engine.core.risk import Risk, pool_state_of
from perpspec.rules.instrument import Instrument
from perpspec.rules.margin import CROSS
from perpspec.rules.solvency import (
    PoolState,
    apply_fill_to_pool,
    compute_cross_draw,
    compute_fill_outcome,
    is_cross_pool_kept,
    is_fill_free_wallet_kept,
)


def count_other_cross_open(market: Market, account: Account, symbol: str) -> int:
    """How many cross positions the account holds open in ``symbol``'s settlement currency, ``symbol`` aside."""
    instruments = market.instrument_map
    asset = instruments[symbol].settl_currency
    count = 0
    for other_symbol in sorted(account.positions):
        ps = account.positions[other_symbol]
        if other_symbol != symbol and ps.qty != 0 and ps.leverage == CROSS and instruments[other_symbol].settl_currency == asset:
            count += 1
    return count


def closes_exactly(qty: int, signed: int) -> bool:
    """LIQ-054's first clause: only a fill of ``signed`` that closes an open position of ``qty`` exactly can leave the
    account without that cross position (any other fill keeps a position open, or opens one)."""
    return qty != 0 and qty + signed == 0


def is_cross_close_kept(
    market: Market, account: Account, inst: Instrument, pool: tuple[int, ...], signed: int, price: int, fee: int,
    mark: int,
) -> bool:
    """LIQ-054 for a trader's fill in a *cross* pool (``pool`` as ``Risk.pool_tuple``): only a fill that closes the
    position exactly can leave the account without an open cross position, and only then is the rule asked
    (``rules.solvency.is_fill_free_wallet_kept``: the free wallet after ≥ 0 unless another cross position is open).
    """
    if not closes_exactly(pool[0], signed):
        return True  # a position stays open (or opens): the rule's own first clause
    others = count_other_cross_open(market, account, inst.symbol)
    return is_fill_free_wallet_kept(inst, pool_state_of(pool), signed, price, fee, mark, others)


def make_liquidation_guard(
    market: Market,
    ledger: Ledger,
    risk: Risk,
    symbol: str,
    fills: list[Fill],
    reduce_only_room: Callable[[str, Order, int, list[Fill]], int],
    cross_pool_of: Callable[[Account, str], tuple[int, int] | None],
    refused: dict[int, None],
) -> Callable[[Order, int], int]:
    """The guard of a liquidation sweep in ``symbol``: the ReduceOnly room, then LIQ-054 / LIQ-053 for the maker.

    ``reduce_only_room`` and ``cross_pool_of`` are :class:`~engine.core.fills.Fills`' (a ReduceOnly maker's
    room; LIQ-053's cross pool inputs); a refused maker's order id goes into ``refused`` (its cancel text).
    """
    accounts = ledger.accounts
    inst = market.instrument_map[symbol]
    mark = market.marks.get(symbol, 0)
    states: dict[int, PoolState] = {}
    starts: dict[int, tuple[int, int]] = {}  # each pool's (free wallet, margin) before the sweep (LIQ-053)
    folded = [0]  # how many of ``fills`` are folded into ``states``

    def state(account_id: int) -> PoolState:
        if account_id not in states:
            holder = accounts[account_id]
            states[account_id] = risk.pool_state(holder, inst, peek_position(holder, inst))
            starts[account_id] = (states[account_id].free_wallet, states[account_id].pool_margin)
        return states[account_id]

    def guard(maker: Order, wanted: int) -> int:
        granted = reduce_only_room(symbol, maker, wanted, fills) if maker.reduce_only else wanted
        if granted == 0 or maker.account < 0:
            return granted
        for done, qty, price in fills[folded[0]:]:
            if done.account >= 0:
                states[done.account] = apply_fill_to_pool(inst, state(done.account), qty if done.is_buy else -qty, price, 0, mark)
        folded[0] = len(fills)
        account = accounts[maker.account]
        pool = state(maker.account)
        signed = granted if maker.is_buy else -granted
        others = count_other_cross_open(market, account, symbol)
        allowed = is_fill_free_wallet_kept(inst, pool, signed, maker.price, 0, mark, others)
        if allowed and pool.leverage_hundredths != CROSS and others > 0:
            cross = cross_pool_of(account, inst.settl_currency)
            out = compute_fill_outcome(inst, pool, signed, maker.price, 0, mark)
            free = pool.free_wallet + out.realised - out.commission
            moved = compute_cross_draw(*starts[maker.account], free, out.pool_margin)
            allowed = cross is None or is_cross_pool_kept(cross[0], cross[1], moved)
        if not allowed:
            refused[maker.order_id] = None
            return 0
        return granted

    return guard
