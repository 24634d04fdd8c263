"""The benchmark: the shared workload through the engine and through the measuring stick, side by side.

Absolute throughput on a shared machine drifts by 2x from run to run; the
ratio of two engines measured in the same process, one after the other, does
not.  So every figure here is printed next to the shared measuring stick
(``../shared/bench/ref_engine.py``: a minimal pure-Python price-time book with
no risk, no events and no journal) run on the same ops in the same process,
and the headline is the **ratio** engine / stick.

Throughput is timed over the whole replay (the clock read twice), never op by
op: reading a clock costs about 0.1 µs (wall, ``perf_counter``) to 0.9 µs
(CPU time: ``process_time`` is a system call on this kind of machine), as much
as one whole op of the stick (about 1 µs), and a clock read around each op
would slow the stick far more than the engine and flatter the ratio.  Until
session 10 it did: timed per op with the CPU clock, the compiled engine's ratio
read 0.104 where the whole-replay figure is about 0.045.  Per-op latency
percentiles come from a second replay of the engine alone (:func:`bench_engine`
with ``per_op=True``), each op timed with the wall clock, whose throughput is
not used for any ratio.

The engine runs with everything on: every order goes through the exchange's
command path (validation, pre-trade margin check, fees, position updates),
every event is produced and serialised to an event sink, and every command is
appended to the journal (CRC-framed, group commit, the fsync policy given).

The second figure is the cost of one mark-price update with ``n`` open
positions of which 10 become liquidatable, for ``n`` = 1,000 and 100,000:
with an index by liquidation price the ratio stays near 1 (target: ≤ 3).

This module is an edge module (it reads the wall clock and reports floats);
the engine core never does.
"""

from __future__ import annotations

import gc
import hashlib
import importlib.util
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs

REPO = Path(__file__).resolve().parent.parent.parent
DEFAULT_SHARED = REPO.parent / "shared" / "bench"
WARMUP = 20_000  # workload.DEFAULTS["warmup"]: the background book, not timed

Op = tuple[int, int, int, int, int]

# the clock of every throughput replay (read at its start and end only): wall time (perf_counter) by default;
# CPU time of this process (process_time) on request, which a shared machine's other jobs do not stretch (use_clock).
# Per-op latencies are always wall time (perf_counter: no system call)
CLOCKS: dict[str, Callable[[], int]] = {"wall": time.perf_counter_ns, "cpu": time.process_time_ns}
_CLOCK: dict[str, Callable[[], int]] = {"now": time.perf_counter_ns}


def use_clock(name: str) -> None:
    """Time every later replay with the ``wall`` or the ``cpu`` clock (ns)."""
    _CLOCK["now"] = CLOCKS[name]


@attrs.frozen(kw_only=True)
class Run:
    """One timed replay: throughput, or (``per_op``) per-op latency percentiles."""

    name: str
    ops: int
    seconds: float
    p50_ns: int = 0
    p99_ns: int = 0
    p999_ns: int = 0
    note: str = ""
    per_op: bool = False  # each op timed (latencies): its throughput carries the clock's cost, never a ratio
    outcome: str = ""  # an engine replay's end: "state <sha256> journal <sha256>" (two replays must agree)

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.seconds if self.seconds > 0 else 0.0


