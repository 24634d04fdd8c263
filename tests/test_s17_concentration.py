"""Session 17: RSK-008, the reduce-only restriction of a concentrated position (redteam17_4).

RSK-008 (rules/risk_limit.py, reference §3 [S]): an account whose position is more than ``concentrationShare``
(20%) of the contract's open interest may only reduce while the open value is at or above ``concentrationFloor``
([I]: 50 × riskLimit, 10,000 XBT for XBTUSD).  Most tests lower the floor to 0 so a small market shows the rule.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import (
    InstrumentError,
    builtin_dir,
    load_builtin_instruments,
    load_instrument,
)
from perpspec.rules.risk_limit import RiskLimitReason, check_concentration, is_concentrated

X = "XBTUSD"
PRICE = 5_000_000  # 50,000 USD


FLOOR = 1_500_000  # the open value of 750 contracts at 50,000 USD (1,000 are worth 2,000,000 XBt)


def engine(floor: int | None = FLOOR, share: str | None = None) -> Engine:
    """An engine whose XBTUSD has ``concentrationFloor`` = ``floor`` (None: the shipped file's)."""
    table = load_builtin_instruments()
    if floor is not None:
        table[X] = attrs.evolve(table[X], concentration_floor=floor)
    if share is not None:
        table[X] = attrs.evolve(table[X], concentration_share_ppm=int(share))
    e = Engine(instruments=table)
    ok(e, c.PriceUpdate(time_ms=0, symbol=X, mark_price=PRICE, index_price=PRICE))
    for a in range(1, 8):
        ok(e, c.VerifyAccount(time_ms=0, account=a))
        ok(e, c.Deposit(time_ms=0, account=a, asset="XBt", amount=10**10))
    return e


def ok(e: Engine, cmd: Any) -> Accepted:
    last = e.process(cmd)[-1]
    assert isinstance(last, Accepted), (cmd, last)
    return last


def refused(e: Engine, cmd: Any, reason: Reason) -> Rejected:
    before, seq = e.state_hash(), e.seq
    last = e.process(cmd)[-1]
    assert isinstance(last, Rejected), (cmd, last)
    assert last.reason is reason, (cmd, last)
    seq, e.seq = e.seq, seq
    assert e.state_hash() == before  # a refused command changes nothing but the event counter
    e.seq = seq
    return last


def trade(e: Engine, buyer: int, seller: int, qty: int, price: int = PRICE) -> None:
    ok(e, c.PlaceOrder(time_ms=1, account=seller, symbol=X, side="Sell", order_qty=qty, price=price))
    ok(e, c.PlaceOrder(time_ms=1, account=buyer, symbol=X, side="Buy", order_qty=qty, price=price))


def qty(e: Engine, account: int) -> int:
    ps = e.positions(account).get(X)
    return 0 if ps is None else ps.qty


def whale() -> Engine:
    """Account 1 long 1,000 of 1,000 (100% of the open interest, open value 0.02 XBT, above the test floor)."""
    e = engine()
    trade(e, 1, 2, 500)
    trade(e, 1, 3, 500)
    return e


# ----------------------------------------------------------------------------------------- the rule itself


def test_rule_refuses_exactly_above_the_share_at_or_above_the_floor() -> None:
    inst = load_builtin_instruments()[X]  # share 20%, floor 10,000 XBT
    floor = inst.concentration_floor
    assert (inst.concentration_share_ppm, floor) == (200_000, 10**12)
    assert check_concentration(inst, 201, 100, 1000, floor) is not None  # 20.1% > 20%
    assert check_concentration(inst, 200, 100, 1000, floor) is None  # exactly 20%: may still open
    assert check_concentration(inst, 201, 100, 1000, floor - 1) is None  # below the floor
    assert check_concentration(inst, 201, -201, 1000, floor) is None  # a pure reduction
    refusal = check_concentration(inst, 201, -402, 1000, floor)  # flips to a larger short
    assert refusal is not None
    assert refusal.reason is RiskLimitReason.CONCENTRATED
    assert (refusal.value, refusal.limit) == (201, 1000)
    assert check_concentration(inst, -201, -100, 1000, floor) is not None  # a short adding
    assert check_concentration(inst, 0, 100, 0, floor) is None  # flat: never concentrated
    assert not is_concentrated(inst, 0, 0)
    assert is_concentrated(inst, 1, 0)


def test_instrument_fields_parse_validate_and_default_off() -> None:
    table = load_builtin_instruments()
    assert {s: (i.concentration_share_ppm, i.concentration_floor) for s, i in table.items()} == {
        "XBTUSD": (200_000, 10**12), "XBTZ26": (200_000, 10**12), "ETHUSD": (200_000, 25 * 10**10),
        "XBTUSDT": (200_000, 5 * 10**13),
    }
    spot = load_instrument(str(builtin_dir() / "spot" / "XBT_USDT.toml"))
    assert (spot.concentration_share_ppm, spot.concentration_floor) == (1_000_000, 0)  # not set: no restriction
    for field, value in (("concentrationShare", "0"), ("concentrationShare", "1.01"), ("concentrationFloor", -1)):
        with pytest.raises(InstrumentError, match=field):
            load_instrument(X, {field: value})
    assert load_instrument(X, {"concentrationShare": "100%"}).concentration_share_ppm == 1_000_000
    assert load_instrument(X, {"concentrationFloor": "0"}).concentration_floor == 0


# ----------------------------------------------------------------------------------------- order entry


def test_concentrated_account_may_not_add_reproducer_scenario() -> None:
    """redteam17_4's scenario with a floor below its open value: the increasing buy is refused, nothing changes."""
    e = whale()
    ok(e, c.PlaceOrder(time_ms=2, account=4, symbol=X, side="Sell", order_qty=1000, price=PRICE))
    last = refused(e, c.PlaceOrder(time_ms=2, account=1, symbol=X, side="Buy", order_qty=1000, price=PRICE),
                   Reason.CONCENTRATED_REDUCE_ONLY)
    assert "reduce-only" in last.text
    assert "20%" in last.text
    # the other paths of a new order: market, post-only resting, IOC
    refused(e, c.PlaceOrder(time_ms=2, account=1, symbol=X, side="Buy", order_qty=100), Reason.CONCENTRATED_REDUCE_ONLY)
    refused(e, c.PlaceOrder(time_ms=2, account=1, symbol=X, side="Buy", order_qty=100, price=PRICE - 1000,
                            exec_inst="ParticipateDoNotInitiate"), Reason.CONCENTRATED_REDUCE_ONLY)
    assert qty(e, 1) == 1000


def test_concentrated_account_may_reduce_but_not_flip() -> None:
    e = whale()
    ok(e, c.PlaceOrder(time_ms=2, account=5, symbol=X, side="Buy", order_qty=3000, price=PRICE))
    refused(e, c.PlaceOrder(time_ms=2, account=1, symbol=X, side="Sell", order_qty=1100, price=PRICE),
            Reason.CONCENTRATED_REDUCE_ONLY)  # would flip to a short
    ok(e, c.PlaceOrder(time_ms=2, account=1, symbol=X, side="Sell", order_qty=300, price=PRICE))  # reduces
    assert qty(e, 1) == 700
    ok(e, c.PlaceOrder(time_ms=2, account=1, symbol=X, side="Sell", order_qty=2000, price=PRICE, exec_inst="ReduceOnly"))
    assert qty(e, 1) == 0  # ReduceOnly clamped to the position, then flat


def test_close_order_passes() -> None:
    e = whale()
    ok(e, c.PlaceOrder(time_ms=2, account=5, symbol=X, side="Buy", order_qty=1000, price=PRICE))
    ok(e, c.PlaceOrder(time_ms=2, account=1, symbol=X, exec_inst="Close", ord_type="Market"))
    assert qty(e, 1) == 0


def test_at_the_share_may_open_above_may_not() -> None:
    """Five longs of 200 each (exactly 20%): may add; once above 20%, only reduce."""
    e = engine(floor=2_000_000)  # reached with the 1,000th contract
    for buyer in (1, 2, 3, 4, 5):
        trade(e, buyer, 6, 200)
    trade(e, 1, 7, 100)  # account 1 at exactly 20% before: accepted, now 300 of 1,100 (27%)
    assert qty(e, 1) == 300
    refused(e, c.PlaceOrder(time_ms=2, account=1, symbol=X, side="Buy", order_qty=100, price=PRICE - 500),
            Reason.CONCENTRATED_REDUCE_ONLY)
    # the short side: account 6 is short 1,000 of 1,100 (91%): it may not sell more, may buy back
    refused(e, c.PlaceOrder(time_ms=2, account=6, symbol=X, side="Sell", order_qty=100, price=PRICE + 500),
            Reason.CONCENTRATED_REDUCE_ONLY)
    ok(e, c.PlaceOrder(time_ms=2, account=6, symbol=X, side="Buy", order_qty=100, price=PRICE - 500))


def test_below_the_floor_it_does_not_apply() -> None:
    """The shipped floor (10,000 XBT): redteam17_4's market (0.02 XBT open value) is below it."""
    e = engine(floor=None)
    trade(e, 1, 2, 500)
    trade(e, 1, 3, 500)
    trade(e, 1, 4, 1000)
    assert qty(e, 1) == 2000


def test_shipped_floor_applies_to_a_large_market() -> None:
    """At 1,000 USD, 10,000,000 contracts are worth 10,000 XBT: the shipped floor; account 1 holds them all."""
    e = engine(floor=None)
    price = 100_000  # 1,000 USD
    ok(e, c.PriceUpdate(time_ms=1, symbol=X, mark_price=price, index_price=price))
    for a in (1, 2, 3, 4):
        ok(e, c.Deposit(time_ms=1, account=a, asset="XBt", amount=10**13))
        ok(e, c.SetRiskLimit(time_ms=1, account=a, symbol=X, risk_limit=20_000_000_000 + 140 * 15_000_000_000))
    trade(e, 1, 2, 5_000_000, price)
    trade(e, 1, 3, 4_999_900, price)  # open value 9,999.9 XBT: below the floor, still open
    assert qty(e, 1) == 9_999_900
    trade(e, 1, 3, 100, price)  # open value exactly 10,000 XBT: at the floor
    ok(e, c.PlaceOrder(time_ms=2, account=4, symbol=X, side="Sell", order_qty=1000, price=price))
    refused(e, c.PlaceOrder(time_ms=2, account=1, symbol=X, side="Buy", order_qty=1000, price=price),
            Reason.CONCENTRATED_REDUCE_ONLY)


def test_amend_that_adds_is_judged_price_only_is_not() -> None:
    e = engine()
    trade(e, 1, 2, 500)
    trade(e, 3, 2, 500)  # account 1 holds 500 of 1,000 (50%)
    oid = ok(e, c.PlaceOrder(time_ms=1, account=1, symbol=X, side="Sell", order_qty=100, price=PRICE + 10_000)).order_id
    # a sell of 100 within the long: reducing; amended to 600 it would flip: refused
    refused(e, c.AmendOrder(time_ms=2, account=1, order_id=oid, order_qty=600), Reason.CONCENTRATED_REDUCE_ONLY)
    ok(e, c.AmendOrder(time_ms=2, account=1, order_id=oid, order_qty=400))  # still a reduction
    ok(e, c.AmendOrder(time_ms=2, account=1, order_id=oid, price=PRICE + 20_000))  # price only: not judged


def test_resting_buy_amended_up_is_refused() -> None:
    """A buy placed while the account held no position rests; once the account is concentrated an amend that
    adds to it is refused, an amend down is not."""
    e = engine()
    oid = ok(e, c.PlaceOrder(time_ms=1, account=1, symbol=X, side="Buy", order_qty=300, price=PRICE - 50_000)).order_id
    trade(e, 1, 2, 500)
    trade(e, 3, 2, 500)
    refused(e, c.AmendOrder(time_ms=2, account=1, order_id=oid, order_qty=400), Reason.CONCENTRATED_REDUCE_ONLY)
    ok(e, c.AmendOrder(time_ms=2, account=1, order_id=oid, order_qty=200))
    ok(e, c.AmendOrder(time_ms=2, account=1, order_id=oid, price=PRICE - 60_000))  # price only: not judged
    assert oid in e.live_orders  # resting orders are not cancelled when the account becomes concentrated [I]


def test_fired_stop_is_judged_when_it_fires() -> None:
    e = engine()
    stop = ok(e, c.PlaceOrder(time_ms=1, account=1, symbol=X, side="Buy", order_qty=100, stop_px=PRICE + 100_000)).order_id
    trade(e, 1, 2, 500)
    trade(e, 3, 2, 500)  # account 1: 50%
    ok(e, c.PlaceOrder(time_ms=2, account=4, symbol=X, side="Sell", order_qty=1000, price=PRICE + 100_000))
    events = e.process(c.PriceUpdate(time_ms=3, symbol=X, mark_price=PRICE + 100_000, index_price=PRICE + 100_000))
    assert isinstance(events[-1], Accepted)
    assert any("triggered but ConcentratedPositionReduceOnly" in repr(ev) for ev in events), events
    assert stop not in e.live_orders
    assert qty(e, 1) == 500


def test_plain_and_general_paths_agree() -> None:
    """A plain limit order (the lean path) and the same order with a clOrdID (the general path) get the same reject."""
    e = whale()
    plain = refused(e, c.PlaceOrder(time_ms=2, account=1, symbol=X, side="Buy", order_qty=100, price=PRICE - 500),
                    Reason.CONCENTRATED_REDUCE_ONLY)
    general = refused(e, c.PlaceOrder(time_ms=2, account=1, symbol=X, side="Buy", order_qty=100, price=PRICE - 500,
                                      cl_ord_id="x"), Reason.CONCENTRATED_REDUCE_ONLY)
    assert plain.text == general.text


def test_rsk_008_reach_is_the_largest_open_interest_that_leaves_the_position_concentrated() -> None:
    from perpspec.rules.instrument_file import load_instrument
    from perpspec.rules.risk_limit import compute_concentration_reach, is_concentrated

    inst = load_instrument("XBTUSD")  # share 20%
    for qty in (100, -100, 1_000, 12_345_600):
        reach = compute_concentration_reach(inst, qty)
        assert is_concentrated(inst, qty, reach)
        assert not is_concentrated(inst, qty, reach + 1)
    assert compute_concentration_reach(inst, 0) < 0  # a flat account is never concentrated
