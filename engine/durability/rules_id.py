"""The rules digest a store records: which rules judged the commands of its journal.

The journal keeps commands, not their outcomes: replaying them under other rules
gives other outcomes (a FundingTick refused when it ran, carried out on replay;
review21_3).  So a journal's header and every snapshot record the digest of the
rules the engine ran when it wrote them, and recovery refuses to replay commands
under a different one (:mod:`engine.durability.recovery`).

The digest covers every ``rules/`` module (:func:`rules.digest.compute_rules_digest`
over the whole rulebook, not only the kernels' closure: funding, ADL and
settlement decide outcomes too) and the engine's executor, ``engine/core``
(which rule runs when: FND-020's waterfall before funding changed there).  It
is a conservative build identity: an edit to any of those files is a new
digest, and a store whose tail was written under another one is refused rather
than replayed under rules that may not be its own.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final

from perpspec.rules.digest import RULES_DIR, compute_rules_digest

ENGINE_CORE_DIR: Final = Path(__file__).resolve().parent.parent.joinpath("core")
_MEMO: dict[str, str] = {}


def compute_build_rules_digest(rules_dir: Path = RULES_DIR, core_dir: Path = ENGINE_CORE_DIR) -> str:
    """SHA-256 over the rulebook's digest and the source of ``engine/core`` (file names and bytes)."""
    rules = tuple(sorted(path.stem for path in rules_dir.glob("*.py")))
    digest = hashlib.sha256(b"perpspec rules digest v1\0rules\0")
    digest.update(compute_rules_digest(rules, rules_dir).encode() + b"\0engine/core\0")
    for path in sorted(core_dir.glob("*.py")):
        digest.update(f"engine/core/{path.name}".encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def build_rules_digest() -> str:
    """This build's rules digest (computed once per process)."""
    if "digest" not in _MEMO:
        _MEMO["digest"] = compute_build_rules_digest()
    return _MEMO["digest"]


def describe(digest: str | None) -> str:
    """A digest for a message, or ``unknown`` (a store written before digests were recorded)."""
    return "unknown" if digest is None else digest
