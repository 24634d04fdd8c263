"""FND: funding rate, caps, payments and the funding exchange; the worked examples of specs/examples/funding.toml."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from perpspec.rules.contract import compute_notional, compute_value
from perpspec.rules.funding import (
    E8,
    FundingRejection,
    PremiumInputs,
    compute_cap_abs_e8,
    compute_cap_change_e8,
    compute_funding_exchange,
    compute_funding_payment,
    compute_funding_rate_e8,
    compute_interval_interest_e8,
    compute_premium_sample_e8,
    get_indicative_rate,
    make_funding_state,
    process_funding,
    process_premium_sample,
    process_set_funding_interval,
)
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.invariants import (
    FundingPostings,
    StepInfo,
    check_conservation,
    check_funding_zero_sum,
    check_oi_balance,
)
from perpspec.rules.mark import (
    compute_fair_basis_rate_e8,
    compute_futures_fair_price,
    compute_last_price_protected,
    compute_perpetual_fair_price,
    compute_protected_band,
)
from perpspec.rules.position import Position, apply_trade
from perpspec.rules.settlement import InstrumentSettled, process_settlement
from tests import strategies

EXAMPLES_FILE = Path(__file__).resolve().parent.parent / "specs" / "examples" / "funding.toml"
EXAMPLES: list[dict[str, Any]] = tomllib.loads(EXAMPLES_FILE.read_text())["example"]
XBTUSD = load_instrument("XBTUSD")
HOUR_MS = 3_600_000


# -- the worked examples, executed --------------------------------------------------------------


def run_futures_fair_price(inst: Instrument, given_: dict[str, int]) -> dict[str, Any]:
    basis = compute_fair_basis_rate_e8(given_["impact_mid"], given_["index_price"], given_["expiry_in_ms"])
    fair = compute_futures_fair_price(given_["index_price"], basis, given_["expiry_in_ms"])
    return {"fair_basis_e8": basis, "fair_value": fair - given_["index_price"], "fair_price": fair}


def run_perpetual_fair_price(inst: Instrument, given_: dict[str, int]) -> dict[str, Any]:
    fair = compute_perpetual_fair_price(
        given_["index_price"], given_["funding_rate_e8"], given_["until_ms"], given_["interval_ms"]
    )
    return {"fair_price": fair}


def run_last_price_protected(inst: Instrument, given_: dict[str, int]) -> dict[str, Any]:
    low, high = compute_protected_band(inst, given_["previous_fair_price"])
    mark = compute_last_price_protected(inst, given_["last_price"], given_["previous_fair_price"])
    return {"band_low": low, "band_high": high, "mark_price": mark}


def run_interest(inst: Instrument, given_: dict[str, int]) -> dict[str, Any]:
    daily = given_["quote_daily_e8"] - given_["base_daily_e8"]
    return {"interest_e8": compute_interval_interest_e8(daily, given_["interval_ms"])}


def run_rate(inst: Instrument, given_: dict[str, int]) -> dict[str, Any]:
    rate = compute_funding_rate_e8(inst, given_["premium_e8"], given_["interest_e8"], given_["previous_e8"])
    return {
        "rate_e8": rate,
        "cap_abs_e8": compute_cap_abs_e8(inst),
        "cap_change_e8": compute_cap_change_e8(inst),
    }


def run_payment(inst: Instrument, given_: dict[str, int]) -> dict[str, Any]:
    mark, rate = given_["mark_price"], given_["rate_e8"]
    holders = ((1, Position(qty=given_["long_qty"])), (2, Position(qty=given_["short_qty"])))
    exchange = compute_funding_exchange(inst, holders, mark, rate)
    return {
        "long_mark_value": compute_notional(inst, given_["long_qty"], mark),
        "long_payment": compute_funding_payment(inst, holders[0][1], mark, rate),
        "short_payment": compute_funding_payment(inst, holders[1][1], mark, rate),
        "residue": exchange.residue,
    }


def run_exchange(inst: Instrument, given_: dict[str, Any]) -> dict[str, Any]:
    holders = tuple((account, Position(qty=qty)) for account, qty in given_["holders"])
    exchange = compute_funding_exchange(inst, holders, given_["mark_price"], given_["rate_e8"])
    return {
        "payments": [list(row) for row in exchange.payments],
        "paid": exchange.paid,
        "received": exchange.received,
        "residue": exchange.residue,
    }


def run_settlement(inst: Instrument, given_: dict[str, Any]) -> dict[str, Any]:
    assert inst.expiry_ms is not None
    entry_value = compute_value(inst, given_["long_qty"], given_["entry_price"])
    holders = (
        (1, Position(qty=given_["long_qty"], cost=entry_value)),
        (2, Position(qty=-given_["long_qty"], cost=-entry_value)),
    )
    samples = tuple((inst.expiry_ms + offset, price) for offset, price in given_["samples"])
    settled = process_settlement(inst, holders, inst.expiry_ms, samples)
    assert isinstance(settled, InstrumentSettled), settled
    long_row, short_row = settled.holders
    assert long_row.fee == short_row.fee
    return {
        "settlement_price": settled.settlement_price,
        "long_realised_pnl": long_row.realised_pnl,
        "short_realised_pnl": short_row.realised_pnl,
        "fee_each": long_row.fee,
        "fee_pool_delta": settled.fee_pool_delta,
    }


RUNNERS: dict[str, Callable[[Instrument, dict[str, Any]], dict[str, Any]]] = {
    "MRK-005": run_perpetual_fair_price,
    "MRK-007": run_futures_fair_price,
    "MRK-010": run_last_price_protected,
    "FND-002": run_interest,
    "FND-004": run_rate,
    "FND-005": run_rate,
    "FND-007": run_payment,
    "FND-008": run_exchange,
    "SET-004": run_settlement,
}


@pytest.mark.parametrize("example", EXAMPLES, ids=[example["id"] for example in EXAMPLES])
def test_worked_example_from_specs_comes_out_exactly(example: dict[str, Any]) -> None:
    inst = load_instrument(example["instrument"])
    actual = RUNNERS[example["rule"]](inst, example["inputs"])
    expected = example["expected"]
    assert expected == {name: actual[name] for name in expected}


def test_every_worked_example_names_a_rule_with_a_runner() -> None:
    assert [e["id"] for e in EXAMPLES if e["rule"] not in RUNNERS] == []


# -- rate: clamp and caps -----------------------------------------------------------------------


def test_reference_funding_example_rate_and_payment() -> None:
    """FND-005/FND-007: 1.00%/0.25% a day, 3 intervals -> 0.25%; 20 XBT long pays 0.05 XBT."""
    interest = compute_interval_interest_e8(1_000_000 - 250_000, 8 * HOUR_MS)
    rate = compute_funding_rate_e8(XBTUSD, interest, interest, 0)
    payment = compute_funding_payment(XBTUSD, Position(qty=1_000_000), 5_000_000, rate)
    assert (rate, payment) == (250_000, 5_000_000)


def test_funding_cap_for_im_1pct_mm_half_pct_is_0_375pct() -> None:
    assert compute_cap_abs_e8(XBTUSD) == 375_000


rates = st.integers(min_value=-5 * E8 // 100, max_value=5 * E8 // 100)  # ±5%


@given(premium=rates, interest=rates, previous=st.integers(min_value=-375_000, max_value=375_000))
def test_rate_respects_both_caps_when_the_previous_rate_did(premium: int, interest: int, previous: int) -> None:
    """FND-005: |F| ≤ 75% (IM − MM) and |F − F_prev| ≤ 75% MM."""
    rate = compute_funding_rate_e8(XBTUSD, premium, interest, previous)
    assert (abs(rate) <= 375_000, abs(rate - previous) <= 375_000) == (True, True)


@given(premium=st.integers(min_value=-200_000, max_value=200_000), interest=rates)
def test_rate_is_within_the_clamp_of_the_premium_when_no_cap_binds(premium: int, interest: int) -> None:
    """FND-005: F − P ∈ [−0.05%, +0.05%] (previous rate equal to P so the change cap cannot bind)."""
    rate = compute_funding_rate_e8(XBTUSD, premium, interest, premium)
    assert abs(rate - premium) <= 50_000


def test_premium_sample_counts_only_impact_prices_beyond_the_mark() -> None:
    """FND-001: impact bid above mark: premium (bid − mark) / spot, plus the fair basis."""
    assert compute_premium_sample_e8(5_001_000, 5_002_000, 5_000_000, 5_000_000, 5) == 20_000 + 5
    assert compute_premium_sample_e8(4_990_000, 4_998_000, 5_000_000, 5_000_000, 0) == -40_000
    assert compute_premium_sample_e8(4_999_000, 5_001_000, 5_000_000, 5_000_000, 0) == 0


# -- payments and the exchange ------------------------------------------------------------------


def test_payer_rounds_up_and_receiver_rounds_down() -> None:
    """FND-007: 1 lot at 50,000 is 200,000 sats; at 0.0001% that is 0.2 sats: long pays 1, short gets 0."""
    long_pays = compute_funding_payment(XBTUSD, Position(qty=100), 5_000_000, 100)
    short_pays = compute_funding_payment(XBTUSD, Position(qty=-100), 5_000_000, 100)
    assert (long_pays, short_pays) == (1, 0)


def test_negative_rate_makes_shorts_pay_longs() -> None:
    long_pays = compute_funding_payment(XBTUSD, Position(qty=1_000_000), 5_000_000, -250_000)
    short_pays = compute_funding_payment(XBTUSD, Position(qty=-1_000_000), 5_000_000, -250_000)
    assert (long_pays, short_pays) == (-5_000_000, 5_000_000)


@st.composite
def balanced_holders(draw: st.DrawFn, inst: Instrument) -> tuple[tuple[int, Position], ...]:
    """2..8 holders (sorted by id) whose quantities sum to zero."""
    count = draw(st.integers(min_value=1, max_value=7))
    qtys = [draw(strategies.signed_lots(inst, 10_000)) for _ in range(count)]
    qtys.append(-sum(qtys))
    return tuple((account_id, Position(qty=qty)) for account_id, qty in enumerate(qtys, start=1))


@given(data=st.data(), rate=rates)
def test_funding_exchange_is_zero_sum_with_a_small_nonnegative_residue(data: st.DataObject, rate: int) -> None:
    """FND-008 / INV-FUNDING-ZERO-SUM: Σ payments = residue, 0 ≤ residue < number of holders."""
    inst = data.draw(strategies.instruments())
    holders = data.draw(balanced_holders(inst))
    mark = data.draw(strategies.realistic_prices(inst))
    exchange = compute_funding_exchange(inst, holders, mark, rate)
    total = sum(payment for _, payment in exchange.payments)
    postings = FundingPostings(
        asset=inst.settl_currency,
        symbol=inst.symbol,
        wallet_deltas=tuple(delta for _, delta in exchange.wallet_deltas),
        residue=exchange.residue,
    )
    assert (total, exchange.paid - exchange.received, True, []) == (
        exchange.residue,
        exchange.residue,
        0 <= exchange.residue < len(holders),
        check_funding_zero_sum(None, StepInfo(funding=(postings,))),  # type: ignore[arg-type]
    )


def test_zero_sum_check_flags_a_missing_residue() -> None:
    postings = FundingPostings(asset="XBt", symbol="XBTUSD", wallet_deltas=(-3, 2), residue=0)
    assert check_funding_zero_sum(
        None,  # type: ignore[arg-type]
        StepInfo(funding=(postings,)),
    ) == ["XBTUSD: funding postings off by -1 XBt"]


# -- the funding clock --------------------------------------------------------------------------


def _inputs(premium_bid: int) -> PremiumInputs:
    return PremiumInputs(
        impact_bid=premium_bid,
        impact_ask=premium_bid + 1_000,
        mark_price=5_000_000,
        spot_price=5_000_000,
        fair_basis_e8=0,
        quote_daily_e8=60_000,
        base_daily_e8=30_000,
    )


def test_funding_grid_starts_at_the_next_0400_1200_or_2000() -> None:
    state = make_funding_state(XBTUSD, 5 * HOUR_MS)  # 05:00 on day 0
    assert (state.last_funding_ms, state.next_funding_ms) == (4 * HOUR_MS, 12 * HOUR_MS)


def test_funding_is_not_due_before_its_instant() -> None:
    state = make_funding_state(XBTUSD, 5 * HOUR_MS)
    outcome = process_funding(XBTUSD, state, 12 * HOUR_MS - 1, (), 5_000_000)
    assert FundingRejection(reason="not-due", detail=f"funding at {12 * HOUR_MS}") == outcome


def test_a_sample_in_the_same_minute_is_not_taken_twice() -> None:
    state = make_funding_state(XBTUSD, 5 * HOUR_MS)
    first = process_premium_sample(XBTUSD, state, 5 * HOUR_MS, _inputs(5_000_000))
    assert isinstance(first, tuple)
    second = process_premium_sample(XBTUSD, first[0], 5 * HOUR_MS + 59_999, _inputs(5_000_000))
    assert isinstance(second, FundingRejection)
    assert second.reason == "not-due"


def test_rate_paid_is_the_mean_of_the_interval_samples() -> None:
    """FND-010/FND-011: two samples with premium 0.02% and 0.04% -> P = 0.03%; I = 0.03%/day × 8 h."""
    state = make_funding_state(XBTUSD, 11 * HOUR_MS)
    for minute, bid in ((0, 5_001_000), (1, 5_002_000)):
        result = process_premium_sample(XBTUSD, state, 11 * HOUR_MS + minute * 60_000, _inputs(bid))
        assert isinstance(result, tuple)
        state = result[0]
    indicative = get_indicative_rate(XBTUSD, state)
    holders = ((7, Position(qty=-1_000_000)), (3, Position(qty=1_000_000)))
    outcome = process_funding(XBTUSD, state, 12 * HOUR_MS, holders, 5_000_000)
    assert isinstance(outcome, tuple)
    settled = outcome[1]
    # I = 30_000 e8/day × 8/24 = 10_000; F = 30_000 + clamp(−20_000, ±50_000) = 10_000
    assert (settled.rate.premium_e8, settled.rate.interest_e8, settled.rate.rate_e8) == (30_000, 10_000, 10_000)
    assert indicative == settled.rate
    assert settled.exchange.payments == ((3, 200_000), (7, -200_000))
    assert (
        outcome[0].last_funding_ms,
        outcome[0].next_funding_ms,
        outcome[0].sample_count,
    ) == (12 * HOUR_MS, 20 * HOUR_MS, 0)


def test_shortened_interval_moves_the_next_instant_and_scales_interest() -> None:
    """FND-014: 2 h interval -> next instant 2 h after the last; I = daily × 2 h / 24 h."""
    state = make_funding_state(XBTUSD, 5 * HOUR_MS)
    shortened = process_set_funding_interval(XBTUSD, state, 2 * HOUR_MS)
    assert not isinstance(shortened, FundingRejection)
    result = process_premium_sample(XBTUSD, shortened, 5 * HOUR_MS, _inputs(5_000_000))
    assert isinstance(result, tuple)
    rate = get_indicative_rate(XBTUSD, result[0])
    assert (result[0].next_funding_ms, rate.interest_e8, rate.interval_ms) == (6 * HOUR_MS, 2_500, 2 * HOUR_MS)


def test_interval_that_does_not_divide_a_day_is_rejected() -> None:
    state = make_funding_state(XBTUSD, 5 * HOUR_MS)
    outcome = process_set_funding_interval(XBTUSD, state, 7 * HOUR_MS)
    assert isinstance(outcome, FundingRejection)
    assert outcome.reason == "bad-interval"


def test_funding_with_unbalanced_holders_is_rejected() -> None:
    state = make_funding_state(XBTUSD, 5 * HOUR_MS)
    outcome = process_funding(XBTUSD, state, 12 * HOUR_MS, ((1, Position(qty=100)),), 5_000_000)
    assert isinstance(outcome, FundingRejection)
    assert outcome.reason == "oi-imbalance"


def test_fixed_interest_rate_instrument_ignores_the_interest_indices() -> None:
    """FND-002: fixedInterestRate 0.03%/day -> I = 0.01% per 8 h whatever the indices say."""
    fixed = load_instrument("XBTUSD", {"fixedInterestRate": "0.0003"})
    state = make_funding_state(fixed, 5 * HOUR_MS)
    result = process_premium_sample(fixed, state, 5 * HOUR_MS, _inputs(5_000_000))
    assert isinstance(result, tuple)
    assert get_indicative_rate(fixed, result[0]).interest_e8 == 10_000


# -- stateful: many intervals, INV-CONSERVATION after every step --------------------------------


class MiniExchange:
    """Just enough of an exchange for the funding invariants: wallets, positions, pools (ExchangeView)."""

    def __init__(self, inst: Instrument, accounts: int, deposit: int) -> None:
        self.inst = inst
        self.wallets = dict.fromkeys(range(1, accounts + 1), deposit)
        self.book = {account_id: Position() for account_id in self.wallets}
        self.deposits = deposit * accounts
        self.insurance_fund = 0
        self.fees = 0
        self.mark = 5_000_000

    def assets(self) -> list[str]:
        return [self.inst.settl_currency]

    def account_ids(self) -> list[int]:
        return sorted(self.wallets)

    def instruments(self) -> dict[str, Instrument]:
        return {self.inst.symbol: self.inst}

    def wallet(self, account_id: int, asset: str) -> int:
        return self.wallets[account_id]

    def positions(self, account_id: int) -> dict[str, Position]:
        return {self.inst.symbol: self.book[account_id]}

    def insurance(self, asset: str) -> int:
        return self.insurance_fund

    def fee_pool(self, asset: str) -> int:
        return self.fees

    def funding_pool(self, asset: str) -> int:
        return 0

    def net_deposits(self, asset: str) -> int:
        return self.deposits

    def mark_price(self, symbol: str) -> int:
        return self.mark


class FundingMachine(RuleBasedStateMachine):
    """Trades, minute samples, interval changes and funding instants over many intervals."""

    def __init__(self) -> None:
        super().__init__()
        self.inst = XBTUSD
        self.exchange = MiniExchange(self.inst, accounts=4, deposit=100 * E8)
        self.time_ms = 5 * HOUR_MS
        self.state = make_funding_state(self.inst, self.time_ms)
        self.step = StepInfo()
        self.fundings = 0

    @rule(
        buyer=st.integers(min_value=1, max_value=4),
        offset=st.integers(min_value=1, max_value=3),
        lots=st.integers(min_value=1, max_value=20_000),
        price=st.integers(min_value=80_000, max_value=120_000).map(lambda ticks: ticks * 50),
    )
    def trade(self, buyer: int, offset: int, lots: int, price: int) -> None:
        seller = (buyer - 1 + offset) % 4 + 1
        book, wallets = self.exchange.book, self.exchange.wallets
        effect = apply_trade(self.inst, book[buyer], book[seller], lots * 100, price, 750, -250)
        book[buyer], book[seller] = effect.buyer.position, effect.seller.position
        wallets[buyer] += effect.buyer.wallet_delta
        wallets[seller] += effect.seller.wallet_delta
        self.exchange.fees += effect.fee_pool_delta
        self.step = StepInfo()

    @rule(
        minutes=st.integers(min_value=1, max_value=240),
        mark=st.integers(min_value=90_000, max_value=110_000).map(lambda ticks: ticks * 50),
        bid_gap=st.integers(min_value=-20_000, max_value=20_000),
        spread=st.integers(min_value=0, max_value=20_000),
    )
    def sample(self, minutes: int, mark: int, bid_gap: int, spread: int) -> None:
        target = min(self.time_ms + minutes * 60_000, self.state.next_funding_ms - 1)
        self.time_ms = max(self.time_ms, target)
        self.exchange.mark = mark
        inputs = PremiumInputs(
            impact_bid=mark + bid_gap,
            impact_ask=mark + bid_gap + spread,
            mark_price=mark,
            spot_price=mark,
            fair_basis_e8=0,
            quote_daily_e8=60_000,
            base_daily_e8=30_000,
        )
        result = process_premium_sample(self.inst, self.state, self.time_ms, inputs)
        if isinstance(result, tuple):
            self.state = result[0]
        self.step = StepInfo()

    @rule(hours=st.sampled_from((2, 8)))
    def change_interval(self, hours: int) -> None:
        result = process_set_funding_interval(self.inst, self.state, hours * HOUR_MS)
        assert not isinstance(result, FundingRejection)
        self.state = result
        self.time_ms = max(self.time_ms, self.state.last_funding_ms)

    @rule()
    def fund(self) -> None:
        self.time_ms = max(self.time_ms, self.state.next_funding_ms)
        previous = self.state.last_rate_e8
        holders = tuple(sorted(self.exchange.book.items()))
        outcome = process_funding(self.inst, self.state, self.time_ms, holders, self.exchange.mark)
        assert isinstance(outcome, tuple), outcome
        self.state, settled = outcome
        for account_id, delta in settled.exchange.wallet_deltas:
            self.exchange.wallets[account_id] += delta
        self.exchange.insurance_fund += settled.exchange.insurance_delta
        postings = FundingPostings(
            asset=self.inst.settl_currency,
            symbol=self.inst.symbol,
            wallet_deltas=tuple(delta for _, delta in settled.exchange.wallet_deltas),
            residue=settled.exchange.residue,
        )
        self.step = StepInfo(funding=(postings,))
        rate = settled.rate.rate_e8
        assert (abs(rate) <= compute_cap_abs_e8(self.inst), abs(rate - previous) <= compute_cap_change_e8(self.inst)) == (
            True,
            True,
        )
        self.fundings += 1

    def teardown(self) -> None:
        event(f"funding instants in this run: {min(self.fundings, 5)}{'+' if self.fundings >= 5 else ''}")

    @invariant()
    def conservation_open_interest_and_zero_sum_hold(self) -> None:
        view: Any = self.exchange
        problems = check_conservation(view, self.step) + check_oi_balance(view, self.step)
        assert problems + check_funding_zero_sum(view, self.step) == []


FundingMachine.TestCase.settings = settings(stateful_step_count=40)
test_funding_state_machine = FundingMachine.TestCase


@pytest.mark.deep
def test_funding_state_machine_long_runs() -> None:
    """Opt-in (pytest -m deep): many more and longer runs of the funding machine."""
    run_state_machine_as_test(  # type: ignore[no-untyped-call]
        FundingMachine, settings=settings(max_examples=300, stateful_step_count=200)
    )
