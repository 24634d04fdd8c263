"""MRG-010..012, MRG-020: liquidation and bankruptcy prices — per-lot step, safe side, tightness, closed forms."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import assume, given, note
from hypothesis import strategies as st

from perpspec.rules.contract import compute_value
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.margin import (
    PositionMargin,
    compute_bankruptcy_price,
    compute_equity,
    compute_isolated_margin_excess,
    compute_liquidation_price,
    compute_position_margin,
    compute_threshold_price,
)
from perpspec.rules.position import FLAT, Position, apply_fill
from tests.strategies import instruments, positions, realistic_prices, signed_lots

XBTUSD_LOT1 = load_instrument("XBTUSD", {"lotSize": 1, "tickSize": "0.5"})
XBTUSD_NO_FEE = load_instrument("XBTUSD", {"takerFee": "0", "makerFee": "0"})
XBTUSDT_NO_FEE = load_instrument("XBTUSDT", {"takerFee": "0", "makerFee": "0"})
ETHUSD_NO_FEE = load_instrument("ETHUSD", {"takerFee": "0", "makerFee": "0"})


def open_position(inst: Instrument, qty: int, price: int) -> Position:
    position, _ = apply_fill(inst, FLAT, qty, price)
    return position


def lot_numerator(inst: Instrument) -> int:
    return -inst.multiplier * inst.price_scale * inst.lot_size


@st.composite
def isolated_cases(draw: st.DrawFn) -> tuple[Instrument, Position, int, PositionMargin]:
    """An isolated position on a shipped instrument at a leverage from 0.5x to the instrument's maximum."""
    inst = draw(instruments())
    position = draw(positions(inst).filter(lambda p: p.qty != 0))
    leverage = draw(st.integers(min_value=50, max_value=inst.max_leverage_hundredths))
    pos_cross = draw(st.sampled_from((0, 0, 1_000, 250_000)))
    mark = draw(realistic_prices(inst))
    return inst, position, leverage, compute_position_margin(inst, position, mark, leverage, pos_cross)


def safe_side(qty: int, price: int, tick: int, ticks_away: int) -> int:
    """A price ``ticks_away`` ticks from ``price`` on the safe side (long: above; short: below)."""
    return price + ticks_away * tick if qty > 0 else price - ticks_away * tick


def is_clamped(inst: Instrument, price: int) -> bool:
    return price in (inst.tick_size, inst.max_price)


# --- reference records and hand-checked figures -------------------------------------------


def test_short_inverse_liquidation_uses_the_per_contract_step() -> None:
    # short 1,000 XBTUSD (lot 1) at 50,000, 100x isolated, 0.075% taker fee:
    # pc = 2,000 sats; posCost 2,000,000; posInit 20,000; posComm = ceil(0.00075 × 2,020,000) = 1,515;
    # posMaint = 10,000 + 1,515; liq step c = ceil((2,000,000 − (21,515 − 11,515)) / 1,000) = 1,990
    # → floor_to_tick(1e10 / 1,990 units) = 5,025,125.6… → 5,025,100 (50,251.00 USD).
    position = open_position(XBTUSD_LOT1, -1_000, 5_000_000)
    pm = compute_position_margin(XBTUSD_LOT1, position, 5_000_000, 10_000)
    assert (pm.pos_cost, pm.pos_init, pm.pos_comm, pm.pos_maint) == (2_000_000, 20_000, 1_515, 11_515)
    assert pm.liquidation_price == 5_025_100
    # bk step c = ceil((2,000,000 − (21,515 − 1,515)) / 1,000) = 1,980 → 1e10 / 1,980 = 5,050,505.05 → 5,050,500
    assert pm.bankrupt_price == 5_050_500


def test_long_inverse_mirrors_the_step_and_rounds_the_price_up() -> None:
    # long 1,000 at 50,000: liq c = floor((2,000,000 + 10,000) / 1,000) = 2,010 → ceil_to_tick(4,975,124.4) = 4,975,150
    position = open_position(XBTUSD_LOT1, 1_000, 5_000_000)
    pm = compute_position_margin(XBTUSD_LOT1, position, 5_000_000, 10_000)
    assert pm.liquidation_price == 4_975_150
    # bk c = floor((2,000,000 + 20,000) / 1,000) = 2,020 → ceil_to_tick(4,950,495.05) = 4,950,500
    assert pm.bankrupt_price == 4_950_500


