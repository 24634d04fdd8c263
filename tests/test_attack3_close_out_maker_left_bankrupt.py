"""Attack review 3: a close-out fill bankrupts a resting maker and the waterfall ends "complete" without it.

Severity: medium.  A registered invariant (INV-NO-NEG-EQUITY-AFTER-ADL) fails after a mark update with the
engine's default bound, and the bankrupt maker keeps its position until the *next* mark update (its deficit
grows with the mark meanwhile and lands on the fund or on ADL).

The liquidation engine's close-out orders are not guarded by LIQ-044 (``Fills.guard_for``: "the ReduceOnly room
alone for the liquidation engine"); ``Waterfall.run`` relies on the next round to liquidate a maker such a fill
took below maintenance ("a round that liquidated anything is followed by another").  But a round is followed by
another only when it *liquidated* a pool: a close-out carried over from an earlier update (ADL-031 deferred it)
is worked in a round that liquidates nothing, its fills bankrupt a maker, the loop stops (``budget ==
round_start``), nothing is pending, and ``waterfall_complete`` is set.

Reproduction (XBTUSDT, all USDt): fund 100 USDT.  Account 2 (50 USDT) sells 40,000 to account 3 at 50,000.00.
The mark rises to 51,000.00: account 2 is taken over (bankruptcy 51,174.00), the book has no offer, the fund
covers it at mark, ADL-031 defers.  Account 4 (100 USDT, flat) rests an offer of 8,000 at 60,000.00.  The mark
rises to 80,000.00: the close-out buys account 4's 8,000 at 60,000.00 (LIQ-024; the fund pays 70.608 USDT above
the bankruptcy price — attack2's known close-out price issue), ADL closes the other 32,000 against account 3, and
the waterfall ends complete with account 4 short 8,000 at equity −60 USDT (``check_all``:
INV-NO-NEG-EQUITY-AFTER-ADL).  Only the next update at the same mark liquidates it (ADL against account 3).  The
attack3 search found it with XBTUSDT's mark jumping to 9,999,999.99 (seed 2036: −69,596 USDT).

Rules: LIQ-034 (the waterfall's rounds), LIQ-024/LIQ-044 (close-out fills and the fill guard), ADL-031,
INV-NO-NEG-EQUITY-AFTER-ADL.

Proposed fix (engine/core/waterfall.py, ``Waterfall.run``): follow a round by another when its close-out fills
touched a trader (a maker whose pool the fill changed), not only when it liquidated, within the same budget; or
let the close-out's guard refuse (cancel) a maker whose fill would leave its pool below zero, as LIQ-044 does for
a trader's order.

Fixed (``Waterfall.run``): a round that liquidated nothing but changed an account (close-out fills, ADL) is
followed by another when the index then finds a pool due; that round starts with the pool just found, so it
liquidates at least one — the bound stays ``max_liquidations_per_update`` liquidations.  Account 4 is now
liquidated (and its short closed by ADL against account 3) in the same update, and the waterfall completes.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine
from perpspec.rules.adl import RankedQueuePolicy
from perpspec.rules.events import Liquidation
from perpspec.rules.instrument_file import load_builtin_instruments
from perpspec.rules.insurance import InsuranceFund
from perpspec.rules.invariants import check_all
from perpspec.rules.position import Position
from perpspec.rules.waterfall import process_waterfall
from perpspec.rules.waterfall_state import Book, BookLevel, Holding, Ledger, PendingCloseOut

PRICE = 5_000_000  # 50,000.00


def _after_the_jump(
    maker_wallet: int = 100_000_000, budget: int | None = None
) -> tuple[Engine, dict[str, list[str]]]:
    engine = Engine({"XBTUSDT": load_builtin_instruments()["XBTUSDT"]})
    if budget is not None:
        engine.waterfall.max_liquidations_per_update = budget
    engine.track_steps = True

    def ok(command: object) -> list[object]:
        events = engine.process(command)  # type: ignore[arg-type]
        assert isinstance(events[-1], Accepted), (command, events[-1])
        return events  # type: ignore[return-value]

    ok(c.DepositInsurance(time_ms=0, asset="USDt", amount=100_000_000))
    for account, wallet in ((2, 50_000_000), (3, 10**12), (4, maker_wallet)):
        ok(c.VerifyAccount(time_ms=0, account=account))
        ok(c.Deposit(time_ms=0, account=account, asset="USDt", amount=wallet))
    ok(c.PriceUpdate(time_ms=0, symbol="XBTUSDT", mark_price=PRICE, index_price=PRICE))
    ok(c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSDT", side="Buy", order_qty=40_000, price=PRICE))
    ok(c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSDT", side="Sell", order_qty=40_000, price=PRICE))
    ok(c.PriceUpdate(time_ms=1, symbol="XBTUSDT", mark_price=5_100_000, index_price=5_100_000))
    assert [(p.account, p.qty) for p in engine.waterfall.pending] == [(2, -40_000)]  # deferred (ADL-031)
    ok(c.PlaceOrder(time_ms=2, account=4, symbol="XBTUSDT", side="Sell", order_qty=8_000, price=6_000_000))
    events = ok(c.PriceUpdate(time_ms=3, symbol="XBTUSDT", mark_price=8_000_000, index_price=8_000_000))
    found = {
        key: problems for key, problems in check_all(engine, engine.step_info(events)).items() if problems
    }  # type: ignore[arg-type]
    return engine, found


def test_no_trader_is_left_below_zero_once_the_waterfall_completes() -> None:
    engine, found = _after_the_jump()
    assert found == {}  # before the fix: INV-NO-NEG-EQUITY-AFTER-ADL: account 4 USDt: equity -60000000
    assert engine.stream.waterfall_complete
    assert engine.accounts[4].positions["XBTUSDT"].qty == 0  # liquidated in the same update
    assert engine.waterfall.stats["liquidations"] == 2  # account 2 (the first update), account 4 (this one)
    assert engine.waterfall.pending == []


def test_liq_034_a_maker_a_close_out_leaves_healthy_is_kept() -> None:
    """The boundary: the same close-out fill on a well-funded maker changes its account but leaves it above
    maintenance: no pool is due, no further round liquidates anything, the maker keeps its short."""
    engine, found = _after_the_jump(maker_wallet=10**12)
    assert found == {}
    assert engine.accounts[4].positions["XBTUSDT"].qty == -8_000
    assert not engine.risk.below_maintenance(engine.accounts[4], "XBTUSDT")
    assert engine.waterfall.stats["liquidations"] == 1  # account 2 only
    assert engine.stream.waterfall_complete


def test_liq_034_the_further_round_counts_against_the_budget() -> None:
    """With a budget of one liquidation per update the further round liquidates the maker and uses it up: the
    waterfall stops there.  Nothing is left due, so nothing is carried (LIQ-034: no WaterfallCarried) and the
    step is complete (before the carry record: reported incomplete, as any waterfall that used its whole budget)."""
    engine, found = _after_the_jump(budget=1)
    assert found == {}
    assert engine.accounts[4].positions["XBTUSDT"].qty == 0
    assert engine.waterfall.stats["liquidations"] == 2
    assert engine.stream.waterfall_complete


def test_liq_034_the_rules_waterfall_liquidates_the_maker_in_the_same_update() -> None:
    """The rules' model (``rules.waterfall.process_waterfall``) on the same state: its first round has no pool
    due, the carried-over close-out fills account 4's offer; the rounds go on while a pool is left due, so
    account 4 is liquidated in the same waterfall, which completes (before: it stopped, ``complete`` False)."""
    engine = Engine({"XBTUSDT": load_builtin_instruments()["XBTUSDT"]})
    for command in (
        c.DepositInsurance(time_ms=0, asset="USDt", amount=100_000_000),
        *(c.VerifyAccount(time_ms=0, account=account) for account in (2, 3, 4)),
        *(
            c.Deposit(time_ms=0, account=account, asset="USDt", amount=wallet)
            for account, wallet in ((2, 50_000_000), (3, 10**12), (4, 100_000_000))
        ),
        c.PriceUpdate(time_ms=0, symbol="XBTUSDT", mark_price=PRICE, index_price=PRICE),
        c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSDT", side="Buy", order_qty=40_000, price=PRICE),
        c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSDT", side="Sell", order_qty=40_000, price=PRICE),
        c.PriceUpdate(time_ms=1, symbol="XBTUSDT", mark_price=5_100_000, index_price=5_100_000),
    ):
        assert isinstance(engine.process(command)[-1], Accepted), command
    [held] = engine.waterfall.pending
    ledger = Ledger(
        instrument_map=dict(engine.instrument_map),
        marks={"XBTUSDT": 8_000_000},
        wallets={(account, "USDt"): engine.wallet(account, "USDt") for account in (2, 3, 4)},
        holdings={
            (3, "XBTUSDT"): Holding(
                position=Position(qty=40_000, cost=engine.accounts[3].positions["XBTUSDT"].cost)
            ),
            (4, "XBTUSDT"): Holding(open_order_qty=8_000),
        },
        funds={"USDt": InsuranceFund(currency="USDt", balance=engine.insurance("USDt"))},
        pending=(
            PendingCloseOut(
                pending_id=0,
                account_id=held.account,
                symbol=held.symbol,
                qty=held.qty,
                takeover_price=held.takeover_price,
                age=held.age,
            ),
        ),
        next_pending_id=1,
    )
    books = {"XBTUSDT": Book(asks=(BookLevel(price=6_000_000, qty=8_000, maker_account_id=4),))}
    result = process_waterfall(ledger, books, RankedQueuePolicy(), moved="XBTUSDT")
    assert result.ledger.holdings[(4, "XBTUSDT")].position.qty == 0
    assert [e.account_id for e in result.events if isinstance(e, Liquidation)] == [4]
    assert result.complete
