"""The pytest plugin, and perpspec's invariant registry for any engine's own tests.

Installed with perpspec (entry point ``pytest11``), it adds::

    pytest --perpspec-audit LOG [--perpspec-mapping perpspec|FILE]
           [--perpspec-level invariants|rules] [--perpspec-instrument FILE ...]

which audits each ``LOG`` and adds one test item per finding (failing,
with the first offending event, expected vs reported and the rulebook
link), or one passing item when the log is clean; a check the log gives too little
to decide is one skipped item ("not judged"), which passes the run but says so.

For a venue's stateful tests, the engine implements the small read protocol
:class:`EngineReadProtocol` (wallets, positions, insurance, fees, marks,
pending close-outs) and calls :func:`assert_invariants` after every step::

    from perpspec.engine.audit.plugin import assert_invariants

    def test_my_engine_keeps_perpspec_invariants():
        engine = MyEngine()
        for command in stream:
            engine.apply(command)
            assert_invariants(engine, waterfall_complete=True)

The checks are the registry's own (:data:`perpspec.rules.invariants.REGISTRY`),
the same predicates perpspec's engine, Hypothesis state machines and Z3 proofs
use.  A view with no open orders, funding pool or margin settings gets neutral
defaults (no orders, no pending funding, cross margin).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pytest loads this module at every start: the rules load when a check first runs
    from perpspec.rules import invariants
    from perpspec.rules.instrument import Instrument
    from perpspec.rules.margin import MarginSetting
    from perpspec.rules.order_margin import RestingOrder
    from perpspec.rules.position import Position

STATE_INVARIANTS = (
    "INV-CONSERVATION",
    "INV-OI-BALANCE",
    "INV-INSURANCE-NONNEG",
    "INV-NO-NEG-EQUITY-AFTER-ADL",
    "INV-BOOK-UNCROSSED",
)  # the invariants a state alone decides (the others need what the step did: a StepInfo)


class EngineReadProtocol(Protocol):
    """What an engine exposes for perpspec's invariants: read-only, integers, minor units.

    Money in the settlement currency's minor unit; positions as
    :class:`perpspec.rules.position.Position` (signed ``qty`` in contracts,
    signed ``cost`` basis: the sum of the values of the fills); prices in the
    instrument's price unit.
    """

    def assets(self) -> Sequence[str]:
        """Settlement assets."""
        ...

    def account_ids(self) -> Sequence[int]:
        """Trader accounts (ids ≥ 0)."""
        ...

    def instruments(self) -> Mapping[str, Instrument]:
        """Instruments by symbol."""
        ...

    def wallet(self, account_id: int, asset: str) -> int:
        """walletBalance."""
        ...

    def positions(self, account_id: int) -> Mapping[str, Position]:
        """The account's positions by symbol."""
        ...

    def insurance(self, asset: str) -> int:
        """The insurance fund's balance."""
        ...

    def fee_pool(self, asset: str) -> int:
        """Commissions collected (net of rebates)."""
        ...

    def net_deposits(self, asset: str) -> int:
        """Deposits − withdrawals, the insurance fund's deposits included."""
        ...

    def mark_price(self, symbol: str) -> int:
        """The mark price."""
        ...

    def pending_close_outs(self) -> Sequence[tuple[str, Position]]:
        """(symbol, position) the liquidation engine holds: taken over, not yet closed."""
        ...


CLOSE_OUT_ACCOUNT = -1  # the system account pending close-outs are shown under (not a trader)