def test_one_x_short_inverse_is_never_bankrupt_and_shows_max_price() -> None:
    position = open_position(XBTUSD_NO_FEE, -1_000, 5_000_000)
    pm = compute_position_margin(XBTUSD_NO_FEE, position, 5_000_000, 100)
    assert pm.bankrupt_price == XBTUSD_NO_FEE.max_price


def test_one_x_long_linear_bankruptcy_is_floored_at_one_tick() -> None:
    position = open_position(XBTUSDT_NO_FEE, 1_000, 5_000_000)
    pm = compute_position_margin(XBTUSDT_NO_FEE, position, 5_000_000, 100)
    assert pm.bankrupt_price == XBTUSDT_NO_FEE.tick_size


def test_flat_position_has_no_prices_and_holds_no_margin() -> None:
    pm = compute_position_margin(XBTUSD_LOT1, FLAT, 5_000_000, 10_000, pos_cross=5_000)
    assert (pm.liquidation_price, pm.bankrupt_price, pm.pos_margin, pm.pos_maint) == (0, 0, 0, 0)


def test_cross_position_is_backed_by_the_balance_passed_in() -> None:
    # long one lot of XBTUSDT (1,000 contracts = 0.001 XBT, 50 USDT) at 50,000 USDT, cross, 10 USDT backing.
    inst = load_instrument("XBTUSDT")
    position = open_position(inst, 1_000, 5_000_000)
    pm = compute_position_margin(inst, position, 5_000_000, 0, cross_balance=10_000_000)
    assert pm.leverage_hundredths == 0
    assert pm.pos_cross == 0
    equity_at_liq = compute_equity(inst, position, 10_000_000, pm.liquidation_price)
    assert equity_at_liq >= pm.pos_maint
    assert compute_equity(inst, position, 10_000_000, pm.liquidation_price - inst.tick_size) < pm.pos_maint


# --- properties -------------------------------------------------------------------------


@given(isolated_cases(), st.integers(min_value=0, max_value=40))
def test_equity_covers_the_reserve_at_and_beyond_the_safe_side_of_both_prices(
    case: tuple[Instrument, Position, int, PositionMargin], ticks_away: int
) -> None:
    inst, position, _, pm = case
    for price, reserve in ((pm.liquidation_price, pm.pos_maint), (pm.bankrupt_price, pm.pos_comm)):
        assume(not is_clamped(inst, price))
        mark = safe_side(position.qty, price, inst.tick_size, ticks_away)
        assume(inst.tick_size <= mark <= inst.max_price)
        assert compute_equity(inst, position, pm.pos_margin, mark) >= reserve


@given(isolated_cases())
def test_liquidation_price_is_never_liquidatable(case: tuple[Instrument, Position, int, PositionMargin]) -> None:
    inst, position, _, pm = case
    assume(not is_clamped(inst, pm.liquidation_price))
    excess = compute_isolated_margin_excess(inst, position, pm.pos_margin, pm.pos_maint, pm.liquidation_price)
    assert excess >= 0


