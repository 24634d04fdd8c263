"""The lean sweep of a crossing plain limit order (``engine.core.entry_sweep``) against the general order path.

``entry_plain.place_resting`` enters an accepted plain limit order that crosses the book through
``entry_sweep.enter_crossing`` (the lean sweep over flat state); with ``entry_plain.SWEEPS`` off the same order
goes through ``OrderEntry.place`` and ``Fills.sweep``.  Two engines take the same Hypothesis-generated command
stream — plain orders sweeping several levels, makers that are ReduceOnly, Close, icebergs, hidden, isolated, of
the taker's own account, thinly funded (LIQ-044 cancels a maker or halts the taker), mark moves that liquidate
— one with the lean sweep and one without; every event and the state hash must be the same.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perpspec.engine.core import commands as c
from perpspec.engine.core import entry_plain, entry_sweep
from perpspec.engine.core.events import Event
from perpspec.engine.core.exchange import Engine

MARK = 50_000_00  # XBTUSD price units (0.5 USD ticks): $50,000
TICK = 50
ACCOUNTS = (1, 2, 3, 4, 5, 6)
# XBt wallets: rich, middling and thin (LIQ-042/044 and liquidations bite the thin ones)
WALLETS = {1: 10**10, 2: 10**9, 3: 10**8, 4: 10**7, 5: 10**10, 6: 10**7}


def _setup() -> list[object]:
    out: list[object] = [c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=MARK, index_price=MARK)]
    for account in ACCOUNTS:
        out.append(c.VerifyAccount(time_ms=0, account=account))
        out.append(c.Deposit(time_ms=0, account=account, asset="XBt", amount=WALLETS[account]))
    out.append(c.SetLeverage(time_ms=0, account=3, symbol="XBTUSD", leverage_hundredths=1000))  # isolated maker
    out.append(c.SetLeverage(time_ms=0, account=6, symbol="XBTUSD", leverage_hundredths=2500))  # isolated, thin
    return out


_resting = st.sampled_from((-6, -4, -3, -2, -1, 0))
_crossing = st.sampled_from((1, 2, 4, 8, 12, 40))
_qty = st.sampled_from((100, 500, 1_000, 3_000, 20_000, 100_000))
_extra = st.sampled_from(
    (
        {}, {}, {}, {}, {}, {},
        {"exec_inst": "ReduceOnly"},
        {"exec_inst": "Close"},
        {"exec_inst": "Close", "order_qty": None},
        {"display_qty": 100},
        {"display_qty": 0},
        {"time_in_force": "ImmediateOrCancel"},
        {"ord_type": "Market", "price": None},
        {"exec_inst": "ParticipateDoNotInitiate"},
    )
)
_command = st.one_of(
    st.tuples(st.just("place"), st.sampled_from(ACCOUNTS), st.booleans(), _resting, _qty, _extra),
    st.tuples(st.just("place"), st.sampled_from(ACCOUNTS), st.booleans(), _resting, _qty, _extra),
    st.tuples(st.just("place"), st.sampled_from(ACCOUNTS), st.booleans(), _resting, _qty, st.just({})),
    st.tuples(st.just("place"), st.sampled_from(ACCOUNTS), st.booleans(), _crossing, _qty, st.just({})),
    st.tuples(st.just("place"), st.sampled_from(ACCOUNTS), st.booleans(), _crossing, _qty, st.just({})),
    st.tuples(st.just("place"), st.sampled_from(ACCOUNTS), st.booleans(), _crossing, _qty, _extra),
    st.tuples(st.just("mark"), st.sampled_from((-20_000, -6000, -600, -60, 60, 600, 6000, 20_000))),
    st.tuples(st.just("cancel"), st.sampled_from(ACCOUNTS), st.integers(1, 60)),
    st.tuples(st.just("cancel_all"), st.sampled_from(ACCOUNTS)),
)


def _commands(steps: list[tuple[Any, ...]]) -> list[object]:
    out = _setup()
    mark = MARK
    for step in steps:
        if step[0] == "mark":
            mark = max(TICK * 100, mark + step[1] * TICK)
            out.append(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=mark, index_price=mark))
        elif step[0] == "cancel":
            out.append(c.CancelOrder(time_ms=0, account=step[1], order_id=step[2]))
        elif step[0] == "cancel_all":
            out.append(c.CancelAll(time_ms=0, account=step[1]))
        else:
            _, account, buys, offset, qty, extra = step
            # a positive offset crosses towards the other side (a buy above the mark sweeps the asks)
            price = mark + offset * TICK * 5 if buys else mark - offset * TICK * 5
            fields: dict[str, Any] = {
                "time_ms": 0, "account": account, "symbol": "XBTUSD", "side": "Buy" if buys else "Sell",
                "order_qty": qty, "price": max(TICK, price),
            }
            fields.update(extra)
            out.append(c.PlaceOrder(**fields))
    return out


def _run(commands: list[object], lean: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Event], str, int]:
    with monkeypatch.context() as patch:
        calls = [0]
        real = entry_sweep.enter_crossing

        def counted(*args: Any) -> None:
            calls[0] += 1
            real(*args)

        patch.setattr(entry_plain, "enter_crossing", counted)
        patch.setattr(entry_plain, "SWEEPS", lean)
        engine = Engine()
        events: list[Event] = []
        for command in commands:
            events.extend(engine.process(command))  # type: ignore[arg-type]
        return events, engine.state_hash(), calls[0]


def _compare(commands: list[object], monkeypatch: pytest.MonkeyPatch) -> int:
    lean_events, lean_hash, swept = _run(commands, True, monkeypatch)
    general_events, general_hash, none = _run(commands, False, monkeypatch)
    assert none == 0
    assert lean_events == general_events
    assert lean_hash == general_hash
    return swept


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(_command, min_size=10, max_size=120))
def test_the_lean_sweep_gives_the_general_paths_events_and_state(
    steps: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _compare(_commands(steps), monkeypatch)


def _place(account: int, side: str, qty: int, price: int, **extra: Any) -> c.PlaceOrder:
    return c.PlaceOrder(time_ms=0, account=account, symbol="XBTUSD", side=side, order_qty=qty, price=price, **extra)


def test_a_busy_book_takes_the_lean_sweep_through_every_kind_of_maker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fixed sweeps through icebergs, hidden, isolated, own, ReduceOnly and thin makers (LIQ-044), then liquidations."""
    up = [MARK + step * 5 * TICK for step in range(1, 8)]
    down = [MARK - step * 5 * TICK for step in range(1, 8)]
    commands = [
        *_setup(),
        _place(2, "Buy", 20_000, down[0]),  # account 2 long 20,000 after the next sweep
        _place(5, "Sell", 20_000, down[0]),
        _place(2, "Sell", 5_000, up[0], exec_inst="ReduceOnly"),  # resting ReduceOnly makers
        _place(2, "Sell", 5_000, up[1], exec_inst="Close"),
        _place(3, "Sell", 3_000, up[0]),  # isolated maker
        _place(5, "Sell", 3_000, up[1], display_qty=100),  # iceberg
        _place(1, "Sell", 3_000, up[2], display_qty=0),  # hidden
        _place(6, "Sell", 2_000, up[2]),  # isolated, thin
        _place(4, "Sell", 2_000, up[3]),  # the taker's own below
        _place(4, "Buy", 30_000, up[4]),  # sweeps them all (its own ask leaves by self-trade prevention)
        _place(4, "Buy", 60_000, down[2]),  # a thin bid that later moves far from the mark
        _place(6, "Buy", 20_000, down[3]),
        _place(1, "Buy", 3_000, down[4]),
        c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=MARK - 400_000, index_price=MARK - 400_000),
        _place(5, "Sell", 100_000, down[6]),  # the thin makers' fills would be beyond their bankruptcy prices
        c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=MARK + 900_000, index_price=MARK + 900_000),
        _place(1, "Sell", 20_000, MARK + 890_000),
        _place(5, "Buy", 40_000, MARK + 900_000),
    ]
    assert _compare(commands, monkeypatch) >= 4
