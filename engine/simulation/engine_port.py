"""The engine, as the scenario runner sees it: journal and apply commands, read state, name events."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from perpspec.engine.core.accounts import Account
from perpspec.engine.core.events import (
    Event,
)
from perpspec.engine.core.views import NOTHING
from perpspec.engine.simulation.eventlog import event_records
from perpspec.engine.simulation.result import Tally
from perpspec.engine.simulation.scenario import Scenario
from perpspec.rules import invariants
from perpspec.rules.impact import BookSide, ImpactPrices, compute_impact_prices
from perpspec.rules.instrument import Instrument
from perpspec.rules.margin import MarginSetting
from perpspec.rules.order_margin import RestingOrder
from perpspec.rules.position import Position
from perpspec.rules.triggers import TriggerPrices, UntriggeredOrder

JOURNAL_DIR = "journal"  # under the output directory: journal.log, replayable by `perpspec replay`
DEPTH_LEVELS = 1_000  # the book levels a side EnginePort.depth reads (the impact prices: MRK-004)
IMPACT_LEVELS = 32  # the book levels a side the impact prices read first (impact_prices)
ADL_POLICY_NAMES = {"queue": "ranked-queue", "ranked-queue": "ranked-queue", "pro-rata": "pro-rata"}


class EnginePort:
    """The runner's only contact with the engine: journal and apply commands, read state, name events.

    Commands go through :class:`engine.recovery.DurableExchange` (journal
    first, then the engine), so the journal replays the run exactly.  Reads
    use the engine's :class:`~rules.invariants.ExchangeView` methods and its
    books' L2 depth; nothing here changes engine state except ``apply``.
    """

    def __init__(self, scenario: Scenario, journal_dir: Path) -> None:
        from perpspec.engine.core.exchange import Engine
        from perpspec.engine.durability.journal import SyncPolicy
        from perpspec.engine.durability.recovery import JOURNAL_NAME, DurableExchange, command_codec

        self.inst = scenario.instrument
        options: dict[str, Any] = {"adl_policy": ADL_POLICY_NAMES[scenario.adl_policy]}
        if scenario.max_liquidations_per_update > 0:
            options["max_liquidations_per_update"] = scenario.max_liquidations_per_update
        self.engine = Engine({self.inst.symbol: self.inst}, **options)
        # the journal is written in a fresh store of its own and renamed over journal/journal.log only
        # when the run completes: an earlier run's journal is replaced whole or not at all, never
        # continued, and nothing else in journal/ is touched
        journal_dir.mkdir(parents=True, exist_ok=True)
        self.store = Path(tempfile.mkdtemp(prefix=".journal-", dir=journal_dir))
        self.durable, _ = DurableExchange.open(
            str(self.store), command_codec(), lambda: self.engine, policy=SyncPolicy(group_records=512, fsync="never")
        )
        self.journal_path = journal_dir.joinpath(JOURNAL_NAME)
        self.pending_account: dict[int, int] = {}  # pending close-out id -> liquidated account

    def apply(self, command: Any) -> list[Event]:
        """Journal and run one command; its events."""
        return list(self.durable.submit(command))

    def close(self) -> str:
        """Commit the journal, snapshot the final state and move both into place; the journal's SHA-256.

        The snapshot (``journal/snapshot-<seq>.snap``) is what ``what-if --state`` and
        ``replay --snapshot`` read; it is bound to this journal's chain head.
        """
        snapshot = Path(self.durable.snapshot())
        self.durable.close()
        os.replace(self.store.joinpath(self.journal_path.name), self.journal_path)
        os.replace(snapshot, self.journal_path.with_name(snapshot.name))
        self.abandon()
        return hashlib.sha256(self.journal_path.read_bytes()).hexdigest()

    def abandon(self) -> None:
        """Remove this run's journal store (a failed or interrupted run leaves the old journal as it was)."""
        self.durable.close()
        shutil.rmtree(self.store, ignore_errors=True)

    def state_hash(self) -> str:
        """The engine's state hash (``perpspec replay`` of the journal must print the same)."""
        return self.engine.state_hash()

    def step_info(self, events: Sequence[Event]) -> invariants.StepInfo:
        """What the engine's last command did, for the transition invariants."""
        info: invariants.StepInfo = self.engine.step_info(events)
        return info

    def view(self) -> invariants.ExchangeView:
        """The engine as the invariants read it."""
        return self.engine

    def frozen_view(self) -> invariants.ExchangeView:
        """The engine as one invariant check reads it: each answer read once and kept while the check runs.

        The state does not change during a check, so the answers are the engine's
        own; only the reads are shared between the registered invariants (each of
        which walks every account).
        """
        return MemoView(self.engine)

    def check_view(self) -> invariants.ExchangeView:
        """The engine as one check of the whole registry reads it: :meth:`frozen_view`, dormant accounts pooled.

        See :class:`PooledView`: every registered invariant gives the same answer on it as
        on the engine (when the registry holds only invariants argued for there).
        """
        return PooledView(self.engine)

    def insurance(self, asset: str) -> int:
        """Insurance fund balance."""
        return self.engine.insurance(asset)

    def wallet(self, account: int, asset: str) -> int:
        """walletBalance."""
        return self.engine.wallet(account, asset)

    def position(self, account: int, symbol: str) -> Position:
        """The account's position (flat if none)."""
        return self.engine.positions(account).get(symbol, Position())

    def holders(self, symbol: str) -> tuple[tuple[int, Position], ...]:
        """(account, position) of every holder, the liquidation engine's pending close-outs included."""
        out = []
        for account in self.engine.account_ids():
            position = self.engine.positions(account).get(symbol)
            if position is not None and position.qty != 0:
                out.append((account, position))
        return tuple(out)

    def open_interest(self, symbol: str) -> int:
        """Σ long quantity (BitMEX ``openInterest``, contracts)."""
        total = 0
        for account in self.engine.account_ids():
            position = self.engine.positions(account).get(symbol)
            if position is not None and position.qty > 0:
                total += position.qty
        return total

    def top(self, symbol: str) -> tuple[int | None, int | None]:
        """Best bid and best ask (None: that side is empty)."""
        book = self.engine.books[symbol]
        return book.best_bid(), book.best_ask()

    def depth(
        self, symbol: str, levels: int = DEPTH_LEVELS
    ) -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]:
        """Displayed L2 levels (price, qty), best first, both sides: up to ``levels`` of each (the first ``levels``
        of a deeper answer)."""
        book = self.engine.books[symbol]
        return tuple(book.depth(True, levels)), tuple(book.depth(False, levels))

    def conservation_gap(self, asset: str) -> int:
        """Σ(wallet − cost) + insurance + fees + funding pool − net deposits (0: conserved to the minor unit)."""
        engine = self.engine
        total = 0
        for account in engine.account_ids():
            total += engine.wallet(account, asset)
            for symbol, position in engine.positions(account).items():
                if engine.instruments()[symbol].settl_currency == asset:
                    total -= position.cost
        return invariants.compute_conservation_gap(
            total, engine.insurance(asset), engine.fee_pool(asset), engine.funding_pool(asset), engine.net_deposits(asset)
        )

    def records(self, event: Event, tally: Tally) -> Iterable[dict[str, Any]]:
        """The event's rows for the log (BitMEX names), counting what the summary needs."""
        return event_records(self.inst, event, tally, self.pending_account)


