"""The pytest plugin: perpspec's invariants on a second, deliberately simple engine, and ``--perpspec-audit``.

:class:`ToyEngine` is not perpspec's engine: a linear contract, average cost,
liquidation by take-over at the price that leaves the account exactly zero,
close-outs paid by the insurance fund while it can.  It implements the read
protocol (:class:`perpspec.engine.audit.plugin.EngineReadProtocol`) and is
checked with :func:`assert_invariants` after every step — clean as written,
and each of its planted bugs is caught with the right invariant id.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpspec.engine.audit import strategies as ps
from perpspec.engine.audit.faults import decode_rows, encode_rows, plant
from perpspec.engine.audit.plugin import assert_invariants, check_engine
from perpspec.engine.simulation.scenario import load_scenario
from perpspec.engine.simulation.simulate import run_scenario
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_builtin_instruments
from perpspec.rules.position import Position

XBTUSDT = load_builtin_instruments()["XBTUSDT"]
ASSET = XBTUSDT.settl_currency
LOT = XBTUSDT.lot_size
FEE_BPS = 5  # the toy charges 0.05% to both sides


class ToyEngine:
    """A second engine: one linear contract, one asset, integers; bugs planted by name."""

    def __init__(self, bugs: Sequence[str] = ()) -> None:
        self.bugs = set(bugs)
        self.wallets: dict[int, int] = {}
        self.book: dict[int, Position] = {}
        self.held: list[Position] = []  # positions taken over, waiting to be closed out
        self.fund = 0
        self.fees = 0
        self.deposits = 0
        self.mark = 0

    # -- the read protocol ------------------------------------------------------------------------------

    def assets(self) -> Sequence[str]:
        return (ASSET,)

    def account_ids(self) -> Sequence[int]:
        return tuple(sorted(set(self.wallets) | set(self.book)))

    def instruments(self) -> Mapping[str, Instrument]:
        return {XBTUSDT.symbol: XBTUSDT}

    def wallet(self, account_id: int, asset: str) -> int:
        return self.wallets.get(account_id, 0)

    def positions(self, account_id: int) -> Mapping[str, Position]:
        position = self.book.get(account_id, Position())
        return {XBTUSDT.symbol: position} if position.qty else {}

    def insurance(self, asset: str) -> int:
        return self.fund

    def fee_pool(self, asset: str) -> int:
        return self.fees

    def net_deposits(self, asset: str) -> int:
        return self.deposits

    def mark_price(self, symbol: str) -> int:
        return self.mark

    def pending_close_outs(self) -> Sequence[tuple[str, Position]]:
        return tuple((XBTUSDT.symbol, position) for position in self.held if position.qty)

    # -- the engine ---------------------------------------------------------------------------------------

    @staticmethod
    def value(qty: int, price: int) -> int:
        return qty * price // 100  # USDt: contracts × price units / 100 (exact for whole lots and ticks)

    def deposit(self, account: int, amount: int) -> None:
        self.wallets[account] = self.wallets.get(account, 0) + amount
        self.deposits += amount

    def seed_fund(self, amount: int) -> None:
        self.fund += amount
        self.deposits += amount

    def fill(self, position: Position, qty: int, price: int) -> tuple[Position, int]:
        """The position after a fill and the realised PnL (average cost, floor)."""
        if position.qty == 0 or (position.qty > 0) == (qty > 0):
            return Position(qty=position.qty + qty, cost=position.cost + self.value(qty, price)), 0
        closing = qty if abs(qty) <= abs(position.qty) else -position.qty
        kept_qty = position.qty + closing
        kept_cost = position.cost * kept_qty // position.qty
        realised = kept_cost - position.cost - self.value(closing, price)
        rest = qty - closing
        return Position(qty=kept_qty + rest, cost=kept_cost + self.value(rest, price)), realised

    def trade(self, buyer: int, seller: int, qty: int, price: int) -> bool:
        """A trade, refused (False, nothing changes) when it would leave either side below zero equity at mark."""
        before = (dict(self.wallets), dict(self.book), self.fees)
        self.apply_trade(buyer, seller, qty, price)
        if self.equity(buyer) < 0 or self.equity(seller) < 0:
            self.wallets, self.book, self.fees = before
            return False
        return True

    def apply_trade(self, buyer: int, seller: int, qty: int, price: int) -> None:
        fee = self.value(qty, price) * FEE_BPS // 10_000
        for account, signed in ((buyer, qty), (seller, -qty)):
            if account == seller and "one_sided_fill" in self.bugs:
                continue
            self.book[account], realised = self.fill(self.book.get(account, Position()), signed, price)
            self.wallets[account] = self.wallets.get(account, 0) + realised - fee
            if "fee_not_pooled" not in self.bugs:
                self.fees += fee

    def equity(self, account: int) -> int:
        position = self.book.get(account, Position())
        return self.wallets.get(account, 0) + self.value(position.qty, self.mark) - position.cost

    def set_mark(self, price: int) -> None:
        """A mark update: every account below zero equity is taken over at the price that zeroes it."""
        self.mark = price
        if "no_liquidation" in self.bugs:
            return
        for account in self.account_ids():
            position = self.book.get(account, Position())
            if position.qty and self.equity(account) < 0:
                takeover_value = position.cost - self.wallets.get(account, 0)  # the account ends at exactly 0
                self.wallets[account] = 0
                self.book[account] = Position()
                if "close_out_dropped" not in self.bugs:
                    self.held.append(Position(qty=position.qty, cost=takeover_value))

    def close_out(self, maker: int, price: int) -> None:
        """Close every held position against ``maker`` at ``price``; the fund takes the PnL while it can pay."""
        kept = []
        for position in self.held:
            _, realised = self.fill(position, -position.qty, price)
            if self.fund + realised < 0 and "fund_goes_negative" not in self.bugs:
                kept.append(position)  # the fund cannot pay: hold on
                continue
            self.book[maker], maker_realised = self.fill(self.book.get(maker, Position()), position.qty, price)
            self.wallets[maker] = self.wallets.get(maker, 0) + maker_realised
            self.fund += realised
        self.held = kept


def crash(engine: ToyEngine, fund: int) -> None:
    """A stream that liquidates a leveraged long in a crash and closes it out below its bankruptcy value."""
    engine.seed_fund(fund)
    for account in (1, 2, 3):
        engine.deposit(account, 1_000_000_000)  # 1,000 USDT each
    engine.set_mark(5_000_000)  # 50,000 USDT
    engine.trade(1, 2, 400 * LOT, 5_000_000)  # account 1: 0.4 XBT long, 20x
    engine.set_mark(4_700_000)  # -6%: account 1 is bankrupt
    engine.close_out(3, 4_600_000)  # closed out 2% below the mark


def invariant_ids(found: dict[str, list[str]]) -> set[str]:
    return {inv_id for inv_id, problems in found.items() if problems}


def test_the_toy_engine_keeps_every_invariant_through_a_crash() -> None:
    engine = ToyEngine()
    crash(engine, fund=10_000_000_000)
    assert_invariants(engine, waterfall_complete=True)
    assert engine.fund < 10_000_000_000  # the close-out really drew on the fund


@pytest.mark.parametrize(
    ("bug", "fund", "expected"),
    [
        ("fee_not_pooled", 10_000_000_000, {"INV-CONSERVATION"}),
        ("one_sided_fill", 10_000_000_000, {"INV-OI-BALANCE", "INV-CONSERVATION"}),
        ("no_liquidation", 10_000_000_000, {"INV-NO-NEG-EQUITY-AFTER-ADL"}),
        ("close_out_dropped", 10_000_000_000, {"INV-OI-BALANCE", "INV-CONSERVATION"}),
        ("fund_goes_negative", 1_000, {"INV-INSURANCE-NONNEG"}),
    ],
)
def test_each_planted_bug_of_the_toy_engine_is_caught(bug: str, fund: int, expected: set[str]) -> None:
    clean = ToyEngine()
    crash(clean, fund)
    assert invariant_ids(check_engine(clean, waterfall_complete=True)) == set()
    buggy = ToyEngine([bug])
    crash(buggy, fund)
    assert invariant_ids(check_engine(buggy, waterfall_complete=True)) == expected
    with pytest.raises(AssertionError, match=sorted(expected)[0]):
        assert_invariants(buggy, waterfall_complete=True)


operations = st.lists(
    st.one_of(
        st.tuples(st.just("trade"), st.integers(1, 4), st.integers(1, 4), st.integers(1, 50), st.integers(-40, 40)),
        st.tuples(st.just("mark"), st.integers(-300, 300)),
        st.tuples(st.just("close"), st.integers(1, 4), st.integers(-100, 100)),
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(operations)
def test_the_toy_engine_keeps_the_invariants_after_every_step(ops: list[tuple[Any, ...]]) -> None:
    engine = ToyEngine()
    engine.seed_fund(50_000_000_000)
    for account in (1, 2, 3, 4):
        engine.deposit(account, 500_000_000)
    engine.set_mark(5_000_000)
    for op in ops:
        if op[0] == "trade" and op[1] != op[2]:
            engine.trade(op[1], op[2], op[3] * LOT, engine.mark + op[4] * 100)
        elif op[0] == "mark":
            engine.set_mark(max(engine.mark + op[1] * 1_000, 100_000))
        elif op[0] == "close":
            engine.close_out(op[1], max(engine.mark + op[2] * 100, 50))
        assert_invariants(engine, waterfall_complete=op[0] == "mark")


# -- pytest --perpspec-audit LOG ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    scenario = load_scenario("tiny_crash", [])
    return Path(run_scenario(scenario, tmp_path_factory.mktemp("plugin")).event_log)


def run_pytest(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """pytest in a directory with no tests of its own: only the audit's items."""
    registered = any(
        entry.value.startswith("perpspec.engine.audit.plugin")
        for entry in importlib.metadata.entry_points(group="pytest11")
    )
    plugin = () if registered else ("-p", "perpspec.engine.audit.plugin")
    return subprocess.run(
        [sys.executable, "-m", "pytest", *plugin, "-q", "-p", "no:cacheprovider", "--rootdir", str(directory),
         str(directory), *args],
        capture_output=True, text=True, cwd=directory, timeout=300, check=False,
    )


