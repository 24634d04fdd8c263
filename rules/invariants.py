"""INV: the invariant registry — one id, one statement, one check, used by every checker.

Each invariant has a stable id (``INV-CONSERVATION``), a one-sentence
statement for the rulebook, and a check over an :class:`ExchangeView` (the
state after a step, plus what the step did).  The engine, the Hypothesis
state machines and the specs all read :data:`REGISTRY`; the Z3 obligations
use the same kernel predicates (``compute_*_gap``) on symbolic values.

This module holds the money and margin invariants (conservation, open-interest balance, margin on entry, safe
withdrawals, spot spending, zero-sum funding) and is the registry's one reader-facing door: the machinery (the
view, StepInfo, Invariant, REGISTRY) is :mod:`rules.invariant_registry`'s, re-exported here, and the trading
invariants are :mod:`rules.invariants_trading`'s, registered when this module is imported.

A check returns a list of violation messages; an empty list means it holds.
"""

from __future__ import annotations

from collections.abc import Sequence

from perpspec.rules.invariant_registry import REGISTRY as REGISTRY
from perpspec.rules.invariant_registry import Check as Check
from perpspec.rules.invariant_registry import ExchangeView as ExchangeView
from perpspec.rules.invariant_registry import FundingPostings as FundingPostings
from perpspec.rules.invariant_registry import Invariant as Invariant
from perpspec.rules.invariant_registry import StepInfo as StepInfo
from perpspec.rules.invariant_registry import compute_best_prices as compute_best_prices
from perpspec.rules.invariant_registry import register as register
from perpspec.rules.margin import (
    AccountMargin,
    compute_account_margin,
    compute_position_margin,
)
from perpspec.rules.num import concrete
from perpspec.rules.order_margin import compute_contract_order_margin
from perpspec.rules.position import FLAT


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
        settled_in_asset = {symbol for symbol, inst in instruments.items() if inst.settl_currency == asset}
        total = 0
        for account_id in view.account_ids():
            total += view.wallet(account_id, asset)
            for symbol, position in view.positions(account_id).items():
                if symbol in settled_in_asset:
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


# --- margin invariants (INV-MARGIN-ON-ENTRY, INV-WITHDRAW-SAFE) ---------------------------


@concrete
def compute_view_account_margin(
    view: ExchangeView, account_id: int, asset: str, best_prices: dict[str, tuple[int, int]] | None = None
) -> AccountMargin:
    """Applies MRG-050 over a whole state: one account's margin in ``asset`` (positions, orders, settings).

    ``best_prices`` caches :func:`compute_best_prices` per symbol across calls on the same state.
    """
    cache = {} if best_prices is None else best_prices
    instruments = view.instruments()
    positions = view.positions(account_id)
    orders = view.open_orders(account_id)
    lines = []
    order_margin = 0
    for symbol, inst in sorted(instruments.items()):
        if inst.settl_currency != asset:
            continue
        position = positions.get(symbol, FLAT)
        setting = view.margin_setting(account_id, symbol)
        mark = view.mark_price(symbol)
        mine = tuple((o.qty, o.price) for o in orders if o.symbol == symbol)
        if mark <= 0 and position.qty == 0 and not mine:
            continue  # a contract with no mark price yet: nothing held or ordered in it (value at price 0 undefined)
        lines.append(compute_position_margin(inst, position, mark, setting.leverage_hundredths, setting.pos_cross))
        if mine:
            if symbol not in cache:
                cache[symbol] = compute_best_prices(view, symbol)
            best_bid, best_ask = cache[symbol]
            order_margin += compute_contract_order_margin(
                inst, position, mine, mark, best_bid, best_ask, setting.leverage_hundredths
            ).total
    return compute_account_margin(view.wallet(account_id, asset), tuple(lines), order_margin)


@concrete
def check_margin_on_entry(view: ExchangeView, step: StepInfo) -> list[str]:
    """After an accepted order that needed margin, the account's available balance in its settlement asset is ≥ 0.

    An order draws margin in its instrument's settlement asset only: another asset's margin may
    already be short (a mark move did that), so only the order's asset is judged when known.
    """
    problems = []
    best_prices: dict[str, tuple[int, int]] = {}
    checked = set(step.orders)
    checked.update((account_id, asset) for account_id in step.order_accounts for asset in view.assets())
    for account_id, asset in sorted(checked):
        available = compute_view_account_margin(view, account_id, asset, best_prices).available_margin
        if available < 0:
            problems.append(f"account {account_id} {asset}: available balance {available} < 0 after an order")
    return problems