class MemoView:
    """An :class:`~rules.invariants.ExchangeView` of an engine that does not change while it is read.

    Every answer is the engine's, read on first use and kept: one invariant check
    walks every account several times (conservation, open interest, equity,
    ReduceOnly orders, best prices), and the engine builds fresh records on each
    read.  Make a new one for every check (the engine moves on after it).
    """

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self._assets: Sequence[str] | None = None
        self._account_ids: Sequence[int] | None = None
        self._instruments: Mapping[str, Instrument] | None = None
        self._wallets: dict[tuple[int, str], int] = {}
        self._positions: dict[int, Mapping[str, Position]] = {}
        self._orders: tuple[dict[int, list[RestingOrder]], dict[int, list[RestingOrder]]] | None = None
        self._marks: dict[str, int] = {}

    def assets(self) -> Sequence[str]:
        """Settlement assets, sorted."""
        if self._assets is None:
            self._assets = self.engine.assets()
        return self._assets

    def account_ids(self) -> Sequence[int]:
        """Every account id, sorted."""
        if self._account_ids is None:
            self._account_ids = self.engine.account_ids()
        return self._account_ids

    def instruments(self) -> Mapping[str, Instrument]:
        """Instruments by symbol."""
        if self._instruments is None:
            self._instruments = self.engine.instruments()
        return self._instruments

    def wallet(self, account_id: int, asset: str) -> int:
        """walletBalance."""
        key = (account_id, asset)
        found = self._wallets.get(key)
        if found is None:
            found = self._wallets[key] = self.engine.wallet(account_id, asset)
        return found

    def positions(self, account_id: int) -> Mapping[str, Position]:
        """Non-flat positions by symbol."""
        found = self._positions.get(account_id)
        if found is None:
            found = self._positions[account_id] = self.engine.positions(account_id)
        return found

    def insurance(self, asset: str) -> int:
        """Insurance fund balance."""
        balance: int = self.engine.insurance(asset)
        return balance

    def fee_pool(self, asset: str) -> int:
        """Commission collected."""
        fees: int = self.engine.fee_pool(asset)
        return fees

    def funding_pool(self, asset: str) -> int:
        """Funding in flight."""
        pool: int = self.engine.funding_pool(asset)
        return pool

    def net_deposits(self, asset: str) -> int:
        """Deposits − withdrawals."""
        net: int = self.engine.net_deposits(asset)
        return net

    def mark_price(self, symbol: str) -> int:
        """Current mark price."""
        found = self._marks.get(symbol)
        if found is None:
            found = self._marks[symbol] = self.engine.mark_price(symbol)
        return found

    def open_orders(self, account_id: int) -> Sequence[RestingOrder]:
        """Resting orders in the books (every account's read in one pass on first use)."""
        if self._orders is None:
            self._orders = self.engine.views.orders_by_account()
        return self._orders[0].get(account_id, ())

    def reduce_only_orders(self, account_id: int) -> Sequence[RestingOrder]:
        """Live ReduceOnly orders that can trade (every account's read in one pass on first use)."""
        if self._orders is None:
            self._orders = self.engine.views.orders_by_account()
        return self._orders[1].get(account_id, ())

    def margin_setting(self, account_id: int, symbol: str) -> MarginSetting:
        """Leverage and extra isolated margin."""
        setting: MarginSetting = self.engine.margin_setting(account_id, symbol)
        return setting

    def untriggered_orders(self, symbol: str) -> Sequence[UntriggeredOrder]:
        """The conditional orders of ``symbol`` waiting for their trigger (the engine's, read once per check)."""
        orders: Sequence[UntriggeredOrder] = self.engine.untriggered_orders(symbol)
        return orders

    def trigger_prices(self, symbol: str) -> TriggerPrices:
        """The mark, last and index prices of ``symbol``."""
        prices: TriggerPrices = self.engine.trigger_prices(symbol)
        return prices


