"""LIQ: order-entry and fill solvency — no order, no fill takes an account beyond its bankruptcy price.

For a risk committee, in plain words:

* **What a fill does to a pool** (LIQ-040).  A fill of ``q`` contracts at price
  ``p`` moves the position by ACC-003, charges the commission (ACC-002) and,
  for an isolated position, re-sizes the margin set aside for it (ACC-006).
  The rule computes, *before* the fill, exactly the figures the fill will
  leave: the pool's equity at the **mark** (its margin plus every one of its
  positions' unrealised PnL) and the account's equity in the settlement
  currency.  Nothing is estimated: it is the same arithmetic the fill then
  posts.
* **Order entry** (LIQ-041, LIQ-042).  An order is refused with BitMEX's text
  *"Executing at order price would lead to immediate liquidation"* when, filled
  in full at its own price, it would leave its pool below maintenance at the
  current mark — unless it leaves the pool no worse than it was.  The check
  applies to every order that reduces a position (a ReduceOnly or Close order,
  or a plain order on the reducing side): an order that only opens or increases
  is MRG-060's (its initial margin and premium are charged there).  A fill at a
  better price than the order's never does worse (proved per instrument kind).
* **Every fill** (LIQ-043).  Prices move, leverage, margin and funding change
  while an order rests: so every fill, the resting maker's and the taker's, is
  checked again when it happens.  A fill is executed only if it leaves both
  the pool and the account with equity ≥ 0 at mark — or no lower than before
  (a fill never makes a solvent account insolvent, and may help an insolvent
  one).  Decision [I] (LIQ-044): a resting order whose fill fails the check is
  **cancelled** ("Canceled: fill would take the account beyond its bankruptcy
  price") and the incoming order trades with the next maker; an incoming order
  whose own fill fails **stops** there and its rest is cancelled, as a market
  order reaching its bankruptcy price does (ORD-002).

* **The free wallet** (LIQ-053, LIQ-054).  An account's wallet less its
  isolated margins is its cross pool's margin; it may be below zero while a
  cross position's unrealised profit backs it (as BitMEX's available balance
  counts that profit), and a cross pool below maintenance is liquidated.  No
  fill moves into an isolated pool margin the cross pool needs (LIQ-053), and
  none leaves the free wallet below zero with no cross position left to back
  it (LIQ-054): nothing would ever liquidate that pool.  Both also judge every
  maker the liquidation engine's own orders take.

* **Spot trades** (LIQ-052, LIQ-055).  A spot pair's currencies are the same
  wallets the contracts settle in, and the currency a spot trade pays out is
  not margin for the positions left behind: to them a spot spend is a
  withdrawal.  Decision [I] (LIQ-055): a spot order may reserve, and a spot
  fill may spend, only what a Withdraw of that currency could take at that
  moment — MRG-050's withdrawable balance (never unrealised profit, never
  margin in use, less the chosen risk tiers' extras) — less what the
  account's other live spot orders reserve (for a resting maker's fill: its
  own reservation is what it spends, the others are judged at their own
  fills).  A maker whose fill it refuses is cancelled, an incoming order
  stops (LIQ-044's decision).  LIQ-052 (equities ≥ 0) still judges every
  spot fill; LIQ-055 implies it for the cross pool.

BitMEX states the order-entry refusal; it does not publish what happens to a
resting order whose fill has become unsafe: cancelling it (rather than filling
it and liquidating the account at once) keeps the loss from ever reaching the
insurance fund.

Units: money in settlement minor units, prices in price units, fees in ppm,
leverage in hundredths (0 = cross).
"""

from __future__ import annotations

import enum

import attrs

from perpspec.rules.contract import compute_notional, compute_value
from perpspec.rules.instrument import Instrument
from perpspec.rules.liquidation import compute_requirement
from perpspec.rules.margin import CROSS
from perpspec.rules.num import abs_, and_, concrete, ite, min_, not_, or_
from perpspec.rules.order_margin import compute_order_premium
from perpspec.rules.position import Position, apply_fill, compute_commission
from perpspec.rules.waterfall_postings import compute_isolated_margin_after_fill

EXECUTION_REJECT_TEXT = "Executing at order price would lead to immediate liquidation"
FILL_CANCEL_TEXT = "Canceled: fill would take the account beyond its bankruptcy price"


