"""INV: the invariant registry — one id, one statement, one check, used by every checker.

Each invariant has a stable id (``INV-CONSERVATION``), a one-sentence
statement for the rulebook, and a check over an :class:`ExchangeView` (the
state after a step, plus what the step did).  The engine, the Hypothesis
state machines and the specs all read :data:`REGISTRY`; the Z3 obligations
use the same kernel predicates (``compute_*_gap``) on symbolic values.

A check returns a list of violation messages; an empty list means it holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import attrs

from rules.instrument import Instrument
from rules.num import concrete
from rules.position import Position


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


@attrs.frozen(kw_only=True)
class StepInfo:
    """What one step did, for invariants about transitions rather than states."""

    # accounts whose order was accepted in this step (INV-MARGIN-ON-ENTRY)
    order_accounts: tuple[int, ...] = ()
    # accounts that withdrew in this step (INV-WITHDRAW-SAFE)
    withdraw_accounts: tuple[int, ...] = ()
    # True once the liquidation waterfall for a mark update has completed
    waterfall_complete: bool = False


Check = Callable[[ExchangeView, StepInfo], list[str]]


@attrs.frozen(kw_only=True)
class Invariant:
    """A named invariant: id, statement, and the one check every checker uses."""

    id: str
    statement: str
    check: Check


def compute_conservation_gap(
    wallets_minus_costs: int, insurance: int, fees: int, funding_pool: int, net_deposits: int
) -> int:
    """INV-CONSERVATION kernel: zero exactly when funds are conserved."""
    return wallets_minus_costs + insurance + fees + funding_pool - net_deposits


@concrete
def check_conservation(view: ExchangeView, step: StepInfo) -> list[str]:
    """Per asset: Σ(wallet − cost) + insurance + fees + funding pool = net deposits."""
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


def compute_oi_imbalance(quantities: Sequence[int]) -> int:
    """INV-OI-BALANCE kernel: Σ signed quantities; zero when longs equal shorts."""
    total = 0
    for qty in quantities:
        total = total + qty
    return total


@concrete
def check_oi_balance(view: ExchangeView, step: StepInfo) -> list[str]:
    """Per instrument: Σ long qty = Σ short qty."""
    del step
    per_symbol: dict[str, list[int]] = {symbol: [] for symbol in view.instruments()}
    for account_id in view.account_ids():
        for symbol, position in view.positions(account_id).items():
            per_symbol[symbol].append(position.qty)
    return [
        f"{symbol}: open interest off by {compute_oi_imbalance(qtys)} contracts"
        for symbol, qtys in sorted(per_symbol.items())
        if compute_oi_imbalance(qtys) != 0
    ]


REGISTRY: dict[str, Invariant] = {}


def register(invariant: Invariant) -> Invariant:
    """Add an invariant to the registry (ids are unique)."""
    assert invariant.id not in REGISTRY, invariant.id
    REGISTRY[invariant.id] = invariant
    return invariant


register(
    Invariant(
        id="INV-CONSERVATION",
        statement=(
            "Per settlement asset, Σ(wallet − cost basis) + insurance + fees + pending funding "
            "= net deposits, after every transition."
        ),
        check=check_conservation,
    )
)
register(
    Invariant(
        id="INV-OI-BALANCE",
        statement="Per instrument, the sum of long quantities equals the sum of short quantities.",
        check=check_oi_balance,
    )
)


@concrete
def check_all(view: ExchangeView, step: StepInfo) -> dict[str, list[str]]:
    """Every registered invariant's violations (empty lists when all hold)."""
    return {inv_id: invariant.check(view, step) for inv_id, invariant in REGISTRY.items()}
