"""The rulebook generator: ``specs/*.md`` from the code, the instrument files and a proof run.

Everything on the generated pages is read from the repository, never typed in:

* **rules** — every function in ``rules/*.py`` (or method of a class there) whose
  docstring starts with a rule id (``MRG-001: ...``), shown with its docstring
  and its exact source (:func:`inspect.getsource`);
* **invariants** — :data:`rules.invariants.REGISTRY`;
* **proof status** — the outcome of actually running every obligation of the
  proof registry (:mod:`proofs.registry`), stored in ``specs/proof-status.json``
  with a fingerprint of everything any obligation reads and, per obligation, a
  key hashing what it depends on (the import closure of its module, the prover,
  the instrument files, the files its module declares in ``DEPENDS_ON``, the Z3
  version: ``dependency_files``, the list ``perpspec prove``'s cache is keyed
  by too).  While the fingerprint is unchanged the
  stored run is the run; otherwise only obligations whose key changed run again.
  No timing is stored, so regeneration is deterministic;
* **tested, waived** — a rule no obligation proves, exercised by test functions
  that name its id, with a reviewed waiver in ``specs/waivers.toml`` saying why
  no proof is given (:mod:`proofs.coverage`); **tested only** — tests but no
  waiver, a coverage gap like **not checked**;
* **parameters** — every shipped instrument file, with the unit and meaning
  taken from the comments of :class:`rules.instrument.Instrument` and the bounds
  taken from the checks of :func:`rules.instrument_file.validate`;
* **worked examples** — the data files ``specs/examples/<area>.toml``.

The generator lives in ``proofs/rulebook_*.py`` (rules and areas, proof status, data, the
model, pages, index); this module re-exports their public names.

The generator is a pure function from the repository to a mapping
``file name -> text`` (:func:`render_rulebook`); :func:`write_rulebook` writes it.
"""

from __future__ import annotations

from perpspec.proofs.rulebook_data import (
    CURRENCY_UNITS,
    Example,
    FieldInfo,
    code,
    example_users,
    field_infos,
    find_test_mentions,
    format_duration,
    format_money,
    format_price,
    format_value,
    load_examples,
    load_instruments,
    read_test_index,
    table,
)
from perpspec.proofs.rulebook_index import (
    GENERATED_PATTERNS,
    render_index,
    render_rulebook,
    render_test_index,
    stale_files,
    write_rulebook,
)
from perpspec.proofs.rulebook_model import (
    Rulebook,
    build_rulebook,
    dangling_references,
    engine_applications,
    engine_module_docs,
    invariant_rule_calls,
    read_version,
)
from perpspec.proofs.rulebook_pages import (
    render_area,
    render_instruments,
    render_rule,
)
from perpspec.proofs.rulebook_rules import (
    ANY_RULE_ID,
    AREAS,
    INVARIANT_ID,
    OTHER_AREA,
    ROOT,
    RULE_ID,
    STATUS_FILE,
    STATUS_FORMAT,
    TEST_INDEX_FILE,
    VERSION_FILE,
    Area,
    LabelUse,
    Rule,
    RulebookError,
    area_of,
    discover_labels,
    discover_rules,
    extract_rules_from_source,
    find_label_uses,
    rule_modules,
)
from perpspec.proofs.rulebook_status import (
    Outcome,
    import_closure,
    load_status,
    obligation_key,
    proof_outcomes,
    render_status,
    run_modules,
    run_obligations,
    source_fingerprint,
)

__all__ = [
    "ANY_RULE_ID",
    "AREAS",
    "CURRENCY_UNITS",
    "GENERATED_PATTERNS",
    "INVARIANT_ID",
    "OTHER_AREA",
    "ROOT",
    "RULE_ID",
    "STATUS_FILE",
    "STATUS_FORMAT",
    "TEST_INDEX_FILE",
    "VERSION_FILE",
    "Area",
    "Example",
    "FieldInfo",
    "LabelUse",
    "Outcome",
    "Rule",
    "Rulebook",
    "RulebookError",
    "area_of",
    "build_rulebook",
    "code",
    "dangling_references",
    "discover_labels",
    "discover_rules",
    "engine_applications",
    "engine_module_docs",
    "example_users",
    "extract_rules_from_source",
    "field_infos",
    "find_label_uses",
    "find_test_mentions",
    "format_duration",
    "format_money",
    "format_price",
    "format_value",
    "import_closure",
    "invariant_rule_calls",
    "load_examples",
    "load_instruments",
    "load_status",
    "obligation_key",
    "proof_outcomes",
    "read_test_index",
    "read_version",
    "render_area",
    "render_index",
    "render_instruments",
    "render_rule",
    "render_rulebook",
    "render_status",
    "render_test_index",
    "rule_modules",
    "run_modules",
    "run_obligations",
    "source_fingerprint",
    "stale_files",
    "table",
    "write_rulebook",
]