@attrs.frozen(kw_only=True)
class PoolState:
    """What LIQ-040 needs to know about the pool holding one position, before a fill (minor units).

    ``pool_margin``: cross — the wallet less every isolated margin in the
    currency; isolated — the margin set aside for the position.
    ``other_pnl``: the unrealised PnL at mark of the pool's other positions
    (0 for an isolated pool).  ``other_maintenance``: their maintenance.
    ``free_wallet``: the wallet less every *other* isolated margin in the
    currency (what ACC-006 may bring into an isolated pool).
    ``account_equity``: the account's equity at mark in the currency.
    ``available``: ACC-006's ``available`` for an isolated pool's fill — MRG-050's available balance of the
    account as that fill finds it less what its chosen risk tiers hold, floored at 0
    (``rules.waterfall_postings.compute_fill_available``, MRG-061's figure: redteam31_4;
    ``engine.core.isolated_fill.available_at_fill``); ACC-006 floors it at 0 too, and
    reads it only for a reduction (never for a fill that opens: the premium is paid from the free wallet).  The
    trader's sweep guards give the exact figure for an account's first fill of the sweep
    (``engine.core.isolated_fill.available_before_fill``); [I] elsewhere 0 — order entry (LIQ-042), a pool's later
    fills in one sweep (LIQ-049), the liquidation engine's makers, an order charged beyond its limit — a lower
    bound of the floored figure, so LIQ-040's margin after is a lower bound of the engine's (LIQ-044 refuses
    more; what the engine draws beyond it is within MRG-050's available, so LIQ-053/054 stay sound, fix26_2).
    A cross pool ignores it.
    """

    position: Position
    leverage_hundredths: int
    chosen_tier: int
    pool_margin: int
    other_pnl: int
    other_maintenance: int
    free_wallet: int
    account_equity: int
    available: int


@attrs.frozen(kw_only=True)
class FillOutcome:
    """LIQ-040: what a fill leaves, computed before it is posted."""

    position: Position  # ACC-003
    realised: int  # ACC-003 realised PnL
    commission: int  # ACC-002
    pool_margin: int  # the pool's margin after (cross: wallet less isolated margins; isolated: ACC-006)
    pool_equity: int  # the pool's equity at mark after
    retained_equity: int  # the pool's equity at mark after, had the fill's realised PnL and commission stayed in it
    maintenance: int  # the pool's maintenance after (LIQ-001 for the position, plus the others')
    account_equity: int  # the account's equity at mark after


def compute_opened_qty(old_qty: int, new_qty: int) -> int:
    """LIQ-045: the signed part of a position change that opens or increases it (0 for a pure reduction).

    The symbolic form of :func:`rules.waterfall_postings.get_opened_qty`: a flip or an
    open from flat opens the whole new position; growing on the same side opens
    the difference.
    """
    flips = or_(and_(old_qty > 0, new_qty <= 0), and_(old_qty < 0, new_qty > 0))
    grows = abs_(new_qty) > abs_(old_qty)
    return ite(or_(old_qty == 0, flips), new_qty, ite(grows, new_qty - old_qty, 0))


def compute_reducing_qty(position_qty: int, order_qty: int) -> int:
    """LIQ-046: how many contracts (≥ 0) of a signed order close part of the position."""
    opposite = or_(and_(position_qty > 0, order_qty < 0), and_(position_qty < 0, order_qty > 0))
    return ite(opposite, min_(abs_(position_qty), abs_(order_qty)), 0)


