"""The registry's faster loops (rules/invariants.py) give the answers of the loops they replaced.

Three checks were rewritten for speed only (issue 14, ``perpspec simulate``): the best
prices in one pass over the orders instead of two lists; conservation testing a symbol's
settlement asset from a set made once per asset; INV-NO-NEG-EQUITY testing "holds a
position in the asset" before computing the equity (an account holding one is pending
whatever its equity, so its equity was computed for nothing).  The versions they replaced
are kept here verbatim and both are run after **every command** of a crash, on the engine
and on the pooled view ``simulate`` checks, as the state is and with violations planted
(tests/test_pooled_view.py's plants, in a dormant account and in an account holding a
position), and on hand-made order books with ties, one empty side and no order at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from perpspec.engine.simulation.engine_port import PooledView
from perpspec.engine.simulation.scenario import load_scenario
from perpspec.engine.simulation.simulate import Simulation
from perpspec.rules import invariants, invariants_trading
from perpspec.rules.invariants import ExchangeView, StepInfo, compute_conservation_gap
from perpspec.rules.invariants_trading import compute_account_equity, has_open_position
from perpspec.rules.order_margin import RestingOrder
from tests.test_pooled_view import (
    dormant_accounts,
    plant_crossing_order,
    plant_negative_wallet,
    plant_wallet_off_by_one,
)

# -- the replaced versions, verbatim (main 1184497) ---------------------------------------------------------


def old_compute_best_prices(view: ExchangeView, symbol: str) -> tuple[int, int]:
    bids = [o.price for a in view.account_ids() for o in view.open_orders(a) if o.symbol == symbol and o.qty > 0]
    asks = [o.price for a in view.account_ids() for o in view.open_orders(a) if o.symbol == symbol and o.qty < 0]
    return (max(bids) if bids else 0), (min(asks) if asks else 0)


def old_check_conservation(view: ExchangeView, step: StepInfo) -> list[str]:
    del step
    problems = []
    instruments = view.instruments()
    for asset in view.assets():
        total = 0
        for account_id in view.account_ids():
            total += view.wallet(account_id, asset)
            for symbol, position in view.positions(account_id).items():
                if instruments[symbol].settl_currency == asset:
                    total -= position.cost
        gap = compute_conservation_gap(
            total, view.insurance(asset), view.fee_pool(asset), view.funding_pool(asset), view.net_deposits(asset)
        )
        if gap != 0:
            problems.append(f"{asset}: funds off by {gap} minor units")
    return problems


def old_check_no_neg_equity_of(view: ExchangeView, step: StepInfo, account_ids: Iterable[int]) -> list[str]:
    del step  # session 9: an account the liquidation engine holds a close-out of is no longer exempt
    problems = []
    for account_id in account_ids:
        if account_id < 0:
            continue
        for asset in view.assets():
            equity = compute_account_equity(view, account_id, asset)
            if equity < 0 and not has_open_position(view, account_id, asset):
                problems.append(f"account {account_id} {asset}: equity {equity} < 0 with no position left to liquidate")
    return problems


# -- comparison -------------------------------------------------------------------------------------------------


def assert_same(view: ExchangeView, step: StepInfo) -> dict[str, int]:
    """New and old answers agree on ``view``; how many problems each check reported."""
    for symbol in view.instruments():
        assert invariants.compute_best_prices(view, symbol) == old_compute_best_prices(view, symbol)
    conservation = invariants.check_conservation(view, step)
    assert conservation == old_check_conservation(view, step)
    ids = list(view.account_ids())
    equity = invariants_trading.check_no_neg_equity_of(view, step, ids)
    assert equity == old_check_no_neg_equity_of(view, step, ids)
    assert invariants_trading.check_no_neg_equity(view, step) == equity
    assert invariants_trading.check_after_command(view, step, reversed(ids))["INV-NO-NEG-EQUITY"] == equity
    return {"conservation": len(conservation), "equity": len(equity)}


def plant_debt_behind_a_position(engine: Any, account_id: int, asset: str) -> tuple[str, Callable[[], None]]:
    """A holder's wallet far below zero: negative equity, but pending (it holds a position): no problem, both ways."""
    account = engine.ledger.accounts[account_id]
    before = dict(account.wallets)
    account.wallets[asset] = -(10**15)

    def undo() -> None:
        account.wallets.clear()
        account.wallets.update(before)

    return "INV-CONSERVATION", undo


