"""The pool LIQ-042 and LIQ-044 judge an order or a fill on: each of ``Risk.pool_tuple``'s terms pinned.

Found by the session-6/7 mutation runs over ``engine/core/risk.py`` (issue 13): ``pool_tuple`` builds the flat pool
(``PoolState``) of the proved ``order_solvent_*`` / ``fill_*`` kernels and of the rules' fallback, and no test
decided an order or a fill on its account-equity term, on the cross pool net of an isolated margin, or on a
missing wallet entry. Each test below goes through public commands and differs from the mutant in one decision:

* LIQ-043's account side counts the account's equity at mark: its wallet plus *every* position's PnL, the one
  being traded (``own_pnl``) and the others (``pnl_total``). Account 2 (1.5m XBt, cross) is long 100 ETHUSD from
  3,000.00 and 10,000 XBTUSD from 50,000.00; at marks of 6,000.00 and 45,000.00 its ETHUSD profit (30m XBt) is
  larger than its XBTUSD loss (2,222,200) and its wallet (1,462,500) is smaller than that loss. Its equity is
  29,240,300 XBt, so reducing either position at the mark is allowed; counting only one of the two PnLs (or the
  other one negated) puts the account below zero and refuses it.
* LIQ-042's cross pool is the wallet *less* the isolated margins (MRG-050): an isolated ETHUSD long (3,024,750 XBt
  set aside) beside a cross XBTUSD long with a cross pool of 485,000 XBt, and selling the 10,000 XBTUSD at
  48,000.00 (a loss of 833,333 at that price) is refused, exactly as for an account holding the cross position
  alone with the same free wallet.
* An account that never deposited has no wallet entry: its wallet is 0, not 1. The engine refuses the instrument
  this was once shown with (a lot worth nothing at $30bn, ``tests/test_fill_flat_path_edges.py``), so such an
  account never rests an order: at the cheapest valid lot (XBTUSD with maxPrice $20bn, one lot worth 1 sat) its bid
  needs 3 sat against an available balance of 0, and rests once it has deposited exactly 3. (The pool's own default,
  ``Risk.other_sums``' ``wallets.get(asset, 0)``, is therefore never read: an account holding an order or a position
  in a contract has a wallet entry in its settlement currency.)
* An account flat in the contract has an own PnL of 0 (the last test: LIQ-043's account side at exactly 0 and −1).
"""

from __future__ import annotations

import attrs
import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, Execution, Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.contract import compute_value
from perpspec.rules.instrument_file import InstrumentError, load_instrument
from perpspec.rules.invariants_trading import compute_account_equity
from perpspec.rules.solvency import FILL_CANCEL_TEXT

ETH_AT, XBT_AT = 300_000, 5_000_000  # entry prices
ETH_MARK, XBT_MARK = 600_000, 4_500_000  # the marks after


def _accepted(events: list[Event]) -> bool:
    return isinstance(events[-1], Accepted)


def _setup(accounts: tuple[tuple[int, int], ...]) -> Engine:
    engine = Engine()
    for account, amount in accounts:
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    for symbol, price in (("ETHUSD", ETH_AT), ("XBTUSD", XBT_AT)):
        engine.process(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=price, index_price=price))
    return engine


def _buy(engine: Engine, account: int, symbol: str, qty: int, price: int) -> None:
    engine.process(c.PlaceOrder(time_ms=0, account=3, symbol=symbol, side="Sell", order_qty=qty, price=price))
    assert _accepted(engine.process(c.PlaceOrder(time_ms=0, account=account, symbol=symbol, side="Buy", order_qty=qty, price=price)))


