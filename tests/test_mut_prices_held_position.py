"""FND-019 and SET-003 for a position the liquidation engine still holds, built through public commands only.

Found by the session-7 mutation run over ``engine/core/prices.py`` (issue 13): the earlier tests of a held
position at a FundingTick or a Settle wrote ``engine.pending`` directly, and none held one with no insurance fund
in its currency, one of exactly one contract, or one whose settlement PnL was exactly 0 or 1.

A take-over is held when the mark lies between the trader's liquidation and bankruptcy prices and no bid can take
the close-out (LIQ-023): the liquidation engine takes the position over at the bankruptcy price and ADL-031 defers
it while the fund covers its loss at mark. With no fees and a tick of one price unit the bankruptcy price leaves
the trader's pool at exactly 0 (INS-011's residual is 0), so no insurance fund exists in the currency at all.

* FND-019 (a fee-free XBTUSDT, tick 1): the liquidation engine holds a long of 100,000 taken over at 49,000.00
  and owes funding at +0.75% (FND-004's XBTUSDT cap; 36,937,500 USDt on its value at the mark 49,250.00); with
  no fund it pays nothing and the short receives nothing (the whole share is cut).
* SET-003 (a fee-free XBTZ26 with a lot and tick of 1): the liquidation engine holds one contract (cost −2,020
  XBt, taken over at 49,504.96); settled where its PnL is exactly 0 (49,492.70) nothing moves in the fund, and
  where it is exactly +1 (49,517.21) the fund receives a surplus of 1. The holders' settlement reports take the
  side that closes each position, one contract included. With no fund at all and no eligible ADL taker, a held
  loss of exactly one satoshi at the settlement price blocks the settlement (INSURANCE_SHORTFALL).
"""

from __future__ import annotations

import attrs

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Execution, Reason, Rejected, RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.events import InsuranceMovement, Liquidation
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.position import Position, apply_fill

LIQUIDATOR = -1


def _fee_free(symbol: str, **changes: int) -> Instrument:
    inst = load_instrument(symbol)
    tier = attrs.evolve(inst.fee_tiers[0], maker_fee_ppm=0, taker_fee_ppm=0)
    return attrs.evolve(inst, maker_fee_ppm=0, taker_fee_ppm=0, fee_tiers=(tier,), tick_size=1, **changes)


def _records(events: list[object]) -> list[object]:
    return [e.record for e in events if isinstance(e, RuleEvent)]


def _held(engine: Engine, symbol: str, asset: str, time_ms: int, qty: int, wallet: int, others: tuple[int, ...]) -> int:
    """Account 2 (``wallet``) buys ``qty`` at 50,000.00 from account 3; each of ``others`` buys one contract too.
    The mark then falls between account 2's liquidation and bankruptcy prices: the take-over price, held."""
    price = 5_000_000
    for account, amount in ((2, wallet), (3, 10**13), *((other, 10**13) for other in others)):
        engine.process(c.VerifyAccount(time_ms=time_ms, account=account))
        engine.process(c.Deposit(time_ms=time_ms, account=account, asset=asset, amount=amount))
    engine.process(c.PriceUpdate(time_ms=time_ms, symbol=symbol, mark_price=price, index_price=price))
    engine.process(c.PlaceOrder(time_ms=time_ms, account=3, symbol=symbol, side="Sell", order_qty=qty + len(others), price=price))
    for account, bought in ((2, qty), *((other, 1) for other in others)):
        events = engine.process(c.PlaceOrder(time_ms=time_ms, account=account, symbol=symbol, side="Buy", order_qty=bought, price=price))
        assert isinstance(events[-1], Accepted), events[-1]
    liquidation, bankruptcy = engine.risk.position_prices(engine.accounts[2], symbol)
    mark = (liquidation + bankruptcy) // 2
    records = _records(engine.process(c.PriceUpdate(time_ms=time_ms + 1, symbol=symbol, mark_price=mark, index_price=mark)))
    [taken] = [r for r in records if isinstance(r, Liquidation)]
    assert taken.residual_margin == 0
    assert not any(isinstance(r, InsuranceMovement) for r in records)
    assert asset not in engine.insurance_funds  # no fund in the currency, not even a zero one
    assert [(p.symbol, p.qty) for p in engine.pending] == [(symbol, qty)]
    return taken.taken[0].takeover_price


