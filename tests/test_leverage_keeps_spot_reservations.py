"""SetLeverage and SetRiskLimit take no money a resting spot order reserves (session 12 review, rev2_1).

Both judged the new margin on the available balance less the tier extras, without the spot reservations
(``Risk.spendable`` nets them, as TransferMargin already did).  T, long 0.1 XBT of XBTUSDT (cross) on 2,000 USDT,
rests a spot bid on XBT_USDT reserving almost all LIQ-055 lets it spend, then isolates at 10x: the isolation set
about 504 USDT aside out of some 78 that were free, leaving the free balance below zero, and a seller hitting the
reserved bid found it cancelled with LIQ-044's "bankruptcy" text.  Now the isolation is refused and the bid trades.

Rules: MRG-061, LIQ-055, RSK-007.
"""

from __future__ import annotations

from pathlib import Path

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, Execution, Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_builtin_instruments, load_instrument

SPOT = Path(__file__).resolve().parent.parent / "specs" / "instruments" / "spot" / "XBT_USDT.toml"
T, MM = 1, 2


def reserved_bid() -> tuple[Engine, int]:
    instruments = dict(load_builtin_instruments())
    instruments["XBT_USDT"] = load_instrument(str(SPOT))
    engine = Engine(instruments)

    def ok(command: c.Command) -> list[Event]:
        events = engine.process(command)
        assert isinstance(events[-1], Accepted), (command, events[-1])
        return events

    for account in (T, MM):
        ok(c.VerifyAccount(time_ms=0, account=account))
    for symbol in ("XBTUSDT", "XBT_USDT"):
        ok(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=5_000_000, index_price=5_000_000))
    ok(c.Deposit(time_ms=0, account=T, asset="USDt", amount=2_000_000_000))
    ok(c.Deposit(time_ms=0, account=MM, asset="USDt", amount=10**13))
    ok(c.Deposit(time_ms=0, account=MM, asset="XBt", amount=10**10))
    ok(c.PlaceOrder(time_ms=0, account=MM, symbol="XBTUSDT", side="Sell", order_qty=100_000, price=5_000_000))
    ok(c.PlaceOrder(time_ms=0, account=T, symbol="XBTUSDT", side="Buy", order_qty=100_000, price=5_000_000))
    spendable = engine.risk.spot_spendable(engine.accounts[T], "USDt")
    qty = (spendable * 1000 // 1001) // 50_000 // 1000 * 1000
    ok(c.PlaceOrder(time_ms=0, account=T, symbol="XBT_USDT", side="Buy", order_qty=qty, price=4_900_000))
    return engine, qty


def test_isolating_cannot_take_the_money_a_spot_bid_reserved() -> None:
    engine, qty = reserved_bid()
    free = engine.available(T, "USDt") - engine.accounts[T].reserved["USDt"]
    assert 0 <= free < 100_000_000  # under 100 USDT free beside the reservation
    refused = engine.process(c.SetLeverage(time_ms=0, account=T, symbol="XBTUSDT", leverage_hundredths=1000))[-1]
    assert isinstance(refused, Rejected)
    assert refused.reason is Reason.INSUFFICIENT_MARGIN
    assert engine.accounts[T].positions["XBTUSDT"].iso_margin == 0
    events = engine.process(c.PlaceOrder(time_ms=0, account=MM, symbol="XBT_USDT", side="Sell", order_qty=qty,
                                         price=4_900_000))
    assert [(e.exec_type, e.last_qty) for e in events if isinstance(e, Execution) and e.account == T] == [("Trade", qty)]


def test_a_risk_limit_is_judged_net_of_the_reservations_too() -> None:
    # ten risk steps up raise the position's requirement by more than the ~78 USDT left free beside the bid
    engine, _ = reserved_bid()
    inst = engine.instrument_map["XBTUSDT"]
    refused = engine.process(c.SetRiskLimit(time_ms=0, account=T, symbol="XBTUSDT",
                                            risk_limit=inst.risk_limit + 10 * inst.risk_step))[-1]
    assert isinstance(refused, Rejected)
    assert refused.reason is Reason.INSUFFICIENT_MARGIN
    assert engine.accounts[T].positions["XBTUSDT"].risk_limit == inst.risk_limit