def _profit_and_loss() -> Engine:
    engine = _setup(((2, 1_500_000), (3, 10**12)))
    _buy(engine, 2, "ETHUSD", 100, ETH_AT)
    _buy(engine, 2, "XBTUSD", 10_000, XBT_AT)
    for symbol, price in (("ETHUSD", ETH_MARK), ("XBTUSD", XBT_MARK)):
        engine.process(c.PriceUpdate(time_ms=1, symbol=symbol, mark_price=price, index_price=price))
    eth = engine.accounts[2].positions["ETHUSD"].position
    xbt = engine.accounts[2].positions["XBTUSD"].position
    profit = compute_value(load_instrument("ETHUSD"), eth.qty, ETH_MARK) - eth.cost
    loss = xbt.cost - compute_value(load_instrument("XBTUSD"), xbt.qty, XBT_MARK)
    assert (engine.wallet(2, "XBt"), profit, loss) == (1_462_500, 30_000_000, 2_222_200)
    assert compute_account_equity(engine, 2, "XBt") == 1_462_500 + 30_000_000 - 2_222_200
    return engine


def _sell_into_a_bid(engine: Engine, symbol: str, qty: int, price: int) -> list[Event]:
    engine.process(c.PlaceOrder(time_ms=1, account=3, symbol=symbol, side="Buy", order_qty=qty, price=price))
    return engine.process(c.PlaceOrder(time_ms=1, account=2, symbol=symbol, side="Sell", order_qty=qty, price=price))


def test_liq_043_the_account_equity_counts_the_traded_positions_own_profit() -> None:
    # without ETHUSD's own profit the account (wallet less the XBTUSD loss) would be at -759,700 and fall further
    engine = _profit_and_loss()
    events = _sell_into_a_bid(engine, "ETHUSD", 1, ETH_MARK)
    assert _accepted(events), events[-1]
    assert engine.accounts[2].positions["ETHUSD"].qty == 99


def test_liq_043_the_account_equity_counts_the_other_positions_profit_with_its_sign() -> None:
    # XBTUSD's loss is the traded position's own; ETHUSD's profit is the other contract's (negated: -30.8m)
    engine = _profit_and_loss()
    events = _sell_into_a_bid(engine, "XBTUSD", 1_000, XBT_MARK)
    assert _accepted(events), events[-1]
    assert engine.accounts[2].positions["XBTUSD"].qty == 9_000


def _cross_long_beside(isolated: bool) -> Engine:
    """Account 2: cross long 10,000 XBTUSD at 50,000.00 with a cross pool of 485,000 XBt (and an isolated ETHUSD long)."""
    engine = _setup(((2, 500_000 + (3_024_750 + 22_500 if isolated else 0)), (3, 10**12)))
    if isolated:
        assert _accepted(engine.process(c.SetLeverage(time_ms=0, account=2, symbol="ETHUSD", leverage_hundredths=1_000)))
        _buy(engine, 2, "ETHUSD", 100, ETH_AT)
        assert engine.accounts[2].positions["ETHUSD"].iso_margin == 3_024_750
    _buy(engine, 2, "XBTUSD", 10_000, XBT_AT)
    return engine


def test_liq_042_the_cross_pool_is_the_wallet_less_the_isolated_margins() -> None:
    for isolated in (False, True):
        engine = _cross_long_beside(isolated)
        free = engine.wallet(2, "XBt") - sum(ps.iso_margin for ps in engine.accounts[2].positions.values())
        assert free == 485_000
        refused = engine.process(
            c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Sell", order_qty=10_000, price=4_800_000)
        )[-1]
        assert isinstance(refused, Rejected), refused
        assert refused.reason == Reason.IMMEDIATE_LIQUIDATION
        at_mark = engine.process(
            c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Sell", order_qty=10_000, price=XBT_AT)
        )
        assert _accepted(at_mark), at_mark[-1]


# XBTUSD with maxPrice $100bn: a lot of 100 contracts is worth round(1e12 / p) sat, 0 at $30bn: refused
WORTHLESS = attrs.evolve(load_instrument("XBTUSD"), max_price=10**13)
# the highest maxPrice validate accepts: a lot is worth round(1e12 / 2e12) = 1 sat there
CHEAPEST = attrs.evolve(load_instrument("XBTUSD"), max_price=2 * 10**12)
HIGH = 2 * 10**12


def test_liq_044_the_worthless_lot_instrument_is_refused_by_the_engine() -> None:
    with pytest.raises(InstrumentError, match=r"^instruments\['XBTUSD'\]: maxPrice: an inverse lot must be worth"):
        Engine({"XBTUSD": WORTHLESS})


