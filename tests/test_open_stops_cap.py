"""An account holds at most MAX_OPEN_STOPS untriggered conditional orders per contract (engine/core/entry.py).

Found by the session-5 attack review: untriggered stops need no margin and every price update scans them, so one
verified account with no balance could rest thousands and slow every update (8,000 stops: 1.4-2.5 ms per update
instead of 7 µs).  The eleventh is refused with a typed reason and changes nothing; a stop that triggers or is
cancelled frees its place; other contracts and other accounts are counted apart.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.entry import MAX_OPEN_STOPS
from perpspec.engine.core.events import Accepted, Reason, Rejected
from perpspec.engine.core.exchange import Engine

MARK = 5_000_000


def _engine() -> Engine:
    engine = Engine()
    for account in (1, 2):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=MARK, index_price=MARK))
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    return engine


def _stop(engine: Engine, account: int, stop_px: int, symbol: str = "XBTUSD") -> list[object]:
    qty = 100 if symbol == "XBTUSD" else 1
    return list(engine.process(c.PlaceOrder(time_ms=0, account=account, symbol=symbol, side="Sell", order_qty=qty, stop_px=stop_px)))


def test_the_stop_past_the_cap_is_refused_and_changes_nothing() -> None:
    engine = _engine()
    for index in range(MAX_OPEN_STOPS):
        assert isinstance(_stop(engine, 1, MARK - 50 * (index + 1))[-1], Accepted)
    before = engine.state_hash()
    events = _stop(engine, 1, MARK - 50 * (MAX_OPEN_STOPS + 1))
    assert isinstance(events[-1], Rejected)
    assert events[-1].reason is Reason.TOO_MANY_OPEN_STOPS
    engine.seq -= 1  # the reject's own sequence number is the only trace it leaves
    assert engine.state_hash() == before
    assert isinstance(_stop(engine, 2, MARK - 50)[-1], Accepted)  # another account
    assert isinstance(_stop(engine, 1, 290_000, "ETHUSD")[-1], Accepted)  # another contract


def test_a_triggered_or_cancelled_stop_frees_its_place() -> None:
    engine = _engine()
    ids = []
    for index in range(MAX_OPEN_STOPS):
        accepted = _stop(engine, 1, MARK - 50 * (index + 1))[-1]
        assert isinstance(accepted, Accepted)
        ids.append(accepted.order_id)
    engine.process(c.CancelOrder(time_ms=0, account=1, order_id=ids[0]))
    assert isinstance(_stop(engine, 1, MARK - 50)[-1], Accepted)
    assert engine.entry.open_stops(engine.accounts[1], "XBTUSD") == MAX_OPEN_STOPS
    engine.process(c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=MARK - 100, index_price=MARK - 100))
    assert engine.entry.open_stops(engine.accounts[1], "XBTUSD") < MAX_OPEN_STOPS  # the two highest triggered