@given(isolated_cases())
def test_one_tick_beyond_the_threshold_the_per_lot_step_is_crossed(
    case: tuple[Instrument, Position, int, PositionMargin],
) -> None:
    """Tightness: linear/quanto equity drops below the reserve one tick beyond; inverse passes the per-lot step."""
    inst, position, _, pm = case
    for price, reserve in ((pm.liquidation_price, pm.pos_maint), (pm.bankrupt_price, pm.pos_comm)):
        assume(not is_clamped(inst, price))
        beyond = safe_side(position.qty, price, inst.tick_size, -1)
        if not inst.is_inverse:
            assert compute_equity(inst, position, pm.pos_margin, beyond) < reserve
            continue
        lots = abs(position.qty) // inst.lot_size
        slack = pm.pos_margin - reserve
        numerator = lot_numerator(inst)
        if position.qty < 0:
            step = -((slack - position.cost) // lots)  # ceil((cost − slack) / lots)
            assert Fraction(numerator, beyond) < step  # exact per-lot value below the step
        else:
            step = (slack - position.cost) // lots
            assert Fraction(numerator, beyond) > step


@given(isolated_cases())
def test_liquidation_price_lies_between_bankruptcy_and_entry(
    case: tuple[Instrument, Position, int, PositionMargin],
) -> None:
    """Holds whenever the margin above maintenance is at least one minor unit per lot (see the next test)."""
    inst, position, leverage, pm = case
    lots = abs(position.qty) // inst.lot_size
    assume(pm.pos_margin - pm.pos_maint >= lots)
    entry = position_entry_on_grid(inst, position)
    note(f"entry={entry} liq={pm.liquidation_price} bk={pm.bankrupt_price} leverage={leverage}")
    if position.qty > 0:
        assert pm.bankrupt_price <= pm.liquidation_price <= entry
    else:
        assert entry <= pm.liquidation_price <= pm.bankrupt_price


def position_entry_on_grid(inst: Instrument, position: Position) -> int:
    """The break-even price on the tick grid: long, the lowest price with markValue ≥ cost; short, the highest."""
    low, high = 1, inst.max_price // inst.tick_size  # tick indices

    def breaks_even(index: int) -> bool:
        return compute_value(inst, position.qty, index * inst.tick_size) >= position.cost

    if position.qty > 0:  # value rises with price: find the first index that breaks even
        while low < high:
            mid = (low + high) // 2
            low, high = (low, mid) if breaks_even(mid) else (mid + 1, high)
    else:  # value falls with price: find the last index that breaks even
        while low < high:
            mid = (low + high + 1) // 2
            low, high = (mid, high) if breaks_even(mid) else (low, mid - 1)
    return low * inst.tick_size


def test_liquidation_can_sit_one_tick_past_entry_when_margin_is_under_a_satoshi_per_contract() -> None:
    """Regression: 1 contract at 1,000,000 USD (100 sats), 100x: 1 sat of initial margin, 0.5 of maintenance."""
    inst = load_instrument("XBTUSD", {"lotSize": 1, "takerFee": "0", "makerFee": "0"})
    position = open_position(inst, 1, inst.max_price - inst.tick_size)
    pm = compute_position_margin(inst, position, inst.max_price - inst.tick_size, 10_000)
    # posInit = ceil(1% × 100) = 1, posMaint = ceil(0.5% × 100) = 1: slack 0 < 1 lot — the property's precondition fails.
    assert (pm.pos_init, pm.pos_maint) == (1, 1)
    assert pm.liquidation_price >= inst.max_price - inst.tick_size


@given(isolated_cases())
def test_bankruptcy_price_is_beyond_the_liquidation_price(case: tuple[Instrument, Position, int, PositionMargin]) -> None:
    _, position, _, pm = case
    if position.qty > 0:
        assert pm.bankrupt_price <= pm.liquidation_price
    else:
        assert pm.bankrupt_price >= pm.liquidation_price


@given(st.data())
def test_threshold_is_safe_on_its_safe_side_for_any_backing_and_reserve(data: st.DataObject) -> None:
    """MRG-010 for arbitrary (cross-style) backing: unless clamped as unsafe everywhere, the safe side is safe."""
    inst = data.draw(instruments())
    position = data.draw(positions(inst).filter(lambda p: p.qty != 0))
    margin = data.draw(st.integers(min_value=-(10**9), max_value=10**11))
    reserve = data.draw(st.integers(min_value=0, max_value=10**9))
    price = compute_threshold_price(inst, position.qty, position.cost, margin, reserve)
    unsafe_clamp = price == (inst.max_price if position.qty > 0 else inst.tick_size)
    assume(not unsafe_clamp)
    mark = safe_side(position.qty, price, inst.tick_size, data.draw(st.integers(min_value=0, max_value=1_000)))
    assume(inst.tick_size <= mark <= inst.max_price)
    assert compute_equity(inst, position, margin, mark) >= reserve


@given(st.data())
def test_threshold_prices_are_on_the_tick_grid_and_in_range(data: st.DataObject) -> None:
    inst = data.draw(instruments())
    qty = data.draw(signed_lots(inst, 10_000))
    position = open_position(inst, qty, data.draw(realistic_prices(inst)))
    margin = data.draw(st.integers(min_value=-(10**10), max_value=10**12))
    reserve = data.draw(st.integers(min_value=0, max_value=10**9))
    price = compute_threshold_price(inst, position.qty, position.cost, margin, reserve)
    assert price % inst.tick_size == 0
    assert inst.tick_size <= price <= inst.max_price


@given(st.data())
def test_more_margin_moves_both_prices_away_from_the_mark(data: st.DataObject) -> None:
    inst = data.draw(instruments())
    position = data.draw(positions(inst).filter(lambda p: p.qty != 0))
    margin = data.draw(st.integers(min_value=0, max_value=10**10))
    extra = data.draw(st.integers(min_value=0, max_value=10**9))
    reserve = data.draw(st.integers(min_value=0, max_value=10**8))
    before = compute_liquidation_price(inst, position.qty, position.cost, margin, reserve)
    after = compute_liquidation_price(inst, position.qty, position.cost, margin + extra, reserve)
    if position.qty > 0:
        assert after <= before
    else:
        assert after >= before


# --- closed forms (reference §2), without fees ------------------------------------------


def closed_form_threshold(inst: Instrument, position: Position, margin: int) -> Fraction:
    """Reference closed forms on the position's exact entry value (quantities in contracts, money in minor units)."""
    qty = position.qty
    if inst.is_inverse:
        # 1/P = |cost| / (Q × |mult| × scale) ± M / (Q × |mult| × scale): long +, short −
        per_price = Fraction(abs(position.cost) + (margin if qty > 0 else -margin), abs(qty) * -inst.multiplier * inst.price_scale)
        return 1 / per_price
    per_unit = Fraction(abs(qty) * inst.multiplier, inst.price_scale)  # minor units per price unit
    entry = Fraction(abs(position.cost)) / per_unit
    return entry - margin / per_unit if qty > 0 else entry + margin / per_unit


@given(
    st.sampled_from((XBTUSD_NO_FEE, XBTUSDT_NO_FEE, ETHUSD_NO_FEE)),
    st.data(),
    st.integers(min_value=150, max_value=10_000),
)
def test_threshold_prices_agree_with_the_closed_forms(
    inst: Instrument, data: st.DataObject, leverage: int
) -> None:
    """Always on the safe side of the exact closed form, and close to it.

    Linear/quanto: within one tick (the rounding to the grid).  Inverse: within
    one tick plus one per-lot satoshi step, which is finer than a tick while
    ``price² ≤ tick × N``; there the two together stay within two ticks.
    """
    assume(leverage <= inst.max_leverage_hundredths)
    entry = data.draw(realistic_prices(inst))
    position = open_position(inst, data.draw(signed_lots(inst, 10_000)), entry)
    pm = compute_position_margin(inst, position, entry, leverage)
    # liquidation price: the closed form with M replaced by M − maintenance margin (reference §2)
    for price, margin in ((pm.bankrupt_price, pm.pos_margin), (pm.liquidation_price, pm.pos_margin - pm.pos_maint)):
        assume(not is_clamped(inst, price))
        if inst.is_inverse:
            assume(price * price <= inst.tick_size * lot_numerator(inst))
        exact = closed_form_threshold(inst, position, margin)
        note(f"exact={float(exact)} rulebook={price}")
        if position.qty > 0:
            assert price >= exact  # a long's threshold is rounded up: toward safety
        else:
            assert price <= exact
        tolerance = inst.tick_size if not inst.is_inverse else 2 * inst.tick_size
        assert abs(price - exact) <= tolerance


def test_isolated_inverse_bankruptcy_matches_e_l_over_l_plus_one() -> None:
    # long 10,000 XBTUSD (lot 100) at 10,000 USD, 10x, no fees: P_bk = E × L / (L + 1) = 9,090.909… → 9,091.0
    position = open_position(XBTUSD_NO_FEE, 10_000, 1_000_000)
    pm = compute_position_margin(XBTUSD_NO_FEE, position, 1_000_000, 1_000)
    assert pm.bankrupt_price == 909_100
    # short: E × L / (L − 1) = 11,111.11 → floor to the tick 11,111.0
    short = open_position(XBTUSD_NO_FEE, -10_000, 1_000_000)
    assert compute_position_margin(XBTUSD_NO_FEE, short, 1_000_000, 1_000).bankrupt_price == 1_111_100


def test_bankruptcy_and_liquidation_functions_agree_with_the_record() -> None:
    inst = XBTUSD_LOT1
    position = open_position(inst, -1_000, 5_000_000)
    pm = compute_position_margin(inst, position, 5_000_000, 10_000)
    assert pm.liquidation_price == compute_liquidation_price(inst, -1_000, pm.pos_cost, pm.pos_margin, pm.pos_maint)
    assert pm.bankrupt_price == compute_bankruptcy_price(inst, -1_000, pm.pos_cost, pm.pos_margin, pm.pos_comm)