def test_new_loops_answer_as_the_old_after_every_command_of_a_crash(tmp_path: Path) -> None:
    simulation = Simulation(load_scenario("tiny_crash"), tmp_path)
    port = simulation.port
    engine = port.engine
    asset = simulation.asset
    apply = port.apply
    seen = {"commands": 0, "conservation": 0, "equity": 0, "holder_plants": 0}

    def checked_apply(command: Any) -> Any:
        events = apply(command)
        seen["commands"] += 1
        step = port.step_info(events)
        assert_same(engine, step)
        assert_same(PooledView(engine), step)
        dormant = dormant_accounts(engine)
        if dormant:
            target = dormant[len(dormant) // 2]
            for plant in (plant_wallet_off_by_one, plant_negative_wallet, plant_crossing_order):
                _, undo = plant(engine, target, asset)
                try:
                    for view in (engine, PooledView(engine)):
                        counts = assert_same(view, step)
                        seen["conservation"] += counts["conservation"]
                        seen["equity"] += counts["equity"]
                finally:
                    undo()
        holders = [a for a in engine.account_ids() if a >= 0 and engine.positions(a)]
        if holders:
            _, undo = plant_debt_behind_a_position(engine, holders[0], asset)
            try:
                for view in (engine, PooledView(engine)):
                    counts = assert_same(view, step)
                    assert counts["conservation"] == 1
                    seen["holder_plants"] += 1
            finally:
                undo()
        return events

    port.apply = checked_apply  # type: ignore[method-assign]
    result = simulation.run()
    assert result.liquidations > 0
    assert not result.invariant_violations
    # the plants were reported (the comparison saw problems, not only empty lists)
    assert seen["conservation"] > seen["commands"]
    assert seen["equity"] > seen["commands"] // 2
    assert seen["holder_plants"] > seen["commands"]


@attrs.define
class OrdersOnly:
    """Just enough of an ExchangeView for the best prices: accounts and their resting orders."""

    orders: Mapping[int, Sequence[RestingOrder]]

    def account_ids(self) -> Sequence[int]:
        return sorted(self.orders)

    def open_orders(self, account_id: int) -> Sequence[RestingOrder]:
        return self.orders[account_id]


def test_best_prices_on_hand_made_books() -> None:
    """MRG-046's best prices and INV-BOOK-UNCROSSED's: ties, one side empty, other symbols, no order."""

    def o(symbol: str, qty: int, price: int) -> RestingOrder:
        return RestingOrder(symbol=symbol, qty=qty, price=price)

    books: list[dict[int, list[RestingOrder]]] = [
        {},
        {1: []},
        {1: [o("XBTUSD", 5, 100)]},
        {1: [o("XBTUSD", -5, 100)]},
        {1: [o("XBTUSD", 5, 100), o("XBTUSD", 3, 100)], 2: [o("XBTUSD", -1, 101), o("XBTUSD", -1, 101)]},
        {1: [o("ETHUSD", 5, 900), o("XBTUSD", 5, 90)], 2: [o("ETHUSD", -5, 50), o("XBTUSD", -2, 120)]},
        {3: [o("XBTUSD", -2, 130), o("XBTUSD", 4, 80)], 1: [o("XBTUSD", -2, 125), o("XBTUSD", 4, 85)]},
        {1: [o("XBTUSD", 1, 200)], 2: [o("XBTUSD", -1, 150)]},  # crossed: both report it the same way
    ]
    expected = [(0, 0), (0, 0), (100, 0), (0, 100), (100, 101), (90, 120), (85, 125), (200, 150)]
    for orders, want in zip(books, expected, strict=True):
        view: Any = OrdersOnly(orders)
        assert invariants.compute_best_prices(view, "XBTUSD") == want
        assert old_compute_best_prices(view, "XBTUSD") == want
