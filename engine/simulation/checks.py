"""The registry's check after every mark update, read incrementally: only the accounts the commands since the last check named.

A full check (``invariants.check_all`` on :class:`~engine_port.PooledView`) reads every account
after every mark update: at 2,000 accounts that pass and the registry's loops over every listed
account were a third of a ``perpspec simulate`` run.  :class:`IncrementalChecks` gives the same
answers (the same invariants, run by the same rule functions, on the same values) reading only
what can have changed:

* **The change set** is the accounts the engine's events named since the last check — every
  event but ``InternalError`` names the account it is about (``account``), and a waterfall
  record names the accounts it moved (``account_id``, ``maker_account_id``, ``makers``); an
  ``InternalError`` or a check with no earlier one reads every account.  The liquidation
  engine's account (its positions are the pending close-outs) is read at every check.  For
  each account in the change set (in id order) the check reads the engine's own answers
  (``Views.positions``, ``open_orders``, ``reduce_only_orders``, the wallets) and keeps them;
  every other account's kept answers are what the engine would answer (nothing named it, so
  nothing changed it).  A mark update changes no kept answer: the equity at mark is computed
  afresh at every check from the current mark (see below).
* **Each registered invariant** runs on a view listing only the accounts that can contribute
  to its answer (:data:`LISTINGS`, argued there one by one); the sums (INV-CONSERVATION,
  INV-OI-BALANCE) run on a view whose one account holds the kept sums of every account's
  wallets, costs and quantities (integer sums: exact).  An invariant registered later and not
  argued there runs on the full :class:`~engine_port.PooledView`.

tests/test_incremental_checks.py runs the shipped crashes and the stateful runs comparing, at
every check, these answers with the full check's and every kept answer with the engine's, and
plants violations in accounts a command named and in holders a mark update moved (caught at the
same check).  ``perpspec simulate`` still runs the full check once at the end of the run, after
the incremental one, and reports any kept answer that differs from the engine's.
"""

from __future__ import annotations

import bisect
import operator
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from perpspec.engine.core.events import Event, Execution, InternalError, RuleEvent
from perpspec.engine.core.orders import CONDITIONAL_TYPES, EXEC_NEW, EXEC_REPLACED, PEGGED, Order
from perpspec.engine.core.triggers import IF_TOUCHED
from perpspec.engine.core.views import untriggered_record
from perpspec.engine.simulation.engine_port import POOLED, PooledView
from perpspec.rules import invariants, invariants_trading
from perpspec.rules.contract import compute_value
from perpspec.rules.instrument import Instrument
from perpspec.rules.margin import MarginSetting
from perpspec.rules.order_margin import RestingOrder
from perpspec.rules.position import Position
from perpspec.rules.triggers import (
    TriggerPrices,
    UntriggeredOrder,
    compute_trailed_stop_px,
    compute_trailing_distance,
    compute_trailing_level,
    is_rising_trigger,
    is_trigger_due,
    select_trigger_price,
)

LIQUIDATOR = -1  # the liquidation engine's account: read at every check (its positions are the pending close-outs)
NONE: tuple[RestingOrder, ...] = ()
PLACED_OR_AMENDED = frozenset((EXEC_NEW, EXEC_REPLACED))

