"""Session 17: the audit's equity check judges only the holders a mark move can take across zero (redteam18_2).

INV-NO-NEG-EQUITY-AFTER-ADL is judged after every mark update; judging every holder each time cost holders x marks
(a clean 0.95 MB log: 12-20 s).  engine/audit/equity_index.py keeps, per symbol, the holders ordered by the mark at
which their status would flip.  These tests check that the cost is linear and that the findings are exactly those of
judging every holder at every move, on logs whose accounts cross zero many times over three kinds of contract.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from perpspec.engine.audit import auditor as auditor_module
from perpspec.engine.audit.auditor import Auditor
from perpspec.engine.audit.equity_index import EquityIndex
from perpspec.engine.audit.findings import INVARIANTS, RULES
from perpspec.engine.audit.mapping import load_mapping
from perpspec.engine.audit.schema import DecimalText
from perpspec.rules.instrument_file import load_builtin_instruments

INSTRUMENTS = {s: i for s, i in load_builtin_instruments().items() if s in ("XBTUSD", "ETHUSD", "XBTUSDT")}
BASE = {"XBTUSD": 8000.0, "ETHUSD": 200.0, "XBTUSDT": 8000.0}
LOT = {"XBTUSD": 100, "ETHUSD": 1, "XBTUSDT": 1000}
TICK = {"XBTUSD": 0.5, "ETHUSD": 0.05, "XBTUSDT": 0.5}


class Log:
    """Rows in perpspec's format: deposits, trades between two accounts at the mark, mark rows."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.seq = 0
        self.clock = 0

    def timestamp(self) -> str:
        return f"2020-03-12T{self.clock // 3600:02d}:{self.clock // 60 % 60:02d}:{self.clock % 60:02d}.000Z"

    def mark(self, symbol: str, price: float) -> None:
        self.rows.append({"table": "instrument", "timestamp": self.timestamp(), "symbol": symbol,
                          "markPrice": quote(symbol, price)})

    def deposit(self, account: int, currency: str, amount: int) -> None:
        self.seq += 1
        self.rows.append({"table": "transaction", "seq": self.seq, "timestamp": self.timestamp(),
                          "transactType": "Deposit", "account": account, "currency": currency, "amount": amount,
                          "symbol": "", "text": ""})

    def trade(self, buyer: int, seller: int, symbol: str, qty: int, price: float) -> None:
        px = quote(symbol, price)
        for who, side, liquidity in ((buyer, "Buy", "AddedLiquidity"), (seller, "Sell", "RemovedLiquidity")):
            self.seq += 1
            self.rows.append({
                "table": "execution", "seq": self.seq, "timestamp": self.timestamp(), "execType": "Trade",
                "account": who, "symbol": symbol, "orderID": self.seq, "clOrdID": "", "side": side,
                "ordType": "Limit", "orderQty": qty, "price": px, "stopPx": None, "lastQty": qty, "lastPx": px,
                "leavesQty": 0, "cumQty": qty, "ordStatus": "Filled", "execComm": 0, "lastLiquidityInd": liquidity,
                "text": "",
            })


def quote(symbol: str, price: float) -> DecimalText:
    tick = TICK[symbol]
    return DecimalText(f"{max(round(price / tick) * tick, tick):.2f}")


def swinging(seed: int, holders: int, steps: int) -> list[dict[str, Any]]:
    """Holders over inverse, quanto and linear contracts (some in two symbols of one asset), small and large
    deposits, marks moving by 0.01% to 20% and back to where they started, trades and deposits in between."""
    rng = random.Random(seed)
    log = Log()
    marks = dict(BASE)
    for symbol in INSTRUMENTS:
        log.mark(symbol, marks[symbol])
    for account in range(1, holders + 1):
        log.deposit(account, "XBt", rng.choice([10**5, 10**6, 10**7, 10**8]))
        log.deposit(account, "USDt", rng.choice([10**5, 10**6, 10**8]))

    def trade() -> None:
        buyer, seller = rng.sample(range(1, holders + 1), 2)
        symbol = rng.choice(sorted(INSTRUMENTS))
        log.trade(buyer, seller, symbol, rng.randint(1, 20) * LOT[symbol], marks[symbol])

    for _ in range(2 * holders):
        trade()
    for _ in range(steps):
        log.clock += 1
        draw = rng.random()
        if draw < 0.1:
            trade()
        elif draw < 0.15:
            log.deposit(rng.randint(1, holders), rng.choice(["XBt", "USDt"]), rng.choice([10**4, 10**6, 10**8]))
        symbol = rng.choice(sorted(INSTRUMENTS))
        move = rng.choice([-1, 1]) * rng.choice([0.0001, 0.01, 0.05, 0.2])
        marks[symbol] = BASE[symbol] if rng.random() < 0.05 else max(marks[symbol] * (1 + move), 4 * TICK[symbol])
        log.mark(symbol, marks[symbol])
    return log.rows


