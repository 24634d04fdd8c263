"""FND: funding — the periodic peer-to-peer payment that ties a perpetual to its index.

Every funding interval (8 h by default: 04:00, 12:00, 20:00 UTC; an
instrument parameter, 2 h possible) the holders of a position at that
instant exchange ``mark value × funding rate``: a positive rate means longs
pay shorts.  Funding is not a fee: it is independent of leverage and the
exchange keeps nothing but the rounding residue.

**Precision.**  Rates are integers in **1e-8 units** (``_e8``: 1.00% =
1_000_000 e8); instrument parameters are in ppm (1 ppm = 100 e8).  Prices
are in price units, money in settlement minor units, time in ms of the
logical clock.  With this precision the reference's examples are exact:
quote 1.00%/day, base 0.25%/day, 8-hour interval → I = 0.25% = 250_000 e8;
a long of mark value 20 XBT pays 0.05 XBT; the cap 75% × (1% − 0.5%) =
0.375% = 375_000 e8.

**The rate** (reference §4):

* premium index sample, every ``premiumSampleInterval`` (1 minute):

      P = (max(0, impact bid − mark) − max(0, mark − impact ask)) / spot + fair basis in mark

  a side without an impact price (book too thin) contributes 0;
* interest rate sample: ``quote index − base index`` per day, or the
  instrument's ``fixedInterestRate``; at funding it is scaled to the actual
  interval length: ``I = daily × interval / 24 h`` (so a shortened interval
  pays proportionally less interest; the premium is not scaled);
* the rate paid at instant T uses the **means** of the samples taken over
  the interval that ends at T: ``F = P + clamp(I − P, ±fundingPremiumClamp)``;
* both caps: first ``|F − F_prev| ≤ fundingChangeCapRatio × MM``, then
  ``|F| ≤ fundingCapRatio × (IM − MM)``.  When the previous rate satisfies
  the absolute cap (it always does, being the output of this rule under the
  same parameters) the result satisfies both (proved in
  ``proofs/obligations_funding.py``);
* the **indicative** rate at any time is the same computation over the
  samples taken so far in the current interval.

**Rounding.**  Sample and mean rates: half up to 1e-8 (neutral — the rate
decides who pays whom, there is no system side).  Caps: rounded down (a cap
is never looser than the stated fraction).  Payments: the exact amount is
``exposure × F / 1e8`` where exposure is the unsigned mark value, positive
for a long; **payers round up, receivers round down** (``ceildiv`` of the
signed amount does both).  Because open interest balances (Σ qty = 0) and
values are exact per lot, the exact amounts sum to zero, so the rounded
payments sum to a **residue** with ``0 ≤ residue < number of holders``
minor units, which is credited to the **insurance fund** of the settlement
currency (counted by INV-CONSERVATION).  INV-FUNDING-ZERO-SUM: Σ wallet
deltas + residue = 0, i.e. paid = received + residue.

Funding can leave an account below maintenance; the engine runs the
liquidation waterfall after the funding instant.
"""

from __future__ import annotations

import attrs

from perpspec.rules.contract import compute_value
from perpspec.rules.instrument import Instrument
from perpspec.rules.num import ceildiv, clamp, concrete, ite, max_, min_, round_half_up_div
from perpspec.rules.position import Position

E8 = 100_000_000  # rate unit: 1e-8; 1_000_000 e8 = 1.00%
PPM_TO_E8 = 100  # 1 ppm = 100 e8
DAY_MS = 86_400_000


# -- kernels ------------------------------------------------------------------------------------


def compute_premium_sample_e8(
    impact_bid: int, impact_ask: int, mark_price: int, spot_price: int, fair_basis_e8: int
) -> int:
    """FND-001: one premium-index sample, ``(max(0, bid − mark) − max(0, mark − ask)) / spot + basis``."""
    premium = max_(0, impact_bid - mark_price) - max_(0, mark_price - impact_ask)
    safe_spot = ite(spot_price <= 0, 1, spot_price)
    # round half up to 1e-8: neutral, the rate only decides who pays whom.
    return round_half_up_div(premium * E8, safe_spot) + fair_basis_e8


