"""LIQ-033 (the order pools are liquidated in), LIQ-034 (close-outs in take-over order), ACC-006 (isolated margin after a fill)."""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from perpspec.rules.adl import RankedQueuePolicy
from perpspec.rules.contract import compute_value
from perpspec.rules.events import AdlDeferred, AdlFill, AdlShortfall, Liquidation, LiquidationFill
from perpspec.rules.instrument import Instrument
from perpspec.rules.insurance import InsuranceFund
from perpspec.rules.liquidation import compute_requirement
from perpspec.rules.margin import compute_liquidation_price
from perpspec.rules.position import Position, apply_fill
from perpspec.rules.waterfall import (
    Book,
    BookLevel,
    Holding,
    Ledger,
    apply_holding_fill,
    compute_isolated_margin_after_fill,
    find_liquidatable,
    get_pool,
    process_waterfall,
)
from tests.strategies import BUILTIN

XBTUSD, ETHUSD = BUILTIN["XBTUSD"], BUILTIN["ETHUSD"]
INSTRUMENTS = {"XBTUSD": XBTUSD, "ETHUSD": ETHUSD}
XBT = 10**8
CLOSE_OUT_EVENTS = (LiquidationFill, AdlFill, AdlDeferred, AdlShortfall)


def make_ledger(marks: dict[str, int], wallets: dict[tuple[int, str], int], holdings: dict[tuple[int, str], Holding]) -> Ledger:
    deposits: dict[str, int] = {}
    for (_, asset), amount in wallets.items():
        deposits[asset] = deposits.get(asset, 0) + amount
    for (_, symbol), holding in holdings.items():
        asset = INSTRUMENTS[symbol].settl_currency
        deposits[asset] = deposits.get(asset, 0) - holding.position.cost
    return Ledger(
        instrument_map=INSTRUMENTS,
        marks=marks,
        wallets=wallets,
        holdings=holdings,
        funds={"XBt": InsuranceFund(currency="XBt")},
        deposits=deposits,
    )


def long_at(inst: Instrument, qty: int, price: int) -> Position:
    return Position(qty=qty, cost=compute_value(inst, qty, price))


# -- LIQ-033: the order of liquidations ---------------------------------------------------------------


def crowded_ledger(xbt_mark: int, eth_mark: int) -> Ledger:
    """Cross longs 1..3 in XBTUSD with thinning margins (3 the thinnest), a cross long in ETHUSD (4), shorts (5, 6)."""
    holdings = {
        (1, "XBTUSD"): Holding(position=long_at(XBTUSD, 100_000, 5_000_000)),
        (2, "XBTUSD"): Holding(position=long_at(XBTUSD, 100_000, 5_000_000)),
        (3, "XBTUSD"): Holding(position=long_at(XBTUSD, 100_000, 5_000_000)),
        (4, "ETHUSD"): Holding(position=long_at(ETHUSD, 1_000, 300_000)),
        (5, "XBTUSD"): Holding(position=Position(qty=-300_000, cost=-compute_value(XBTUSD, 300_000, 5_000_000))),
        (6, "ETHUSD"): Holding(position=Position(qty=-1_000, cost=-compute_value(ETHUSD, 1_000, 300_000))),
    }
    wallets = {
        (1, "XBt"): 10 * XBT // 100,  # 10x
        (2, "XBt"): 5 * XBT // 100,  # 20x
        (3, "XBt"): 4 * XBT // 100,  # 25x
        (4, "XBt"): 5 * XBT // 100,
        (5, "XBt"): 100 * XBT,
        (6, "XBt"): 100 * XBT,
    }
    return make_ledger({"XBTUSD": xbt_mark, "ETHUSD": eth_mark}, wallets, holdings)


