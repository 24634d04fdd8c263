"""SET: settlement of a dated future at expiry.

At ``expiry`` every open position in the future is closed at the
**settlement price**: the time-weighted average of the index over the last
``settlementTwap`` (30 minutes) before expiry (BitMEX ``.BXBT30M``).  Each
index sample counts from its time until the next sample (the sample in
force at the window's start counts from the start); the average is rounded
half up to the price unit (neutral: longs and shorts settle at the same
price, their PnL sums to zero).

Closing a position is exactly a fill of ``−qty`` at the settlement price
through :func:`rules.position.apply_fill`: the PnL is realised from the
cost basis into the wallet, the position becomes flat.  The **settlement
fee** (``settlementFee``, e.g. 0.05%) is charged on the settled value,
rounded up toward the fee pool (as commission is), but only as far as the
holder's pool equity at the settlement price reaches (SET-006): settlement
never leaves a trader owing.  The engine cancels every open order in the
instrument and stops accepting new ones.

Conservation: the values of the closing fills cancel (Σ qty = 0 and values
are exact per lot), so Σ(Δwallet − Δcost) = −Σ fees = −Δfee pool (proved in
``proofs/obligations_funding.py``: end to end for 4 holders, and per position —
each moves exactly its value at the settlement price — for any position).  With
SET-006 the fee charged replaces the fee on both sides: the fee pool receives
exactly what the wallets pay.

SET-007: the liquidation engine's held close-outs settle into the insurance
fund at the settlement price; while the fund cannot bear their loss the
settlement is refused and the refusal names the exact ``DepositInsurance``
that lets it through (:func:`compute_settlement_shortfall`).
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from perpspec.rules.contract import compute_notional
from perpspec.rules.instrument import Instrument
from perpspec.rules.num import PPM, ceildiv, concrete, max_, min_, round_half_up_div
from perpspec.rules.position import FLAT, Position, apply_fill

IndexSample = tuple[int, int]  # (time ms, index price units)


@attrs.frozen(kw_only=True)
class PositionSettled:
    """SET-003: one holder's settlement."""

    account_id: int
    qty: int  # the quantity closed (the position before settlement)
    cost: int  # its cost basis, moved out
    realised_pnl: int  # credited to the wallet (realisedPnl)
    fee: int  # settlement fee charged (SET-006): to the wallet, credited to the fee pool
    position: Position  # after: flat
    fee_forgone: int  # SET-006: the part of SET-002's fee the pool could not bear (nobody receives it)

    @property
    def wallet_delta(self) -> int:
        """Net change of the wallet balance."""
        return self.realised_pnl - self.fee


@attrs.frozen(kw_only=True)
class InstrumentSettled:
    """SET-004: the settlement event: price, its window, every holder, the fee pool."""

    symbol: str
    time_ms: int
    settlement_price: int  # settledPrice
    window: tuple[int, int]  # [start, end) of the TWAP, ms
    samples: int  # index samples that counted
    holders: tuple[PositionSettled, ...]
    fee_pool_delta: int
    orders_cancelled: bool = True  # the engine cancels every open order in the instrument


@attrs.frozen(kw_only=True)
class SettlementRejection:
    """A settlement that cannot happen (no state change)."""

    reason: str  # "not-a-future" | "not-expired" | "no-index-samples" | "oi-imbalance" | SET-005's two
    detail: str


def compute_settlement_fee(inst: Instrument, qty: int, settlement_price: int) -> int:
    """SET-002: ``settlementFee × value`` of the settled position, rounded up toward the fee pool."""
    # ceil: the holder never pays less than the exact fee.
    return ceildiv(compute_notional(inst, qty, settlement_price) * inst.settlement_fee_ppm, PPM)


