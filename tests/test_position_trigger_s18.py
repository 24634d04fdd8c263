"""``liquidationMarkPrice`` (session 18, redteam21_5): the first mark at which the engine liquidates a position.

``liquidationPrice`` stays BitMEX's published figure (MRG-011: rounded to the tick toward the entry, a safe bound).
The engine liquidates when the pool's equity at the mark is below its maintenance (LIQ-001/003), and marks are at
price resolution, so its first liquidating mark lies beyond the published price: XBTUSD short 1,000 @ 50,000 at
100x is published at 50,251 and liquidated from 50,251.39 on.  ``perpspec position`` and ``perpspec.position``
report that mark as ``liquidationMarkPrice``; these tests hold it against the engine itself: a position opened
through :class:`perpspec.Exchange` is liquidated by a mark at the reported figure and not by a mark one price unit
on the safe side, for isolated and cross, long and short, inverse, linear, quanto and a dated future.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

import perpspec
from perpspec.engine.cli import position as cli_position
from perpspec.engine.cli.main import main
from perpspec.engine.core import commands as cmd
from perpspec.rules.instrument import Instrument
from perpspec.rules.liquidation import is_liquidatable
from perpspec.rules.margin import CROSS
from perpspec.rules.position import FLAT, apply_fill
from perpspec.rules.risk_limit import compute_risk_steps

SYMBOLS = ("XBTUSD", "XBTUSDT", "ETHUSD", "XBTZ26")
LEVERAGES = ("0", "1", "2.5", "5", "10", "25", "50", "100")
COUNTERPARTY_DEPOSIT = 10**15  # minor units: the other side of the trade is never near liquidation


def units(inst: Instrument, text: str) -> int:
    return int(Decimal(text) * inst.price_scale)


def open_through_engine(
    symbol: str, qty: int, entry: str, leverage: str, deposit: int, pos_cross: int
) -> perpspec.Exchange:
    """The position opened by one trade at a mark equal to its entry, as ``perpspec position`` models it."""
    inst = perpspec.instrument(symbol)
    asset = inst.settl_currency
    ex = perpspec.Exchange([symbol])
    assert ex.price(symbol, mark=entry)
    assert ex.open_account(1, deposit=f"{deposit} {asset}")
    assert ex.open_account(2, deposit=f"{COUNTERPARTY_DEPOSIT} {asset}")
    position, _ = apply_fill(inst, FLAT, qty, units(inst, entry))
    steps = compute_risk_steps(inst, abs(position.cost))
    if steps:  # a position above the base risk limit needs its owner's risk limit raised to its own tier
        for account in (1, 2):
            limit = inst.risk_limit + steps * inst.risk_step
            assert ex.submit(cmd.SetRiskLimit(time_ms=0, account=account, symbol=symbol, risk_limit=limit))
    if leverage != "0":
        assert ex.set_leverage(1, symbol, leverage)
    assert ex.order(2, symbol, -qty, price=entry)
    done = ex.order(1, symbol, qty, price=entry)
    assert done, done
    assert ex.position(1, symbol).qty == qty
    if pos_cross:
        assert ex.submit(cmd.TransferMargin(time_ms=0, account=1, symbol=symbol, amount=pos_cross))
    return ex


def liquidated_at(symbol: str, qty: int, entry: str, leverage: str, deposit: int, pos_cross: int, mark: int) -> bool:
    """Does the engine liquidate account 1's position when the mark moves to ``mark`` (price units)?"""
    ex = open_through_engine(symbol, qty, entry, leverage, deposit, pos_cross)
    moved = ex.submit(cmd.PriceUpdate(time_ms=0, symbol=symbol, mark_price=mark, index_price=mark))
    assert moved, moved
    return ex.position(1, symbol).qty != qty


def reported(
    symbol: str, qty: int, entry: str, leverage: str, deposit: int, pos_cross: int
) -> tuple[dict[str, object], int]:
    """``perpspec.position`` for the position the engine holds (cross: with the wallet it has after the trade)."""
    inst = perpspec.instrument(symbol)
    asset = inst.settl_currency
    if leverage == "0":
        wallet = open_through_engine(symbol, qty, entry, leverage, deposit, 0).wallet(1, asset)
        return perpspec.position(symbol, qty=qty, entry=entry, leverage=0, wallet=f"{wallet} {asset}"), wallet
    record = perpspec.position(symbol, qty=qty, entry=entry, leverage=leverage, pos_cross=f"{pos_cross} {asset}")
    return record, 0


