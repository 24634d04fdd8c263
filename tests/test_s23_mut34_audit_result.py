"""mut34: AuditResult's bookkeeping of findings and checks not judged, and the text report's lists (session 23;
engine/audit/findings.py and report.py, b06757a).  A mutation round found untested:

- a check not judged is not a finding: it never becomes the first finding of its id (``summary_rows``' "first line"),
  even when a note of the same id (INV-WITHDRAW-SAFE) comes before the finding (``if judged:`` made ``True``);
- at most MAX_KEPT findings and notes are kept in full, the rest only counted (``<`` made ``<=``);
- the report prints at most SHOWN_PER_ID notes per id, the rest counted (``<`` made ``<=``).
"""

from __future__ import annotations

from perpspec.engine.audit.findings import MAX_KEPT, AuditResult, Finding
from perpspec.engine.audit.report import SHOWN_PER_ID, format_text, summary_rows

W = "INV-WITHDRAW-SAFE"


def _finding(line: int) -> Finding:
    return Finding(id=W, line=line, seq=None, kind="transaction", message=f"at {line}")


def test_a_note_before_a_finding_of_its_id_is_not_its_first_finding() -> None:
    result = AuditResult(level="rules", mapping="perpspec")
    result.add(_finding(5), judged=False)
    assert result.first == {}
    assert result.clean
    result.add(_finding(9))
    assert result.first[W].line == 9
    assert summary_rows(result)[0][:3] == (W, 1, 9)
    assert [f.line for f in result.findings] == [9]
    assert [f.line for f in result.unjudged] == [5]


def test_findings_and_notes_kept_in_full_stop_at_max_kept() -> None:
    result = AuditResult(level="rules", mapping="perpspec")
    for line in range(MAX_KEPT + 2):
        result.add(_finding(line))
        result.add(_finding(line), judged=False)
    assert len(result.findings) == len(result.unjudged) == MAX_KEPT
    assert result.counts == result.unjudged_counts == {W: MAX_KEPT + 2}


def test_the_report_prints_at_most_shown_per_id_notes_of_an_id() -> None:
    result = AuditResult(level="rules", mapping="perpspec")
    for line in range(1, SHOWN_PER_ID + 3):
        result.add(_finding(line), judged=False)
    text = format_text(result, "log.jsonl")
    printed = [row for row in text.splitlines() if row.startswith("  ") and "at " in row]
    assert len(printed) == SHOWN_PER_ID, text
    assert f"  {W}: {SHOWN_PER_ID + 2:,} not judged" in text.splitlines()
    assert text.splitlines()[-1] == f"verdict: CLEAN ({SHOWN_PER_ID + 2} checks not judged)"
