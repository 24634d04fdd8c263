"""``perpspec audit``: any engine's event log checked against perpspec's proved invariants and rules.

The front door for CI pipelines and other engines' test suites::

    from perpspec.engine.audit import audit_log, load_mapping
    result = audit_log("events.jsonl", load_mapping("perpspec"), {"XBTUSD": xbtusd}, level="rules")
    assert result.clean, result.findings

* :mod:`~perpspec.engine.audit.schema` — the records a log is read as (BitMEX names, integer units);
* :mod:`~perpspec.engine.audit.mapping` — TOML mappings from a venue's format (``perpspec`` shipped);
* :mod:`~perpspec.engine.audit.auditor` — the streaming ledger and checks;
* :mod:`~perpspec.engine.audit.faults` — the planted-fault catalogue the audit is tested with;
* :mod:`~perpspec.engine.audit.plugin` — the pytest plugin (``pytest --perpspec-audit LOG``) and
  :func:`~perpspec.engine.audit.plugin.check_engine`, the invariant registry over any engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the names below load on first use: the pytest plugin imports this package at every start
    from perpspec.engine.audit.auditor import Auditor
    from perpspec.engine.audit.findings import INVARIANTS, RULES, AuditResult, Finding, rule_link
    from perpspec.engine.audit.mapping import AuditMapping, MappingError, load_mapping, parse_mapping
    from perpspec.engine.audit.run import INTERNAL, audit_log, audit_rows
    from perpspec.engine.audit.schema import KINDS, LogError

__all__ = [
    "INTERNAL",
    "INVARIANTS",
    "KINDS",
    "RULES",
    "AuditMapping",
    "AuditResult",
    "Auditor",
    "Finding",
    "LogError",
    "MappingError",
    "audit_log",
    "audit_rows",
    "load_mapping",
    "parse_mapping",
    "rule_link",
]

# public name -> the module of this package that defines it (a fixed table: no name from outside selects code)
_HOMES = {
    "Auditor": "auditor",
    "AuditResult": "findings",
    "INVARIANTS": "findings",
    "RULES": "findings",
    "Finding": "findings",
    "rule_link": "findings",
    "AuditMapping": "mapping",
    "MappingError": "mapping",
    "load_mapping": "mapping",
    "parse_mapping": "mapping",
    "INTERNAL": "run",
    "audit_log": "run",
    "audit_rows": "run",
    "KINDS": "schema",
    "LogError": "schema",
}


def __getattr__(name: str) -> object:
    """A public name, imported from its module on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