POOLED = -2  # the account id under which PooledView lists the dormant accounts' summed wallets (no engine account)

# The registered invariants (rules/invariants.py) argued, one by one, to give the same answer when the dormant
# accounts are read as one (PooledView).  Each reads the accounts in one of these ways:
# * sums over every listed account — INV-CONSERVATION (Σ wallet − cost: the pooled wallets are the dormant
#   wallets' sum and dormant accounts hold no position), INV-OI-BALANCE (Σ qty: none);
# * per listed account, its equity at mark — INV-NO-NEG-EQUITY-AFTER-ADL, INV-NO-NEG-EQUITY (a dormant account's
#   equity is its wallets, none below zero: no problem, read alone or pooled, and POOLED < 0 is a system id);
# * per listed account, its orders — INV-BOOK-UNCROSSED, INV-REDUCE-ONLY, and the best prices in
#   INV-MARGIN-ON-ENTRY / INV-WITHDRAW-SAFE / INV-SPOT-SPEND (a dormant account has none);
# * accounts named by the step (orders, withdrawals, spot orders and spends, flat_before) — INV-MARGIN-ON-ENTRY,
#   INV-WITHDRAW-SAFE, INV-SPOT-SPEND, INV-FLAT-NO-SOCIAL-LOSS: read by id, which the view answers from the engine
#   for every account;
# * the step's records and the funds only — INV-FUNDING-ZERO-SUM, INV-INSURANCE-NONNEG, INV-ADL-MINIMAL,
#   INV-ADL-ORDER, INV-NO-FALSE-LIQUIDATION, INV-ADL-NOT-LOSING;
# * no account at all — INV-TRIGGERS-DUE-FIRED reads each contract's untriggered orders and prices.
# A newly registered invariant is not in this set: the view then lists every account (no pooling) until
# someone argues it here.
POOLING_ARGUED = frozenset(
    {
        "INV-CONSERVATION",
        "INV-OI-BALANCE",
        "INV-MARGIN-ON-ENTRY",
        "INV-WITHDRAW-SAFE",
        "INV-SPOT-SPEND",
        "INV-FUNDING-ZERO-SUM",
        "INV-NO-NEG-EQUITY-AFTER-ADL",
        "INV-INSURANCE-NONNEG",
        "INV-FLAT-NO-SOCIAL-LOSS",
        "INV-ADL-MINIMAL",
        "INV-ADL-ORDER",
        "INV-NO-FALSE-LIQUIDATION",
        "INV-BOOK-UNCROSSED",
        "INV-REDUCE-ONLY",
        "INV-NO-NEG-EQUITY",
        "INV-ADL-NOT-LOSING",
        "INV-TRIGGERS-DUE-FIRED",
    }
)


