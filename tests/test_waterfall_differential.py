"""LIQ-034 differential: the engine's waterfall (engine/core/exchange.py) against the rules-level one (rules/waterfall.py).

Both implementations sequence the same rule kernels (LIQ-023 take-over,
LIQ-024/INS-005 close-out in the book, INS-011 residual, ADL-031 deferral,
ADL-020 deleveraging); DESIGN says the engine executes exactly the rule
transitions.  This test builds one exchange state, applies one sharp mark
update in both worlds and compares what both define the same way:

* which (account, pool) were taken over, what each take-over held and at which
  price (the bankruptcy price for the pool's largest position, the mark for the
  others), and the pool's residual margin;
* per close-out (keyed by the liquidated account and contract, since pending
  ids depend on the liquidation order): the book fills (maker, qty, price,
  fund delta), the ADL fills (account, qty, price, rank) in order, and what was
  deferred (ADL-031) or left without a taker (ADL-021);
* the insurance fund, the fee pool, every account's wallets and positions
  (qty, cost), the liquidation engine's held positions;
* every registered invariant (rules.invariants.check_all) on both end states.

How the SAME state is built: the engine is driven through its commands
(VerifyAccount, Deposit, DepositInsurance, SetLeverage, PlaceOrder, CancelAll,
PriceUpdate) — traders open cross or isolated positions by trading with each
other at the starting mark, a well-funded maker then rests one bid and one ask
per price level — and the rules-level :class:`rules.waterfall.Ledger` and
:class:`rules.waterfall.Book` are read off the engine's state (wallets,
positions, leverage, isolated margin, chosen tier, fund, fees, net deposits,
the maker's resting orders).  Reading the state off the engine rather than
replaying the trades with ``apply_scenario_trade`` is deliberate: the engine
charges the maker fee to the resting side, the helper the taker fee to both,
so replayed wallets would differ by fees before the waterfall even starts.

Restrictions (states where the two models are not defined the same way, so a
difference there is not a disagreement):

* No position above its base risk limit and no chosen risk limit above the
  base (generated cases outside are rejected with ``assume``): the partial
  liquidation paths differ by model — the engine settles the FillOrKill
  fill-by-fill through its book (documented), and LIQ-021's fitting tier is
  computed from ``|cost|`` by the engine but from ``|cost| + open order value``
  by the rules.  With tier 0 everywhere neither path can act in either model.
* Only the maker rests orders, one order per price level: the rules' book is
  a list of (price, qty, maker) levels given as input, whereas the engine
  aggregates a level's orders; traders' own orders (cancelled on liquidation
  in the engine, abstracted to a quantity in the rules) are not generated.
* The maker holds no position before the update and is funded far beyond
  any fill: the rules' book is an input that the engine's ADL-side order
  cancellation (LIQ-020 on a deleveraged maker) cannot shrink, and the rules
  repeat rounds when a maker falls below maintenance while the engine runs
  one pass per contract.
* One mark update only, on the contract the update names.
* Fee and commission: no fee is charged by either model during the
  waterfall (liquidation and ADL fills pay none); the fee pool built by the
  opening trades is the same number in both.

Disagreements found, all resolved (each kept as a regression at the end of
this module; every case now compares everything summarised above):

1. liquidation order: the engine took pools in its liquidation-index order,
   the rules by account id.  Resolved in the rules: LIQ-033 orders the pools
   due as the index does — the moved contract first, then the others by
   symbol; longs from the highest liquidation price down, then shorts from
   the lowest up; ties by account — the order a continuously moving mark
   would have reached them;
2. close-out order: the engine closed out contract by contract, the moved
   contract first, the rules in take-over order.  Resolved in the engine:
   LIQ-034 liquidates every pool due, then works all close-outs in take-over
   (pending id) order, in both;
3. isolated margin after a partial ADL close: the rules kept margin +
   realised PnL in the pool, the engine the requirement of the rest + the
   extra, releasing the rest to the wallet.  Resolved in the rules: ACC-006
   is the engine's model, for every fill;
4. the engine's extra rounds retried a close-out already deferred (ADL-031)
   in the same update; the engine now keeps a ``stuck`` set like the rules.

A gap both models shared, found by the two-contract strategy, resolved in
both (regression at the end): a cross pool whose deficit exceeded what its
primary position's clamped bankruptcy price could absorb left the flat
account with a negative wallet beyond the fund; LIQ-035 now takes the pool's
other positions over beyond the mark as far as the deficit needs, so the
liquidation engine, not the trader, holds the loss.

Statistics: run with ``--hypothesis-show-statistics`` to see, via ``event()``,
how many compared cases reached a take-over, a book close-out, ADL, deferral.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import pytest
from hypothesis import assume, event, given, note, settings
from hypothesis import strategies as st

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.adl import POLICIES
from perpspec.rules.contract import compute_notional
from perpspec.rules.events import (
    AdlDeferred,
    AdlFill,
    AdlShortfall,
    Liquidation,
    LiquidationFill,
    PartialLiquidation,
    WaterfallCarried,
)
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.insurance import InsuranceFund
from perpspec.rules.invariants import ExchangeView, StepInfo, check_all
from perpspec.rules.liquidation import compute_requirement
from perpspec.rules.position import Position
from perpspec.rules.waterfall import (
    MAX_LIQUIDATIONS_PER_UPDATE,
    Book,
    BookLevel,
    Holding,
    Ledger,
    WaterfallResult,
    process_waterfall,
)

SYMBOL_SETS = (("XBTUSD",), ("ETHUSD",), ("XBTUSDT",), ("ETHUSD", "XBTUSD"), ("XBTUSD", "XBTUSDT"))
INSTRUMENTS = {symbol: load_instrument(symbol) for symbol in ("XBTUSD", "ETHUSD", "XBTUSDT")}
START_MARK = {"XBTUSD": 5_000_000, "ETHUSD": 300_000, "XBTUSDT": 5_000_000}
UNIT = {"XBt": 10**8, "USDt": 50_000 * 10**6}  # one "deposit unit": 1 XBT, 50,000 USDT
MAKER = 100
MAKER_UNITS = 10_000
LIQUIDATOR = -1


# -- the scenario --------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Trade:
    buyer: int
    seller: int
    symbol: str
    share_ppm: int  # notional as a share of one deposit unit, in ppm (leverage × 1e6)


@attrs.frozen(kw_only=True)
class Scenario:
    symbols: tuple[str, ...]
    deposits_ppm: tuple[int, ...]  # per trader (ids 1..n), share of a deposit unit
    leverages: tuple[tuple[int, ...], ...]  # per trader, per symbol: 0 cross or isolated hundredths
    trades: tuple[Trade, ...]
    levels: tuple[tuple[int, int], ...]  # maker quotes: (distance in ticks × 10, size in lots of 10% of a unit)
    fund: int  # insurance deposit in units of 1e-4 of a deposit unit (0: none)
    moved: str
    move_ppm: int
    policy: str


@st.composite
def scenarios(draw: st.DrawFn, symbol_sets: Sequence[tuple[str, ...]] = SYMBOL_SETS, cross_share: int = 2) -> Scenario:
    """``cross_share``: cross drawn ``cross_share`` times out of ``cross_share + 4`` per trader and contract."""
    symbols = draw(st.sampled_from(symbol_sets))
    traders = draw(st.integers(min_value=2, max_value=5))
    deposits = tuple(draw(st.integers(min_value=20_000, max_value=1_000_000)) for _ in range(traders))
    modes = (0,) * cross_share + (1_000, 2_000, 2_500, 5_000)
    leverages = tuple(tuple(draw(st.sampled_from(modes)) for _ in symbols) for _ in range(traders))
    trades = []
    for _ in range(draw(st.integers(min_value=1, max_value=5 + 2 * (len(symbols) - 1)))):
        buyer = draw(st.integers(min_value=1, max_value=traders))
        seller = (buyer + draw(st.integers(min_value=0, max_value=traders - 2))) % traders + 1  # any other trader
        trades.append(
            Trade(
                buyer=buyer,
                seller=seller,
                symbol=draw(st.sampled_from(symbols)),
                share_ppm=draw(st.sampled_from((500_000, 2_000_000, 5_000_000, 10_000_000, 20_000_000))),
            )
        )
    levels = tuple(
        draw(
            st.lists(
                st.tuples(st.integers(min_value=0, max_value=60), st.integers(min_value=1, max_value=30)),
                max_size=4,
                unique_by=lambda level: level[0],
            )
        )
    )
    return Scenario(
        symbols=symbols,
        deposits_ppm=deposits,
        leverages=leverages,
        trades=tuple(trades),
        levels=levels,
        fund=draw(st.sampled_from((0, 1, 100, 10_000))),
        moved=draw(st.sampled_from(symbols)),
        move_ppm=draw(
            st.one_of(
                st.integers(min_value=-400_000, max_value=-40_000),
                st.integers(min_value=40_000, max_value=400_000),
            )
        ),
        policy=draw(st.sampled_from(sorted(POLICIES))),
    )


def _lots(symbol: str, value: int) -> int:
    """Whole lots worth about ``value`` (settlement minor units) at the starting mark; at least one lot."""
    inst = INSTRUMENTS[symbol]
    per_lot = max(compute_notional(inst, inst.lot_size, START_MARK[symbol]), 1)
    return max(1, value // per_lot) * inst.lot_size


def build_engine(scenario: Scenario) -> Engine:
    """The opening state through the engine's commands."""
    engine = Engine({symbol: INSTRUMENTS[symbol] for symbol in scenario.symbols}, adl_policy=scenario.policy)
    engine.track_steps = True
    for symbol in scenario.symbols:
        engine.process(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=START_MARK[symbol], index_price=START_MARK[symbol]))
    assets = sorted({INSTRUMENTS[symbol].settl_currency for symbol in scenario.symbols})
    for account in (*range(1, len(scenario.deposits_ppm) + 1), MAKER):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        for asset in assets:
            share = MAKER_UNITS * 1_000_000 if account == MAKER else scenario.deposits_ppm[account - 1]
            engine.process(c.Deposit(time_ms=0, account=account, asset=asset, amount=UNIT[asset] * share // 1_000_000))
    for index, per_symbol in enumerate(scenario.leverages):
        for symbol, leverage in zip(scenario.symbols, per_symbol, strict=True):
            if leverage:
                engine.process(c.SetLeverage(time_ms=0, account=index + 1, symbol=symbol, leverage_hundredths=leverage))
    if scenario.fund:
        for asset in assets:
            engine.process(c.DepositInsurance(time_ms=0, asset=asset, amount=UNIT[asset] * scenario.fund // 10_000))
    for trade in scenario.trades:
        asset = INSTRUMENTS[trade.symbol].settl_currency
        qty = _lots(trade.symbol, UNIT[asset] * trade.share_ppm // 10_000_000)  # a tenth of the share
        price = START_MARK[trade.symbol]
        engine.process(c.PlaceOrder(time_ms=0, account=trade.seller, symbol=trade.symbol, side="Sell", order_qty=qty, price=price))
        engine.process(c.PlaceOrder(time_ms=0, account=trade.buyer, symbol=trade.symbol, side="Buy", order_qty=qty, price=price))
        for account in (trade.seller, trade.buyer):  # what did not trade does not rest
            engine.process(c.CancelAll(time_ms=0, account=account))
    for symbol in scenario.symbols:
        inst = INSTRUMENTS[symbol]
        mark = START_MARK[symbol]
        for distance, size in scenario.levels:
            qty = size * _lots(symbol, UNIT[inst.settl_currency] // 10)
            offset = (distance + 1) * 10 * inst.tick_size
            engine.process(c.PlaceOrder(time_ms=0, account=MAKER, symbol=symbol, side="Buy", order_qty=qty, price=max(inst.tick_size, mark - offset)))
            engine.process(c.PlaceOrder(time_ms=0, account=MAKER, symbol=symbol, side="Sell", order_qty=qty, price=mark + offset))
    return engine


def ledger_of(engine: Engine) -> tuple[Ledger, dict[str, Book]]:
    """The engine's state as a rules-level Ledger and Book (only the maker rests orders)."""
    assets = engine.assets()
    wallets: dict[tuple[int, str], int] = {}
    holdings: dict[tuple[int, str], Holding] = {}
    for account_id in engine.account_ids():
        if account_id < 0:
            continue
        account = engine.accounts[account_id]
        for asset in assets:
            wallets[(account_id, asset)] = engine.wallet(account_id, asset)
        for symbol, ps in sorted(account.positions.items()):
            holdings[(account_id, symbol)] = Holding(
                position=Position(qty=ps.qty, cost=ps.cost),
                leverage_hundredths=ps.leverage,
                isolated_margin=ps.iso_margin,
                chosen_tier=ps.chosen_tier,
                open_order_qty=sum(abs(leaves) for leaves, _ in ps.orders.values()),
            )
    books: dict[str, Book] = {}
    for symbol in engine.instrument_map:
        resting = [order for order in engine.open_orders(MAKER) if order.symbol == symbol]
        bids = sorted((o for o in resting if o.qty > 0), key=lambda o: -o.price)
        asks = sorted((o for o in resting if o.qty < 0), key=lambda o: o.price)
        books[symbol] = Book(
            bids=tuple(BookLevel(price=o.price, qty=o.qty, maker_account_id=MAKER) for o in bids),
            asks=tuple(BookLevel(price=o.price, qty=-o.qty, maker_account_id=MAKER) for o in asks),
        )
    ledger = Ledger(
        instrument_map=dict(engine.instrument_map),
        marks=dict(engine.marks),
        wallets=wallets,
        holdings=holdings,
        funds={asset: InsuranceFund(currency=asset, balance=engine.insurance(asset)) for asset in assets},
        fees={asset: engine.fee_pool(asset) for asset in assets},
        deposits={asset: engine.net_deposits(asset) for asset in assets},
        clock_ms=engine.time_ms,
    )
    return ledger, books


def flat_before(view: ExchangeView) -> tuple[tuple[int, str, int], ...]:
    return tuple(
        (account, asset, view.wallet(account, asset))
        for account in view.account_ids()
        if account >= 0 and not view.positions(account)
        for asset in view.assets()
    )


# -- what is compared ----------------------------------------------------------------------------


def summarise(records: Sequence[Any], view: ExchangeView) -> dict[str, Any]:
    """The outcome of one waterfall, keyed so that it does not depend on pending ids or pool order."""
    owner: dict[int, tuple[int, str]] = {}
    takeovers = []
    for record in records:
        if isinstance(record, Liquidation):
            for taken in record.taken:
                owner[taken.pending_id] = (record.account_id, taken.symbol)
            taken_rows = tuple(sorted((t.symbol, t.qty, t.cost, t.takeover_price) for t in record.taken))
            takeovers.append((record.account_id, record.pool, record.residual_margin, taken_rows))
    book_fills: dict[tuple[int, str], list[tuple[int, int, int, int]]] = {}
    adl_fills: dict[tuple[int, str], list[tuple[int, int, int, int]]] = {}
    left: dict[tuple[int, str], list[tuple[str, int]]] = {}
    closeout_order: list[tuple[int, str]] = []  # close-outs in the order they first met the book or ADL
    for record in records:
        if isinstance(record, (LiquidationFill, AdlFill, AdlDeferred, AdlShortfall)):
            first = owner.get(record.pending_id, (-1, record.symbol))
            if first not in closeout_order:
                closeout_order.append(first)
        if isinstance(record, LiquidationFill):
            row = (record.maker_account_id, record.qty, record.price, record.fund_delta)
            book_fills.setdefault(owner.get(record.pending_id, (-1, record.symbol)), []).append(row)
        elif isinstance(record, AdlFill):
            adl_row = (record.account_id, record.close_qty, record.price, record.rank)
            adl_fills.setdefault(owner.get(record.pending_id, (-1, record.symbol)), []).append(adl_row)
        elif isinstance(record, (AdlDeferred, AdlShortfall)):
            key = owner.get(record.pending_id, (-1, record.symbol))
            left.setdefault(key, []).append((type(record).__name__, record.unfilled_qty))
    # book fills at one price may be split differently (the engine fills order by order), so sum per price
    merged_book = {}
    for key, rows in book_fills.items():
        per_price: dict[int, list[int]] = {}
        for maker, qty, price, delta in rows:
            entry = per_price.setdefault(price, [maker, 0, 0])
            entry[1] += qty
            entry[2] += delta
        merged_book[key] = [(price, *entry) for price, entry in per_price.items()]
    return {
        "liquidation_order": [(r.account_id, r.pool) for r in records if isinstance(r, Liquidation)],
        "closeout_order": closeout_order,
        "takeovers": sorted(takeovers),
        "book_fills": dict(sorted(merged_book.items())),
        "adl_fills": dict(sorted(adl_fills.items())),
        "left_with_liquidator": {key: sorted(rows) for key, rows in sorted(left.items())},
        "left_events": sum(len(rows) for rows in left.values()),
        # LIQ-034: where the budget cut the waterfall, the pools still due (compared, never filtered)
        "carried": [
            (r.symbol, r.max_liquidations, r.pools_due, r.account_ids, r.pools)
            for r in records
            if isinstance(r, WaterfallCarried)
        ],
        "insurance": {asset: view.insurance(asset) for asset in view.assets()},
        "fees": {asset: view.fee_pool(asset) for asset in view.assets()},
        "wallets": {
            (account, asset): view.wallet(account, asset)
            for account in view.account_ids()
            if account >= 0
            for asset in view.assets()
        },
        "positions": {
            account: dict(sorted(view.positions(account).items())) for account in view.account_ids()
        },
    }


@attrs.frozen(kw_only=True)
class Outcome:
    engine: dict[str, Any]
    rules: dict[str, Any]
    engine_problems: dict[str, list[str]]
    rules_problems: dict[str, list[str]]
    result: WaterfallResult


def engine_isolated_margins(engine: Engine) -> dict[tuple[int, str], int]:
    return {
        (account_id, symbol): ps.iso_margin
        for account_id, account in sorted(engine.accounts.items())
        for symbol, ps in sorted(account.positions.items())
        if account_id >= 0 and ps.qty != 0 and ps.leverage != 0
    }


def ledger_isolated_margins(ledger: Ledger) -> dict[tuple[int, str], int]:
    return {
        key: holding.isolated_margin
        for key, holding in sorted(ledger.holdings.items())
        if holding.position.qty != 0 and holding.is_isolated
    }


def isolated_partially_deleveraged(records: Sequence[Any], ledger: Ledger) -> bool:
    """An ADL fill that reduced, without closing, an isolated position (the isolated-margin models differ)."""
    return any(
        isinstance(r, AdlFill)
        and ledger.holdings[(r.account_id, r.symbol)].is_isolated
        and r.close_qty != r.position_qty
        for r in records
    )


def run_both(scenario: Scenario, budget: int = MAX_LIQUIDATIONS_PER_UPDATE) -> Outcome | None:
    """Both waterfalls after the same mark update, each liquidating at most ``budget`` pools (LIQ-034).

    None when the state is outside the compared domain.
    """
    engine = build_engine(scenario)
    engine.max_liquidations_per_update = budget
    ledger, books = ledger_of(engine)
    for (account, symbol), holding in ledger.holdings.items():
        inst = ledger.instrument_map[symbol]
        req = compute_requirement(inst, holding.position, holding.leverage_hundredths, holding.chosen_tier)
        if req.steps != 0 or holding.chosen_tier != 0:
            return None  # partial liquidation differs by model (module docstring)
        if account != MAKER and holding.open_order_qty != 0:
            return None
    if ledger.positions(MAKER):
        return None
    opening = {k: v for k, v in check_all(ledger, StepInfo()).items() if v}
    assert opening == {}, opening  # the translated state is a valid rules-level state
    inst = INSTRUMENTS[scenario.moved]
    old = START_MARK[scenario.moved]
    mark = max(inst.tick_size, (old + old * scenario.move_ppm // 1_000_000) // inst.tick_size * inst.tick_size)
    flat = flat_before(ledger)
    moved = attrs.evolve(ledger, marks={**ledger.marks, scenario.moved: mark}, clock_ms=ledger.clock_ms + 1)
    result = process_waterfall(moved, books, POLICIES[scenario.policy], moved=scenario.moved, max_liquidations=budget)
    events = engine.process(c.PriceUpdate(time_ms=1, symbol=scenario.moved, mark_price=mark))
    records = [e.record for e in events if isinstance(e, RuleEvent)]
    rules_info = StepInfo(waterfall_events=result.events, flat_before=flat, waterfall_complete=result.complete)
    engine_summary = summarise(records, engine)
    engine_summary["isolated_margins"] = engine_isolated_margins(engine)
    rules_summary = summarise(result.events, result.ledger)
    rules_summary["isolated_margins"] = ledger_isolated_margins(result.ledger)
    return Outcome(
        engine=engine_summary,
        rules=rules_summary,
        engine_problems={k: v for k, v in check_all(engine, engine.step_info(events)).items() if v},
        rules_problems={k: v for k, v in check_all(result.ledger, rules_info).items() if v},
        result=result,
    )


def record_statistics(outcome: Outcome) -> None:
    kinds = {type(record).__name__ for record in outcome.result.events}
    event("compared")
    event(f"take-over reached: {Liquidation.__name__ in kinds}")
    event(f"book close-out reached: {LiquidationFill.__name__ in kinds}")
    event(f"ADL reached: {AdlFill.__name__ in kinds}")
    event(f"ADL deferred (ADL-031): {AdlDeferred.__name__ in kinds}")
    event(f"ADL shortfall (ADL-021): {AdlShortfall.__name__ in kinds}")
    event(f"budget spent, pools carried (LIQ-034): {WaterfallCarried.__name__ in kinds}")
    assert PartialLiquidation.__name__ not in kinds  # excluded by construction


def stranded_deficits(records: Sequence[Any], view: ExchangeView) -> set[int]:
    """Accounts taken over with a negative residual (LIQ-023) that end flat with a negative wallet."""
    owed = {r.account_id for r in records if isinstance(r, Liquidation) and r.residual_margin < 0}
    return {a for a in owed if not view.positions(a) and any(view.wallet(a, asset) < 0 for asset in view.assets())}


def check_scenario(scenario: Scenario, budget: int = MAX_LIQUIDATIONS_PER_UPDATE) -> None:
    outcome = run_both(scenario, budget)
    assume(outcome is not None)
    assert outcome is not None
    note(f"engine {outcome.engine}")
    note(f"rules  {outcome.rules}")
    record_statistics(outcome)
    if any(
        taken.takeover_price != outcome.result.ledger.marks[taken.symbol]
        for record in outcome.result.events
        if isinstance(record, Liquidation)
        for taken in record.taken[1:]
    ):
        event("a cross pool's other position taken over beyond the mark (LIQ-035)")
    assert (outcome.engine_problems, outcome.rules_problems) == ({}, {})
    if len(outcome.rules["liquidation_order"]) > 1:
        event("several pools liquidated (LIQ-033 order compared)")
    if len({symbol for _, symbol in outcome.rules["closeout_order"]}) > 1:
        event("close-outs in several contracts (LIQ-034 take-over order compared)")
    if isolated_partially_deleveraged(outcome.result.events, outcome.result.ledger):
        event("isolated position partially deleveraged (ACC-006 margin compared)")
    assert set(outcome.engine) == set(outcome.rules)
    for key in outcome.rules:  # everything: orders, fills, what was left, money, positions, isolated margins
        assert (key, outcome.engine[key]) == (key, outcome.rules[key])


@settings(max_examples=1_500)
@given(scenario=scenarios())
def test_engine_and_rules_waterfalls_agree_after_one_mark_update(scenario: Scenario) -> None:
    check_scenario(scenario)


@settings(max_examples=400)
@given(scenario=scenarios(), budget=st.integers(min_value=1, max_value=2))
def test_engine_and_rules_waterfalls_agree_when_the_budget_cuts(scenario: Scenario, budget: int) -> None:
    """LIQ-034 with a budget of 1–2 pools: where it runs out, both emit the same WaterfallCarried (compared)."""
    check_scenario(scenario, budget)


@pytest.mark.deep
@settings(max_examples=20_000)
@given(scenario=scenarios())
def test_engine_and_rules_waterfalls_agree_deep(scenario: Scenario) -> None:
    check_scenario(scenario)


# Cross pools spanning ETHUSD and XBTUSD (both settled in XBt) are where LIQ-033 (which contract a pool
# is found in) and LIQ-034 (close-outs of one pool in two contracts meeting one fund) matter most; the
# general strategy draws them rarely (~0.3% of cases close out in two contracts), this one ~10%.
TWO_CONTRACTS = (("ETHUSD", "XBTUSD"),)


@settings(max_examples=500)
@given(scenario=scenarios(symbol_sets=TWO_CONTRACTS, cross_share=12))
def test_engine_and_rules_agree_on_cross_pools_spanning_two_contracts(scenario: Scenario) -> None:
    check_scenario(scenario)


@pytest.mark.deep
@settings(max_examples=10_000)
@given(scenario=scenarios(symbol_sets=TWO_CONTRACTS, cross_share=12))
def test_engine_and_rules_agree_on_cross_pools_spanning_two_contracts_deep(scenario: Scenario) -> None:
    check_scenario(scenario)


# -- disagreements found, resolved, kept as regressions ---------------------------------------------

# Two cross longs in XBTUSD, both below maintenance after a 4% drop, an empty book, an empty fund,
# pro-rata ADL. rules/waterfall.py used to take pools over "accounts by id" (account 1, then 2), the
# engine in its liquidation-index order (account 2, whose liquidation price is higher, then 1): pending
# ids and therefore the close-out order swapped, pro-rata rounded each close-out separately, and the
# deleveraged shorts ended with wallets 2 satoshi apart. LIQ-033 now orders the pools as the index does
# (the order a falling mark reaches their liquidation prices: account 2 first), in both.
LIQUIDATION_ORDER_CASE = Scenario(
    symbols=("XBTUSD",),
    deposits_ppm=(40_008, 20_000, 20_000, 20_000),
    leverages=((0,), (0,), (0,), (0,)),
    trades=(
        Trade(buyer=2, seller=3, symbol="XBTUSD", share_ppm=5_000_000),
        Trade(buyer=1, seller=4, symbol="XBTUSD", share_ppm=10_000_000),
    ),
    levels=(),
    fund=0,
    moved="XBTUSD",
    move_ppm=-40_000,
    policy="pro-rata",
)


def test_two_pools_liquidated_in_one_update_are_taken_in_the_same_order_by_engine_and_rules() -> None:
    outcome = run_both(LIQUIDATION_ORDER_CASE)
    assert outcome is not None
    assert (outcome.engine["liquidation_order"], outcome.engine["wallets"]) == (
        outcome.rules["liquidation_order"],
        outcome.rules["wallets"],
    )


def test_two_longs_passed_by_a_falling_mark_are_liquidated_highest_liquidation_price_first() -> None:
    """LIQ-033: account 2 (the larger leverage: the higher liquidation price) before account 1."""
    outcome = run_both(LIQUIDATION_ORDER_CASE)
    assert outcome is not None
    assert outcome.rules["liquidation_order"] == [(2, "cross:XBt"), (1, "cross:XBt")]


def test_a_budget_of_one_carries_the_second_pool_in_engine_and_rules() -> None:
    """LIQ-034: with one liquidation per update, account 2 is taken over and account 1 is carried, named by both."""
    outcome = run_both(LIQUIDATION_ORDER_CASE, budget=1)
    assert outcome is not None
    assert outcome.rules["liquidation_order"] == [(2, "cross:XBt")]
    assert outcome.rules["carried"] == [("XBTUSD", 1, 1, (1,), ("cross:XBt",))]
    assert outcome.engine == outcome.rules
    assert not outcome.result.complete


def test_a_budget_spent_on_the_last_pool_due_carries_nothing() -> None:
    """LIQ-034: two pools due, a budget of two: both liquidated, no record (nothing is left due)."""
    outcome = run_both(LIQUIDATION_ORDER_CASE, budget=2)
    assert outcome is not None
    assert (outcome.engine["carried"], outcome.rules["carried"]) == ([], [])
    assert outcome.engine == outcome.rules


def test_two_pools_liquidated_in_one_update_agree_on_what_was_taken_over_at_which_price() -> None:
    outcome = run_both(LIQUIDATION_ORDER_CASE)
    assert outcome is not None
    assert outcome.engine["takeovers"] == outcome.rules["takeovers"]


# Isolated shorts 2 and 4 are deleveraged against two isolated longs taken over after a 4% drop
# (empty book, empty fund). The first close-out closes 22 of account 2's 32 contracts. The rules
# (apply_holding_fill) used to make the isolated margin old margin + realised PnL; the engine
# (Engine._apply_effect) makes it the requirement of the 10 contracts left plus the old extra, the
# freed margin and the profit going to the cross wallet. Wallets agreed, the pools did not: account
# 2's pool equity, hence its ADL score, differed, and the second close-out ranked 2 and 4 in opposite
# orders. ACC-006 is now the engine's model, in both.
ISOLATED_ADL_CASE = Scenario(
    symbols=("ETHUSD", "XBTUSD"),
    deposits_ppm=(20_000, 20_000, 20_000, 20_000, 20_000),
    leverages=((5_000, 0), (5_000, 0), (5_000, 0), (5_000, 0), (0, 0)),
    trades=(
        Trade(buyer=1, seller=2, symbol="ETHUSD", share_ppm=500_000),
        Trade(buyer=1, seller=2, symbol="ETHUSD", share_ppm=500_000),
        Trade(buyer=3, seller=4, symbol="ETHUSD", share_ppm=500_000),
    ),
    levels=(),
    fund=0,
    moved="ETHUSD",
    move_ppm=-40_000,
    policy="pro-rata",
)


def test_isolated_position_partially_deleveraged_keeps_the_same_margin_in_engine_and_rules() -> None:
    outcome = run_both(ISOLATED_ADL_CASE)
    assert outcome is not None
    assert (outcome.engine["isolated_margins"], outcome.engine["adl_fills"]) == (
        outcome.rules["isolated_margins"],
        outcome.rules["adl_fills"],
    )


def test_isolated_position_partially_deleveraged_ends_with_the_same_wallets_in_engine_and_rules() -> None:
    outcome = run_both(ISOLATED_ADL_CASE)
    assert outcome is not None
    assert outcome.engine["wallets"] == outcome.rules["wallets"]


# One isolated short taken over after a 4% rise, empty book, fund covering it at mark: ADL-031 keeps
# it with the liquidation engine. The rules (process_waterfall's ``stuck`` set) do not retry a
# close-out that found no taker in the same update; the engine's rounds used to call _close_pending
# again and retry it, emitting a second AdlDeferred (and, had another close-out moved the fund in
# between, possibly reaching ADL where the rules keep the position). Regression: the engine now
# skips close-outs already left open in this update, as the rules do.
DEFERRED_RETRY_CASE = Scenario(
    symbols=("XBTUSDT",),
    deposits_ppm=(20_000, 20_000, 20_000, 20_000, 20_000),
    leverages=((0,), (0,), (2_000,), (0,), (0,)),
    trades=(Trade(buyer=1, seller=3, symbol="XBTUSDT", share_ppm=500_000),),
    levels=(),
    fund=0,
    moved="XBTUSDT",
    move_ppm=40_010,
    policy="pro-rata",
)


def test_a_deferred_close_out_is_not_retried_within_the_same_update_by_engine_or_rules() -> None:
    outcome = run_both(DEFERRED_RETRY_CASE)
    assert outcome is not None
    assert outcome.engine["left_events"] == outcome.rules["left_events"]


def test_a_deferred_close_out_leaves_the_same_state_in_engine_and_rules() -> None:
    outcome = run_both(DEFERRED_RETRY_CASE)
    assert outcome is not None
    held = ("positions", "wallets", "insurance", "left_with_liquidator")
    assert [outcome.engine[key] for key in held] == [outcome.rules[key] for key in held]


# One cross pool, long ETHUSD (its largest maintenance: taken over at its bankruptcy price 301515)
# and long XBTUSD (taken over at the mark), liquidated by a 4% XBTUSD drop; one maker level a
# tenth of the way each side; empty fund. The rules close out in take-over order (ETHUSD first: the
# fund holds only the pool's residual, so 16 contracts reach the bid before the fund runs dry, and
# the rest has no eligible ADL taker). The engine used to close out contract by contract, the moved
# XBTUSD first: its surplus (415650) filled the fund, so 33 ETHUSD contracts reached the bid, and the
# rest was deferred. LIQ-034's take-over order is now the engine's too.
CLOSE_OUT_ORDER_CASE = Scenario(
    symbols=("ETHUSD", "XBTUSD"),
    deposits_ppm=(20_000, 20_000),
    leverages=((0, 0), (0, 0)),
    trades=(
        Trade(buyer=1, seller=2, symbol="XBTUSD", share_ppm=5_000_000),
        Trade(buyer=1, seller=2, symbol="ETHUSD", share_ppm=500_000),
        Trade(buyer=1, seller=2, symbol="ETHUSD", share_ppm=500_000),
        Trade(buyer=1, seller=2, symbol="ETHUSD", share_ppm=500_000),
        Trade(buyer=1, seller=2, symbol="ETHUSD", share_ppm=2_000_000),
    ),
    levels=((0, 1),),
    fund=0,
    moved="XBTUSD",
    move_ppm=-40_000,
    policy="pro-rata",
)


def test_a_cross_pool_in_two_contracts_is_closed_out_in_the_same_order_by_engine_and_rules() -> None:
    outcome = run_both(CLOSE_OUT_ORDER_CASE)
    assert outcome is not None
    compared = ("closeout_order", "book_fills", "insurance", "positions")
    assert [outcome.engine[key] for key in compared] == [outcome.rules[key] for key in compared]


def test_a_cross_pool_in_two_contracts_is_closed_out_largest_position_first() -> None:
    """LIQ-034: the position taken over at the bankruptcy price (ETHUSD) meets the book and the fund first."""
    outcome = run_both(CLOSE_OUT_ORDER_CASE)
    assert outcome is not None
    assert outcome.engine["closeout_order"][0] == (1, "ETHUSD")


def test_a_cross_pool_in_two_contracts_is_taken_over_at_the_same_prices_by_engine_and_rules() -> None:
    outcome = run_both(CLOSE_OUT_ORDER_CASE)
    assert outcome is not None
    assert outcome.engine["takeovers"] == outcome.rules["takeovers"]


# A finding of the two-contract strategy, not an engine/rules disagreement (both ended in the same state):
# account 2 is short ETHUSD and long XBTUSD in one cross pool; XBTUSD falls 36%. LIQ-023 takes the
# largest-maintenance position (the ETHUSD short) over at the pool's bankruptcy price, clamped to one tick (5).
# The XBTUSD long used to be taken over at the mark, leaving the pool's residual at -2,360 XBt, which the empty
# fund could not cover (INS-003): the flat account kept a negative wallet — it owed more than its posted margin
# (reference §6; INV-NO-NEG-EQUITY-AFTER-ADL). LIQ-035 now takes the XBTUSD long over beyond the mark (at its
# bankruptcy price for a zero reserve, 3,188,650 against a mark of 3,188,550): the pool's residual is 2,640 XBt
# (≥ 0, to the fund: MRG-010 rounds toward the system, for an inverse contract by its per-lot step, ~1 tick here),
# the wallet is 0, and the liquidation engine holds the long bought above mark,
# deleveraged at that price against account 3's short (ADL-020): the deficit is socialised, in both models.
STRANDED_DEFICIT_CASE = Scenario(
    symbols=("ETHUSD", "XBTUSD"),
    deposits_ppm=(20_000, 22_709, 20_000),
    leverages=((0, 0), (0, 0), (0, 0)),
    trades=(
        Trade(buyer=1, seller=2, symbol="ETHUSD", share_ppm=500_000),
        Trade(buyer=1, seller=2, symbol="ETHUSD", share_ppm=5_000_000),
        Trade(buyer=1, seller=2, symbol="ETHUSD", share_ppm=5_000_000),
        Trade(buyer=2, seller=3, symbol="XBTUSD", share_ppm=10_000_000),
        Trade(buyer=1, seller=2, symbol="ETHUSD", share_ppm=500_000),
    ),
    levels=(),
    fund=0,
    moved="XBTUSD",
    move_ppm=-362_281,
    policy="pro-rata",
)


def test_a_cross_pool_deficit_beyond_the_fund_is_not_left_on_a_flat_wallet() -> None:
    outcome = run_both(STRANDED_DEFICIT_CASE)
    assert outcome is not None
    assert (outcome.rules_problems, outcome.engine_problems, outcome.rules["wallets"][(2, "XBt")]) == ({}, {}, 0)


def test_a_cross_pool_deficit_beyond_the_primary_bankruptcy_price_is_taken_over_beyond_the_mark() -> None:
    """LIQ-035: the XBTUSD long is taken over 2 ticks above the mark; the residual (≥ 0) goes to the fund."""
    outcome = run_both(STRANDED_DEFICIT_CASE)
    assert outcome is not None
    assert outcome.rules["takeovers"] == [
        (2, "cross:XBt", 2_640, (("ETHUSD", -182, -54_600_000, 5), ("XBTUSD", 50_000, -100_000_000, 3_188_650)))
    ]


def test_a_cross_pool_deficit_taken_over_beyond_the_mark_is_deleveraged_at_that_price() -> None:
    """The liquidation engine's XBTUSD long (bought above mark, empty fund) closes account 3's short at 3,188,650."""
    outcome = run_both(STRANDED_DEFICIT_CASE)
    assert outcome is not None
    assert outcome.rules["adl_fills"][(2, "XBTUSD")] == [(3, -50_000, 3_188_650, 0)]


def test_a_cross_pool_deficit_beyond_the_fund_ends_in_the_same_state_in_engine_and_rules() -> None:
    outcome = run_both(STRANDED_DEFICIT_CASE)
    assert outcome is not None
    assert (outcome.engine, stranded_deficits(outcome.result.events, outcome.result.ledger)) == (outcome.rules, set())
