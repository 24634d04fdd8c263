"""SET: dated-future settlement at the 30-minute index TWAP, with the settlement fee and conservation."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from perpspec.rules.contract import compute_value
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.position import FLAT, Position, apply_trade
from perpspec.rules.settlement import (
    InstrumentSettled,
    SettlementRejection,
    check_settlement_ready,
    compute_settlement_fee,
    compute_twap,
    process_settlement,
)
from tests import strategies

XBTZ26 = load_instrument("XBTZ26")
assert XBTZ26.expiry_ms is not None
EXPIRY = XBTZ26.expiry_ms
MINUTE = 60_000
START = EXPIRY - 30 * MINUTE


def test_twap_weights_each_sample_by_how_long_it_held() -> None:
    """SET-001: 100.00 for 10 min, 103.00 for 20 min -> 102.00."""
    samples = ((START, 10_000), (START + 10 * MINUTE, 10_300))
    assert compute_twap(samples, START, EXPIRY) == (10_200, 2)


def test_twap_counts_the_sample_in_force_at_the_window_start_from_the_start() -> None:
    samples = ((START - 5 * MINUTE, 99_000), (START - MINUTE, 10_000), (START + 15 * MINUTE, 10_200))
    assert compute_twap(samples, START, EXPIRY) == (10_100, 2)


def test_twap_ignores_samples_at_or_after_expiry() -> None:
    samples = ((START, 10_000), (EXPIRY, 50_000), (EXPIRY + MINUTE, 50_000))
    assert compute_twap(samples, START, EXPIRY) == (10_000, 1)


def test_twap_rounds_half_up_to_the_price_unit() -> None:
    """(100.00 × 15 + 100.01 × 15) / 30 = 100.005 -> 100.01."""
    samples = ((START, 10_000), (START + 15 * MINUTE, 10_001))
    assert compute_twap(samples, START, EXPIRY) == (10_001, 2)


def test_settlement_before_expiry_is_rejected() -> None:
    result = process_settlement(XBTZ26, (), EXPIRY - 1, ((START, 10_000),))
    assert result == SettlementRejection(reason="not-expired", detail=f"expiry at {EXPIRY}")


def test_settlement_of_a_perpetual_is_rejected() -> None:
    result = process_settlement(load_instrument("XBTUSD"), (), EXPIRY, ((START, 10_000),))
    assert isinstance(result, SettlementRejection)
    assert result.reason == "not-a-future"


def test_settlement_without_index_samples_is_rejected() -> None:
    result = process_settlement(XBTZ26, (), EXPIRY, ((EXPIRY + 1, 10_000),))
    assert isinstance(result, SettlementRejection)
    assert result.reason == "no-index-samples"


def test_settlement_fee_rounds_up_toward_the_fee_pool() -> None:
    """SET-002: 0.05% of 990,099,010 sats = 495,049.505 -> 495,050."""
    assert compute_settlement_fee(XBTZ26, 1_000, 10_100) == 495_050


def test_settled_positions_are_flat_and_pnl_is_value_at_settlement_minus_cost() -> None:
    cost = compute_value(XBTZ26, 1_000, 10_000)
    holders = ((2, Position(qty=-1_000, cost=-cost)), (1, Position(qty=1_000, cost=cost)))
    result = process_settlement(XBTZ26, holders, EXPIRY, ((START, 10_100),))
    assert isinstance(result, InstrumentSettled)
    assert [row.account_id for row in result.holders] == [1, 2]
    assert [row.position for row in result.holders] == [FLAT, FLAT]
    assert [row.realised_pnl for row in result.holders] == [
        compute_value(XBTZ26, 1_000, 10_100) - cost,
        compute_value(XBTZ26, -1_000, 10_100) + cost,
    ]


@st.composite
def traded_holders(draw: st.DrawFn) -> tuple[tuple[int, Position], ...]:
    """Positions of 2..5 accounts built by trades between them at valid prices (Σ qty = 0)."""
    count = draw(st.integers(min_value=2, max_value=5))
    book = [Position() for _ in range(count)]
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        buyer = draw(st.integers(min_value=0, max_value=count - 1))
        seller = (buyer + draw(st.integers(min_value=1, max_value=count - 1))) % count
        qty = draw(strategies.lots(XBTZ26, 5_000))
        price = draw(strategies.prices(XBTZ26, 200, 400_000))
        trade = apply_trade(XBTZ26, book[buyer], book[seller], qty, price, 0, 0)
        book[buyer], book[seller] = trade.buyer.position, trade.seller.position
    return tuple((account_id, position) for account_id, position in enumerate(book, start=1))


@given(
    holders=traded_holders(),
    samples=st.lists(
        st.tuples(st.integers(min_value=START - MINUTE, max_value=EXPIRY - 1), strategies.prices(XBTZ26, 200, 400_000)),
        min_size=1,
        max_size=10,
    ),
)
def test_settlement_conserves_funds(holders: tuple[tuple[int, Position], ...], samples: list[tuple[int, int]]) -> None:
    """SET-004 / INV-CONSERVATION: Σ(Δwallet − Δcost) + Δfee pool = 0; everyone is flat."""
    samples_in = tuple(sorted(samples))
    result = process_settlement(XBTZ26, holders, EXPIRY, samples_in)
    assert isinstance(result, InstrumentSettled)
    wallets = sum(row.wallet_delta for row in result.holders)
    costs_removed = sum(position.cost for _, position in holders)
    assert (wallets + costs_removed + result.fee_pool_delta, {row.position for row in result.holders}) == (
        0,
        {FLAT},
    )


def test_set_005_settlement_waits_for_the_mark_at_the_settlement_price_and_an_empty_waterfall() -> None:
    outcomes = [
        check_settlement_ready(None, 5_000_000, ()),
        check_settlement_ready(4_999_950, 5_000_000, ()),
        check_settlement_ready(5_000_000, 5_000_000, (7, 9)),
        check_settlement_ready(5_000_000, 5_000_000, ()),
    ]
    reasons = [None if outcome is None else outcome.reason for outcome in outcomes]
    assert reasons == ["mark-not-at-settlement-price", "mark-not-at-settlement-price", "liquidation-pending", None]
    held = outcomes[2]
    assert held is not None
    assert "account 7" in held.detail
