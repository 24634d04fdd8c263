"""FND-008 / FND-004 / SET-003: FundingTick's rate bounds and postings, and Settle's accepted answer (engine/core/prices.py).

Found by the session-6 mutation run over ``engine/core/prices.py`` (issue 13): no test sent a rate just beyond ±100%,
read the funding postings a tick records when the liquidation engine holds nothing (only the traders, no zero entry
for it), or read the order id and the sequence numbers of an accepted Settle.  Pinned through public commands and
``Engine.step_info`` (what the FND/INV transition invariants read).

Account 1 is long 10,000 XBTUSD (0.2 XBT = 20,000,000 XBt at 50,000.00) against account 2: a rate of 0.01%
moves 2,000 XBt from the long to the short.  A rate beyond ±100% is malformed, and so (since FND-004's cap is
enforced on the tick) is one a unit beyond the cap (XBTUSD 0.375%, ETHUSD and XBTUSDT 0.75%); the XBTUSD cap itself
(0.375% of 20,000,000 = 75,000 XBt) is accepted either way.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Execution, Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.funding import compute_cap_abs_e8
from perpspec.rules.invariants import FundingPostings
from perpspec.rules.settlement import compute_position_settlement
from tests.test_engine_settlement import EXPIRY, PRICE, SYMBOL, market


def _long_short() -> Engine:
    engine = Engine()
    for account in (1, 2):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**9))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    engine.process(
        c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Sell", order_qty=10_000, price=5_000_000)
    )
    bought = engine.process(
        c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=10_000, price=5_000_000)
    )
    assert isinstance(bought[-1], Accepted)
    engine.track_steps = True
    return engine


def test_fnd_008_a_rate_beyond_one_hundred_percent_is_malformed() -> None:
    engine = _long_short()
    for rate in (100_000_001, -100_000_001):
        result = engine.process(c.FundingTick(time_ms=0, symbol="XBTUSD", rate_e8=rate))[-1]
        assert isinstance(result, Rejected)
        assert (result.reason, result.text) == (Reason.MALFORMED, "rate_e8 must be an integer within ±100%")


def test_fnd_004_a_rate_one_beyond_the_cap_is_malformed_on_each_perpetual_and_changes_nothing() -> None:
    engine = _long_short()
    wallets = (engine.wallet(1, "XBt"), engine.wallet(2, "XBt"))
    for symbol, cap in (("XBTUSD", 375_000), ("ETHUSD", 750_000), ("XBTUSDT", 750_000)):
        assert compute_cap_abs_e8(engine.instrument_map[symbol]) == cap
        for rate in (cap + 1, -cap - 1):
            events = engine.process(c.FundingTick(time_ms=0, symbol=symbol, rate_e8=rate))
            assert len(events) == 1
            assert isinstance(events[0], Rejected)
            assert (events[0].reason, events[0].text) == (
                Reason.MALFORMED,
                f"rate_e8 beyond FND-004's cap ±{cap}",
            )
            assert engine.step_info(events).funding == ()
    assert (engine.wallet(1, "XBt"), engine.wallet(2, "XBt")) == wallets


def test_fnd_004_the_cap_itself_is_accepted_either_way() -> None:
    engine = _long_short()
    for instant, (rate, long_delta) in enumerate(((375_000, -75_000), (-375_000, 75_000))):  # two instants: FND-021
        events = engine.process(c.FundingTick(time_ms=instant, symbol="XBTUSD", rate_e8=rate))
        assert isinstance(events[-1], Accepted)
        assert engine.step_info(events).funding == (
            FundingPostings(asset="XBt", symbol="XBTUSD", wallet_deltas=(long_delta, -long_delta), residue=0),
        )


def test_fnd_008_a_tick_without_a_liquidation_engine_position_posts_the_traders_only() -> None:
    engine = _long_short()
    wallet = engine.wallet(1, "XBt")
    events = engine.process(c.FundingTick(time_ms=0, symbol="XBTUSD", rate_e8=10_000))
    assert events[-1] == Accepted(
        seq=events[-1].seq, time_ms=0, command="FundingTick", account=-1, order_id=0
    )
    assert engine.step_info(events).funding == (
        FundingPostings(asset="XBt", symbol="XBTUSD", wallet_deltas=(-2_000, 2_000), residue=0),
    )
    assert engine.wallet(1, "XBt") == wallet - 2_000


def test_set_003_an_accepted_settle_addresses_no_order_and_numbers_its_events_consecutively() -> None:
    engine = market()
    events = engine.process(c.Settle(time_ms=EXPIRY, symbol=SYMBOL, settlement_price=PRICE))
    last = events[-1]
    assert last == Accepted(seq=last.seq, time_ms=EXPIRY, command="Settle", account=-1, order_id=0)
    assert [e.seq for e in events] == list(range(events[0].seq, last.seq + 1))


def test_set_003_settlement_prices_of_one_unit_and_of_max_price_are_prices() -> None:
    """1 and maxPrice are valid settlement prices: refused here only because the mark is not there (SET-005), not
    as invalid prices."""
    engine = market()
    for price in (1, engine.instrument_map[SYMBOL].max_price):
        result = engine.process(c.Settle(time_ms=EXPIRY, symbol=SYMBOL, settlement_price=price))[-1]
        assert isinstance(result, Rejected)
        assert result.reason == Reason.MARK_NOT_SETTLEMENT_PRICE
    for price in (0, engine.instrument_map[SYMBOL].max_price + 1):
        result = engine.process(c.Settle(time_ms=EXPIRY, symbol=SYMBOL, settlement_price=price))[-1]
        assert isinstance(result, Rejected)
        assert (result.reason, result.text) == (
            Reason.INVALID_PRICE,
            "settlement_price must be an integer in (0, maxPrice]",
        )


def test_set_003_each_holder_gets_one_settlement_report_of_its_whole_position() -> None:
    """Settle's execution reports: no order (id 0, no price fields beyond the settlement price), the whole position
    filled at the settlement price, the fee and realised PnL of SET-003 (``compute_position_settlement``)."""
    engine = market()
    inst = engine.instrument_map[SYMBOL]
    before = {account: engine.positions(account)[SYMBOL] for account in (1, 2, 3, 4)}
    events = engine.process(c.Settle(time_ms=EXPIRY, symbol=SYMBOL, settlement_price=PRICE))
    reports = [e for e in events if isinstance(e, Execution) and e.exec_type == "Settlement"]
    expected = []
    for (account, position), report in zip(sorted(before.items()), reports, strict=True):
        _, realised, fee = compute_position_settlement(inst, position, PRICE)
        qty = abs(position.qty)
        expected.append(
            Execution(
                report.seq,
                EXPIRY,
                "Settlement",
                account,
                SYMBOL,
                0,
                "",
                "Sell" if position.qty > 0 else "Buy",
                "",
                qty,
                PRICE,
                0,
                qty,
                PRICE,
                0,
                qty,
                "Filled",
                fee,
                "",
                f"Settlement: realisedPnl {realised}",
            )
        )
    assert reports == expected
    assert [r.exec_comm for r in reports] == [34_861, 29_881, 19_921, 24_901]


def test_a_price_update_takes_prices_in_one_unit_to_max_price() -> None:
    engine = Engine()
    max_price = engine.instrument_map["XBTUSD"].max_price
    for mark, index in ((0, None), (None, 0), (max_price + 1, None), (None, max_price + 1)):
        result = engine.process(
            c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=mark, index_price=index)
        )[-1]
        assert isinstance(result, Rejected)
        assert (result.reason, result.text) == (
            Reason.INVALID_PRICE,
            "prices must be integers in (0, maxPrice]",
        )
    assert engine.marks == {}
    for price in (1, max_price):
        result = engine.process(
            c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=price, index_price=price)
        )[-1]
        assert isinstance(result, Accepted)
        assert (engine.mark_price("XBTUSD"), engine.index_prices["XBTUSD"]) == (price, price)
