"""LIQ-050/051: the liquidation engine works a taken-over position at a limit walking toward the market.

Examples on the shipped instruments, Hypothesis properties on the concrete kernels (the same
statements the Z3 obligations in proofs/obligations_liquidation_working.py prove), the
obligations themselves, and the journal codec reading a close-out written before ages were kept.
"""

from __future__ import annotations

import json

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from perpspec.engine.core.closeout import Pending
from perpspec.engine.core.state_codec import _put_uvarint, decode_state, encode_state
from perpspec.proofs.registry import Obligation, discover, run_obligation
from perpspec.rules.instrument_file import InstrumentError, load_instrument
from perpspec.rules.insurance import Fill, compute_fill_delta
from perpspec.rules.liquidation_working import (
    compute_next_age,
    compute_working_limit,
    get_working_offers,
    is_within_working_limit,
)

XBTUSD = load_instrument("XBTUSD")  # tick 50 price units (0.5 USD), maxPrice 100,000,000
SYMBOLS = ("XBTUSD", "ETHUSD", "XBTUSDT")


def test_the_shipped_step_is_half_a_percent_per_waterfall() -> None:
    assert [load_instrument(symbol).liquidation_work_step_ppm for symbol in (*SYMBOLS, "XBTZ26")] == [5_000] * 4


def test_the_step_is_validated_between_zero_and_one() -> None:
    assert load_instrument("XBTUSD", {"liquidationWorkStep": "1"}).liquidation_work_step_ppm == 1_000_000
    with pytest.raises(InstrumentError, match="liquidationWorkStep"):
        load_instrument("XBTUSD", {"liquidationWorkStep": "1.5"})


def test_age_zero_is_the_bankruptcy_price_rounded_toward_the_system() -> None:
    bankruptcy = 500_010  # 5,000.10 USD: between the ticks 5,000.00 and 5,000.50
    for mark in (480_000, 500_010, 520_000):  # the mark reached, or within 5% of the anchor on the profit side
        assert compute_working_limit(XBTUSD, 1, bankruptcy, 0, mark) == 500_050  # selling: no lower than bankruptcy
        assert compute_working_limit(XBTUSD, -1, bankruptcy, 0, mark) == 500_000  # buying: no higher
    # in profit at mark by more than 5% (session 17, review15 find 1): the mark band, never the far anchor
    assert compute_working_limit(XBTUSD, 1, bankruptcy, 0, XBTUSD.max_price) == 95_000_000  # sells no lower than mark − 5%
    assert compute_working_limit(XBTUSD, -1, bankruptcy, 0, 1) == XBTUSD.tick_size  # buys no higher than mark + 5%


def test_each_waterfall_moves_the_limit_half_a_percent_toward_the_market() -> None:
    bankruptcy = 500_000  # 5,000 USD, on the tick
    sells = [compute_working_limit(XBTUSD, 1, bankruptcy, age, 480_000) for age in range(4)]  # the floor 456,000
    buys = [compute_working_limit(XBTUSD, -1, bankruptcy, age, 520_000) for age in range(4)]  # the ceiling 546,000
    assert sells == [500_000, 497_500, 495_000, 492_500]  # 25 USD (0.5%) lower each time
    assert buys == [500_000, 502_500, 505_000, 507_500]


def test_the_limit_stops_at_one_tick_and_at_max_price() -> None:
    # a mark at (or past) the ends of the range: the floor and the ceiling are the range's ends
    assert compute_working_limit(XBTUSD, 1, 500_000, 10_000, 1) == XBTUSD.tick_size
    assert compute_working_limit(XBTUSD, -1, 500_000, 1_000_000, 2 * XBTUSD.max_price) == XBTUSD.max_price
    # LIQ-036 takes an owing pool over beyond the range: the limit stays inside it, and within 5% of the mark
    assert compute_working_limit(XBTUSD, 1, -7, 0, 500_000) == 475_000
    assert compute_working_limit(XBTUSD, -1, 2 * XBTUSD.max_price, 0, 500_000) == 525_000
    assert compute_working_limit(XBTUSD, 1, -7, 0, 1) == XBTUSD.tick_size
    assert compute_working_limit(XBTUSD, -1, 2 * XBTUSD.max_price, 0, 2 * XBTUSD.max_price) == XBTUSD.max_price


