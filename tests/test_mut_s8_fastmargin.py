"""MRG-040's charge price of a new order crossing the book, on the engine's generic-rules order path
(``engine.core.fastmargin.sides_plus``), through public commands (session 8 mutation survivors of
``engine/core/fastmargin.py``).

The shipped instruments run the proved ``pretrade_*`` kernels; an instrument whose parameters differ from the
kernels' record runs the generic rules, where the new order's MRG-042 term is added to the resting orders' sums by
``sides_plus``.  MRG-040 charges an inverse buy at ``min(limit, best ask)`` (its worst-case value) when an ask is
resting.  Two edges the shipped instruments cannot show (their inverse lots are 100 contracts, their ticks ≥ 5):

* a one-contract buy (XBTUSD with a lot of 1) at 50,000.00 against an ask at 47,600.00 needs 26 XBt (charged at the
  ask), not the 24 it would need at its limit (two contracts: 51);
* an ask at one price unit (XBTUSD with a lot and a tick of 1, mark 1): a buy at 2 is charged at 1 and needs
  5,115,075,000 XBt, not the 5,057,537,500 of its limit.
"""

from __future__ import annotations

import attrs
import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.engine.kernels.load import kernels_for
from perpspec.rules.instrument_file import load_instrument, validate

XBTUSD = load_instrument("XBTUSD")


def _refusal(inst_changes: dict[str, int], mark: int, ask: int, bid: int, qty: int) -> str:
    """Account 2 rests an ask of ``qty`` at ``ask``; account 3 (1 XBt) bids ``qty`` at ``bid``: the refusal's text."""
    inst = attrs.evolve(XBTUSD, **inst_changes)
    assert validate(inst) is None
    engine = Engine({"XBTUSD": inst})
    assert kernels_for(inst) is None  # the generic rules' order path
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=mark, index_price=mark))
    for account, amount in ((2, 10**15), (3, 1)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    placed = engine.process(
        c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Sell", order_qty=qty, price=ask)
    )
    assert isinstance(placed[-1], Accepted), placed[-1]
    refused = engine.process(
        c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Buy", order_qty=qty, price=bid)
    )[-1]
    assert isinstance(refused, Rejected), refused
    return refused.text


@pytest.mark.parametrize(("qty", "text"), [(1, "needs 26, available 1"), (2, "needs 51, available 1")])
def test_mrg_040_a_one_contract_inverse_buy_crossing_the_ask_is_charged_at_the_ask(
    qty: int, text: str
) -> None:
    """MRG-040 / MRG-060: one contract is charged at the ask like two (lot 1, generic rules)."""
    assert _refusal({"lot_size": 1}, 5_000_000, 4_760_000, 5_000_000, qty) == text


def test_mrg_040_an_ask_at_one_price_unit_sets_the_charge_price() -> None:
    """MRG-040 / MRG-060: a best ask of 1 (the lowest price) is a resting ask: the buy at 2 is charged at 1."""
    assert _refusal({"lot_size": 1, "tick_size": 1}, 1, 1, 2, 1) == "needs 5115075000, available 1"
