"""ACC-006 on the engine: an isolated position's margin after one fill (``Fills.apply_effect``'s isolated branch).

Split from :mod:`engine.core.fills` (800-line bound).  Every figure comes from a rule: the premium (MRG-041),
the free wallet (``rules.waterfall_postings.compute_free_wallet``), MRG-050's available balance at the fill
(``Risk.account_margin``: ``rules.margin.compute_account_margin``) and the margin itself
(``rules.waterfall_postings.compute_isolated_margin_after_fill``).
"""

from __future__ import annotations

from perpspec.engine.core.accounts import Account, PositionState
from perpspec.engine.core.ledger import peek_position
from perpspec.engine.core.market import Market
from perpspec.engine.core.risk import CROSS, Risk
from perpspec.rules.contract import compute_notional
from perpspec.rules.instrument import Instrument
from perpspec.rules.order_margin import compute_order_charge_price, compute_order_premium
from perpspec.rules.position import apply_fill, compute_commission
from perpspec.rules.waterfall_postings import (
    compute_fill_available,
    compute_free_wallet,
    compute_isolated_margin_after_fill,
    get_opened_qty,
)


def available_at_fill(
    risk: Risk, account: Account, ps: PositionState, inst: Instrument, wallet: int, resting: tuple[int, int] | None
) -> int:
    """ACC-006's ``available``: MRG-050's available balance as the fill finds the account, less what its cross
    positions' chosen risk tiers hold (``Risk.held_tier_extras``, MRG-061's figure), floored at 0
    (``rules.waterfall_postings.compute_fill_available``).

    MRG-050 prices a cross position at its own risk steps, so its available balance counts the margin a chosen tier
    holds beyond them as free; MRG-061 (order entry), MRG-064 (a withdrawal) and MRG-067 do not spend it, and neither
    does an isolated fill (redteam31_4: a draw capped at MRG-050's available took a cross XBTUSD pool at tier 3 from
    103,075,000 to 75,512,500 against a tier-3 maintenance of 83,075,000 at unchanged marks).  With the draw at most
    this figure, MRG-050's available after it still covers the chosen tiers' extras, so the cross pool keeps its
    chosen-tier ``posInit + posComm`` (≥ its maintenance there).  The filled position is isolated: its own tier
    extra is 0 (``Risk.cross_tier_extra``), so the extras are the account's as they stand.  The floor changes no
    ACC-006 outcome (it floors ``available`` at 0 itself); it keeps LIQ-040's ``PoolState.available`` ≥ 0.

    ``ps`` holds the position after the fill and still its old isolated margin; ``wallet`` is the wallet with the
    fill's commission paid and its realised PnL not yet in it; ``resting`` the maker order the fill takes, as
    ``(order id, signed leaves after the fill)`` (its filled quantity no longer reserved), or None (a taker's
    order is not resting while it sweeps; an ADL, close-out or LIQ-012 fill takes none of the owner's orders).
    """
    orders = dict(ps.orders)
    if resting is not None and resting[0] in orders:
        if resting[1] == 0:
            del orders[resting[0]]
        else:
            orders[resting[0]] = (resting[1], orders[resting[0]][1])
    after = tuple(order for _, order in sorted(orders.items()))
    asset = inst.settl_currency
    margin = risk.account_margin(account, asset, replace=(inst.symbol, ps, after), wallet=wallet)
    return compute_fill_available(margin.available_margin, risk.held_tier_extras(account, asset))


def available_before_fill(
    risk: Risk, account: Account, inst: Instrument, fill_qty: int, price: int, fee_ppm: int, resting: tuple[int, int] | None
) -> int:
    """LIQ-040's ``PoolState.available`` for a fill not made yet: :func:`available_at_fill` as
    :func:`isolated_margin_after_fill` will call it, or 0 where that figure may differ.

    The account as it stands (no fill of this sweep posted to it yet: the guards ask only for an account's first
    fill of a sweep), ``fill_qty`` signed, ``fee_ppm`` the fill's rate (ACC-007), ``resting`` as :func:`available_at_fill`'s.  The
    fill's position after (ACC-003) and commission (ACC-002) are the rules' (the engine's ACC-004 equals them,
    proved); the wallet is the account's less the commission; the orders as the fill finds them (posted only after
    the sweep's last fill, so as they stand now, the maker order's leaves after this fill).  MRG-046 reads the book
    only through MRG-040's charge price (a quanto or linear sell at ``max(limit, best bid)``, an inverse buy at
    ``min(limit, best ask)``), and a sweep only takes makers from one side: that side's best moves away from the
    other's or empties, the other side is untouched.  So where every order left is charged at its limit on the book
    as it stands, it is charged at its limit when the fill is posted, and the figure is exact.  Elsewhere (an order
    charged beyond its limit: a crossed quote; a cross position, which ACC-006 does not concern) 0 [I], a lower bound
    of ACC-006's floored figure (the fill is judged with a reduction's draws paid only from what it returns).
    """
    ps = peek_position(account, inst)
    if ps.leverage == CROSS:
        return 0
    orders = dict(ps.orders)
    if resting is not None and resting[0] in orders:
        orders[resting[0]] = (resting[1], orders[resting[0]][1])
    bid, ask = risk.market.best(inst.symbol)
    for qty, limit in orders.values():
        if qty != 0 and compute_order_charge_price(inst, qty, limit, bid, ask) != limit:
            return 0
    after = ps.copy()
    moved, _ = apply_fill(inst, ps.position, fill_qty, price)
    after.qty, after.cost = moved.qty, moved.cost
    commission = compute_commission(compute_notional(inst, fill_qty, price), fee_ppm)
    return available_at_fill(risk, account, after, inst, account.wallet(inst.settl_currency) - commission, resting)


def isolated_margin_after_fill(
    risk: Risk,
    market: Market,
    account: Account,
    ps: PositionState,
    inst: Instrument,
    old: tuple[int, int, int],
    wallet_delta: int,
    realised: int,
    price: int | None,
    resting: tuple[int, int] | None,
) -> int:
    """ACC-006 for ``ps``, already moved to the position after the fill; ``old`` is ``(qty, requirement, margin)``
    before it; the account's wallet has not moved yet (``wallet_delta``: realised PnL less commission)."""
    old_qty, old_req, old_margin = old
    asset = inst.settl_currency
    premium = unallocated = available = 0
    if ps.qty != 0:
        # a fill opening worse than mark brings its premium (MRG-041, charged by MRG-060 at the order's mark) into
        # the pool, a reduction's loss beyond the pool and a deficit's share are paid: from ACC-006's free wallet,
        # as far as MRG-050's available at the fill reaches
        if price is not None:
            premium = compute_order_premium(inst, get_opened_qty(old_qty, ps.qty), price, market.marks[inst.symbol])
        wallet = account.wallet(asset) + wallet_delta
        unallocated = compute_free_wallet(wallet, asset, (
            (market.instrument_map[s].settl_currency, other.iso_margin)
            for s, other in account.positions.items() if other is not ps and other.leverage != CROSS))
        available = available_at_fill(risk, account, ps, inst, wallet - realised, resting)
    return compute_isolated_margin_after_fill(
        old_margin, old_req, risk.isolated_requirement(inst, ps), realised, premium, unallocated, available, old_qty,
        ps.qty,
    )
