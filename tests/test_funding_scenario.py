"""A two-day funding scenario on XBTUSD: 6 funding instants, one interval shortened to 2 h.

Every minute the index moves, the mark is the fair price (index × (1 + indicative
rate × time to funding / interval)), the book's impact prices sit at a premium
that changes from interval to interval, and a premium / interest sample is
taken.  Positions change between instants (trades through ACC-004).  At each
funding instant the rate is fixed from the interval's samples and exchanged.

The report (``pytest -s tests/test_funding_scenario.py``) shows every rate with
its P and I components, the clamp and both caps, and every payment; the test
recomputes each rate and payment independently (plain Python min/max and
exact fractions) and checks INV-FUNDING-ZERO-SUM and INV-CONSERVATION at every
instant.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import attrs

from perpspec.rules.contract import compute_notional
from perpspec.rules.funding import (
    FundingSettled,
    FundingState,
    PremiumInputs,
    compute_exposure,
    get_indicative_rate,
    make_funding_state,
    process_funding,
    process_premium_sample,
    process_set_funding_interval,
)
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.invariants import FundingPostings, StepInfo, check_conservation, check_funding_zero_sum
from perpspec.rules.mark import MarkInputs, MarkState, process_mark_update
from perpspec.rules.parse import format_scaled
from perpspec.rules.position import Position, apply_trade

XBTUSD = load_instrument("XBTUSD")
HOUR = 3_600_000
MINUTE = 60_000
START = 4 * HOUR  # day 0, 04:00 UTC: a funding instant has just passed
END = START + 42 * HOUR + MINUTE  # through the 6th instant, day 1 22:00
# premium of the book over the mark, per interval, in 1e-8 (1_000_000 = 1%)
PREMIUM_BY_INTERVAL = (100_000, 30_000, -20_000, 500_000, 200_000, -400_000)
HALF_SPREAD_E8 = 5_000  # impact ask − impact bid = 0.01% of the mark
QUOTE_DAILY_E8, BASE_DAILY_E8 = 60_000, 30_000  # 0.06% and 0.03% a day -> I = 0.01% per 8 h
DEPOSIT = 100 * 100_000_000  # 100 XBT each


@attrs.define
class Ledger:
    """Wallets, positions and pools of the scenario (an ExchangeView for the invariants)."""

    wallets: dict[int, int]
    book: dict[int, Position]
    insurance_fund: int = 0
    fees: int = 0
    mark: int = 5_000_000

    def assets(self) -> list[str]:
        return ["XBt"]

    def account_ids(self) -> list[int]:
        return sorted(self.wallets)

    def instruments(self) -> dict[str, Any]:
        return {"XBTUSD": XBTUSD}

    def wallet(self, account_id: int, asset: str) -> int:
        return self.wallets[account_id]

    def positions(self, account_id: int) -> dict[str, Position]:
        return {"XBTUSD": self.book[account_id]}

    def insurance(self, asset: str) -> int:
        return self.insurance_fund

    def fee_pool(self, asset: str) -> int:
        return self.fees

    def funding_pool(self, asset: str) -> int:
        return 0

    def net_deposits(self, asset: str) -> int:
        return DEPOSIT * len(self.wallets)

    def mark_price(self, symbol: str) -> int:
        return self.mark

    def trade(self, buyer: int, seller: int, qty: int, price: int) -> None:
        effect = apply_trade(XBTUSD, self.book[buyer], self.book[seller], qty, price, 750, -250)
        self.book[buyer], self.book[seller] = effect.buyer.position, effect.seller.position
        self.wallets[buyer] += effect.buyer.wallet_delta
        self.wallets[seller] += effect.seller.wallet_delta
        self.fees += effect.fee_pool_delta


def index_at(time_ms: int) -> int:
    """A deterministic index path: 50,000 ± 100 USD of jitter, drifting up 25 USD an hour."""
    minute = time_ms // MINUTE
    return 5_000_000 + ((minute * 37) % 2001 - 1000) * 10 + (time_ms - START) // HOUR * 2_500


# trades between instants: (time, buyer, seller, qty, price)
TRADES = (
    (START, 1, 2, 1_000_000, 5_000_000),
    (START, 1, 3, 500_000, 5_000_000),
    (START + 12 * HOUR, 4, 1, 300_000, 5_010_000),  # day 0, 16:00
    (START + 27 * HOUR, 2, 4, 600_000, 5_060_000),  # day 1, 07:00: account 2 reduces, account 4 flips short
)


def run_scenario() -> tuple[list[FundingSettled], Ledger, list[str]]:
    """Run the two days; return the funding events, the final ledger and the report lines."""
    ledger = Ledger(wallets=dict.fromkeys((1, 2, 3, 4), DEPOSIT), book={i: Position() for i in (1, 2, 3, 4)})
    state = make_funding_state(XBTUSD, START)  # interval 04:00 -> 12:00, first sample at 04:00
    trades = list(TRADES)
    settled_events: list[FundingSettled] = []
    lines: list[str] = []
    for time_ms in range(START, END, MINUTE):
        while trades and trades[0][0] <= time_ms:
            _, buyer, seller, qty, price = trades.pop(0)
            ledger.trade(buyer, seller, qty, price)
        index = index_at(time_ms)
        _, mark_event = process_mark_update(XBTUSD, MarkState(), mark_inputs_at(state, time_ms))
        ledger.mark = mark_event.mark_price
        if time_ms >= state.next_funding_ms:
            state = fund(state, time_ms, ledger, settled_events, lines)
            if len(settled_events) == len(PREMIUM_BY_INTERVAL):
                break
            # the mark of the new interval's first minute uses the new (empty) indicative rate
            _, mark_event = process_mark_update(XBTUSD, MarkState(), mark_inputs_at(state, time_ms))
            ledger.mark = mark_event.mark_price
        premium = PREMIUM_BY_INTERVAL[len(settled_events)]
        centre = ledger.mark + ledger.mark * premium // 100_000_000
        half = ledger.mark * HALF_SPREAD_E8 // 100_000_000
        sample = PremiumInputs(
            impact_bid=centre - half,
            impact_ask=centre + half,
            mark_price=ledger.mark,
            spot_price=index,
            fair_basis_e8=mark_event.fair_basis_e8,
            quote_daily_e8=QUOTE_DAILY_E8,
            base_daily_e8=BASE_DAILY_E8,
        )
        result = process_premium_sample(XBTUSD, state, time_ms, sample)
        assert isinstance(result, tuple), result
        state = result[0]
    return settled_events, ledger, lines


def mark_inputs_at(state: FundingState, time_ms: int) -> MarkInputs:
    """The inputs of the perpetual fair price at ``time_ms``: index and the indicative funding rate."""
    return MarkInputs(
        time_ms=time_ms,
        index_price=index_at(time_ms),
        funding_rate_e8=get_indicative_rate(XBTUSD, state).rate_e8,
        funding_until_ms=state.next_funding_ms - time_ms,
        funding_interval_ms=state.next_funding_ms - state.last_funding_ms,
    )


def fund(
    state: FundingState, time_ms: int, ledger: Ledger, events: list[FundingSettled], lines: list[str]
) -> FundingState:
    """One funding instant: exchange, post, check the invariants, change the interval per the script."""
    holders = tuple(sorted((i, p) for i, p in ledger.book.items() if p.qty != 0))
    outcome = process_funding(XBTUSD, state, time_ms, holders, ledger.mark)
    assert isinstance(outcome, tuple), outcome
    state, settled = outcome
    for account_id, delta in settled.exchange.wallet_deltas:
        ledger.wallets[account_id] += delta
    ledger.insurance_fund += settled.exchange.insurance_delta
    postings = FundingPostings(
        asset="XBt",
        symbol="XBTUSD",
        wallet_deltas=tuple(delta for _, delta in settled.exchange.wallet_deltas),
        residue=settled.exchange.residue,
    )
    step = StepInfo(funding=(postings,))
    assert check_funding_zero_sum(ledger, step) + check_conservation(ledger, step) == []  # type: ignore[arg-type]
    events.append(settled)
    lines.extend(render(settled, holders))
    if len(events) == 3:  # after day 1, 04:00: one interval of 2 h
        shortened = process_set_funding_interval(XBTUSD, state, 2 * HOUR)
        assert isinstance(shortened, FundingState)
        state = shortened
    if len(events) == 4:  # after day 1, 06:00: back to 8 h (next instant 14:00)
        restored = process_set_funding_interval(XBTUSD, state, 8 * HOUR)
        assert isinstance(restored, FundingState)
        state = restored
    return state


def pct(rate_e8: int) -> str:
    sign = "-" if rate_e8 < 0 else "+"
    magnitude = abs(rate_e8)
    return f"{sign}{magnitude // 1_000_000}.{magnitude % 1_000_000:06d}%"


def clock(time_ms: int) -> str:
    return f"day {time_ms // (24 * HOUR)} {time_ms % (24 * HOUR) // HOUR:02d}:{time_ms % HOUR // MINUTE:02d}"


def render(settled: FundingSettled, holders: tuple[tuple[int, Position], ...]) -> list[str]:
    rate = settled.rate
    lines = [
        f"FND-011 funding {clock(settled.time_ms)}  interval {rate.interval_ms // HOUR} h  samples {rate.samples}"
        f"  mark {format_scaled(settled.exchange.mark_price, XBTUSD.price_scale)}",
        f"    P {pct(rate.premium_e8)}  I {pct(rate.interest_e8)}  P+clamp(I-P) {pct(rate.clamped_e8)}"
        f"  previous {pct(rate.previous_e8)}  caps ±{pct(rate.cap_abs_e8)[1:]} / Δ±{pct(rate.cap_change_e8)[1:]}"
        f"  -> F {pct(rate.rate_e8)}",
    ]
    positions = dict(holders)
    for account_id, payment in settled.exchange.payments:
        verb = "pays" if payment > 0 else "receives"
        lines.append(
            f"    account {account_id} qty {positions[account_id].qty:>+10,}  {verb:8s} {abs(payment):>12,} XBt"
        )
    total = sum(payment for _, payment in settled.exchange.payments)
    lines.append(
        f"    paid {settled.exchange.paid:,} = received {settled.exchange.received:,}"
        f" + residue {settled.exchange.residue} (to the insurance fund); Σ payments = {total}"
    )
    return lines


def expected_rate(premium: int, interest: int, previous: int) -> int:
    """Independent restatement of FND-005 with builtin min/max (caps 0.375% / 0.375% for XBTUSD)."""
    raw = premium + min(max(interest - premium, -50_000), 50_000)
    limited = min(max(raw, previous - 375_000), previous + 375_000)
    return min(max(limited, -375_000), 375_000)


def expected_payment(qty: int, mark: int, rate_e8: int) -> int:
    """Independent restatement of FND-007: exact fraction, payers up, receivers down."""
    direction = 1 if qty > 0 else -1
    exact = Fraction(direction * compute_notional(XBTUSD, qty, mark) * rate_e8, 100_000_000)
    return math.ceil(exact) if exact > 0 else -math.floor(-exact)


SCENARIO = run_scenario()


def test_six_funding_instants_with_one_2h_interval() -> None:
    events, _, _ = SCENARIO
    times = [clock(event.time_ms) for event in events]
    intervals = [event.rate.interval_ms // HOUR for event in events]
    assert (times, intervals) == (
        ["day 0 12:00", "day 0 20:00", "day 1 04:00", "day 1 06:00", "day 1 14:00", "day 1 22:00"],
        [8, 8, 8, 2, 8, 8],
    )


def test_every_rate_is_p_plus_clamped_i_minus_p_within_both_caps() -> None:
    events, _, _ = SCENARIO
    previous = 0
    actual, expected = [], []
    for event in events:
        actual.append(event.rate.rate_e8)
        expected.append(expected_rate(event.rate.premium_e8, event.rate.interest_e8, previous))
        previous = event.rate.rate_e8
    assert expected == actual


def test_interest_is_scaled_to_the_interval_length() -> None:
    events, _, _ = SCENARIO
    assert [event.rate.interest_e8 for event in events] == [10_000, 10_000, 10_000, 2_500, 10_000, 10_000]


def test_caps_bind_in_the_spike_and_the_reversal() -> None:
    """The 0.50% premium of the 2 h interval hits a cap; the −0.40% reversal hits the change cap."""
    events, _, _ = SCENARIO
    spike, reversal = events[3].rate, events[5].rate
    assert (spike.rate_e8 < spike.clamped_e8, reversal.rate_e8 == reversal.previous_e8 - 375_000) == (True, True)


def test_every_payment_is_mark_value_times_rate_rounded_against_the_holder() -> None:
    events, _, _ = SCENARIO
    positions_at = replay_positions()
    actual = [event.exchange.payments for event in events]
    expected = [
        tuple(
            (account_id, expected_payment(qty, event.exchange.mark_price, event.rate.rate_e8))
            for account_id, qty in positions_at[number]
        )
        for number, event in enumerate(events)
    ]
    assert expected == actual


def test_payments_sum_to_the_residue_and_funds_are_conserved() -> None:
    events, ledger, _ = SCENARIO
    sums = [sum(payment for _, payment in event.exchange.payments) for event in events]
    residues = [event.exchange.residue for event in events]
    assert (sums, ledger.insurance_fund, check_conservation(ledger, StepInfo())) == (  # type: ignore[arg-type]
        residues,
        sum(residues),
        [],
    )


def test_report_shows_every_rate_and_payment() -> None:
    events, _, lines = SCENARIO
    print("\n" + "\n".join(lines))
    rate_lines = [line for line in lines if " P " in line and " I " in line and "-> F" in line]
    payment_lines = [line for line in lines if line.strip().startswith("account")]
    assert (len(rate_lines), len(payment_lines)) == (6, sum(len(e.exchange.payments) for e in events))


def replay_positions() -> list[tuple[tuple[int, int], ...]]:
    """The (account, qty) of the holders at each instant, from the trade script (independent of the run)."""
    instants = [START + 8 * HOUR, START + 16 * HOUR, START + 24 * HOUR, START + 26 * HOUR, START + 34 * HOUR]
    instants.append(START + 42 * HOUR)
    result = []
    for instant in instants:
        qty = dict.fromkeys((1, 2, 3, 4), 0)
        for time_ms, buyer, seller, amount, _ in TRADES:
            if time_ms < instant:
                qty[buyer] += amount
                qty[seller] -= amount
        result.append(tuple((i, q) for i, q in sorted(qty.items()) if q != 0))
    return result


def test_exposure_of_long_and_short_cancel_at_each_instant() -> None:
    events, _, _ = SCENARIO
    totals = [
        sum(compute_exposure(XBTUSD, qty, event.exchange.mark_price) for _, qty in holders)
        for event, holders in zip(events, replay_positions(), strict=True)
    ]
    assert totals == [0] * 6
