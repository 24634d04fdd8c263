"""The view a full invariant check reads (engine/simulation/engine_port.py ``PooledView``) loses no violation.

``simulate`` checks the whole registry on a view that lists the *dormant* accounts
(no position, no order, no wallet below zero) as one account holding their summed
wallets.  These tests run a crash and, after **every command**, compare the registry's
answers on that view with its answers on the engine itself — as the state is, and
with a violation planted in a dormant account (a wallet off by one satoshi, a wallet
below zero, a position with no counterparty, a stray order), each of which must be
reported, identically, before the plant is taken back.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from perpspec.engine.core.orders import Order
from perpspec.engine.simulation.engine_port import POOLED, PooledView
from perpspec.engine.simulation.scenario import load_scenario
from perpspec.engine.simulation.simulate import Simulation
from perpspec.rules import invariants
from perpspec.rules.invariants import Invariant


def assert_same_answers(view: PooledView, engine: Any) -> None:
    """Every account answers as the engine does (the pooled ones by id too); POOLED holds their wallets."""
    for account_id in engine.account_ids():
        assert view.positions(account_id) == engine.positions(account_id)
        assert list(view.open_orders(account_id)) == list(engine.open_orders(account_id))
        assert list(view.reduce_only_orders(account_id)) == list(engine.reduce_only_orders(account_id))
        for asset in engine.assets():
            assert view.wallet(account_id, asset) == engine.wallet(account_id, asset)
    listed = set(view.account_ids())
    for asset in engine.assets():
        pooled = sum(engine.wallet(a, asset) for a in engine.account_ids() if a not in listed)
        assert view.wallet(POOLED, asset) == pooled
    assert view.positions(POOLED) == {}


def dormant_accounts(engine: Any) -> list[int]:
    view = PooledView(engine)
    listed = set(view.account_ids())
    return [account_id for account_id in engine.account_ids() if account_id not in listed]


def plant_wallet_off_by_one(engine: Any, account_id: int, asset: str) -> tuple[str, Callable[[], None]]:
    account = engine.ledger.accounts[account_id]
    before = dict(account.wallets)
    account.wallets[asset] = account.wallets.get(asset, 0) + 1

    def undo() -> None:
        account.wallets.clear()
        account.wallets.update(before)

    return "INV-CONSERVATION", undo


def plant_negative_wallet(engine: Any, account_id: int, asset: str) -> tuple[str, Callable[[], None]]:
    account = engine.ledger.accounts[account_id]
    before = dict(account.wallets)
    account.wallets[asset] = -1

    def undo() -> None:
        account.wallets.clear()
        account.wallets.update(before)

    return "INV-NO-NEG-EQUITY", undo


def plant_position(engine: Any, account_id: int, asset: str) -> tuple[str, Callable[[], None]]:
    del asset
    inst = next(iter(engine.instruments().values()))
    state = engine.ledger.accounts[account_id].position(inst)
    before = (state.qty, state.cost)
    state.qty = inst.lot_size  # a long with no short against it

    def undo() -> None:
        state.qty, state.cost = before

    return "INV-OI-BALANCE", undo


def plant_crossing_order(engine: Any, account_id: int, asset: str) -> tuple[str, Callable[[], None]]:
    """A live bid of a dormant account resting above the best ask (in the book only by the view's reading)."""
    del asset
    inst = next(iter(engine.instruments().values()))
    book = engine.books[inst.symbol]
    best_ask = book.best_ask()
    if best_ask is None:
        return "", lambda: None
    order = Order(
        order_id=10**9, account=account_id, symbol=inst.symbol, is_buy=True, price=best_ask + inst.tick_size,
        order_qty=inst.lot_size,
    )
    order.live = True
    order.level = object()  # rests (Views reads only that it has a level)
    account = engine.ledger.accounts[account_id]
    engine.registry.live_orders[order.order_id] = order
    account.orders[order.order_id] = order

    def undo() -> None:
        del engine.registry.live_orders[order.order_id]
        del account.orders[order.order_id]

    return "INV-BOOK-UNCROSSED", undo


PLANTS = [plant_wallet_off_by_one, plant_negative_wallet, plant_position, plant_crossing_order]


def test_a_violation_planted_in_a_dormant_account_is_caught_after_every_command(tmp_path: Path) -> None:
    simulation = Simulation(load_scenario("tiny_crash"), tmp_path)
    port = simulation.port
    engine = port.engine
    asset = simulation.asset
    apply = port.apply
    seen = {"commands": 0, "pooled_checks": 0, "caught": 0}

    def checked_apply(command: Any) -> Any:
        events = apply(command)
        seen["commands"] += 1
        step = port.step_info(events)
        pooled = PooledView(engine)
        assert_same_answers(pooled, engine)
        assert invariants.check_all(pooled, step) == invariants.check_all(engine, step)
        if POOLED in pooled.account_ids():
            seen["pooled_checks"] += 1
        exempt = set(step.liquidating_accounts)  # INV-NO-NEG-EQUITY waits for the liquidation engine on these
        dormant = [account_id for account_id in dormant_accounts(engine) if account_id not in exempt]
        if dormant:
            target = dormant[len(dormant) // 2]
            for plant in PLANTS:
                inv_id, undo = plant(engine, target, asset)
                try:
                    if inv_id:
                        on_view = invariants.check_all(PooledView(engine), step)
                        assert on_view == invariants.check_all(engine, step), (plant.__name__, command)
                        assert on_view[inv_id], (plant.__name__, command)  # the planted violation is reported
                        seen["caught"] += 1
                finally:
                    undo()
        return events

    port.apply = checked_apply  # type: ignore[method-assign]
    result = simulation.run()
    assert result.liquidations > 0
    assert not result.invariant_violations
    assert seen["pooled_checks"] > seen["commands"] // 2  # most checks did pool accounts
    assert seen["caught"] >= 3 * seen["pooled_checks"]


def test_an_invariant_nobody_argued_for_turns_pooling_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    simulation = Simulation(load_scenario("tiny_crash"), tmp_path)
    simulation.run()
    engine = simulation.port.engine
    assert POOLED in PooledView(engine).account_ids()
    registry = dict(invariants.REGISTRY)
    registry["INV-TEST-COUNT"] = Invariant(id="INV-TEST-COUNT", statement="counts accounts", check=lambda view, step: [])
    monkeypatch.setattr(invariants, "REGISTRY", registry)
    assert list(PooledView(engine).account_ids()) == list(engine.account_ids())
