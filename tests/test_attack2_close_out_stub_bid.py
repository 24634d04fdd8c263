"""Attack review 2 (money paths): a close-out sells into a stub bid far below the mark; the bid takes the fund.

Severity: high in a thin book.  Any take-over the book does not absorb at once ends in a
colluder's stub bid far under the mark, paid by the fund: at once when the fund cover is negative
(scenario 1, after a gap), after enough mark updates when it is not (scenario 2, the walk).

LIQ-051 (``rules.liquidation_working.get_working_offers``): while ADL-031's fund cover (fund + the
held positions' PnL at mark) is ≥ 0, a close-out takes only offers within the working limit;
once it is negative it takes *every* offer, "the fund pays to aggress the market while it can
(INS-005) before any position is deleveraged".  INS-005 stops only when the fund is empty, so
the first bids the close-out meets are taken however far they are from the mark.  A colluder
resting a bid far below the mark (nobody else bids there) buys from the liquidation engine at
that price; the fund pays the difference to the bankruptcy price in full.  Without that bid the
same close-out is deleveraged at the bankruptcy price (ADL-020) and the fund keeps its balance:
the fund's money goes to the stub bid, not to reducing anyone's loss.

Reproduction (XBTUSD): fund 1,000,000 XBt; account 2 (1,200,000 XBt) buys 50,000 cross from
account 3 at 50,000.00; account 5 bids 50,000 at 40,000.00.  The mark gaps to 48,500.00:
account 2 is taken over at its bankruptcy price 49,481.00 (equity −1,968,000, fund cover < 0);
the close-out sells 2,200 to account 5 at 40,000.00 — 17.5% below the mark — drawing 1,053,844
(the fund is left with 22,156); the other 47,800 are deleveraged against account 3.  Account 5
holds 2,200 contracts bought 8,500.00 under the mark.

The same stub bid collects while the cover is *positive*, only later: LIQ-050's working limit
moves 0.5% of the bankruptcy price per waterfall with no floor, past the mark and on.  Fund
10^8, mark 48,900.00 (account 2 taken over at 49,481.00, cover ≥ 0): the 40th PriceUpdate at
that unchanged mark sells all 50,000 to account 5 at 40,000.00 and draws 23,951,000 from the
fund, where the loss at mark is about 1.2M.

Proposed fix (LIQ-050/051): stop the working limit at the mark (``max(anchor − move, mark)``
selling, ``min`` buying) — past it the fund pays more than the loss ADL-031 counts; a close-out
the book does not take at the mark goes to ADL.  With a negative cover, still bound the offers — take none worse than the
mark (the fund then pays at most ``bankruptcy − mark`` per contract, the loss ADL-031 already
counts), or than the fat-finger band around it — and leave the rest to ADL-020 at the
bankruptcy price.

Fixed (session 6): the close-out floor of LIQ-051 — no close-out fill more than 5% (the
fat-finger band) worse than the mark, with either sign of the cover; the walk stops there and,
with a negative cover, the rest goes to ADL-020.  Why 5% and not the mark itself is written in
``rules/liquidation_working.py`` (a floor at the mark holds taken-over longs through a falling
book: march_2020_bitmex's fund fell to a third).  The boundary: tests/test_closeout_floor.py.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.events import LiquidationFill

GAP_MARK = 4_850_000
STUB_BID = 4_000_000


def _gap_with_a_stub_bid() -> tuple[Engine, list[LiquidationFill]]:
    engine = Engine()
    engine.process(c.DepositInsurance(time_ms=0, asset="XBt", amount=1_000_000))
    for account, wallet in ((2, 1_200_000), (3, 10**10), (5, 10**10)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=wallet))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    engine.process(c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Sell", order_qty=50_000, price=5_000_000))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Buy", order_qty=50_000, price=5_000_000))
    engine.process(c.PlaceOrder(time_ms=0, account=5, symbol="XBTUSD", side="Buy", order_qty=50_000, price=STUB_BID))
    events = engine.process(c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=GAP_MARK, index_price=GAP_MARK))
    fills = [e.record for e in events if isinstance(e, RuleEvent) and isinstance(e.record, LiquidationFill)]
    assert engine.accounts[2].positions["XBTUSD"].qty == 0  # taken over
    return engine, fills


def test_a_close_out_never_sells_below_the_mark_into_a_stub_bid() -> None:
    _, fills = _gap_with_a_stub_bid()
    assert all(fill.price >= GAP_MARK for fill in fills)  # on main: 2,200 sold at 40,000.00


def test_the_fund_is_not_paid_out_to_a_stub_bid() -> None:
    engine, _ = _gap_with_a_stub_bid()
    position = engine.accounts[5].positions.get("XBTUSD")
    assert position is None or position.qty == 0  # on main: 2,200 bought from the liquidation engine
    assert engine.insurance_funds["XBt"] >= 1_000_000  # on main: 22,156 left


def test_the_working_limit_never_walks_past_the_mark() -> None:
    engine = Engine()
    engine.process(c.DepositInsurance(time_ms=0, asset="XBt", amount=10**8))
    for account, wallet in ((2, 1_200_000), (3, 10**10), (5, 10**10)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=wallet))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    engine.process(c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Sell", order_qty=50_000, price=5_000_000))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Buy", order_qty=50_000, price=5_000_000))
    engine.process(c.PlaceOrder(time_ms=0, account=5, symbol="XBTUSD", side="Buy", order_qty=50_000, price=STUB_BID))
    fills: list[LiquidationFill] = []
    for step in range(1, 41):  # the mark does not move: 48,900.00, below the take-over price 49,481.00
        events = engine.process(c.PriceUpdate(time_ms=step, symbol="XBTUSD", mark_price=4_890_000, index_price=4_890_000))
        fills += [e.record for e in events if isinstance(e, RuleEvent) and isinstance(e.record, LiquidationFill)]
    assert all(fill.price >= 4_890_000 for fill in fills)  # on main: the 40th sells 50,000 at 40,000.00
    assert engine.insurance_funds["XBt"] >= 10**8 - 2_000_000  # on main: 76,125,000
