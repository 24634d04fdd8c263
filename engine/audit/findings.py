"""Findings: what the audit reports, each with its rule or invariant id and a link to the rulebook."""

from __future__ import annotations

from typing import Any

import attrs

from perpspec.engine.audit.schema import LogError

# id prefix -> the page of the generated rulebook (specs/) that documents it
RULE_PAGES: dict[str, str] = {
    "ACC": "contracts.md",
    "CON": "contracts.md",
    "MRG": "margin.md",
    "LIQ": "liquidation.md",
    "INS": "insurance.md",
    "ADL": "adl.md",
    "FND": "funding.md",
    "INV": "README.md",
}

MAX_KEPT = 1_000  # findings (and notes) kept in full; beyond, only counted per id
INVARIANTS = "invariants"  # level: only the registry's global invariants
RULES = "rules"  # level: invariants, and every derived field recomputed with perpspec's rules


def rule_link(rule_id: str) -> str:
    """The rule's section in the generated rulebook, e.g. ``specs/liquidation.md#liq-023``."""
    page = RULE_PAGES.get(rule_id.split("-", 1)[0], "README.md")
    return f"specs/{page}#{rule_id.lower()}"


@attrs.frozen(kw_only=True)
class Finding:
    """One offending event: where (line, seq), which rule or invariant, and what differs."""

    id: str  # a rule id (ACC-002) or an invariant id (INV-CONSERVATION)
    line: int  # 1-based line (or row) of the log
    seq: int | None  # the venue's own sequence number of the row, when it has one
    kind: str  # the audit kind of the offending row
    message: str
    expected: str = ""
    reported: str = ""

    @property
    def link(self) -> str:
        """Where the rulebook explains ``id``."""
        return rule_link(self.id)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping (CI output)."""
        return {
            "id": self.id,
            "line": self.line,
            "seq": self.seq,
            "kind": self.kind,
            "message": self.message,
            "expected": self.expected,
            "reported": self.reported,
            "link": self.link,
        }

    def one_line(self) -> str:
        """``line 12 (seq 40) ACC-002 execution: … expected X, reported Y — specs/…``."""
        where = f"line {self.line}" + (f" (seq {self.seq})" if self.seq is not None else "")
        diff = f"; expected {self.expected}, reported {self.reported}" if self.expected or self.reported else ""
        return f"{where} {self.id} {self.kind}: {self.message}{diff} — {self.link}"


@attrs.define
class AuditResult:
    """What an audit found, and what it read."""

    level: str
    mapping: str
    rows: int = 0
    records: dict[str, int] = attrs.Factory(dict)  # audit kind -> count
    instants: int = 0
    findings: list[Finding] = attrs.Factory(list)  # the first MAX_KEPT, in log order
    counts: dict[str, int] = attrs.Factory(dict)  # id -> findings
    first: dict[str, Finding] = attrs.Factory(dict)  # id -> its first finding
    error: LogError | None = None
    # checks the log gave too little to decide (e.g. INV-WITHDRAW-SAFE with a position the log states no mark for):
    # not findings (an honest log can need them), but the verdict is then not a whole one
    unjudged: list[Finding] = attrs.Factory(list)  # the first MAX_KEPT, in log order
    unjudged_counts: dict[str, int] = attrs.Factory(dict)  # id -> checks not judged

    @property
    def clean(self) -> bool:
        """True when the whole log was read and nothing was found (checks not judged are listed, not counted)."""
        return self.error is None and not self.counts

    @property
    def complete(self) -> bool:
        """True when every check the audit made could be decided from the log."""
        return not self.unjudged_counts

    def add(self, finding: Finding, judged: bool = True) -> None:
        """Count a finding (or, ``judged`` False, a check not judged) and keep it while fewer than MAX_KEPT are."""
        counts, kept = (self.counts, self.findings) if judged else (self.unjudged_counts, self.unjudged)
        counts[finding.id] = counts.get(finding.id, 0) + 1
        if judged:
            self.first.setdefault(finding.id, finding)
        if len(kept) < MAX_KEPT:
            kept.append(finding)
