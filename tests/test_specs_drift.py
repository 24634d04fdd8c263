"""specs/ is generated (`perpspec spec`) and committed: regenerating it must change nothing.

The proof statuses on the pages come from an actual run of the obligations,
stored in specs/proof-status.json with a fingerprint of everything an obligation reads
(rules/, proofs/, the instrument files, the emitted kernels: proofs.rulebook_status.dependency_files).
When the sources changed since that run, specs/ is stale by definition.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import attrs
import pytest

from perpspec.proofs import rulebook, rulebook_diff

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


def test_proof_run_recorded_in_specs_is_of_the_current_sources() -> None:
    stored = rulebook.load_status(SPECS / rulebook.STATUS_FILE)
    assert stored is not None, "specs/proof-status.json is missing: run `perpspec spec`"
    assert stored[0] == rulebook.source_fingerprint(ROOT), (
        "rules/, proofs/, the instrument files or the kernels changed since specs/ was generated: "
        "run `perpspec spec` and commit specs/"
    )


@pytest.fixture(scope="module")
def book(stored_rulebook: rulebook.Rulebook) -> rulebook.Rulebook:
    """The rulebook from the repository, with the stored proof run (one build per session: tests/conftest.py)."""
    return stored_rulebook


def test_regenerating_specs_changes_nothing(book: rulebook.Rulebook) -> None:
    pages = rulebook.render_rulebook(book)
    differing = sorted(
        name for name, text in pages.items() if not (SPECS / name).exists() or (SPECS / name).read_text() != text
    )
    assert differing == [], "specs/ is out of date: run `perpspec spec` and commit specs/"
    assert rulebook.stale_files(SPECS, pages) == []


def test_every_rule_in_rules_appears_on_exactly_one_page(book: rulebook.Rulebook) -> None:
    pages = rulebook.render_rulebook(book)
    for rule in book.rules:
        anchors = [name for name, text in pages.items() if f'<a id="{rule.id.lower()}"></a>' in text]
        assert anchors == [f"{rulebook.area_of(rule.id).slug}.md"], rule.id


def test_every_registered_invariant_is_listed_on_the_index_with_a_status(book: rulebook.Rulebook) -> None:
    index = rulebook.render_rulebook(book)["README.md"]
    from perpspec.rules.invariants import REGISTRY

    missing = [inv for inv in REGISTRY if f"### {inv}\n" not in index]
    assert missing == []


def test_rule_discovery_reads_the_id_from_the_docstring(tmp_path: Path) -> None:
    source = 'def compute_x(a: int) -> int:\n    """MRG-999: doubles.\n\n    More.\n    """\n    return 2 * a\n'
    assert rulebook.extract_rules_from_source("rules/x.py", source) == [("MRG-999", "compute_x", source.rstrip("\n"))]


def test_diff_reports_a_changed_rule_and_a_changed_parameter() -> None:
    old_rule = 'def f(a: int) -> int:\n    """LIQ-900: one."""\n    return a\n'
    new_rule = 'def f(a: int) -> int:\n    """LIQ-900: one."""\n    return a + 1\n'
    old = {"rules/x.py": old_rule, "specs/instruments/X.toml": 'maintMargin = "0.005"\n', "specs/RULEBOOK_VERSION": "1\n"}
    new = {"rules/x.py": new_rule, "specs/instruments/X.toml": 'maintMargin = "0.006"\n', "specs/RULEBOOK_VERSION": "2\n"}
    text = rulebook_diff.render_diff("v1", old, new)
    assert "Rulebook version 1 → 2" in text
    assert "| LIQ-900 | changed | rules/x.py:f |" in text
    assert "+    return a + 1" in text
    assert "| X | `maintMargin` | 0.005 | 0.006 |" in text


def test_parameter_values_are_shown_with_their_human_reading() -> None:
    from perpspec.rules.instrument_file import load_instrument

    inst = load_instrument("XBTUSD")
    assert rulebook.format_value("maint_margin_ppm", inst.maint_margin_ppm, inst) == "5_000 ppm (= 0.50%)"
    assert rulebook.format_value("risk_limit", inst.risk_limit, inst) == "20_000_000_000 XBt (= 200 XBT)"
    assert rulebook.format_value("tick_size", inst.tick_size, inst) == "50 (= 0.5 USD)"
    assert rulebook.format_value("funding_interval_ms", inst.funding_interval_ms, inst) == "28_800_000 ms (= 8h)"


def test_diff_against_an_unknown_git_ref_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    from perpspec.engine.cli.main import main

    assert main(["spec", "--diff", "no-such-ref-anywhere"]) == 2
    assert "not a git revision" in capsys.readouterr().err


def test_diff_against_the_first_commit_lists_rules_added_since(capsys: pytest.CaptureFixture[str]) -> None:
    import subprocess

    from perpspec.engine.cli.main import main

    first = subprocess.run(
        ["git", "-C", str(ROOT), "rev-list", "--max-parents=0", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.split()
    if not first:
        pytest.skip("not a git checkout")
    assert main(["spec", "--diff", first[-1]]) == 0
    text = capsys.readouterr().out
    assert "| MRG-011 | added | rules/margin.py:compute_liquidation_price |" in text


def outcome(result: str, bound: str = "", known_bad: bool = False, detail: str = "") -> rulebook.Outcome:
    return rulebook.Outcome(
        id="MRG-900/x",
        statement="",
        rule_ids=("MRG-900",),
        invariant_ids=("INV-X",),
        result=result,
        bound=bound,
        known_bad=known_bad,
        detail=detail,
    )


@pytest.mark.parametrize(
    ("recorded", "expected"),
    [
        (outcome("proved"), "proved (unbounded)"),
        (outcome("proved", bound="k ≤ 8 candidates"), "proved for k ≤ 8 candidates"),
        (outcome("waived", detail="nonlinear"), "waived: nonlinear"),
        (outcome("unknown", detail="timeout"), "FAILS: unknown (timeout)"),
        (outcome("refuted", known_bad=True), "refuted, as expected (known-bad variant)"),
        (outcome("proved", known_bad=True), "NOT REFUTED (proved) — the checker missed a planted bug"),
    ],
)
def test_recorded_outcome_reads_as_its_status(recorded: rulebook.Outcome, expected: str) -> None:
    assert recorded.status == expected


def test_a_failing_obligation_dominates_a_rules_status(book: rulebook.Rulebook) -> None:
    failing = attrs.evolve(book, outcomes=(outcome("proved"), outcome("vacuous")))
    assert failing.status("MRG-900") == "FAILS (MRG-900/x)"


def _case(id: str, bound: str = "", rule: str = "MRG-900") -> rulebook.Outcome:
    return attrs.evolve(outcome("proved", bound=bound), id=id, rule_ids=(rule,))


def test_one_case_proved_only_with_a_bound_holds_the_rule_to_it(book: rulebook.Rulebook) -> None:
    """review19_3: FND-020's XBTUSD short is proved only for mark ≥ 2; the other cases' unbounded proofs do not hide it."""
    others = tuple(_case(f"MRG-900/{symbol}/{side}") for symbol in ("ETHUSD", "XBTUSDT") for side in ("long", "short"))
    cases = (*others, _case("MRG-900/XBTUSD/long"), _case("MRG-900/XBTUSD/short", bound="mark ≥ 2 price units"))
    shown = attrs.evolve(book, outcomes=cases)
    assert shown.status("MRG-900") == "proved for mark ≥ 2 price units"
    assert shown.status("INV-X") == "proved (unbounded)"  # an invariant: its strongest proof


def test_a_rule_proved_on_some_perpetuals_names_the_others(book: rulebook.Rulebook) -> None:
    """redteam26_1: LIQ-005's obligations are posed for ETHUSD and XBTUSDT only; its status said proved (unbounded)."""
    linear = tuple(_case(f"MRG-900/{symbol}/long") for symbol in ("ETHUSD", "XBTUSDT"))
    shown = attrs.evolve(book, outcomes=linear)
    assert shown.status("MRG-900") == "proved for ETHUSD, XBTUSDT only (XBTUSD: not proved)"
    assert shown.coverage_class("MRG-900") == "proved for k ≤ n"
    bounded = (*linear, _case("MRG-900/ETHUSD/short", bound="mark ≥ 2 price units"))
    shown = attrs.evolve(book, outcomes=bounded)
    assert shown.status("MRG-900") == "proved for mark ≥ 2 price units; ETHUSD, XBTUSDT only (XBTUSD: not proved)"
    anywhere = attrs.evolve(book, outcomes=(*linear, _case("MRG-900/any-instrument")))  # one proof for any contract
    assert anywhere.status("MRG-900") == "proved (unbounded)"
    every = attrs.evolve(book, outcomes=(*linear, _case("MRG-900/XBTUSD/long")))
    assert every.status("MRG-900") == "proved (unbounded)"  # XBTZ26, the dated future, is not required