def compute_fill_outcome(
    inst: Instrument, pool: PoolState, fill_qty: int, price: int, fee_ppm: int, mark_price: int
) -> FillOutcome:
    """LIQ-040: the pool's and the account's equity at mark after a fill of signed ``fill_qty`` at ``price``.

    Exactly the postings of the fill: ACC-003 moves the position and realises
    PnL, ACC-002 charges ``fee_ppm`` on the fill's notional (rounded up), and
    an isolated position's margin becomes ACC-006's (the requirement of what is
    left and its extra; a reduction's loss paid from the requirement it frees,
    then the extra, then the free wallet as far as it reaches; a flip's new side
    from flat; the premium of opening worse than mark as far as the free wallet
    reaches).  ACC-006 caps a reduction's draws (``top_up`` and a deficit's
    share) at MRG-050's available balance too: the pool's ``available``, the
    same argument the engine's ACC-006 call takes (one rule).  Where the engine
    gives 0 instead of the figure [I], the draws are paid only from what the
    fill returns, a lower bound of the engine's margin (fix26_2: counting on
    the free wallet instead, a fill left an isolated pool at -433,462 XBt at
    an unchanged mark).  A premium never reads it.  A cross
    pool's margin takes the realised PnL and the commission; an isolated
    pool's commission is paid from the wallet, outside the pool.
    """
    position = pool.position
    leverage = pool.leverage_hundredths
    after, realised = apply_fill(inst, position, fill_qty, price)
    commission = compute_commission(compute_notional(inst, fill_qty, price), fee_ppm)
    old_req = compute_requirement(inst, position, leverage, pool.chosen_tier)
    new_req = compute_requirement(inst, after, leverage, pool.chosen_tier)
    premium = compute_order_premium(inst, compute_opened_qty(position.qty, after.qty), price, mark_price)
    isolated_margin = compute_isolated_margin_after_fill(
        pool.pool_margin,
        old_req.pos_init + old_req.pos_comm,
        new_req.pos_init + new_req.pos_comm,
        realised,
        premium,
        pool.free_wallet + realised - commission,
        pool.available,  # MRG-050's available as the fill finds it (ACC-006 floors it at 0)
        position.qty,
        after.qty,
    )
    is_cross = leverage == CROSS
    margin_after = ite(is_cross, pool.pool_margin + realised - commission, isolated_margin)
    pnl_before = compute_value(inst, position.qty, mark_price) - position.cost
    pnl_after = compute_value(inst, after.qty, mark_price) - after.cost
    return FillOutcome(
        position=after,
        realised=realised,
        commission=commission,
        pool_margin=margin_after,
        pool_equity=margin_after + ite(is_cross, pool.other_pnl, 0) + pnl_after,
        retained_equity=pool.pool_margin + realised - commission + ite(is_cross, pool.other_pnl, 0) + pnl_after,
        maintenance=pool.other_maintenance + new_req.pos_maint,
        account_equity=pool.account_equity + realised - commission + pnl_after - pnl_before,
    )


def apply_fill_to_pool(
    inst: Instrument, pool: PoolState, fill_qty: int, price: int, fee_ppm: int, mark_price: int
) -> PoolState:
    """LIQ-049: the pool as it stands after a fill (LIQ-040's outcome), for the next fill of the same sweep.

    The other positions are untouched; the wallet moves by the realised PnL
    less the commission, so the free wallet does too.  MRG-050's available at
    the next fill depends on what LIQ-040 does not see (the account's orders):
    [I] the pool after carries 0 (a lower bound of ACC-006's floored figure).
    """
    outcome = compute_fill_outcome(inst, pool, fill_qty, price, fee_ppm, mark_price)
    return attrs.evolve(
        pool,
        position=outcome.position,
        pool_margin=outcome.pool_margin,
        free_wallet=pool.free_wallet + outcome.realised - outcome.commission,
        account_equity=outcome.account_equity,
        available=0,
    )


def compute_pool_excess(inst: Instrument, pool: PoolState, mark_price: int) -> int:
    """LIQ-047: the pool's margin excess at mark before any fill (LIQ-002: equity − maintenance)."""
    position = pool.position
    leverage = pool.leverage_hundredths
    own = compute_requirement(inst, position, leverage, pool.chosen_tier)
    pnl = compute_value(inst, position.qty, mark_price) - position.cost
    equity = pool.pool_margin + ite(leverage == CROSS, pool.other_pnl, 0) + pnl
    return equity - pool.other_maintenance - own.pos_maint


def is_execution_safe(excess_before: int, excess_after: int) -> bool:
    """LIQ-041: an order filled at its price leaves its pool at or above maintenance, or no worse than before."""
    return or_(excess_after >= 0, excess_after >= excess_before)


def is_fill_solvent(pool_before: int, pool_after: int, account_before: int, account_after: int) -> bool:
    """LIQ-043: a fill leaves the pool's and the account's equity at mark ≥ 0, each or no lower than before."""
    pool_ok = or_(pool_after >= 0, pool_after >= pool_before)
    account_ok = or_(account_after >= 0, account_after >= account_before)
    return and_(pool_ok, account_ok)


def compute_pool_equity(inst: Instrument, pool: PoolState, mark_price: int) -> int:
    """LIQ-048: the pool's equity at mark before a fill (margin + its positions' unrealised PnL)."""
    position = pool.position
    pnl = compute_value(inst, position.qty, mark_price) - position.cost
    return pool.pool_margin + ite(pool.leverage_hundredths == CROSS, pool.other_pnl, 0) + pnl


