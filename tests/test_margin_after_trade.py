"""MRG-067: after an order trades, its account's resting orders are cancelled, newest first, while available < 0.

MRG-061 judges an order resting; MRG-044 nets a side's orders against the position at the side's average value.
A fill consumes the cheap contracts that average counted as reducing (or flips the position, so far orders stop
reducing), and the available balance could end below zero right after an accepted order (INV-MARGIN-ON-ENTRY,
tests/test_attack11_open_margin_on_entry.py).  Here: the situations one by one (each fails before MRG-067), the
maker's side of the decision (not touched), and a property over random books and orders, generic and compiled.

Rules: MRG-044, MRG-061, MRG-067 (INV-MARGIN-ON-ENTRY).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perpspec.engine.bench import native
from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, Execution
from perpspec.engine.core.exchange import Engine
from perpspec.engine.durability.recovery import DurableExchange, command_codec, event_stream_hash
from perpspec.engine.kernels.load import generic_rules_only
from perpspec.rules.invariants import check_margin_on_entry
from perpspec.rules.margin import compute_trade_cancels
from tests.test_native import run_compiled

MARK = 5_000_000  # 50,000.00
# symbol -> (settlement asset, lot size, tick, a trader's deposit range)
MARKETS = {
    "XBTUSDT": ("USDt", 1_000, 50, (10**7, 10**9)),
    "XBTUSD": ("XBt", 100, 50, (10**5, 10**7)),
}
UNFUNDED_TEXT = "Canceled: the account's trade left its available balance below zero"  # MRG-067's cancel text
needs_build = pytest.mark.skipif(native.status() is not None, reason=str(native.status()))


def engine_with(symbol: str, trader_deposit: int) -> Engine:
    """Accounts 1 and 2 rich, account 3 the trader; the mark at 50,000.00."""
    asset = MARKETS[symbol][0]
    engine = Engine()
    engine.track_steps = True
    for account, amount in ((1, 10**13), (2, 10**13), (3, trader_deposit)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset=asset, amount=amount))
    engine.process(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=MARK, index_price=MARK))
    return engine


def place(engine: Engine, account: int, symbol: str, side: str, qty: int, price: int) -> list[Event]:
    events = engine.process(c.PlaceOrder(time_ms=0, account=account, symbol=symbol, side=side, order_qty=qty, price=price))
    assert isinstance(events[-1], Accepted), events[-1]
    return events


def unfunded_cancels(events: list[Event]) -> list[int]:
    """The order ids MRG-067 cancelled, in order."""
    return [e.order_id for e in events if isinstance(e, Execution) and e.text == UNFUNDED_TEXT]


def long_with_far_offer(symbol: str = "XBTUSDT", deposit: int = 111_160_836) -> Engine:
    """Trader 3: long 40 lots at the mark, a far offer of 10 lots at 14 times it (order 3); bid of 50 lots (account 2)."""
    engine = engine_with(symbol, deposit)
    place(engine, 1, symbol, "Sell", 40_000, MARK)
    place(engine, 3, symbol, "Buy", 40_000, MARK)
    place(engine, 3, symbol, "Sell", 10_000, 70_000_000)
    return engine


def test_partial_fill_without_a_flip_keeps_available_balance() -> None:
    # the sell of 50 fills 20 (the long stays a long of 20): the rest of 30 is the cheap part of the offers, and
    # without it the far offer is charged at the side's new average; MRG-067 cancels the newest order, the rest
    engine = long_with_far_offer()
    place(engine, 2, "XBTUSDT", "Buy", 20_000, MARK)
    events = place(engine, 3, "XBTUSDT", "Sell", 50_000, MARK)
    problems = check_margin_on_entry(engine, engine.step_info(events))
    assert (problems, unfunded_cancels(events), engine.accounts[3].positions["XBTUSDT"].qty) == ([], [5], 20_000)


def test_flip_cancels_the_far_offer_and_keeps_the_short() -> None:
    engine = long_with_far_offer()
    place(engine, 2, "XBTUSDT", "Buy", 50_000, MARK)
    events = place(engine, 3, "XBTUSDT", "Sell", 50_000, MARK)
    ps = engine.accounts[3].positions["XBTUSDT"]
    assert (unfunded_cancels(events), ps.qty, dict(ps.orders), engine.available(3, "USDt") >= 0) == (
        [3], -10_000, {}, True
    )


def test_a_funded_flip_cancels_nothing() -> None:
    # ten times the deposit: the far offer is funded after the flip too, so nothing is cancelled
    engine = long_with_far_offer(deposit=1_111_608_360)
    place(engine, 2, "XBTUSDT", "Buy", 50_000, MARK)
    events = place(engine, 3, "XBTUSDT", "Sell", 50_000, MARK)
    assert (unfunded_cancels(events), sorted(engine.accounts[3].positions["XBTUSDT"].orders)) == ([], [3])


def test_amended_order_that_crosses_and_flips_keeps_available_balance() -> None:
    # the cheap offer rests above the bid, then is amended down into it: the same flip through AmendOrder
    engine = long_with_far_offer(deposit=111_300_000)  # the offer 1 tick higher needs a little more
    place(engine, 2, "XBTUSDT", "Buy", 50_000, MARK)
    place(engine, 3, "XBTUSDT", "Sell", 50_000, MARK + 50)
    events = engine.process(c.AmendOrder(time_ms=0, account=3, order_id=5, price=MARK))
    assert isinstance(events[-1], Accepted), events[-1]
    assert (engine.accounts[3].positions["XBTUSDT"].qty, unfunded_cancels(events), engine.available(3, "USDt") >= 0) == (
        -10_000, [3], True
    )


def test_a_maker_flipped_by_a_fill_keeps_its_orders() -> None:
    # the decision for makers: account 3's resting cheap offer is hit and flips it; its far offer is not cancelled
    # (the fill is not account 3's decision; LIQ-044 judges its later fills), so its available may go below zero
    engine = long_with_far_offer(deposit=111_300_000)
    place(engine, 3, "XBTUSDT", "Sell", 50_000, MARK + 50)
    events = place(engine, 2, "XBTUSDT", "Buy", 50_000, MARK + 50)
    ps = engine.accounts[3].positions["XBTUSDT"]
    assert (unfunded_cancels(events), ps.qty, sorted(ps.orders)) == ([], -10_000, [3])


def test_mrg_068_the_clean_up_stops_at_the_first_funded_balance() -> None:
    # available_after[k]: the available balance once the k newest orders are cancelled
    cases = ((5,), (-1,), (-1, 0, -3), (-1, -2, -3), (0, -1), (-4, -2, 7, 9))
    assert [compute_trade_cancels(case) for case in cases] == [0, 0, 1, 2, 0, 2]


# --- the property: random books and orders ---------------------------------------------------------------------


def scenario(rng: random.Random, length: int = 60, varied: bool = False) -> tuple[str, list[Any]]:
    """A market, deposits and ``length`` commands: liquidity around the mark and traders 3 and 4 netting far orders
    against their positions (limit, market, amend, small mark moves); ``varied``: also isolated traders and stops."""
    symbol = rng.choice(sorted(MARKETS))
    asset, lot, tick, (low, high) = MARKETS[symbol]
    commands: list[Any] = []
    for account in (1, 2, 3, 4):
        amount = 10**13 if account < 3 else int(low * (high / low) ** rng.random())  # log-uniform
        commands += [c.VerifyAccount(time_ms=0, account=account), c.Deposit(time_ms=0, account=account, asset=asset, amount=amount)]
    mark = MARK
    commands.append(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=mark, index_price=mark))
    for trader in (3, 4):  # isolated at some leverage, or cross
        if varied and rng.random() < 0.4:
            leverage = rng.choice((100, 250, 1_000, 2_500, 10_000))
            commands.append(c.SetLeverage(time_ms=0, account=trader, symbol=symbol, leverage_hundredths=leverage))
    for _ in range(length):
        trader = rng.choice((3, 4))
        opening, closing = ("Buy", "Sell") if trader == 3 else ("Sell", "Buy")  # 3 goes long, 4 short
        qty = rng.randint(1, 60) * lot
        kind = rng.randint(0, 11)
        if kind <= 2:  # liquidity near the mark
            side = rng.choice(("Buy", "Sell"))
            price = mark + rng.randint(1, 10) * tick * (-1 if side == "Buy" else 1)
            commands.append(c.PlaceOrder(time_ms=0, account=rng.choice((1, 2)), symbol=symbol, side=side,
                                         order_qty=qty, price=price))
        elif kind <= 6:  # a trader's limit order near the mark (often crossing): opens, or closes and may flip
            side = rng.choice((opening, closing))
            price = mark + rng.randint(-12, 12) * tick
            commands.append(c.PlaceOrder(time_ms=0, account=trader, symbol=symbol, side=side, order_qty=qty, price=price))
        elif kind <= 8:  # a far take-profit: cheap while it only reduces (MRG-044's netting)
            far = mark * rng.randint(2, 14) if closing == "Sell" else mark // rng.randint(2, 14)
            price = max(tick, far - far % tick)
            commands.append(c.PlaceOrder(time_ms=0, account=trader, symbol=symbol, side=closing, order_qty=qty, price=price))
        elif kind == 9:
            side = rng.choice((opening, closing))
            commands.append(c.PlaceOrder(time_ms=0, account=trader, symbol=symbol, side=side, order_qty=qty, ord_type="Market"))
        elif kind == 10 and varied and rng.random() < 0.3:  # a stop on the last price: it fires inside later trades
            price = mark + rng.randint(-12, 12) * tick
            commands.append(c.PlaceOrder(time_ms=0, account=trader, symbol=symbol, side=rng.choice((opening, closing)),
                                         order_qty=qty, stop_px=price, exec_inst="LastPrice"))
        elif kind == 10:  # amend one of the last orders (another account's or an unknown id is refused: harmless)
            order_id = rng.randint(1, 1 + len(commands) // 2)
            price = mark + rng.randint(-12, 12) * tick
            commands.append(c.AmendOrder(time_ms=0, account=trader, order_id=order_id, price=price))
        else:
            mark = mark + rng.randint(-50, 50) * tick
            commands.append(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=mark, index_price=mark))
    return symbol, commands


def run_checked(commands: list[Any]) -> tuple[list[Event], int]:
    """Every command; INV-MARGIN-ON-ENTRY after each.  Returns the events and how many orders MRG-067 cancelled."""
    engine = Engine()
    engine.track_steps = True
    out: list[Event] = []
    for command in commands:
        events = engine.process(command)
        problems = check_margin_on_entry(engine, engine.step_info(events))
        assert problems == [], (command, problems)
        out += events
    return out, len(unfunded_cancels(out))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False))
def test_an_accepted_order_never_leaves_available_below_zero(rng: random.Random) -> None:
    _, commands = scenario(rng)
    run_checked(commands)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False))
def test_an_accepted_order_never_leaves_available_below_zero_isolated_and_with_stops(rng: random.Random) -> None:
    _, commands = scenario(rng, varied=True)
    run_checked(commands)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False))
def test_an_accepted_order_never_leaves_available_below_zero_on_the_generic_rules(rng: random.Random) -> None:
    # the same property with no specialised kernel handed out: the generic rules decide every check and fill
    _, commands = scenario(rng)
    with generic_rules_only():
        run_checked(commands)


def test_the_seeded_scenarios_exercise_the_clean_up() -> None:
    # the kernels and the generic rules clean up the same orders on the same streams
    fired = [run_checked(scenario(random.Random(seed))[1])[1] for seed in range(100)]
    with generic_rules_only():
        generic = [run_checked(scenario(random.Random(seed))[1])[1] for seed in range(100)]
    assert (sum(fired) > 0, generic) == (True, fired)


@needs_build
def test_compiled_engine_makes_the_same_clean_ups(tmp_path: Path) -> None:
    # the seeded scenarios through the interpreted engine (INV-MARGIN-ON-ENTRY after every command), journaled,
    # then replayed by the compiled engine in a child process: the same events and state, so the same clean-ups
    commands = [command for seed in range(100) for command in scenario(random.Random(seed))[1]]
    interpreted = tmp_path / "interpreted"
    durable, _ = DurableExchange.open(str(interpreted), command_codec(), Engine, snapshot_every=10**9)
    durable.exchange.track_steps = True
    events: list[Event] = []
    for command in commands:
        step = durable.submit(command)
        assert check_margin_on_entry(durable.exchange, durable.exchange.step_info(step)) == []
        events += step
    durable.close()
    child = run_compiled(
        "-m", "perpspec.engine.bench.native", "rerun", str(interpreted / "journal.log"), str(tmp_path / "compiled"), str(10**9)
    )
    assert (len(unfunded_cancels(events)) > 0, child["event_hash"], child["state_hash"]) == (
        True, event_stream_hash(events), durable.exchange.state_hash()
    )