# Which accounts each registered invariant must be shown for the same answer as on every account (PooledView):
# * "sums" — INV-CONSERVATION (Σ wallet − Σ cost per asset) and INV-OI-BALANCE (Σ qty per contract) read every
#   account only to add up its wallets, costs and quantities: one account holding the sums gives the same totals.
# * "equity" — INV-NO-NEG-EQUITY-AFTER-ADL: a trader account's equity at mark is its wallet plus Σ(value − cost)
#   of its positions; an account with no position and no wallet below zero has equity ≥ 0 in every asset, so
#   only the holders and the accounts with a wallet below zero can be reported.  Of the holders with no wallet
#   below zero, once a mark update's waterfall has completed (before, the invariant reads no account), only
#   those whose equity is below zero in some asset at the current mark are listed (:meth:`_equity_listing`):
#   computed with the invariant's own compute_account_equity on the kept answers, or known ≥ 0 without it when
#   nothing named the account since it was last computed ≥ 0 and every mark it holds a position at has moved
#   only the way that raises that position's value (CON-002's value is monotone in the price:
#   value_rises_with_price; tests/test_incremental_checks.py checks it on every shipped contract).
# * "negative" — INV-NO-NEG-EQUITY: an account skips every asset it holds a position in; in any other asset its
#   equity is its wallet, so only an account with a wallet below zero can be reported.
# * "best" — INV-BOOK-UNCROSSED, and the best prices that INV-MARGIN-ON-ENTRY / INV-WITHDRAW-SAFE /
#   INV-SPOT-SPEND read (compute_best_prices: per contract the highest bid and the lowest ask over the listed
#   accounts' resting orders): an account without resting orders adds no price, and of those with some, per
#   contract, one holding the highest bid and one holding the lowest ask give the same maximum and minimum as
#   every account (the others' bids are no higher, their asks no lower).  :meth:`IncrementalChecks.best_holders`
#   finds them in the kept best prices of each account (kept with its orders).  They read their step's accounts
#   by id otherwise (named by the step's events: read afresh).
# * "reducing" — INV-REDUCE-ONLY: only an account with a live ReduceOnly order can be reported (its fills part
#   reads the step).
# * "step" — the step's records, the funds and the accounts the step names, by id: INV-FUNDING-ZERO-SUM,
#   INV-INSURANCE-NONNEG, INV-FLAT-NO-SOCIAL-LOSS, INV-ADL-MINIMAL, INV-ADL-ORDER, INV-NO-FALSE-LIQUIDATION,
#   INV-ADL-NOT-LOSING (none lists the accounts); and INV-TRIGGERS-DUE-FIRED, which reads no account: each
#   contract's prices and, of its untriggered orders, the one nearest to firing per trigger source,
#   LastWithinMark and direction (and of trailing stops the one the price moves first), or the whole group when
#   that one is due (or not yet moved) (:func:`deciding_orders`: when it is not, no order of its group is).
LISTINGS: Mapping[str, str] = {
    "INV-CONSERVATION": "sums",
    "INV-OI-BALANCE": "sums",
    "INV-NO-NEG-EQUITY-AFTER-ADL": "equity",
    "INV-NO-NEG-EQUITY": "negative",
    "INV-BOOK-UNCROSSED": "best",
    "INV-MARGIN-ON-ENTRY": "best",
    "INV-WITHDRAW-SAFE": "best",
    "INV-SPOT-SPEND": "best",
    "INV-REDUCE-ONLY": "reducing",
    "INV-FUNDING-ZERO-SUM": "step",
    "INV-INSURANCE-NONNEG": "step",
    "INV-FLAT-NO-SOCIAL-LOSS": "step",
    "INV-ADL-MINIMAL": "step",
    "INV-ADL-ORDER": "step",
    "INV-NO-FALSE-LIQUIDATION": "step",
    "INV-ADL-NOT-LOSING": "step",
    "INV-TRIGGERS-DUE-FIRED": "step",
}


def value_rises_with_price(inst: Instrument, qty: int) -> bool:
    """Whether CON-002's value of ``qty`` (≠ 0) contracts never falls as the price rises (else it never rises).

    Linear and quanto: ``qty·multiplier·price // price_scale``, the floor of a linear function of the price
    (``price_scale > 0``), non-decreasing when ``qty·multiplier > 0``.  Inverse: ``−(qty/lotSize)·L(price)``
    with ``L(p) = round_half_up_div(K, p) = ⌊(2K + p) / 2p⌋ = ⌊K/p + ½⌋``, ``K = −multiplier·price_scale·lotSize``:
    for ``p > 0``, L is non-increasing when ``K > 0`` and non-decreasing when ``K < 0``, so the value is
    non-decreasing when ``qty·K > 0``, i.e. ``qty·(−multiplier) > 0``.
    """
    if inst.is_inverse:
        return qty * -inst.multiplier > 0
    return qty * inst.multiplier > 0


