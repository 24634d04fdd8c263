"""The waterfall through the engine's own book: partial liquidation, take-over, insurance, ADL."""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Event, RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.invariants import check_all

ETHUSD = load_instrument("ETHUSD")
XBT = 100_000_000


def setup(deposit: int) -> Engine:
    engine = Engine({"ETHUSD": ETHUSD})
    engine.track_steps = True
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    for account, amount in ((1, deposit), (2, 1_000 * XBT)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    return engine


def rules_fired(events: list[Event]) -> list[str]:
    return [e.kind for e in events if isinstance(e, RuleEvent)]


def open_long(engine: Engine, qty: int) -> None:
    for account in (1, 2):
        limit = ETHUSD.risk_limit + 4 * ETHUSD.risk_step if account == 2 else ETHUSD.risk_limit + ETHUSD.risk_step
        engine.process(c.SetRiskLimit(time_ms=0, account=account, symbol="ETHUSD", risk_limit=limit))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Sell", order_qty=qty, price=300_000))
    engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=qty, price=300_000))


def test_position_above_the_base_risk_limit_is_partially_liquidated_when_the_book_can_take_it() -> None:
    engine = setup(3 * XBT)
    open_long(engine, 25_000)  # 75 XBT: one risk step above the 50 XBT base limit
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Buy", order_qty=20_000, price=294_000))
    events = engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=294_000, index_price=294_000))
    assert "PartialLiquidation" in rules_fired(events)
    assert "Liquidation" not in rules_fired(events)
    kept = engine.positions(1)["ETHUSD"]
    assert 0 < kept.qty < 25_000
    assert {k: v for k, v in check_all(engine, engine.step_info(events)).items() if v} == {}


def test_without_bids_the_position_is_taken_over_and_closed_by_adl_once_the_fund_is_depleted() -> None:
    engine = setup(3 * XBT)
    open_long(engine, 25_000)
    events = engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=294_000, index_price=294_000))
    fired = rules_fired(events)
    # taken over, but the mark has not reached the bankruptcy price: the fund covers it, no ADL yet (ADL-031)
    assert ("Liquidation" in fired, "AdlDeferred" in fired, "AdlFill" in fired) == (True, True, False)
    assert {k: v for k, v in check_all(engine, engine.step_info(events)).items() if v} == {}
    events = engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=270_000, index_price=270_000))
    fired = rules_fired(events)
    assert "AdlFill" in fired  # beyond the bankruptcy price the fund is depleted: ADL
    assert engine.positions(1) == {}
    assert engine.positions(2) == {}  # the only opposing position was deleveraged
    assert {k: v for k, v in check_all(engine, engine.step_info(events)).items() if v} == {}


def test_isolated_position_opened_above_mark_carries_its_premium_in_its_margin() -> None:
    # regression (deep state machine): the premium was charged by the pre-trade check but not put in the pool
    engine = setup(XBT)
    engine.process(c.SetLeverage(time_ms=0, account=1, symbol="ETHUSD", leverage_hundredths=1_000))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Sell", order_qty=1, price=300_000))
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=210_000, index_price=210_000))
    engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=1, ord_type="Market"))
    _, equity, maintenance, _ = engine.risk.pool_of(engine.accounts[1], "ETHUSD")
    assert engine.positions(1)["ETHUSD"].qty == 1
    assert equity - maintenance >= 0


def thin_ethusd_long() -> Engine:
    """ETHUSD and XBTUSD marked; account 1 long 300 ETHUSD on 0.1 XBT (cross), account 2 the well-funded short."""
    engine = Engine({"ETHUSD": ETHUSD, "XBTUSD": load_instrument("XBTUSD")})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    for account, amount in ((1, XBT // 10), (2, 1_000 * XBT)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Sell", order_qty=300, price=300_000))
    engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=300, price=300_000))
    return engine


def test_mark_update_of_one_contract_also_liquidates_an_underwater_pool_in_another() -> None:
    engine = thin_ethusd_long()
    engine.track_steps = True
    # the ETHUSD mark falls while, say, its feed is only read at the next update of another contract
    engine.marks["ETHUSD"] = 270_000
    events = engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000))
    assert "Liquidation" in rules_fired(events)
    assert engine.positions(1) == {}


def test_cross_liquidation_cancels_the_accounts_orders_in_every_contract_of_that_currency() -> None:
    # regression (deep state machine): a resting XBTUSD bid survived the ETHUSD cross liquidation that
    # took its margin, was then filled by another liquidation's close-out, and left negative equity
    engine = thin_ethusd_long()
    engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=100, price=4_900_000))
    events = engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=270_000, index_price=270_000))
    assert "Liquidation" in rules_fired(events)
    assert engine.accounts[1].orders == {}


def test_liq_016_a_market_sell_swept_down_to_the_bankruptcy_limit_pays_its_fee_from_the_margin() -> None:
    """A cross long backed by a wallet of 0.9x its value: far from entry its exit fee exceeds posComm.

    Found by a 10,000-trader simulation (a stop-market sell left a wallet at −16,976 XBt); before LIQ-016
    this sweep left −128,771 XBt.
    """
    engine = Engine()
    inst = engine.instrument_map["XBTUSD"]
    mark = 5_000_000

    def accept(command: c.Command) -> list[Event]:
        events = engine.process(command)
        assert type(events[-1]).__name__ == "Accepted", events[-1]
        return events

    accept(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=mark, index_price=mark))
    for account, amount in ((1, 180_000_000), (2, 100 * XBT), (3, 100 * XBT)):
        accept(c.VerifyAccount(time_ms=0, account=account))
        accept(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    qty = 100_000
    accept(c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Sell", order_qty=qty, price=mark))
    accept(c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=qty, price=mark))
    limit = engine.entry.bankruptcy_limit(engine.accounts[1], inst, False, inst.tick_size)
    accept(c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Buy", order_qty=qty, price=limit))
    events = accept(c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Sell", order_qty=qty, ord_type="Market"))
    traded = sum(e.last_qty for e in events if type(e).__name__ == "Execution" and e.exec_type == "Trade" and e.account == 1)
    assert (traded, engine.positions(1), engine.wallet(1, "XBt") >= 0) == (qty, {}, True)
    assert {name: found for name, found in check_all(engine, engine.step_info()).items() if found} == {}
