"""mut34: FND-021's edges the session-21 tests left open (survivors of a hand-made mutation round, session 23).

- an instant at time 0 is an instant paid like any other (``check_funding_instant`` tests ``is not None``, not
  truthiness: with ``if last_funding_ms and ...`` a second tick at 0 was paid again);
- a FundingTick earlier than the clock whose fields are of the wrong type is refused as the clock refuses it, never
  read by FND-021's early check (``Prices.earlier_instant`` without its type gate asserts on the symbol);
- a snapshot from before ``funded`` derives paid instants for perpetuals only (``Market.funded_through`` without its
  ``expiry_ms is None`` test took a dated future with a mark as funded: a state the snapshot check refuses).
"""

from __future__ import annotations

from typing import Any

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.state_codec import decode_state, encode_state
from perpspec.rules.funding import check_funding_instant

MARK = 5_000_000


def _engine(*commands: Any) -> Engine:
    engine = Engine()
    for account in (1, 2):
        for command in (c.VerifyAccount(time_ms=0, account=account),
                        c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**9)):
            assert isinstance(engine.process(command)[-1], Accepted)
    for command in (c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=MARK, index_price=MARK),
                    c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Sell", order_qty=10_000, price=MARK),
                    c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=10_000, price=MARK),
                    *commands):
        assert isinstance(engine.process(command)[-1], Accepted), command
    return engine


def test_fnd_021_the_rule_treats_an_instant_paid_at_0_as_paid() -> None:
    refused = check_funding_instant("XBTUSD", 0, 0)
    assert refused is not None
    assert refused.reason == "already-paid"
    assert check_funding_instant("XBTUSD", 1, 0) is None
    assert check_funding_instant("XBTUSD", 0, None) is None


def test_fnd_021_a_second_tick_at_instant_0_is_refused_and_pays_nothing() -> None:
    engine = _engine(c.FundingTick(time_ms=0, symbol="XBTUSD", rate_e8=10_000))
    assert engine.funded == {"XBTUSD": 0}
    wallets = engine.wallet(1, "XBt"), engine.wallet(2, "XBt")
    events = engine.process(c.FundingTick(time_ms=0, symbol="XBTUSD", rate_e8=10_000))
    assert len(events) == 1
    refused = events[0]
    assert isinstance(refused, Rejected)
    assert refused.reason == Reason.FUNDING_ALREADY_PAID
    assert (engine.wallet(1, "XBt"), engine.wallet(2, "XBt")) == wallets


def test_fnd_021_an_earlier_tick_of_the_wrong_type_is_the_clock_s_refusal() -> None:
    engine = _engine(c.FundingTick(time_ms=5, symbol="XBTUSD", rate_e8=10_000),
                     c.PriceUpdate(time_ms=10, symbol="XBTUSD", mark_price=MARK, index_price=MARK))
    for bad in (c.FundingTick(time_ms=5, symbol=5, rate_e8=1),  # type: ignore[arg-type]
                c.FundingTick(time_ms=5, symbol="XBTUSD", rate_e8="x")):  # type: ignore[arg-type]
        events = engine.process(bad)
        assert len(events) == 1
        refused = events[0]
        assert isinstance(refused, Rejected)
        assert (refused.reason, refused.text) == (Reason.TIME_WENT_BACKWARDS, "time 5 < clock 10")
    # the engine runs on (not halted by an exception inside FND-021's early check)
    assert isinstance(engine.process(c.FundingTick(time_ms=10, symbol="XBTUSD", rate_e8=1))[-1], Accepted)


def test_fnd_021_an_older_snapshot_derives_no_paid_instant_for_a_dated_future() -> None:
    engine = _engine(c.PriceUpdate(time_ms=3, symbol="XBTZ26", mark_price=MARK, index_price=MARK))
    state = decode_state(engine.snapshot())
    del state["funded"]  # as a build from before FND-021 wrote it
    loaded = Engine.from_snapshot(encode_state(state))
    assert loaded.funded == {"XBTUSD": 3}  # the perpetual with a mark, at the clock; XBTZ26 never funds
    again = Engine.from_snapshot(loaded.snapshot())  # and the state it derived is one a snapshot may hold
    assert again.funded == {"XBTUSD": 3}