def test_the_walk_stops_at_the_close_out_floor_five_percent_past_the_mark() -> None:
    # mark 4,800.00: floor 4,560.00 selling, ceiling 5,040.00 buying (LIQ-051, 5% of the mark)
    assert compute_working_limit(XBTUSD, 1, 500_000, 10_000, 480_000) == 456_000
    assert compute_working_limit(XBTUSD, -1, 450_000, 10_000, 480_000) == 504_000
    # off the tick: rounded toward the system (the floor up, the ceiling down)
    assert compute_working_limit(XBTUSD, 1, 500_000, 10_000, 480_030) == 456_050  # 480,030 − 24,001 = 456,029
    assert compute_working_limit(XBTUSD, -1, 450_000, 10_000, 480_030) == 504_000  # 480,030 + 24,001 = 504,031
    # a mark beyond the take-over price by more than 5% (in profit at mark): the mark band, whatever the age
    # (session 17, review15 find 1: it was the anchor, 7.4% from the mark)
    assert compute_working_limit(XBTUSD, 1, 500_000, 10_000, 540_000) == 513_000
    assert compute_working_limit(XBTUSD, -1, 500_000, 10_000, 460_000) == 483_000
    # in profit by less than 5%: the anchor, whatever the age (a step from it would be away from the mark)
    assert compute_working_limit(XBTUSD, 1, 500_000, 10_000, 510_000) == 500_000
    assert compute_working_limit(XBTUSD, -1, 500_000, 10_000, 490_000) == 500_000


def test_a_step_of_zero_holds_the_bankruptcy_price() -> None:
    held = attrs.evolve(XBTUSD, liquidation_work_step_ppm=0)
    assert {compute_working_limit(held, 1, 500_000, age, 480_000) for age in range(50)} == {500_000}


def test_offers_within_the_limit_are_taken_while_the_fund_covers_and_to_the_floor_once_it_does_not() -> None:
    bids = [Fill(qty=100, price=p) for p in (501_000, 500_000, 499_000, 497_500, 490_000, 456_000, 455_950)]
    assert get_working_offers(XBTUSD, 300, 500_000, 0, 480_000, 1, bids) == bids[:2]
    assert get_working_offers(XBTUSD, 300, 500_000, 1, 480_000, 0, bids) == bids[:4]
    # the fund pays to aggress before ADL, down to the floor 4,560.00 (5% under the mark 4,800.00)
    assert get_working_offers(XBTUSD, 300, 500_000, 0, 480_000, -1, bids) == bids[:6]
    asks = [Fill(qty=100, price=p) for p in (499_000, 500_000, 502_000, 502_500, 510_000, 546_000, 546_050)]
    assert get_working_offers(XBTUSD, -300, 500_000, 0, 520_000, 0, asks) == asks[:2]
    assert get_working_offers(XBTUSD, -300, 500_000, 1, 520_000, 0, asks) == asks[:4]
    assert get_working_offers(XBTUSD, -300, 500_000, 0, 520_000, -1, asks) == asks[:6]  # the ceiling 5,460.00


def test_a_close_out_still_open_is_one_waterfall_older_while_the_mark_is_at_or_past_its_price() -> None:
    """LIQ-050: a held long taken over at 500,000, the mark at or below it: one waterfall older each time."""
    assert [compute_next_age(age, 300, 500_000, 500_000) for age in (0, 4, -3)] == [1, 5, 1]
    assert [compute_next_age(age, -300, 500_000, 500_001) for age in (0, 4)] == [1, 5]  # a held short


def test_liq_050_a_close_out_in_profit_at_mark_does_not_age_so_its_walk_starts_at_the_price() -> None:
    """review16_1: the age counted every waterfall since the take-over, those in profit at mark too, so the first
    waterfall with the mark at the bankruptcy price offered the whole band at once.  Now the age is 0 while in
    profit, and the first waterfall at the price is one step of the walk from it."""
    age = 0
    for _ in range(12):  # twelve waterfalls in profit at mark
        age = compute_next_age(age, 300, 500_000, 510_000)
    assert age == 0
    assert [compute_next_age(7, 300, 500_000, 500_001), compute_next_age(7, -300, 500_000, 499_999)] == [0, 0]
    age = compute_next_age(age, 300, 500_000, 500_000)  # the mark reaches the bankruptcy price
    anchor = compute_working_limit(XBTUSD, 1, 500_000, 0, 500_000)
    step = anchor - compute_working_limit(XBTUSD, 1, 500_000, 1, 500_000)
    assert (age, compute_working_limit(XBTUSD, 1, 500_000, age, 500_000)) == (1, anchor - step)
    assert compute_working_limit(XBTUSD, 1, 500_000, 13, 500_000) < anchor - step  # what the old age offered


prices = st.integers(min_value=-10**9, max_value=2 * 10**8)
ages = st.integers(min_value=0, max_value=400)
steps = st.integers(min_value=0, max_value=1_000_000)