def load_module(directory: Path, name: str) -> ModuleType:
    """Import ``name`` from a directory that is not a package (the shared bench folder)."""
    path = directory / f"{name}.py"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found (use --shared DIR)")
    spec = importlib.util.spec_from_file_location(f"_perpspec_shared_{name}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))
    spec.loader.exec_module(module)
    return module


def load_workload(shared: Path, n_ops: int) -> tuple[list[Op], str]:
    """The seeded workload (cached under the temp dir) and its SHA-256."""
    workload = load_module(shared, "workload")
    cache = Path(tempfile.gettempdir()) / "perpspec-bench-cache"
    ops: list[Op] = workload.load_or_generate(str(cache), n_ops=n_ops)
    return ops, str(workload.digest(ops))


def percentiles(samples: list[int]) -> tuple[int, int, int]:
    """(p50, p99, p99.9) of per-op latencies in ns (nearest rank)."""
    ordered = sorted(samples)
    count = len(ordered)
    if count == 0:
        return (0, 0, 0)

    def rank(permille: int) -> int:
        return ordered[min(count - 1, (count * permille) // 1000)]

    return rank(500), rank(990), rank(999)


def timed_replay(
    name: str, step: Callable[[Op], Any], ops: list[Op], warmup: int, note: str = "", per_op: bool = False
) -> tuple[Run, list[int]]:
    """Run ``step`` over the warmup untimed, then over the rest: timed as a whole (throughput, the chosen clock),
    or with ``per_op`` each op timed on the wall clock (latencies; the list is empty otherwise)."""
    for op in ops[:warmup]:
        step(op)
    timed = ops[warmup:]
    gc.collect()
    gc.disable()
    try:
        if per_op:
            latencies = [0] * len(timed)
            clock = time.perf_counter_ns
            start = clock()
            for index, op in enumerate(timed):
                before = clock()
                step(op)
                latencies[index] = clock() - before
            elapsed = clock() - start
        else:
            latencies = []
            clock = _CLOCK["now"]
            start = clock()
            for op in timed:
                step(op)
            elapsed = clock() - start
    finally:
        gc.enable()
    if not per_op:
        return Run(name=name, ops=len(timed), seconds=elapsed / 1e9, note=note), latencies
    p50, p99, p999 = percentiles(latencies)
    run = Run(
        name=name, ops=len(timed), seconds=elapsed / 1e9, p50_ns=p50, p99_ns=p99, p999_ns=p999, note=note, per_op=True
    )
    return run, latencies


def bench_reference(shared: Path, ops: list[Op], warmup: int, with_risk: bool) -> Run:
    """The measuring stick: ref_engine.Engine (optionally with its per-fill Risk), same loop shape."""
    ref = load_module(shared, "ref_engine")
    engine = ref.Engine()
    limit = engine.limit
    cancel = engine.cancel
    if with_risk:
        risk = ref.Risk()
        fills = engine.fills
        process = risk.process

        def step(op: Op) -> None:
            if op[0] == 1:
                cancel(op[1])
            else:
                start = len(fills)
                limit(op[1], op[2], op[3], op[4])
                process(fills, start, op[2])

    else:

        def step(op: Op) -> None:
            if op[0] == 1:
                cancel(op[1])
            else:
                limit(op[1], op[2], op[3], op[4])

    run, _ = timed_replay("ref_engine+Risk" if with_risk else "ref_engine", step, ops, warmup)
    return run


def format_ns(ns: int) -> str:
    return f"{ns / 1000:.1f} µs" if ns < 1_000_000 else f"{ns / 1e6:.2f} ms"


def format_run(run: Run, stick: Run | None) -> str:
    """One row: a throughput replay with its ratio to the stick, or a latency replay with its percentiles."""
    if run.per_op:
        return (
            f"{run.name:<37} p50 {format_ns(run.p50_ns):>9}  p99 {format_ns(run.p99_ns):>9}  "
            f"p99.9 {format_ns(run.p999_ns):>9}  (each op timed, wall clock)"
        )
    ratio = f"{run.ops_per_s / stick.ops_per_s:6.4f}" if stick is not None and stick.ops_per_s else "     -"
    return f"{run.name:<37} {run.ops_per_s:>12,.0f} ops/s  ratio {ratio}" + (f"  ({run.note})" if run.note else "")


def default_journal_dir() -> str:
    return tempfile.mkdtemp(prefix="perpspec-bench-")


def remove_tree(path: str) -> None:
    for root, dirs, files in os.walk(path, topdown=False):
        for file in files:
            os.unlink(os.path.join(root, file))
        for directory in dirs:
            os.rmdir(os.path.join(root, directory))
    os.rmdir(path)


# ----------------------------------------------------------------------------- the engine


@attrs.frozen(kw_only=True)
class EngineSetup:
    """How the workload maps onto the exchange (printed with the figures)."""

    symbol: str = "XBTUSD"
    accounts: int = 1_000  # as the stick's Risk: buyers and sellers from separate halves (no self-trades)
    group_records: int = 64  # journal group commit: records per write(2)
    fsync: str = "never"  # journal fsync policy (engine.journal.SyncPolicy)
    deposit: int = 10**12  # minor units per account: nobody runs out of margin in the workload


def _engine_commands() -> Any:
    from perpspec.engine.core import commands

    return commands


def build_durable(setup: EngineSetup, directory: str) -> Any:
    """A fresh durable exchange with verified, funded accounts and a mark price (journaled like everything else)."""
    from perpspec.engine.core.exchange import Engine
    from perpspec.engine.durability.journal import SyncPolicy
    from perpspec.engine.durability.recovery import DurableExchange, command_codec

    commands = _engine_commands()
    policy = SyncPolicy(group_records=setup.group_records, fsync=setup.fsync)
    durable, _ = DurableExchange.open(directory, command_codec(), Engine, policy=policy)
    inst = durable.exchange.instrument_map[setup.symbol]
    asset = inst.settl_currency
    for account in range(1, setup.accounts + 1):
        durable.submit(commands.VerifyAccount(time_ms=0, account=account))
        durable.submit(commands.Deposit(time_ms=0, account=account, asset=asset, amount=setup.deposit))
    return durable


def bench_engine(
    setup: EngineSetup, ops: list[Op], warmup: int, directory: str, per_op: bool = False
) -> tuple[Run, dict[str, int]]:
    """The workload through DurableExchange.submit: validation, margin, fills, events, journal.

    ``per_op``: each op timed (the latency replay: percentiles overall and per kind of op in the counts).
    """
    from perpspec.engine.core.events import Accepted, Rejected

    commands = _engine_commands()
    durable = build_durable(setup, directory)
    inst = durable.exchange.instrument_map[setup.symbol]
    tick, lot, symbol = inst.tick_size, inst.lot_size, setup.symbol
    mid = ops[0][3] * tick  # the workload's first price: the book builds around it
    durable.submit(commands.PriceUpdate(time_ms=0, symbol=symbol, mark_price=mid, index_price=mid))
    half = setup.accounts // 2
    submit = durable.submit
    place = commands.PlaceOrder
    cancel = commands.CancelOrder
    order_ids: dict[int, int] = {}
    counts: dict[str, int] = {"events": 0}
    sides = ("Buy", "Sell")

    # the client builds each command positionally, in its fields' declaration order (time_ms, account, order_id /
    # time_ms, account, symbol, side, order_qty, price), as a gateway that decoded a message into its fields does:
    # the same command as by keyword (same class, same items), without the keyword matching of the NamedTuple's
    # Python-level __new__ (about 2k instructions per op of the client's own time in the timed loop, session 18)
    def step(op: Op) -> None:
        kind, oid, side, price, qty = op
        account = 1 + side * half + oid % half
        if kind == 1:
            events = submit(cancel(0, account, order_ids.pop(oid, 0)))
        else:
            events = submit(place(0, account, symbol, sides[side], qty * lot, price * tick))
            last = events[-1]
            if type(last) is Accepted:
                order_ids[oid] = last.order_id
        last = events[-1]
        if type(last) is Rejected:
            key = f"rejected:{last.reason.value}"
            counts[key] = counts.get(key, 0) + 1
        counts["events"] += len(events)

    name = "perpspec engine, latency replay" if per_op else "perpspec engine (risk+events+journal)"
    run, latencies = timed_replay(name, step, ops, warmup, per_op=per_op)
    for kind, label in ((0, "add"), (1, "cancel"), (2, "sweep")):
        counts[f"{label}_ops"] = sum(1 for op in ops[warmup:] if op[0] == kind)
        if per_op:
            mine = [latency for op, latency in zip(ops[warmup:], latencies, strict=True) if op[0] == kind]
            counts[f"{label}_p50_ns"], counts[f"{label}_p99_ns"], counts[f"{label}_p999_ns"] = percentiles(mine)
    durable.commit()
    journal_bytes = os.path.getsize(durable.writer.path)
    state = durable.exchange.state_hash()
    with open(durable.writer.path, "rb") as journal:
        journal_sha256 = hashlib.sha256(journal.read()).hexdigest()
    durable.close()
    counts["journal_bytes"] = journal_bytes
    note = (
        f"{setup.accounts} accounts, journal group {setup.group_records}, fsync {setup.fsync}, "
        f"{counts['events'] / max(1, len(ops)):.1f} events/op"
    )
    return attrs.evolve(run, note=note, outcome=f"state {state} journal {journal_sha256}"), counts


# ----------------------------------------------------------------------------- where the time goes


def floor_outcome(positions: Mapping[int, tuple[int, int]], sides: Mapping[int, tuple[int, ...]]) -> str:
    """A floor replay's end: SHA-256 of every account's position (qty, cost) and MRG-042 sums, sorted by account.

    The rules-only and the kernels-only floor compute the same rules on the same ops, so they must end the same
    (tests/test_bench.py): a floor made faster has kept its work.
    """
    text = repr((sorted(positions.items()), sorted(sides.items())))
    return "positions+sums " + hashlib.sha256(text.encode()).hexdigest()


def bench_book_only(setup: EngineSetup, ops: list[Op], warmup: int) -> Run:
    """The engine's own book (engine.core.book) alone: the stick's work with the engine's order objects.

    No validation, margin, positions, events or journal: the floor of the
    matching part of the engine, measured like the stick.
    """
    from perpspec.engine.core.book import Book
    from perpspec.engine.core.orders import Order

    book = Book(setup.symbol)
    half = setup.accounts // 2
    resting: dict[int, Order] = {}
    add, match, remove = book.add, book.match, book.remove

    def step(op: Op) -> None:
        kind, oid, side, price, qty = op
        if kind == 1:
            order = resting.pop(oid, None)
            if order is not None and order.live:
                remove(order)
            return
        account = 1 + side * half + oid % half
        order = Order(order_id=oid, account=account, symbol=setup.symbol, is_buy=side == 0, price=price, order_qty=qty)
        fills: list[Any] = []
        left = match(side == 0, price, qty, account, fills, [], None)
        for maker, _, _ in fills:
            if maker.leaves_qty == 0:
                resting.pop(maker.order_id, None)
        if left:
            order.leaves_qty = left
            order.reset_shown()
            add(order)
            resting[oid] = order

    run, _ = timed_replay("engine.core.book alone (no rules)", step, ops, warmup)
    return run


def bench_rules_only(setup: EngineSetup, ops: list[Op], warmup: int) -> Run:
    """The engine's book plus only the rule evaluations of the order path, called directly.

    Per order: the MRG-042 term of the new order, MRG-045/044 for the account's
    orders before and after it (MRG-046), MRG-060, MRG-020 and MRG-050 — the
    calls the engine's pre-trade check makes — then ACC-004 per fill.  No
    engine glue, no memo, no events, no journal: what evaluating the rulebook
    per order costs by itself, the floor under the engine's figure.
    """
    from perpspec.engine.core.book import Book
    from perpspec.engine.core.fastmargin import compute_term
    from perpspec.engine.core.orders import Order
    from perpspec.rules.instrument_file import load_builtin_instruments
    from perpspec.rules.margin import (
        compute_account_margin,
        compute_order_requirement,
        compute_position_margin,
    )
    from perpspec.rules.order_margin import OrderSide, compute_order_margin, compute_order_margin_req_ppm
    from perpspec.rules.position import Position, apply_trade

    inst = load_builtin_instruments()[setup.symbol]
    tick, lot = inst.tick_size, inst.lot_size
    mark = ops[0][3] * tick
    book = Book(setup.symbol)
    half = setup.accounts // 2
    resting: dict[int, Order] = {}
    positions: dict[int, Position] = {}
    sides: dict[int, tuple[OrderSide, OrderSide]] = {}
    empty = (OrderSide(qty=0, value=0, premium=0), OrderSide(qty=0, value=0, premium=0))
    wallet = setup.deposit
    fee = inst.taker_fee_ppm

    def move(account: int, is_buy: bool, old_qty: int, new_qty: int, price: int) -> None:
        """A resting order's open quantity goes from ``old_qty`` to ``new_qty``: its MRG-042 term moves."""
        bids, asks = sides.get(account, empty)
        delta_value = delta_premium = 0
        for qty, direction in ((old_qty, -1), (new_qty, 1)):
            if qty:
                _, value, premium = compute_term(inst, qty if is_buy else -qty, price, mark, 0, 0)
                delta_value += direction * value
                delta_premium += direction * premium
        delta_qty = new_qty - old_qty
        if is_buy:
            bids = OrderSide(qty=bids.qty + delta_qty, value=bids.value + delta_value, premium=bids.premium + delta_premium)
        else:
            asks = OrderSide(qty=asks.qty + delta_qty, value=asks.value + delta_value, premium=asks.premium + delta_premium)
        sides[account] = (bids, asks)

    def order_margin(position: Position, both: tuple[OrderSide, OrderSide]) -> int:
        bids, asks = both
        ppm = compute_order_margin_req_ppm(inst, position.cost, bids, asks, 0)
        return compute_order_margin(inst, position.qty, bids, asks, ppm, fee).total

    def step(op: Op) -> None:
        kind, oid, side, price_ticks, qty_lots = op
        if kind == 1:
            order = resting.pop(oid, None)
            if order is not None and order.live:
                book.remove(order)
                move(order.account, order.is_buy, order.leaves_qty, 0, order.price)
            return
        account = 1 + side * half + oid % half
        price, qty = price_ticks * tick, qty_lots * lot
        signed = qty if side == 0 else -qty
        position = positions.get(account) or Position()
        before = sides.get(account, empty)
        _, value, premium = compute_term(inst, signed, price, mark, 0, 0)
        bids, asks = before
        if signed > 0:
            after = (OrderSide(qty=bids.qty + qty, value=bids.value + value, premium=bids.premium + premium), asks)
        else:
            after = (bids, OrderSide(qty=asks.qty + qty, value=asks.value + value, premium=asks.premium + premium))
        om_before = order_margin(position, before)
        om_after = order_margin(position, after)
        requirement = compute_order_requirement(inst, position, mark, 0, 0, om_before, om_after, signed, price)
        line = compute_position_margin(inst, position, mark, 0, 0)
        available = compute_account_margin(wallet, (line,), om_before).available_margin
        if requirement > available:
            raise RuntimeError("the rules-only replay refused an order the engine accepts")
        order = Order(order_id=oid, account=account, symbol=setup.symbol, is_buy=side == 0, price=price, order_qty=qty)
        fills: list[Any] = []
        left = book.match(side == 0, price, qty, account, fills, [], None)
        for maker, fill_qty, fill_price in fills:
            maker_position = positions.get(maker.account) or Position()
            taker_position = positions.get(account) or Position()
            if side == 0:
                effect = apply_trade(inst, taker_position, maker_position, fill_qty, fill_price, fee, fee)
                positions[account], positions[maker.account] = effect.buyer.position, effect.seller.position
            else:
                effect = apply_trade(inst, maker_position, taker_position, fill_qty, fill_price, fee, fee)
                positions[maker.account], positions[account] = effect.buyer.position, effect.seller.position
            move(maker.account, maker.is_buy, maker.leaves_qty + fill_qty, maker.leaves_qty, fill_price)
            if maker.leaves_qty == 0:
                resting.pop(maker.order_id, None)
        if left:
            order.leaves_qty = left
            order.reset_shown()
            book.add(order)
            resting[oid] = order
            move(account, side == 0, 0, left, price)

    run, _ = timed_replay("book + order-path rules only", step, ops, warmup)
    flat_sides = {
        account: (bids.qty, bids.value, bids.premium, asks.qty, asks.value, asks.premium)
        for account, (bids, asks) in sides.items()
    }
    return attrs.evolve(
        run, outcome=floor_outcome({a: (p.qty, p.cost) for a, p in positions.items()}, flat_sides)
    )


# ----------------------------------------------------------------------------- liquidation scaling


@attrs.frozen(kw_only=True)
class LiquidationFigure:
    positions: int
    liquidated: int
    seconds: float  # the one mark update (median of the repeats)
    setup_seconds: float


def build_positions(positions: int, liquidatable: int, symbol: str = "XBTUSD") -> tuple[Any, int, int]:
    """An engine with ``positions`` open longs of which ``liquidatable`` fall below maintenance on a 3% drop.

    Returns (engine, mark before, mark after).  One maker sells to every long at the mark; the
    ``liquidatable`` thinnest longs hold 50x, the rest are nearly unlevered.  A first mark update at
    the same price refreshes the liquidation index (every fill marked its accounts dirty).
    """
    from perpspec.engine.core.exchange import Engine

    commands = _engine_commands()
    engine = Engine()
    inst = engine.instrument_map[symbol]
    asset = inst.settl_currency
    mark = 5_000_000  # 50,000 USD in price units of XBTUSD
    process = engine.process
    maker = positions + 1
    lot = inst.lot_size
    process(commands.DepositInsurance(time_ms=0, asset=asset, amount=10**12))
    process(commands.VerifyAccount(time_ms=0, account=maker))
    process(commands.Deposit(time_ms=0, account=maker, asset=asset, amount=10**15))
    process(commands.PriceUpdate(time_ms=0, symbol=symbol, mark_price=mark, index_price=mark))
    process(commands.PlaceOrder(time_ms=0, account=maker, symbol=symbol, side="Sell", order_qty=positions * lot, price=mark))
    for account in range(1, positions + 1):
        thin = account % max(1, positions // liquidatable) == 0 and account // max(1, positions // liquidatable) <= liquidatable
        process(commands.VerifyAccount(time_ms=0, account=account))
        process(commands.Deposit(time_ms=0, account=account, asset=asset, amount=4_500 if thin else 10**7))
        if thin:
            process(commands.SetLeverage(time_ms=0, account=account, symbol=symbol, leverage_hundredths=5_000))
        last = process(commands.PlaceOrder(time_ms=0, account=account, symbol=symbol, side="Buy", order_qty=lot, price=mark))[-1]
        if type(last).__name__ != "Accepted":
            raise RuntimeError(f"setup order of account {account} refused: {last}")
    # a second maker bids at the new mark for the liquidation orders to meet (the fund pays down from
    # bankruptcy, no ADL); a separate account, as the first one's short is at its risk limit
    low = mark - mark * 3 // 100
    bidder = positions + 2
    for command in (
        commands.VerifyAccount(time_ms=0, account=bidder),
        commands.Deposit(time_ms=0, account=bidder, asset=asset, amount=10**12),
        commands.PlaceOrder(time_ms=0, account=bidder, symbol=symbol, side="Buy", order_qty=100 * lot, price=low),
        commands.PriceUpdate(time_ms=1, symbol=symbol, mark_price=mark),
    ):
        last = process(command)[-1]
        if type(last).__name__ != "Accepted":
            raise RuntimeError(f"setup command {command} refused: {last}")
    return engine, mark, low


def bench_liquidation(positions: int, liquidatable: int = 10, repeats: int = 3) -> LiquidationFigure:
    """Time one mark update that makes ``liquidatable`` of ``positions`` longs liquidatable."""
    from perpspec.engine.core.events import RuleEvent
    from perpspec.engine.core.exchange import Engine

    commands = _engine_commands()
    started = time.perf_counter()
    engine, _, low = build_positions(positions, liquidatable)
    setup = time.perf_counter() - started
    blob = engine.snapshot()
    timings = []
    liquidated = 0
    for _ in range(repeats):
        copy = Engine.from_snapshot(blob)
        gc.collect()
        before = time.perf_counter_ns()
        events = copy.process(commands.PriceUpdate(time_ms=2, symbol="XBTUSD", mark_price=low))
        timings.append(time.perf_counter_ns() - before)
        liquidated = sum(1 for e in events if isinstance(e, RuleEvent) and e.rule_id == "LIQ-023")
    timings.sort()
    return LiquidationFigure(
        positions=positions, liquidated=liquidated, seconds=timings[len(timings) // 2] / 1e9, setup_seconds=setup
    )


def bench_kernels_only(setup: EngineSetup, ops: list[Op], warmup: int) -> Run:
    """:func:`bench_rules_only` with the proved specialised kernels (engine/kernels) instead of the generic rules.

    The same replay and the same rule evaluations per order — the fused
    pre-trade kernel (MRG-042 sums with the order, MRG-045/044 before and
    after, MRG-060), MRG-050 with the position's MRG-020 line, then ACC-004 per
    fill and the MRG-042 term per resting change — on flat integer state
    instead of records.  Raises when no proved kernel set matches the instrument.
    """
    from perpspec.engine.core.book import Book
    from perpspec.engine.core.orders import Order
    from perpspec.engine.kernels.load import kernels_for
    from perpspec.rules.instrument_file import load_builtin_instruments

    inst = load_builtin_instruments()[setup.symbol]
    kernels = kernels_for(inst)
    if kernels is None:
        raise RuntimeError(f"no proved kernels for {setup.symbol}: regenerate with python -m perpspec.proofs.specialise")
    pretrade, account_margin, term, trade = (
        kernels.pretrade_cross,
        kernels.account_margin_cross_1,
        kernels.order_term,
        kernels.trade,
    )
    tick, lot = inst.tick_size, inst.lot_size
    mark = ops[0][3] * tick
    book = Book(setup.symbol)
    half = setup.accounts // 2
    resting: dict[int, Order] = {}
    positions: dict[int, tuple[int, int]] = {}
    sides: dict[int, tuple[int, int, int, int, int, int]] = {}
    empty = (0, 0, 0, 0, 0, 0)
    flat = (0, 0)
    wallet = setup.deposit
    fee = inst.taker_fee_ppm

    def move(account: int, is_buy: bool, old_qty: int, new_qty: int, price: int) -> None:
        """A resting order's open quantity goes from ``old_qty`` to ``new_qty``: its MRG-042 term moves.

        The same kernel calls as the rules-only floor's ``move`` (the term at each non-zero quantity), straight-line.
        """
        value = premium = 0
        if new_qty:
            value, premium = term(new_qty if is_buy else -new_qty, price, mark, 0, 0)
        if old_qty:
            old_value, old_premium = term(old_qty if is_buy else -old_qty, price, mark, 0, 0)
            value -= old_value
            premium -= old_premium
        bid_qty, bid_value, bid_premium, ask_qty, ask_value, ask_premium = sides.get(account, empty)
        if is_buy:
            sides[account] = (bid_qty + new_qty - old_qty, bid_value + value, bid_premium + premium,
                              ask_qty, ask_value, ask_premium)
        else:
            sides[account] = (bid_qty, bid_value, bid_premium,
                              ask_qty + new_qty - old_qty, ask_value + value, ask_premium + premium)

    def step(op: Op) -> None:
        kind, oid, side, price_ticks, qty_lots = op
        if kind == 1:
            order = resting.pop(oid, None)
            if order is not None and order.live:
                book.remove(order)
                move(order.account, order.is_buy, order.leaves_qty, 0, order.price)
            return
        account = 1 + side * half + oid % half
        price, qty = price_ticks * tick, qty_lots * lot
        signed = qty if side == 0 else -qty
        pos_qty, pos_cost = positions.get(account, flat)
        checked = pretrade(pos_qty, pos_cost, mark, *sides.get(account, empty), signed, price, 0, 0)
        requirement = checked[8]
        available = account_margin(wallet, checked[6], pos_qty, pos_cost, mark)[6]
        if requirement > available:
            raise RuntimeError("the kernels-only replay refused an order the engine accepts")
        order = Order(order_id=oid, account=account, symbol=setup.symbol, is_buy=side == 0, price=price, order_qty=qty)
        fills: list[Any] = []
        left = book.match(side == 0, price, qty, account, fills, [], None)
        for maker, fill_qty, fill_price in fills:
            maker_qty, maker_cost = positions.get(maker.account, flat)
            taker_qty, taker_cost = positions.get(account, flat)
            if side == 0:
                effect = trade(taker_qty, taker_cost, maker_qty, maker_cost, fill_qty, fill_price, fee, fee)
                positions[account], positions[maker.account] = (effect[0], effect[1]), (effect[4], effect[5])
            else:
                effect = trade(maker_qty, maker_cost, taker_qty, taker_cost, fill_qty, fill_price, fee, fee)
                positions[maker.account], positions[account] = (effect[0], effect[1]), (effect[4], effect[5])
            move(maker.account, maker.is_buy, maker.leaves_qty + fill_qty, maker.leaves_qty, fill_price)
            if maker.leaves_qty == 0:
                resting.pop(maker.order_id, None)
        if left:
            order.leaves_qty = left
            order.reset_shown()
            book.add(order)
            resting[oid] = order
            move(account, side == 0, 0, left, price)

    run, _ = timed_replay("book + order-path kernels only", step, ops, warmup)
    return attrs.evolve(run, outcome=floor_outcome(positions, sides))
