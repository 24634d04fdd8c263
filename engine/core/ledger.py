"""The ledger: accounts and their wallets, deposits, the fee pool and the insurance funds.

:class:`Ledger` owns every account record (:class:`engine.core.accounts.Account`:
wallets, positions, live-order tallies), the net deposits and the fee pool per
asset, the insurance fund per asset (moved only by :meth:`Ledger.fund_move`,
which reports every movement as an INS-* record), and who holds a position in
each contract (``holders``, kept by the fills).  The liquidation engine is the
account :data:`LIQUIDATOR` (-1).
"""

from __future__ import annotations

from typing import Final

from perpspec.engine.core.accounts import Account, PositionState
from perpspec.engine.core.events import Reason
from perpspec.engine.core.market import Market
from perpspec.engine.core.rejects import Rej, is_int
from perpspec.engine.core.stream import EventStream
from perpspec.rules.events import InsuranceMovement
from perpspec.rules.instrument import Instrument

LIQUIDATOR: Final = -1  # the liquidation engine's account id (rules.waterfall_state.LIQUIDATOR_ACCOUNT_ID)


def peek_position(account: Account, inst: Instrument) -> PositionState:
    """The account's position in ``inst`` without creating one (a flat stand-in if none)."""
    state = account.positions.get(inst.symbol)
    return state if state is not None else PositionState(inst.symbol, inst.risk_limit)


class Ledger:
    """Accounts, deposits, fees, insurance funds and the holders of each contract."""

    def __init__(self, market: Market, stream: EventStream) -> None:
        self.market = market
        self.stream = stream
        self.accounts: dict[int, Account] = {LIQUIDATOR: Account(LIQUIDATOR)}
        self.accounts[LIQUIDATOR].verified = True
        self.insurance_funds: dict[str, int] = {}
        self.fees: dict[str, int] = {}
        self.deposits: dict[str, int] = {}
        self.holders: dict[str, dict[int, None]] = {symbol: {} for symbol in market.books}

    def account(self, account_id: object) -> Account | Rej:
        """A verified trader account, or a typed reject."""
        if not is_int(account_id):
            return Rej(Reason.MALFORMED, "account must be an integer")
        assert isinstance(account_id, int)
        account = self.accounts.get(account_id)
        if account is None or not account.verified or account_id < 0:
            return Rej(Reason.UNVERIFIED_ACCOUNT, f"account {account_id} is not verified")
        return account

    def account_in(self, account_id: object, symbol: object) -> tuple[Account, Instrument] | Rej:
        """A verified account and a known instrument, or the first typed reject (account checked first)."""
        account = self.account(account_id)
        if isinstance(account, Rej):
            return account
        inst = self.market.instrument(symbol)
        if isinstance(inst, Rej):
            return inst
        return account, inst


    def fund_move(self, asset: str, delta: int, kind: str, symbol: str, pending_id: int, rule_id: str) -> None:
        """Move the insurance fund of ``asset`` by ``delta`` and report it (an INS-* ``InsuranceMovement``)."""
        before = self.insurance_funds.get(asset, 0)
        self.insurance_funds[asset] = before + delta
        self.stream.emit_rule(
            InsuranceMovement(
                rule_id=rule_id, currency=asset, kind=kind, amount=delta, balance_before=before,
                balance_after=before + delta, timestamp_ms=self.stream.time_ms, symbol=symbol, pending_id=pending_id,
            ),
            -1,
            symbol,
        )


    def flat_accounts(self, acting: int | None) -> tuple[tuple[int, str, int], ...]:
        """(account, asset, wallet) for every asset of the trader accounts holding no position (before a step).

        ``acting``: the account acting in the step (withdrawing, or trading: spot trades move its wallets by
        design), left out; None when no account acts.
        """
        out = []
        for account_id in sorted(self.accounts):
            account = self.accounts[account_id]
            if account_id < 0 or account_id == acting or account.orders:
                continue  # an account with live orders can legitimately become a holder in the step
            if any(p.qty != 0 for p in account.positions.values()):
                continue  # INV-FLAT-NO-SOCIAL-LOSS is about accounts with no position at all
            for asset in self.market.assets():
                out.append((account_id, asset, account.wallet(asset)))
        return tuple(out)
