"""Attack review 2 (money paths): one price unit of premium cuts a new isolated position's margin to the wallet.

Severity: medium (the trader's own order opens a position below maintenance at an unchanged mark;
the system gains).  Found by the seeded random search (seed 159, XBTUSD).

ACC-006 (``rules.waterfall_postings.compute_isolated_margin_after_fill``) ends with
``funded = ite(premium > 0, min(kept + premium, max(0, unallocated)), kept)``: when the fill
opens worse than mark, the *whole* margin — requirement included — is capped by the wallet
beyond the other isolated margins, not only the premium.  MRG-060 admitted the order against the
available balance (MRG-050), which counts the cross positions' unrealised profit; the wallet
itself may hold much less.  So the same market buy gets its full requirement when it fills at the
mark, and a fraction of it when it fills one price unit above.

Reproduction: account 2 (0.12 XBT) is long 500,000 XBTUSD cross from 50,000.00; the mark rises
to 55,000.00 (available 91,402,500 XBt, wallet 11,250,000).  It isolates ETHUSD at 25x and
market-buys 4,000 ETHUSD from account 4's offer.  Offer at 3,000.00 (the mark): isolated margin
48,936,000, maintenance 12,936,000.  Offer at 3,000.05: isolated margin 10,349,985 against
maintenance 12,936,216 — liquidated by the next mark update at the same mark.

Proposed fix (ACC-006 and its mirror in LIQ-040): cap only the premium,
``funded = kept + ite(premium > 0, min(premium, max(0, unallocated − kept)), 0)`` — the
requirement is what MRG-060 charged and is kept as on a fill at mark.  (Where the requirement
itself comes from cross unrealised profit, the cross pool's margin goes below zero; that is the
cross-pool judgement proposed in tests/test_attack2_isolated_fill_drains_cross.py.)

Fixed (session 6): ACC-006 caps only the premium, as proposed: the fill one price unit above the mark keeps its
requirement, 48,936,816 (maintenance 12,936,216), and no premium (the wallet beyond the pool has none to give).
Proved: ``ACC-006/remainder-keeps-requirement`` (``KNOWN-BAD/ACC-006/caps-the-requirement`` refuted).
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine

ETH_QTY = 4_000


def _eth_bought_at(offer: int) -> Engine:
    engine = Engine()
    for account, wallet in ((2, 12_000_000), (3, 10**10), (4, 10**10)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=wallet))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    engine.process(c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Sell", order_qty=500_000, price=5_000_000))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Buy", order_qty=500_000, price=5_000_000))
    engine.process(c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=5_500_000, index_price=5_500_000))
    engine.process(c.SetLeverage(time_ms=1, account=2, symbol="ETHUSD", leverage_hundredths=2_500))
    engine.process(c.PlaceOrder(time_ms=1, account=4, symbol="ETHUSD", side="Sell", order_qty=ETH_QTY, price=offer))
    bought = engine.process(c.PlaceOrder(time_ms=1, account=2, symbol="ETHUSD", side="Buy", order_qty=ETH_QTY, ord_type="Market"))
    assert isinstance(bought[-1], Accepted)
    assert engine.accounts[2].positions["ETHUSD"].qty == ETH_QTY
    return engine


def test_a_fill_at_the_mark_gets_its_full_requirement() -> None:
    engine = _eth_bought_at(300_000)
    account = engine.accounts[2]
    margin, _, maintenance, _ = engine.risk.pool_of(account, "ETHUSD")
    assert (margin, maintenance) == (48_936_000, 12_936_000)


def test_a_fill_one_price_unit_above_the_mark_is_not_born_below_maintenance() -> None:
    engine = _eth_bought_at(300_005)
    account = engine.accounts[2]
    assert not engine.risk.below_maintenance(account, "ETHUSD")  # on main: margin 10,349,985 < 12,936,216
