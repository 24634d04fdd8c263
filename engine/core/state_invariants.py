"""The registry's state-only invariants on a decoded engine state (:func:`engine.core.state_check.check_engine_state`).

A snapshot's fields can each be well typed and consistent with one another and the state still not be one the
engine could make: money created or lost, longs not matching shorts, an insurance fund below zero.  After the
per-field checks, :mod:`engine.core.state_check` runs the invariants of :data:`rules.invariants.REGISTRY` that read
only balances and positions (INV-INSURANCE-NONNEG, INV-CONSERVATION, INV-OI-BALANCE) on the checked state, as the
simulator runs them after every command, through :class:`StateView`, the state answering as a
``rules.invariants.ExchangeView``.  Split out of engine/core/state_check.py when it passed 800 lines.
Deterministic, integer-only, no state is changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from perpspec.engine.core.accounts import Account
from perpspec.engine.core.ledger import LIQUIDATOR
from perpspec.rules.instrument import Instrument
from perpspec.rules.invariants import StepInfo, check_conservation, check_oi_balance
from perpspec.rules.invariants_trading import check_insurance_nonneg
from perpspec.rules.margin import MarginSetting
from perpspec.rules.order_margin import RestingOrder
from perpspec.rules.position import Position

_NO_STEP: Final = StepInfo()


def state_assets(instruments: Mapping[str, Instrument]) -> tuple[str, ...]:
    """The assets of ``instruments``, sorted: what Market.assets gives (settlement and spot base assets)."""
    assets = {inst.settl_currency for inst in instruments.values()}
    assets |= {inst.base_currency for inst in instruments.values() if inst.base_currency}
    return tuple(sorted(assets))


class StateView:
    """A checked state as ``rules.invariants.ExchangeView``, for the invariants that read only balances and
    positions (those of :func:`first_state_invariant_problem`); it answers as :class:`engine.core.views.Views` does: the
    liquidation engine's positions are its held close-outs."""

    def __init__(self, state: Mapping[str, Any], instruments: dict[str, Instrument], accounts: dict[int, Account],
                 assets: tuple[str, ...]) -> None:
        self.state = state
        self.instrument_map = instruments
        self.accounts = accounts
        self.asset_names = assets

    def assets(self) -> tuple[str, ...]:
        return self.asset_names

    def account_ids(self) -> list[int]:
        return sorted(self.accounts)

    def instruments(self) -> Mapping[str, Instrument]:
        return self.instrument_map

    def wallet(self, account_id: int, asset: str) -> int:
        return self.accounts[account_id].wallet(asset)

    def positions(self, account_id: int) -> Mapping[str, Position]:
        if account_id == LIQUIDATOR:
            merged: dict[str, Position] = {}
            for pending in self.state["pending"]:
                old = merged.get(pending.symbol, Position())
                merged[pending.symbol] = Position(qty=old.qty + pending.qty, cost=old.cost + pending.cost)
            return merged
        held = self.accounts[account_id].positions
        return {symbol: Position(qty=ps.qty, cost=ps.cost) for symbol, ps in sorted(held.items()) if ps.qty != 0}

    def insurance(self, asset: str) -> int:
        funds: dict[str, int] = self.state["insurance_funds"]
        return funds.get(asset, 0)

    def fee_pool(self, asset: str) -> int:
        fees: dict[str, int] = self.state["fees"]
        return fees.get(asset, 0)

    def funding_pool(self, asset: str) -> int:
        del asset
        return 0  # funding settles within its command (Views.funding_pool)

    def net_deposits(self, asset: str) -> int:
        deposits: dict[str, int] = self.state["deposits"]
        return deposits.get(asset, 0)

    def mark_price(self, symbol: str) -> int:
        marks: dict[str, int] = self.state["marks"]
        return marks.get(symbol, 0)

    def open_orders(self, account_id: int) -> list[RestingOrder]:
        raise NotImplementedError("no state-only invariant reads orders")  # never called (first_state_invariant_problem)

    def margin_setting(self, account_id: int, symbol: str) -> MarginSetting:
        raise NotImplementedError("no state-only invariant reads margin settings")


def first_state_invariant_problem(
    state: Mapping[str, Any], instruments: dict[str, Instrument], accounts: dict[int, Account], assets: tuple[str, ...]
) -> tuple[str, str] | None:
    """The registry's invariants that need only the state (rules.invariants; redteam18_5), run on the checked
    state as the simulator runs them after every command: INV-INSURANCE-NONNEG, INV-CONSERVATION (the state
    keeps ``deposits``, net of withdrawals, per asset) and INV-OI-BALANCE.  The first violation as
    ``(field path, problem)`` (the field named with the invariant's id), None when all hold."""
    view = StateView(state, instruments, accounts, assets)
    for field, check in (("insurance_funds", check_insurance_nonneg), ("deposits", check_conservation),
                         ("accounts", check_oi_balance)):
        problems = check(view, _NO_STEP)
        if problems:
            name = {check_insurance_nonneg: "INV-INSURANCE-NONNEG", check_conservation: "INV-CONSERVATION",
                    check_oi_balance: "INV-OI-BALANCE"}[check]
            return f"{field} ({name})", problems[0]
    return None


__all__ = ["StateView", "first_state_invariant_problem", "state_assets"]
