"""The liquidation waterfall on a mark update: liquidate, close out through the book and the fund, then ADL.

This module runs the rules of :mod:`rules.liquidation`, :mod:`rules.insurance`
and :mod:`rules.adl` over a whole (rules-level) exchange state, a
:class:`Ledger`.  The order book is an **input** (:class:`Book`, resting
levels per contract, best first): the engine passes its own levels and
executes the fills the waterfall returns; tests pass a small list of levels.
Every step returns a new state and explainable events (:mod:`rules.events`).

On every mark update:

1. every pool below maintenance at the **mark** is liquidated
   (:func:`liquidate_pool`), in the order a continuously moving mark would
   have reached their liquidation prices (:func:`find_liquidatable`, LIQ-033:
   by contract, the moved one first; longs then shorts; furthest beyond
   first; then account id): its open orders are cancelled, a position above
   the base risk limit is partially liquidated if that suffices, otherwise the
   liquidation engine takes the pool's positions over — the largest at its
   bankruptcy price, the others at mark, or beyond it as far as a deficit the
   bankruptcy price could not absorb needs (LIQ-035) — and the pool's leftover
   margin goes to the insurance fund;
2. every taken-over position is closed (:func:`close_out`), in take-over
   order (LIQ-034): in the book while
   the fund can pay for fills worse than the bankruptcy price; the rest stays
   with the liquidation engine while the fund still covers it at mark
   (ADL-031) and is retried on the next update; once the fund is depleted and
   the mark has reached its bankruptcy price (ADL-032: a held position in
   profit at mark is kept), it
   is closed by ADL at the bankruptcy price under the chosen policy; what no
   eligible position can take also stays with the liquidation engine;
3. fills in the book can move a maker below maintenance, so 1–2 repeat, at
   most ``max_rounds`` times, liquidating at most ``max_liquidations`` pools
   in all (the bounds on work per update); pools a spent budget leaves due
   wait for the next update, named by a ``WaterfallCarried`` record.

The liquidation engine is the system account :data:`LIQUIDATOR_ACCOUNT_ID`
(negative ids are system accounts, not traders): it holds taken-over
positions at their take-over price, so its realised PnL is exactly the fund's
surplus or draw, and money moves only as balanced postings between traders'
wallets, cost bases and the fund (INV-CONSERVATION).

Decisions where BitMEX is silent: liquidation, FillOrKill and ADL fills pay no
commission (the fund keeps the pool's leftover margin instead); a cross pool
with several positions is taken over as a whole; ADL runs in the same update
as soon as the book cannot close a position and the fund, marked to market
with everything the liquidation engine holds, is depleted.

The waterfall lives in five modules: this one (the rounds and LIQ-033's order),
:mod:`rules.waterfall_state` (the :class:`Ledger`, the book, pools, the event
recorder), :mod:`rules.waterfall_postings` (fills and fund movements on the
ledger), :mod:`rules.waterfall_liquidate` (step 1) and
:mod:`rules.waterfall_closeout` (step 2, ADL included).  Their public names are
importable from here too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from perpspec.rules.adl import AdlPolicy
from perpspec.rules.contract import compute_value
from perpspec.rules.events import WaterfallCarried, WaterfallEvent
from perpspec.rules.liquidation import compute_requirement
from perpspec.rules.liquidation_working import compute_next_age
from perpspec.rules.margin import compute_liquidation_price, compute_position_backing
from perpspec.rules.num import concrete
from perpspec.rules.waterfall_closeout import close_out, get_adl_candidates, get_fund_cover
from perpspec.rules.waterfall_liquidate import liquidate_pool
from perpspec.rules.waterfall_postings import (
    apply_fund_movement,
    apply_holding,
    apply_holding_fill,
    apply_partial_fill,
    compute_isolated_margin_after_fill,
    get_isolated_margin_after_fill,
    get_opened_qty,
    process_fund_deposit,
)
from perpspec.rules.waterfall_state import (
    LIQUIDATOR_ACCOUNT_ID,
    Book,
    BookLevel,
    Holding,
    Ledger,
    PendingCloseOut,
    Pool,
    Recorder,
    apply_book_consumption,
    get_book_side,
    get_pool,
    get_pool_keys,
    snapshot_pool,
)

__all__ = [
    "LIQUIDATOR_ACCOUNT_ID",
    "MAX_LIQUIDATIONS_PER_UPDATE",
    "Book",
    "BookLevel",
    "Holding",
    "Ledger",
    "PendingCloseOut",
    "Pool",
    "Recorder",
    "WaterfallResult",
    "apply_book_consumption",
    "apply_fund_movement",
    "apply_holding",
    "apply_holding_fill",
    "apply_partial_fill",
    "close_out",
    "compute_isolated_margin_after_fill",
    "find_liquidatable",
    "get_adl_candidates",
    "get_book_side",
    "get_contract_order",
    "get_fund_cover",
    "get_isolated_margin_after_fill",
    "get_liquidation_order_key",
    "get_opened_qty",
    "get_pool",
    "get_pool_keys",
    "liquidate_pool",
    "process_fund_deposit",
    "process_waterfall",
    "snapshot_pool",
]


MAX_LIQUIDATIONS_PER_UPDATE = 64  # LIQ-034's budget of pools liquidated per update (the engine's default)


@attrs.frozen(kw_only=True)
class WaterfallResult:
    """The state after a mark update's waterfall, the book left, the events, and whether it completed."""

    ledger: Ledger
    books: Mapping[str, Book]
    events: tuple[WaterfallEvent, ...]
    states: tuple[Ledger, ...]  # with tracing: the state right after each event
    complete: bool  # no pool is left below maintenance at mark


