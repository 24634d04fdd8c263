"""``Market``'s answers the engine reads: a trigger price before the first one, and the fee tiers' USD per unit.

Found by the session-7 mutation run over ``engine/core/market.py`` (issue 13): ``Market.trigger_price`` answers 0
for a trigger price the contract has not had yet, which order entry reads as "no price yet"; no test placed a
trailing stop watching the *index* before the first index update (the last-price case is in
``tests/test_trailing_stop_range.py``). Answered as one price unit, a buy trailing stop would be accepted with a
stop price of one unit plus its offset.

Also ``Market.usd_price``, the fee tiers' conversion of a fill's notional into USD (reference §10), never pinned
for a non-inverse contract (the fee-tier tests trade XBTUSD, whose contracts are USD already): one for USDt, the
XBTUSD mark (unrounded: ACC-009 floors once) for XBt, and nothing without an XBTUSD contract.
"""

from __future__ import annotations

import attrs

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Execution, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument


def test_an_index_price_trailing_stop_before_any_index_update_is_refused() -> None:
    engine = Engine()
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000))  # a mark, no index yet
    engine.process(c.VerifyAccount(time_ms=0, account=1))
    engine.process(c.Deposit(time_ms=0, account=1, asset="XBt", amount=10**10))
    assert engine.index_prices == {}
    for side, offset in (("Buy", 1_000), ("Sell", -1_000)):
        refused = engine.process(
            c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side=side, order_qty=1, ord_type="Pegged",
                         peg_price_type="TrailingStopPeg", peg_offset_value=offset, exec_inst="Fixed,IndexPrice")
        )[-1]
        assert isinstance(refused, Rejected), refused
        assert (refused.reason.name, refused.text) == ("NO_MARK_PRICE", "no IndexPrice yet for the trailing stop")
    assert engine.live_orders == {}


def _volumes(engine: Engine, symbol: str, qty: int, price: int) -> tuple[dict[int, int], dict[int, int]]:
    """Account 2 sells ``qty`` at ``price`` to account 1: both accounts' USD volume by day (the fee tiers' input)."""
    for account in (1, 2):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset=engine.instrument_map[symbol].settl_currency, amount=10**13))
    engine.process(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=price, index_price=price))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol=symbol, side="Sell", order_qty=qty, price=price))
    engine.process(c.PlaceOrder(time_ms=0, account=1, symbol=symbol, side="Buy", order_qty=qty, price=price))
    return engine.accounts[1].volume_by_day, engine.accounts[2].volume_by_day


def test_fee_tier_volume_of_a_usdt_contract_is_its_notional_in_whole_usd() -> None:
    # reference §10: 100,000 XBTUSDT at 50,000.00 are 5,000 USDT of notional, 5,000 USD (no XBTUSD mark needed)
    assert _volumes(Engine(), "XBTUSDT", 100_000, 5_000_000) == ({0: 5_000}, {0: 5_000})


def test_fee_tier_volume_of_an_xbt_settled_quanto_is_converted_at_the_xbtusd_mark() -> None:
    # 1,000 ETHUSD at 3,000.00 are 3 XBT of notional; at an XBTUSD mark of 50,000.00 that is 150,000 USD
    engine = Engine()
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    assert _volumes(engine, "ETHUSD", 1_000, 300_000) == ({0: 150_000}, {0: 150_000})
    # with no XBTUSD contract to price an XBT in USD, the fill counts no volume at all
    alone = Engine({"ETHUSD": load_instrument("ETHUSD")})
    assert _volumes(alone, "ETHUSD", 1_000, 300_000) == ({0: 0}, {0: 0})


def test_fee_tier_average_daily_volume_is_floored_a_dollar_short_stays_in_the_first_tier() -> None:
    # reference §10: the 30-day average daily USD volume, floored. A USDt contract with a second tier from $1,000,000
    # a day: 29,999,999 USD traded on day 0 average 999,999.97 a day, still the first tier on day 1; 49 USD more (1,000
    # more at 49,000.00) reach the second
    base = load_instrument("XBTUSDT")
    tiers = (base.fee_tiers[0], attrs.evolve(base.fee_tiers[0], adv_usd=1_000_000, taker_fee_ppm=500))
    inst = attrs.evolve(base, fee_tiers=tiers)
    for extra, taker_ppm in ((0, 750), (1_000, 500)):
        engine = Engine({"XBTUSDT": inst})
        engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSDT", mark_price=5_000_000, index_price=5_000_000))
        for account in (1, 2):
            engine.process(c.VerifyAccount(time_ms=0, account=account))
            engine.process(c.Deposit(time_ms=0, account=account, asset="USDt", amount=10**14))
        # within the 1m USDT risk limit (position and orders): 63 alternating trades of 9,500,000 (475,000 USD
        # each), then 1,499,000 back (74,950 USD) and 1,000 at 49,000.00 (49 USD)
        trades = [("Buy" if i % 2 == 0 else "Sell", 9_500_000, 5_000_000) for i in range(63)]
        trades += [("Sell", 1_499_000, 5_000_000), ("Buy", 1_000 + extra, 4_900_000)]
        for side, qty, price in trades:
            other = "Sell" if side == "Buy" else "Buy"
            engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSDT", side=other, order_qty=qty, price=price))
            done = engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSDT", side=side, order_qty=qty, price=price))
            assert not isinstance(done[-1], Rejected), done[-1]
        assert engine.accounts[1].volume_by_day == {0: 29_999_999 + extra * 49 // 1_000}
        day = 86_400_000
        engine.process(c.PriceUpdate(time_ms=day, symbol="XBTUSDT", mark_price=5_000_000, index_price=5_000_000))
        engine.process(c.PlaceOrder(time_ms=day, account=2, symbol="XBTUSDT", side="Sell", order_qty=1_000, price=5_000_000))
        events = engine.process(c.PlaceOrder(time_ms=day, account=1, symbol="XBTUSDT", side="Buy", order_qty=1_000, price=5_000_000))
        [fee] = [e.exec_comm for e in events if isinstance(e, Execution) and e.exec_type == "Trade" and e.account == 1]
        assert fee == 50_000_000 * taker_ppm // 1_000_000  # 1,000 at 50,000.00: 50 USDT of notional