def test_liq_044_an_account_that_never_deposited_has_a_wallet_of_zero() -> None:
    engine = Engine({"XBTUSD": CHEAPEST})
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=HIGH, index_price=HIGH))
    engine.process(c.VerifyAccount(time_ms=0, account=1))
    bid = c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=100, price=HIGH)
    refused = engine.process(bid)[-1]
    assert isinstance(refused, Rejected)
    assert (refused.reason, refused.text) == (Reason.INSUFFICIENT_MARGIN, "needs 3, available 0")
    assert engine.accounts[1].wallets == {}
    engine.process(c.Deposit(time_ms=0, account=1, asset="XBt", amount=3))
    assert _accepted(engine.process(bid))


# LIQ-043's account side for an account *flat* in the contract: its own PnL is 0 (not 1). The account's equity must
# be below its cross pool's for that side to bind: with ``max_liquidations_per_update = 1`` account 4's isolated
# 50x XBTUSDT long, 4% under water, stays with it (as in tests/test_spot_fill_equity_side.py), so its equity is
# 96.25 USDT below its cross pool. Its bid for one lot of a fee-free copy of XBTUSDT rests at 50,000.00; the copy's
# mark then falls to 25,000.00, so the fill costs 25 USDT of equity: with 25 USDT of equity it executes (to exactly
# 0), with one minor unit less it is cancelled.
XBTUSDT = load_instrument("XBTUSDT")
COPY = attrs.evolve(
    XBTUSDT,
    symbol="XBTUSDTX",
    maker_fee_ppm=0,
    fee_tiers=(attrs.evolve(XBTUSDT.fee_tiers[0], maker_fee_ppm=0),),
)
AT, FALLEN, COPY_MARK = 5_000_000, 4_800_000, 2_500_000


def _flat_bid_beside_an_underwater_isolated_long(deposit: int) -> Engine:
    engine = Engine({"XBTUSDT": XBTUSDT, "XBTUSDTX": COPY}, max_liquidations_per_update=1)
    for symbol in ("XBTUSDT", "XBTUSDTX"):
        engine.process(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=AT, index_price=AT))
    engine.process(c.DepositInsurance(time_ms=0, asset="USDt", amount=10**12))
    for account, amount in ((1, 10**9), (4, deposit), (3, 10**13)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="USDt", amount=amount))
    assert _accepted(engine.process(c.PlaceOrder(time_ms=0, account=4, symbol="XBTUSDTX", side="Buy", order_qty=1_000, price=AT)))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSDTX", mark_price=COPY_MARK, index_price=COPY_MARK))
    for account in (4, 1):
        engine.process(c.SetLeverage(time_ms=0, account=account, symbol="XBTUSDT", leverage_hundredths=5_000))
        _buy(engine, account, "XBTUSDT", 100_000, AT)
    engine.process(c.PriceUpdate(time_ms=1, symbol="XBTUSDT", mark_price=FALLEN, index_price=FALLEN))
    assert engine.accounts[1].positions["XBTUSDT"].qty == 0  # taken over: the one liquidation of this update
    assert engine.accounts[4].positions["XBTUSDT"].qty == 100_000  # carried over, past its bankruptcy price
    return engine