@concrete
def get_contract_order(ledger: Ledger, moved: str) -> list[str]:
    """The contracts a waterfall visits: ``moved`` (whose mark or funding changed) first, then the others by symbol."""
    others = sorted(symbol for symbol in ledger.marks if symbol != moved)
    return [moved, *others] if moved in ledger.marks else others


@concrete
def get_liquidation_order_key(ledger: Ledger, pool: Pool, contracts: Sequence[str]) -> tuple[int, int, int, int]:
    """The sort key of a pool in LIQ-033's order: (contract, side, liquidation price furthest first, account)."""
    keys = []
    for symbol in pool.symbols:
        holding = ledger.holdings[(pool.account_id, symbol)]
        inst = ledger.instrument_map[symbol]
        position = holding.position
        own_maint = compute_requirement(inst, position, holding.leverage_hundredths, holding.chosen_tier).pos_maint
        own_term = compute_value(inst, position.qty, ledger.marks[symbol]) - position.cost
        # MRG-034: the margin behind this position, every other input of the pool fixed
        backing = compute_position_backing(pool.margin, pool.equity, pool.maintenance, own_term, own_maint)
        price = compute_liquidation_price(inst, position.qty, position.cost, backing, own_maint)
        is_long = position.qty > 0
        keys.append((contracts.index(symbol), 0 if is_long else 1, -price if is_long else price, pool.account_id))
    return min(keys)


@concrete
def find_liquidatable(ledger: Ledger, moved: str = "") -> list[tuple[int, str]]:
    """LIQ-033: every (account, pool) below maintenance at mark, in the order the mark crossed their liquidation prices.

    The order, a strict total order on the pools due:

    1. by contract: ``moved`` (the contract whose mark — or funding — changed)
       first, then the others by symbol; a pool with positions in several
       contracts (cross) counts in the first of them;
    2. in a contract, longs before shorts;
    3. longs from the highest liquidation price down, shorts from the lowest up
       (MRG-011 for the pool's position in that contract, the pool's other
       positions held at mark, as MRG-033): the order in which a mark moving
       continuously from its old value to the new one would have reached them,
       so the pool furthest beyond its liquidation price goes first;
    4. ties by account id (one account has one position per contract, so the
       key is unique).

    [I] BitMEX liquidates each position as the mark reaches its liquidation
    price and says nothing about positions passed in the same update.  This
    order replays a continuous mark path; it is also the engine's
    liquidation index order (sorted by liquidation price per contract and
    side), so the engine finds the pools due in that order from its index,
    one query per contract, without scanning the accounts.
    """
    contracts = get_contract_order(ledger, moved)
    found = []
    for account_id in ledger.account_ids():
        if account_id < 0:
            continue
        for key in get_pool_keys(ledger, account_id):
            pool = get_pool(ledger, account_id, key)
            if pool.excess < 0 and pool.symbols:
                found.append((get_liquidation_order_key(ledger, pool, contracts), account_id, key))
    found.sort()
    return [(account_id, key) for _, account_id, key in found]