def is_fill_allowed(inst: Instrument, pool: PoolState, fill_qty: int, price: int, fee_ppm: int, mark_price: int) -> bool:
    """LIQ-044: LIQ-043 on the outcome LIQ-040 computes for one fill, the maker's or the taker's.

    A fill it refuses is not executed [I]: a resting maker order is cancelled
    (:data:`FILL_CANCEL_TEXT`) and the incoming order goes on to the next
    maker; an incoming order stops there and its rest is cancelled, as a
    market order reaching its bankruptcy price does (ORD-002).
    """
    outcome = compute_fill_outcome(inst, pool, fill_qty, price, fee_ppm, mark_price)
    before = compute_pool_equity(inst, pool, mark_price)
    return is_fill_solvent(before, outcome.pool_equity, pool.account_equity, outcome.account_equity)


def is_spot_spend_allowed(pool_equity: int, account_equity: int, spent: int) -> bool:
    """LIQ-052: LIQ-043 for a spot fill that takes ``spent`` (≥ 0) of a currency out of an account's wallet.

    A spot pair's quote (or base) currency may be the one the account's contracts settle in: the money a resting
    spot order reserved is not margin for a new order (MRG-060 counts only the free balance), but until it is
    spent it is part of the wallet the cross pool's equity is judged on (LIQ-003).  The fill is executed only if
    it leaves the cross pool in that currency (wallet less isolated margins, plus the cross positions' PnL at
    mark) and the account's equity in it ≥ 0, each or no lower than before; otherwise the resting spot order is
    cancelled and an incoming one stops (LIQ-044's decision [I]).  The currency received is not counted: it is
    another currency, and its value is not margin for these positions.
    """
    return is_fill_solvent(pool_equity, pool_equity - spent, account_equity, account_equity - spent)


def compute_spot_spendable(withdrawable: int, reserved_by_others: int) -> int:
    """LIQ-055: what a spot order may reserve, or its fills spend, of one currency.

    ``withdrawable``: what a Withdraw of the currency could take now (MRG-050's withdrawable balance less the
    chosen risk tiers' extras, as MRG-064 judges it); ``reserved_by_others``: what the account's *other* live spot
    orders reserve in it.  BitMEX lets unrealised profit back new positions (MRG-060 counts it as available), but
    a spot trade pays the currency out for another one, which is not margin for the positions left behind: it is
    a withdrawal, and may take neither unrealised profit nor margin in use (session 12: 1,100 USDT deposited, a
    cross XBTUSDT long +10,000 USDT in profit, a 9,000 USDT spot buy accepted on MRG-050's *available* balance,
    the XBT withdrawn, the wallet left at −7,946.5 USDT and the insurance fund paid it).
    """
    return withdrawable - reserved_by_others


def is_spot_spend_withdrawable(spendable: int, spent: int) -> bool:
    """LIQ-055: a spot fill spends at most what the account may spend (:func:`compute_spot_spendable` at the
    fill, less what the same sweep's earlier fills already spent from it), or nothing.

    An incoming order was charged its whole reservation at entry, so its fills pass unless the price reach or a
    fee differs from what was charged; a resting order's reservation was withdrawable when it was made, but a mark
    move or a withdrawal since may have turned it into margin in use: such a maker is cancelled, not filled.
    """
    return or_(spent <= 0, spendable - spent >= 0)


def compute_cross_draw(free_before: int, margin_before: int, free_after: int, margin_after: int) -> int:
    """LIQ-053's ``moved``: what an isolated pool's fills take out of the cross pool in the same currency.

    The cross pool's margin is the wallet less every isolated margin: from one isolated pool's view its
    ``free_wallet`` (the wallet less the *other* isolated margins) less its own margin.  A fill moves the free
    wallet by its realised PnL less its commission and the pool margin by ACC-006's change, so the cross pool
    loses ``Δ isolated margin − realised + commission``; between the sweep's start and after a fill the
    figures are the sweep's cumulative ones.  Before (redteam29_2 / fix29b): ``moved`` was the margin's
    change alone, so a flip or full close whose realised loss beyond the pool the wallet pays counted as
    nothing moved, and took a cross pool from 18.7x maintenance to −1,066,500 at unchanged marks.
    """
    return (free_before - margin_before) - (free_after - margin_after)


