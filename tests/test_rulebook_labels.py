"""Every rule id the code writes into an event log has a rulebook entry, and ``perpspec spec`` fails otherwise.

redteam23_1: INS-011, LIQ-020, LIQ-021, LIQ-022, LIQ-024 and ADL-021 are written into every event log (and linked by
``perpspec explain``, the simulation report and specs/README.md) but are labels of steps inside other rules'
functions, so the rulebook, which collected rule *functions*, had no page for them: specs/README.md linked
``insurance.md#ins-011``, which did not exist.  Each now has an entry (what it states, where rules/ and the engine
write it, its obligations, tests and status), and the generator refuses a rule id or a link without one.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from perpspec.proofs import rulebook

ROOT = Path(__file__).resolve().parent.parent
LABELS = ("ADL-021", "INS-011", "LIQ-020", "LIQ-021", "LIQ-022", "LIQ-024")


@pytest.fixture(scope="module")
def book(stored_rulebook: rulebook.Rulebook) -> rulebook.Rulebook:
    """The rulebook from the repository, with the stored proof run (one build per session: tests/conftest.py)."""
    return stored_rulebook


@pytest.fixture(scope="module")
def pages(book: rulebook.Rulebook) -> dict[str, str]:
    return rulebook.render_rulebook(book)


def test_each_label_has_an_entry_stating_it_where_it_is_written_and_its_status(
    book: rulebook.Rulebook, pages: dict[str, str]
) -> None:
    labels = {rule.id: rule for rule in book.rules if rule.uses}
    assert set(labels) == set(LABELS)
    for rule_id, rule in labels.items():
        assert rule.summary, rule_id
        assert rule.source, rule_id
        assert all(use.path.startswith("rules/") for use in rule.uses)
        assert book.coverage_class(rule_id) in ("proved (unbounded)", "tested, waived"), (rule_id, book.status(rule_id))
        page = pages[f"{rulebook.area_of(rule_id).slug}.md"]
        entry = page[page.index(f'<a id="{rule_id.lower()}"></a>'):]
        entry = entry[: entry.index("\n<a id=", 1)] if "\n<a id=" in entry[1:] else entry
        assert f"### {rule_id} — {rule.summary}" in entry
        assert "Written into the event log by" in entry
        assert "**status:" in entry
        assert "```python" in entry
    assert book.status("INS-011") == "proved (unbounded)"  # INS-011/residual-posting
    assert "engine/core/waterfall.py:Waterfall._cancel_pool_orders" in book.applied_by["LIQ-020"]
    assert "[LIQ-023](liquidation.md#liq-023)" in pages["insurance.md"]  # INS-011 is posted inside LIQ-023's take-over


def test_every_rule_id_the_code_writes_has_an_entry(book: rulebook.Rulebook) -> None:
    written = {use.rule_id for use in book.label_uses}
    assert set(LABELS) <= written
    assert written <= {rule.id for rule in book.rules}
    assert rulebook.dangling_references(book, rulebook.render_rulebook(book)) == []


def test_a_book_without_the_label_entries_is_refused_naming_ids_and_dead_links(book: rulebook.Rulebook) -> None:
    functions_only = attrs.evolve(book, rules=tuple(rule for rule in book.rules if not rule.uses))
    problems = rulebook.dangling_references(functions_only, rulebook.render_rulebook(functions_only))
    text = "\n".join(problems)
    for rule_id in LABELS:
        assert f"writes {rule_id}, which has no rulebook entry" in text
    assert "obligation INS-011/residual-posting is recorded for INS-011, which has no rulebook entry" in text
    assert "README.md links insurance.md#ins-011, which has no such anchor" in text


def test_an_obligation_for_an_unknown_rule_id_is_refused(book: rulebook.Rulebook) -> None:
    stray = attrs.evolve(book.outcomes[0], id="XYZ-999/made-up", rule_ids=("XYZ-999",))
    problems = rulebook.dangling_references(attrs.evolve(book, outcomes=(*book.outcomes, stray)), {})
    assert problems == ["obligation XYZ-999/made-up is recorded for XYZ-999, which has no rulebook entry"]


def test_perpspec_spec_check_fails_while_a_written_rule_id_has_no_entry(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], book: rulebook.Rulebook
) -> None:
    from perpspec.engine.cli.main import main
    from perpspec.proofs import coverage, rulebook_model

    monkeypatch.setattr(rulebook_model, "discover_labels", lambda found, uses: [])
    # The build's three slowest parts, each a function of the repository alone, answered from the session's build
    # of the same repository (tests/conftest.py): the parameter checks' proofs, the test scan and the label scan
    # (its uses still reach discover_labels, which finds no label).  Everything else is built as `spec --check` does.
    monkeypatch.setattr(rulebook_model, "_committee", lambda instruments: book.committee)
    monkeypatch.setattr(coverage, "find_test_functions", lambda root, names: book.test_functions)
    monkeypatch.setattr(rulebook_model, "find_label_uses", lambda root: list(book.label_uses))
    assert main(["spec", "--check"]) == 1
    err = capsys.readouterr().err
    assert "rule ids or links have no rulebook entry or anchor" in err
    assert "writes INS-011, which has no rulebook entry" in err


def test_a_function_building_a_rules_input_is_not_listed_as_applying_it(book: rulebook.Rulebook) -> None:
    """redteam23 (noticed): RSK-007 (``check_risk_limit``) was "applied by the engine in Risk.gross_value", which
    only computes the gross value the check is given."""
    assert "engine/core/risk.py:Risk.gross_value" not in book.applied_by.get("RSK-007", ())
