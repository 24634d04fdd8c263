"""INV: the invariant registry's machinery — the view invariants read, what a step did, and the registry itself.

:class:`ExchangeView` is the read-only state every invariant is checked on, :class:`StepInfo` what one step did
(for invariants about transitions), :class:`Invariant` one id, statement and check, and :data:`REGISTRY` the
invariants by id in the order they registered.  The invariants themselves live in :mod:`rules.invariants` (money
and margin) and :mod:`rules.invariants_trading` (trading, the waterfall, ADL); both import this module and
neither imports the other, so the registry has no import cycle.  Read the registry through
:mod:`rules.invariants`: importing it registers every invariant, money and margin first, then trading.
Moved out of rules/invariants.py in session 19; the record classes keep their stable names in the stores
(engine/core/records.py ``_STABLE_CLASSES``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import attrs

from perpspec.rules.instrument import Instrument
from perpspec.rules.margin import MarginSetting
from perpspec.rules.num import concrete
from perpspec.rules.order_margin import RestingOrder
from perpspec.rules.position import Position


class ExchangeView(Protocol):
    """Read-only view of a whole exchange state that invariants are checked on."""

    def assets(self) -> Sequence[str]: ...

    def account_ids(self) -> Sequence[int]: ...

    def instruments(self) -> Mapping[str, Instrument]: ...

    def wallet(self, account_id: int, asset: str) -> int: ...

    def positions(self, account_id: int) -> Mapping[str, Position]: ...

    def insurance(self, asset: str) -> int: ...

    def fee_pool(self, asset: str) -> int: ...

    def funding_pool(self, asset: str) -> int: ...

    def net_deposits(self, asset: str) -> int: ...

    def mark_price(self, symbol: str) -> int: ...

    def open_orders(self, account_id: int) -> Sequence[RestingOrder]:
        """Resting limit orders (leaves qty, signed); untriggered stops excluded."""
        ...

    def margin_setting(self, account_id: int, symbol: str) -> MarginSetting:
        """Leverage (0 = cross) and extra isolated margin of the account in ``symbol``."""
        ...


@attrs.frozen(kw_only=True)
class FundingPostings:
    """What one funding exchange posted: every holder's wallet delta and the residue to its home."""

    asset: str
    symbol: str
    wallet_deltas: tuple[int, ...]  # per holder: −payment (payers < 0, receivers > 0)
    residue: int  # credited to the insurance fund of ``asset`` (rules/funding.py)


@attrs.frozen(kw_only=True)
class StepInfo:
    """What one step did, for invariants about transitions rather than states."""

    # accounts whose accepted order increased their order margin in this step
    # (INV-MARGIN-ON-ENTRY; a pure reduction needs no margin and is exempt)
    order_accounts: tuple[int, ...] = ()
    # ... and (account, settlement asset) of each such order when known (only that asset is checked)
    orders: tuple[tuple[int, str], ...] = ()
    # accounts that withdrew in this step (INV-WITHDRAW-SAFE: each of their assets is checked) ...
    withdraw_accounts: tuple[int, ...] = ()
    # ... and (account, asset) of each withdrawal when the asset is known (only that asset is checked)
    withdrawals: tuple[tuple[int, str], ...] = ()
    # (account, asset, reserved) of each account whose spot order was accepted in this step asking for money: the
    # asset it spends and what the account's *other* live spot orders reserve in it after the step (INV-SPOT-SPEND)
    spot_orders: tuple[tuple[int, str, int], ...] = ()
    # (account, asset) of each account that spent the asset in a spot fill of this step (INV-SPOT-SPEND)
    spot_spends: tuple[tuple[int, str], ...] = ()
    # True once the liquidation waterfall for a mark update has completed
    waterfall_complete: bool = False
    # funding exchanges applied in this step (INV-FUNDING-ZERO-SUM)
    funding: tuple[FundingPostings, ...] = ()
    # the liquidation waterfall's events in this step (rules.events; INV-NO-FALSE-LIQUIDATION, INV-ADL-*)
    waterfall_events: tuple[object, ...] = ()
    # (account, asset, wallet) of every trader account that held no position before the step
    # (INV-FLAT-NO-SOCIAL-LOSS)
    flat_before: tuple[tuple[int, str, int], ...] = ()
    # (account, symbol, position qty before, after) of every ReduceOnly or Close order that traded as the
    # incoming order in this step (INV-REDUCE-ONLY over fills)
    reduce_only_fills: tuple[tuple[int, str, int, int], ...] = ()
    # trader accounts the liquidation engine has not finished with: a take-over not yet closed (informational:
    # INV-NO-NEG-EQUITY no longer exempts them, a flat account's wallet after its take-over is final)
    liquidating_accounts: tuple[int, ...] = ()


Check = Callable[[ExchangeView, StepInfo], list[str]]


@attrs.frozen(kw_only=True)
class Invariant:
    """A named invariant: id, statement, and the one check every checker uses."""

    id: str
    statement: str
    check: Check


REGISTRY: dict[str, Invariant] = {}


def register(invariant: Invariant) -> Invariant:
    """Add an invariant to the registry (ids are unique)."""
    assert invariant.id not in REGISTRY, invariant.id
    REGISTRY[invariant.id] = invariant
    return invariant


@concrete
def compute_best_prices(view: ExchangeView, symbol: str) -> tuple[int, int]:
    """(best bid, best ask) of ``symbol`` over every account's resting orders; 0 for an empty side."""
    best_bid: int | None = None  # max over the bids (one pass over every account's orders, both sides)
    best_ask: int | None = None  # min over the asks
    for account_id in view.account_ids():
        for order in view.open_orders(account_id):
            if order.symbol != symbol:
                continue
            if order.qty > 0:
                if best_bid is None or order.price > best_bid:
                    best_bid = order.price
            elif order.qty < 0 and (best_ask is None or order.price < best_ask):
                best_ask = order.price
    return (0 if best_bid is None else best_bid), (0 if best_ask is None else best_ask)