def compute_interval_interest_e8(daily_rate_e8: int, interval_ms: int) -> int:
    """FND-002: the interest rate for one interval, ``daily × interval / 24 h`` (half up to 1e-8)."""
    # round half up to 1e-8: neutral (exact for every interval that divides a day into 1e-8s).
    return round_half_up_div(daily_rate_e8 * interval_ms, DAY_MS)


def compute_mean_e8(total_e8: int, count: int) -> int:
    """FND-003: mean of ``count`` samples, half up to 1e-8; 0 when there are none."""
    safe_count = ite(count <= 0, 1, count)
    return ite(count <= 0, 0, round_half_up_div(total_e8, safe_count))


def compute_cap_abs_e8(inst: Instrument) -> int:
    """FND-004: ``|F| ≤ fundingCapRatio × (IM − MM)`` in 1e-8 (rounded down: never looser)."""
    return (inst.funding_cap_ratio_ppm * (inst.init_margin_ppm - inst.maint_margin_ppm) * PPM_TO_E8) // 1_000_000


def compute_cap_change_e8(inst: Instrument) -> int:
    """FND-015: ``|F − F_prev| ≤ fundingChangeCapRatio × MM`` in 1e-8 (rounded down: never looser)."""
    return (inst.funding_change_cap_ratio_ppm * inst.maint_margin_ppm * PPM_TO_E8) // 1_000_000


def compute_funding_rate_e8(inst: Instrument, premium_e8: int, interest_e8: int, previous_e8: int) -> int:
    """FND-005: ``F = P + clamp(I − P, ±clamp)``, then the change cap, then the absolute cap."""
    premium_clamp = inst.premium_clamp_ppm * PPM_TO_E8
    raw = premium_e8 + clamp(interest_e8 - premium_e8, -premium_clamp, premium_clamp)
    cap_change = compute_cap_change_e8(inst)
    cap_abs = compute_cap_abs_e8(inst)
    limited = clamp(raw, previous_e8 - cap_change, previous_e8 + cap_change)
    return clamp(limited, -cap_abs, cap_abs)


def compute_funding_basis_e8(rate_e8: int, until_ms: int, interval_ms: int) -> int:
    """FND-013: funding basis = rate × time until funding / interval, half up to 1e-8 (for the mark)."""
    safe_interval = ite(interval_ms <= 0, 1, interval_ms)
    # half up: neutral, the basis is a reference used by the mark, not a payment.
    return round_half_up_div(rate_e8 * max_(until_ms, 0), safe_interval)


def compute_exposure(inst: Instrument, qty: int, mark_price: int) -> int:
    """FND-006: the unsigned mark value of a position, signed by side (long > 0, short < 0)."""
    value = compute_value(inst, qty, mark_price)
    if inst.is_inverse:  # configuration: BitMEX's inverse markValue is negative for a long
        return -value
    return value


def compute_funding_payment(inst: Instrument, position: Position, mark_price: int, rate_e8: int) -> int:
    """FND-007: what the holder pays (> 0) or receives (< 0): ``exposure × F / 1e8``.

    ``ceildiv`` of the signed amount rounds a payer's payment up and a
    receiver's credit down (toward the system; the difference is the residue).
    """
    return ceildiv(compute_exposure(inst, position.qty, mark_price) * rate_e8, E8)


# -- the funding exchange -----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class FundingExchange:
    """FND-008: the result of one funding instant for one instrument."""

    symbol: str
    mark_price: int
    rate_e8: int
    payments: tuple[tuple[int, int], ...]  # (account id, paid > 0 / received < 0), by account id
    paid: int  # Σ positive payments
    received: int  # Σ credits (unsigned)
    residue: int  # paid − received ≥ 0, credited to the insurance fund

    @property
    def wallet_deltas(self) -> tuple[tuple[int, int], ...]:
        """(account id, wallet change) for every holder: minus its payment."""
        return tuple((account_id, -payment) for account_id, payment in self.payments)

    @property
    def insurance_delta(self) -> int:
        """The residue's home: the insurance fund of the settlement currency."""
        return self.residue