class RegistryView:
    """An :class:`EngineReadProtocol` engine as the registry's ``ExchangeView``."""

    def __init__(self, engine: EngineReadProtocol) -> None:
        self.engine = engine

    def assets(self) -> Sequence[str]:
        """The engine's assets."""
        return self.engine.assets()

    def account_ids(self) -> Sequence[int]:
        """The engine's accounts, and the liquidation engine's when it holds anything."""
        ids = list(self.engine.account_ids())
        if self.engine.pending_close_outs():
            ids.append(CLOSE_OUT_ACCOUNT)
        return ids

    def instruments(self) -> Mapping[str, Instrument]:
        """The engine's instruments."""
        return self.engine.instruments()

    def wallet(self, account_id: int, asset: str) -> int:
        """walletBalance (the liquidation engine holds none)."""
        return 0 if account_id == CLOSE_OUT_ACCOUNT else self.engine.wallet(account_id, asset)

    def positions(self, account_id: int) -> Mapping[str, Position]:
        """Positions; the liquidation engine's are its pending close-outs, summed per symbol."""
        from perpspec.rules.position import Position

        if account_id != CLOSE_OUT_ACCOUNT:
            return self.engine.positions(account_id)
        held: dict[str, Position] = {}
        for symbol, position in self.engine.pending_close_outs():
            before = held.get(symbol, Position())
            held[symbol] = Position(qty=before.qty + position.qty, cost=before.cost + position.cost)
        return held

    def insurance(self, asset: str) -> int:
        """The insurance fund."""
        return self.engine.insurance(asset)

    def fee_pool(self, asset: str) -> int:
        """The fee pool."""
        return self.engine.fee_pool(asset)

    def funding_pool(self, asset: str) -> int:
        """Funding received but not yet paid out (0 unless the engine says otherwise)."""
        read = getattr(self.engine, "funding_pool", None)
        return 0 if read is None else int(read(asset))

    def net_deposits(self, asset: str) -> int:
        """Net deposits."""
        return self.engine.net_deposits(asset)

    def mark_price(self, symbol: str) -> int:
        """The mark price."""
        return self.engine.mark_price(symbol)

    def open_orders(self, account_id: int) -> Sequence[RestingOrder]:
        """Resting orders (none unless the engine lists them)."""
        read = getattr(self.engine, "open_orders", None)
        return () if read is None else tuple(read(account_id))

    def margin_setting(self, account_id: int, symbol: str) -> MarginSetting:
        """Cross margin unless the engine says otherwise."""
        from perpspec.rules.margin import MarginSetting

        read = getattr(self.engine, "margin_setting", None)
        return MarginSetting() if read is None else read(account_id, symbol)


def check_engine(
    engine: EngineReadProtocol,
    step: invariants.StepInfo | None = None,
    waterfall_complete: bool = False,
    ids: Sequence[str] | None = None,
) -> dict[str, list[str]]:
    """The registry's violations on ``engine``'s state: id -> messages (empty when all hold).

    ``ids`` defaults to :data:`STATE_INVARIANTS` without a ``step`` and to the
    whole registry with one; ``waterfall_complete`` turns on
    INV-NO-NEG-EQUITY-AFTER-ADL when no ``step`` is given (call it after a
    mark update has been fully processed).
    """
    from perpspec.rules import invariants

    if step is None:
        step = invariants.StepInfo(waterfall_complete=waterfall_complete)
        chosen = STATE_INVARIANTS if ids is None else tuple(ids)
    else:
        chosen = tuple(invariants.REGISTRY) if ids is None else tuple(ids)
    view = RegistryView(engine)
    return {inv_id: invariants.REGISTRY[inv_id].check(view, step) for inv_id in chosen}


def assert_invariants(
    engine: EngineReadProtocol,
    step: invariants.StepInfo | None = None,
    waterfall_complete: bool = False,
    ids: Sequence[str] | None = None,
) -> None:
    """Fail (AssertionError naming every violated invariant) unless ``engine`` satisfies them."""
    found = check_engine(engine, step, waterfall_complete, ids)
    problems = [f"{inv_id}: {problem}" for inv_id, messages in found.items() for problem in messages]
    assert not problems, "perpspec invariants violated:\n  " + "\n  ".join(problems)


# -- the pytest plugin ------------------------------------------------------------------------------------------