def test_pytest_perpspec_audit_passes_a_clean_log(tmp_path: Path, tiny_log: Path) -> None:
    done = run_pytest(tmp_path, "--perpspec-audit", str(tiny_log), "--perpspec-level", "rules")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_pytest_perpspec_audit_fails_one_item_per_finding(tmp_path: Path, tiny_log: Path) -> None:
    instruments = {"XBTUSD": load_scenario("tiny_crash", []).instrument}
    planted = plant("commission-off-by-one", decode_rows(tiny_log.read_text().splitlines()), instruments)
    faulty = tmp_path / "faulty.jsonl"
    faulty.write_text(encode_rows(planted.rows))
    done = run_pytest(tmp_path, "--perpspec-audit", str(faulty), "--perpspec-level", "rules", "-rf")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"perpspec-audit[faulty.jsonl]::ACC-002@line{planted.expected.line}" in done.stdout
    assert "specs/contracts.md#acc-002" in done.stdout


def test_pytest_perpspec_audit_names_a_missing_log_as_the_cli_does(tmp_path: Path) -> None:
    """redteam23_3: a log that is not there was "internal error of perpspec audit, please report it"."""
    done = run_pytest(tmp_path, "--perpspec-audit", "missing-events.jsonl")
    assert done.returncode != 0
    assert "perpspec audit: missing-events.jsonl: no such file" in done.stdout + done.stderr
    assert "internal error" not in done.stdout + done.stderr
    assert "FileNotFoundError" not in done.stdout + done.stderr


