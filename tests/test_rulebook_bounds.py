"""A bounded rule's status states, per invariant, its weakest case's bound (redteam23_2).

ADL-020's status printed the union of its obligations' bounds ("k = 1 candidates, ..., k = 8 candidates") though
INV-CONSERVATION of an ADL step is proved up to k = 8 on XBTUSD only, up to k = 2 on ETHUSD and XBTUSDT.  A rule's
status now gives, per invariant held to a bound, the smallest over its cases of the largest size proved there.
"""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest

from perpspec.proofs import rulebook

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def book(stored_rulebook: rulebook.Rulebook) -> rulebook.Rulebook:
    """The rulebook from the repository, with the stored proof run (one build per session: tests/conftest.py)."""
    return stored_rulebook


def _case(id: str, inv: str, bound: str = "") -> rulebook.Outcome:
    return rulebook.Outcome(id=id, statement="", rule_ids=("ADL-020",), invariant_ids=(inv,), result="proved",
                            bound=bound, known_bad=False, detail="")


def test_a_rules_bound_per_invariant_is_its_weakest_cases_largest_proved_size(book: rulebook.Rulebook) -> None:
    """redteam23_2: ADL-020 showed the union of its bounds ("k = 1 ... k = 8 candidates") though INV-CONSERVATION
    is proved up to k = 8 on XBTUSD only, up to k = 2 on ETHUSD and XBTUSDT."""

    def case(name: str, inv: str, k: int | None) -> rulebook.Outcome:
        bound = "" if k is None else f"k = {k} candidates"
        return _case(f"ADL-020/{name}" + ("" if k is None else f"/k={k}"), inv, bound)

    outcomes = (
        *(case("conservation/XBTUSD", "INV-CONSERVATION", k) for k in range(1, 9)),
        *(case(f"conservation/{s}", "INV-CONSERVATION", k) for s in ("ETHUSD", "XBTUSDT") for k in (1, 2)),
        *(case(f"minimal/{s}", "INV-ADL-MINIMAL", k) for s in ("ETHUSD", "XBTUSD") for k in (1, 8)),
        case("no-negative-equity/XBTUSD/engine-long", "INV-NO-NEG-EQUITY-AFTER-ADL", None),
    )
    status = attrs.evolve(book, outcomes=outcomes).status("ADL-020")
    assert status == (
        "proved for k ≤ 2 candidates (INV-CONSERVATION); k ≤ 8 candidates (INV-ADL-MINIMAL);"
        " unbounded: INV-NO-NEG-EQUITY-AFTER-ADL"
    )
    assert "k = 8" not in status
    xbtusd_only = tuple(o for o in outcomes if "/ETHUSD/" not in o.id and "/XBTUSDT/" not in o.id)
    assert attrs.evolve(book, outcomes=xbtusd_only).status("ADL-020").startswith("proved for k ≤ 8 candidates (")


def test_every_bounded_status_of_the_rulebook_states_no_size_above_its_weakest_case(book: rulebook.Rulebook) -> None:
    """The recorded proofs: for each rule and invariant, the stated size is the smallest over its cases of the
    largest size proved there (what tests/../redteam23_2.py checks from outside)."""
    for rule_id in sorted({r for o in book.outcomes for r in o.rule_ids}):
        status = book.status(rule_id)
        if not status.startswith("proved for"):
            continue
        cases: dict[tuple[str, str], int] = {}
        for o in book.outcomes:
            size = re.fullmatch(r"[a-z] = (\d+) .+", o.bound)
            if rule_id in o.rule_ids and not o.known_bad and o.result == "proved" and size:
                for inv in o.invariant_ids:
                    key = (inv, re.sub(r"/[a-z]=\d+$", "", o.id))
                    cases[key] = max(cases.get(key, 0), int(size.group(1)))
        for inv in {inv for inv, _ in cases}:
            weakest = min(k for (i, _), k in cases.items() if i == inv)
            for group in status.removeprefix("proved for ").split("; "):
                if inv in group or "(" not in group:
                    stated = [int(n) for n in re.findall(r"[a-z] ≤ (\d+)", group)]
                    assert not stated or max(stated) <= weakest, (rule_id, inv, status)
