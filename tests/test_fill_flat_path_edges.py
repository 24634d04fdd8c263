"""The flat cross fill path (``Fills._apply_side``) keeps the holders registry exactly as ``apply_effect`` does.

Found by ``python -m tests.mutation engine/core/fills.py`` (survivors #113, #115, #116 of the confirmation run
on 3cb32fe): a cross position opened, flipped or closed to flat by an ordinary fill must enter, stay in or leave
the holders of its contract, because funding (FND-008), ADL ranking and settlement read only the holders.

The flat path decides on the new *quantity*. An inverse lot is worth ``round_half_up(|multiplier| * price_scale *
lot / price)`` (CON-001), which is 0 above twice that numerator; ``validate`` requires a lot to be worth a minor unit
at ``maxPrice``, and the engine checks every instrument it is given with it (``Engine(instruments=...)`` refuses
XBTUSD with a maxPrice of $100bn, whose lot is worth 0 sat at $30bn). So no position of whole lots costs 0: at the
cheapest valid lot (XBTUSD with a maxPrice of $20bn, a lot worth exactly 1 sat there) a position of one lot costs
one satoshi and enters and leaves the holders like any other, and an account that never deposited cannot open it
(its available balance is 0; the lot needs 3 sat: 1 of initial margin and 1 of taker fee each way).
"""

from __future__ import annotations

import attrs
import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Event, Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.contract import compute_lot_value_inverse
from perpspec.rules.funding import compute_funding_exchange
from perpspec.rules.instrument_file import InstrumentError, load_instrument, validate
from perpspec.rules.position import Position

ETHUSD = load_instrument("ETHUSD")  # lot size 1, settled in XBt
MARK = 300_000
WALLET = 10**10
RATE_E8 = 750_000  # 0.75%, FND-004's ETHUSD cap (the most a FundingTick may carry): longs pay shorts


def _engine(*accounts: int) -> Engine:
    engine = Engine({"ETHUSD": ETHUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=MARK, index_price=MARK))
    for account in accounts:
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=WALLET))
    return engine


def _limit(engine: Engine, account: int, side: str, qty: int) -> list[Event]:
    events = engine.process(
        c.PlaceOrder(time_ms=0, account=account, symbol="ETHUSD", side=side, order_qty=qty, price=MARK)
    )
    assert not isinstance(events[-1], Rejected), events[-1]
    return events


def _position(engine: Engine, account: int) -> Position:
    ps = engine.accounts[account].positions.get("ETHUSD")
    return Position() if ps is None else ps.position


def _funding_moves(engine: Engine, accounts: tuple[int, ...]) -> dict[int, int]:
    """Each account's wallet change from one FundingTick."""
    before = {a: engine.accounts[a].wallet("XBt") for a in accounts}
    events = engine.process(c.FundingTick(time_ms=0, symbol="ETHUSD", rate_e8=RATE_E8))
    assert not any(isinstance(e, Rejected) for e in events), events
    return {a: engine.accounts[a].wallet("XBt") - before[a] for a in accounts}


def _expected_funding(engine: Engine, accounts: tuple[int, ...]) -> dict[int, int]:
    """FND-008 between every account holding a position (the rule, fed from the positions, not the registry)."""
    holding = tuple((a, _position(engine, a)) for a in accounts if _position(engine, a).qty != 0)
    deltas = dict(compute_funding_exchange(ETHUSD, holding, MARK, RATE_E8).wallet_deltas)
    return {a: deltas.get(a, 0) for a in accounts}


def test_one_contract_opened_by_the_flat_path_enters_the_holders_and_pays_funding() -> None:
    engine = _engine(1, 2)
    _limit(engine, 2, "Sell", 1)  # maker opens short 1 (0 -> -1)
    _limit(engine, 1, "Buy", 1)  # taker opens long 1 (0 -> 1)
    assert (_position(engine, 1).qty, _position(engine, 2).qty) == (1, -1)
    assert engine.holders["ETHUSD"] == {1: None, 2: None}
    expected = _expected_funding(engine, (1, 2))
    assert expected[1] < 0 < expected[2]  # the long pays, the short receives
    assert _funding_moves(engine, (1, 2)) == expected


def test_one_contract_opened_by_a_maker_buy_enters_the_holders() -> None:
    engine = _engine(1, 2)
    _limit(engine, 1, "Buy", 1)  # maker opens long 1
    _limit(engine, 2, "Sell", 1)  # taker opens short 1
    assert engine.holders["ETHUSD"] == {1: None, 2: None}
    expected = _expected_funding(engine, (1, 2))
    assert expected[1] < 0 < expected[2]
    assert _funding_moves(engine, (1, 2)) == expected