def deciding_orders(pool: Mapping[int, Order], prices: TriggerPrices) -> list[Order]:
    """Of a contract's untriggered orders, those INV-TRIGGERS-DUE-FIRED must be shown for the same answer, by order id.

    Per trigger group (trigger source, LastWithinMark, side and type: one direction) every order is judged at the
    same price and band, and ORD-015 is a comparison of that price with stopPx in the group's direction (proofs:
    ORD-015/index-keys, ORD-015/fires-from-stop): when the group's nearest order (the lowest stopPx of a rising trigger, the highest of
    a falling one) is not due, no order of the group is, and it alone is listed; when it is due, the whole group is
    (the invariant then names every due order, as on the whole pool).  A group of trailing stops also lists the one
    the price moves first (ORD-007: a sell's lowest ``stopPx − pegOffsetValue``, a buy's highest; the band counts
    for the whole group): when the rule leaves it where it is, it leaves every one, else the whole group is listed.
    tests/test_triggers_due_fired.py compares.  The grouping (:func:`group_orders`) reads only the pool; the
    listing (:func:`listed_orders`) the prices: :class:`DecidingOrders` keeps the first while the pool is the same.
    """
    return listed_orders(group_orders(pool), prices)


GroupKey = tuple[str, bool, bool, str]  # (trigger source, LastWithinMark, is_buy, ord_type)


class Grouping:
    """A pool's trigger groups (:func:`deciding_orders`): the members in pool order, the nearest of each, and of a
    trailing group the order the price moves first (found when first asked)."""

    __slots__ = ("members", "movers", "nearest")

    def __init__(self, members: dict[GroupKey, list[Order]], nearest: dict[GroupKey, Order]) -> None:
        self.members = members
        self.nearest = nearest
        self.movers: dict[GroupKey, Order] = {}


def group_orders(pool: Mapping[int, Order]) -> Grouping:
    """The pool's trigger groups and the nearest order of each (what :func:`deciding_orders` reads of the pool)."""
    members: dict[GroupKey, list[Order]] = {}  # by (source, LastWithinMark, side, type)
    for order in pool.values():
        group = (order.trigger_source, order.last_within_mark, order.is_buy, order.ord_type)
        found = members.get(group)
        if found is None:
            members[group] = [order]
        else:
            found.append(order)
    nearest: dict[GroupKey, Order] = {}
    for group, orders in members.items():
        _, _, is_buy, ord_type = group
        if is_rising_trigger(is_buy, ord_type in IF_TOUCHED):
            nearest[group] = min(orders, key=_stop_px)
        else:
            nearest[group] = max(orders, key=_stop_px)
    return Grouping(members, nearest)


def listed_orders(grouping: Grouping, prices: TriggerPrices) -> list[Order]:
    """:func:`deciding_orders` of the pool ``grouping`` was made of, at ``prices``."""
    members = grouping.members
    listed: list[Order] = []
    mark = prices.mark_price
    for group, order in grouping.nearest.items():
        price = select_trigger_price(order.trigger_source, prices)
        if is_trigger_due(order.is_buy, order.ord_type in IF_TOUCHED, order.last_within_mark, order.stop_px, price, mark):
            listed.extend(members[group])
            continue
        listed.append(order)
        if order.ord_type == PEGGED:
            orders = members[group]
            mover = grouping.movers.get(group)
            if mover is None:
                mover = grouping.movers[group] = min(orders, key=_trail_level)
            trailed = compute_trailed_stop_px(
                mover.is_buy, mover.last_within_mark, mover.stop_px, price, mark, mover.peg_offset
            )
            if trailed != mover.stop_px:
                listed.extend(other for other in orders if other is not order)
            elif mover is not order:
                listed.append(mover)
    return sorted(listed, key=_order_id)


# what a pool's grouping depends on, per order, that the engine changes in place: the stopPx of any waiting order
# (ORD-007's trail, an amend) and the pegOffsetValue of a trailing one (an amend: entry_amend.py).  Its other fields
# read (trigger source, LastWithinMark, side, type) are set when the order is made and never assigned after:
# tests/test_s23_deciding_orders_fields.py fails when the engine's source assigns one of them anywhere else
_STOP_PX = operator.attrgetter("stop_px")
_PEG_OFFSET = operator.attrgetter("peg_offset")


class _KeptGrouping:
    """What a kept grouping was made of: the pool's orders (by identity, in order), their stopPx, its trailing stops
    and their pegOffsetValue."""

    __slots__ = ("grouping", "identities", "offsets", "stops", "trailing")

    def __init__(self, identities: list[int], stops: list[int], grouping: Grouping) -> None:
        self.identities = identities
        self.stops = stops
        self.grouping = grouping
        self.trailing = [order for group, orders in grouping.members.items() if group[3] == PEGGED for order in orders]
        self.offsets = list(map(_PEG_OFFSET, self.trailing))