def compute_funding_exchange(
    inst: Instrument, holders: tuple[tuple[int, Position], ...], mark_price: int, rate_e8: int
) -> FundingExchange:
    """FND-008: payments of every holder (sorted by account id) at ``mark_price`` and rate ``F``.

    Positive rate: longs pay shorts.  Σ wallet deltas + residue = 0 exactly.
    """
    payments = []
    paid = 0
    received = 0
    for account_id, position in holders:
        payment = compute_funding_payment(inst, position, mark_price, rate_e8)
        payments.append((account_id, payment))
        paid = paid + max_(payment, 0)
        received = received + max_(-payment, 0)
    return FundingExchange(
        symbol=inst.symbol,
        mark_price=mark_price,
        rate_e8=rate_e8,
        payments=tuple(payments),
        paid=paid,
        received=received,
        residue=paid - received,
    )


def compute_liquidator_funding(
    fund: int, residue: int, wallet_deltas: tuple[tuple[int, int], ...], liquidator_id: int
) -> tuple[tuple[int, int], ...]:
    """FND-019: the liquidation engine's funding is paid by the insurance fund, never beyond its balance.

    ``wallet_deltas`` are FND-008's (account id, wallet change) with the liquidation engine (``liquidator_id``)
    holding the positions it took over; its change is the fund's.  The fund pays it after receiving FND-008's
    residue, so the fund can pay ``fund + residue``; a payment beyond that (the ``shortfall``) is not made and
    the receiving traders are credited that much less, in the order of ``wallet_deltas`` (account id), each
    at most its own credit (a funding haircut) [I].  The postings still sum to minus the residue, so funding
    stays zero-sum, and because the receivers' credits are ``paid − residue`` they always cover the
    shortfall.  Posting order (the engine's): the residue to the fund first, then the liquidation engine's
    share, so the fund is never below zero between the two.
    """
    held = [delta for account_id, delta in wallet_deltas if account_id == liquidator_id]
    if not held:  # structural: the liquidation engine holds nothing in this contract, nothing to cap
        return wallet_deltas
    liquidator_delta = held[0]
    shortfall = max_(0, -(fund + residue + liquidator_delta))
    remaining = shortfall
    out = []
    for account_id, delta in wallet_deltas:
        if account_id == liquidator_id:  # structural: account ids are concrete, never symbolic
            out.append((account_id, delta + shortfall))
        else:
            cut = min_(max_(delta, 0), remaining)
            remaining = remaining - cut
            out.append((account_id, delta - cut))
    return tuple(out)


# -- the funding schedule and samples (stateful) ------------------------------------------------


@attrs.frozen(kw_only=True)
class FundingState:
    """The funding clock and the samples of the current interval of one perpetual."""

    interval_ms: int  # current funding interval (fundingInterval; may be changed, e.g. to 2 h)
    last_funding_ms: int  # start of the current interval (the previous funding instant)
    next_funding_ms: int  # fundingTimestamp
    next_sample_ms: int  # the next minute slot for a premium / interest sample
    premium_sum_e8: int = 0
    interest_daily_sum_e8: int = 0  # quote − base (or fixed) per day, summed over samples
    sample_count: int = 0
    last_rate_e8: int = 0  # the rate paid at the previous funding instant (fundingRate)