def test_liq_033_longs_passed_by_a_falling_mark_go_highest_liquidation_price_first() -> None:
    ledger = crowded_ledger(4_500_000, 300_000)  # -10%: all three XBTUSD longs are below maintenance
    assert find_liquidatable(ledger, "XBTUSD") == [(3, "cross:XBt"), (2, "cross:XBt"), (1, "cross:XBt")]


def test_liq_033_the_key_is_the_liquidation_price_in_the_pool() -> None:
    ledger = crowded_ledger(4_500_000, 300_000)
    prices = []
    for account in (3, 2, 1):
        pool = get_pool(ledger, account, "cross:XBt")
        position = ledger.holdings[(account, "XBTUSD")].position
        maint = compute_requirement(XBTUSD, position, 0, 0).pos_maint
        prices.append(compute_liquidation_price(XBTUSD, position.qty, position.cost, pool.margin, maint))
    assert (prices == sorted(prices, reverse=True), len(set(prices))) == (True, 3)


def test_liq_033_the_moved_contract_goes_first_then_the_others_by_symbol() -> None:
    ledger = crowded_ledger(4_500_000, 200_000)  # both contracts fell: pools due in ETHUSD and XBTUSD
    due_xbt = find_liquidatable(ledger, "XBTUSD")
    due_eth = find_liquidatable(ledger, "ETHUSD")
    due_none = find_liquidatable(ledger)
    assert (due_xbt[-1], due_eth[0], due_none[0]) == ((4, "cross:XBt"), (4, "cross:XBt"), (4, "cross:XBt"))


# -- LIQ-034: close-outs in take-over order -----------------------------------------------------------


def test_liq_034_every_take_over_of_a_round_comes_before_its_first_close_out() -> None:
    ledger = crowded_ledger(4_500_000, 300_000)
    books = {"XBTUSD": Book(bids=(BookLevel(price=4_490_000, qty=1_000_000, maker_account_id=5),))}
    result = process_waterfall(ledger, books, RankedQueuePolicy(), moved="XBTUSD")
    kinds = [type(e).__name__ for e in result.events if isinstance(e, (Liquidation, *CLOSE_OUT_EVENTS))]
    met: list[int] = []  # pending ids in the order their close-out first met the book, the fund or ADL
    for item in result.events:
        if isinstance(item, CLOSE_OUT_EVENTS) and item.pending_id not in met:
            met.append(item.pending_id)
    taken = [t.pending_id for item in result.events if isinstance(item, Liquidation) for t in item.taken]
    assert (kinds[:3], met) == (["Liquidation"] * 3, taken)


# -- ACC-006: an isolated margin after a fill -------------------------------------------------------


def test_acc_006_a_profitable_reduction_keeps_the_requirement_of_the_rest_plus_the_extra() -> None:
    # 800 required before, 400 after, 200 extra; the 50 profit and the 400 freed go to the cross wallet
    assert compute_isolated_margin_after_fill(1_000, 800, 400, 50, 0, 10**9, 10**9, 10, 5) == 600


def test_acc_006_a_realised_loss_is_paid_first_from_the_requirement_the_reduction_frees() -> None:
    # the 30 loss of the closed half comes out of the 400 it frees: the rest keeps its 400 and the 200 extra
    assert compute_isolated_margin_after_fill(1_000, 800, 400, -30, 0, 10**9, 10**9, 10, 5) == 600
    # a 450 loss: 400 from the freed requirement, 50 from the extra
    assert compute_isolated_margin_after_fill(1_000, 800, 400, -450, 0, 10**9, 10**9, 10, 5) == 550


def test_acc_006_a_loss_beyond_the_freed_requirement_and_the_extra_is_paid_by_the_free_wallet_as_far_as_it_reaches() -> None:
    # a 700 loss: 400 freed, 200 extra, the last 100 from the free wallet so the rest keeps its 400
    assert compute_isolated_margin_after_fill(1_000, 800, 400, -700, 0, 10**9, 10**9, 10, 5) == 400
    # the wallet beyond other pools holds 350 of which the pool already counts 300: 50 more, never more
    assert compute_isolated_margin_after_fill(1_000, 800, 400, -700, 0, 350, 10**9, 10, 5) == 350
    assert compute_isolated_margin_after_fill(1_000, 800, 400, -700, 0, 0, 10**9, 10, 5) == 300


