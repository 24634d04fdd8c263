"""``perpspec spec --diff REF``: a rule-by-rule diff between two versions of the rulebook.

Works on file texts only (the caller reads the old revision with ``git show``):
rules are extracted from ``rules/*.py`` with :func:`proofs.rulebook.extract_rules_from_source`
(never imported), paired by id and place, and shown as unified diffs of their exact
source; instrument parameters are compared field by field; proof statuses from
``specs/proof-status.json``.
"""

from __future__ import annotations

import difflib
import json
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from perpspec.proofs.rulebook import (
    ROOT,
    STATUS_FILE,
    VERSION_FILE,
    Outcome,
    code,
    extract_rules_from_source,
    table,
)
from perpspec.rules.parse import loads_json


def _unified(old: str, new: str, label: str) -> list[str]:
    return list(
        difflib.unified_diff(old.splitlines(), new.splitlines(), f"{label} (old)", f"{label} (new)", lineterm="")
    )


def render_diff(
    old_ref: str,
    old_files: Mapping[str, str],
    new_files: Mapping[str, str],
) -> str:
    """A rule-by-rule diff (code and parameters) between two versions.

    ``old_files`` and ``new_files`` map repository paths (``rules/*.py``,
    ``specs/instruments/*.toml``, ``specs/RULEBOOK_VERSION``,
    ``specs/proof-status.json``) to their text in each version.
    """
    lines = [f"# Rulebook changes: {old_ref} → working tree", ""]
    old_version = old_files.get(f"specs/{VERSION_FILE}", "0").strip() or "0"
    new_version = new_files.get(f"specs/{VERSION_FILE}", "0").strip() or "0"
    lines.append(f"Rulebook version {old_version} → {new_version}" + ("" if old_version != new_version else " (not bumped)"))
    lines.append("")

    old_rules, new_rules = _rules_of(old_files), _rules_of(new_files)
    pairs, added, removed = _match_rules(old_rules, new_rules)
    changed = [(old, new) for old, new in pairs if old != new]
    lines.extend(["## Rules", ""])
    summary = [[rule[0], "added", f"{rule[1]}:{rule[2]}"] for rule in added]
    summary += [[rule[0], "removed", f"{rule[1]}:{rule[2]}"] for rule in removed]
    for old, new in changed:
        what = "changed" if old[3] != new[3] else "moved"
        if old[0] != new[0]:
            what = f"renumbered from {old[0]}" + (", changed" if old[3] != new[3] else "")
        summary.append([new[0], what, f"{new[1]}:{new[2]}"])
    if summary:
        lines.extend(table(["Rule", "Change", "Where"], sorted(summary)))
    else:
        lines.append("No rule changed.")
    lines.append("")
    for old, new in sorted(changed, key=lambda pair: (pair[1][0], pair[1][1], pair[1][2])):
        lines.extend([f"### {new[0]} ({new[1]}:{new[2]})", ""])
        if old[:3] != new[:3]:
            lines.extend([f"Was `{old[0]}` at `{old[1]}:{old[2]}`.", ""])
        if old[3] != new[3]:
            lines.extend(["```diff", *_unified(old[3], new[3], new[0]), "```", ""])
    for rule_id, path, name, source in sorted(added):
        lines.extend([f"### {rule_id} added (`{path}:{name}`)", "", "```python", source.rstrip("\n"), "```", ""])
    for rule_id, path, name, _ in sorted(removed):
        lines.extend([f"### {rule_id} removed (was `{path}:{name}`)", ""])

    lines.extend(["## Parameters", ""])
    parameter_rows: list[list[str]] = []
    instrument_paths = sorted(
        {path for path in (*old_files, *new_files) if path.startswith("specs/instruments/") and path.endswith(".toml")}
    )
    for path in instrument_paths:
        symbol = Path(path).stem
        if path not in old_files:
            parameter_rows.append([symbol, "(instrument)", "—", "added"])
            continue
        if path not in new_files:
            parameter_rows.append([symbol, "(instrument)", "present", "removed"])
            continue
        old_map = tomllib.loads(old_files[path], parse_float=str)
        new_map = tomllib.loads(new_files[path], parse_float=str)
        for name in sorted(set(old_map) | set(new_map)):
            before, after = old_map.get(name), new_map.get(name)
            if before != after:
                parameter_rows.append([symbol, code(name), _show(before), _show(after)])
    if parameter_rows:
        lines.extend(table(["Instrument", "Parameter", "Old", "New"], parameter_rows))
    else:
        lines.append("No parameter changed.")
    lines.append("")

    old_status = old_files.get(f"specs/{STATUS_FILE}")
    new_status = new_files.get(f"specs/{STATUS_FILE}")
    if old_status or new_status:
        before = _status_map(old_status)
        after = _status_map(new_status)
        status_rows = [
            [code(name), before.get(name, "—"), after.get(name, "—")]
            for name in sorted(set(before) | set(after))
            if before.get(name) != after.get(name)
        ]
        lines.extend(["## Proof status", ""])
        if status_rows:
            lines.extend(table(["Obligation", "Old", "New"], status_rows))
        else:
            lines.append("No proof status changed.")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