def pytest_addoption(parser: Any) -> None:
    """``--perpspec-audit LOG`` and its companions."""
    group = parser.getgroup("perpspec", "perpspec audit of an engine's event log")
    group.addoption("--perpspec-audit", action="append", default=[], metavar="LOG",
                    help="audit the event log LOG; one test item per finding")
    group.addoption("--perpspec-mapping", default="perpspec", metavar="NAME|FILE",
                    help="mapping of the log's format (default: perpspec)")
    group.addoption("--perpspec-level", default="invariants", choices=("invariants", "rules"),
                    help="invariants only, or also every rule perpspec can recompute")
    group.addoption("--perpspec-instrument", action="append", default=[], metavar="FILE",
                    help="an instrument TOML file (default: perpspec's shipped instruments)")


def pytest_collection_modifyitems(session: Any, config: Any, items: list[Any]) -> None:
    """Add the audit's items (one per finding, or one passing item per clean log; one skipped item per check not
    judged)."""
    logs = config.getoption("--perpspec-audit", default=[])
    if not logs:
        return
    items.extend(_audit_items(session, config, logs))


def _audit_items(session: Any, config: Any, logs: Sequence[str]) -> list[Any]:
    import pytest

    from perpspec.engine.audit import MappingError, audit_log, load_mapping
    from perpspec.rules.instrument_file import load_builtin_instruments

    class AuditItem(pytest.Item):
        """One finding of an audit (or the clean verdict of a log)."""

        def __init__(self, *, problem: str | None, note: str | None = None, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.problem = problem
            self.note = note  # a check the log gave too little to decide: a skipped item, not a failure

        def runtest(self) -> None:
            if self.problem is not None:
                raise AuditFailure(self.problem)
            if self.note is not None:
                pytest.skip(f"not judged: {self.note}")

        def repr_failure(self, excinfo: Any, style: Any = None) -> str:
            if isinstance(excinfo.value, AuditFailure):
                return str(excinfo.value)
            return str(super().repr_failure(excinfo, style))

        def reportinfo(self) -> tuple[str, int, str]:
            return self.name, 0, self.name

    try:
        mapping = load_mapping(config.getoption("--perpspec-mapping"))
        instruments = _instruments(config.getoption("--perpspec-instrument"), load_builtin_instruments)
    except (MappingError, ValueError, OSError) as error:  # InstrumentError and ParseError are ValueErrors
        raise pytest.UsageError(f"perpspec audit: {error}") from None
    for log in logs:  # as `perpspec audit` does: a log that is not there is the job's error, not the audit's
        if not Path(log).is_file():
            raise pytest.UsageError(f"perpspec audit: {log}: no such file")
    level = config.getoption("--perpspec-level")
    made = []
    for log in logs:
        result = audit_log(log, mapping, instruments, level)
        label = Path(log).name
        if result.error is not None:
            made.append(AuditItem.from_parent(session, name=f"perpspec-audit[{label}]::unreadable",
                                              problem=f"{log}: {result.error}"))
            continue
        if result.clean:
            made.append(AuditItem.from_parent(session, name=f"perpspec-audit[{label}]::clean", problem=None))
        for finding in result.findings:
            name = f"perpspec-audit[{label}]::{finding.id}@line{finding.line}"
            made.append(AuditItem.from_parent(session, name=name, problem=f"{log}: {finding.one_line()}"))
        for note in result.unjudged:
            name = f"perpspec-audit[{label}]::not-judged:{note.id}@line{note.line}"
            made.append(AuditItem.from_parent(session, name=name, problem=None, note=f"{log}: {note.one_line()}"))
    return made


class AuditFailure(Exception):
    """A finding of ``--perpspec-audit``, shown as its one line."""


def _instruments(files: Sequence[str], builtin: Any) -> dict[str, Instrument]:
    from perpspec.rules.instrument_file import load_instrument

    found: dict[str, Instrument] = dict(builtin())
    for name in files:
        inst = load_instrument(name)
        found[inst.symbol] = inst
    return found
