"""The snapshot check keeps two more of the engine's own invariants: spot reservations and held take-overs.

* ``OrderRegistry.reserve`` moves a spot order's reservation into ``spot_reservations`` and its account's
  ``reserved`` together, and order entry's free balance is the wallet less ``reserved``: an account's ``reserved``
  must be, asset by asset, the sum of its live orders' reservations.  A snapshot with a larger ``reserved`` would
  freeze money the account has; a smaller one would let it spend what its resting spot orders hold.
* The liquidation engine takes a position over whole (``Pending``): its quantity is whole lots of the contract.

Each forgery starts from a real engine's state (``tests/test_snapshot_validation.forged``): the snapshot check
(``Engine.from_snapshot``) refuses it with a ``CodecError`` naming the path, and the unforged state loads.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.state_codec import CodecError
from perpspec.engine.durability.recovery import encode_engine
from perpspec.rules.instrument_file import load_instrument
from tests.test_snapshot_validation import PAYLOAD, _set, forged

SPOT = load_instrument(str(Path(__file__).resolve().parent.parent / "specs" / "instruments" / "spot" / "XBT_USDT.toml"))
PRICE = 5_000_000
State = dict[str, Any]


def _spot_engine() -> Engine:
    """Account 1 rests two spot buys (USDt reserved) and a spot sell (XBt reserved); account 2 a buy."""
    engine = Engine({"XBT_USDT": SPOT})
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBT_USDT", mark_price=PRICE, index_price=PRICE))
    for account in (1, 2):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="USDt", amount=10**10))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**8))
    for account, side, qty, price in ((1, "Buy", 100, PRICE - 100), (1, "Buy", 200, PRICE - 200),
                                      (1, "Sell", 300, PRICE + 100), (2, "Buy", 100, PRICE - 300)):
        events = engine.process(c.PlaceOrder(time_ms=0, account=account, symbol="XBT_USDT", side=side,
                                             order_qty=qty, price=price))
        assert isinstance(events[-1], Accepted), events[-1]
    return engine


SPOT_ENGINE = _spot_engine()
SPOT_PAYLOAD = encode_engine(SPOT_ENGINE)


def _refused(mutate: Callable[[State], None], payload: bytes, message: str) -> None:
    with pytest.raises(CodecError) as caught:
        Engine.from_snapshot(forged(mutate, payload)[0])
    assert str(caught.value) == f"engine state field {message} at byte offset 0"


def test_the_real_state_holds_the_sums_and_loads() -> None:
    # a buy reserves its value and the taker fee (0.1%), a sell its base: 100 contracts of 100 XBt each
    assert SPOT_ENGINE.spot_reservations == {
        1: ("USDt", 4_999_900 + 5_000),
        2: ("USDt", 9_999_600 + 10_000),
        3: ("XBt", 30_000),
        4: ("USDt", 4_999_700 + 5_000),
    }
    assert SPOT_ENGINE.accounts[1].reserved == {"USDt": 15_014_500, "XBt": 30_000}
    assert SPOT_ENGINE.accounts[2].reserved == {"USDt": 5_004_700}
    assert Engine.from_snapshot(SPOT_PAYLOAD).state_hash() == SPOT_ENGINE.state_hash()


def test_a_reserved_balance_one_above_its_reservations_is_refused() -> None:
    _refused(lambda s: s["accounts"][1].reserved.update(USDt=15_014_501), SPOT_PAYLOAD,
             "accounts[1].reserved['USDt']: 15014501 is not the 15014500 its live orders' spot reservations hold")


def test_a_reserved_balance_one_below_its_reservations_is_refused() -> None:
    _refused(lambda s: s["accounts"][1].reserved.update(XBt=29_999), SPOT_PAYLOAD,
             "accounts[1].reserved['XBt']: 29999 is not the 30000 its live orders' spot reservations hold")


def test_a_reserved_balance_dropped_is_refused() -> None:
    _refused(lambda s: s["accounts"][2].reserved.clear(), SPOT_PAYLOAD,
             "accounts[2].reserved['USDt']: 0 is not the 5004700 its live orders' spot reservations hold")


def test_a_reservation_moved_to_another_account_is_refused() -> None:
    def move(state: State) -> None:
        state["accounts"][1].reserved["USDt"] -= 5_004_700
        state["accounts"][2].reserved["USDt"] += 5_004_700

    _refused(move, SPOT_PAYLOAD,
             "accounts[1].reserved['USDt']: 10009800 is not the 15014500 its live orders' spot reservations hold")


def test_a_reserved_balance_in_an_asset_no_order_reserves_is_refused() -> None:
    _refused(lambda s: s["accounts"][2].reserved.update(XBt=1), SPOT_PAYLOAD,
             "accounts[2].reserved['XBt']: 1 is not the 0 its live orders' spot reservations hold")


def test_a_reservation_raised_without_its_account_is_refused() -> None:
    _refused(lambda s: s["spot_reservations"].update({3: ("XBt", 30_100)}), SPOT_PAYLOAD,
             "accounts[1].reserved['XBt']: 30000 is not the 30100 its live orders' spot reservations hold")


def test_a_huge_forged_reserved_balance_is_named_by_its_size() -> None:
    _refused(lambda s: s["accounts"][2].reserved.update(USDt=10**40), SPOT_PAYLOAD,
             "accounts[2].reserved['USDt']: an integer of 133 bits is not the 5004700 its live orders' spot "
             "reservations hold")


# the rich engine of tests/test_mut_s8_codec_snapshot: pending 0 is account 2's XBTUSD take-over of 1,000 contracts
# (lots of 100)
def _held(state: dict[str, Any], qty: int) -> None:
    """Pending 0 at ``qty`` contracts, and a second take-over (cost 0) holding the difference on the other side, so
    the open interest still balances (INV-OI-BALANCE, checked on load since session 17)."""
    first = state["pending"][0]
    other = copy.copy(first)
    _set(other, "pending_id", state["next_pending_id"])
    _set(other, "qty", first.qty - qty)
    _set(other, "cost", 0)
    _set(first, "qty", qty)
    state["pending"].append(other)
    state["next_pending_id"] += 1


def test_a_held_take_over_of_whole_lots_loads() -> None:
    for qty in (1_100, 900, -1_000):
        data, state_hash = forged(lambda s, qty=qty: _held(s, qty), PAYLOAD)
        assert Engine.from_snapshot(data).state_hash() == state_hash


@pytest.mark.parametrize("qty", [1_001, 999, 50, -1])
def test_a_held_take_over_of_part_of_a_lot_is_refused(qty: int) -> None:
    _refused(lambda s: _set(s["pending"][0], "qty", qty), PAYLOAD,
             f"pending[0].qty: {qty} is not a whole number of lots of 100")