class DecidingOrders:
    """:func:`deciding_orders` per contract, its grouping kept while the pool holds the same orders, the same stopPx
    (and pegOffsetValue of a trailing stop).

    The simulator asks after every command that moved a contract's prices (every trade moves the last price), and
    a crash's pool holds thousands of protective stops: grouping them anew each time was a fifth of a
    ``perpspec simulate --accounts 20000`` run.  Each call still reads the whole pool — the orders themselves (by
    identity), in the pool's order, and the fields the engine changes in place (``_STOP_PX``; ``_PEG_OFFSET`` of
    the trailing stops) — and compares them with what the kept grouping was made of, in C-level passes; only on
    any difference is the pool grouped again.  The answer is then :func:`deciding_orders`' own: the same groups,
    the same members in the same order (so the same nearest and mover, ties included), judged at the prices now.
    Three attributes per order, not the seven the grouping reads: an attribute of the compiled ``Order`` costs
    about as much to read as grouping it does (session 23: reading all seven was slower than grouping afresh).
    """

    def __init__(self) -> None:
        self.kept: dict[str, _KeptGrouping] = {}

    def of(self, symbol: str, pool: Mapping[int, Order], prices: TriggerPrices) -> list[Order]:
        """``deciding_orders(pool, prices)`` for ``symbol``'s pool."""
        values = pool.values()
        identities = list(map(id, values))  # the kept grouping holds every order it lists: no id is reused meanwhile
        stops = list(map(_STOP_PX, values))
        kept = self.kept.get(symbol)
        if (
            kept is None
            or kept.identities != identities
            or kept.stops != stops
            or list(map(_PEG_OFFSET, kept.trailing)) != kept.offsets
        ):
            kept = self.kept[symbol] = _KeptGrouping(identities, stops, group_orders(pool))
        return listed_orders(kept.grouping, prices)


def _order_id(order: Order) -> int:
    return order.order_id


def _stop_px(order: Order) -> int:
    return order.stop_px


def _trail_level(order: Order) -> int:
    """A trailing stop's level (:func:`~rules.triggers.compute_trailing_level`: its signed ``stopPx`` plus its
    distance, the index's bucket key): the price moves the stop of its group with the lowest level first."""
    return compute_trailing_level(order.is_buy, order.stop_px, compute_trailing_distance(order.is_buy, order.peg_offset))


def _bound(entry: tuple[int, int]) -> int:
    return entry[0]


def worst_safe_price(inst: Instrument, position: Position, wallet: int, mark: int, rises: bool, equity: int) -> int:
    """How far the mark can move against the account's one position with its equity in the position's asset ≥ 0.

    The equity at a mark ``p`` is INV-NO-NEG-EQUITY-AFTER-ADL's ``compute_account_equity``: the wallet plus the
    position's CON-002 value at ``p`` minus its cost, monotone in ``p`` (:func:`value_rises_with_price`).  Found by
    bisection over the prices between ``mark`` and 1 (the value rises with the price) or the instrument's maximum
    price (it falls), computing the value with CON-002's own ``compute_value``.  ``equity`` is the invariant's
    value at ``mark`` (≥ 0): when the sum does not give it back, nothing is assumed and ``mark`` is returned.
    """
    base = wallet - position.cost
    qty = position.qty
    if mark <= 0 or base + compute_value(inst, qty, mark) != equity or equity < 0:
        return mark
    if rises:  # the lowest price with equity ≥ 0 (it is at the mark)
        low, high = 1, mark
        while low < high:
            middle = (low + high) // 2
            if base + compute_value(inst, qty, middle) >= 0:
                high = middle
            else:
                low = middle + 1
        return high
    low, high = mark, max(inst.max_price, mark)  # the highest price with equity ≥ 0
    while low < high:
        middle = (low + high + 1) // 2
        if base + compute_value(inst, qty, middle) >= 0:
            low = middle
        else:
            high = middle - 1
    return low


def named_accounts(events: Iterable[Event], into: set[int]) -> bool:
    """Add the accounts ``events`` name to ``into``; False when one of them may have changed any account."""
    for event in events:
        if isinstance(event, InternalError):
            return False
        into.add(event.account)
        if isinstance(event, RuleEvent):
            record = event.record
            for name in ("account_id", "maker_account_id"):
                account = getattr(record, name, None)
                if type(account) is int:
                    into.add(account)
            into.update(getattr(record, "makers", ()))
    return True