class PooledView(MemoView):
    """:class:`MemoView` listing the *dormant* accounts as one: what a check of the whole registry reads.

    A trader account is dormant when it holds no position (``positions`` is empty), no
    order of any kind (resting, untriggered stop) and no wallet below zero.  Most accounts of
    a large crash end that way (liquidated), and every registered invariant walks every
    listed account.  Read from the engine's state on every check, in one pass over the
    accounts (no change tracking that a bug could bypass), the dormant accounts are listed as
    the one account ``POOLED`` holding their summed wallets and nothing else; every other
    account is listed as itself, and any account asked for by id (the step's) is answered as
    itself.  The same pass reads every account's positions and orders as the engine's
    :class:`~engine.core.views.Views` shows them (``positions``, ``orders_by_account``).  Each
    registered invariant answers on this view exactly as on the engine (``POOLING_ARGUED``
    says why, invariant by invariant; tests/test_pooled_view.py compares the answers, and
    every answer of the view, after every command of a crash with planted violations).
    """

    def __init__(self, engine: Any) -> None:
        super().__init__(engine)
        self.accounts: Mapping[int, Account] = engine.ledger.accounts
        assert POOLED not in self.accounts
        pooling = set(invariants.REGISTRY) <= POOLING_ARGUED  # else an invariant nobody argued for: list every account
        # the one pass over every account, in the engine's read-only Views (compiled with the engine where it is)
        listed, pooled, reads = engine.views.pooled_listing(pooling)
        self.pooled: dict[str, int] = pooled
        self.wallets: dict[int, dict[str, int]] = reads.wallets  # each trader account's own wallets mapping
        self._positions = reads.positions
        self._positions[POOLED] = NOTHING
        self._orders = (reads.opened, reads.reducing)
        if len(listed) < len(self.accounts):
            self._account_ids = [POOLED, *listed]
        else:
            self._account_ids = listed

    def wallet(self, account_id: int, asset: str) -> int:
        """walletBalance (the engine's ``Account.wallet``); for ``POOLED``, the dormant accounts' sum."""
        wallets = self.wallets.get(account_id)
        if wallets is not None:
            return wallets.get(asset, 0)
        if account_id == POOLED:
            return self.pooled.get(asset, 0)
        return self.accounts[account_id].wallets.get(asset, 0)

    def margin_setting(self, account_id: int, symbol: str) -> MarginSetting:
        """Leverage and extra isolated margin; ``POOLED``'s are the defaults (it holds nothing)."""
        if account_id == POOLED:
            return MarginSetting()
        return super().margin_setting(account_id, symbol)


def impact_prices(inst: Instrument, depth: Callable[[int], tuple[BookSide, BookSide]]) -> ImpactPrices:
    """``compute_impact_prices(inst, *depth(DEPTH_LEVELS))`` reading first only ``IMPACT_LEVELS`` levels a side.

    ``depth(n)`` is the book's first ``n`` levels a side, best first.  MRK-001's walk takes nothing from a level
    once the notional is reached (the lots needed are then 0), so the prices over the first levels are those over
    more whenever both sides reach the notional there, or a side that does not holds fewer than asked (it has no
    more); only else is the book read to ``DEPTH_LEVELS``.  At 20,000 accounts the traders' resting orders are
    thousands of levels, a thousand of each read and walked twice a step for a notional the first few fill.
    """
    bids, asks = depth(IMPACT_LEVELS)
    impact = compute_impact_prices(inst, bids, asks)
    if (impact.bid is None and len(bids) == IMPACT_LEVELS) or (impact.ask is None and len(asks) == IMPACT_LEVELS):
        impact = compute_impact_prices(inst, *depth(DEPTH_LEVELS))
    return impact
