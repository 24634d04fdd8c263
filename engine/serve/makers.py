"""An optional market maker for ``perpspec serve --makers``: one account quoting every contract.

After each price step of the feed it cancels its orders and quotes ``levels`` bids and asks around
the mark, ``spacing_ticks`` apart, ``size_lots`` lots each, so that a fresh server has a book that
market orders fill against.  It trades through the same sequencer and journal as every client
(its commands replay like theirs); it is an ordinary, verified and funded account (0 by default).
"""

from __future__ import annotations

from typing import Final

from perpspec.engine.core import commands as cmd
from perpspec.engine.serve.gateway import Gateway
from perpspec.engine.serve.rows import is_settled

MAKER_ACCOUNT: Final = 0
MAKER_FUNDS: Final = {"XBt": 1_000 * 100_000_000, "USDt": 50_000_000 * 1_000_000}  # 1,000 XBT; 50M USDT


class MarketMaker:
    """Quotes around the mark of every instrument that has one."""

    def __init__(
        self, gateway: Gateway, account: int = MAKER_ACCOUNT, levels: int = 5, spacing_ticks: int = 10, size_lots: int = 10
    ) -> None:
        self.gateway = gateway
        self.account = account
        self.levels = levels
        self.spacing_ticks = spacing_ticks
        self.size_lots = size_lots

    def ensure_account(self) -> None:
        """Verify and fund the maker's account on first use (journaled like any command)."""
        if self.account in self.gateway.exchange.account_ids():
            return
        self.gateway.verify(self.account)
        for asset, amount in MAKER_FUNDS.items():
            if asset in self.gateway.exchange.assets():
                self.gateway.deposit(self.account, asset, amount)

    def requote(self) -> int:
        """Cancel the maker's orders and quote afresh; the number of orders the engine accepted."""
        gateway = self.gateway
        gateway.execute(cmd.CancelAll(time_ms=gateway.now_ms(), account=self.account))
        accepted = 0
        for symbol, inst in sorted(gateway.exchange.instruments().items()):
            mark = gateway.exchange.mark_price(symbol)
            if not mark or is_settled(gateway.exchange, symbol):
                continue
            base = mark - mark % inst.tick_size  # the tick at or below the mark
            for level in range(1, self.levels + 1):
                offset = level * self.spacing_ticks * inst.tick_size
                for side, price in (("Buy", base - offset), ("Sell", base + inst.tick_size + offset)):
                    if price <= 0:
                        continue
                    events = gateway.execute(
                        cmd.PlaceOrder(time_ms=gateway.now_ms(), account=self.account, symbol=symbol, side=side,
                                       order_qty=self.size_lots * inst.lot_size, price=price, ord_type="Limit")
                    )
                    accepted += type(events[-1]).__name__ == "Accepted"
        return accepted