def audit(rows: list[dict[str, Any]], level: str) -> list[dict[str, Any]]:
    auditor = Auditor(INSTRUMENTS, load_mapping("perpspec"), level)
    for line, row in enumerate(rows, start=1):
        auditor.feed(dict(row), line)
    return [finding.to_json() for finding in auditor.finish().findings]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_findings_are_those_of_judging_every_holder_at_every_move(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = swinging(seed, holders=30, steps=300)
    found = {level: audit(rows, level) for level in (INVARIANTS, RULES)}
    assert sum(f["id"] == "INV-NO-NEG-EQUITY-AFTER-ADL" for f in found[INVARIANTS]) > 20  # accounts cross zero often
    with monkeypatch.context() as patch:
        judged = EquityIndex.judged

        def judge_always(self: EquityIndex, account: int, *args: Any, **kwargs: Any) -> None:
            judged(self, account, *args, **kwargs)
            self.always.add(account)

        patch.setattr(EquityIndex, "judged", judge_always)
        reference = {level: audit(rows, level) for level in (INVARIANTS, RULES)}
    assert found == reference


def holders_and_marks(holders: int, marks: int) -> list[dict[str, Any]]:
    """redteam18_2's log: ``holders`` funded accounts in pairs, then marks alternating 8000 and 8000.5."""
    log = Log()
    log.mark("XBTUSD", 8000)
    for account in range(1, holders + 1):
        log.deposit(account, "XBt", 10**10)
    for account in range(1, holders + 1, 2):
        log.trade(account, account + 1, "XBTUSD", 100, 8000)
    for index in range(1, marks + 1):
        log.clock = index
        log.mark("XBTUSD", 8000 + (index % 2) * 0.5)
    return log.rows


def test_a_mark_going_back_and_forth_judges_each_holder_a_bounded_number_of_times(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = 0
    equity = auditor_module.invariants_trading.compute_account_equity

    def counted(*args: Any) -> int:
        nonlocal calls
        calls += 1
        return equity(*args)

    monkeypatch.setattr(auditor_module.invariants_trading, "compute_account_equity", counted)
    assert audit(holders_and_marks(200, 400), INVARIANTS) == []
    # judging every holder at every move: 200 x 400 x 2 assets = 160,000 calls; bounded: a few per holder
    assert calls < 20 * 200, calls


def test_a_trending_mark_judges_each_holder_a_bounded_number_of_times(monkeypatch: pytest.MonkeyPatch) -> None:
    log = Log()
    log.mark("XBTUSD", 8000)
    for account in range(1, 201):
        log.deposit(account, "XBt", 10**10)
    for account in range(1, 201, 2):
        log.trade(account, account + 1, "XBTUSD", 100, 8000)
    for index in range(1, 401):  # down 0.5 a row: every long's cheap flip mark is crossed once, then exact
        log.clock = index
        log.mark("XBTUSD", 8000 - index * 0.5)
    calls = 0
    equity = auditor_module.invariants_trading.compute_account_equity

    def counted(*args: Any) -> int:
        nonlocal calls
        calls += 1
        return equity(*args)

    monkeypatch.setattr(auditor_module.invariants_trading, "compute_account_equity", counted)
    assert audit(log.rows, INVARIANTS) == []
    assert calls < 20 * 200, calls


@pytest.mark.parametrize("symbol", sorted(INSTRUMENTS))
def test_the_exact_flip_mark_is_the_last_mark_with_the_judged_status(symbol: str) -> None:
    from perpspec.engine.audit.equity_index import CAP, _flip
    from perpspec.rules.contract import compute_value

    inst = INSTRUMENTS[symbol]
    rng = random.Random(symbol)
    for _ in range(300):
        qty = rng.choice([-1, 1]) * rng.randint(1, 50) * LOT[symbol]
        mark = rng.randint(2, 10**7)
        near = mark + rng.randint(-5, 5) if rng.random() < 0.5 else rng.randint(1, 2 * mark)  # the flip near: often
        base = -compute_value(inst, qty, max(near, 1)) + rng.randint(-3, 3)
        equity = base + compute_value(inst, qty, mark)
        positive = equity >= 0
        rising = qty > 0 if inst.is_inverse else qty * inst.multiplier > 0

        def holds(m: int, base: int = base, qty: int = qty, positive: bool = positive) -> bool:
            return (base + compute_value(inst, qty, m) >= 0) == positive

        falls = rising == positive
        flip = _flip(inst, qty, base, positive, mark, falls)
        if falls:
            assert 1 <= flip <= mark
            assert holds(flip)
            assert flip == 1 or not holds(flip - 1)
            assert all(holds(m) for m in range(flip, min(flip + 50, mark + 1)))
        else:
            assert mark <= flip <= CAP
            assert holds(flip)
            assert flip == CAP or not holds(flip + 1)
            assert all(holds(m) for m in range(max(flip - 50, mark), flip + 1))