def test_fnd_019_with_no_fund_in_the_currency_the_liquidation_engine_pays_no_funding() -> None:
    engine = Engine({"XBTUSDT": _fee_free("XBTUSDT")})
    assert _held(engine, "XBTUSDT", "USDt", 0, 100_000, 10**8, ()) == 4_900_000
    wallet = engine.wallet(3, "USDt")
    events = engine.process(c.FundingTick(time_ms=2, symbol="XBTUSDT", rate_e8=750_000))
    assert isinstance(events[-1], Accepted), events[-1]
    assert not any(isinstance(r, InsuranceMovement) for r in _records(events))
    assert (engine.wallet(3, "USDt"), engine.insurance("USDt")) == (wallet, 0)
    assert "USDt" not in engine.insurance_funds


ONE = _fee_free("XBTZ26", lot_size=1)
EXPIRY = ONE.expiry_ms or 0
AT_ZERO, AT_ONE = 4_949_270, 4_951_721  # the held contract's settlement PnL is 0 and +1 there


def _settled(price: int) -> tuple[list[object], list[object]]:
    engine = Engine({"XBTZ26": ONE})
    assert _held(engine, "XBTZ26", "XBt", EXPIRY - 10, 1, 20, (4,)) == 4_950_496
    [held] = engine.pending
    assert apply_fill(ONE, Position(qty=held.qty, cost=held.cost), -1, price)[1] == (0 if price == AT_ZERO else 1)
    engine.process(c.PriceUpdate(time_ms=EXPIRY, symbol="XBTZ26", mark_price=price, index_price=price))
    events = engine.process(c.Settle(time_ms=EXPIRY, symbol="XBTZ26", settlement_price=price))
    assert isinstance(events[-1], Accepted), events[-1]
    assert (engine.pending, dict(engine.positions(LIQUIDATOR))) == ([], {})
    reports = [(e.account, e.side, e.order_qty) for e in events if isinstance(e, Execution)]
    return _records(events), reports


def test_set_003_a_held_contract_settled_at_zero_pnl_moves_nothing_in_the_fund() -> None:
    records, reports = _settled(AT_ZERO)
    assert records == []
    assert reports == [(3, "Buy", 2), (4, "Sell", 1)]  # a long of one contract is closed by a sell


def test_set_003_a_held_contract_settled_one_satoshi_in_profit_is_a_surplus() -> None:
    records, _ = _settled(AT_ONE)
    assert [(r.kind, r.amount, r.balance_after, r.rule_id) for r in records if isinstance(r, InsuranceMovement)] == [
        ("surplus", 1, 1, "SET-003")
    ]


def test_set_003_with_no_fund_a_held_loss_of_one_satoshi_blocks_settlement() -> None:
    # account 3 buys its short back from account 4 at 49,000.00, so the only short (account 4's) loses at the marks
    # above: no one is eligible for ADL (ADL-003) and the held contract stays at a loss. At 49,474.96 it would lose
    # exactly 1 XBt at settlement: with no insurance fund in XBt at all, the settlement is refused (SET-003's fund
    # check), not taken as a fund of one satoshi
    engine = Engine({"XBTZ26": ONE})
    assert _held(engine, "XBTZ26", "XBt", EXPIRY - 10, 1, 20, ()) == 4_950_496
    engine.process(c.VerifyAccount(time_ms=EXPIRY - 4, account=4))
    engine.process(c.Deposit(time_ms=EXPIRY - 4, account=4, asset="XBt", amount=10**10))
    engine.process(c.PlaceOrder(time_ms=EXPIRY - 4, account=4, symbol="XBTZ26", side="Sell", order_qty=1, price=4_900_000))
    engine.process(c.PlaceOrder(time_ms=EXPIRY - 4, account=3, symbol="XBTZ26", side="Buy", order_qty=1, price=4_900_000))
    assert engine.accounts[4].positions["XBTZ26"].qty == -1
    [held] = engine.pending
    price = 4_947_496
    assert apply_fill(ONE, Position(qty=held.qty, cost=held.cost), -1, price)[1] == -1
    engine.process(c.PriceUpdate(time_ms=EXPIRY, symbol="XBTZ26", mark_price=price, index_price=price))
    assert len(engine.pending) == 1  # no eligible ADL taker: still held
    refused = engine.process(c.Settle(time_ms=EXPIRY, symbol="XBTZ26", settlement_price=price))[-1]
    assert isinstance(refused, Rejected), refused
    assert refused.reason == Reason.INSURANCE_SHORTFALL
    assert "XBt" not in engine.insurance_funds
