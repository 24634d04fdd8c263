"""MRG/RSK: requirements, risk-limit tiers, order margin with netting, available and withdrawable, checks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from perpspec.rules.contract import compute_notional
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.invariants import REGISTRY, StepInfo, check_margin_on_entry, check_withdraw_safe
from perpspec.rules.margin import (
    MarginReason,
    MarginSetting,
    PositionMargin,
    check_leverage,
    check_order_margin,
    check_transfer_margin,
    check_withdrawal,
    compute_account_margin,
    compute_cross_backing,
    compute_cross_margin_excess,
    compute_init_margin_req_ppm,
    compute_order_requirement,
    compute_pos_maint,
    compute_position_margin,
    compute_removable_margin,
)
from perpspec.rules.order_margin import (
    RestingOrder,
    compute_contract_order_margin,
    compute_order_margin,
    compute_order_sides,
)
from perpspec.rules.position import FLAT, Position, apply_fill, compute_commission
from perpspec.rules.risk_limit import (
    RiskLimitReason,
    check_risk_limit,
    check_risk_limit_choice,
    compute_maint_margin_req_ppm,
    compute_max_leverage_hundredths,
    compute_risk_init_margin_req_ppm,
    compute_risk_steps,
)
from tests.strategies import instruments, lots, positions, realistic_prices

XBT = 100_000_000  # XBt per XBT
XBTUSD = load_instrument("XBTUSD")
ETHUSD = load_instrument("ETHUSD")  # quanto, lot 1, 100 XBt per USD: prices 100/150 give round numbers
XBTUSDT = load_instrument("XBTUSDT")


def usd(value: int) -> int:
    """A price in price units (scale 100)."""
    return value * 100


def open_position(inst: Instrument, qty: int, price: int) -> Position:
    position, _ = apply_fill(inst, FLAT, qty, price)
    return position


# --- risk limits (RSK) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value_xbt", "steps"), [(0, 0), (199, 0), (200, 0), (201, 1), (350, 1), (351, 2), (500, 2), (649, 3)]
)
def test_risk_steps_count_any_part_of_a_step_as_a_whole_step(value_xbt: int, steps: int) -> None:
    assert steps == compute_risk_steps(XBTUSD, value_xbt * XBT)


def test_one_satoshi_over_the_base_limit_is_the_next_tier() -> None:
    assert compute_risk_steps(XBTUSD, 200 * XBT + 1) == 1


@given(instruments(), st.integers(min_value=0, max_value=50))
def test_maintenance_stays_below_initial_at_every_tier(inst: Instrument, steps: int) -> None:
    assert compute_maint_margin_req_ppm(inst, steps) < compute_risk_init_margin_req_ppm(inst, steps)


@given(instruments(), st.integers(min_value=0, max_value=10**13), st.integers(min_value=0, max_value=10**13))
def test_requirements_never_fall_as_a_position_grows(inst: Instrument, value: int, more: int) -> None:
    small, large = compute_risk_steps(inst, value), compute_risk_steps(inst, value + more)
    assert compute_maint_margin_req_ppm(inst, small) <= compute_maint_margin_req_ppm(inst, large)
    assert compute_risk_init_margin_req_ppm(inst, small) <= compute_risk_init_margin_req_ppm(inst, large)


@given(instruments(), st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=10**12))
def test_maintenance_margin_is_monotone_in_position_value(inst: Instrument, value: int, more: int) -> None:
    def maint(cost: int) -> int:
        steps = compute_risk_steps(inst, cost)
        return compute_pos_maint(cost, compute_maint_margin_req_ppm(inst, steps), 0)

    assert maint(value) <= maint(value + more)


def test_max_leverage_drops_with_the_tier() -> None:
    assert [compute_max_leverage_hundredths(XBTUSD, steps) for steps in range(4)] == [10_000, 6_666, 5_000, 4_000]


def test_a_chosen_risk_limit_must_be_a_whole_number_of_steps() -> None:
    assert check_risk_limit_choice(XBTUSD, 350 * XBT) is None
    rejection = check_risk_limit_choice(XBTUSD, 300 * XBT)
    assert rejection is not None
    assert rejection.reason is RiskLimitReason.RISK_LIMIT_INVALID


def test_an_order_past_the_chosen_risk_limit_is_refused() -> None:
    assert check_risk_limit(200 * XBT, 200 * XBT) is None
    rejection = check_risk_limit(200 * XBT + 1, 200 * XBT)
    assert rejection is not None
    assert rejection.reason is RiskLimitReason.RISK_LIMIT_EXCEEDED


# --- requirements (MRG-001..005) --------------------------------------------------------


@pytest.mark.parametrize(("leverage", "req_ppm"), [(10_000, 10_000), (5_000, 20_000), (300, 333_334), (250, 400_000)])
def test_isolated_initial_requirement_is_one_over_leverage_rounded_up(leverage: int, req_ppm: int) -> None:
    assert req_ppm == compute_init_margin_req_ppm(XBTUSD, leverage, 0)


def test_cross_initial_requirement_is_the_tier_initial_margin() -> None:
    assert compute_init_margin_req_ppm(XBTUSD, 0, 2) == 20_000


def test_isolated_leverage_above_the_tier_maximum_is_raised_to_the_tier() -> None:
    assert compute_init_margin_req_ppm(XBTUSD, 10_000, 1) == 15_000


def test_position_fields_of_a_short_inverse_position() -> None:
    inst = load_instrument("XBTUSD", {"lotSize": 1})
    pm = compute_position_margin(inst, open_position(inst, -1_000, usd(50_000)), usd(51_000), 10_000, pos_cross=1_000)
    assert pm.pos_comm == -(-(2_000_000 + 20_000 + 1_000) * 750 // 1_000_000)  # ceil(0.075% × 2,021,000) = 1,516
    assert pm.pos_margin == 20_000 + 1_516 + 1_000
    assert pm.mark_value == 1_000 * 1_961  # round(1e8 / 51,000) = 1,961 sats per contract
    assert pm.unrealised_pnl == 1_961_000 - 2_000_000
    assert pm.maint_margin == pm.pos_margin + pm.unrealised_pnl


# --- order margin (MRG-040..046) --------------------------------------------------------


def test_netting_bid_20_at_100_and_offer_15_at_150_charges_5_bids_and_15_offers() -> None:
    bids, asks = compute_order_sides(ETHUSD, ((20, usd(100)), (-15, usd(150))), usd(125), 0, 0)
    margin = compute_order_margin(ETHUSD, 0, bids, asks, 20_000, 0)
    assert (margin.bid_qty_charged, margin.ask_qty_charged) == (5, 15)
    # 2% × (5 × 100 × 100 + 15 × 150 × 100) XBt
    assert margin.init_margin == 20_000 * (5 * 10_000 + 15 * 15_000) // 1_000_000


def test_inverse_netting_mirrors_because_a_lower_price_is_worth_more() -> None:
    inst = load_instrument("XBTUSD", {"lotSize": 1})
    bids, asks = compute_order_sides(inst, ((20, usd(100)), (-15, usd(150))), usd(125), 0, 0)
    margin = compute_order_margin(inst, 0, bids, asks, 10_000, 0)
    assert (margin.bid_qty_charged, margin.ask_qty_charged) == (20, 0)


def test_buying_above_mark_funds_the_premium_in_full() -> None:
    # mark 100, bid 10 @ 110 → IM% × 10 × 110 × mult + 100% × 10 × (110 − 100) × mult
    bids, asks = compute_order_sides(ETHUSD, ((10, usd(110)),), usd(100), 0, 0)
    margin = compute_order_margin(ETHUSD, 0, bids, asks, 20_000, 0)
    assert margin.init_margin == 2_200
    assert margin.premium == 10 * 10 * 100
    assert margin.total == 12_200


def test_selling_below_mark_funds_the_premium_and_is_charged_at_the_best_bid() -> None:
    bids, asks = compute_order_sides(ETHUSD, ((-10, usd(90)),), usd(100), usd(95), 0)
    margin = compute_order_margin(ETHUSD, 0, bids, asks, 20_000, 0)
    assert margin.init_margin == 20_000 * 10 * 9_500 // 1_000_000  # charged at max(90, best bid 95)
    assert margin.premium == 10 * 10 * 100  # the gap to mark from the limit price, the worst fill


def test_orders_that_reduce_the_position_carry_no_margin() -> None:
    bids, asks = compute_order_sides(ETHUSD, ((-10, usd(90)),), usd(100), 0, 0)
    margin = compute_order_margin(ETHUSD, 10, bids, asks, 20_000, 750)
    assert margin.total == 0


def test_commission_is_reserved_for_entry_and_exit() -> None:
    bids, asks = compute_order_sides(ETHUSD, ((10, usd(100)),), usd(100), 0, 0)
    margin = compute_order_margin(ETHUSD, 0, bids, asks, 20_000, 750)
    value = 10 * 10_000
    assert margin.commission == compute_commission(value, 750) + compute_commission(value + 2_000, 750)


@st.composite
def book_orders(draw: st.DrawFn, inst: Instrument) -> tuple[tuple[int, int], ...]:
    """Resting orders of one account that do not cross each other: bids below offers."""
    split = draw(realistic_prices(inst))
    orders = []
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        qty = draw(lots(inst, 50))
        if draw(st.booleans()):
            price = draw(st.integers(min_value=1, max_value=split // inst.tick_size)) * inst.tick_size
            orders.append((qty, price))
        else:
            price = split + draw(st.integers(min_value=1, max_value=100)) * inst.tick_size
            orders.append((-qty, min(price, inst.max_price)))
    return tuple(orders)


@given(st.data())
def test_netted_initial_margin_covers_whichever_side_fills_first(data: st.DataObject) -> None:
    inst = data.draw(instruments())
    orders = data.draw(book_orders(inst))
    mark = data.draw(realistic_prices(inst))
    margin = compute_contract_order_margin(inst, FLAT, orders, mark, 0, 0, 0)
    req = compute_init_margin_req_ppm(inst, 0, 0)
    for side in (1, -1):
        position = FLAT
        for qty, price in orders:
            if qty * side > 0:
                position, _ = apply_fill(inst, position, qty, price)
        steps = compute_risk_steps(inst, abs(position.cost))
        assume(steps == 0)
        assert -(-abs(position.cost) * req // 1_000_000) <= margin.init_margin


@given(st.data())
def test_an_order_reserves_what_its_fill_will_hold(data: st.DataObject) -> None:
    """A flat account's order margin covers, after a taker fill at any price the order can get,
    the new position's margin, the entry commission and any loss against mark."""
    inst = data.draw(instruments())
    mark = data.draw(realistic_prices(inst))
    limit = data.draw(realistic_prices(inst))
    qty = data.draw(lots(inst, 1_000)) * data.draw(st.sampled_from((1, -1)))
    leverage = data.draw(st.sampled_from((0, 100, 1_000, inst.max_leverage_hundredths)))
    # the best price on the other side, and a fill between it and the limit
    if qty > 0:
        best = data.draw(st.integers(min_value=1, max_value=limit // inst.tick_size)) * inst.tick_size
        fill = data.draw(st.integers(min_value=best // inst.tick_size, max_value=limit // inst.tick_size))
        best_bid, best_ask = 0, best
    else:
        best = data.draw(st.integers(min_value=limit // inst.tick_size, max_value=inst.max_price // inst.tick_size))
        best = best * inst.tick_size
        fill = data.draw(st.integers(min_value=limit // inst.tick_size, max_value=best // inst.tick_size))
        best_bid, best_ask = best, 0
    fill_price = fill * inst.tick_size
    order_margin = compute_contract_order_margin(inst, FLAT, ((qty, limit),), mark, best_bid, best_ask, leverage)
    position = open_position(inst, qty, fill_price)
    pm = compute_position_margin(inst, position, mark, leverage)
    assume(pm.risk_steps == 0)
    held = pm.pos_init + pm.pos_comm + compute_commission(compute_notional(inst, qty, fill_price), inst.taker_fee_ppm)
    loss = max(0, -pm.unrealised_pnl)
    assert held + loss <= order_margin.total


# --- the account (MRG-050) --------------------------------------------------------------


def position_margins(inst: Instrument, specs: Sequence[tuple[int, int, int]], mark: int) -> tuple[PositionMargin, ...]:
    """(qty, entry, leverage) triples → position margins at ``mark``."""
    return tuple(compute_position_margin(inst, open_position(inst, q, e), mark, lev) for q, e, lev in specs)


def test_available_counts_cross_pnl_and_holds_isolated_margin() -> None:
    # cross long 10 ETHUSD at 100 marked at 110 (+10,000), isolated short 10 at 100 at 5x (−10,000 stays with it)
    lines = position_margins(ETHUSD, ((10, usd(100), 0), (-10, usd(100), 500)), usd(110))
    account = compute_account_margin(1_000_000, lines, 3_000)
    margins = lines[0].pos_margin + lines[1].pos_margin
    assert account.available_margin == 1_000_000 + 10_000 - 3_000 - margins
    assert account.margin_balance == 1_000_000  # +10,000 − 10,000
    assert account.withdrawable_margin == account.available_margin - 10_000


def test_withdrawable_never_goes_negative() -> None:
    lines = position_margins(ETHUSD, ((10, usd(100), 0),), usd(50))
    account = compute_account_margin(10_000, lines, 0)
    assert account.available_margin < 0
    assert account.withdrawable_margin == 0


@given(st.data())
def test_withdrawing_all_that_is_withdrawable_is_safe_and_one_more_is_not(data: st.DataObject) -> None:
    inst = data.draw(instruments())
    mark = data.draw(realistic_prices(inst))
    wallet = data.draw(st.integers(min_value=0, max_value=10**10))
    lines = tuple(
        compute_position_margin(inst, data.draw(positions(inst)), mark, data.draw(st.sampled_from((0, 1_000))))
        for _ in range(data.draw(st.integers(min_value=0, max_value=3)))
    )
    before = compute_account_margin(wallet, lines, data.draw(st.integers(min_value=0, max_value=10**6)))
    amount = before.withdrawable_margin
    assume(amount > 0)
    assert check_withdrawal(amount, amount) is None
    after = compute_account_margin(wallet - amount, lines, before.order_margin)
    assert after.available_margin - after.cross_unrealised_profit >= 0
    rejection = check_withdrawal(amount + 1, amount)
    assert rejection is not None
    assert rejection.reason is MarginReason.INSUFFICIENT_WITHDRAWABLE


def test_a_zero_withdrawal_is_refused() -> None:
    rejection = check_withdrawal(0, 100)
    assert rejection is not None
    assert rejection.reason is MarginReason.INVALID_AMOUNT


# --- liquidation trigger (MRG-031..033) -------------------------------------------------


def test_cross_backing_puts_the_liquidation_price_where_the_account_excess_turns_negative() -> None:
    inst = XBTUSDT
    first = open_position(inst, 2_000, usd(50_000))
    second = open_position(inst, -1_000, usd(50_000))
    mark = usd(50_000)
    other = compute_position_margin(inst, second, mark, 0)
    backing = compute_cross_backing(30_000_000, (other.unrealised_pnl,), (other.pos_maint,))
    pm = compute_position_margin(inst, first, mark, 0, cross_balance=backing)

    def excess_at(price: int) -> int:
        this = compute_position_margin(inst, first, price, 0)
        return compute_cross_margin_excess(
            30_000_000, (this.unrealised_pnl, other.unrealised_pnl), (this.pos_maint, other.pos_maint)
        )

    assert excess_at(pm.liquidation_price) >= 0
    assert excess_at(pm.liquidation_price - inst.tick_size) < 0


# --- checks (MRG-060..065) --------------------------------------------------------------


def test_an_order_needing_more_than_available_is_refused_with_the_amounts() -> None:
    rejection = check_order_margin(available_margin=999, requirement=1_000)
    assert rejection is not None
    assert (rejection.reason, rejection.required, rejection.available) == (
        MarginReason.INSUFFICIENT_AVAILABLE,
        1_000,
        999,
    )


def test_an_order_needing_exactly_the_available_balance_is_accepted() -> None:
    assert check_order_margin(available_margin=1_000, requirement=1_000) is None


def test_a_reduction_is_accepted_with_negative_available_balance() -> None:
    position = open_position(ETHUSD, 10, usd(100))
    requirement = compute_order_requirement(ETHUSD, position, usd(50), 500, 0, 0, 0, -10, usd(50))
    assert requirement == 0
    assert check_order_margin(available_margin=-5_000, requirement=requirement) is None


def test_a_flat_account_needs_only_the_order_margin_increase() -> None:
    after = compute_contract_order_margin(ETHUSD, FLAT, ((10, usd(90)),), usd(100), 0, 0, 500)
    requirement = compute_order_requirement(ETHUSD, FLAT, usd(100), 500, 0, 0, after.total, 10, usd(90))
    assert requirement == after.total


def test_adding_to_a_long_below_mark_also_needs_the_repricing_loss() -> None:
    # long 10 ETHUSD at 100, mark 100; a bid for 10 more at 90 reprices the position 10 × 10 × 100 lower.
    position = open_position(ETHUSD, 10, usd(100))
    before = compute_contract_order_margin(ETHUSD, position, (), usd(100), 0, 0, 500)
    after = compute_contract_order_margin(ETHUSD, position, ((10, usd(90)),), usd(100), 0, 0, 500)
    requirement = compute_order_requirement(
        ETHUSD, position, usd(100), 500, 0, before.total, after.total, 10, usd(90)
    )
    filled = open_position(ETHUSD, 10, usd(100))
    filled, _ = apply_fill(ETHUSD, filled, 10, usd(90))
    maint_change = (
        compute_position_margin(ETHUSD, filled, usd(100), 500).pos_maint
        - compute_position_margin(ETHUSD, position, usd(100), 500).pos_maint
    )
    assert requirement == after.total - before.total + maint_change + 10_000


def test_removing_isolated_margin_stops_at_the_initial_margin() -> None:
    position = open_position(ETHUSD, 10, usd(100))
    pm = compute_position_margin(ETHUSD, position, usd(95), 500, pos_cross=8_000)  # 5,000 loss at mark
    assert compute_removable_margin(pm.pos_cross, pm.unrealised_pnl) == 3_000
    assert check_transfer_margin(pm, -3_000, 0) is None
    rejection = check_transfer_margin(pm, -3_001, 0)
    assert rejection is not None
    assert rejection.reason is MarginReason.BELOW_INITIAL_MARGIN


def test_unrealised_profit_cannot_be_removed_from_an_isolated_position() -> None:
    pm = compute_position_margin(ETHUSD, open_position(ETHUSD, 10, usd(100)), usd(200), 500)
    assert compute_removable_margin(pm.pos_cross, pm.unrealised_pnl) == 0


@given(st.data())
def test_removing_the_removable_margin_keeps_the_initial_margin(data: st.DataObject) -> None:
    inst = data.draw(instruments())
    position = data.draw(positions(inst).filter(lambda p: p.qty != 0))
    pm = compute_position_margin(
        inst, position, data.draw(realistic_prices(inst)), 1_000, data.draw(st.integers(0, 10**8))
    )
    removable = compute_removable_margin(pm.pos_cross, pm.unrealised_pnl)
    assume(removable > 0)  # a position already at its initial margin releases nothing
    after = compute_position_margin(inst, position, inst.tick_size, 1_000, pm.pos_cross - removable)
    assert after.pos_margin + min(0, pm.unrealised_pnl) >= after.pos_init + after.pos_comm


def test_adding_margin_needs_available_balance_and_cross_positions_cannot_transfer() -> None:
    iso = compute_position_margin(ETHUSD, open_position(ETHUSD, 10, usd(100)), usd(100), 500)
    rejection = check_transfer_margin(iso, 1_001, 1_000)
    assert rejection is not None
    assert rejection.reason is MarginReason.INSUFFICIENT_AVAILABLE
    cross = compute_position_margin(ETHUSD, open_position(ETHUSD, 10, usd(100)), usd(100), 0)
    rejection = check_transfer_margin(cross, 1, 1_000)
    assert rejection is not None
    assert rejection.reason is MarginReason.NOT_ISOLATED


@pytest.mark.parametrize(("leverage", "ok"), [(0, True), (1, True), (10_000, True), (10_001, False), (-1, False)])
def test_leverage_is_cross_or_within_the_tier_maximum(leverage: int, ok: bool) -> None:
    assert (check_leverage(XBTUSD, leverage, 0) is None) == ok


# --- the registered invariants ----------------------------------------------------------


@attrs.frozen(kw_only=True)
class OneAccountView:
    """The smallest exchange state the margin invariants read: one account, ETHUSD."""

    wallet_xbt: int
    position: Position
    orders: tuple[RestingOrder, ...] = ()
    leverage: int = 0
    mark: int = usd(100)

    def assets(self) -> Sequence[str]:
        return ("XBt",)

    def account_ids(self) -> Sequence[int]:
        return (1,)

    def instruments(self) -> Mapping[str, Instrument]:
        return {"ETHUSD": ETHUSD}

    def wallet(self, account_id: int, asset: str) -> int:
        return self.wallet_xbt

    def positions(self, account_id: int) -> Mapping[str, Position]:
        return {"ETHUSD": self.position}

    def insurance(self, asset: str) -> int:
        return 0

    def fee_pool(self, asset: str) -> int:
        return 0

    def funding_pool(self, asset: str) -> int:
        return 0

    def net_deposits(self, asset: str) -> int:
        return self.wallet_xbt

    def mark_price(self, symbol: str) -> int:
        return self.mark

    def open_orders(self, account_id: int) -> Sequence[RestingOrder]:
        return self.orders

    def margin_setting(self, account_id: int, symbol: str) -> MarginSetting:
        return MarginSetting(leverage_hundredths=self.leverage)


def test_margin_invariants_are_registered() -> None:
    assert {"INV-MARGIN-ON-ENTRY", "INV-WITHDRAW-SAFE"} <= set(REGISTRY)


def test_margin_on_entry_flags_an_order_that_left_available_negative() -> None:
    order = RestingOrder(symbol="ETHUSD", qty=100, price=usd(100))  # IM 2% × 1,000,000 = 20,000 + fees
    step = StepInfo(order_accounts=(1,))
    assert check_margin_on_entry(OneAccountView(wallet_xbt=30_000, position=FLAT, orders=(order,)), step) == []
    problems = check_margin_on_entry(OneAccountView(wallet_xbt=20_000, position=FLAT, orders=(order,)), step)
    assert len(problems) == 1


def test_withdraw_safe_flags_a_withdrawal_of_unrealised_profit() -> None:
    # long 10 at 100 marked at 150: +50,000 of unrealised profit, position margin 20% × 100,000 + fees
    position = open_position(ETHUSD, 10, usd(100))
    step = StepInfo(withdraw_accounts=(1,))
    held = compute_position_margin(ETHUSD, position, usd(150), 0).pos_margin
    safe = OneAccountView(wallet_xbt=held, position=position, mark=usd(150))
    assert check_withdraw_safe(safe, step) == []
    took_profit = OneAccountView(wallet_xbt=held - 1, position=position, mark=usd(150))
    assert len(check_withdraw_safe(took_profit, step)) == 1


@given(st.data())
def test_an_accepted_order_filled_at_once_leaves_available_non_negative(data: st.DataObject) -> None:
    """INV-MARGIN-ON-ENTRY through a fill: an order accepted with exactly enough available balance
    (MRG-060/061), then filled at once at any price it can get, never leaves available < 0 —
    for any position that is not already liquidatable."""
    inst = data.draw(instruments())
    mark = data.draw(realistic_prices(inst))
    position = data.draw(positions(inst))
    leverage = data.draw(st.sampled_from((0, 100, 1_000, inst.max_leverage_hundredths)))
    limit = data.draw(realistic_prices(inst))
    qty = data.draw(lots(inst, 1_000)) * data.draw(st.sampled_from((1, -1)))
    tick = inst.tick_size
    if qty > 0:
        best = data.draw(st.integers(min_value=1, max_value=limit // tick)) * tick
        fill = data.draw(st.integers(min_value=best // tick, max_value=limit // tick)) * tick
        best_bid, best_ask = 0, best
    else:
        best = data.draw(st.integers(min_value=limit // tick, max_value=inst.max_price // tick)) * tick
        fill = data.draw(st.integers(min_value=limit // tick, max_value=best // tick)) * tick
        best_bid, best_ask = best, 0
    pm = compute_position_margin(inst, position, mark, leverage)
    assume(leverage == 0 or pm.maint_margin >= pm.pos_maint)  # an isolated position not already liquidatable
    before = compute_contract_order_margin(inst, position, (), mark, best_bid, best_ask, leverage)
    after = compute_contract_order_margin(inst, position, ((qty, limit),), mark, best_bid, best_ask, leverage)
    requirement = compute_order_requirement(inst, position, mark, leverage, 0, before.total, after.total, qty, limit)
    assume(requirement > 0)
    wallet = requirement - compute_account_margin(0, (pm,), before.total).available_margin
    account = compute_account_margin(wallet, (pm,), before.total)
    assume(account.cross_margin_excess >= 0)  # a cross account not already liquidatable
    assert check_order_margin(account.available_margin, requirement) is None
    filled, realised = apply_fill(inst, position, qty, fill)
    fee = compute_commission(compute_notional(inst, qty, fill), inst.taker_fee_ppm)
    after_fill = compute_position_margin(inst, filled, mark, leverage)
    assume(after_fill.risk_steps == pm.risk_steps)
    assert compute_account_margin(wallet + realised - fee, (after_fill,), 0).available_margin >= 0


# --- adverse funding in the maintenance margin (MRG-006) --------------------------------


def test_a_long_reserves_a_positive_funding_rate_and_a_short_does_not() -> None:
    # 100,000 sats of ETHUSD at 0.01% (10,000 e8): 10 sats reserved by the long only
    long = open_position(ETHUSD, 10, usd(100))
    short = open_position(ETHUSD, -10, usd(100))
    base = compute_position_margin(ETHUSD, long, usd(100), 500).pos_maint
    assert compute_position_margin(ETHUSD, long, usd(100), 500, funding_rate_e8=10_000).pos_maint == base + 10
    assert compute_position_margin(ETHUSD, short, usd(100), 500, funding_rate_e8=10_000).pos_maint == base
    assert compute_position_margin(ETHUSD, short, usd(100), 500, funding_rate_e8=-10_000).pos_maint == base + 10


@given(st.data())
def test_adverse_funding_moves_the_liquidation_price_toward_the_mark(data: st.DataObject) -> None:
    inst = data.draw(instruments())
    position = data.draw(positions(inst).filter(lambda p: p.qty != 0))
    mark = data.draw(realistic_prices(inst))
    rate = data.draw(st.integers(min_value=-375_000, max_value=375_000))  # the ±0.375% cap
    plain = compute_position_margin(inst, position, mark, 1_000)
    funded = compute_position_margin(inst, position, mark, 1_000, funding_rate_e8=rate)
    assert funded.pos_maint >= plain.pos_maint
    if position.qty > 0:
        assert funded.liquidation_price >= plain.liquidation_price
    else:
        assert funded.liquidation_price <= plain.liquidation_price
    assert funded.bankrupt_price == plain.bankrupt_price