def is_cross_pool_kept(cross_equity: int, cross_maintenance: int, moved: int) -> bool:
    """LIQ-053: an isolated fill that moves ``moved`` of the wallet into its isolated pool keeps the cross pool safe.

    An account may hold cross positions and isolated ones in the same currency.  The cross pool's equity is the
    wallet less the isolated margins *held* (plus the cross PnL at mark), so money MRG-060 set aside for a resting
    order in an isolated contract still backs the cross positions until that order fills.  When it fills, ACC-006
    moves it into the isolated pool: the fill is executed only if the cross pool's equity after the move stays at
    or above its maintenance — or nothing moves out of it.  Otherwise the resting isolated order is cancelled
    and an incoming one stops, as LIQ-044 decides [I]; without this, a cross loss could eat the reserved money
    while the isolated fill still took it, and the insurance fund paid the cross pool's deficit.

    It judges every fill of an isolated order, whoever the other side: a trader's order, or the liquidation
    engine's close-out (LIQ-024) or partial liquidation (LIQ-022) taking a resting isolated order (before, only a
    trader's: tests/test_free_wallet.py, a close-out sold into a resting 1x ETHUSD bid, the cross pool went from
    88.8M XBt of equity to −1.9M, was liquidated in the same waterfall and the fund paid its deficit while the
    isolated pool held 90.7M).

    ``moved`` is :func:`compute_cross_draw`'s: the isolated margin's change less the realised PnL plus the
    commission (a flip's or full close's realised loss beyond the pool is the wallet's, so the cross pool's).
    """
    return or_(moved <= 0, cross_equity - moved >= cross_maintenance)


def compute_free_wallets(inst: Instrument, pool: PoolState, outcome: FillOutcome, mark_price: int) -> tuple[int, int]:
    """The two figures LIQ-054 compares: the cross pool in the fill's currency before the fill, its margin after.

    The free wallet is the wallet less every isolated margin in the currency: the cross pool's margin.  After:
    for a cross position LIQ-040's pool margin; for an isolated one ``free_wallet`` (the wallet less the
    *other* isolated margins) moved by the realised PnL less the commission, less ACC-006's margin after.
    Before: the cross pool's equity at mark — for a cross position its margin plus its positions' PnL
    (LIQ-048; the unrealised profit that may back a free wallet below zero), for an isolated one the free wallet
    (what the cross pool holds when no cross position is open: the only case LIQ-054 reads it).
    """
    is_cross = pool.leverage_hundredths == CROSS
    before = ite(is_cross, compute_pool_equity(inst, pool, mark_price), pool.free_wallet - pool.pool_margin)
    moved_wallet = pool.free_wallet + outcome.realised - outcome.commission
    after = ite(is_cross, outcome.pool_margin, moved_wallet - outcome.pool_margin)
    return before, after


def is_free_wallet_kept(cross_before: int, free_after: int, cross_open_after: bool, cross_open_before: bool = False) -> bool:
    """The comparison of LIQ-054: the free wallet after ≥ 0, or no lower than the cross pool's equity before,
    unless a cross position is left to back it.

    "No lower than before" is allowed only where no cross position was open before either (a free wallet already
    below zero with nothing to liquidate is not made worse).  A fill that closes the last open cross position
    must leave the free wallet ≥ 0: before it, the owing cross pool was the waterfall's to take over (the fund
    covering its deficit); after it, nothing would ever liquidate it (session 8: a cross pool carried by LIQ-034's
    budget at −5,108,750 was closed by its owner above the mark and left the account flat at −4,193,008).
    """
    return or_(cross_open_after, or_(free_after >= 0, and_(not_(cross_open_before), free_after >= cross_before)))