@attrs.frozen(kw_only=True)
class PremiumInputs:
    """What one minute sample reads: impact prices, mark, spot index, interest indices."""

    impact_bid: int | None  # impactBidPrice (None: book too thin on that side)
    impact_ask: int | None  # impactAskPrice
    mark_price: int
    spot_price: int  # the index
    fair_basis_e8: int  # the funding basis used in the mark (mark = index × (1 + basis))
    quote_daily_e8: int = 0  # quote currency interest index, per day (ignored if fixed)
    base_daily_e8: int = 0  # base currency interest index, per day (ignored if fixed)


@attrs.frozen(kw_only=True)
class PremiumSampled:
    """FND-009: one minute sample of P and of the daily interest difference."""

    symbol: str
    time_ms: int
    premium_e8: int
    interest_daily_e8: int


@attrs.frozen(kw_only=True)
class FundingRate:
    """FND-010: a funding rate with every component (BitMEX fundingRate / indicativeFundingRate)."""

    premium_e8: int  # P: mean of the interval's premium samples
    interest_e8: int  # I: mean daily interest scaled to the interval
    clamped_e8: int  # P + clamp(I − P, ±clamp), before the caps
    previous_e8: int  # the previous interval's rate (change cap reference)
    cap_abs_e8: int
    cap_change_e8: int
    rate_e8: int  # F after both caps
    samples: int
    interval_ms: int


@attrs.frozen(kw_only=True)
class FundingSettled:
    """FND-011: the event of one funding instant: the rate with its components and every payment."""

    symbol: str
    time_ms: int  # the funding instant (fundingTimestamp)
    rate: FundingRate
    exchange: FundingExchange


@attrs.frozen(kw_only=True)
class FundingRejection:
    """A funding command that does not apply now (no state change)."""

    reason: str  # "not-due" | "funding-due-first" | "bad-interval" | "not-a-perpetual" | "oi-imbalance" | "liquidation-pending" | "already-paid"
    detail: str


@concrete
def check_funding_instant(symbol: str, time_ms: int, last_funding_ms: int | None) -> FundingRejection | None:
    """FND-021: a funding instant is paid once: a FundingTick not after the last instant paid is refused.

    A FundingTick carries its instant (``time_ms``) and FND-008 exchanges the whole interval's payment at it, so a
    second tick for an instant already paid (a gateway's retry, a replayed message, an operator's mistake) would
    charge every holder twice; one for an earlier instant would pay a past interval again.  ``last_funding_ms`` is
    the instant of the last FundingTick the engine applied in the contract (None: none yet); a tick FND-020 held is
    not paid and does not count.  The rule bounds the instants from below only: the interval between two instants
    (FND-012's grid, ``fundingInterval``) is the funding clock's (FND-016), which the engine does not keep [I: BitMEX
    pays one funding per ``fundingTimestamp``].
    """
    if last_funding_ms is not None and time_ms <= last_funding_ms:
        return FundingRejection(
            reason="already-paid",
            detail=(
                f"{symbol}'s funding was last paid at {last_funding_ms}: an instant at {time_ms} is not after it "
                "and is paid once (FND-021)"
            ),
        )
    return None


