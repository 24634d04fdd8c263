"""The rulebook generator: the index page, the test index, and writing ``specs/``.

See :mod:`proofs.rulebook` for what the generator does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from perpspec.proofs import coverage
from perpspec.proofs.rulebook_data import code, link, table
from perpspec.proofs.rulebook_model import Rulebook
from perpspec.proofs.rulebook_pages import coverage_lines, page_header, render_area, render_instruments
from perpspec.proofs.rulebook_rules import AREAS, OTHER_AREA, STATUS_FILE, TEST_INDEX_FILE, area_of
from perpspec.proofs.rulebook_status import render_status


def render_index(book: Rulebook) -> str:
    """specs/README.md: every rule and invariant with its status; proved vs tested vs trusted."""
    lines = page_header(book, "The perpspec rulebook")
    lines.extend(
        [
            "This is the rulebook of a BitMEX-style perpetual-futures exchange, generated from the code "
            "that runs it (`rules/`), the instrument files, the proof obligations (`proofs/`) and the "
            "tests (`tests/`). Regenerate with `perpspec spec`; a repository test fails when this "
            "directory is out of date. Compare with an older version with `perpspec spec --diff REF`.",
            "",
            "Statuses: **proved (unbounded)** — Z3 proved the obligation for all integer inputs; "
            "**proved for k ≤ n** — proved for up to n accounts, candidates or steps (the bound is "
            "stated). A rule shows **proved (unbounded)** only when every invariant it is proved to preserve "
            "has an unbounded proof; a rule with some invariants proved only with a bound shows, per such "
            "invariant, the bound of its weakest case (n is the smallest, over the cases: instrument, side, ..., "
            "of the largest size proved in that case) and names those invariants. Obligations posed per instrument "
            "are posed for the shipped perpetuals (XBTUSD, ETHUSD, XBTUSDT); a rule whose proofs leave one of them "
            "out shows **proved for** the instruments it is proved on and names the others (not proved); "
            "the dated future XBTZ26 is proved only where its own obligations are listed. **tested, waived (kind)** — no proof, but test functions name the rule and a "
            f"reviewed waiver in [`{coverage.WAIVER_FILE}`]({coverage.WAIVER_FILE}) says why; "
            "**tested only** — tests but no waiver (a gap); **not checked** — neither (a gap). "
            "`perpspec prove --coverage` fails while any gap remains. "
            "Statuses come from the last actual run of the "
            f"obligations, recorded in [`{STATUS_FILE}`]({STATUS_FILE}) with the fingerprint of the "
            "sources it ran on.",
            "",
        ]
    )
    lines.extend(coverage_lines(book, book.rules, "## Coverage summary"))
    lines.extend(["## Pages", ""])
    areas = [*AREAS] + ([OTHER_AREA] if any(area_of(rule.id) == OTHER_AREA for rule in book.rules) else [])
    page_rows = []
    for area in areas:
        here = [rule for rule in book.rules if area_of(rule.id) == area]
        counts = book.coverage_counts(here)
        page_rows.append(
            [f"[{area.title}]({area.slug}.md)", ", ".join(area.prefixes) or "—", area.blurb, str(len(here))]
            + [str(counts[name]) for name in coverage.CLASSES]
        )
    page_rows.append(
        ["[Instruments](instruments.md)", "—", "every parameter of every shipped instrument", "—"]
        + ["—" for _ in coverage.CLASSES]
    )
    lines.extend(table(["Page", "Rule ids", "Covers", "Rules", *coverage.CLASSES], page_rows))
    lines.append("")

    proved = [outcome for outcome in book.outcomes if not outcome.known_bad and outcome.strength >= 2]
    failing = [outcome for outcome in book.outcomes if outcome.strength < 0 and not outcome.known_bad]
    waived = [outcome for outcome in book.outcomes if outcome.strength == 1]
    known_bad = [outcome for outcome in book.outcomes if outcome.known_bad]
    statuses = {rule.id: book.status(rule.id) for rule in book.rules}
    lines.extend(["## What is proved", ""])
    if proved:
        lines.append(
            f"{len(proved)} proof obligations hold, each one transition preserving one property, with "
            "satisfiable assumptions (a vacuous proof counts as a failure):"
        )
        lines.append("")
        lines.extend(
            table(
                ["Obligation", "Rules", "Invariants", "Claim", "Status"],
                [
                    [
                        code(outcome.id),
                        ", ".join(link(rule_id, True) for rule_id in outcome.rule_ids) or "—",
                        ", ".join(outcome.invariant_ids) or "—",
                        outcome.statement,
                        outcome.status,
                    ]
                    for outcome in proved
                ],
            )
        )
    else:
        lines.append("No proof obligation has been run yet.")
    lines.append("")
    if failing:
        lines.extend(["**Failing obligations** (the rulebook is not released while any are listed):", ""])
        lines.extend(
            table(
                ["Obligation", "Status"], [[code(outcome.id), outcome.status] for outcome in failing]
            )
        )
        lines.append("")
    if waived:
        lines.extend(["**Waived obligations**", ""])
        lines.extend(table(["Obligation", "Reason"], [[code(o.id), o.detail] for o in waived]))
        lines.append("")
    if known_bad:
        lines.extend(
            [
                "**The checkers can fail**: deliberately broken variants of rules, each of which must be refuted:",
                "",
            ]
        )
        lines.extend(
            table(["Known-bad variant", "What is broken", "Result"], [[code(o.id), o.statement, o.status] for o in known_bad])
        )
        lines.append("")
    tested_only = [rule_id for rule_id, status in statuses.items() if status == "tested only"]
    unchecked = [rule_id for rule_id, status in statuses.items() if status == "not checked"]
    waived_rules = [rule for rule in book.rules if book.coverage_class(rule.id) == "tested, waived"]
    lines.extend(["## What is tested, with a written waiver", ""])
    lines.append(
        f"These rules have no proof obligation. Each has a reviewed waiver in [`{coverage.WAIVER_FILE}`]"
        f"({coverage.WAIVER_FILE}) and test functions that name it. Waiver kinds:"
    )
    lines.append("")
    lines.extend(table(["Kind", "Meaning"], [[code(kind), text] for kind, text in coverage.WAIVER_KINDS.items()]))
    lines.append("")
    if waived_rules:
        lines.extend(
            table(
                ["Rule", "Kind", "Why no proof", "Tests"],
                [
                    [
                        link(rule.id, True),
                        book.waivers[rule.id].kind,
                        book.waivers[rule.id].reason,
                        str(len(book.test_functions.get(rule.id, ()))),
                    ]
                    for rule in waived_rules
                ],
            )
        )
        lines.append("")
    if tested_only:
        lines.append(
            "**Tested only, no waiver** (a coverage gap): "
            + ", ".join(link(rule_id, True) for rule_id in tested_only)
            + "."
        )
        lines.append("")
    if unchecked:
        lines.append(
            "**Not checked** — neither proved nor named by any test (a coverage gap): "
            + ", ".join(link(rule_id, True) for rule_id in unchecked)
            + "."
        )
        lines.append("")
    lines.extend(["## What is trusted", ""])
    lines.append(
        "Not proved: the code that runs the proved kernels or feeds them. The stateful tests drive the "
        "whole path (engine included) with every registered invariant checked after every step, but "
        "these components are trusted rather than verified — the matching engine's book code, the "
        "journal I/O, the parsing of human numbers and files, the CLI, and the proof machinery itself "
        "(the symbolic integer's encoding of Python semantics, and Z3)."
    )
    lines.append("")
    lines.extend(table(["Component", "What it is"], [[code(path), text] for path, text in book.trusted]))
    lines.append("")
    lines.extend(["## All rules", ""])
    lines.extend(
        table(
            ["Rule", "What it does", "Source", "Status", "Test functions"],
            [
                [
                    link(rule.id, True),
                    rule.summary,
                    code(f"{rule.path}:{rule.qualname}"),
                    statuses[rule.id],
                    str(len(book.test_functions.get(rule.id, ()))),
                ]
                for rule in book.rules
            ],
        )
    )
    lines.append("")
    duplicates = sorted({rule.id for rule in book.rules if sum(1 for r in book.rules if r.id == rule.id) > 1})
    if duplicates:
        lines.append("**Duplicate rule ids** (each id must name one rule): " + ", ".join(duplicates))
        lines.append("")
    lines.extend(["## All invariants", ""])
    for inv_id, statement in book.invariants:
        outcomes = [o for o in book.outcomes_for_invariant(inv_id) if not o.known_bad]
        rules_text = ", ".join(
            sorted({link(rule_id, True) for outcome in outcomes for rule_id in outcome.rule_ids})
        )
        tests = book.mentions.get(inv_id, ())
        lines.append(f'<a id="{inv_id.lower()}"></a>')
        lines.append(f"### {inv_id}")
        lines.append("")
        lines.append(statement)
        lines.append("")
        lines.append(f"**Status: {book.status(inv_id)}**" + (f" · proved for rules {rules_text}" if rules_text else ""))
        lines.append("")
        stated_with = book.invariant_rules.get(inv_id, ())
        if stated_with:
            lines.append("Its check is computed with: " + ", ".join(link(rule_id, True) for rule_id in stated_with))
            lines.append("")
        if outcomes:
            lines.extend(table(["Obligation", "Status"], [[code(o.id), o.status] for o in outcomes]))
            lines.append("")
        if tests:
            lines.append("Tests: " + ", ".join(code(test) for test in tests))
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def render_rulebook(book: Rulebook) -> dict[str, str]:
    """``file name -> text`` for every generated file of ``specs/``."""
    pages = {"README.md": render_index(book), "instruments.md": render_instruments(book)}
    for area in AREAS:
        pages[f"{area.slug}.md"] = render_area(area, book)
    if any(area_of(rule.id) == OTHER_AREA for rule in book.rules):
        pages[f"{OTHER_AREA.slug}.md"] = render_area(OTHER_AREA, book)
    pages[STATUS_FILE] = render_status(book.fingerprint, book.outcomes)
    pages[TEST_INDEX_FILE] = render_test_index(book)
    return pages


GENERATED_PATTERNS = ("*.md", STATUS_FILE, TEST_INDEX_FILE)


def render_test_index(book: Rulebook) -> str:
    """Which tests name each id and execute each example file (so an installed copy, without tests/, can check)."""
    data = {
        "mentions": {key: list(value) for key, value in sorted(book.mentions.items())},
        "example_users": {key: list(value) for key, value in sorted(book.example_users.items())},
    }
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def stale_files(out_dir: Path, pages: Mapping[str, str]) -> list[str]:
    """Generated-looking files in ``out_dir`` that the current rulebook no longer produces."""
    present = {path.name for pattern in GENERATED_PATTERNS for path in out_dir.glob(pattern)}
    return sorted(present - set(pages))


def write_rulebook(out_dir: Path, pages: Mapping[str, str]) -> list[str]:
    """Write the pages (removing stale generated pages); the names of files that changed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    changed = []
    for name in stale_files(out_dir, pages):
        (out_dir / name).unlink()
        changed.append(name)
    for name, text in sorted(pages.items()):
        path = out_dir / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed.append(name)
    return sorted(changed)
