"""What ``perpspec audit`` prints: the first offending event per finding, a summary table, or JSON for CI."""

from __future__ import annotations

from typing import Any

from perpspec.engine.audit.findings import AuditResult, rule_link

SHOWN_PER_ID = 3  # findings printed per id (the rest are counted)


def summary_rows(result: AuditResult) -> list[tuple[str, int, int, str]]:
    """(id, findings, first line, rulebook link) per id, in id order."""
    return [(rule_id, count, result.first[rule_id].line, rule_link(rule_id)) for rule_id, count in sorted(result.counts.items())]


def format_text(result: AuditResult, log: str) -> str:
    """The human report: verdict, findings (first offending event first), summary table, what was read."""
    lines = []
    if result.error is not None:
        lines.append(f"audit stopped: {result.error}")
    shown: dict[str, int] = {}
    for finding in result.findings:
        if shown.get(finding.id, 0) < SHOWN_PER_ID:
            lines.append(finding.one_line())
        shown[finding.id] = shown.get(finding.id, 0) + 1
    rows = summary_rows(result)
    if rows:
        width = max(len(rule_id) for rule_id, *_ in rows)
        lines.append("")
        lines.append(f"{'id':{width}}  findings  first line  rulebook")
        for rule_id, count, first, link in rows:
            lines.append(f"{rule_id:{width}}  {count:8,}  {first:10,}  {link}")
    unjudged = sum(result.unjudged_counts.values())
    if unjudged:
        lines.append("")
        lines.append("not judged (the log gives too little to decide; not findings):")
        shown = {}
        for note in result.unjudged:
            if shown.get(note.id, 0) < SHOWN_PER_ID:
                lines.append(f"  {note.one_line()}")
            shown[note.id] = shown.get(note.id, 0) + 1
        lines += [f"  {rule_id}: {count:,} not judged" for rule_id, count in sorted(result.unjudged_counts.items())]
    kinds = ", ".join(f"{kind} {count:,}" for kind, count in sorted(result.records.items()))
    lines.append("")
    lines.append(f"read {result.rows:,} rows of {log} ({result.instants:,} instants; {kinds})")
    lines.append(f"level {result.level}, mapping {result.mapping}")
    verdict = "CLEAN" if result.clean else ("UNREADABLE" if result.error is not None else "FINDINGS")
    total = sum(result.counts.values())
    partial = f"; {unjudged:,} check{'s' if unjudged != 1 else ''} not judged" if unjudged else ""
    lines.append(f"verdict: {verdict}" + (f" ({total:,} finding{'s' if total != 1 else ''}{partial})" if total else
                                          f" ({partial[2:]})" if partial else ""))
    return "\n".join(lines)


def to_json(result: AuditResult, log: str) -> dict[str, Any]:
    """The JSON document for CI (``--json``)."""
    return {
        "log": log,
        "level": result.level,
        "mapping": result.mapping,
        "clean": result.clean,
        "rows": result.rows,
        "instants": result.instants,
        "records": dict(sorted(result.records.items())),
        "error": None
        if result.error is None
        else {"line": result.error.line, "field": result.error.field, "message": result.error.message},
        "summary": [
            {"id": rule_id, "findings": count, "first_line": first, "link": link}
            for rule_id, count, first, link in summary_rows(result)
        ],
        "findings": [finding.to_json() for finding in result.findings],
        "complete": result.complete,  # every check decided (else see not_judged; "clean" counts findings only)
        "not_judged": {
            "summary": [{"id": rule_id, "count": count} for rule_id, count in sorted(result.unjudged_counts.items())],
            "items": [note.to_json() for note in result.unjudged],
        },
    }