@concrete
def check_funding_ready(symbol: str, pools_below_maintenance: tuple[int, ...]) -> FundingRejection | None:
    """FND-020: a funding instant waits until no pool holding the contract is below maintenance at mark.

    A pool below maintenance is due for the liquidation engine (LIQ-003).  The
    FundingTick first runs the waterfall at the current mark (a maker fill at a
    stale price can leave a pool there with no mark update: redteam24_1) without
    LIQ-034's per-update budget (one sell into many stale bids can leave more
    pools due than a budget takes, and a refused instant let a holder close
    before paying: redteam27_2; since session 20 a trade takes over the pools
    its own fills leave due, LIQ-034, so those the tick finds are ones a mark
    update's budget carried), so at this check no such pool is left; the
    check stays as the guard the proof below relies on.  Funding one would
    charge the trader on the value at mark, which for an inverse long after a
    mark collapse has no ceiling: at FND-004's cap a carried pool could be
    funded beyond minus its entry value, past LIQ-036's bound, where no price
    covers it and the account is left owing.  So FND-008 runs only once every
    such pool has been taken over; ``pools_below_maintenance`` are the account
    ids of the pools holding the contract that are below maintenance at mark
    (sorted), each member at the tier LIQ-021 would lower it to (its own risk steps): a pool below maintenance only
    at its owner's chosen tiers is no loss the waterfall takes (LIQ-021 lowers the tiers, no money moves), and an
    owner could otherwise hold every holder's funding back by choosing a tier [I; session 16, redteam12_2].  A pool
    at or above maintenance (at any tier, so at its own steps) stays within LIQ-036's bound
    after a funding at the cap (proved per contract and side:
    ``FND-020/funded-pool-stays-coverable``).  [I: BitMEX's liquidation engine
    takes a pool over at once, so a due pool never meets a funding instant.]
    """
    if pools_below_maintenance:
        return FundingRejection(
            reason="liquidation-pending",
            detail=(
                f"account {pools_below_maintenance[0]}'s pool holding {symbol} is below maintenance at mark "
                "after the FundingTick's waterfall: the next mark update or funding runs it again"
            ),
        )
    return None


@concrete
def compute_next_funding_ms(time_ms: int, interval_ms: int, offset_ms: int) -> int:
    """FND-012: the first instant after ``time_ms`` on the grid ``offset + k × interval``."""
    return time_ms + interval_ms - (time_ms - offset_ms) % interval_ms


@concrete
def make_funding_state(inst: Instrument, time_ms: int, offset_ms: int = 4 * 3_600_000) -> FundingState:
    """FND-016: the funding clock of a perpetual starting at ``time_ms`` (BitMEX grid: 04:00 + k × 8 h)."""
    next_funding = compute_next_funding_ms(time_ms, inst.funding_interval_ms, offset_ms)
    period = inst.premium_sample_ms
    return FundingState(
        interval_ms=inst.funding_interval_ms,
        last_funding_ms=next_funding - inst.funding_interval_ms,
        next_funding_ms=next_funding,
        next_sample_ms=time_ms + (-time_ms) % period,  # next whole sample slot
    )


@concrete
def get_interest_daily_e8(inst: Instrument, inputs: PremiumInputs) -> int:
    """FND-017: the daily interest difference: fixed by the instrument, or quote − base index."""
    if inst.fixed_interest_daily_ppm is not None:
        return inst.fixed_interest_daily_ppm * PPM_TO_E8
    return inputs.quote_daily_e8 - inputs.base_daily_e8


@concrete
def process_premium_sample(
    inst: Instrument, state: FundingState, time_ms: int, inputs: PremiumInputs
) -> tuple[FundingState, PremiumSampled] | FundingRejection:
    """FND-009: take the minute sample due at ``time_ms`` (missed slots are not back-filled)."""
    if time_ms < state.next_sample_ms:
        return FundingRejection(reason="not-due", detail=f"next sample at {state.next_sample_ms}")
    if time_ms >= state.next_funding_ms:
        return FundingRejection(reason="funding-due-first", detail=f"funding at {state.next_funding_ms}")
    bid = inputs.mark_price if inputs.impact_bid is None else inputs.impact_bid
    ask = inputs.mark_price if inputs.impact_ask is None else inputs.impact_ask
    premium = compute_premium_sample_e8(bid, ask, inputs.mark_price, inputs.spot_price, inputs.fair_basis_e8)
    interest = get_interest_daily_e8(inst, inputs)
    period = inst.premium_sample_ms
    next_sample = time_ms - (time_ms - state.next_sample_ms) % period + period
    new_state = attrs.evolve(
        state,
        premium_sum_e8=state.premium_sum_e8 + premium,
        interest_daily_sum_e8=state.interest_daily_sum_e8 + interest,
        sample_count=state.sample_count + 1,
        next_sample_ms=next_sample,
    )
    event = PremiumSampled(symbol=inst.symbol, time_ms=time_ms, premium_e8=premium, interest_daily_e8=interest)
    return new_state, event