@concrete
def process_waterfall(
    ledger: Ledger,
    books: Mapping[str, Book],
    policy: AdlPolicy,
    max_rounds: int = 8,
    trace: bool = False,
    moved: str = "",
    max_liquidations: int = MAX_LIQUIDATIONS_PER_UPDATE,
) -> WaterfallResult:
    """LIQ-034: liquidations, close-outs and ADL after a mark update, at most ``max_rounds`` rounds.

    Each round first liquidates every pool due, in LIQ-033's order (``moved``:
    the contract whose mark changed, whose pools go first), then works every
    close-out still open in take-over order (``pending_id``: pools in the
    order they were liquidated, a pool's positions largest maintenance first,
    LIQ-023), each through LIQ-032 — the book while the fund can pay, then
    ADL.  A close-out left open is not retried before the next update.  Every close-out still
    open when the waterfall starts is one waterfall older (LIQ-050), so its working limit
    moves toward the market from one update to the next.  The rounds go on while a round
    liquidated a pool or its close-outs left one due (a close-out carried over from an earlier
    update can fill a maker far from the mark, leaving it below maintenance).

    [I] BitMEX is silent on the order of close-outs of one update.  Take-over
    order is one queue whatever the contracts: all of the update's
    take-overs are done before the first close-out, so ADL-031's fund cover
    sees every position the liquidation engine holds, and a cross pool's
    largest position (taken over at its bankruptcy price) meets the fund
    before the pool's others (taken over at mark).

    The work is bounded twice: at most ``max_rounds`` rounds, and at most
    ``max_liquidations`` pools liquidated (a pool found no longer due when its
    turn comes costs nothing).  Once that budget is spent the round's close-outs
    are worked and the waterfall stops; the pools still due then wait for the next
    update, and a :class:`WaterfallCarried` record (LIQ-034) names them, so a
    reader of the events knows the update's waterfall is incomplete and why.

    The budget is the mark's: a pool a trade leaves below maintenance (a maker filled at a stale price, a
    taker already below it) is taken over by the trading command itself, at the current marks, before it
    returns, and its close-outs worked as here; that take-over liquidates only pools of accounts the
    command's fills (then its own close-outs) changed, with no budget, so its work is the command's own and
    no pool it leaves due waits for an update [I] (BitMEX's liquidation engine takes a pool over at once;
    session 20, redteam27_3: one sell into 200 stale bids made 200 pools due that spent three updates' budgets
    while a trader below maintenance behind them kept its position).

    With ``trace`` the result also holds the state after every event, so a
    checker can test every invariant between the steps of the waterfall.
    """
    work = dict(books)
    rec = Recorder(trace_states=trace)
    # LIQ-050: a close-out's age counts the waterfalls the mark has spent at or beyond its take-over price (0 in profit)
    ledger = attrs.evolve(
        ledger,
        pending=tuple(
            attrs.evolve(p, age=compute_next_age(p.age, p.qty, p.takeover_price, ledger.marks[p.symbol]))
            for p in ledger.pending
        ),
    )
    stuck: set[int] = set()  # close-outs that found no taker this update: retried on the next one
    budget = max_liquidations
    for _ in range(max_rounds):
        due = find_liquidatable(ledger, moved)
        for account_id, key in due:
            if budget == 0:
                break
            pool = get_pool(ledger, account_id, key)
            if pool.excess >= 0 or not pool.symbols:
                continue  # LIQ-031 re-checks: an earlier liquidation's fills may have restored it
            budget -= 1
            ledger = liquidate_pool(ledger, work, account_id, key, rec)
        for item in ledger.pending:
            if item.pending_id in stuck:
                continue
            current = next(p for p in ledger.pending if p.pending_id == item.pending_id)
            ledger, left = close_out(ledger, work, current, policy, rec)
            if left != 0:
                stuck.add(item.pending_id)
        if budget == 0:
            break
        if not due and not find_liquidatable(ledger, moved):
            break  # nothing was due, and the close-outs (a maker's fill, ADL) left nothing due
    if budget == 0:
        carried = find_liquidatable(ledger, moved)
        if carried:
            record = WaterfallCarried(
                rule_id="LIQ-034", symbol=moved, max_liquidations=max_liquidations, pools_due=len(carried),
                account_ids=tuple(account_id for account_id, _ in carried), pools=tuple(key for _, key in carried),
            )
            rec.emit(record, ledger)
    return WaterfallResult(
        ledger=ledger,
        books=work,
        events=tuple(rec.events),
        states=tuple(rec.states),
        complete=not find_liquidatable(ledger),
    )
