"""``Risk.free_balance_of``: MRG-067's clean-up reads an account's free balance through the kernels, the same figure.

Session 13: the clean-up after every trade read ``free_balance(account, asset, account_margin(account, asset))``,
which builds every margin record of the account (MRG-020 per position, MRG-046 per contract, MRG-050): 12% of the
shared bench's instructions.  ``free_balance_of`` takes the contract's order margin (``Risk.contract_order_margin``:
the kept sums through the order-margin kernel) and ``Risk.available_margin_in`` (the ``account_margin_*`` kernels of a one-contract account).  Here it is
held to the record path after every command of random streams: cross and isolated positions, two contracts settled
in XBt (so no one-contract kernel), a linear contract, spot reservations, and with no kernel at all.

Session 14: ``Risk.contract_order_margin`` of the resting orders takes ``resting_order_margin_total`` (the kept sums
straight into the order-margin kernel, no ``OrderSide``/``Position``/``OrderMargin`` records); each check here also
holds it to ``resting_order_margin(...).total``.

Rules: MRG-046, MRG-050, MRG-067.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perpspec.engine.core import commands as c
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.fastmargin import resting_order_margin, resting_order_margin_total
from perpspec.engine.core.market import is_spot
from perpspec.engine.core.risk import free_balance
from perpspec.engine.kernels.load import generic_rules_only
from perpspec.rules.instrument_file import load_builtin_instruments, load_instrument

MARKS = {"XBTUSD": 5_000_000, "XBTZ26": 5_100_000, "XBTUSDT": 5_000_000}
ACCOUNTS = (1, 2, 3, 4)
DEPOSITS = {"XBt": 2_000_000, "USDt": 2_000_000_000}
SPOT = load_instrument(str(Path(__file__).resolve().parent.parent / "specs" / "instruments" / "spot" / "XBT_USDT.toml"))


def fresh_engine() -> Engine:
    instruments = dict(load_builtin_instruments())
    instruments["XBT_USDT"] = SPOT
    engine = Engine(instruments)
    for account in ACCOUNTS:
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        for asset, amount in DEPOSITS.items():
            engine.process(c.Deposit(time_ms=0, account=account, asset=asset, amount=amount * account))
    for symbol, mark in MARKS.items():
        engine.process(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=mark, index_price=mark))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBT_USDT", mark_price=5_000_000, index_price=5_000_000))
    return engine


def mismatches(engine: Engine) -> list[str]:
    """Every (account, contract) whose kernel figure differs from the records' figure."""
    risk = engine.risk
    found = []
    for account in engine.ledger.accounts.values():
        for symbol, ps in sorted(account.positions.items()):
            inst = engine.market.instrument_map[symbol]
            if is_spot(inst):
                continue
            asset = inst.settl_currency
            fast = risk.free_balance_of(account, asset, inst, ps)
            slow = free_balance(account, asset, risk.account_margin(account, asset))
            if fast != slow:
                found.append(f"account {account.account_id} {symbol}: {fast} != {slow}")
            best_bid, best_ask = engine.market.best(symbol)
            mark = engine.market.marks[symbol]
            total = resting_order_margin_total(inst, ps, mark, best_bid, best_ask)  # session 14: no records
            record = resting_order_margin(inst, ps, mark, best_bid, best_ask).total
            if total != record:
                found.append(f"account {account.account_id} {symbol}: MRG-046 total {total} != {record}")
    return found


@st.composite
def commands(draw: st.DrawFn) -> list[object]:
    out: list[object] = []
    for _ in range(draw(st.integers(min_value=1, max_value=25))):
        account = draw(st.sampled_from(ACCOUNTS))
        kind = draw(st.sampled_from(("order", "order", "order", "order", "leverage", "mark", "spot")))
        if kind == "order":
            symbol = draw(st.sampled_from(sorted(MARKS)))
            lot = 1_000 if symbol == "XBTUSDT" else 100
            offset = draw(st.integers(min_value=-40, max_value=40)) * 50
            out.append(c.PlaceOrder(
                time_ms=0, account=account, symbol=symbol, side=draw(st.sampled_from(("Buy", "Sell"))),
                order_qty=lot * draw(st.integers(min_value=1, max_value=30)), price=MARKS[symbol] + offset * 100,
            ))
        elif kind == "leverage":
            out.append(c.SetLeverage(
                time_ms=0, account=account, symbol=draw(st.sampled_from(sorted(MARKS))),
                leverage_hundredths=draw(st.sampled_from((0, 500, 2_500, 10_000))),
            ))
        elif kind == "mark":
            symbol = draw(st.sampled_from(sorted(MARKS)))
            mark = MARKS[symbol] + draw(st.integers(min_value=-30, max_value=30)) * 5_000
            out.append(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=mark, index_price=mark))
        else:
            out.append(c.PlaceOrder(
                time_ms=0, account=account, symbol="XBT_USDT", side="Buy",
                order_qty=draw(st.integers(min_value=1, max_value=20)) * 100,
                price=4_000_000 + draw(st.integers(min_value=0, max_value=20)) * 50,
            ))
    return out


def run_checked(stream: list[object]) -> int:
    engine = fresh_engine()
    compared = 0
    for command in stream:
        engine.process(command)
        assert mismatches(engine) == []
        compared += sum(len(a.positions) for a in engine.ledger.accounts.values())
    return compared


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands())
def test_free_balance_of_equals_the_records(stream: list[object]) -> None:
    run_checked(stream)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands())
def test_free_balance_of_equals_the_records_without_kernels(stream: list[object]) -> None:
    with generic_rules_only():
        run_checked(stream)


def test_a_crossed_book_and_isolated_position_are_compared() -> None:
    # the property's streams reach the cases that matter: resting orders on both sides, an isolated position,
    # two XBt contracts on one account (no one-contract kernel), and a spot reservation
    stream: list[object] = [
        c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Sell", order_qty=1_000, price=5_000_000),
        c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Buy", order_qty=2_000, price=5_000_000),
        c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Sell", order_qty=500, price=5_200_000),
        c.SetLeverage(time_ms=0, account=1, symbol="XBTUSD", leverage_hundredths=2_500),
        c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Sell", order_qty=300, price=5_300_000),
        c.PlaceOrder(time_ms=0, account=2, symbol="XBTZ26", side="Buy", order_qty=700, price=5_000_000),
        c.PlaceOrder(time_ms=0, account=3, symbol="XBT_USDT", side="Buy", order_qty=5_000, price=4_000_000),
        c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=4_900_000, index_price=4_900_000),
    ]
    engine = fresh_engine()
    for command in stream:
        engine.process(command)
    assert mismatches(engine) == []
    two = engine.ledger.accounts[2]
    assert two.positions["XBTUSD"].qty == 1_000
    assert two.positions["XBTUSD"].orders
    assert two.positions["XBTZ26"].orders
    assert engine.ledger.accounts[1].positions["XBTUSD"].leverage == 2_500
    assert engine.ledger.accounts[3].reserved.get("USDt", 0) > 0
