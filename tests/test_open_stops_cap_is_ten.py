"""The cap on untriggered conditional orders is ten per account and contract, as documented (not just a constant).

Found by the session-5 mutation run (issue 13): tests/test_open_stops_cap.py counts up to the imported
``MAX_OPEN_STOPS``, so changing the constant changed the test with it.  Here the number is written out: the tenth
stop rests, the eleventh is refused with TooManyOpenStops and the text that names the cap.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Reason, Rejected
from perpspec.engine.core.exchange import Engine

MARK = 5_000_000


def test_the_tenth_stop_rests_and_the_eleventh_is_refused() -> None:
    engine = Engine()
    engine.process(c.VerifyAccount(time_ms=0, account=1))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=MARK, index_price=MARK))
    results = [
        engine.process(
            c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Sell", order_qty=100, stop_px=MARK - 50 * n)
        )[-1]
        for n in range(1, 12)
    ]
    assert all(isinstance(result, Accepted) for result in results[:10])
    refused = results[10]
    assert isinstance(refused, Rejected)
    assert refused.reason is Reason.TOO_MANY_OPEN_STOPS
    assert refused.text == "at most 10 untriggered stop orders per contract"
    assert engine.entry.open_stops(engine.accounts[1], "XBTUSD") == 10
