"""The ledger: the exchange state a log implies, rebuilt one record at a time.

The audit never trusts a balance it can compute.  Money sits in exactly
these places: trader wallets, position cost bases, the liquidation engine
(account ``-1``: the positions it took over and the PnL of closing them), the
insurance fund, the fee pool, and money in transit between a liquidated pool
and the fund.  Fills move value between cost bases (ACC-003), commissions
move from wallets to the fee pool, deposits come from outside.  So the
totals the invariants need are kept **incrementally** (O(1) per record), and
the ledger is also an :class:`~perpspec.rules.invariants.ExchangeView`, so the
registry's own checks run on it unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from perpspec.rules.instrument import Instrument
from perpspec.rules.invariants import compute_conservation_gap
from perpspec.rules.margin import MarginSetting
from perpspec.rules.order_margin import RestingOrder
from perpspec.rules.position import FLAT, Position, apply_fill

LIQUIDATOR = -1  # the liquidation engine's account (rules.waterfall_state.LIQUIDATOR_ACCOUNT_ID)


def get_close_out_account(pending_id: int) -> int:
    """The ledger's account for one taken-over position (a close-out): the liquidation engine keeps each apart.

    Each close-out is closed against its own take-over price (INS-001), so the
    ledger holds it as its own system account (``< -1``), never blended with another.
    """
    return -2 - max(pending_id, 0)


class Ledger:
    """Wallets, positions, funds and marks as the log implies them; an ``ExchangeView``."""

    def __init__(self, instruments: Mapping[str, Instrument]) -> None:
        self._instruments = dict(instruments)
        self._wallets: dict[int, dict[str, int]] = {}
        self._positions: dict[int, dict[str, Position]] = {}
        self._leverage: dict[tuple[int, str], int] = {}
        self._insurance: dict[str, int] = {}
        self._fees: dict[str, int] = {}
        self._deposits: dict[str, int] = {}
        self._marks: dict[str, int] = {}
        # incremental totals: per asset Σ(wallet − cost) over every account, per symbol Σ qty
        self.wallets_minus_costs: dict[str, int] = {}
        self.open_interest_sum: dict[str, int] = {}
        self.system_wallets: dict[str, int] = {}  # Σ wallets of the liquidation engine's accounts (0 when settled)
        self.holders: set[int] = set()  # accounts holding a position (a mark move changes their equity)

    # -- ExchangeView ---------------------------------------------------------------------------

    def assets(self) -> Sequence[str]:
        """Every settlement asset the log has touched (and every instrument's)."""
        seen = {inst.settl_currency for inst in self._instruments.values()}
        seen.update(self._insurance, self._deposits, self._fees)
        return tuple(sorted(seen))

    def account_ids(self) -> Sequence[int]:
        """Every account the log named, the liquidation engine included."""
        return tuple(sorted(set(self._wallets) | set(self._positions)))

    def instruments(self) -> Mapping[str, Instrument]:
        """The instruments the audit was given."""
        return self._instruments

    def wallet(self, account_id: int, asset: str) -> int:
        """walletBalance implied by the log."""
        return self._wallets.get(account_id, {}).get(asset, 0)

    def positions(self, account_id: int) -> Mapping[str, Position]:
        """Non-flat positions of the account."""
        return {s: p for s, p in self._positions.get(account_id, {}).items() if p.qty != 0 or p.cost != 0}

    def insurance(self, asset: str) -> int:
        """The insurance fund implied by the log's movements."""
        return self._insurance.get(asset, 0)

    def fee_pool(self, asset: str) -> int:
        """Σ commissions charged."""
        return self._fees.get(asset, 0)

    def funding_pool(self, asset: str) -> int:
        """Funding is exchanged at once: nothing pending between instants."""
        del asset
        return 0

    def net_deposits(self, asset: str) -> int:
        """Deposits − withdrawals, the insurance fund's deposits included."""
        return self._deposits.get(asset, 0)

    def mark_price(self, symbol: str) -> int:
        """The last mark price the log stated (0: none yet)."""
        return self._marks.get(symbol, 0)

    def open_orders(self, account_id: int) -> Sequence[RestingOrder]:
        """Orders are not audited: none."""
        del account_id
        return ()

    def margin_setting(self, account_id: int, symbol: str) -> MarginSetting:
        """The leverage last reported for the position (0 = cross)."""
        return MarginSetting(leverage_hundredths=self._leverage.get((account_id, symbol), 0))

    # -- reads ------------------------------------------------------------------------------------

    def position(self, account_id: int, symbol: str) -> Position:
        """The account's position in ``symbol`` (flat if none)."""
        return self._positions.get(account_id, {}).get(symbol, FLAT)

    def get_marks(self) -> dict[str, int]:
        """Every mark the log has stated (a copy)."""
        return dict(self._marks)

    def has_isolated(self, account_id: int, asset: str) -> bool:
        """Whether the log reported an isolated margin setting for any of the account's contracts in ``asset``."""
        return any(
            self._leverage.get((account_id, symbol), 0) != 0
            for symbol, inst in self._instruments.items()
            if inst.settl_currency == asset
        )

    def leverage_reported(self, account_id: int, symbol: str) -> bool:
        """Whether the log reported the position's margin mode (a leverage, or cross)."""
        return (account_id, symbol) in self._leverage

    def has_mark(self, symbol: str) -> bool:
        """Whether the log has stated a mark for ``symbol``."""
        return symbol in self._marks

    # -- transitions (each keeps the incremental totals) --------------------------------------------

    def move_wallet(self, account_id: int, asset: str, amount: int) -> None:
        """Credit (or debit) a wallet."""
        wallets = self._wallets.setdefault(account_id, {})
        wallets[asset] = wallets.get(asset, 0) + amount
        self.wallets_minus_costs[asset] = self.wallets_minus_costs.get(asset, 0) + amount
        if account_id < 0:
            self.system_wallets[asset] = self.system_wallets.get(asset, 0) + amount

    def deposit(self, account_id: int, asset: str, amount: int) -> None:
        """Money from outside (negative: a withdrawal)."""
        self.move_wallet(account_id, asset, amount)
        self._deposits[asset] = self._deposits.get(asset, 0) + amount

    def fill(self, account_id: int, symbol: str, qty: int, price: int) -> int:
        """ACC-003: a fill of signed ``qty`` at ``price``; the realised PnL goes to the wallet (returned)."""
        inst = self._instruments[symbol]
        asset = inst.settl_currency
        before = self.position(account_id, symbol)
        after, realised = apply_fill(inst, before, qty, price)
        self._positions.setdefault(account_id, {})[symbol] = after
        if after.qty != 0:
            self.holders.add(account_id)
        elif not self.positions(account_id):
            self.holders.discard(account_id)
        self.wallets_minus_costs[asset] = self.wallets_minus_costs.get(asset, 0) - (after.cost - before.cost)
        self.open_interest_sum[symbol] = self.open_interest_sum.get(symbol, 0) + qty
        self.move_wallet(account_id, asset, realised)
        return realised

    def charge(self, account_id: int, asset: str, commission: int) -> None:
        """A commission from the wallet to the fee pool (negative: a rebate)."""
        self.move_wallet(account_id, asset, -commission)
        self._fees[asset] = self._fees.get(asset, 0) + commission

    def move_fund(self, asset: str, amount: int) -> None:
        """The insurance fund changes by ``amount`` (its counterpart is the caller's business)."""
        self._insurance[asset] = self._insurance.get(asset, 0) + amount

    def fund_from_outside(self, asset: str, amount: int) -> None:
        """A deposit into the insurance fund."""
        self.move_fund(asset, amount)
        self._deposits[asset] = self._deposits.get(asset, 0) + amount

    def set_mark(self, symbol: str, price: int) -> None:
        """A mark price update."""
        self._marks[symbol] = price

    def set_leverage(self, account_id: int, symbol: str, leverage_hundredths: int) -> None:
        """The position's margin mode as reported (0 = cross)."""
        self._leverage[(account_id, symbol)] = leverage_hundredths

    def conservation_gap(self, asset: str) -> int:
        """INV-CONSERVATION's kernel on the ledger: zero when funds are conserved."""
        return compute_conservation_gap(
            self.wallets_minus_costs.get(asset, 0), self.insurance(asset), self.fee_pool(asset),
            self.funding_pool(asset), self.net_deposits(asset),
        )