def check_against_engine(symbol: str, qty: int, entry: str, leverage: str, deposit: int, pos_cross: int = 0) -> None:
    """The reported trigger liquidates in the engine, one unit on the safe side does not (null: no mark does)."""
    inst = perpspec.instrument(symbol)
    record, _ = reported(symbol, qty, entry, leverage, deposit, pos_cross)
    trigger = record["liquidationMarkPrice"]
    long = qty > 0
    if trigger is None:  # no mark in range liquidates: the deepest one does not either
        deepest = 1 if long else inst.max_price
        assert not liquidated_at(symbol, qty, entry, leverage, deposit, pos_cross, deepest)
        return
    assert isinstance(trigger, str)
    mark = units(inst, trigger)
    published = units(inst, str(record["liquidationPrice"]))
    assert mark < published if long else mark > published  # MRG-011: the published price is on the safe side
    assert liquidated_at(symbol, qty, entry, leverage, deposit, pos_cross, mark)
    safer = mark + (1 if long else -1)
    assert not liquidated_at(symbol, qty, entry, leverage, deposit, pos_cross, safer)


def cross_deposit(symbol: str, qty: int, entry: str, extra_permille: int) -> int:
    """A wallet that opens the cross position (posInit + posComm + the taker fee) plus ``extra_permille`` of its cost."""
    inst = perpspec.instrument(symbol)
    fields = perpspec.position(symbol, qty=qty, entry=entry, leverage=0, wallet=f"0 {inst.settl_currency}")
    cost = abs(int(str(fields["posCost"])))
    fee = -(-cost * inst.taker_fee_ppm // 1_000_000)
    return int(str(fields["posInit"])) + int(str(fields["posComm"])) + 2 * fee + cost * extra_permille // 1000 + 1


# --------------------------------------------------------------------------- the find's figures


def test_the_reported_trigger_is_the_first_liquidating_mark_xbtusd_100x() -> None:
    short = perpspec.position("XBTUSD", qty=-1000, entry="50000", leverage=100)
    long = perpspec.position("XBTUSD", qty=1000, entry="50000", leverage=100)
    # liquidationPrice stays BitMEX's published figure; the trigger lies beyond it, at price resolution
    assert (short["liquidationPrice"], short["liquidationMarkPrice"]) == ("50251", "50251.39")
    assert (long["liquidationPrice"], long["liquidationMarkPrice"]) == ("49751.5", "49751.12")
    for qty, trigger in ((-1000, 5_025_139), (1000, 4_975_112)):
        assert liquidated_at("XBTUSD", qty, "50000", "100", 10**9, 0, trigger)
        assert not liquidated_at("XBTUSD", qty, "50000", "100", 10**9, 0, trigger + (1 if qty > 0 else -1))


def test_the_cli_prints_the_trigger_after_the_liquidation_price(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["position", "--qty", "-1000", "--entry", "50000", "--leverage", "100x", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    names = list(record)
    assert names[names.index("liquidationPrice") + 1] == "liquidationMarkPrice"
    assert (record["liquidationPrice"], record["liquidationMarkPrice"]) == ("50251", "50251.39")
    assert main(["position", "--qty", "-1000", "--entry", "50000", "--leverage", "100x"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.split() == ["liquidationMarkPrice", "50251.39", "USD"] for line in lines)


def test_null_when_no_mark_liquidates(capsys: pytest.CaptureFixture[str]) -> None:
    # a linear long whose cross wallet covers its whole cost: even at the smallest price the pool is above maintenance
    record = perpspec.position("XBTUSDT", qty=1000, entry="50000", leverage=0, wallet="100 USDT")
    assert record["liquidationMarkPrice"] is None
    assert record["liquidationPrice"] == "0.5"  # the published bound, clamped to a tick
    assert main(["position", "--symbol", "XBTUSDT", "--qty", "1000", "--entry", "50000", "--wallet", "100000000"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.split() == ["liquidationMarkPrice", "null"] for line in lines)
    check_against_engine("XBTUSDT", 1000, "50000", "0", 100_000_000)


def test_every_mark_liquidates_gives_the_range_end() -> None:
    inst = perpspec.instrument("XBTUSD")
    position, _ = apply_fill(inst, FLAT, 1000, 5_000_000)
    assert cli_position.compute_liquidation_mark_price(inst, position, CROSS, 0, -10**9) == inst.max_price
    short, _ = apply_fill(inst, FLAT, -1000, 5_000_000)
    # an inverse short gains without bound as the price falls: at 0.01 USD its 10 lots are worth 10,000 XBT more
    assert cli_position.compute_liquidation_mark_price(inst, short, CROSS, 0, -10**9) == 9_980
    assert cli_position.compute_liquidation_mark_price(inst, short, CROSS, 0, -10**15) == 1
    assert cli_position.compute_liquidation_mark_price(inst, FLAT, CROSS, 0, 10**9) is None


def test_added_isolated_margin_is_the_engines_pool_not_posmargin() -> None:
    # LIQ-001's reserve has no fee on added margin (MRG-020's posComm has): the trigger is the engine's predicate
    check_against_engine("XBTUSD", -100_000, "50000", "25", 10**10, pos_cross=12_345_678)
    check_against_engine("ETHUSD", 500, "3000.05", "10", 10**10, pos_cross=987_654)


def test_the_search_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    real = is_liquidatable

    def counted(equity: int, maintenance: int) -> bool:
        nonlocal calls
        calls += 1
        return real(equity, maintenance)

    monkeypatch.setattr(cli_position, "is_liquidatable", counted)
    for symbol in SYMBOLS:
        inst = perpspec.instrument(symbol)
        for qty in (inst.lot_size, -inst.lot_size):
            position, _ = apply_fill(inst, FLAT, qty, 100 * inst.tick_size)
            for hints in ((), (1, inst.max_price)):
                calls = 0
                cli_position.compute_liquidation_mark_price(inst, position, CROSS, 0, 10**6, hints)
                assert calls <= inst.max_price.bit_length() + 6


# --------------------------------------------------------------------------- against the engine


@pytest.mark.parametrize("symbol", SYMBOLS)
@pytest.mark.parametrize("qty_sign", [1, -1])
@pytest.mark.parametrize("leverage", ["0", "10"])
def test_grid_against_the_engine(symbol: str, qty_sign: int, leverage: str) -> None:
    inst = perpspec.instrument(symbol)
    entry = "3000.05" if symbol == "ETHUSD" else "50000.5"
    qty = qty_sign * 7 * inst.lot_size
    deposit = cross_deposit(symbol, qty, entry, 30) if leverage == "0" else 10**12
    check_against_engine(symbol, qty, entry, leverage, deposit)


@st.composite
def positions(draw: st.DrawFn) -> tuple[str, int, str, str, int, int]:
    symbol = draw(st.sampled_from(SYMBOLS))
    inst = perpspec.instrument(symbol)
    low, high = (100, 10_000) if symbol == "ETHUSD" else (10_000, 100_000)  # quote currency
    ticks = draw(st.integers(low * inst.price_scale // inst.tick_size, high * inst.price_scale // inst.tick_size))
    entry = str(Decimal(ticks * inst.tick_size) / inst.price_scale)
    # lots: mostly small, sometimes past the base risk limit (a higher tier, a partial liquidation)
    most = {"XBTUSD": 100_000, "XBTZ26": 100_000, "XBTUSDT": 40_000, "ETHUSD": 50_000}[symbol]
    lots = draw(st.one_of(st.integers(1, 200), st.integers(1, most)))
    qty = draw(st.sampled_from([1, -1])) * lots * inst.lot_size
    leverage = "0" if draw(st.booleans()) else draw(st.sampled_from(LEVERAGES[1:]))  # cross half the time
    if leverage == "0":
        deposit = cross_deposit(symbol, qty, entry, draw(st.integers(0, 1500)))
        pos_cross = 0
    else:
        deposit = 10**15
        pos_cross = draw(st.one_of(st.just(0), st.integers(1, 10**9)))
    return symbol, qty, entry, leverage, deposit, pos_cross


@settings(max_examples=max(15, settings().max_examples // 3))  # 20 by default, 666 with HYPOTHESIS_PROFILE=deep
@given(positions())
def test_the_trigger_is_the_engines_boundary(case: tuple[str, int, str, str, int, int]) -> None:
    symbol, qty, entry, leverage, deposit, pos_cross = case
    wallet = f"0 {perpspec.instrument(symbol).settl_currency}" if leverage == "0" else None
    try:  # the leverage must be one the position's risk tier allows (perpspec position refuses the rest)
        perpspec.position(symbol, qty=qty, entry=entry, leverage=leverage, wallet=wallet)
    except perpspec.InputError:
        assume(False)
    check_against_engine(symbol, qty, entry, leverage, deposit, pos_cross)
    inst = perpspec.instrument(symbol)
    event(f"{symbol} {'cross' if leverage == '0' else 'isolated'} {'long' if qty > 0 else 'short'}")
    if compute_risk_steps(inst, abs(apply_fill(inst, FLAT, qty, units(inst, entry))[0].cost)):
        event("above the base risk limit")
    if pos_cross:
        event("isolated margin added")
    if reported(symbol, qty, entry, leverage, deposit, pos_cross)[0]["liquidationMarkPrice"] is None:
        event("null: no mark liquidates")
