"""The postings of the liquidation waterfall: how a fill or a fund movement changes the :class:`Ledger`.

Part of the waterfall of :mod:`rules.waterfall`: a trader's fill moves realised
PnL into the wallet (ACC-003) and an isolated margin follows ACC-006; a
FillOrKill reduction settles as one execution (LIQ-012); the insurance fund
moves with its event (INS-004, INS-008).  Money moves only as balanced
postings between traders' wallets, cost bases and the fund
(INV-CONSERVATION).
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from perpspec.rules.events import (
    InsuranceMovement,
)
from perpspec.rules.insurance import (
    apply_fund_delta,
)
from perpspec.rules.liquidation import (
    apply_partial_close,
    compute_requirement,
)
from perpspec.rules.margin import compute_account_margin, compute_position_margin, compute_tier_free_available
from perpspec.rules.num import abs_, and_, ceildiv, clamp, concrete, ite, max_, min_, not_, or_
from perpspec.rules.order_margin import compute_order_premium
from perpspec.rules.position import Position, apply_fill
from perpspec.rules.waterfall_state import Holding, Ledger


def compute_isolated_margin_after_fill(
    old_margin: int,
    old_requirement: int,
    new_requirement: int,
    realised: int,
    premium: int,
    unallocated: int,
    available: int,
    old_qty: int,
    new_qty: int,
) -> int:
    """ACC-006: an isolated position's margin after a fill: posInit + posComm of what is left, plus its extra.

    Inputs (minor units): ``old_margin`` the isolated margin before the fill;
    ``old_requirement`` / ``new_requirement`` the position's ``posInit +
    posComm`` (MRG-003/004 at its leverage and chosen tier) before and after;
    ``realised`` the PnL the fill realised (ACC-003, already in the wallet);
    ``premium`` the loss against mark of the part the fill opened (MRG-041, 0
    for a reduction); ``unallocated`` the account's wallet after the fill
    beyond every *other* isolated margin in the currency (the pool's own
    margin included); ``available`` MRG-050's available balance of the account
    in the currency at the fill (below); ``old_qty`` / ``new_qty`` the
    position before and after.

    * **Closed** (``new_qty = 0``): the pool keeps nothing; its margin, less
      the realised loss, is the wallet's.
    * **Flipped** (the sign changes): the old position is closed and a new one
      opened, as a close followed by an open from flat: the new side holds its
      own requirement (MRG-060 charged the account its initial margin); the old
      side's extra and its realised loss are the wallet's, never the new side's.
    * **Increased, or reduced on the same side**: the pool keeps the
      requirement of what is left plus its extra (``posCross``, the margin
      above the old ``posInit + posComm``; BitMEX ``posCross − posLoss``).  The
      realised loss of the part a reduction closes is paid first from the
      requirement that part frees (``old − new requirement``), then from the
      extra; what is still unpaid is paid from the free wallet
      (``unallocated`` less what the pool already holds) as far as it and
      MRG-050's available (below) reach, so that the remainder keeps its requirement — and only beyond that from
      the remainder's requirement.  The free wallet never pays more than that
      unpaid loss, nor tops up a pool that was below its requirement before
      the fill.  The margin a reduction frees beyond its loss, and any realised
      profit, go to the cross wallet (the isolated margin is part of the
      wallet, so the wallet already holds them).
    * **A reduction of a pool short of its requirement** (a negative extra:
      funding paid from the pool): the closed part takes its share of the
      deficit with it.  The remainder's extra is ``⌈extra × |new| / |old|⌉``
      (its proportional share, rounded up, so the remainder keeps no less
      than its share and what goes to the wallet is rounded down) instead of
      the whole extra, so a reduction at the mark never lowers the pool's
      margin-to-requirement standing (redteam20_1: a half-taken Close at the
      mark left the remainder of a pool at 1.19× maintenance liquidatable).
      The closed part's share (``share − extra``, ≥ 0) is paid first from
      what the closed part frees and realises, then from MRG-050's available
      balance (below), as far as those reach; what they do not pay stays with
      the remainder (redteam24_2: a resting Close accepted by LIQ-042 before
      funding made the deficit, half filled through the mark, left the
      remainder at 0.82× maintenance at an unchanged mark while the account
      held ~100 XBT available).
      A positive extra (margin added) stays whole with the remainder.
    * **A premium**: a fill opening worse than mark brings its premium into the
      pool, as far as the free wallet reaches (not capped at the available
      below: redteam29_1/4, a premium grown as the mark fell after entry would
      otherwise start the pool below zero; LIQ-053 keeps the cross pool at
      maintenance, and the premium was already counted against the available
      as the resting order's margin); only the premium is capped, never the
      requirement (a fill one price unit worse than the mark keeps what a fill
      at the mark keeps).
    * **The bound**: after a fill the pool never holds more than ``unallocated``
      (the wallet beyond the other isolated pools) or, where that is less, the
      requirement of what is left (MRG-060 charged it against the available
      balance, which may count cross unrealised profit).  What the pool held
      above that — a premium funded by an earlier fill of the same order — goes
      back to the wallet, so a pool never takes money the account does not
      have (black_thursday: a resting isolated buy filled by liquidation orders
      far above a crashed mark, each fill's premium funded while the wallet
      still held it, would otherwise have left the wallet below zero).

    * **What the rest of the account pays** (review21_2): what the pool
      takes beyond its own money — ``top_up`` and the closed part's deficit
      share; the premium is the free wallet's (above) — is capped, besides the free wallet, at MRG-050's
      available balance at the fill, floored at 0, plus what the fill itself
      returns to the rest of the account: ``max(0, available) + realised +
      old_margin − own`` (``own``: what the pool keeps of its own money; for a
      reduction ``max(0, realised + freed)``, the closed part's freed margin
      and realised PnL; for an increase a negative figure, the requirement it
      takes).  ``available`` is MRG-050's available balance
      (:func:`rules.margin.compute_account_margin`: wallet + cross PnL − cross
      ``posMargin`` − Σ max(0, isolated margin) − order margin; BitMEX
      ``availableMargin``) less what the cross positions' chosen risk tiers
      hold beyond it (MRG-061's figure, :func:`compute_fill_available`;
      redteam31_4) of the account as the fill finds it: the fill's
      commission paid, its realised PnL not yet in the wallet, this pool still
      at its old margin, the position after the fill, and the orders after it
      (a filled maker order's quantity no longer reserved: its margin becomes
      the position's).  [I] So the pool's old margin is held in ``available``
      and its release is added once (never counted twice) — held at its
      ``posMargin`` on the position after, which adds ``posComm`` on the margin
      beyond that position's requirement, a commission that stays with the rest
      of the account (conservative: the pool gets up to that fee on its extra
      less); a fee is paid first; a negative available (cross losses at mark) lends nothing but
      takes nothing the closed part itself brings (the remainder is never
      worse off than when only freed + realised paid its share).  Money that
      backs the cross positions' margin or the open orders never moves into
      an isolated pool at a fill: with the draw at most the available, MRG-050's
      available after it is ≥ the chosen tiers' extras, so the cross pool keeps at least its
      ``posMargin`` at its chosen tier ≥ its maintenance there (review21_2: the free wallet as the cap
      moved 547,125 XBt of a cross pool's margin into an isolated remainder and
      left the cross pool at 0.92× maintenance at unchanged marks).

    Decision [I] (ACC-006, attack review 2, redteam24_2, review21_2): a
    reduction of an isolated position at an unchanged mark never lowers the
    remainder's standing — its requirement for a pool that held it, its
    proportional share of a deficit for one that did not — while MRG-050's
    available balance (with what the closed part frees and realises) covers
    what that needs, and never takes from the rest of the account more than
    that available plus what the fill returns.  Where they do not reach, the
    remainder keeps the rest of the loss or of the deficit, and may fall
    below maintenance: LIQ-042 refuses such an order at entry when the
    deficit is there then; a deficit that arrives after the order was
    accepted (funding paid while a Close rests) is paid at the fill from the
    available, as far as it reaches.  [I] The same holds for every reducing
    fill (ADL, LIQ-012's partial close).  LIQ-040 (``rules.solvency.
    compute_fill_outcome``, what LIQ-044/053/054 and LIQ-042 judge) calls this
    rule with the pool's ``available`` (``PoolState.available``): the figure
    the fill will find where the engine knows it before the fill, else [I] 0
    (a lower bound: order entry, a pool's later fills in one sweep, the
    liquidation engine's makers).

    [I] BitMEX says what a reduction does to an isolated margin (posInit is
    ``initMarginReq × posCost``, so it shrinks with the position; realised PnL
    goes to the wallet), not what an ADL, liquidation or close-out fill does:
    the rulebook applies the same rule to every fill, so a position reduced by
    ADL holds the same margin as one its owner reduced by a trade at that price.
    A liquidation fill no worse than the pool's bankruptcy price never reaches
    the free wallet (the pool's requirement and extra cover its loss).
    """
    flips = or_(and_(old_qty > 0, new_qty < 0), and_(old_qty < 0, new_qty > 0))
    freed = max_(0, old_requirement - new_requirement)  # the requirement of the part a reduction closes
    extra = ite(flips, 0, old_margin - old_requirement)  # a flip's new side starts from flat
    unpaid = ite(flips, 0, min_(0, realised + freed))  # the closed part's loss beyond what it frees (≤ 0)
    own = new_requirement + extra + unpaid  # the pool paying its loss from its own money
    top_up = min_(-unpaid, max_(0, -(extra + unpaid)))  # back to the requirement, never more than the unpaid loss
    # a reduction of a pool short of its requirement: the closed part takes its share of the deficit with it; the
    # remainder's extra is ⌈extra × |new| / |old|⌉ (its share, rounded so it keeps no less)
    reduces = and_(and_(not_(flips), new_qty != 0), abs_(new_qty) < abs_(old_qty))
    # the remainder's share of the extra; between the extra and 0 for a reduction of a deficit (the clamp changes no
    # value: it states the bounds for the proofs, whose linear abstraction does not know the quotient's)
    share = clamp(ceildiv(extra * abs_(new_qty), max_(1, abs_(old_qty))), extra, 0)
    shed = ite(and_(reduces, extra < 0), share - extra, 0)  # ≥ 0: the closed part's share of the deficit
    # what the rest of the account may pay in: MRG-050's available at the fill (floored at 0; the pool still at its old
    # margin there) plus what the fill returns to it (realised PnL and the pool's release; < 0: a requirement taken)
    room = max_(0, max_(0, available) + realised + old_margin - own)
    drawn = min_(top_up + shed, min_(max_(0, unallocated - own), room))
    # the premium from the free wallet as far as it reaches, as LIQ-040 models it (redteam29_1/4: capped at the
    # available too, a resting bid whose premium grew as the mark fell started its pool below zero while LIQ-044,
    # judging on the free wallet, let the fill through; LIQ-053 keeps the rest of the account at maintenance)
    funded = own + drawn + min_(premium, max_(0, unallocated - own - drawn))
    bound = max_(unallocated, new_requirement)  # the free wallet, or the requirement MRG-060 charged
    return ite(new_qty == 0, 0, min_(funded, bound))


def compute_fill_available(available_margin: int, tier_extras: int) -> int:
    """ACC-006: the ``available`` of :func:`compute_isolated_margin_after_fill` (and LIQ-040's
    ``PoolState.available``): MRG-050's available balance of the account as the fill finds it, less what its cross
    positions' chosen risk tiers hold beyond MRG-050's own-tier figures (``tier_extras`` ≥ 0: MRG-061's figure, which
    order entry, a withdrawal (MRG-064) and MRG-067's clean-up do not spend either), floored at 0.

    MRG-050 prices a cross position at its own risk steps while its pool (LIQ-001) holds it at the chosen tier, so its
    available balance counts the chosen tier's extra as free.  An isolated fill drawing at most this figure leaves
    MRG-050's available ≥ the extras (or draws nothing), so the cross pool keeps its chosen-tier ``posInit +
    posComm`` (≥ its maintenance there) — redteam31_4: capped at MRG-050's available alone, a fill took a cross XBTUSD
    pool at tier 3 from 103,075,000 to 75,512,500 against a tier-3 maintenance of 83,075,000 at unchanged marks.  The
    figure never exceeds MRG-050's available (floored at 0), the floor changes no ACC-006 outcome (ACC-006 floors
    ``available`` at 0 itself).
    """
    return max_(0, compute_tier_free_available(available_margin, tier_extras))  # MRG-061's figure, floored


@concrete
def compute_free_wallet(wallet_after: int, currency: str, other_isolated: Iterable[tuple[str, int]]) -> int:
    """The free wallet of ACC-006 (``unallocated``): the wallet after a fill beyond the *other* isolated pools in it.

    ``wallet_after`` is the account's ``currency`` wallet after the fill (realised PnL and fee included);
    ``other_isolated`` the (settlement currency, isolated margin) of each of the account's other isolated
    positions.  Only pools settled in ``currency`` hold part of this wallet: a pool in another currency (an
    isolated XBTUSDT position beside an XBt wallet) is money of another wallet and is not subtracted
    (redteam25_1).  The engine's ``Fills.apply_effect`` and the rules model's
    :func:`get_isolated_margin_after_fill` both compute the argument here.
    """
    free = wallet_after
    for other_currency, margin in other_isolated:
        if other_currency == currency:
            free -= margin  # another isolated pool's margin is not the account's to move
    return free


@concrete
def get_ledger_available(ledger: Ledger, account_id: int, currency: str) -> int:
    """MRG-050's available balance of ``account_id`` in ``currency`` on the waterfall's ledger (ACC-006's ``available``).

    :func:`rules.margin.compute_account_margin` over the account's holdings settled in ``currency`` (MRG-020 at the
    mark, each isolated holding at its margin); the ledger abstracts resting orders away (they are cancelled when
    their owner is liquidated), so no order margin is held.
    """
    lines = tuple(
        compute_position_margin(
            ledger.instrument_map[symbol],
            holding.position,
            ledger.marks[symbol],
            holding.leverage_hundredths,
            ledger.margin_setting(account_id, symbol).pos_cross,
        )
        for (account, symbol), holding in sorted(ledger.holdings.items())
        if account == account_id
        and ledger.instrument_map[symbol].settl_currency == currency
        and (holding.position.qty != 0 or holding.isolated_margin != 0)
    )
    return compute_account_margin(ledger.wallet(account_id, currency), lines, 0).available_margin


@concrete
def get_opened_qty(old_qty: int, new_qty: int) -> int:
    """The signed part of a position change that opens or increases (0 for a pure reduction)."""
    if old_qty == 0 or (old_qty > 0) != (new_qty > 0):
        return new_qty
    if abs(new_qty) > abs(old_qty):
        return new_qty - old_qty
    return 0


@concrete
def get_isolated_margin_after_fill(
    ledger: Ledger, account_id: int, symbol: str, after: Position, realised: int, price: int | None
) -> int:
    """Applies ACC-006 on the ledger (``price``: the fill's, for the premium; None: a close, no premium).

    ``ledger`` is the state before the fill; 0 for a cross holding.
    """
    holding = ledger.holdings.get((account_id, symbol), Holding())
    if not holding.is_isolated:
        return 0
    inst = ledger.instrument_map[symbol]
    old = compute_requirement(inst, holding.position, holding.leverage_hundredths, holding.chosen_tier)
    new = compute_requirement(inst, after, holding.leverage_hundredths, holding.chosen_tier)
    opened = get_opened_qty(holding.position.qty, after.qty)
    premium = 0 if price is None else compute_order_premium(inst, opened, price, ledger.marks[symbol])
    unallocated = compute_free_wallet(
        ledger.wallet(account_id, inst.settl_currency) + realised,
        inst.settl_currency,
        (
            (ledger.instrument_map[other_symbol].settl_currency, other.isolated_margin)
            for (account, other_symbol), other in sorted(ledger.holdings.items())
            if account == account_id and other_symbol != symbol and other.is_isolated
        ),
    )
    # MRG-050 as the fill finds the account: the position after the fill, the pool still at its old margin, the
    # realised PnL not yet in the wallet (the ledger's fills pay no commission)
    found = apply_holding(ledger, account_id, symbol, attrs.evolve(holding, position=after))
    return compute_isolated_margin_after_fill(
        holding.isolated_margin,
        old.pos_init + old.pos_comm,
        new.pos_init + new.pos_comm,
        realised,
        premium,
        unallocated,
        get_ledger_available(found, account_id, inst.settl_currency),
        holding.position.qty,
        after.qty,
    )


@concrete
def apply_holding_fill(ledger: Ledger, account_id: int, symbol: str, fill_qty: int, price: int) -> Ledger:
    """Applies ACC-003 for a trader: the fill moves realised PnL into the wallet; an isolated margin follows ACC-006."""
    inst = ledger.instrument_map[symbol]
    holding = ledger.holdings.get((account_id, symbol), Holding())
    position, realised = apply_fill(inst, holding.position, fill_qty, price)
    isolated_margin = get_isolated_margin_after_fill(ledger, account_id, symbol, position, realised, price)
    wallets = dict(ledger.wallets)
    key = (account_id, inst.settl_currency)
    wallets[key] = wallets.get(key, 0) + realised
    holdings = dict(ledger.holdings)
    holdings[(account_id, symbol)] = attrs.evolve(holding, position=position, isolated_margin=isolated_margin)
    return attrs.evolve(ledger, wallets=wallets, holdings=holdings)


@concrete
def apply_partial_fill(
    ledger: Ledger, account_id: int, symbol: str, close_qty: int, close_value: int, new_tier: int
) -> Ledger:
    """Applies LIQ-012 for a trader: a FillOrKill reduction settled as one execution, and the lowered tier."""
    inst = ledger.instrument_map[symbol]
    holding = ledger.holdings[(account_id, symbol)]
    position, realised = apply_partial_close(holding.position, close_qty, close_value)
    isolated_margin = get_isolated_margin_after_fill(ledger, account_id, symbol, position, realised, None)
    wallets = dict(ledger.wallets)
    key = (account_id, inst.settl_currency)
    wallets[key] = wallets.get(key, 0) + realised
    holdings = dict(ledger.holdings)
    holdings[(account_id, symbol)] = attrs.evolve(
        holding, position=position, isolated_margin=isolated_margin, chosen_tier=new_tier
    )
    return attrs.evolve(ledger, wallets=wallets, holdings=holdings)


@concrete
def apply_fund_movement(
    ledger: Ledger, currency: str, delta: int, kind: str, symbol: str, pending_id: int, rule_id: str
) -> tuple[Ledger, InsuranceMovement]:
    """Applies INS-004 on the ledger, with its event."""
    fund = ledger.funds[currency]
    after = apply_fund_delta(fund, delta, ledger.clock_ms)
    funds = dict(ledger.funds)
    funds[currency] = after
    event = InsuranceMovement(
        rule_id=rule_id,
        currency=currency,
        kind=kind,
        amount=delta,
        balance_before=fund.balance,
        balance_after=after.balance,
        timestamp_ms=ledger.clock_ms,
        symbol=symbol,
        pending_id=pending_id,
    )
    return attrs.evolve(ledger, funds=funds), event


@concrete
def process_fund_deposit(ledger: Ledger, currency: str, amount: int) -> tuple[Ledger, InsuranceMovement]:
    """INS-008: money paid into the fund from outside: fund and net deposits rise together."""
    assert amount > 0, "checked by INS-006 before"
    assert currency in ledger.funds, "checked by INS-006 before"
    deposits = dict(ledger.deposits)
    deposits[currency] = deposits.get(currency, 0) + amount
    ledger = attrs.evolve(ledger, deposits=deposits)
    return apply_fund_movement(ledger, currency, amount, "deposit", "", -1, "INS-008")


@concrete
def apply_holding(ledger: Ledger, account_id: int, symbol: str, holding: Holding) -> Ledger:
    """The ledger with ``account_id``'s holding in ``symbol`` replaced by ``holding``."""
    holdings = dict(ledger.holdings)
    holdings[(account_id, symbol)] = holding
    return attrs.evolve(ledger, holdings=holdings)
