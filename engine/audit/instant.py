"""What one instant of the log did: the auditor's per-instant state, and the pools a bounded waterfall carried.

An instant is one command's events (:mod:`perpspec.engine.audit.auditor`).
:class:`Instant` is what the auditor remembers of the current one until its
end, when the per-instant invariants are checked; :class:`Payment` is one
funding payment waiting for its rate.

:func:`get_carried_pools` reads a ``waterfall_carried`` record (LIQ-034: the
update's liquidation budget was spent and the pools it names wait for the next
update).  A carry licenses exactly the pools it names, until the next update: the
equity of each named account in the named pool's currency is not judged
(INV-NO-NEG-EQUITY-AFTER-ADL) at the end of the instant, nor of the instants
after it up to the next mark update or funding instant, where it is judged
unless that instant carries it again (:meth:`Auditor.check_equity`).  Every other
account, and every other currency of a named one, is judged as usual.  A pool
can only be due if it holds a position, so a named pool with none (or a record
naming no pool) is itself a finding and licenses nothing.

:func:`get_shortfall_problems` reads an ``adl_shortfall`` record (ADL-021: no
eligible opposing position is left, the liquidation engine keeps the rest of a
close-out).  The ledger knows the close-out and every opposing holder, so the
claim is checked: the close-out must still hold the quantity the record says,
and no opposing position whose pool the ledger can value may be eligible
(ADL-003 at the take-over price).  An accepted shortfall licenses only the
close-out's owner, in its currency, for as long as a carry (the same expiry):
everyone else's equity is judged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from perpspec.engine.audit.bounds import get_equity_bounds, get_unmarked
from perpspec.engine.audit.findings import Finding
from perpspec.engine.audit.ledger import LIQUIDATOR, Ledger
from perpspec.engine.audit.schema import LogError
from perpspec.rules.adl import is_adl_eligible
from perpspec.rules.contract import compute_value
from perpspec.rules.events import AdlFill, PartialLiquidation
from perpspec.rules.funding import compute_funding_exchange
from perpspec.rules.instrument import Instrument
from perpspec.rules.position import Position

MAX_EVIDENCE = 3  # eligible positions named by one ADL-021 finding
# trade executions an instant keeps for a waterfall record to claim (a close-out's maker comes right before its
# LIQ-024, a partial liquidation's fills before its LIQ-022); beyond, the oldest is let go as a plain trade (memory is
# one instant's bounded state, whatever the number of trades between two waterfall records)
MAX_UNCLAIMED = 1_000
Execution = tuple[int, str, int, int, Position]  # a trade execution: account, symbol, signed qty, price, position before


@attrs.define
class Payment:
    """One funding payment as the log reported it, with the position and mark it was paid on."""

    line: int
    seq: int | None
    account: int
    symbol: str
    amount: int
    position: Position
    mark: int
    reported: bool = True  # False: a holder FND-008 owes a payment the log has no row for (amount 0 stands in)


@attrs.define
class FundingSnapshot:
    """A funding instant of one symbol as the ledger saw it at its first record (a payment, or the fund's funding or
    residue movement): every holder's position, the liquidation engine's close-outs as one holder (account −1, as the
    engine funds them), the mark, and the FND-008 residue the log states (``check_funding`` recomputes FND-008 over
    these holders at the funding row; the waterfall after the payments may change positions before that row)."""

    line: int
    seq: int | None
    mark: int
    holders: tuple[tuple[int, Position], ...]  # (account, position) by account id, the liquidation engine first
    residue: int = 0  # Σ "funding residue" movements the log attributes to this symbol
    residue_line: int | None = None  # the first of them
    residue_seq: int | None = None


@attrs.define
class Instant:
    """What the current instant did (reset at its end)."""

    first_line: int = 0
    oi_since: dict[str, int] = attrs.Factory(dict)  # symbol -> line its open interest stopped balancing
    gap_since: dict[str, int] = attrs.Factory(dict)  # asset -> line funds stopped balancing
    held_since: dict[str, int] = attrs.Factory(dict)  # asset -> line the liquidation engine's wallet left zero
    waterfall: bool = False  # a liquidation or ADL happened
    marked: int = 0  # line of the instant's first mark row (its waterfall, even an empty one, must complete)
    # a mark row moved a mark, or stated one at a new timestamp (not a restatement of the mark already in force at
    # this timestamp, as perpspec writes at the end of each step): the update that ends a carry's exemption
    updated: bool = False
    # a trader's fill (not a close-out's maker) before the instant's first waterfall record: its waterfall records are
    # a trade's take-over (LIQ-034 at a trade: only pools its fills touched), not the update a carry waits for unless
    # a mark moved (Auditor.is_update)
    pre_fills: set[int] = attrs.Factory(set)  # accounts with a trade fill before the instant's first waterfall record
    close_out_makers: set[int] = attrs.Factory(set)  # makers of the instant's close-out fills (LIQ-024)
    carried: dict[tuple[int, str], int] = attrs.Factory(dict)  # (account, asset) a carry names -> its line (LIQ-034)
    # (account, asset) whose close-out an accepted ADL shortfall carries over (ADL-021) -> the shortfall's line
    short: dict[tuple[int, str], int] = attrs.Factory(dict)
    liquidation_records: int = 0  # LIQ-020..023 records of a liquidation: at least one per pool liquidated
    # symbol -> (mark its first waterfall record judged at, its line, whether the log had stated that mark in force)
    marks: dict[str, tuple[int, int, bool]] = attrs.Factory(dict)
    unsure_marks: set[tuple[str, int]] = attrs.Factory(set)  # (symbol, line) of a judged mark listed as not judged
    adl_groups: dict[int, list[tuple[int, AdlFill]]] = attrs.Factory(dict)  # pending id -> (line, fill)
    funding: list[Payment] = attrs.Factory(list)
    # symbol (Auditor.funding_symbol, not asset: redteam36_3) -> the fund's part (the engine's holdings), the residue
    funding_fund: dict[str, int] = attrs.Factory(dict)
    funding_residue: dict[str, int] = attrs.Factory(dict)
    funding_open: dict[str, FundingSnapshot] = attrs.Factory(dict)  # symbol -> its funding instant's snapshot
    reported: dict[tuple[int, str], tuple[int, int | None, int, int | None]] = attrs.Factory(dict)
    touched: dict[int, int] = attrs.Factory(dict)  # account -> last line that changed it
    negative_since: dict[int, int] = attrs.Factory(dict)  # account -> line its equity at mark went below zero
    # account -> its wallets before the instant touched it, when it held no position then (None: it held one)
    flat_before: dict[int, dict[str, int] | None] = attrs.Factory(dict)
    records: list[object] = attrs.Factory(list)  # the waterfall's records of the instant (rules.events)
    adl_lines: dict[int, int] = attrs.Factory(dict)  # account -> line of its first ADL fill in the instant
    traded: set[int] = attrs.Factory(set)  # accounts with an execution in the instant (they had live orders)
    # trades charged no commission where ACC-002 wants one: fee-free if a partial liquidation (LIQ-022) made them
    unpaid: list[tuple[Finding, str, int, int]] = attrs.Factory(list)  # (finding, symbol, lastQty, lastPx)
    residual_account: tuple[int, str] | None = None  # the pool whose INS-011 movement is due
    rated: set[str] = attrs.Factory(set)  # symbols whose funding rate arrived within the instant
    # (account, symbol) -> (line, seq, liquidationPrice) of the instant's last position row naming one
    liq_prices: dict[tuple[int, str], tuple[int, int | None, int]] = attrs.Factory(dict)
    # what a funding instant with no posting pays on (redteam31_3, redteam33_1/2), over the instant's *waterfall run*:
    # its rows since the last plain trade (a FundingTick's own rows hold none: a trade before a waterfall record, or
    # before the rate's row, belongs to an earlier command).  ``before``: each position a waterfall record of the run
    # changed (a take-over, a close-out fill and its maker's execution, an ADL fill, a partial liquidation's fills),
    # as it was before its first change; ``taken_first``: the contracts of the pools liquidated (LIQ-022/023) before
    # the run's first close-out fill or ADL -- FND-020's waterfall before the payments (TickStart) -- or in any round of
    # a take-over at a trade (redteam35_5, :meth:`liquidate`)
    before: dict[tuple[int, str], Position] = attrs.Factory(dict)
    worked: bool = False  # a close-out fill (LIQ-024) or an ADL fill came in the run
    taken_first: set[str] = attrs.Factory(set)
    unclaimed: list[Execution] = attrs.Factory(list)  # trade executions no waterfall record has claimed yet
    plain: bool = False  # an unclaimed execution was let go (MAX_UNCLAIMED): a plain trade came since the last record
    # contracts a mark row of the run named before its first waterfall record (a PriceUpdate's waterfall; a mark row
    # after the run's waterfall rows is no evidence that the run was an update's, redteam34_2)
    run_marked: set[str] = attrs.Factory(set)
    # the run has a start an earlier command can explain: a mark row before its first waterfall record (a PriceUpdate)
    # or a plain trade it restarted at (a take-over at a trade); a run opened by neither, with waterfall work, is a
    # FundingTick's (nothing else writes waterfall rows unopened), and a plain trade after them does not restart it
    # (redteam34_1: the rows before it are the tick's, its payments are judged over the holders they rolled back)
    explained: bool = False
    mark_open: bool = False  # a mark row came and no waterfall record since: trades now are the update's (redteam34_3)
    # the run was opened by a plain trade (not a mark row): a take-over at that trade liquidates a pool (LIQ-022/023)
    # before any close-out fill or ADL; a run whose first work is a close-out fill or an ADL is no take-over at a
    # trade (it never works a held close-out first), so a FundingTick's: no longer explained (:meth:`work`); nor is
    # one that works a close-out taken over in an earlier instant at all (it works only its own, redteam35_2)
    by_trade: bool = False
    line: int = 0  # the row being read (Auditor.feed_one)
    # the line of the record at which :meth:`claim` last restarted the run at a plain trade: a close-out taken over
    # before it is held (Auditor.is_held), whatever command of the millisecond took it (redteam36_1)
    run_line: int = 0
    # an unclaimed execution was let go (MAX_UNCLAIMED) while the run had waterfall work: the run's start is not known,
    # FND-008 over its holders is not judged (a restart would judge the end, redteam34_1)
    start_unknown: bool = False

    def trade(self, execution: Execution) -> None:
        """A trade execution, unclaimed until a waterfall record claims it (the oldest let go beyond MAX_UNCLAIMED)."""
        self.unclaimed.append(execution)
        if len(self.unclaimed) > MAX_UNCLAIMED:
            del self.unclaimed[0]
            self.plain = True

    def has_work(self) -> bool:
        """A waterfall record of the run changed a position or liquidated a pool."""
        return bool(self.before) or self.worked or bool(self.taken_first)

    def claim(self, matches: Sequence[Callable[[Execution], bool]] = ()) -> None:
        """A waterfall record (or a mark row, the rate's row, the instant's end, claiming nothing): the trade
        executions since the last one that are its own -- each of ``matches`` claims the latest unclaimed execution
        it accepts (a close-out's maker, a partial liquidation's fills) -- join the run; if any is left unclaimed, it
        was a plain trade, of an earlier command (a FundingTick writes none): the run starts afresh after it -- unless
        the run has waterfall work and nothing an earlier command did opened it (:attr:`explained`): then those rows
        are a FundingTick's, and kept (redteam34_1).  A restart by trades that came after the run's mark row with no
        waterfall record between (the update's triggered stops) keeps the mark (redteam34_3).  Executions let go
        (MAX_UNCLAIMED) do not restart a run: with waterfall work, its start is then unknown (:attr:`start_unknown`)."""
        rows, overflow, self.unclaimed, self.plain = self.unclaimed, self.plain, [], False
        claimed: set[int] = set()
        for match in matches:
            found = [i for i, row in enumerate(rows) if i not in claimed and match(row)]
            if found:
                claimed.add(found[-1])
        if overflow and self.has_work():
            self.start_unknown = True
        if len(claimed) < len(rows) and (self.explained or not self.has_work()):  # a plain trade before this record
            self.before, self.worked, self.taken_first = {}, False, set()
            self.run_marked = self.run_marked if self.mark_open else set()
            self.explained, self.start_unknown = True, False  # opened by a plain trade: a take-over at a trade may follow
            self.by_trade = not self.mark_open  # trades right after a mark row are the update's (its stops)
            self.run_line = self.line
        for i in sorted(claimed):
            account, symbol, _, _, position = rows[i]
            self.before.setdefault((account, symbol), position)
        self.mark_open = False

    def work(self, matches: Sequence[Callable[[Execution], bool]] = (), held: bool = False) -> None:
        """A close-out fill (LIQ-024) or an ADL fill: :meth:`claim`; first in a run a plain trade opened (no pool
        liquidated before it), it is no take-over at that trade: the run is a FundingTick's, opened by nothing.
        ``held``: it works a close-out taken over in an earlier instant; a take-over at a trade works only the
        close-outs it makes (``Waterfall.take_over`` holds every earlier one back, take_over_stuck), so in a run a
        plain trade opened it is a FundingTick's work too, wherever it comes (redteam35_2: a tick's waterfall after
        its payments that liquidates a carried pool of another contract first)."""
        if held and self.by_trade:
            self.explained = self.by_trade = False  # before the claim: a plain trade before it restarts nothing
        self.claim(matches)
        if self.by_trade and not self.worked and not self.taken_first:
            self.explained = self.by_trade = False
        self.worked = True

    def liquidate(self, symbols: Iterable[str]) -> None:
        """A pool liquidated (LIQ-022/023, after :meth:`claim`) holding ``symbols``: FND-020's waterfall before a
        funding instant's payments when no close-out fill or ADL came in the run yet; and in a run that is a
        take-over at a trade (opened by a plain trade, still explained), every round of it, not only the first
        (redteam35_5: a second round's pool, due after the first round's close-out fills, is the trade's too, and its
        contracts' holders at the end are what a tick after it paid on)."""
        if not self.worked or (self.by_trade and self.explained):
            self.taken_first.update(symbols)

    def on_mark(self, symbol: str) -> None:
        """A mark row (after :meth:`claim`): it opens the run, and counts for it, only before the run's first waterfall
        record (redteam34_2: one placed after a tick's waterfall rows switched the tick's leniency on)."""
        if not self.has_work():
            self.run_marked.add(symbol)
            self.explained = self.mark_open = True
            self.by_trade = False

    def end_run(self) -> None:
        """A rate row: a funding instant's run ends at it, whatever the contract (another contract's tick's waterfall
        may work this one's close-outs: a tick of this contract after it must not roll them back); the next run starts
        opened by nothing."""
        self.claim()
        self.before, self.worked, self.taken_first, self.run_marked = {}, False, set(), set()
        self.explained = self.mark_open = self.start_unknown = self.by_trade = False


@attrs.frozen
class TickStart:
    """A closed instant as a funding row after it needs it (redteam31_3): its timestamp, the positions it changed as
    they were at its start, and the contracts FND-020's waterfall before the payments liquidated a pool of."""

    timestamp: object
    before: dict[tuple[int, str], Position]
    taken_first: frozenset[str]
    marked: frozenset[str] = frozenset()  # contracts a mark row of its run named
    start_unknown: bool = False  # its run let trade executions go (MAX_UNCLAIMED) with waterfall work


def get_funding_snapshot(
    ledger: Ledger, symbol: str, line: int, seq: int | None, before: Mapping[tuple[int, str], Position] | None = None
) -> FundingSnapshot:
    """The holders of ``symbol`` as the engine funds them (``engine/core/prices.py``): the traders by account id, and
    every position the liquidation engine holds (its close-outs, accounts below 0) summed into one holder, account
    −1, first; at the ledger's mark.  ``before``: positions to read as they were earlier (the instant's start), in
    place of the ledger's now."""
    changed = {} if before is None else before
    accounts = sorted(ledger.holders | {account for account, held in changed if held == symbol})
    held = [
        (account, changed[(account, symbol)] if (account, symbol) in changed else ledger.position(account, symbol))
        for account in accounts
    ]
    held = [(account, position) for account, position in held if position.qty != 0]
    system = [position for account, position in held if account < 0]
    holders = tuple((account, position) for account, position in held if account >= 0)
    qty = sum(position.qty for position in system)
    if qty != 0:
        holders = ((LIQUIDATOR, Position(qty=qty, cost=sum(position.cost for position in system))), *holders)
    return FundingSnapshot(line=line, seq=seq, mark=ledger.mark_price(symbol), holders=holders)


def get_tick_before(now: Instant, previous: TickStart | None, line: int, timestamp: object, symbol: str,
                    end_rows: bool = False) -> tuple[dict[tuple[int, str], Position], bool]:
    """The positions to roll back to find the holders a funding instant of ``symbol`` with no posting paid on (none
    of them owed anything; redteam31_3), at its rate's row (``line``), the instant's run claimed (:meth:`Instant.claim`).

    The engine (``Prices.funding``) takes every pool holding the contract that is due over first (FND-020, a
    waterfall that liquidates them and works the close-outs), pays the holders then, and runs the waterfall again:
    its close-out fills can give makers positions after the payments.  The tick's rows are waterfall records and the
    fills they explain, never a plain trade, and its rate's row follows them: so they are the *run* of the instant
    of the rate's row (or, with the row opening one, of the instant just closed at its timestamp) -- its rows since
    its last plain trade, whole when the engine ends each command with an end row.  A plain trade at the tick's
    millisecond came before the tick, and the tick paid on what it left (redteam33_1: rolling it back judged a tick
    whose payments were left out over the holders before it, flat; redteam33_2: it reported an honest tick that
    found them flat).  The holders are those at the run's start (the positions its waterfall records changed, rolled
    back), unless the run liquidated a pool holding the contract before its first close-out fill or ADL: then
    FND-020's waterfall ran before the payments, and with nothing posted the waterfall after it found nothing new to
    do, so the holders are those at the end (the ledger's now: nothing to roll back).  A waterfall after the payments
    liquidates no pool holding the contract before working a close-out: none was due at the tick (FND-020 would
    have taken it over first) and nothing was posted.

    Also whether a mark row, of any contract, opened the run: without end rows, a PriceUpdate's waterfall at the
    tick's millisecond cannot be told from the tick's own, and after a PriceUpdate's waterfall a tick posting nothing
    finds nothing new to do, so the holders at the end are an honest reading too (:func:`pays_nothing`); an update's
    waterfall works every contract's close-outs, so another contract's mark row counts (redteam35_3).

    With ``end_rows`` (the log ends each command with one), a rate row follows its tick's end row at once: rows of
    no waterfall work between them (a mark row, redteam34_2's forged F) belong to no command of the tick's and are
    not its run; the instant just closed is read as if the rate row opened the instant (and an instant with no
    waterfall record and no rate row does not replace it, :meth:`Auditor.close_instant`, redteam35_4)."""
    if now.first_line != line and (now.has_work() or not end_rows):
        return ({}, False) if symbol in now.taken_first else (now.before, bool(now.run_marked))
    if previous is not None and previous.timestamp == timestamp and symbol not in previous.taken_first:
        return previous.before, bool(previous.marked)
    return {}, False


def is_start_unknown(now: Instant, previous: TickStart | None, line: int, timestamp: object, end_rows: bool = False
                     ) -> bool:
    """The run a funding instant's rate row at ``line`` closes (as :func:`get_tick_before` reads it) let trade
    executions go unclaimed (MAX_UNCLAIMED) while it had waterfall work: the holders at its start are not known."""
    if now.first_line != line and (now.has_work() or not end_rows):
        return now.start_unknown
    return previous is not None and previous.timestamp == timestamp and previous.start_unknown


def get_funding_symbol(instruments: Mapping[str, Instrument], named: object, funded: Iterable[str], asset: str
                       ) -> str | None:
    """The contract a fund's funding or residue movement of ``asset`` belongs to: the symbol it names (``named``), or
    else the last one of its currency in ``funded`` (the instant's funding instants opened, with ``--rules``; without,
    the contracts paid) -- None: none, not attributed.  Two ticks of one currency at one millisecond are one instant
    without end rows: each contract's zero sum takes only its own fund part and residue (redteam36_3: summed per
    asset, each was charged the other's)."""
    if isinstance(named, str) and named in instruments and instruments[named].settl_currency == asset:
        return named
    open_here = [s for s in funded if instruments[s].settl_currency == asset]
    return open_here[-1] if open_here else None


def pays_nothing(inst: Instrument, snap: FundingSnapshot, rate: int) -> bool:
    """FND-008 over ``snap``'s holders at ``rate`` pays nobody anything (no holder, or every payment 0)."""
    if not snap.holders:
        return True
    exchange = compute_funding_exchange(inst, snap.holders, snap.mark, rate) if snap.mark > 0 else None
    return exchange is not None and not any(payment for _, payment in exchange.payments)


def get_partial_fills(record: PartialLiquidation) -> list[Callable[[Execution], bool]]:
    """The trade executions a filled partial liquidation (LIQ-022) explains, written before its record: for each of
    its fills, the liquidated account's FillOrKill side and one maker's, at that quantity and price."""
    account, symbol = record.account_id, record.symbol

    def side(qty: int, price: int, own: bool) -> Callable[[Execution], bool]:
        return lambda row: (row[0] == account) == own and row[1] == symbol and abs(row[2]) == abs(qty) and row[3] == price

    return [side(qty, price, own) for qty, price in record.fills for own in (True, False)]


def get_pool_symbols(instruments: Mapping[str, Instrument], pool: str, line: int) -> tuple[str, list[str]]:
    """A pool name (``cross:<currency>`` or ``isolated:<symbol>``, as LIQ-023 names it): its currency and contracts."""
    mode, _, name = pool.partition(":")
    if mode == "isolated" and name in instruments:
        return instruments[name].settl_currency, [name]
    if mode == "cross" and name:
        return name, sorted(s for s, inst in instruments.items() if inst.settl_currency == name)
    raise LogError(line, "pools", f"expected cross:<currency> or isolated:<known symbol>, got {pool!r}")


def get_carried_pools(
    ledger: Ledger, instruments: Mapping[str, Instrument], r: Mapping[str, Any], line: int, liquidation_records: int
) -> tuple[dict[tuple[int, str], int], list[str]]:
    """LIQ-034: the (account, currency) pairs a ``waterfall_carried`` record licenses, and what is wrong with it.

    ``liquidation_records``: the instant's liquidation records so far; a budget of N spent means N pools
    liquidated, each leaving one or more, so fewer than ``max_liquidations`` voids the whole record.  The budget
    must be stated and at least 1 (session 17, review14_2: a record with none, or 0, claimed nothing spent and
    was accepted with no liquidation at all in its instant).
    """
    accounts, pools = r["account_ids"], r["pools"]
    if r["pools_due"] != len(accounts) or len(accounts) != len(pools):
        raise LogError(line, "pools_due", f"{r['pools_due']} pools due, {len(accounts)} accounts, {len(pools)} pools")
    if not pools:
        return {}, [f"{r['symbol']}: a carried waterfall names no pool still due (nothing was cut)"]
    budget = r.get("max_liquidations")
    if budget is None or budget < 1:
        return {}, [f"{r['symbol']}: a carried waterfall must state the budget it spent (max_liquidations >= 1), "
                    f"got {budget}"]
    if liquidation_records < budget:
        return {}, [f"{r['symbol']}: a budget of {budget} liquidations said spent, {liquidation_records} in the instant"]
    licensed: dict[tuple[int, str], int] = {}
    problems = []
    for account, pool in zip(accounts, pools, strict=True):
        asset, symbols = get_pool_symbols(instruments, pool, line)
        held = ledger.positions(account)
        if any(held.get(symbol, Position(qty=0, cost=0)).qty != 0 for symbol in symbols):
            licensed[(account, asset)] = line
        else:
            problems.append(f"account {account} {pool}: carried as due, but the pool holds no position")
    return licensed, problems


@attrs.frozen(kw_only=True)
class CloseOut:
    """A position the liquidation engine took over (LIQ-023): whose it was, and the price it was taken at."""

    owner: int
    symbol: str
    takeover_price: int
    line: int = 0  # the log line of its take-over


def get_eligible_opposing(
    ledger: Ledger, instruments: Mapping[str, Instrument], symbol: str, close_out_qty: int, takeover_price: int,
    undecided: list[str] | None = None,
) -> list[str]:
    """ADL-003 over the ledger: the opposing positions in ``symbol`` certainly eligible against the close-out.

    Only a position whose pool the ledger can value is judged: a cross position of an account with no isolated
    position in that currency (the pool is then the account's equity at mark, in that currency alone); an isolated
    pool's margin is not in the log, so such an account is never named.  A position settled in that currency the log
    states no mark for is bounded (:func:`get_equity_bounds`; ADL-003 is monotone in the pool's equity): the account is
    named when eligible at the least its equity can be.  Each opposing account left undecided so (an isolated pool, or
    a bound that decides nothing, or no mark for ``symbol`` itself) is added to ``undecided``, when given, unless its
    position loses at the take-over price (not eligible whatever its pool: decided).
    """
    inst = instruments[symbol]
    asset, mark = inst.settl_currency, ledger.mark_price(symbol)
    eligible = []
    for account in sorted(ledger.holders):
        position = ledger.position(account, symbol)
        if account < 0 or position.qty * close_out_qty >= 0:
            continue
        least = None if ledger.has_isolated(account, asset) or mark <= 0 else get_equity_bounds(ledger, account, asset)[0]
        if least is not None and is_adl_eligible(inst, position.qty, position.cost, least, mark, close_out_qty,
                                                 takeover_price):
            unmarked = get_unmarked(ledger, account, asset)
            at = f"at least {least} ({', '.join(unmarked)} without a mark)" if unmarked else str(least)
            eligible.append(f"account {account} holds {position.qty} (pool equity {at} at mark {mark})")
        # one losing at the take-over price is not eligible whatever its pool (ADL-003): decided, not handed back
        elif undecided is not None and compute_value(inst, position.qty, takeover_price) >= position.cost and (
                least is None or get_unmarked(ledger, account, asset)):
            why = "an isolated pool" if ledger.has_isolated(account, asset) else "a contract without a mark"
            undecided.append(f"account {account} holds {position.qty} ({why})")
    return eligible


def get_shortfall_problems(
    ledger: Ledger, instruments: Mapping[str, Instrument], r: Mapping[str, Any], close_out: CloseOut | None,
    account: int, undecided: list[str] | None = None,
) -> list[str]:
    """ADL-021: what is wrong with an ``adl_shortfall`` record for a close-out held in ledger account ``account``.

    ``close_out``: the take-over the log reported (None: before the log began, nothing to check it against);
    ``undecided``, when given, receives the opposing positions whose eligibility the log cannot decide.
    """
    if close_out is None:
        return []
    pending, symbol, unfilled = r["pending_id"], r["symbol"], r["unfilled_qty"]
    if close_out.symbol != symbol:
        return [f"close-out {pending} is {close_out.symbol}, the shortfall names {symbol}"]
    held = ledger.position(account, symbol).qty
    if held == 0 or abs(held) != unfilled:
        return [f"close-out {pending} {symbol}: {unfilled} contracts said left without a taker, the close-out holds "
                f"{held}"]
    eligible = get_eligible_opposing(ledger, instruments, symbol, held, close_out.takeover_price, undecided)
    if not eligible:
        return []
    more = f" and {len(eligible) - MAX_EVIDENCE} more" if len(eligible) > MAX_EVIDENCE else ""
    named = "; ".join(eligible[:MAX_EVIDENCE])
    return [f"close-out {pending} {symbol}: {unfilled} contracts left without a taker, but eligible opposing "
            f"positions remain (ADL-003 at the take-over price {close_out.takeover_price}): {named}{more}"]