def compute_settlement_fee_charged(fee: int, pool_equity: int) -> int:
    """SET-006: the settlement fee is charged only as far as the holder's pool equity reaches.

    ``min(fee, max(0, pool_equity))``; ``pool_equity`` is the equity at the
    settlement price (= the mark, SET-005) of the pool holding the position —
    a cross pool's with every cross position's PnL, less the isolated margins;
    an isolated pool's own — before the holder's settlement.  The rest of the
    fee is forgone by the fee pool, which receives only what is charged (so
    settlement still conserves).  Why: SET-005 only asks each pool to be at or
    above *maintenance* at the settlement price, and maintenance (0.5% of the
    *entry* value + posComm) can be below the fee (0.05% of the value *at the
    settlement price*) once an inverse contract's price fell ~11.5-fold.  Found
    in session 8 (tests/test_s8_free_wallet_reach.py): a cross long at equity
    120,000 (maintenance 115,150) owed a fee of 125,000 and was settled at
    −5,000; a cross short backing an isolated margin at equity 118,425 owed
    124,891 and was left with a free wallet of −6,466 and no cross position.
    Like LIQ-036, a trader never owes more than the pool holds [I: BitMEX does
    not say; the exchange bears the shortfall].
    """
    # the pool bears the fee down to zero equity, never below; a pool already owing pays none
    return min_(fee, max_(0, pool_equity))


def compute_position_settlement(
    inst: Instrument, position: Position, settlement_price: int
) -> tuple[Position, int, int]:
    """SET-003: (flat position, realised PnL, fee due): the position closed by a fill at the settlement price.

    The fee due is SET-002's; what is charged is capped by the pool's equity (SET-006).
    """
    closed, realised = apply_fill(inst, position, -position.qty, settlement_price)
    return closed, realised, compute_settlement_fee(inst, position.qty, settlement_price)


@concrete
def compute_twap(samples: tuple[IndexSample, ...], start_ms: int, end_ms: int) -> tuple[int, int] | None:
    """SET-001: (time-weighted average over [start, end), samples counted), None without a sample.

    A sample holds from its time to the next sample's; the last one at or
    before ``start`` holds from ``start`` (without one, the window starts at the
    first sample).  Samples at or after ``end`` are ignored.
    """
    ordered = sorted(s for s in samples if s[0] < end_ms)
    before = [s for s in ordered if s[0] <= start_ms]
    inside = [s for s in ordered if s[0] > start_ms]
    counted = ([(start_ms, before[-1][1])] if before else []) + inside
    if not counted:
        return None
    weighted = 0
    for index, (time_ms, price) in enumerate(counted):
        until = counted[index + 1][0] if index + 1 < len(counted) else end_ms
        weighted += price * (until - time_ms)
    duration = end_ms - counted[0][0]
    # half up to the price unit: neutral, both sides settle at this price.
    return round_half_up_div(weighted, duration), len(counted)


@concrete
def check_settlement_ready(
    mark_price: int | None, settlement_price: int, pools_below_maintenance: tuple[int, ...]
) -> SettlementRejection | None:
    """SET-005: a future settles only once its losses have gone through the waterfall at the settlement price.

    Closing positions at the settlement price (SET-003) realises every loss in
    full; an account whose margin cannot bear it would be settled into a
    negative wallet.  So settlement waits until the mark *is* the settlement
    price (the mark update at that price ran the liquidation waterfall: pools
    below maintenance were taken over and closed out: the contract's own
    position, its book closed at expiry, by the insurance fund or ADL; the
    pool's other contracts against their books) and no pool holding the contract is still below
    maintenance there (work the per-update bound carried to a later update).
    ``pools_below_maintenance`` are the account ids of such pools, each member
    judged at the tier LIQ-021 would lower it to (as FND-020: a pool below
    maintenance only at a chosen tier has no loss for the waterfall) [I: BitMEX
    liquidates continuously before expiry and does not state the order].
    """
    if mark_price != settlement_price:
        return SettlementRejection(
            reason="mark-not-at-settlement-price",
            detail=f"mark is {mark_price}: a mark update to {settlement_price} runs the waterfall first",
        )
    if pools_below_maintenance:
        return SettlementRejection(
            reason="liquidation-pending",
            detail=f"account {pools_below_maintenance[0]} is below maintenance at the settlement price",
        )
    return None