@concrete
def compute_rate_from_samples(inst: Instrument, state: FundingState) -> FundingRate:
    """FND-010: the rate the samples taken so far give (the indicative rate; at T, the rate paid)."""
    interval = state.next_funding_ms - state.last_funding_ms
    premium = compute_mean_e8(state.premium_sum_e8, state.sample_count)
    if state.sample_count == 0 and inst.fixed_interest_daily_ppm is not None:
        daily = inst.fixed_interest_daily_ppm * PPM_TO_E8  # fixed rate: known without samples
    else:
        daily = compute_mean_e8(state.interest_daily_sum_e8, state.sample_count)
    interest = compute_interval_interest_e8(daily, interval)
    premium_clamp = inst.premium_clamp_ppm * PPM_TO_E8
    return FundingRate(
        premium_e8=premium,
        interest_e8=interest,
        clamped_e8=premium + clamp(interest - premium, -premium_clamp, premium_clamp),
        previous_e8=state.last_rate_e8,
        cap_abs_e8=compute_cap_abs_e8(inst),
        cap_change_e8=compute_cap_change_e8(inst),
        rate_e8=compute_funding_rate_e8(inst, premium, interest, state.last_rate_e8),
        samples=state.sample_count,
        interval_ms=interval,
    )


@concrete
def get_indicative_rate(inst: Instrument, state: FundingState) -> FundingRate:
    """FND-018: BitMEX ``indicativeFundingRate``: the rate if the interval ended now."""
    return compute_rate_from_samples(inst, state)


@concrete
def process_funding(
    inst: Instrument,
    state: FundingState,
    time_ms: int,
    holders: tuple[tuple[int, Position], ...],
    mark_price: int,
) -> tuple[FundingState, FundingSettled] | FundingRejection:
    """FND-011: at the funding instant, fix the rate from the interval's samples and exchange it.

    ``holders`` are the (account id, position) pairs sorted by account id;
    flat positions pay nothing.  The next interval starts at the scheduled
    instant (the grid does not drift when the engine is late).
    """
    if not inst.is_perpetual:
        return FundingRejection(reason="not-a-perpetual", detail=inst.symbol)
    if time_ms < state.next_funding_ms:
        return FundingRejection(reason="not-due", detail=f"funding at {state.next_funding_ms}")
    if sum(position.qty for _, position in holders) != 0:
        return FundingRejection(reason="oi-imbalance", detail="Σ qty of the holders is not zero")
    rate = compute_rate_from_samples(inst, state)
    exchange = compute_funding_exchange(
        inst, tuple(sorted(holders, key=lambda row: row[0])), mark_price, rate.rate_e8
    )
    instant = state.next_funding_ms
    new_state = FundingState(
        interval_ms=state.interval_ms,
        last_funding_ms=instant,
        next_funding_ms=instant + state.interval_ms,
        next_sample_ms=max(state.next_sample_ms, instant),
        last_rate_e8=rate.rate_e8,
    )
    return new_state, FundingSettled(symbol=inst.symbol, time_ms=instant, rate=rate, exchange=exchange)


@concrete
def process_set_funding_interval(
    inst: Instrument, state: FundingState, interval_ms: int
) -> FundingState | FundingRejection:
    """FND-014: change the funding interval; the next instant becomes last instant + new interval.

    Samples already taken stay in the current interval; the interest is
    scaled to the interval's actual length at funding.  If the new instant
    has already passed, funding is due at the next funding tick.
    """
    if interval_ms <= 0 or DAY_MS % interval_ms != 0 or interval_ms % inst.premium_sample_ms != 0:
        return FundingRejection(
            reason="bad-interval", detail=f"{interval_ms} ms must divide 24 h and be whole sample periods"
        )
    return attrs.evolve(state, interval_ms=interval_ms, next_funding_ms=state.last_funding_ms + interval_ms)
