"""The rulebook generator: the proof status — running the obligations, their dependency keys, the stored run.

See :mod:`proofs.rulebook` for what the generator does.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from perpspec.proofs.rulebook_rules import ANY_RULE_ID, INVARIANT_ID, ROOT, STATUS_FORMAT

# --------------------------------------------------------------------------- proof status


@attrs.frozen(kw_only=True)
class Outcome:
    """The recorded outcome of one proof obligation (no timing: deterministic)."""

    id: str
    statement: str
    rule_ids: tuple[str, ...]
    invariant_ids: tuple[str, ...]
    result: str  # proved | refuted | unknown | vacuous | waived | error
    bound: str  # "" (unbounded) or e.g. "k ≤ 8"
    known_bad: bool  # a deliberately broken variant: refuted is the expected result
    detail: str  # waiver reason, or why it failed
    key: str = ""  # hash of everything the obligation depends on (see obligation_key)

    @property
    def status(self) -> str:
        """Human status: proved (unbounded) / proved for k ≤ n / waived: reason / FAILS ..."""
        if self.known_bad:
            kind = "documented finding" if self.id.upper().startswith("FINDING") else "known-bad variant"
            return f"refuted, as expected ({kind})" if self.result == "refuted" else (
                f"NOT REFUTED ({self.result}) — the checker missed a planted bug"
            )
        if self.result == "proved":
            return f"proved for {self.bound}" if self.bound else "proved (unbounded)"
        if self.result == "waived":
            return f"waived: {self.detail}"
        return f"FAILS: {self.result}" + (f" ({self.detail})" if self.detail else "")

    @property
    def strength(self) -> int:
        """Ordering of statuses: higher is stronger (a rule's shown status: see ``Rulebook.status``)."""
        if self.known_bad:
            return 0
        if self.result == "proved":
            return 3 if not self.bound else 2
        if self.result == "waived":
            return 1
        return -1  # a failure dominates everything when shown


def source_fingerprint(root: Path = ROOT) -> str:
    """SHA-256 over everything any proof obligation depends on: :func:`obligation_key` of every module.

    ``rules/*.py``, ``proofs/**/*.py`` (``proofs/specialise/`` included: it registers the KRN obligations;
    a merge that added eight of them left the stored run looking current, without them), the instrument
    files, every file a module declares in ``DEPENDS_ON`` (the emitted kernels and their proof record)
    and the Z3 version: an instrument change that refutes an obligation must not reuse the stored run.
    """
    return obligation_key(root, "")


# The generator's own modules do not change what the obligations prove.
_GENERATOR_FILES = {
    "rulebook.py",
    "rulebook_rules.py",
    "rulebook_status.py",
    "rulebook_data.py",
    "rulebook_model.py",
    "rulebook_pages.py",
    "rulebook_index.py",
    "rulebook_diff.py",
    "params_check.py",
    "what_if.py",
    "coverage.py",
    "mutate.py",
}


def as_ids(value: object, pattern: re.Pattern[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(sorted(set(pattern.findall(value))))
    if isinstance(value, Iterable):
        return tuple(sorted({item for element in value for item in as_ids(element, pattern)}))
    return ()


def record_field(record: object, *names: str) -> object:
    for name in names:
        if isinstance(record, Mapping) and name in record:
            return record[name]
        if hasattr(record, name):
            return getattr(record, name)
    return None


def run_obligations(
    timeout_ms: int | None = None,
    previous: Sequence[Outcome] = (),
    root: Path = ROOT,
    jobs: int | None = None,
    cache_dir: Path | None = None,
) -> list[Outcome]:
    """Run every obligation of :mod:`proofs.registry` and record the outcomes (no timing).

    An outcome in ``previous`` is reused when its obligation's dependency key
    (:func:`obligation_key`) is unchanged: only obligations whose sources changed run,
    on ``jobs`` processes (None: every core), reusing ``perpspec prove``'s results from
    ``cache_dir`` (see :func:`proofs.parallel.run_all`; None: no cache).
    ``timeout_ms`` overrides every obligation's own solver timeout (None: their own).
    """
    from perpspec.proofs import registry
    from perpspec.proofs.parallel import run_all

    known = {outcome.id: outcome for outcome in previous if outcome.key}
    keys = _KeyCache(root)
    outcomes = []
    to_run: list[tuple[Any, str]] = []
    for obligation in registry.discover():
        key = keys.of(obligation)
        reused = known.get(obligation.id)
        if reused is not None and reused.key == key:
            outcomes.append(reused)
        elif getattr(obligation, "waived", None):
            outcomes.append(attrs.evolve(_recorded(obligation, None), key=key))
        else:
            to_run.append((obligation, key))
    ran = run_all([obligation for obligation, _ in to_run], timeout_ms, jobs, cache_dir) if to_run else []
    for (obligation, key), outcome in zip(to_run, ran, strict=True):
        outcomes.append(attrs.evolve(_recorded(obligation, outcome), key=key))
    return sorted(outcomes, key=lambda outcome: outcome.id)


class _KeyCache:
    """Dependency keys of obligations, computed once per set of defining modules."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.by_modules: dict[tuple[str, ...], str] = {}

    def of(self, obligation: Any) -> str:
        modules = run_modules(obligation.run)
        if not modules or any(_module_file(self.root, module) is None for module in modules):
            modules = ("",)  # unknown origin: depend on everything
        if modules not in self.by_modules:
            self.by_modules[modules] = obligation_key(self.root, modules)
        return self.by_modules[modules]


def run_modules(run: Any) -> tuple[str, ...]:
    """The modules an obligation's ``run`` comes from: its function's, and those of every
    function or class a ``functools.partial`` binds (a kernel or a known-bad variant passed in)."""
    found: list[str] = []
    target = run
    while isinstance(target, functools.partial):
        for argument in (*target.args, *target.keywords.values()):
            for item in argument if isinstance(argument, tuple | list) else (argument,):
                if callable(item):
                    found.append(str(getattr(item, "__module__", "") or ""))
        target = target.func
    found.insert(0, str(getattr(target, "__module__", "") or ""))
    return tuple(dict.fromkeys(found))


def _module_file(root: Path, dotted: str) -> Path | None:
    parts = dotted.removeprefix("perpspec.").split(".")
    if parts[0] not in ("rules", "proofs"):
        return None
    candidate = root.joinpath(*parts).with_suffix(".py")
    if candidate.exists():
        return candidate
    package = root.joinpath(*parts) / "__init__.py"
    return package if package.exists() else None


def import_closure(root: Path, module: str) -> list[Path]:
    """The files of ``rules/`` and ``proofs/`` that ``module`` imports, transitively (itself included)."""
    start = _module_file(root, module)
    seen: set[Path] = set()
    todo = [start] if start is not None else []
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imported_names(path.read_text(), str(path)):
            found = _module_file(root, name)
            if found is not None and found not in seen:
                todo.append(found)
    return sorted(seen)


@functools.lru_cache(maxsize=1024)
def _imported_names(text: str, filename: str) -> tuple[str, ...]:
    """The absolute imports of a module's source ``text`` (``a.b`` and ``a.b.name`` for ``from a.b import name``).

    A function of the text alone, so remembered by it: the row keys, the fingerprint and ``perpspec prove``'s
    cache keys walk the same files many times per process (a changed file is a new text, parsed again).
    """
    names: list[str] = []
    for node in ast.walk(ast.parse(text, filename)):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.extend([node.module] + [f"{node.module}.{alias.name}" for alias in node.names])
    return tuple(names)


def declared_files(root: Path, sources: Iterable[Path]) -> set[Path]:
    """The files outside the import closure that modules declare they read: their ``DEPENDS_ON`` globs.

    A module of ``proofs/`` that reads a file at run time (:mod:`proofs.obligations_specialised` reads the
    emitted kernels and ``specs/kernels.json``) lists it in a top-level ``DEPENDS_ON`` tuple of globs
    relative to the repository root; read from the source, so nothing is imported.
    """
    found: set[Path] = set()
    for path in sources:
        for pattern in _declared_patterns(path.read_text(), str(path)):
            found.update(root.glob(pattern))
    return found


@functools.lru_cache(maxsize=1024)
def _declared_patterns(text: str, filename: str) -> tuple[str, ...]:
    """The globs of a module source's top-level ``DEPENDS_ON`` assignments (a function of the text: remembered)."""
    patterns: list[str] = []
    for node in ast.parse(text, filename).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "DEPENDS_ON" for target in node.targets
        ):
            patterns.extend(ast.literal_eval(node.value))
    return tuple(patterns)


def dependency_files(root: Path, module: str | tuple[str, ...]) -> list[Path]:
    """Every file an obligation defined in ``module`` (or these modules) depends on; ``""`` is everything.

    The modules' import closure within ``rules/`` and ``proofs/``, the prover machinery, every
    instrument file, and the files those modules declare in ``DEPENDS_ON`` (:func:`declared_files`).
    The one list behind the rulebook's row keys, its fingerprint and ``perpspec prove``'s cache keys.
    """
    modules = (module,) if isinstance(module, str) else module
    files = {path for name in modules if name for path in import_closure(root, name)}
    if "" in modules or not modules:
        files.update((root / "rules").glob("*.py"))
        files.update(path for path in (root / "proofs").rglob("*.py") if path.name not in _GENERATOR_FILES)
    for name in ("registry", "prover", "sym"):
        files.update(import_closure(root, f"proofs.{name}"))
    files.update((root / "specs" / "instruments").glob("*.toml"))
    files.update(declared_files(root, [path for path in files if path.suffix == ".py"]))
    return sorted(files)


def obligation_key(root: Path, module: str | tuple[str, ...]) -> str:
    """SHA-256 over what an obligation defined in ``module`` (or these modules) depends on.

    The files of :func:`dependency_files` (names and contents) and the Z3 version; ``""`` is everything.
    """
    import z3

    digest = hashlib.sha256(z3.get_version_string().encode())
    for path in dependency_files(root, module):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _recorded(obligation: Any, ran: Any) -> Outcome:
    """The recorded outcome of ``obligation`` from its run (a :class:`proofs.registry.Outcome`; None when waived)."""
    text = f"{obligation.id} {obligation.rule_id} {obligation.statement}"
    rule_ids = as_ids(obligation.rule_id, ANY_RULE_ID) or as_ids(text, ANY_RULE_ID)
    # the property proved: a registry invariant (INV-*) or a rule-level property name (FND-CAPS)
    invariant_ids = (str(obligation.invariant_id),) if obligation.invariant_id else as_ids(text, INVARIANT_ID)
    bound = (obligation.bounded or "").replace("<=", "≤")
    known_bad = obligation.expect == "refuted"
    if ran is None:
        result, detail = "waived", str(getattr(obligation, "waived", ""))
    else:
        result = ran.status_text
        detail = ran.error if ran.result is None else ("" if ran.passed else ran.result.detail)
    return Outcome(
        id=obligation.id,
        statement=obligation.statement,
        rule_ids=rule_ids,
        invariant_ids=invariant_ids,
        result=result,
        bound=bound,
        known_bad=known_bad,
        detail=detail.split("\n")[0],
    )


def load_status(path: Path) -> tuple[str, list[Outcome]] | None:
    """The stored run (fingerprint, outcomes), or None when absent or of another format."""
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    if data.get("format") != STATUS_FORMAT:
        return None
    outcomes = [
        Outcome(
            id=row["id"],
            statement=row["statement"],
            rule_ids=tuple(row["rule_ids"]),
            invariant_ids=tuple(row["invariant_ids"]),
            result=row["result"],
            bound=row["bound"],
            known_bad=row["known_bad"],
            detail=row["detail"],
            key=row.get("key", ""),
        )
        for row in data["obligations"]
    ]
    return str(data["fingerprint"]), outcomes


def render_status(fingerprint: str, outcomes: Sequence[Outcome]) -> str:
    """The stored run as deterministic JSON."""
    rows = [
        {
            "id": outcome.id,
            "statement": outcome.statement,
            "rule_ids": list(outcome.rule_ids),
            "invariant_ids": list(outcome.invariant_ids),
            "result": outcome.result,
            "bound": outcome.bound,
            "known_bad": outcome.known_bad,
            "detail": outcome.detail,
            "key": outcome.key,
        }
        for outcome in outcomes
    ]
    data = {"format": STATUS_FORMAT, "fingerprint": fingerprint, "obligations": rows}
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def proof_outcomes(
    stored: Path, root: Path = ROOT, rerun: bool = False, allow_run: bool = True, timeout_ms: int | None = None
) -> tuple[str, list[Outcome], int]:
    """(fingerprint, outcomes, how many ran now) — reuse the stored run while the sources are the same.

    With ``allow_run=False`` the stored run is used even when stale (for a quick drift check:
    the pages then carry the current fingerprint, so a stale specs/ still shows as a difference).
    """
    fingerprint = source_fingerprint(root)
    previous = None if rerun else load_status(stored)
    if previous is not None and (previous[0] == fingerprint or not allow_run):
        return fingerprint, previous[1], 0
    if not allow_run:
        return fingerprint, [], 0
    stored_outcomes = [] if previous is None else previous[1]
    from perpspec.proofs.parallel import default_cache_dir

    outcomes = run_obligations(timeout_ms, stored_outcomes, root, cache_dir=default_cache_dir())
    reused = {id(outcome) for outcome in stored_outcomes}
    return fingerprint, outcomes, sum(1 for outcome in outcomes if id(outcome) not in reused)


