"""What rejected commands cost after a dead man's switch came due: the switch's orders once, then nothing.

Session 14 looked for a bound below O(K) per rejected command (K: the orders of the account whose switch fired) and
found none short of a rule change: a rejected command undid the switch's cancels and left the clock, so each further
rejected command fired and undid them again.  Session 15 made that rule change (the timers a command's time fires
are committed whatever the command's fate, ORD-050; the same held, worse, for Day orders after midnight:
redteam10_1).  This pins what holds now: the first rejected command at the deadline reads each of the switch
account's orders a bounded number of times (the firing), the cost grows with K and not with the other accounts'
orders, and every further rejected command costs the same small amount, whatever K.

Cost is counted, not timed: every order counts the reads of its attributes.
"""

from __future__ import annotations

from typing import Any

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core import registry
from perpspec.engine.core.events import Accepted, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.orders import Order
from perpspec.rules.instrument_file import load_instrument

SYMBOL = "XBTUSD"
TICK = 50
MARK = 5_000_000
READS = [0]

interpreted_only = pytest.mark.skipif(
    not registry.__file__.endswith(".py"), reason="swaps the orders' class (a compiled engine's orders are native)"
)


class CountingOrder(Order):
    """An order that counts the reads of its attributes."""

    __slots__ = ()

    def __getattribute__(self, name: str) -> Any:
        READS[0] += 1
        return object.__getattribute__(self, name)


def armed(switched: int, others: int) -> Engine:
    """Account 1 rests ``switched`` bids and arms a 1 ms switch; accounts 2-11 rest ``others`` asks."""
    engine = Engine({SYMBOL: load_instrument(SYMBOL)})
    p = engine.process
    p(c.PriceUpdate(time_ms=0, symbol=SYMBOL, mark_price=MARK, index_price=MARK))
    for account in range(1, 12):
        p(c.VerifyAccount(time_ms=0, account=account))
        p(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    for number in range(switched):
        p(c.PlaceOrder(time_ms=0, account=1, symbol=SYMBOL, side="Buy", order_qty=100,
                       price=MARK - (1 + number % 50) * TICK))
    for number in range(others):
        p(c.PlaceOrder(time_ms=0, account=2 + number % 10, symbol=SYMBOL, side="Sell", order_qty=100,
                       price=MARK + (1 + number % 50) * TICK))
    assert isinstance(p(c.CancelAllAfter(time_ms=0, account=1, timeout_ms=1))[-1], Accepted)
    for order in engine.registry.live_orders.values():
        order.__class__ = CountingOrder
    return engine


def rejected_at_the_deadline(engine: Engine) -> int:
    """The order attribute reads of a rejected Withdraw whose time fires account 1's switch."""
    READS[0] = 0
    events = engine.process(c.Withdraw(time_ms=5, account=3, asset="XBt", amount=10**15))
    assert isinstance(events[-1], Rejected)
    return READS[0]


@interpreted_only
def test_a_rejected_command_after_a_switch_costs_the_switch_accounts_orders() -> None:
    small = rejected_at_the_deadline(armed(100, 0))
    large = rejected_at_the_deadline(armed(400, 0))
    crowded = rejected_at_the_deadline(armed(100, 2_000))
    assert 3 * small < large < 6 * small  # linear in K (x4)
    assert crowded <= small * 11 // 10  # 2,000 other orders cost (about) nothing


@interpreted_only
def test_the_next_rejected_commands_pay_nothing_for_the_switch_whatever_its_size() -> None:
    costs = {}
    for switched in (200, 800):
        engine = armed(switched, 0)
        first = rejected_at_the_deadline(engine)
        assert (engine.accounts[1].orders, engine.time_ms) == ({}, 5)  # fired for good, the clock moved
        costs[switched] = [first, *(rejected_at_the_deadline(engine) for _ in range(3))]
    assert costs[200][0] > 200  # the firing reads each order
    assert costs[800][0] > 800
    assert costs[200][1:] == costs[800][1:] == [0, 0, 0]  # old code: the first cost again, every time