def test_a_reviewed_decomposition_covers_bounded_base_cases_only_while_its_proofs_are_unbounded(
    book: rulebook.Rulebook,
) -> None:
    base = tuple(_case(f"ADL-010/ranked-queue/within-bounds/k={k}", f"k = {k} candidates", "ADL-010") for k in (1, 2))
    step = _case("ADL-010/ranked-queue/inductive-step", rule="ADL-010")
    assert attrs.evolve(book, outcomes=(*base, step)).status("ADL-010") == "proved (unbounded)"
    assert attrs.evolve(book, outcomes=base).status("ADL-010") == "proved for k ≤ 2 candidates"
    bounded_step = attrs.evolve(step, bound="k = 3 candidates")
    assert attrs.evolve(book, outcomes=(*base, bounded_step)).status("ADL-010") == "proved for k ≤ 2 candidates"


def test_every_decomposition_names_recorded_obligations(book: rulebook.Rulebook) -> None:
    """A decomposition covers bounded obligations that exist, by unbounded obligations that exist."""
    from perpspec.proofs.rulebook_model import DECOMPOSITIONS

    recorded = {o.id: o for o in book.outcomes if not o.known_bad}
    for entry in DECOMPOSITIONS:
        covered = [o for name, o in recorded.items() if fnmatch.fnmatchcase(name, entry.covered)]
        assert covered, entry.covered
        assert all(o.bound for o in covered), entry.covered
        assert all(name in recorded and not recorded[name].bound for name in entry.covering), entry.covering