def test_liq_043_a_flat_accounts_own_pnl_is_zero_a_fill_to_minus_one_is_cancelled() -> None:
    assert compute_value(COPY, 1_000, COPY_MARK) - compute_value(COPY, 1_000, AT) == -25_000_000
    for deposit, equity, filled in ((228_750_000, 25_000_000, 1_000), (228_749_999, 24_999_999, 0)):
        engine = _flat_bid_beside_an_underwater_isolated_long(deposit)
        assert compute_account_equity(engine, 4, "USDt") == equity
        events = engine.process(c.PlaceOrder(time_ms=2, account=3, symbol="XBTUSDTX", side="Sell", order_qty=1_000, price=AT))
        cancelled = [e for e in events if isinstance(e, Execution) and e.text == FILL_CANCEL_TEXT]
        assert (engine.accounts[4].positions["XBTUSDTX"].qty, len(cancelled)) == (filled, 1 - filled // 1_000)


# LIQ-042 by the rule itself (``Risk.pool_state``: the generic rules' PoolState, used where no proved kernel exists
# for the instrument): ETHUSD with a tick of one price unit is such an instrument. Account 2 holds, cross, 100 of it
# from 3,000.00 and rests a sell of all 100 at 2,900.00 (a loss of 1,000,000 XBt at that price, 3.3% below the mark).
FINE_ETH = attrs.evolve(load_instrument("ETHUSD"), tick_size=1)


def _fine_eth_long(deposit: int, xbt_mark: int | None) -> Engine:
    engine = Engine({"ETHUSD": FINE_ETH, "XBTUSD": load_instrument("XBTUSD")})
    for account, amount in ((2, deposit), (3, 10**12)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    for symbol, price in (("ETHUSD", ETH_AT), ("XBTUSD", XBT_AT)):
        engine.process(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=price, index_price=price))
    _buy(engine, 2, "ETHUSD", 100, ETH_AT)
    if xbt_mark is not None:
        _buy(engine, 2, "XBTUSD", 10_000, XBT_AT)
        engine.process(c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=xbt_mark, index_price=xbt_mark))
    return engine


def _close_at_2900(engine: Engine) -> list[Event]:
    return engine.process(c.PlaceOrder(time_ms=1, account=2, symbol="ETHUSD", side="Sell", order_qty=100, price=290_000))


def test_liq_042_by_the_rule_a_lone_position_has_no_other_maintenance() -> None:
    # 10 XBT behind the position: closing it at a loss leaves the pool far above maintenance
    events = _close_at_2900(_fine_eth_long(10**9, None))
    assert _accepted(events), events[-1]


def test_liq_042_by_the_rule_the_other_members_profit_backs_the_close() -> None:
    # 900,000 XBt deposited; a cross XBTUSD long of 10,000 from 50,000.00 is 1,818,200 XBt in profit at 55,000.00:
    # with it the pool stays above maintenance after the 1,000,000 loss; without it (its maintenance in its place)
    # the pool would end below zero
    engine = _fine_eth_long(900_000, 5_500_000)
    xbt = engine.accounts[2].positions["XBTUSD"].position
    assert compute_value(load_instrument("XBTUSD"), xbt.qty, 5_500_000) - xbt.cost == 1_818_200
    assert engine.wallet(2, "XBt") < 1_000_000
    events = _close_at_2900(engine)
    assert _accepted(events), events[-1]


def test_liq_042_by_the_rule_the_pool_is_judged_at_the_positions_own_risk_tier() -> None:
    # 700,000 XBt deposited, the mark falls to 2,970.00 (equity 377,500): selling half at 2,900.00 keeps the pool
    # above zero (about 16,600) but below its maintenance and worse than before: LIQ-041 refuses it. At a chosen
    # risk tier far above the position's own (the pool's margin read as the tier) the step freed by the reduction
    # would outweigh the loss
    engine = _fine_eth_long(700_000, None)
    engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=297_000, index_price=297_000))
    assert compute_account_equity(engine, 2, "XBt") == 377_500
    refused = engine.process(c.PlaceOrder(time_ms=1, account=2, symbol="ETHUSD", side="Sell", order_qty=50, price=290_000))[-1]
    assert isinstance(refused, Rejected), refused
    assert refused.reason == Reason.IMMEDIATE_LIQUIDATION
    assert engine.accounts[2].positions["ETHUSD"].qty == 100