def test_a_position_closed_to_flat_by_the_flat_path_leaves_the_holders() -> None:
    engine = _engine(1, 2, 3)
    _limit(engine, 2, "Sell", 5)
    _limit(engine, 1, "Buy", 5)  # 1 long 5, 2 short 5
    _limit(engine, 3, "Buy", 5)  # maker: 3 bids 5
    _limit(engine, 1, "Sell", 5)  # taker 1 closes to flat, 3 opens long 5
    assert [_position(engine, a).qty for a in (1, 2, 3)] == [0, -5, 5]
    assert engine.holders["ETHUSD"] == {2: None, 3: None}
    _limit(engine, 3, "Sell", 5)  # maker 3 offers 5
    _limit(engine, 2, "Buy", 5)  # taker 2 closes to flat against maker 3, who closes too
    assert [_position(engine, a).qty for a in (1, 2, 3)] == [0, 0, 0]
    assert engine.holders["ETHUSD"] == {}


def test_a_flip_through_flat_keeps_the_account_a_holder() -> None:
    engine = _engine(1, 2)
    _limit(engine, 2, "Sell", 1)
    _limit(engine, 1, "Buy", 1)  # 1 long 1, 2 short 1
    _limit(engine, 2, "Buy", 2)  # maker 2 bids 2
    _limit(engine, 1, "Sell", 2)  # 1: 1 -> -1, 2: -1 -> 1 (both flip, never flat after the fill)
    assert (_position(engine, 1).qty, _position(engine, 2).qty) == (-1, 1)
    assert engine.holders["ETHUSD"] == {1: None, 2: None}
    expected = _expected_funding(engine, (1, 2))
    assert expected[2] < 0 < expected[1]
    assert _funding_moves(engine, (1, 2)) == expected


# XBTUSD with maxPrice $100bn: at $30bn (3e12 in cents) a lot of 100 contracts is worth round(1e12 / 3e12) = 0 sat
WORTHLESS = attrs.evolve(load_instrument("XBTUSD"), max_price=10**13)
# XBTUSD with maxPrice $20bn, the highest validate accepts: there a lot is worth round(1e12 / 2e12) = 1 sat
CHEAPEST = attrs.evolve(load_instrument("XBTUSD"), max_price=2 * 10**12)
HIGH = 2 * 10**12


def _cheapest_engine(*funded: int) -> Engine:
    engine = Engine({"XBTUSD": CHEAPEST})
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=HIGH, index_price=HIGH))
    for account in (1, 2, 3):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
    for account in funded:
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=WALLET))
    return engine


def _order(engine: Engine, account: int, side: str, qty: int) -> Event:
    return engine.process(
        c.PlaceOrder(time_ms=0, account=account, symbol="XBTUSD", side=side, order_qty=qty, price=HIGH)
    )[-1]


def _xbt_position(engine: Engine, account: int) -> Position:
    return engine.accounts[account].positions["XBTUSD"].position


def test_the_worthless_lot_instrument_is_refused_by_validation_and_by_the_engine() -> None:
    reason = "an inverse lot must be worth at least one minor unit at maxPrice"
    assert validate(WORTHLESS) == ("maxPrice", reason)
    assert compute_lot_value_inverse(WORTHLESS, 3 * 10**12) == 0
    with pytest.raises(InstrumentError) as refused:
        Engine({"XBTUSD": WORTHLESS})
    assert str(refused.value) == f"instruments['XBTUSD']: maxPrice: {reason}"


def test_the_cheapest_valid_lot_is_worth_one_satoshi() -> None:
    assert validate(CHEAPEST) is None
    assert compute_lot_value_inverse(CHEAPEST, HIGH) == 1


def test_a_position_of_one_satoshi_opened_or_closed_by_the_flat_path_enters_or_leaves_the_holders() -> None:
    engine = _cheapest_engine(1, 2, 3)
    assert not isinstance(_order(engine, 2, "Sell", 100), Rejected)
    assert not isinstance(_order(engine, 1, "Buy", 100), Rejected)  # 1: 0 -> 100, 2: 0 -> -100, one satoshi each
    assert (_xbt_position(engine, 1), _xbt_position(engine, 2)) == (
        Position(qty=100, cost=-1),
        Position(qty=-100, cost=1),
    )
    assert engine.holders["XBTUSD"] == {1: None, 2: None}
    assert not isinstance(_order(engine, 3, "Buy", 100), Rejected)
    assert not isinstance(_order(engine, 1, "Sell", 100), Rejected)  # 1: 100 -> 0, 3: 0 -> 100
    assert [_xbt_position(engine, a) for a in (1, 2, 3)] == [
        Position(qty=0, cost=0),
        Position(qty=-100, cost=1),
        Position(qty=100, cost=-1),
    ]
    assert engine.holders["XBTUSD"] == {2: None, 3: None}


def test_an_account_that_never_deposited_cannot_open_the_cheapest_lot() -> None:
    engine = _cheapest_engine(2)
    assert not isinstance(_order(engine, 2, "Sell", 100), Rejected)
    refused = _order(engine, 1, "Buy", 100)
    assert isinstance(refused, Rejected)
    assert (refused.reason, refused.text) == (Reason.INSUFFICIENT_MARGIN, "needs 3, available 0")
    assert engine.accounts[1].wallets == {}
    assert "XBTUSD" not in engine.accounts[1].positions