def test_an_id_only_tests_mention_is_tested_only(book: rulebook.Rulebook) -> None:
    tested = attrs.evolve(book, outcomes=(), mentions={"MRG-900": ("tests/test_x.py",)}, test_functions={}, waivers={})
    assert (tested.status("MRG-900"), tested.status("MRG-901")) == ("tested only", "not checked")


def test_import_closure_follows_rules_imports_and_nothing_else() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in rulebook.import_closure(ROOT, "rules.position")}
    assert {"rules/position.py", "rules/contract.py", "rules/num.py"} <= names
    assert [name for name in names if not name.startswith("rules/")] == []


def _never_run() -> None:
    raise AssertionError("an unchanged obligation was run again")


def test_unchanged_obligation_is_reused_and_a_changed_one_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    from perpspec.proofs import registry

    obligation = registry.Obligation(
        id="X/1", rule_id="MRG-900", invariant_id="INV-X", statement="s", run=_never_run  # type: ignore[arg-type]
    )
    monkeypatch.setattr(registry, "discover", lambda: [obligation])
    key = rulebook.obligation_key(ROOT, "")  # defined outside rules/ and proofs/: depends on everything
    stored = outcome("proved")
    current = rulebook.run_obligations(previous=[attrs.evolve(stored, id="X/1", key=key)])
    stale = rulebook.run_obligations(previous=[attrs.evolve(stored, id="X/1", key="old")])
    assert [(o.result, o.key) for o in current] == [("proved", key)]
    assert [(o.result, o.key) for o in stale] == [("error", key)]
