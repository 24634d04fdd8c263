"""LIQ-054 and LIQ-053 for the liquidation engine's fills: the free wallet (wallet − Σ isolated margins) (issue 13).

ACC-006 does not cap an isolated pool's requirement at the free wallet, and MRG-060 counts cross unrealised
profit as available, so the free wallet (the cross pool's margin) may fall below zero.  Session 7 looked at
each way (helper wallet-guard):

(a) **An isolated fill admitted against cross unrealised profit** — reproduced (``_profit_backed``): the free
    wallet is −5,198,750 XBt while the cross long's profit backs it.  No harm: LIQ-053 keeps the cross pool
    (free wallet + cross PnL) at maintenance after the fill, a withdrawal is refused (MRG-050's withdrawable
    balance leaves the cross profit out), and when the profit goes the cross pool is liquidated by the mark
    update like any pool (its take-over brings the free wallet back to zero; the fund pays only a gap beyond
    the bankruptcy price, as for any position).  BitMEX behaves the same (available balance counts unrealised
    PnL).  The invariant that shows it, run after every command of attack3's seeded searches below: **a free
    wallet below zero only while the account holds an open cross position in the currency, or the liquidation
    engine has not finished with it.**
(b) **A resting order filled by the liquidation engine** (no LIQ-044 / LIQ-053 before) — reproduced, two
    harms, both fixed:
    * an isolated bid taken by a close-out moved into its pool the margin the cross pool needed (attack2's
      fund drain through the liquidation engine): the cross pool went from 88,814,000 XBt of equity to
      −1,920,550, was liquidated in the same waterfall and the fund paid; LIQ-053 now judges the liquidation
      engine's makers too;
    * a resting sell, taken by a close-out below the mark, closed the cross long whose profit backed an
      isolated margin: the account was left with no cross position and a free wallet of −436,750, nothing to
      liquidate; the isolated pool's take-over then left it flat at −436,750 (INV-NO-NEG-EQUITY once the
      take-over closes).  LIQ-054 refuses such a fill.
    A flip after a large loss: not reproduced (LIQ-044 judges the new side at mark, ACC-006 caps the premium at
    the free wallet); a trader's isolated fill that would leave the free wallet below zero with no cross
    position is now refused by LIQ-054 whatever the path.
(c) **A resting reduce order filled later, judged by LIQ-044 only** — no free-wallet harm: ACC-006 pays a
    reduction's loss from the pool, then from the free wallet only as far as it reaches (never below zero); a
    cross reduction that leaves no cross position is held by LIQ-044's pool check (the pool's equity is then
    its margin).  A remainder LIQ-044 leaves below maintenance (equity ≥ 0) is liquidated by the next mark
    update with a residual ≥ 0 (ACC-006's documented decision [I]).
"""

from __future__ import annotations

import random

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.margin import CROSS
from perpspec.rules.solvency import FILL_CANCEL_TEXT, is_free_wallet_kept
from tests import attack3_search

FUND = 10**9


def free_wallet(engine: Engine, account_id: int, asset: str = "XBt") -> int:
    """The account's wallet less every isolated margin in ``asset`` (the cross pool's margin)."""
    account = engine.accounts[account_id]
    isolated = sum(
        ps.iso_margin
        for symbol, ps in account.positions.items()
        if ps.leverage != CROSS and engine.instrument_map[symbol].settl_currency == asset
    )
    return account.wallet(asset) - isolated


def has_cross_position(engine: Engine, account_id: int, asset: str) -> bool:
    return any(
        ps.qty != 0 and ps.leverage == CROSS and engine.instrument_map[symbol].settl_currency == asset
        for symbol, ps in engine.accounts[account_id].positions.items()
    )


def _ok(engine: Engine, command: c.Command) -> list[object]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), (command, events[-1])
    return list(events)


def _texts(events: list[object]) -> list[str]:
    return [str(getattr(event, "text", "")) for event in events]