def is_fill_free_wallet_kept(
    inst: Instrument, pool: PoolState, fill_qty: int, price: int, fee_ppm: int, mark_price: int, other_cross_open: int
) -> bool:
    """LIQ-054: no fill leaves a cross pool owing with no position to liquidate.

    The **free wallet** of an account in a currency is its wallet less every isolated margin held in it: the
    cross pool's margin.  ACC-006 deliberately does not cap an isolated pool's requirement at it, and MRG-060
    counts cross unrealised profit as available (as BitMEX's available balance does), so the free wallet may be
    below zero while a cross position backs it: the cross pool's equity (free wallet plus the cross PnL at mark)
    is what LIQ-053 keeps at maintenance after every isolated fill, and a cross pool that falls below
    maintenance is liquidated, which brings its margin back to zero (the fund covers a deficit, as for any
    pool).  A cross pool with **no position** is never liquidated: a free wallet below zero there is money the
    isolated pools hold and the wallet does not, and the next isolated loss is paid with it, leaving the account
    flat and owing (tests/test_free_wallet.py: a resting sell, taken by a close-out below the mark, closed the
    cross long whose profit backed an isolated margin; the isolated pool's take-over then left the flat account
    at −436,750 XBt).

    So a fill (``fee_ppm`` its commission rate; the liquidation engine's fills pay none) is executed only if,
    when no cross position in the currency is open after it (``other_cross_open``: how many the account holds
    open in the currency's other contracts; the fill's own position counts when it is cross and left open), it
    leaves the free wallet ≥ 0, or — only where no cross position was open before it either — no lower than the
    cross pool's equity at mark was (:func:`compute_free_wallets`; :func:`is_free_wallet_kept`).  So closing the
    last cross position (whose profit may have backed the isolated margins) at a price that leaves the free
    wallet below zero is refused, even where LIQ-044 finds the pool no lower than before: an owing cross pool is
    left to the waterfall.  It applies to a trader's fills, the maker's and the taker's — isolated ones, and
    cross ones that close the account's last open cross position in the currency —, and to every maker of a
    liquidation-engine fill
    — its close-out (LIQ-024) or a partial liquidation's FillOrKill (LIQ-022) — which LIQ-044 does not judge,
    together with LIQ-053 for an isolated maker.  A refused resting order is cancelled with
    :data:`FILL_CANCEL_TEXT` and the sweep trades with the next maker; a refused incoming order stops, as LIQ-044
    decides [I].  What is still trusted: a liquidation-engine fill that leaves its maker a *position* below
    maintenance (the next round of the same waterfall liquidates it, LIQ-034).
    """
    outcome = compute_fill_outcome(inst, pool, fill_qty, price, fee_ppm, mark_price)
    before, after = compute_free_wallets(inst, pool, outcome, mark_price)
    is_cross = pool.leverage_hundredths == CROSS
    cross_open = or_(other_cross_open > 0, and_(is_cross, outcome.position.qty != 0))
    cross_open_before = or_(other_cross_open > 0, and_(is_cross, pool.position.qty != 0))
    return is_free_wallet_kept(before, after, cross_open, cross_open_before)


class SolvencyReason(enum.Enum):
    """Why an order was refused by the solvency rule (BitMEX text as the value)."""

    IMMEDIATE_LIQUIDATION = EXECUTION_REJECT_TEXT


@attrs.frozen(kw_only=True)
class SolvencyRejection:
    """A typed refusal: the reason, and the pool's margin excess before and after the would-be execution."""

    reason: SolvencyReason
    excess_before: int
    excess_after: int


def is_order_solvent(inst: Instrument, pool: PoolState, order_qty: int, price: int, fee_ppm: int, mark_price: int) -> bool:
    """LIQ-042: executing the order in full at its price leaves its pool safe (LIQ-041) and solvent (LIQ-043).

    ``order_qty`` signed (buy > 0), ``price`` the order's limit price.  The
    pool is judged as if the execution's realised PnL and commission stayed in
    it (for an isolated position: its own margin must bear its loss, BitMEX
    "an isolated position risks only its own margin"), and the account must
    stay solvent too (LIQ-043).  Only orders that reduce the position are
    judged (LIQ-046); an order that opens or increases is MRG-060's alone.
    """
    outcome = compute_fill_outcome(inst, pool, order_qty, price, fee_ppm, mark_price)
    before = compute_pool_excess(inst, pool, mark_price)
    # the pool as it would stand had the execution's PnL and commission stayed in it
    after = outcome.retained_equity - outcome.maintenance
    equity_before = compute_pool_equity(inst, pool, mark_price)
    solvent = is_fill_solvent(equity_before, outcome.pool_equity, pool.account_equity, outcome.account_equity)
    reduces = compute_reducing_qty(pool.position.qty, order_qty) > 0
    return or_(not_(reduces), and_(is_execution_safe(before, after), solvent))


@concrete
def check_order_solvency(
    inst: Instrument, pool: PoolState, order_qty: int, price: int, fee_ppm: int, mark_price: int
) -> SolvencyRejection | None:
    """Applies LIQ-042 at order entry: a typed refusal with BitMEX's text, or None."""
    if is_order_solvent(inst, pool, order_qty, price, fee_ppm, mark_price):
        return None
    outcome = compute_fill_outcome(inst, pool, order_qty, price, fee_ppm, mark_price)
    return SolvencyRejection(
        reason=SolvencyReason.IMMEDIATE_LIQUIDATION,
        excess_before=compute_pool_excess(inst, pool, mark_price),
        excess_after=outcome.retained_equity - outcome.maintenance,
    )
