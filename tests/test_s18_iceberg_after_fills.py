"""ACC-007 in the engine glue: an iceberg reached after the incoming order has already filled (redteam22 find 1).

``rules.position.compute_resting_fee_ppm`` decides an iceberg's rate on ``incoming_qty``, *what is left* of the
incoming order when its sweep first reaches the iceberg.  The engine passes it from ``Fills.resting_fee``
(``taker.leaves_qty - taken[1]``: the sweep matched from the order's whole open quantity, ``taken`` counts its earlier
fills), fed the sweep's fills so far by every guard (the lean sweep's ``CrossGuard.__call__``, the kernel guard of
``Fills.sweep``, FillOrKill's dry run, the generic rules guard).  The proofs (``ACC-007/*``) cover the rule on its
arguments, not which argument the engine passes: the earlier scenarios reached the iceberg first (nothing taken),
so passing the incoming order's whole size went unnoticed (/work/coord/repro18/redteam22_1.py).

Scenario (ETHUSD, maker -0.025%, taker 0.075%, both at 3,000 USD): account 3 rests a plain sell of 100, account 2
an iceberg sell of 1,000 showing 100 behind it.  A buy of 150 reaches the iceberg with 50 left, 50 <= 100 shown: the
maker rate (execComm -3,750, a rebate; the whole size 150 would give the taker's +11,250).  A buy of 250 reaches it
with 150 left > 100 shown: the taker rate on both its fills (the slice, then 50 of the refreshed slice).  Each taker
kind, on the lean sweep and on the general path (``entry_plain.SWEEPS`` off, as tests/test_entry_sweep.py does), and
through the generic rules guard of an instrument without kernels.
"""

from __future__ import annotations

from typing import Any

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core import entry_plain, entry_sweep
from perpspec.engine.core.events import Accepted, Execution
from perpspec.engine.core.exchange import Engine
from perpspec.engine.kernels.load import kernels_for
from perpspec.rules.contract import compute_notional
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.invariants import check_all
from perpspec.rules.position import compute_commission

E = "ETHUSD"
PRICE = 300_000
ETH = load_instrument(E)
MAKER, TAKER = ETH.maker_fee_ppm, ETH.taker_fee_ppm  # -250, 750
NO_KERNELS = load_instrument(E, {"takerFee": "0.001"})  # parameters the kernels were not made for: the rules guard

TAKERS: dict[str, dict[str, Any]] = {
    "limit": {"price": PRICE},
    "IOC": {"price": PRICE, "time_in_force": "ImmediateOrCancel"},
    "market": {"ord_type": "Market"},
    "FillOrKill": {"price": PRICE, "time_in_force": "FillOrKill"},
}


def _comm(qty: int, fee_ppm: int, inst: Instrument = ETH) -> int:
    return compute_commission(compute_notional(inst, qty, PRICE), fee_ppm)


def _run(
    monkeypatch: pytest.MonkeyPatch, incoming: int, taker: dict[str, Any], lean: bool, inst: Instrument = ETH
) -> tuple[list[tuple[int, int, str]], list[tuple[int, int, str]], int]:
    """The plain order's and the iceberg's fills (qty, execComm, liquidity) and how often the lean sweep ran."""
    with monkeypatch.context() as patch:
        calls = [0]
        real = entry_sweep.enter_crossing

        def counted(*args: Any) -> None:
            calls[0] += 1
            real(*args)

        patch.setattr(entry_plain, "enter_crossing", counted)
        patch.setattr(entry_plain, "SWEEPS", lean)
        engine = Engine({E: inst})
        engine.track_steps = True
        engine.process(c.PriceUpdate(time_ms=0, symbol=E, mark_price=PRICE, index_price=PRICE))
        for account in (1, 2, 3):
            engine.process(c.VerifyAccount(time_ms=0, account=account))
            engine.process(c.Deposit(time_ms=0, account=account, asset=inst.settl_currency, amount=10**11))
        ids = []
        for account, qty, display in ((3, 100, None), (2, 1_000, 100)):
            placed = engine.process(c.PlaceOrder(time_ms=1, account=account, symbol=E, side="Sell", order_qty=qty,
                                                 price=PRICE, display_qty=display))
            assert isinstance(placed[-1], Accepted)
            ids.append(placed[-1].order_id)
        fees_before = engine.ledger.fees.get(inst.settl_currency, 0)
        events = engine.process(c.PlaceOrder(time_ms=2, account=1, symbol=E, side="Buy", order_qty=incoming, **taker))
        assert isinstance(events[-1], Accepted), events[-1]
        trades = [x for x in events if isinstance(x, Execution) and x.exec_type == "Trade"]
        assert engine.ledger.fees.get(inst.settl_currency, 0) - fees_before == sum(x.exec_comm for x in trades)
        assert {key: found for key, found in check_all(engine, engine.step_info(events)).items() if found} == {}
        plain, iceberg = ([(x.last_qty, x.exec_comm, x.last_liquidity_ind) for x in trades if x.order_id == i]
                          for i in ids)
        return plain, iceberg, calls[0]


