"""Running an audit: numbered rows (or a log file) through an :class:`~perpspec.engine.audit.auditor.Auditor`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from perpspec.engine.audit.auditor import Auditor
from perpspec.engine.audit.findings import INVARIANTS, AuditResult
from perpspec.engine.audit.mapping import AuditMapping
from perpspec.engine.audit.reader import read_log
from perpspec.engine.audit.schema import LogError
from perpspec.rules.instrument import Instrument

Progress = Callable[[int], None]
PROGRESS_EVERY = 100_000  # rows between progress calls
INTERNAL = "internal error of perpspec audit, please report it"


def audit_rows(
    rows: Iterable[tuple[int, Mapping[str, Any]]],
    mapping: AuditMapping,
    instruments: Mapping[str, Instrument],
    level: str = INVARIANTS,
    progress: Progress | None = None,
) -> AuditResult:
    """Audit numbered rows; a row that does not fit ends the audit with ``result.error`` set."""
    auditor = Auditor(instruments, mapping, level)
    try:
        for line, row in rows:
            auditor.feed(row, line)
            if progress is not None and auditor.result.rows % PROGRESS_EVERY == 0:
                progress(auditor.result.rows)
        if auditor.result.rows == 0:  # a CI job whose engine wrote nothing must not pass
            raise LogError(0, "", "the log has no rows (an empty log proves nothing)")
        return auditor.finish()
    except LogError as error:
        auditor.result.error = error
    except OSError as error:  # the log is read as it is audited: a file that vanishes or cannot be read
        auditor.result.error = LogError(auditor.line, "", f"cannot read the log ({error.strerror or error})")
    except Exception as error:  # a bug of the audit itself: still one line for CI, named as ours
        auditor.result.error = LogError(auditor.line, "", f"{INTERNAL} ({type(error).__name__}: {error})")
    return auditor.result


def audit_log(
    path: str | Path,
    mapping: AuditMapping,
    instruments: Mapping[str, Instrument],
    level: str = INVARIANTS,
    progress: Progress | None = None,
) -> AuditResult:
    """Audit the log at ``path`` (JSON Lines, or ``.parquet``), streaming it."""
    log = Path(path)
    try:
        rows = read_log(log, mapping.source_fields())
        return audit_rows(rows, mapping, instruments, level, progress)
    except OSError as error:
        result = AuditResult(level=level, mapping=mapping.name)
        result.error = LogError(0, "", f"cannot read {log} ({error.strerror or error})")
        return result