@given(st.sampled_from(SYMBOLS), st.sampled_from((1, -1)), prices, ages, steps, prices)
def test_the_limit_is_a_tick_price_in_range_and_never_walks_back(
    symbol: str, side: int, bankruptcy: int, age: int, step: int, mark: int
) -> None:
    inst = attrs.evolve(load_instrument(symbol), liquidation_work_step_ppm=step)
    now = compute_working_limit(inst, side, bankruptcy, age, mark)
    later = compute_working_limit(inst, side, bankruptcy, age + 1, mark)
    assert inst.tick_size <= now <= inst.max_price
    assert now % inst.tick_size == 0
    assert later <= now if side > 0 else later >= now


@given(st.sampled_from(SYMBOLS), st.sampled_from((1, -1)), st.integers(min_value=1, max_value=10**8), st.data())
def test_a_fill_within_the_age_zero_limit_never_draws_on_the_fund(
    symbol: str, side: int, bankruptcy: int, data: st.DataObject
) -> None:
    inst = load_instrument(symbol)
    bankruptcy = min(max(bankruptcy, inst.tick_size), inst.max_price)
    limit = compute_working_limit(inst, side, bankruptcy, 0, data.draw(prices))
    ticks = data.draw(st.integers(min_value=1, max_value=inst.max_price // inst.tick_size))
    price = ticks * inst.tick_size
    if is_within_working_limit(side, price, limit):
        assert compute_fill_delta(inst, side * inst.lot_size, price, bankruptcy) >= 0


# -- the codec: a close-out journaled before ages were kept ---------------------------------------


def _without_age(encoded: bytes) -> bytes:
    """The bytes an engine without ``Pending.age`` wrote: the field gone from the class header and the values."""
    start = encoded.index(b'["engine.exchange:Pending"')
    end = encoded.index(b"]]", start) + 2
    name, fields = json.loads(encoded[start:end])
    older = json.dumps([name, [field for field in fields if field != "age"]], separators=(",", ":")).encode()
    length, new_length = bytearray(), bytearray()
    _put_uvarint(length, end - start)
    _put_uvarint(new_length, len(older))
    assert encoded[start - len(length) : start] == bytes(length)
    return encoded[: start - len(length)] + bytes(new_length) + older + encoded[end:]


def test_a_close_out_written_before_ages_were_kept_decodes_at_age_zero() -> None:
    unset = object.__new__(Pending)  # the age slot never assigned: encoded as one UNSET byte, then removed
    for name, value in (("pending_id", 3), ("account", 7), ("symbol", "XBTUSD"), ("qty", -500), ("cost", 12_345),
                        ("takeover_price", 880_000)):
        object.__setattr__(unset, name, value)
    encoded = encode_state([unset])
    header_end = encoded.index(b"]]", encoded.index(b'["engine.exchange:Pending"')) + 2
    account_value = encode_state(7)[len(b"PSV1") :]
    assert encoded[header_end : header_end + len(account_value) + 1] == account_value + b"U"
    old = encoded[: header_end + len(account_value)] + encoded[header_end + len(account_value) + 1 :]
    [decoded] = decode_state(_without_age(old))
    assert decoded.canonical() == (3, 7, "XBTUSD", -500, 12_345, 880_000, 0)


def test_a_close_out_keeps_its_age_through_the_codec() -> None:
    [decoded] = decode_state(encode_state([Pending(1, 2, "XBTUSD", 300, 9, 500_000, age=4)]))
    assert decoded.age == 4


# -- the obligations -------------------------------------------------------------------------------

MODULE = "perpspec.proofs.obligations_liquidation_working"
OBLIGATIONS = [
    obligation for obligation in discover()
    if str(getattr(getattr(obligation.run, "func", None), "__module__", "")) == MODULE
]
SLOW = ("conservation/XBTUSD/",)  # inverse values: seconds alone, a minute under load


def test_every_working_obligation_is_registered() -> None:
    known_bad = [obligation for obligation in OBLIGATIONS if obligation.expect == "refuted"]
    assert (len(OBLIGATIONS), len(known_bad)) == (96, 42)
    assert {obligation.rule_id for obligation in OBLIGATIONS} == {"LIQ-050", "LIQ-051"}


def _param(obligation: Obligation) -> object:
    slow = any(marker in obligation.id for marker in SLOW)
    return pytest.param(obligation, id=obligation.id, marks=[pytest.mark.deep] if slow else [])


@pytest.mark.parametrize("obligation", [_param(obligation) for obligation in OBLIGATIONS])
def test_working_obligation_has_its_expected_result(obligation: Obligation) -> None:
    outcome = run_obligation(obligation)
    assert (outcome.status_text, outcome.passed) == (obligation.expect, True), outcome.error or outcome.result
