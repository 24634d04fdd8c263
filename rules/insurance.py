"""INS: the insurance fund — one per settlement currency, never below zero (reference §6).

When the liquidation engine takes over a position at its bankruptcy price,
the pool's leftover margin goes to the fund.  The engine then closes the
position in the order book:

* a fill **better** than the bankruptcy price is a *surplus*: the difference
  goes to the fund;
* a fill **worse** than the bankruptcy price is a *draw*: the fund pays the
  difference — but only as far as its balance reaches.  The fund "is a buffer,
  never a guarantee": fills are accepted in book order while the fund can pay
  for them, a level it can only partly pay for is taken for the whole lots it
  can afford (rounded down, so the fund never goes below zero), and what stays
  unfilled goes to auto-deleveraging (:mod:`rules.adl`).

Every movement is recorded as a history row ``{currency, timestamp,
walletBalance}`` — the rows of BitMEX's ``GET /insurance``.  Deposits into the
fund come from outside the exchange and raise net deposits by the same amount,
so conservation (INV-CONSERVATION) holds.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

import attrs

from perpspec.rules.contract import compute_value
from perpspec.rules.instrument import Instrument
from perpspec.rules.num import concrete, ite, max_, min_


@attrs.frozen(kw_only=True)
class InsuranceRow:
    """One row of ``GET /insurance``: the fund's balance after a movement."""

    currency: str  # currency (settlement currency, e.g. "XBt")
    timestamp_ms: int  # timestamp, logical clock
    wallet_balance: int  # walletBalance, minor units


@attrs.frozen(kw_only=True)
class InsuranceFund:
    """The fund of one settlement currency: its balance and its history rows."""

    currency: str
    balance: int = 0
    history: tuple[InsuranceRow, ...] = ()


@attrs.frozen(kw_only=True)
class Fill:
    """A quantity (contracts, > 0) traded at a price (price units)."""

    qty: int
    price: int


# -- kernels ------------------------------------------------------------------------


def compute_fill_delta(inst: Instrument, close_qty: int, price: int, bankruptcy_price: int) -> int:
    """INS-001: the fund's gain from closing ``close_qty`` (signed like the taken-over position) at ``price``.

    ``value(close_qty, price) − value(close_qty, bankruptcy_price)``: positive
    (surplus) when filled better than the bankruptcy price, negative (draw)
    when worse.  Exact: values are linear in whole lots.
    """
    return compute_value(inst, close_qty, price) - compute_value(inst, close_qty, bankruptcy_price)


def compute_affordable_lots(inst: Instrument, side: int, price: int, bankruptcy_price: int, budget: int, lots: int) -> int:
    """INS-002: how many of ``lots`` lots at ``price`` the fund can pay for with ``budget`` (≥ 0).

    ``side`` is +1 when the taken-over position is long (the engine sells),
    -1 when short.  Lots at or better than the bankruptcy price cost nothing.
    """
    per_lot = compute_fill_delta(inst, side * inst.lot_size, price, bankruptcy_price)
    loss = max_(-per_lot, 0)
    # floor: never take a lot the fund cannot pay for in full
    affordable = max_(budget, 0) // ite(loss == 0, 1, loss)
    return ite(loss == 0, lots, min_(lots, affordable))


def compute_draw(fund_balance: int, shortfall: int) -> int:
    """INS-003: what the fund pays towards a ``shortfall``: all of it, or as much as it holds."""
    return min_(max_(fund_balance, 0), max_(shortfall, 0))


def apply_fund_delta(fund: InsuranceFund, delta: int, timestamp_ms: int) -> InsuranceFund:
    """INS-004: the fund after a movement of ``delta`` (callers never make it negative), with its row."""
    balance = fund.balance + delta
    row = InsuranceRow(currency=fund.currency, timestamp_ms=timestamp_ms, wallet_balance=balance)
    return InsuranceFund(currency=fund.currency, balance=balance, history=(*fund.history, row))


# -- closing a taken-over position against the book ------------------------------------


@attrs.frozen(kw_only=True)
class CloseOut:
    """What the book did for a taken-over position, from the fund's point of view."""

    accepted: tuple[Fill, ...]  # fills taken, in book order
    offer_indices: tuple[int, ...]  # which offer each accepted fill came from
    fund_delta: int  # Σ INS-001 over the accepted fills (≥ −fund balance)
    unfilled_qty: int  # contracts (> 0 or 0) left for auto-deleveraging


@concrete
def settle_close_out(
    inst: Instrument,
    fund_balance: int,
    position_qty: int,
    bankruptcy_price: int,
    offers: Sequence[Fill],
) -> CloseOut:
    """INS-005: accept fills for a taken-over position of ``position_qty`` while the fund can pay.

    ``offers`` are the fills the book can give, best first (the engine's
    resting levels, or the fills its liquidation order got).  Each is taken
    for as many whole lots as remain to close and the fund can afford
    (INS-002); the first offer the fund cannot pay for in full ends the sweep,
    because every later one is worse.
    """
    side = 1 if position_qty > 0 else -1
    remaining = abs(position_qty)
    budget = fund_balance
    delta = 0
    accepted: list[Fill] = []
    indices: list[int] = []
    for index, offer in enumerate(offers):
        if remaining == 0:
            break
        wanted_lots = min(offer.qty, remaining) // inst.lot_size
        lots = compute_affordable_lots(inst, side, offer.price, bankruptcy_price, budget + delta, wanted_lots)
        if lots > 0:
            qty = lots * inst.lot_size
            delta += compute_fill_delta(inst, side * qty, offer.price, bankruptcy_price)
            remaining -= qty
            accepted.append(Fill(qty=qty, price=offer.price))
            indices.append(index)
        if lots < wanted_lots:
            break
    return CloseOut(accepted=tuple(accepted), offer_indices=tuple(indices), fund_delta=delta, unfilled_qty=remaining)


# -- deposits ---------------------------------------------------------------------------


class InsuranceReason(enum.Enum):
    """Why a fund movement was refused."""

    NON_POSITIVE_AMOUNT = "NonPositiveAmount"
    UNKNOWN_CURRENCY = "UnknownCurrency"


@attrs.frozen(kw_only=True)
class InsuranceRejection:
    """A typed refusal with its reason."""

    reason: InsuranceReason
    currency: str
    amount: int


@concrete
def check_fund_deposit(fund: InsuranceFund | None, currency: str, amount: int) -> InsuranceRejection | None:
    """INS-006: a deposit into the fund must be positive and name a currency that has a fund."""
    if fund is None:
        return InsuranceRejection(reason=InsuranceReason.UNKNOWN_CURRENCY, currency=currency, amount=amount)
    if amount <= 0:
        return InsuranceRejection(reason=InsuranceReason.NON_POSITIVE_AMOUNT, currency=currency, amount=amount)
    return None


@concrete
def get_insurance_rows(funds: Sequence[InsuranceFund]) -> list[InsuranceRow]:
    """INS-007: every fund's history as ``GET /insurance`` rows, newest first, then by currency."""
    rows = [row for fund in funds for row in fund.history]
    # stable sort: rows of one fund keep their order at equal timestamps
    return sorted(rows, key=lambda row: (-row.timestamp_ms, row.currency))
