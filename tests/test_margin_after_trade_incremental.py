"""MRG-067's clean-up judges again only the accounts an event named since its last call in the command.

Session 12 review (/work/coord/repro12/rev3_1.py): the clean-up after a trade judged every account whose order needed
margin in the command, at every call, so a cascade of N fired stops (each fire a trade) cost O(N^2): 8,000 stops
took 5.8 s in one command (``python -m perpspec.engine.bench.cascade`` prints the figures; now linear).  An account
no event named since the last call was left funded, or with no order in the contract, by that call, and nothing has
changed it since, so judging it again cancels nothing.  These tests run the old rule (every account, every call,
kept here as the reference) beside the engine's and want the same events and state.

Rules: MRG-067, MRG-068.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

import pytest

from perpspec.engine.core import fills as fills_module
from perpspec.engine.core.accounts import Account
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.risk import free_balance
from perpspec.rules.instrument import Instrument
from perpspec.rules.margin import is_cancel_after_trade_due
from perpspec.rules.waterfall_postings import get_opened_qty
from tests.test_margin_after_trade import UNFUNDED_TEXT, scenario

pytestmark = pytest.mark.skipif(
    not fills_module.__file__.endswith(".py"), reason="the reference replaces a method of the interpreted Fills"
)


def every_account(self: Any, inst: Instrument, taker: Account, qty_before: int) -> None:
    """The clean-up as merged first: every account whose order needed margin in the command, at every call."""
    if fills_module.is_spot(inst):
        return
    asset, symbol = inst.settl_currency, inst.symbol
    judged = {account_id: None for account_id, order_asset in self.stream.orders if order_asset == asset}
    ps = taker.positions.get(symbol)
    if ps is not None and get_opened_qty(qty_before, ps.qty) != 0:
        judged[taker.account_id] = None
    for account_id in sorted(judged):
        account = self.ledger.accounts[account_id]
        ps = account.positions.get(symbol)
        if ps is None or not ps.orders:
            continue
        for order_id in sorted(ps.orders, reverse=True):
            available = free_balance(account, asset, self.risk.account_margin(account, asset))
            if not is_cancel_after_trade_due(available, len(ps.orders)):
                break
            self.registry.cancel(self.registry.live_orders[order_id], UNFUNDED_TEXT)


def run(commands: list[Any]) -> tuple[str, str, int]:
    engine = Engine()
    digest = hashlib.sha256()
    cancels = 0
    for command in commands:
        events = engine.process(command)
        digest.update(repr(events).encode())
        cancels += sum(1 for event in events if getattr(event, "text", "") == UNFUNDED_TEXT)
    return digest.hexdigest(), engine.state_hash(), cancels


def test_the_clean_ups_equal_the_every_account_rule_on_seeded_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    streams = [scenario(random.Random(seed), length=120, varied=seed % 2 == 0)[1] for seed in range(80)]
    engine_runs = [run(commands) for commands in streams]
    monkeypatch.setattr(fills_module.Fills, "cancel_unfunded_after_trade", every_account)
    reference_runs = [run(commands) for commands in streams]
    assert engine_runs == reference_runs
    assert sum(cancels for _, _, cancels in engine_runs) >= 5  # the streams do reach the clean-up