_RuleRow = tuple[str, str, str, str]  # (id, path, qualified name, source)


def _rules_of(files: Mapping[str, str]) -> list[_RuleRow]:
    rows: list[_RuleRow] = []
    for path in sorted(files):
        if path.startswith("rules/") and path.endswith(".py"):
            try:
                extracted = extract_rules_from_source(path, files[path])
            except SyntaxError:
                continue
            rows.extend((rule_id, path, name, source) for rule_id, name, source in extracted)
    return rows


def _match_rules(
    old: Sequence[_RuleRow], new: Sequence[_RuleRow]
) -> tuple[list[tuple[_RuleRow, _RuleRow]], list[_RuleRow], list[_RuleRow]]:
    """Pair old and new rules: same id and place; then same place (renumbered); then same id (moved)."""
    pairs: list[tuple[_RuleRow, _RuleRow]] = []
    old_left, new_left = list(old), list(new)
    keys: tuple[Callable[[_RuleRow], object], ...] = (
        lambda row: row[:3],  # same id, same place
        lambda row: row[1:3],  # same place, new id
        lambda row: row[0],  # same id, moved
    )
    for key in keys:
        for new_row in list(new_left):
            candidates = [old_row for old_row in old_left if key(old_row) == key(new_row)]
            if len(candidates) == 1 and sum(1 for row in new_left if key(row) == key(new_row)) == 1:
                pairs.append((candidates[0], new_row))
                old_left.remove(candidates[0])
                new_left.remove(new_row)
    return pairs, new_left, old_left


def _show(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _status_map(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    try:
        data = loads_json(text)
    except json.JSONDecodeError:  # NestedTooDeeply too
        return {}
    outcomes = []
    for row in data.get("obligations", []):
        try:
            outcomes.append(
                Outcome(
                    id=row["id"],
                    statement=row.get("statement", ""),
                    rule_ids=tuple(row.get("rule_ids", ())),
                    invariant_ids=tuple(row.get("invariant_ids", ())),
                    result=row["result"],
                    bound=row.get("bound", ""),
                    known_bad=bool(row.get("known_bad", False)),
                    detail=row.get("detail", ""),
                )
            )
        except KeyError:
            continue
    return {outcome.id: outcome.status for outcome in outcomes}


def diff_paths(root: Path = ROOT) -> list[str]:
    """Repository paths a diff compares, in the working tree."""
    paths = [path.relative_to(root).as_posix() for path in sorted((root / "rules").glob("*.py"))]
    paths += [path.relative_to(root).as_posix() for path in sorted((root / "specs" / "instruments").glob("*.toml"))]
    paths += [f"specs/{VERSION_FILE}", f"specs/{STATUS_FILE}"]
    return paths
