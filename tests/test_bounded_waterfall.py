"""Bounded work per mark update: at most ``max_liquidations_per_update`` liquidations, the rest carried over.

Six thinly funded longs become liquidatable on one mark drop.  With a bound
of 2 the first update liquidates two, every further update at the same mark
two more, in the same deterministic order (the liquidation-price index's) as
an unbounded engine liquidating all six at once; the registered invariants
hold after every update, including the partial ones.
"""

from __future__ import annotations

from typing import Any

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.invariants import check_all

SYMBOL = "XBTUSD"
MARK = 5_000_000  # 50,000 USD
MAKER = 1
LONGS = tuple(range(2, 8))


def setup_commands() -> list[Any]:
    out: list[Any] = [
        c.DepositInsurance(time_ms=0, asset="XBt", amount=10**9),
        c.VerifyAccount(time_ms=0, account=MAKER),
        c.Deposit(time_ms=0, account=MAKER, asset="XBt", amount=10**12),
        c.PriceUpdate(time_ms=0, symbol=SYMBOL, mark_price=MARK, index_price=MARK),
    ]
    for offset, account in enumerate(LONGS):
        out += [
            c.VerifyAccount(time_ms=2, account=account),
            # a little more margin for each: distinct liquidation prices, a deterministic order
            c.Deposit(time_ms=2, account=account, asset="XBt", amount=1_000_000 + 20_000 * offset),
            c.SetLeverage(time_ms=2, account=account, symbol=SYMBOL, leverage_hundredths=5_000),
            c.PlaceOrder(time_ms=2, account=MAKER, symbol=SYMBOL, side="Sell", order_qty=10_000, price=MARK),
            c.PlaceOrder(time_ms=2, account=account, symbol=SYMBOL, side="Buy", order_qty=10_000, price=MARK),
        ]
    # resting bids far below for the liquidation orders to meet
    out.append(c.PlaceOrder(time_ms=3, account=MAKER, symbol=SYMBOL, side="Buy", order_qty=1_000_000, price=4_000_000))
    return out


def liquidated(events: list[Any]) -> list[int]:
    return [e.account for e in events if isinstance(e, RuleEvent) and e.rule_id == "LIQ-023"]


def run(bound: int, updates: int) -> tuple[list[list[int]], list[dict[str, list[str]]], str]:
    engine = Engine(max_liquidations_per_update=bound)
    for command in setup_commands():
        assert type(engine.process(command)[-1]).__name__ == "Accepted", command
    per_update = []
    violations = []
    for step in range(updates):
        events = engine.process(c.PriceUpdate(time_ms=10 + step, symbol=SYMBOL, mark_price=4_850_000))
        per_update.append(liquidated(events))
        violations.append({key: found for key, found in check_all(engine, engine.step_info()).items() if found})
    return per_update, violations, engine.state_hash()


def test_all_six_longs_are_liquidatable_on_the_drop_without_a_bound() -> None:
    per_update, violations, _ = run(bound=64, updates=1)
    assert (sorted(per_update[0]), violations) == (list(LONGS), [{}])


def test_a_bound_of_two_liquidates_two_per_update_in_the_unbounded_order() -> None:
    unbounded, _, _ = run(bound=64, updates=1)
    per_update, violations, _ = run(bound=2, updates=4)
    assert [len(step) for step in per_update] == [2, 2, 2, 0]
    assert [account for step in per_update for account in step] == unbounded[0]
    assert violations == [{}, {}, {}, {}]


def test_the_carried_work_is_deterministic() -> None:
    assert run(bound=2, updates=4) == run(bound=2, updates=4)
