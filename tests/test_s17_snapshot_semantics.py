"""Session 17 (redteam18_5, redteam18_1): a snapshot must hold a state the engine could have made, by its
invariants too, not only its structure.

The state hash is anyone's to recompute and a snapshot's chain head anyone's to copy from the journal, so recovery
loaded forged snapshots that broke the engine's own invariants: an insurance fund of -10**9, a wallet raised by
10**12 with no deposit, a position of 550 contracts on lot 100, an order whose cum + leaves != qty.  The state check
(engine/core/state_check.py) now runs the registry's state-only invariants (INV-INSURANCE-NONNEG, INV-CONSERVATION,
INV-OI-BALANCE, through ``rules.invariants``' own checks), whole lots of positions and live orders, the order
quantity arithmetic and a trader's limit price on the tick grid; and bounds ids to 64 bits and every int to
4,096 bits, so no forged snapshot carries a value the state hash cannot print.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import Any

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.state_codec import CodecError, decode_state, encode_state
from perpspec.engine.durability.journal import read_journal, write_snapshot
from perpspec.engine.durability.recovery import (
    JOURNAL_NAME,
    DurableExchange,
    command_codec,
    decode_engine,
    encode_engine,
    list_snapshots,
    snapshot_path,
)
from perpspec.rules.instrument_file import load_builtin_instruments

State = dict[str, Any]
COMMANDS = [
    c.PriceUpdate(0, "XBTUSD", mark_price=5_000_000, index_price=5_000_000),
    c.DepositInsurance(0, "XBt", 10**8),
    c.VerifyAccount(0, 1), c.Deposit(0, 1, "XBt", 10**10),
    c.VerifyAccount(0, 2), c.Deposit(0, 2, "XBt", 10**10),
    c.PlaceOrder(0, 1, "XBTUSD", "Buy", 1000, 5_000_000),
    c.PlaceOrder(0, 2, "XBTUSD", "Sell", 500, 5_000_000),
]


def make() -> Engine:
    return Engine(instruments=load_builtin_instruments())


def built() -> Engine:
    engine = make()
    for command in COMMANDS:
        engine.process(command)
    return engine


PAYLOAD = encode_engine(built())


def forge(mutate: Callable[[State], None]) -> bytes:
    state = decode_state(PAYLOAD)
    mutate(state)
    return encode_state(state)


def set_(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


def bump_order(state: State, **changes: int) -> None:
    order = state["live_orders"][1]
    for name, delta in changes.items():
        set_(order, name, getattr(order, name) + delta)
    state["accounts"][1].positions["XBTUSD"].orders[1] = (order.leaves_qty, order.price)


def move_position(state: State, qty: int) -> None:
    set_(state["accounts"][1].positions["XBTUSD"], "qty", state["accounts"][1].positions["XBTUSD"].qty + qty)


def raise_wallet(state: State, amount: int, deposits: bool) -> None:
    state["accounts"][2].wallets["XBt"] += amount
    if deposits:
        state["deposits"]["XBt"] += amount


REFUSED: list[tuple[str, Callable[[State], None], str]] = [
    ("fund-negative", lambda s: s["insurance_funds"].update(XBt=-(10**9)),
     "insurance_funds (INV-INSURANCE-NONNEG): XBt: insurance fund -1000000000 < 0"),
    ("fund-minus-one", lambda s: s["insurance_funds"].update(XBt=-1), "insurance_funds (INV-INSURANCE-NONNEG)"),
    ("free-money", lambda s: raise_wallet(s, 10**12, False),
     "deposits (INV-CONSERVATION): XBt: funds off by 1000000000000 minor units"),
    ("one-satoshi", lambda s: raise_wallet(s, 1, False), "deposits (INV-CONSERVATION): XBt: funds off by 1 "),
    ("fees-raised", lambda s: s["fees"].update(XBt=s["fees"].get("XBt", 0) + 5), "deposits (INV-CONSERVATION)"),
    ("position-off-lot", lambda s: move_position(s, 50),
     "accounts[1].positions['XBTUSD'].qty: 550 is not a whole number of lots of 100"),
    ("open-interest", lambda s: move_position(s, 100), "accounts (INV-OI-BALANCE): XBTUSD: open interest off by 100"),
    ("leaves-plus-cum", lambda s: bump_order(s, leaves_qty=37),
     "live_orders[1].leaves_qty: cum_qty 500 + leaves_qty 537 is not order_qty 1000"),
    ("order-off-lot", lambda s: bump_order(s, leaves_qty=37, order_qty=37),
     "live_orders[1].order_qty: 1037 is not a whole number of lots of 100"),
    ("cum-off-lot", lambda s: bump_order(s, leaves_qty=-30, cum_qty=30, shown_qty=-30),
     "live_orders[1].leaves_qty: 470 is not a whole number of lots of 100"),
    ("price-off-tick", lambda s: bump_order(s, price=1),
     "live_orders[1].price: 5000001 is not on the tick grid of 50"),
    ("unknown-asset", lambda s: s["accounts"][2].wallets.update(ZZZ=5), "accounts[2].wallets key: 'ZZZ' is not one of"),
    ("fund-unknown-asset", lambda s: s["insurance_funds"].update(ZZZ=5), "insurance_funds key: 'ZZZ' is not one of"),
    ("huge-wallet", lambda s: raise_wallet(s, 10**4400, False),
     "accounts[2].wallets['XBt']: an integer of 14617 bits is larger than any engine state holds (at most 4096 bits)"),
    ("huge-deposits", lambda s: raise_wallet(s, 10**4400, True),
     "deposits['XBt']: an integer of 14617 bits is larger than any engine state holds"),
    ("huge-position-cost", lambda s: set_(s["accounts"][1].positions["XBTUSD"], "cost", -(2**5000)),
     "accounts[1].positions['XBTUSD'].cost: an integer of 5001 bits is larger than any engine state holds"),
    ("account-id-beyond-64-bits", lambda s: s["dirty"].update({2**63: None}),
     "dirty key: 9223372036854775808 is beyond signed 64 bits: no id the engine makes"),
    ("next-order-id-beyond-64-bits", lambda s: s.update(next_order_id=2**64),
     "next_order_id: 18446744073709551616 is beyond signed 64 bits"),
]


def test_the_honest_state_loads() -> None:
    assert Engine.from_snapshot(PAYLOAD).state_hash() == built().state_hash()


@pytest.mark.parametrize(("mutate", "message"), [pytest.param(m, t, id=n) for n, m, t in REFUSED])
def test_a_forged_state_breaking_an_invariant_is_refused_naming_its_field(
    mutate: Callable[[State], None], message: str
) -> None:
    with pytest.raises(CodecError) as caught:
        Engine.from_snapshot(forge(mutate))
    assert str(caught.value).startswith(f"engine state field {message}")


def test_money_moved_consistently_loads() -> None:
    """A wallet raised together with ``deposits`` conserves funds: the check is the invariant, not a freeze."""
    data = forge(lambda s: raise_wallet(s, 10**12, True))
    assert Engine.from_snapshot(data).accounts[2].wallet("XBt") == built().accounts[2].wallet("XBt") + 10**12


def test_every_state_of_a_random_run_loads() -> None:
    """What the engine makes passes every new check: fills, amends, cancels, liquidations, funding, after each
    command (the eight shipped scenarios' journals pass too, checked by replaying them, session 17)."""
    rng = random.Random(17)
    engine = built()
    for account in range(3, 9):
        engine.process(c.VerifyAccount(0, account))
        engine.process(c.Deposit(0, account, "XBt", rng.randrange(10**5, 10**7)))
    mark = 5_000_000
    for step in range(400):
        roll = rng.random()
        account = rng.randrange(1, 9)
        if roll < 0.55:
            price = mark + rng.randrange(-40, 41) * 500
            engine.process(c.PlaceOrder(step, account, "XBTUSD", rng.choice(("Buy", "Sell")),
                                        rng.randrange(1, 30) * 100, max(price, 50)))
        elif roll < 0.65:
            engine.process(c.PlaceOrder(step, account, "XBTUSD", rng.choice(("Buy", "Sell")),
                                        rng.randrange(1, 10) * 100, ord_type="Market"))
        elif roll < 0.75 and engine.accounts.get(account) and engine.accounts[account].orders:
            order_id = rng.choice(sorted(engine.accounts[account].orders))
            engine.process(c.AmendOrder(step, account, order_id, leaves_qty=rng.randrange(1, 10) * 100))
        elif roll < 0.8:
            engine.process(c.CancelAll(step, account))
        elif roll < 0.95:
            mark = max(1_000_000, mark + rng.randrange(-30, 31) * 20_000)
            engine.process(c.PriceUpdate(step, "XBTUSD", mark_price=mark, index_price=mark))
        else:
            engine.process(c.FundingTick(step, "XBTUSD", rng.randrange(-50_000, 50_001)))
        Engine.from_snapshot(engine.snapshot())  # raises CodecError on a refused state
    assert engine.registry.next_order_id > 100
    assert engine.stats.get("liquidations", 0) > 0  # take-overs held by the liquidation engine were checked too


@pytest.mark.parametrize("label", ["fund-negative", "free-money", "position-off-lot", "leaves-plus-cum"])
def test_recovery_skips_a_forged_snapshot_and_replays_the_journal(tmp_path: Any, label: str) -> None:
    """redteam18_5 end to end: the forged snapshot (hash recomputed, chain head copied) is not what recovery loads."""
    store = str(tmp_path)
    durable, _ = DurableExchange.open(store, command_codec(), make)
    for command in COMMANDS:
        durable.submit(command)
    durable.snapshot()
    honest = durable.exchange.state_hash()
    durable.close()
    seq, _ = list_snapshots(store)[0]
    scan = read_journal(os.path.join(store, JOURNAL_NAME))
    mutate = {name: m for name, m, _ in REFUSED}[label]
    state = decode_state(PAYLOAD)
    mutate(state)
    payload = encode_state(state)
    with pytest.raises(CodecError):
        decode_engine(payload)
    blank = make()
    for name, value in state.items():
        setattr(blank, name, value)
    write_snapshot(snapshot_path(store, seq), seq, blank.state_hash().encode(), payload, scan.link_at(seq))
    again, report = DurableExchange.open(store, command_codec(), make)
    assert again.exchange.state_hash() == honest
    assert report is None or report.snapshot_path is None
    again.close()
