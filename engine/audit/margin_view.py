"""The ledger as MRG-050 sees an account's margin, for the registry's margin checks (INV-WITHDRAW-SAFE, MRG-063).

The registry's margin invariants (``rules.invariants.check_withdraw_safe``) read an :class:`ExchangeView`'s orders
and each position's margin setting.  A log carries neither the orders nor an isolated pool's margin (what a pool
holds moves with its fills, funding and transfers by rules the log does not state), so :class:`MarginView` shows
the ledger with the *least* of each the venue's state can hold, and the registry's check over it is one the venue's
own state passes whenever an honest engine's did (``check_all``):

* no resting orders (order margin 0);
* an isolated pool holds its unrealised loss at mark (``posMargin = max(0, −unrealisedPnl)``, plus the fee MRG-020
  adds on a margin beyond ``posInit + posComm``, which the venue's larger margin carries too): a pool's equity at
  mark is ≥ 0 -- one below its bankruptcy price is taken over at once (LIQ-001/LIQ-034; a trade's take-over, FND-020)
  -- unless the liquidation budget carried it (LIQ-034) or an ADL shortfall waits (ADL-021);
* for an account whose pool in the currency such a record names (``unbacked``), an isolated pool holds nothing
  (``posMargin`` 0, the least MRG-050 counts: it floors a pool's margin at 0; redteam31_2).

A cross position's margin is the registry's own (at its own risk tier, as the registry computes it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from perpspec.engine.audit.ledger import Ledger
from perpspec.rules.instrument import Instrument
from perpspec.rules.margin import CROSS, MarginSetting, compute_position_margin
from perpspec.rules.order_margin import RestingOrder
from perpspec.rules.position import Position, compute_unrealised_pnl


class MarginView:
    """The ledger (an ``ExchangeView``) with the least margin the log allows (see the module)."""

    def __init__(self, ledger: Ledger, unbacked: bool, hidden: tuple[int, frozenset[str]] = (0, frozenset())) -> None:
        self.ledger = ledger
        self.unbacked = unbacked  # a carry or a shortfall names the account's pool: its isolated pools hold nothing
        # (account, symbols): positions left out, as flat (held in a contract with no mark, they cannot be valued;
        # a position only lowers MRG-050's available − unrealised profit, so leaving it out bounds that from above)
        self.hidden = hidden

    def margin_setting(self, account_id: int, symbol: str) -> MarginSetting:
        """The leverage reported (0 = cross); an isolated pool's ``posCross`` making its ``posMargin`` the least."""
        ledger = self.ledger
        setting = ledger.margin_setting(account_id, symbol)
        leverage = setting.leverage_hundredths
        position = ledger.position(account_id, symbol)
        if leverage == CROSS or position.qty == 0 or not ledger.has_mark(symbol):
            return setting
        inst = ledger.instruments()[symbol]
        mark = ledger.mark_price(symbol)
        bare = compute_position_margin(inst, position, mark, leverage).pos_margin  # posInit + posComm
        loss = 0 if self.unbacked else max(0, -compute_unrealised_pnl(inst, position, mark))
        return MarginSetting(leverage_hundredths=leverage, pos_cross=loss - bare)

    def open_orders(self, account_id: int) -> Sequence[RestingOrder]:
        """Orders are not in the log: none."""
        del account_id
        return ()

    # -- the ledger's own figures ------------------------------------------------------------------------

    def assets(self) -> Sequence[str]:
        """The ledger's."""
        return self.ledger.assets()

    def account_ids(self) -> Sequence[int]:
        """The ledger's."""
        return self.ledger.account_ids()

    def instruments(self) -> Mapping[str, Instrument]:
        """The ledger's."""
        return self.ledger.instruments()

    def wallet(self, account_id: int, asset: str) -> int:
        """The ledger's."""
        return self.ledger.wallet(account_id, asset)

    def positions(self, account_id: int) -> Mapping[str, Position]:
        """The ledger's, but those :attr:`hidden` leaves out."""
        held = self.ledger.positions(account_id)
        account, symbols = self.hidden
        if account != account_id or not symbols:
            return held
        return {symbol: position for symbol, position in held.items() if symbol not in symbols}

    def insurance(self, asset: str) -> int:
        """The ledger's."""
        return self.ledger.insurance(asset)

    def fee_pool(self, asset: str) -> int:
        """The ledger's."""
        return self.ledger.fee_pool(asset)

    def funding_pool(self, asset: str) -> int:
        """The ledger's."""
        return self.ledger.funding_pool(asset)

    def net_deposits(self, asset: str) -> int:
        """The ledger's."""
        return self.ledger.net_deposits(asset)

    def mark_price(self, symbol: str) -> int:
        """The ledger's."""
        return self.ledger.mark_price(symbol)
