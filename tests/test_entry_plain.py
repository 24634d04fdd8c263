"""The plain resting limit order's one-function path (``engine.core.entry_plain``) against the general order path.

``place_resting`` handles a plain limit order that rests whole and hands everything else (every order that
would be refused, that crosses the book, of an isolated position, with a clOrdID, …) back to the general path
before changing anything.  Two engines take the same seeded stream of commands — orders of every kind around
the touch, refusals of each check the fast path makes (fat finger, LIQ-042, RSK-007, MRG-050, tick, lot,
maxOrderQty, maxPrice, unverified, unknown symbol, spot, isolated, chosen risk tier), cancels, mark moves —
one with the fast path and one with it switched off; every event and the state hash must be the same.
"""

from __future__ import annotations

import random

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core import entry_plain
from perpspec.engine.core import exchange as exchange_module
from perpspec.engine.core.events import Accepted, Event
from perpspec.engine.core.exchange import Engine

MARK = 50_000_00  # XBTUSD price units (0.5 USD ticks): $50,000
TICK = 50


def _commands(seed: int, count: int) -> list[object]:
    rng = random.Random(seed)
    out: list[object] = [c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=MARK, index_price=MARK)]
    for account in range(1, 9):
        out.append(c.VerifyAccount(time_ms=0, account=account))
        # small wallets for some accounts: MRG-050 and LIQ-042 refuse their larger orders
        out.append(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**6 if account % 4 == 0 else 10**10))
    out.append(c.SetLeverage(time_ms=0, account=3, symbol="XBTUSD", leverage_hundredths=1000))  # isolated
    out.append(c.SetRiskLimit(time_ms=0, account=5, symbol="XBTUSD", risk_limit=35_000_000_000))  # a chosen tier
    mark = MARK
    for step in range(count):
        roll = rng.random()
        account = rng.choice((1, 2, 3, 4, 5, 6, 7, 8, 9))
        if roll < 0.04:
            mark += rng.choice((-20, -5, 5, 20)) * TICK
            out.append(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=mark, index_price=mark))
            continue
        if roll < 0.08:
            out.append(c.CancelAll(time_ms=0, account=account))
            continue
        if roll < 0.18:
            out.append(c.CancelOrder(time_ms=0, account=account, order_id=rng.randrange(1, step // 3 + 2)))
            continue
        side = rng.choice(("Buy", "Sell"))
        offset = rng.choice((-6000, -40, -5, -1, 0, 1, 5, 40, 3000)) * TICK
        price = mark - offset if side == "Buy" else mark + offset
        qty = rng.choice((100, 1_000, 10_000, 1_000_000, 5_000_000))
        fields: dict[str, object] = {}
        oddity = rng.random()
        if oddity < 0.03:
            price += 1  # off the tick
        elif oddity < 0.05:
            qty += 1  # off the lot
        elif oddity < 0.06:
            qty = 10**15  # above maxOrderQty
        elif oddity < 0.07:
            price = 10**13  # above maxPrice
        elif oddity < 0.09:
            fields["cl_ord_id"] = f"c{step % 7}"
        elif oddity < 0.10:
            fields["symbol"] = "XBTUSDT"  # no mark price
        elif oddity < 0.11:
            fields["symbol"] = "NOPE"
        elif oddity < 0.12:
            fields["side"] = None
            qty = -qty
        elif oddity < 0.13:
            fields["exec_inst"] = "ReduceOnly"
        elif oddity < 0.14:
            fields["time_in_force"] = "ImmediateOrCancel"
        place = {"time_ms": 0, "account": account, "symbol": "XBTUSD", "side": side, "order_qty": qty, "price": price}
        place.update(fields)
        out.append(c.PlaceOrder(**place))  # type: ignore[arg-type]
    return out


def _run(commands: list[object], fast: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Event], str, int]:
    with monkeypatch.context() as patch:
        calls = [0]

        def counted(entry: object, values: tuple[object, ...]) -> int:
            placed = entry_plain.place_resting(entry, values)  # type: ignore[arg-type]
            calls[0] += placed != entry_plain.NOT_HANDLED
            return placed

        patch.setattr(exchange_module, "place_resting", counted if fast else (lambda entry, values: entry_plain.NOT_HANDLED))
        engine = Engine()
        events: list[Event] = []
        for command in commands:
            events.extend(engine.process(command))  # type: ignore[arg-type]
        return events, engine.state_hash(), calls[0]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_plain_resting_path_gives_the_general_paths_events_and_state(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = _commands(seed, 1_500)
    fast_events, fast_hash, handled = _run(commands, True, monkeypatch)
    slow_events, slow_hash, _ = _run(commands, False, monkeypatch)
    assert fast_events == slow_events
    assert fast_hash == slow_hash
    accepted = sum(1 for event in slow_events if isinstance(event, Accepted) and event.command == "PlaceOrder")
    assert 0 < handled < accepted  # the fast path took some orders and handed others back
