"""The event stream's numbering, clock bounds and derived order status, pinned with literal values.

Found by the session-7 mutation run over ``engine/core/stream.py`` (issue 13): the tests compared event numbers and
times relatively and read the time bound through the imported constant, so a stream counting from 1, a
``Transaction`` or ``RuleEvent`` taking two numbers, a bound one millisecond late, or an order of exactly one
contract reported ``PartiallyFilled`` went unnoticed.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, Execution, Rejected
from perpspec.engine.core.exchange import Engine

LAST_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


def _seqs(events: list[Event]) -> list[int]:
    return [e.seq for e in events]


def test_times_are_bounded_by_the_last_millisecond_of_9999() -> None:
    late = Engine().process(c.TimeTick(time_ms=LAST_MS + 1))
    assert isinstance(late[-1], Rejected)
    assert late[-1].reason.name == "TIME_OUT_OF_RANGE"
    assert isinstance(Engine().process(c.TimeTick(time_ms=LAST_MS))[-1], Accepted)


def test_a_fresh_engine_numbers_its_first_event_1_and_a_bad_time_is_reported_at_0() -> None:
    engine = Engine()
    refused = engine.process(c.TimeTick(time_ms=-1))
    assert [(e.seq, e.time_ms) for e in refused] == [(1, 0)]


def test_transactions_and_rule_events_take_one_number_each() -> None:
    engine = Engine()
    events = engine.process(c.VerifyAccount(time_ms=0, account=1))
    events += engine.process(c.Deposit(time_ms=0, account=1, asset="XBt", amount=10**9))
    events += engine.process(c.DepositInsurance(time_ms=0, asset="XBt", amount=10**9))
    events += engine.process(c.Deposit(time_ms=0, account=1, asset="XBt", amount=1))
    assert [type(e).__name__ for e in events] == [
        "Accepted", "Transaction", "Accepted", "RuleEvent", "Accepted", "Transaction", "Accepted"
    ]
    assert _seqs(events) == list(range(1, 8))


def test_order_status_of_one_contract_filled_and_of_one_of_two() -> None:
    engine = Engine()
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    for account in (1, 2):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**9))
    placed = engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Sell", order_qty=1, price=300_000))
    [new] = [e for e in placed if isinstance(e, Execution)]
    assert (new.exec_type, new.last_qty, new.last_px, new.exec_comm, new.ord_status) == ("New", 0, 0, 0, "New")
    taken = engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=2, price=300_000))
    trades = [(e.account, e.cum_qty, e.leaves_qty, e.ord_status) for e in taken if isinstance(e, Execution) and e.exec_type == "Trade"]
    assert sorted(trades) == [(1, 1, 1, "PartiallyFilled"), (2, 1, 0, "Filled")]