@concrete
def check_withdraw_safe(view: ExchangeView, step: StepInfo) -> list[str]:
    """After a withdrawal, the account's available balance in the withdrawn asset still covers its unrealised profit.

    A withdrawal moves one asset: the account's margin in another asset may already be short
    (a mark move did that, not the withdrawal), so only the withdrawn asset is judged when known.
    """
    problems = []
    best_prices: dict[str, tuple[int, int]] = {}
    checked = set(step.withdrawals)
    checked.update((account_id, asset) for account_id in step.withdraw_accounts for asset in view.assets())
    for account_id, asset in sorted(checked):
        margin = compute_view_account_margin(view, account_id, asset, best_prices)
        free = margin.available_margin - margin.cross_unrealised_profit
        if free < 0:
            problems.append(
                f"account {account_id} {asset}: withdrawal took {-free} of margin in use or unrealised profit"
            )
    return problems


register(
    Invariant(
        id="INV-MARGIN-ON-ENTRY",
        statement=(
            "An accepted order that needs margin never leaves the account's available balance below zero "
            "(a pure reduction needs none and is always accepted)."
        ),
        check=check_margin_on_entry,
    )
)
register(
    Invariant(
        id="INV-WITHDRAW-SAFE",
        statement="A withdrawal never takes margin in use or unrealised profit: available − unrealised profit ≥ 0 after it.",
        check=check_withdraw_safe,
    )
)


@concrete
def check_spot_spend(view: ExchangeView, step: StepInfo) -> list[str]:
    """After a spot trade, the currency it spent was withdrawable money: never unrealised profit or margin in use.

    Each account that spent a currency in a spot fill of the step keeps its available balance in it at or above
    its cross unrealised profit (as after a withdrawal, INV-WITHDRAW-SAFE); an account whose spot order was
    accepted keeps it at or above that profit plus what its other live spot orders reserve (LIQ-055).  Only the
    spent currency is judged: another one may already be short by a mark move.
    """
    problems = []
    best_prices: dict[str, tuple[int, int]] = {}
    others = {(account_id, asset): reserved for account_id, asset, reserved in step.spot_orders}
    for account_id, asset in sorted({*step.spot_spends, *others}):
        margin = compute_view_account_margin(view, account_id, asset, best_prices)
        reserved = others.get((account_id, asset), 0)
        free = margin.available_margin - margin.cross_unrealised_profit - reserved
        if free < 0:
            problems.append(
                f"account {account_id} {asset}: a spot trade took {-free} of margin in use, unrealised profit "
                f"or money its other spot orders reserve ({reserved})"
            )
    return problems


register(
    Invariant(
        id="INV-SPOT-SPEND",
        statement=(
            "A spot trade spends only withdrawable money: after it, the spender's available balance in the currency "
            "it spent covers its unrealised profit (and, for an accepted spot order, its other spot reservations)."
        ),
        check=check_spot_spend,
    )
)


def compute_funding_imbalance(wallet_deltas: tuple[int, ...], residue: int) -> int:
    """INV-FUNDING-ZERO-SUM kernel: Σ wallet deltas + residue; zero when paid = received + residue."""
    total = residue
    for delta in wallet_deltas:
        total = total + delta
    return total


@concrete
def check_funding_zero_sum(view: ExchangeView, step: StepInfo) -> list[str]:
    """Every funding exchange of the step: paid = received + residue, and the residue is ≥ 0."""
    del view
    problems = []
    for postings in step.funding:
        gap = compute_funding_imbalance(postings.wallet_deltas, postings.residue)
        if gap != 0:
            problems.append(f"{postings.symbol}: funding postings off by {gap} {postings.asset}")
        if postings.residue < 0:
            problems.append(f"{postings.symbol}: negative funding residue {postings.residue}")
    return problems


register(
    Invariant(
        id="INV-FUNDING-ZERO-SUM",
        statement=(
            "At every funding instant, funding paid = funding received + rounding residue (0 ≤ residue, "
            "credited to the insurance fund), so funding creates and destroys nothing."
        ),
        check=check_funding_zero_sum,
    )
)


# The trading invariants (the liquidation waterfall, ADL, the matching engine, solvency, conditional orders)
# are declared in rules/invariants_trading.py and registered here, after the ones above, so that REGISTRY and
# check_all are whole, in one order, for every reader of this module (the trading module imports only the registry's
# machinery, rules/invariant_registry.py, never this module).
from perpspec.rules import invariants_trading  # noqa: E402

for _invariant in invariants_trading.TRADING_INVARIANTS:
    register(_invariant)