def test_audit_log_of_a_missing_file_is_a_read_error_not_an_internal_one(tmp_path: Path) -> None:
    from perpspec.engine.audit import INTERNAL, audit_log, load_mapping

    result = audit_log(tmp_path / "missing.jsonl", load_mapping("perpspec"), {}, "invariants")
    assert result.error is not None
    assert INTERNAL not in result.error.message
    assert "cannot read" in result.error.message


# -- the public strategies drive the toy engine through crashes ---------------------------------------------


@settings(max_examples=40, deadline=None)
@given(ps.crash_paths(XBTUSDT, steps=12), ps.order_streams(XBTUSDT, accounts=4, max_orders=12))
def test_public_strategies_drive_a_crash_through_the_toy_engine(path: list[int], stream: list[Any]) -> None:
    engine = ToyEngine()
    engine.seed_fund(50_000_000_000)
    for account in (1, 2, 3, 4, 5):
        engine.deposit(account, 300_000_000)
    engine.set_mark(path[0])
    for step, mark in enumerate(path[1:]):
        for intent in stream[step::len(path)]:
            price = intent.price or engine.mark
            counterparty = 5  # the toy's market maker takes the other side of every order
            buyer, seller = (intent.account, counterparty) if intent.side == "Buy" else (counterparty, intent.account)
            engine.trade(buyer, seller, intent.qty, price)
            assert_invariants(engine)
        engine.set_mark(mark)
        assert_invariants(engine, waterfall_complete=True)
        engine.close_out(5, mark)
        assert_invariants(engine)


@given(ps.instruments().flatmap(lambda inst: st.tuples(st.just(inst), ps.positions(inst), ps.price_paths(inst))))
def test_public_strategies_give_valid_values(case: tuple[Instrument, Position, list[int]]) -> None:
    inst, position, path = case
    assert position.qty % inst.lot_size == 0
    assert all(price % inst.tick_size == 0 and inst.tick_size <= price <= inst.max_price for price in path)