def test_liq_044_by_the_rule_an_isolated_pools_extra_margin_is_bounded_by_the_wallet_not_the_equity() -> None:
    # account 2 holds an isolated 10x long of 100 (the generic-rules ETHUSD) from 3,000.00 and has moved 5,000,000
    # XBt more into its pool (TransferMargin: an extra above the requirement); at a mark of 2,300.00 it is 7,000,000
    # XBt under water, the extra keeping the pool above maintenance. Buying one more contract at the mark keeps the
    # pool's extra (ACC-006: the pool never holds more than the wallet beyond the other isolated pools, which it
    # does not here): the fill is made. Were that bound the account's equity (the wallet less the loss) the pool
    # would keep only its requirement, end below zero, and the fill be refused
    engine = Engine({"ETHUSD": FINE_ETH})
    for account, amount in ((2, 8_150_000), (3, 10**12)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=ETH_AT, index_price=ETH_AT))
    assert _accepted(engine.process(c.SetLeverage(time_ms=0, account=2, symbol="ETHUSD", leverage_hundredths=1_000)))
    _buy(engine, 2, "ETHUSD", 100, ETH_AT)
    assert _accepted(engine.process(c.TransferMargin(time_ms=0, account=2, symbol="ETHUSD", amount=5_000_000)))
    engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=230_000, index_price=230_000))
    assert engine.accounts[2].positions["ETHUSD"].qty == 100
    engine.process(c.PlaceOrder(time_ms=1, account=3, symbol="ETHUSD", side="Sell", order_qty=1, price=230_000))
    bought = engine.process(c.PlaceOrder(time_ms=1, account=2, symbol="ETHUSD", side="Buy", order_qty=1, price=230_000))
    assert _accepted(bought), bought[-1]
    assert engine.accounts[2].positions["ETHUSD"].qty == 101


def test_liq_043_the_account_equity_counts_a_one_contract_positions_own_profit() -> None:
    # account 2 (365,225 XBt, cross): one ETHUSD contract from 3,000.00 (300,000 XBt in profit at 6,000.00) and
    # 10,000 XBTUSD from 50,000.00 (408,200 XBt lost at 49,000.00) on a wallet of 350,000: its equity is 241,800, so
    # selling the one contract at the mark is allowed; without that contract's own profit the account would be at
    # -58,200 and fall further by the fee
    engine = _setup(((2, 365_225), (3, 10**12)))
    _buy(engine, 2, "ETHUSD", 1, ETH_AT)
    _buy(engine, 2, "XBTUSD", 10_000, XBT_AT)
    for symbol, price in (("ETHUSD", ETH_MARK), ("XBTUSD", 4_900_000)):
        engine.process(c.PriceUpdate(time_ms=1, symbol=symbol, mark_price=price, index_price=price))
    assert engine.wallet(2, "XBt") == 350_000
    assert compute_account_equity(engine, 2, "XBt") == 241_800
    events = _sell_into_a_bid(engine, "ETHUSD", 1, ETH_MARK)
    assert _accepted(events), events[-1]
    assert engine.accounts[2].positions["ETHUSD"].qty == 0


def test_liq_041_an_isolated_pool_has_no_other_maintenance_a_reduction_to_exactly_zero_excess() -> None:
    # account 2 holds an isolated 10x long of 100 ETHUSD from 3,000.00 (3,024,750 XBt set aside) and adds `extra`
    # with TransferMargin; at a mark of 2,750.00 it offers 50 at 2,620.00. With 297,450 more the pool would be left
    # exactly at its maintenance (LIQ-041: accepted), with one satoshi less below it and worse than before (refused)
    for extra, accepted in ((297_450, True), (297_449, False)):
        engine = _setup(((2, 10**8), (3, 10**12)))
        assert _accepted(engine.process(c.SetLeverage(time_ms=0, account=2, symbol="ETHUSD", leverage_hundredths=1_000)))
        _buy(engine, 2, "ETHUSD", 100, ETH_AT)
        assert engine.accounts[2].positions["ETHUSD"].iso_margin == 3_024_750
        assert _accepted(engine.process(c.TransferMargin(time_ms=0, account=2, symbol="ETHUSD", amount=extra)))
        engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=275_000, index_price=275_000))
        events = engine.process(c.PlaceOrder(time_ms=1, account=2, symbol="ETHUSD", side="Sell", order_qty=50, price=262_000))
        assert _accepted(events) == accepted, events[-1]
        if not accepted:
            assert isinstance(events[-1], Rejected)
            assert events[-1].reason == Reason.IMMEDIATE_LIQUIDATION
