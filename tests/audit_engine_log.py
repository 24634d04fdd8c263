"""An engine's own event log, as ``perpspec simulate`` writes it, for the auditor's tests (session 21, audit21).

:class:`EngineLog` runs commands through a fresh :class:`Engine` (every command must be accepted and leave the
registry's invariants holding: the log is an honest one), writes simulate's rows (a mark row per PriceUpdate, the
events' rows, the rate's row after an accepted FundingTick) and audits them.
"""

from __future__ import annotations

from typing import Any

from perpspec.engine.audit import INVARIANTS, RULES, audit_rows, load_mapping
from perpspec.engine.audit.faults import decode_rows
from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine
from perpspec.engine.simulation.eventlog import encode_json, event_records, iso_timestamp, price_num, rate_num
from perpspec.engine.simulation.result import Tally
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.invariants import check_all

Row = dict[str, Any]
X = "XBTUSD"
XBTUSD = load_instrument(X)
INSTRUMENTS = {X: XBTUSD}


class EngineLog:
    """Commands through a fresh engine; ``lines`` is the JSON Lines log simulate would write."""

    def __init__(self, max_liquidations_per_update: int = 1_000) -> None:
        self.engine = Engine(INSTRUMENTS, max_liquidations_per_update=max_liquidations_per_update)
        self.engine.track_steps = True
        self.tally = Tally()
        self.pending: dict[int, int] = {}
        self.lines: list[str] = []

    def run(self, command: Any) -> list[Any]:
        """One accepted command (the registry's invariants hold after it); its rows appended."""
        events = list(self.engine.process(command))
        assert isinstance(events[-1], Accepted), (command, events[-1])
        found = {k: v for k, v in check_all(self.engine, self.engine.step_info(events)).items() if v}
        assert not found, ("the engine's own invariants", command, found)
        if isinstance(command, c.PriceUpdate) and command.mark_price is not None:  # simulate's mark row
            self.lines.append(encode_json({"table": "instrument", "timestamp": iso_timestamp(command.time_ms),
                                           "symbol": X, "markPrice": price_num(XBTUSD, command.mark_price)}))
        self.lines += [encode_json(row) for event in events for row in event_records(XBTUSD, event, self.tally,
                                                                                      self.pending)]
        if isinstance(command, c.FundingTick):  # the rate's row, after the accepted tick's events (simulate's)
            self.lines.append(encode_json({"table": "funding", "timestamp": iso_timestamp(command.time_ms),
                                           "symbol": X, "fundingRate": rate_num(command.rate_e8)}))
        return events

    def open(self, time_ms: int, accounts: dict[int, int], leverage: dict[int, int] | None = None) -> None:
        """Verify and fund ``accounts`` (id -> XBt), and set the leverage of those ``leverage`` names."""
        for account, amount in accounts.items():
            self.run(c.VerifyAccount(time_ms=time_ms, account=account))
            self.run(c.Deposit(time_ms=time_ms, account=account, asset="XBt", amount=amount))
        for account, hundredths in (leverage or {}).items():
            self.run(c.SetLeverage(time_ms=time_ms, account=account, symbol=X, leverage_hundredths=hundredths))

    def mark(self, time_ms: int, price: int) -> list[Any]:
        """A PriceUpdate moving the mark and the index to ``price``."""
        return self.run(c.PriceUpdate(time_ms=time_ms, symbol=X, mark_price=price, index_price=price))

    def order(self, time_ms: int, account: int, side: str, qty: int, price: int) -> list[Any]:
        """A limit order of ``account``."""
        return self.run(c.PlaceOrder(time_ms=time_ms, account=account, symbol=X, side=side, order_qty=qty, price=price))

    @property
    def rows(self) -> list[Row]:
        """The log's rows, decoded as the auditor reads them."""
        return decode_rows(self.lines)


def audit(rows: list[Row], level: str) -> list[tuple[str, int, str, str, str]]:
    """The findings (id, line, message, expected, reported) of an audit of ``rows`` at ``level``."""
    audited = audit_rows(enumerate(rows, start=1), load_mapping("perpspec"), INSTRUMENTS, level)
    assert audited.error is None, audited.error
    return [(f.id, f.line, f.message, f.expected, f.reported) for f in audited.findings]


def audit_both(rows: list[Row]) -> dict[str, list[tuple[str, int, str, str, str]]]:
    """The findings at both levels."""
    return {level: audit(rows, level) for level in (INVARIANTS, RULES)}