class IncrementalChecks:
    """Every registered invariant after a command, reading only the accounts named since the last check (module doc)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.accounts: Mapping[int, Any] = engine.ledger.accounts
        self.views = engine.views
        self.named: set[int] = set()
        self.everything = True  # the next check reads every account
        # the kept answers, by account id
        self.wallets: dict[int, dict[str, int]] = {}
        self.positions: dict[int, Mapping[str, Position]] = {}
        self.opened: dict[int, Sequence[RestingOrder]] = {}
        self.reducing: dict[int, Sequence[RestingOrder]] = {}
        # per contract holding untriggered orders: its (mark, last, index) prices at its last trigger check
        self.trigger_seen: dict[str, tuple[int, int, int]] = {}
        self.deciding = DecidingOrders()  # INV-TRIGGERS-DUE-FIRED's deciding orders, the pool's grouping kept
        # the kept sums over every account, and who holds, rests orders or owes
        self.wallet_sum: dict[str, int] = {}
        self.cost_sum: dict[str, int] = {}
        self.qty_sum: dict[str, int] = {}
        self.holders: set[int] = set()
        self.owing: set[int] = set()
        self.resting: set[int] = set()
        self.reduce_only: set[int] = set()
        # per contract, (price, account) of each account's highest resting bid / lowest resting ask, sorted; and per
        # account the entries it holds there (to take them out when it is read again)
        self.bids: dict[str, list[tuple[int, int]]] = {}
        self.asks: dict[str, list[tuple[int, int]]] = {}
        self.best_of: dict[int, list[tuple[bool, str, int]]] = {}
        # account -> (symbol, mark, value rises with price) of each position, at a mark where its equity was ≥ 0 in
        # every asset (nothing has named it since)
        self.safe: dict[int, tuple[tuple[str, int, bool], ...]] = {}
        # the same accounts, one position each, as sorted (bound, account) per (symbol, value rises with price): the
        # accounts whose bound the mark has passed are found by bisection, not by comparing every account
        self.safe_bounds: dict[tuple[str, bool], list[tuple[int, int]]] = {}
        # the others (several positions), grouped by what was kept of them: one comparison per group
        self.safe_groups: dict[tuple[tuple[str, int, bool], ...], set[int]] = {}

    def trigger_symbols(self, events: Sequence[Event]) -> list[str]:
        """The contracts whose untriggered orders a command can have made due (INV-TRIGGERS-DUE-FIRED), sorted.

        An untriggered order becomes due only when a price it watches moves or its stopPx does: the contracts
        holding such orders whose mark, last or index price differs from the one at their last check, and the
        contracts of the command's reports of a conditional order placed or amended (``New``, ``Replaced``).  A
        trailing stop's stopPx moves only with its price, away from it (never due by it: ORD-007/never-fires);
        a contract whose prices and orders nothing moved has no order due that was not due before.
        """
        market = self.engine.market
        kept = self.trigger_seen
        symbols: set[str] = set()
        for symbol, pool in self.engine.triggers.conditional.items():
            if not pool:
                continue
            now = (market.marks.get(symbol, 0), market.last_prices.get(symbol, 0), market.index_prices.get(symbol, 0))
            if kept.get(symbol) != now:
                kept[symbol] = now
                symbols.add(symbol)
        for event in events:
            if (
                type(event) is Execution
                and event.exec_type in PLACED_OR_AMENDED
                and event.ord_type in CONDITIONAL_TYPES
            ):
                symbols.add(event.symbol)
        return sorted(symbols)

    def saw(self, events: Sequence[Event]) -> None:
        """Note the accounts a command's events named (call for every command, in order)."""
        if not named_accounts(events, self.named):
            self.everything = True

    def refresh(self) -> None:
        """Read afresh every account named since the last check (or every account), and the liquidation engine's."""
        if self.everything:
            ids: Iterable[int] = sorted(self.accounts)
            self.everything = False
        else:
            self.named.add(LIQUIDATOR)
            ids = sorted(self.named)
        self.named = set()
        accounts = self.accounts
        views = self.views
        for account_id in ids:
            self._forget(account_id)
            account = accounts.get(account_id)
            if account is None:
                continue
            wallets = dict(account.wallets)
            positions = views.positions(account_id)
            opened = views.open_orders(account_id) if account.orders else NONE
            reducing = views.reduce_only_orders(account_id) if account.orders else NONE
            self.wallets[account_id] = wallets
            self.positions[account_id] = positions
            self.opened[account_id] = opened
            self.reducing[account_id] = reducing
            for asset, balance in wallets.items():
                self.wallet_sum[asset] = self.wallet_sum.get(asset, 0) + balance
                if balance < 0:
                    self.owing.add(account_id)
            for symbol, position in positions.items():
                self.cost_sum[symbol] = self.cost_sum.get(symbol, 0) + position.cost
                self.qty_sum[symbol] = self.qty_sum.get(symbol, 0) + position.qty
            if positions:
                self.holders.add(account_id)
            if opened:
                self.resting.add(account_id)
                self._keep_best(account_id, opened)
            if reducing:
                self.reduce_only.add(account_id)

    def _forget(self, account_id: int) -> None:
        wallets = self.wallets.get(account_id)
        if wallets is None:
            return
        for asset, balance in wallets.items():
            self.wallet_sum[asset] -= balance
        for symbol, position in self.positions[account_id].items():
            self.cost_sum[symbol] -= position.cost
            self.qty_sum[symbol] -= position.qty
        for kept in (self.wallets, self.positions, self.opened, self.reducing):
            del kept[account_id]
        self._unsafe(account_id)
        self.holders.discard(account_id)
        self.owing.discard(account_id)
        self.resting.discard(account_id)
        self.reduce_only.discard(account_id)
        for is_bid, symbol, price in self.best_of.pop(account_id, ()):
            entries = (self.bids if is_bid else self.asks)[symbol]
            del entries[bisect.bisect_left(entries, (price, account_id))]

    def _keep_best(self, account_id: int, opened: Sequence[RestingOrder]) -> None:
        """Keep ``account_id``'s highest bid and lowest ask per contract (compute_best_prices' reading of it)."""
        bids: dict[str, int] = {}
        asks: dict[str, int] = {}
        for order in opened:
            if order.qty > 0:
                best = bids.get(order.symbol)
                if best is None or order.price > best:
                    bids[order.symbol] = order.price
            elif order.qty < 0:
                best = asks.get(order.symbol)
                if best is None or order.price < best:
                    asks[order.symbol] = order.price
        held = []
        for is_bid, found, kept in ((True, bids, self.bids), (False, asks, self.asks)):
            for symbol, price in found.items():
                bisect.insort(kept.setdefault(symbol, []), (price, account_id))
                held.append((is_bid, symbol, price))
        if held:
            self.best_of[account_id] = held

    def best_holders(self) -> list[int]:
        """The accounts the "best" listing shows (:data:`LISTINGS`): per contract, one holding the highest resting
        bid (the highest account id of those) and one holding the lowest ask (the lowest id), in id order."""
        holders = {entries[-1][1] for entries in self.bids.values() if entries}
        holders.update(entries[0][1] for entries in self.asks.values() if entries)
        return sorted(holders)

    def check_all(self, step: invariants.StepInfo) -> dict[str, list[str]]:
        """``invariants.check_all`` as on the whole engine: every registered invariant's violations, in registry order."""
        self.refresh()
        kept = KeptView(self, [])
        listings: dict[str, Any] = {
            "sums": SumsView(self, kept),
            "equity": kept.listing(self._equity_listing(kept, step)),
            "negative": kept.listing(sorted(self.owing)),
            "best": kept.listing(self.best_holders()),
            "reducing": kept.listing(sorted(self.reduce_only)),
            "step": kept.listing([]),
        }
        full: PooledView | None = None
        results: dict[str, list[str]] = {}
        for inv_id, invariant in invariants.REGISTRY.items():
            listing = LISTINGS.get(inv_id)
            if listing is None:  # nobody argued this invariant's listing: the full view
                if full is None:
                    full = PooledView(self.engine)
                results[inv_id] = invariant.check(full, step)
            else:
                results[inv_id] = invariant.check(listings[listing], step)
        return results

    def _equity_listing(self, kept: KeptView, step: invariants.StepInfo) -> list[int]:
        """The accounts INV-NO-NEG-EQUITY-AFTER-ADL must be shown (:data:`LISTINGS`, "equity"), in id order."""
        candidates = self.holders | self.owing
        if not step.waterfall_complete:  # the invariant reads no account: list them all, compute nothing
            return sorted(candidates)
        # equity ≥ 0 at a mark no better for any of its positions than the one kept, nothing changed since: not
        # listed, nothing computed — every kept account but those whose kept mark the mark now passes
        todo = candidates - self.safe.keys()
        for (symbol, rises), entries in self.safe_bounds.items():
            now = kept.mark_price(symbol)
            if now <= 0:
                passed = entries
            elif rises:  # no worse while now ≥ bound
                passed = entries[bisect.bisect_right(entries, now, key=_bound) :]
            else:  # no worse while now ≤ bound
                passed = entries[: bisect.bisect_left(entries, now, key=_bound)]
            todo.update(account_id for _, account_id in passed if account_id in candidates)
        for known, members in self.safe_groups.items():
            if not self._no_worse(known, kept):
                todo.update(members & candidates)
        listed = []
        assets = kept.assets()
        instruments = kept.instruments()
        for account_id in sorted(todo):
            if account_id < 0 or account_id in self.owing:
                listed.append(account_id)
                continue
            equities = [invariants_trading.compute_account_equity(kept, account_id, asset) for asset in assets]
            again = account_id in self.safe  # known ≥ 0 before, and the mark has moved against it since
            self._unsafe(account_id)
            if min(equities, default=0) < 0:
                listed.append(account_id)
                continue
            positions = self.positions[account_id]
            if len(positions) != 1:
                known = tuple(
                    (symbol, kept.mark_price(symbol), value_rises_with_price(instruments[symbol], position.qty))
                    for symbol, position in positions.items()
                )
                self.safe[account_id] = known
                self.safe_groups.setdefault(known, set()).add(account_id)
                continue
            ((symbol, position),) = positions.items()
            inst = instruments[symbol]
            rises = value_rises_with_price(inst, position.qty)
            mark = kept.mark_price(symbol)
            bound = mark
            asset = inst.settl_currency
            if again and asset in assets:  # passed again and again in a fall: how far the mark can go, equity ≥ 0
                bound = worst_safe_price(
                    inst, position, kept.wallet(account_id, asset), mark, rises, equities[assets.index(asset)]
                )
            self.safe[account_id] = ((symbol, bound, rises),)
            bisect.insort(self.safe_bounds.setdefault((symbol, rises), []), (bound, account_id))
        return listed

    def _unsafe(self, account_id: int) -> None:
        """Forget that ``account_id``'s equity was known ≥ 0."""
        known = self.safe.pop(account_id, None)
        if known is None:
            return
        if len(known) == 1:
            symbol, bound, rises = known[0]
            entries = self.safe_bounds[(symbol, rises)]
            del entries[bisect.bisect_left(entries, (bound, account_id))]
            if not entries:
                del self.safe_bounds[(symbol, rises)]
            return
        members = self.safe_groups[known]
        members.discard(account_id)
        if not members:
            del self.safe_groups[known]

    @staticmethod
    def _no_worse(known: tuple[tuple[str, int, bool], ...], kept: KeptView) -> bool:
        for symbol, mark, rises in known:
            now = kept.mark_price(symbol)
            if now <= 0 or (now < mark if rises else now > mark):
                return False
        return True

    def stale(self) -> list[str]:
        """Every kept answer that differs from the engine's now (none: the change set missed nothing)."""
        self.refresh()
        problems = []
        views = self.views
        for account_id in sorted(self.accounts):
            account = self.accounts[account_id]
            fresh = (
                dict(account.wallets),
                dict(views.positions(account_id)),
                list(views.open_orders(account_id)),
                list(views.reduce_only_orders(account_id)),
            )
            kept = (
                self.wallets.get(account_id),
                dict(self.positions.get(account_id, {})),
                list(self.opened.get(account_id, NONE)),
                list(self.reducing.get(account_id, NONE)),
            )
            if fresh != kept:
                problems.append(f"account {account_id}: the incremental check's reads differ from the engine's")
        return problems