def _engine(wallets: tuple[tuple[int, int], ...]) -> Engine:
    engine = Engine()
    engine.track_steps = True
    _ok(engine, c.DepositInsurance(time_ms=0, asset="XBt", amount=FUND))
    for account_id, wallet in wallets:
        _ok(engine, c.VerifyAccount(time_ms=0, account=account_id))
        _ok(engine, c.Deposit(time_ms=0, account=account_id, asset="XBt", amount=wallet))
    _ok(engine, c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    _ok(engine, c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    return engine


def test_liq_054_rule_cases() -> None:
    assert is_free_wallet_kept(10, 0, cross_open_after=False)
    assert not is_free_wallet_kept(10, -1, cross_open_after=False)
    assert is_free_wallet_kept(10, -1, cross_open_after=True)  # a cross position still backs it
    assert is_free_wallet_kept(-5, -5, cross_open_after=False)  # no lower than the cross pool was
    assert not is_free_wallet_kept(-5, -6, cross_open_after=False)


# --- (b) a close-out sells into a resting isolated bid (LIQ-053 for the liquidation engine's makers) -----------


def _isolated_bid_and_a_liquidated_long() -> tuple[Engine, list[object]]:
    """Account 2: 1x ETHUSD bid of 300 at 2,990.00 resting, cross long 50,000 XBTUSD that has fallen to 45,000.00;
    account 5's 50x ETHUSD long is liquidated and the close-out sells into the bid."""
    engine = _engine(((2, 10**8), (3, 10**10), (4, 10**10), (5, 10**7)))
    _ok(engine, c.SetLeverage(time_ms=0, account=2, symbol="ETHUSD", leverage_hundredths=100))
    _ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Buy", order_qty=300, price=299_000))
    _ok(engine, c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Sell", order_qty=50_000, price=5_000_000))
    _ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Buy", order_qty=50_000, price=5_000_000))
    _ok(engine, c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=4_500_000, index_price=4_500_000))
    _, equity, maintenance, _ = engine.risk.pool_of(engine.accounts[2], "XBTUSD")
    assert (equity, maintenance) == (88_814_000, 575_750)  # safe: the bid's reserved money still counts
    _ok(engine, c.SetLeverage(time_ms=2, account=5, symbol="ETHUSD", leverage_hundredths=5000))
    _ok(engine, c.PlaceOrder(time_ms=2, account=4, symbol="ETHUSD", side="Sell", order_qty=300, price=300_000))
    _ok(engine, c.PlaceOrder(time_ms=2, account=5, symbol="ETHUSD", side="Buy", order_qty=300, price=300_000))
    events = _ok(engine, c.PriceUpdate(time_ms=3, symbol="ETHUSD", mark_price=296_000, index_price=296_000))
    return engine, events


def test_liq_053_a_close_out_does_not_take_an_isolated_bid_the_cross_pool_needs() -> None:
    engine, events = _isolated_bid_and_a_liquidated_long()
    account = engine.accounts[2]
    # before: the bid filled (cross pool equity −1,920,550), account 2 was liquidated in the same waterfall
    assert FILL_CANCEL_TEXT in _texts(events)
    assert account.positions["ETHUSD"].qty == 0
    assert account.positions["XBTUSD"].qty == 50_000
    assert not engine.risk.below_maintenance(account, "XBTUSD")
    assert free_wallet(engine, 2) == account.wallet("XBt")


def test_liq_053_the_fund_does_not_pay_for_a_cross_pool_whose_money_an_isolated_pool_holds() -> None:
    engine, _ = _isolated_bid_and_a_liquidated_long()
    _ok(engine, c.PlaceOrder(time_ms=4, account=4, symbol="XBTUSD", side="Buy", order_qty=50_000, price=4_500_000))
    for step in range(5, 9):
        _ok(engine, c.PriceUpdate(time_ms=step, symbol="XBTUSD", mark_price=4_500_000, index_price=4_500_000))
    assert engine.insurance_funds["XBt"] >= FUND  # before: FUND − 351,700 (the cross deficit paid)


# --- (a) isolated margin backed by cross profit, then (b) a close-out closes the cross long below the mark --------


def _profit_backed() -> Engine:
    """Account 2 (0.1 XBT) cross long 50,000 XBTUSD at 50,000.00, the mark at 55,000.00; a plain sell of the long
    at 52,500.00 rests; account 5 (0.075 XBT) is short 50,000 at 55,000.00; account 2 buys 250 ETHUSD isolated at
    5x against its cross profit: its free wallet goes below zero."""
    engine = _engine(((2, 10_000_000), (3, 10**10), (4, 10**10), (5, 7_500_000)))
    _ok(engine, c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Sell", order_qty=50_000, price=5_000_000))
    _ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Buy", order_qty=50_000, price=5_000_000))
    _ok(engine, c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=5_500_000, index_price=5_500_000))
    _ok(engine, c.PlaceOrder(time_ms=1, account=3, symbol="XBTUSD", side="Buy", order_qty=50_000, price=5_500_000))
    _ok(engine, c.PlaceOrder(time_ms=1, account=5, symbol="XBTUSD", side="Sell", order_qty=50_000, price=5_500_000))
    _ok(engine, c.PlaceOrder(time_ms=2, account=2, symbol="XBTUSD", side="Sell", order_qty=50_000, price=5_250_000))
    _ok(engine, c.SetLeverage(time_ms=2, account=2, symbol="ETHUSD", leverage_hundredths=500))
    _ok(engine, c.PlaceOrder(time_ms=2, account=4, symbol="ETHUSD", side="Sell", order_qty=250, price=300_000))
    _ok(engine, c.PlaceOrder(time_ms=2, account=2, symbol="ETHUSD", side="Buy", order_qty=250, price=300_000))
    return engine


def test_a_the_free_wallet_goes_below_zero_only_backed_by_the_cross_pool() -> None:
    engine = _profit_backed()
    account = engine.accounts[2]
    assert account.positions["ETHUSD"].iso_margin == 15_067_500
    assert free_wallet(engine, 2) == -5_198_750
    _, equity, maintenance, _ = engine.risk.pool_of(account, "XBTUSD")
    assert (equity, maintenance) == (3_892_250, 575_750)  # LIQ-053: the cross pool keeps its maintenance
    refused = engine.process(c.Withdraw(time_ms=3, account=2, asset="XBt", amount=1))
    assert isinstance(refused[-1], Rejected)  # the cross profit is not withdrawable (MRG-050)


def test_a_the_cross_pool_backing_a_negative_free_wallet_is_liquidated_when_its_profit_goes() -> None:
    engine = _profit_backed()
    _ok(engine, c.CancelAll(time_ms=3, account=2))
    events = _ok(engine, c.PriceUpdate(time_ms=3, symbol="XBTUSD", mark_price=5_290_000, index_price=5_290_000))
    account = engine.accounts[2]
    liquidated = [e for e in events if type(getattr(e, "record", None)).__name__ == "Liquidation"]
    assert [e.record.account_id for e in liquidated] == [2]  # type: ignore[attr-defined]
    assert account.positions["XBTUSD"].qty == 0
    assert free_wallet(engine, 2) >= 0  # the take-over at the bankruptcy price brought the cross pool back
    assert account.positions["ETHUSD"].iso_margin == 15_067_500
    assert engine.insurance_funds["XBt"] >= FUND  # above the bankruptcy price: the fund takes the residual


def test_liq_054_a_close_out_does_not_close_the_cross_position_backing_the_isolated_margins() -> None:
    engine = _profit_backed()
    events = _ok(engine, c.PriceUpdate(time_ms=4, symbol="XBTUSD", mark_price=6_000_000, index_price=6_000_000))
    account = engine.accounts[2]
    # before: the close-out bought account 2's 50,000 at 52,500.00; flat in XBTUSD with a free wallet of −436,750
    assert FILL_CANCEL_TEXT in _texts(events)
    assert account.positions["XBTUSD"].qty == 50_000
    assert free_wallet(engine, 2) == -5_198_750
    _ok(engine, c.PlaceOrder(time_ms=5, account=4, symbol="ETHUSD", side="Buy", order_qty=1000, price=200_000))
    for mark in (250_000, 230_000, 220_000):  # the isolated ETHUSD pool is taken over
        _ok(engine, c.PriceUpdate(time_ms=6, symbol="ETHUSD", mark_price=mark, index_price=mark))
    assert account.positions["ETHUSD"].qty == 0
    _, equity, maintenance, _ = engine.risk.pool_of(account, "XBTUSD")
    assert equity >= maintenance  # the cross long's profit still backs the wallet (before: flat at −436,750)


# --- the invariant, after every command of attack3's seeded searches -------------------------------------------


def free_wallet_problems(engine: Engine, events: list[object]) -> list[str]:
    """Accounts with a free wallet below zero that no open cross position backs and no liquidation is due for."""
    liquidating = set(engine.step_info(events).liquidating_accounts)  # type: ignore[arg-type]
    liquidating.update(p.account for p in engine.waterfall.pending)
    problems = []
    for account_id in sorted(engine.accounts):
        if account_id < 0 or account_id in liquidating:
            continue
        for asset in ("XBt", "USDt"):
            if free_wallet(engine, account_id, asset) < 0 and not has_cross_position(engine, account_id, asset):
                problems.append(f"account {account_id} {asset}: free wallet {free_wallet(engine, account_id, asset)}")
    return problems


def _search(seed: int, length: int) -> tuple[int, list[str]]:
    """attack3's command stream for ``seed``; (commands run, the first free-wallet problem or [])."""
    rng = random.Random(seed)
    engine = Engine(attack3_search.instruments(), max_liquidations_per_update=rng.choice((1, 2, 64)))
    attack3_search.ACCOUNTS = tuple(range(1, rng.choice((4, 6, 13)) + 1))
    engine.track_steps = True
    marks = {symbol: price for symbol, (price, _, _) in attack3_search.MARKETS.items()}
    now = attack3_search.EXPIRY - rng.choice((60_000, 600_000, 3_600_000, 10**9))
    queue = attack3_search._setup(rng, now)
    count = len(queue) + length
    for index in range(count):
        if not queue:
            now += rng.choice((0, 0, 1, 1_000, 1_000, 10_000, 60_000))
            made = attack3_search._command(rng, engine, marks, now)
            queue = made if isinstance(made, list) else [made]
        command = queue.pop(0)
        events = list(engine.process(command))
        problems = free_wallet_problems(engine, events)
        if problems:
            return index, [f"#{index} {command}: {problems}"]
    return count, []


@pytest.mark.parametrize("first", [0, 100])
def test_the_free_wallet_is_below_zero_only_while_a_cross_position_backs_it(first: int) -> None:
    saved = attack3_search.ACCOUNTS
    try:
        for seed in range(first, first + 100):
            _, problems = _search(seed, 300)
            assert problems == [], f"seed {seed}: {problems}"
    finally:
        attack3_search.ACCOUNTS = saved