def test_acc_006_a_flip_opens_the_new_side_from_flat() -> None:
    # a long of 10 (800 required, 200 extra) sold to a short of 5 (400 required) at a 900 loss: the new short
    # holds its 400; the old side's extra and loss are the wallet's
    assert compute_isolated_margin_after_fill(1_000, 800, 400, -900, 0, 10**9, 10**9, 10, -5) == 400
    assert compute_isolated_margin_after_fill(1_000, 800, 400, -900, 30, 10**9, 10**9, -10, 5) == 430


def test_acc_006_a_closed_position_keeps_no_margin() -> None:
    assert compute_isolated_margin_after_fill(1_000, 800, 0, 50, 0, 10**9, 10**9, 10, 0) == 0


def test_acc_006_a_premium_joins_the_pool_only_as_far_as_the_unallocated_wallet_reaches() -> None:
    funded = compute_isolated_margin_after_fill(1_000, 800, 1_600, 0, 300, 10**9, 10**9, 5, 10)
    capped = compute_isolated_margin_after_fill(1_000, 800, 1_600, 0, 300, 1_900, 10**9, 5, 10)
    assert (funded, capped) == (2_100, 1_900)


@given(
    qty=st.integers(min_value=2, max_value=10_000).map(lambda lots: lots * 100),
    entry=st.integers(min_value=2_000_000, max_value=8_000_000).map(lambda p: p // 5 * 5),
    price=st.integers(min_value=2_000_000, max_value=8_000_000).map(lambda p: p // 5 * 5),
    extra=st.integers(min_value=0, max_value=XBT // 100),
    share=st.integers(min_value=1, max_value=99),
)
def test_acc_006_an_isolated_reduction_moves_freed_margin_and_profit_to_the_cross_wallet(
    qty: int, entry: int, price: int, extra: int, share: int
) -> None:
    """Wallet − isolated margin (the cross part) gains the freed requirement plus the realised PnL; pays only what the pool cannot.

    ACC-006: the closed part's loss comes out of the requirement it frees, then the extra; the cross wallet
    pays only the rest (so the remainder keeps its requirement), and gains what the freed requirement leaves.
    """
    close = qty * share // 100 // 100 * 100
    assume(0 < close < qty)
    position = Position(qty=-qty, cost=-compute_value(XBTUSD, qty, entry))  # a short
    req = compute_requirement(XBTUSD, position, 1_000, 0)
    margin = req.pos_init + req.pos_comm + extra
    ledger = make_ledger(
        {"XBTUSD": price},
        {(1, "XBt"): 100 * XBT},  # beyond any loss here: the free wallet always reaches
        {(1, "XBTUSD"): Holding(position=position, leverage_hundredths=1_000, isolated_margin=margin)},
    )
    after = apply_holding_fill(ledger, 1, "XBTUSD", close, price)  # bought back, as ADL would at ``price``
    rest, realised = apply_fill(XBTUSD, position, close, price)
    rest_req = compute_requirement(XBTUSD, rest, 1_000, 0)
    held = after.holdings[(1, "XBTUSD")]
    cross_before = 100 * XBT - margin
    cross_after = after.wallet(1, "XBt") - held.isolated_margin
    freed = req.pos_init + req.pos_comm - rest_req.pos_init - rest_req.pos_comm
    expected = rest_req.pos_init + rest_req.pos_comm + max(0, extra + min(0, realised + freed))
    moved = realised + freed if realised + freed >= 0 else min(0, extra + realised + freed)
    assert (held.isolated_margin, cross_after - cross_before) == (expected, moved)