PATHS = [(name, lean) for name in TAKERS for lean in (True, False)]


@pytest.mark.parametrize(("taker", "lean"), PATHS, ids=[f"{n}-{'lean' if lean else 'general'}" for n, lean in PATHS])
def test_acc_007_iceberg_reached_with_what_fits_its_slice_pays_the_maker_rate(
    monkeypatch: pytest.MonkeyPatch, taker: str, lean: bool
) -> None:
    plain, iceberg, swept = _run(monkeypatch, 150, TAKERS[taker], lean)
    assert swept == (1 if lean and taker == "limit" else 0)  # only a plain limit order takes the lean sweep
    assert plain == [(100, _comm(100, MAKER), "AddedLiquidity")]
    # reached with 150 - 100 = 50 left, 50 <= 100 shown: the maker rate, though the incoming order was 150
    assert iceberg == [(50, _comm(50, MAKER), "AddedLiquidity")]
    assert iceberg[0][1] == -3_750  # the reproducer's figure (the whole size would charge the taker's +11,250)


@pytest.mark.parametrize(("taker", "lean"), PATHS, ids=[f"{n}-{'lean' if lean else 'general'}" for n, lean in PATHS])
def test_acc_007_iceberg_reached_with_more_than_its_slice_pays_the_taker_rate(
    monkeypatch: pytest.MonkeyPatch, taker: str, lean: bool
) -> None:
    plain, iceberg, swept = _run(monkeypatch, 250, TAKERS[taker], lean)
    assert swept == (1 if lean and taker == "limit" else 0)
    assert plain == [(100, _comm(100, MAKER), "AddedLiquidity")]
    # reached with 150 left > 100 shown: the taker rate on the slice and on the refreshed slice's 50
    assert iceberg == [(100, _comm(100, TAKER), "AddedLiquidity"), (50, _comm(50, TAKER), "AddedLiquidity")]
    assert (iceberg[0][1], iceberg[1][1]) == (22_500, 11_250)


@pytest.mark.parametrize(("incoming", "rate"), [(150, "maker"), (250, "taker")])
def test_acc_007_iceberg_reached_after_fills_on_the_generic_rules_guard(
    monkeypatch: pytest.MonkeyPatch, incoming: int, rate: str
) -> None:
    """An instrument without kernels: ``Fills.make_guard``'s rules guard, same decision."""
    assert kernels_for(NO_KERNELS) is None
    assert kernels_for(ETH) is not None
    taker_ppm = NO_KERNELS.taker_fee_ppm
    for taker in TAKERS.values():
        plain, iceberg, swept = _run(monkeypatch, incoming, taker, True, NO_KERNELS)
        assert swept == 0
        assert plain == [(100, _comm(100, MAKER, NO_KERNELS), "AddedLiquidity")]
        if rate == "maker":
            assert iceberg == [(50, _comm(50, MAKER, NO_KERNELS), "AddedLiquidity")]
        else:
            assert iceberg == [(100, _comm(100, taker_ppm, NO_KERNELS), "AddedLiquidity"),
                               (50, _comm(50, taker_ppm, NO_KERNELS), "AddedLiquidity")]
