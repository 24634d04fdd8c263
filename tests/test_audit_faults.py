"""Planted faults: each entry of the catalogue is reported with the right id at the right event.

The catalogue (engine/audit/faults.py) breaks a clean tiny_crash log the way
real engines break; the audit must name the fault's id at the first
offending line, at the level the catalogue says — and not at a lower one
when the fault is invisible there (a commission off by one satoshi breaks
no global invariant).  The README's hit table is this test's output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from perpspec.engine.audit import INVARIANTS, RULES, audit_rows, load_mapping
from perpspec.engine.audit.faults import (
    CATALOGUE,
    decode_rows,
    encode_rows,
    format_hit_table,
    plant,
    run_catalogue,
)
from perpspec.engine.cli.main import main
from perpspec.engine.simulation.scenario import load_scenario
from perpspec.engine.simulation.simulate import run_scenario


@pytest.fixture(scope="session")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A clean log with trades, liquidations, insurance draws, ADL queues and a funding instant."""
    scenario = load_scenario("tiny_crash", [("start", "1583984700000")])  # 03:45: funding at 04:00, mid-crash
    result = run_scenario(scenario, tmp_path_factory.mktemp("faults"))
    rows = decode_rows(Path(result.event_log).read_text().splitlines())
    return rows, {scenario.instrument.symbol: scenario.instrument}


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_planted_fault_is_reported_with_its_id_at_its_event(clean: Any, name: str) -> None:
    rows, instruments = clean
    planted = plant(name, rows, instruments)
    expected = planted.expected
    levels = (INVARIANTS, RULES) if expected.level == INVARIANTS else (RULES,)
    for level in levels:
        result = audit_rows(enumerate(planted.rows, 1), load_mapping("perpspec"), instruments, level)
        assert result.error is None
        hits = [f for f in result.findings if f.id == expected.id]
        assert hits, f"{name} at {level}: {[f.one_line() for f in result.findings]}"
        assert hits[0].line == expected.line, hits[0].one_line()


@pytest.mark.parametrize(
    "name", ["commission-off-by-one", "liquidation-price-one-tick", "funding-sign-flipped", "funding-credit-as-residue"]
)
def test_rule_level_faults_name_the_rule_at_the_first_finding(clean: Any, name: str) -> None:
    rows, instruments = clean
    planted = plant(name, rows, instruments)
    result = audit_rows(enumerate(planted.rows, 1), load_mapping("perpspec"), instruments, RULES)
    ids_at_line = {f.id for f in result.findings if f.line == planted.expected.line}
    assert planted.expected.id in ids_at_line


def test_the_clean_log_itself_has_no_finding_at_either_level(clean: Any) -> None:
    rows, instruments = clean
    for level in (INVARIANTS, RULES):
        assert audit_rows(enumerate(rows, 1), load_mapping("perpspec"), instruments, level).clean


def test_every_fault_changes_the_log(clean: Any) -> None:
    rows, instruments = clean
    for name in CATALOGUE:
        assert list(plant(name, rows, instruments).rows) != rows, name


def test_the_readme_hit_table_is_what_the_audit_does(clean: Any) -> None:
    rows, instruments = clean
    readme = (Path(__file__).parent.parent / "engine" / "audit" / "README.md").read_text()
    table = readme.split("<!-- hit-table -->\n", 1)[1].split("\n<!-- /hit-table -->", 1)[0]
    assert table == format_hit_table(run_catalogue(rows, instruments))


def test_the_readme_sample_output_is_what_the_cli_prints(
    clean: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rows, instruments = clean
    (tmp_path / "faulty.jsonl").write_text(encode_rows(plant("commission-off-by-one", rows, instruments).rows))
    monkeypatch.chdir(tmp_path)
    assert main(["audit", "faulty.jsonl", "--rules", "--scenario", "tiny_crash", "--quiet"]) == 1
    readme = (Path(__file__).parent.parent / "engine" / "audit" / "README.md").read_text()
    sample = readme.split("<!-- sample -->\n```text\n", 1)[1].split("```\n<!-- /sample -->", 1)[0]
    assert capsys.readouterr().out == sample