def compute_settlement_shortfall(fund: int, held_pnl: int) -> int:
    """SET-007: what the insurance fund lacks to settle what the liquidation engine holds: ``max(0, −(fund + held_pnl))``.

    ``fund`` is the settlement currency's insurance fund, ``held_pnl`` the sum of
    the held close-outs' PnLs at the settlement price (SET-003 closes each into
    the fund).  Settlement is refused (``InsuranceShortfall``) while it is > 0,
    and the refusal names it: a ``DepositInsurance`` of exactly this amount
    (INS-006) lets the same ``Settle`` through, one less does not.  Nothing else
    can: after expiry the contract's book does not trade (the held close-out
    cannot fill) and ADL-003 never deleverages a position that would lose at the
    bankruptcy price, so when every opposite position entered beyond it the
    waterfall cannot reduce the hold (redteam27_1).  Why not a haircut of the
    opposite side's settlement profits [I]: the profit that paid for the
    bankrupt position's loss beyond its margin may already have been realised
    by an account that is flat now (redteam27_1: the opposite side's total
    profit at the settlement price is 0 against a shortfall of 7,650 XBt), so
    no conservation argument makes the remaining holders' profits cover it;
    who bears it then — the exchange, the holders still open, the losers — is
    the committee's decision, not the engine's.
    """
    # the exact amount: fund + held_pnl + shortfall ≥ 0, and any smaller deposit leaves it < 0
    return max_(0, -(fund + held_pnl))


@concrete
def process_settlement(
    inst: Instrument,
    holders: tuple[tuple[int, Position], ...],
    time_ms: int,
    index_samples: tuple[IndexSample, ...],
    pool_equities: Mapping[int, int] | None = None,
) -> InstrumentSettled | SettlementRejection:
    """SET-004: settle every holder (sorted by account id) at the index TWAP ending at expiry.

    ``pool_equities``: each holder's pool equity at the settlement price, before
    its settlement, capping its fee (SET-006); a holder not in it (or ``None``)
    is taken to bear its whole fee.
    """
    if inst.expiry_ms is None:
        return SettlementRejection(reason="not-a-future", detail=f"{inst.symbol} is perpetual")
    if time_ms < inst.expiry_ms:
        return SettlementRejection(reason="not-expired", detail=f"expiry at {inst.expiry_ms}")
    if sum(position.qty for _, position in holders) != 0:
        return SettlementRejection(reason="oi-imbalance", detail="Σ qty of the holders is not zero")
    window = (inst.expiry_ms - inst.settlement_twap_ms, inst.expiry_ms)
    twap = compute_twap(index_samples, window[0], window[1])
    if twap is None:
        return SettlementRejection(reason="no-index-samples", detail=f"none before {window[1]}")
    price, count = twap
    settled = []
    for account_id, position in sorted(holders, key=lambda row: row[0]):
        closed, realised, fee = compute_position_settlement(inst, position, price)
        assert closed == FLAT, "closing the whole quantity leaves a flat position"
        equity = None if pool_equities is None else pool_equities.get(account_id)
        charged = fee if equity is None else compute_settlement_fee_charged(fee, equity)
        settled.append(
            PositionSettled(
                account_id=account_id,
                qty=position.qty,
                cost=position.cost,
                realised_pnl=realised,
                fee=charged,
                position=closed,
                fee_forgone=fee - charged,
            )
        )
    return InstrumentSettled(
        symbol=inst.symbol,
        time_ms=time_ms,
        settlement_price=price,
        window=window,
        samples=count,
        holders=tuple(settled),
        fee_pool_delta=sum(row.fee for row in settled),
    )