class KeptView:
    """The engine as the kept answers show it (an ``invariants.ExchangeView``), listing the accounts given."""

    def __init__(self, checks: IncrementalChecks, listed: Sequence[int], shared: KeptView | None = None) -> None:
        self.checks = checks
        self.engine = checks.engine
        self.listed = listed
        if shared is None:
            self._assets: Sequence[str] = self.engine.assets()
            self._instruments: Mapping[str, Instrument] = self.engine.instruments()
            self._marks: dict[str, int] = {}
        else:  # one check's views share what they read of the engine
            self._assets, self._instruments, self._marks = shared._assets, shared._instruments, shared._marks

    def listing(self, listed: Sequence[int]) -> KeptView:
        """The same view listing ``listed``."""
        return KeptView(self.checks, listed, self)

    def assets(self) -> Sequence[str]:
        """Settlement assets, sorted."""
        return self._assets

    def account_ids(self) -> Sequence[int]:
        """The accounts listed for this invariant (module doc), in id order."""
        return self.listed

    def instruments(self) -> Mapping[str, Instrument]:
        """Instruments by symbol."""
        return self._instruments

    def wallet(self, account_id: int, asset: str) -> int:
        """walletBalance (kept)."""
        wallets = self.checks.wallets.get(account_id)
        if wallets is None:
            return self.engine.wallet(account_id, asset)  # type: ignore[no-any-return]
        return wallets.get(asset, 0)

    def positions(self, account_id: int) -> Mapping[str, Position]:
        """Non-flat positions by symbol (kept)."""
        found = self.checks.positions.get(account_id)
        if found is None:
            return self.engine.positions(account_id)  # type: ignore[no-any-return]
        return found

    def open_orders(self, account_id: int) -> Sequence[RestingOrder]:
        """Resting orders (kept)."""
        return self.checks.opened.get(account_id, NONE)

    def reduce_only_orders(self, account_id: int) -> Sequence[RestingOrder]:
        """Live ReduceOnly orders that can trade (kept)."""
        return self.checks.reducing.get(account_id, NONE)

    def untriggered_orders(self, symbol: str) -> Sequence[UntriggeredOrder]:
        """Of the conditional orders of ``symbol`` waiting for their trigger (the engine's, now), those that decide
        INV-TRIGGERS-DUE-FIRED (:func:`deciding_orders`)."""
        pool = self.engine.triggers.conditional.get(symbol)
        if not pool:
            return []
        deciding = self.checks.deciding.of(symbol, pool, self.trigger_prices(symbol))
        return [untriggered_record(order) for order in deciding]

    def trigger_prices(self, symbol: str) -> TriggerPrices:
        """The mark, last and index prices of ``symbol`` (the engine's, now)."""
        return self.engine.trigger_prices(symbol)  # type: ignore[no-any-return]

    def mark_price(self, symbol: str) -> int:
        """Current mark price (the engine's, now)."""
        found = self._marks.get(symbol)
        if found is None:
            found = self._marks[symbol] = self.engine.mark_price(symbol)
        return found

    def insurance(self, asset: str) -> int:
        """Insurance fund balance."""
        return self.engine.insurance(asset)  # type: ignore[no-any-return]

    def fee_pool(self, asset: str) -> int:
        """Commission collected."""
        return self.engine.fee_pool(asset)  # type: ignore[no-any-return]

    def funding_pool(self, asset: str) -> int:
        """Funding in flight."""
        return self.engine.funding_pool(asset)  # type: ignore[no-any-return]

    def net_deposits(self, asset: str) -> int:
        """Deposits − withdrawals."""
        return self.engine.net_deposits(asset)  # type: ignore[no-any-return]

    def margin_setting(self, account_id: int, symbol: str) -> MarginSetting:
        """Leverage and extra isolated margin (the engine's)."""
        return self.engine.margin_setting(account_id, symbol)  # type: ignore[no-any-return]


class SumsView(KeptView):
    """One account, ``POOLED``, holding the sums of every account's wallets and of its positions' quantities and costs."""

    def __init__(self, checks: IncrementalChecks, kept: KeptView) -> None:
        super().__init__(checks, [POOLED], kept)
        self.summed = {
            symbol: Position(qty=checks.qty_sum.get(symbol, 0), cost=cost) for symbol, cost in checks.cost_sum.items()
        }

    def wallet(self, account_id: int, asset: str) -> int:
        """The sum of every account's walletBalance in ``asset``."""
        return self.checks.wallet_sum.get(asset, 0) if account_id == POOLED else super().wallet(account_id, asset)

    def positions(self, account_id: int) -> Mapping[str, Position]:
        """Per contract, every account's quantities and costs summed."""
        return self.summed if account_id == POOLED else super().positions(account_id)
