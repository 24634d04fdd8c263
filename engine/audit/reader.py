"""Reading a log as a stream of (line, row): JSON Lines, or Parquet when pyarrow is installed.

Neither reader holds the log in memory: JSON Lines are read line by line,
Parquet in record batches.  A line that is not valid UTF-8 or not a JSON
object is a :class:`~perpspec.engine.audit.schema.LogError` naming it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from perpspec.engine.audit.schema import DecimalText, LogError, decode_line

MAX_LINE_BYTES = 1 << 20  # a row longer than 1 MiB is refused (no engine writes one)


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows of a JSON Lines file, numbered from 1; blank lines are skipped."""
    with path.open("rb") as handle:
        # readline with a bound: a file with no line ends (``/dev/zero``) is refused, never held whole
        for number, raw in enumerate(iter(lambda: handle.readline(MAX_LINE_BYTES + 1), b""), start=1):
            if len(raw) > MAX_LINE_BYTES:
                raise LogError(number, "", f"line longer than {MAX_LINE_BYTES} bytes")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise LogError(number, "", f"not UTF-8 ({error.reason} at byte {error.start})") from None
            if not text.strip():
                continue
            if not text.endswith("\n"):
                # the last line of a log cut off mid-write: read it, but a parse error says why
                try:
                    row = decode_line(text, number)
                except LogError as error:
                    raise LogError(number, "", f"truncated last line ({error.message})") from None
            else:
                row = decode_line(text, number)
            yield number, row


def read_parquet(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows of a Parquet file in record batches (needs the ``parquet`` extra: pyarrow)."""
    try:
        import pyarrow.parquet as parquet  # the parquet extra, loaded only for a .parquet log
    except ImportError:
        raise LogError(0, "", "reading Parquet needs pyarrow: pip install 'perpspec[parquet]'") from None
    try:
        table = parquet.ParquetFile(str(path))
    except Exception as error:  # pyarrow raises its own error types for a bad file
        raise LogError(0, "", f"not a readable Parquet file ({error})") from None
    number = 0
    for batch in table.iter_batches(batch_size=4096):
        for row in batch.to_pylist():
            number += 1
            yield number, {key: _exact(value) for key, value in row.items()}


def _exact(value: object) -> object:
    """A Parquet value as the JSON reader would give it (a float becomes its shortest exact text)."""
    if isinstance(value, float):
        return DecimalText(repr(value))
    if isinstance(value, list):
        return [_exact(item) for item in value]
    if isinstance(value, dict):
        return {key: _exact(item) for key, item in value.items()}
    return value


def read_log(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows of ``path``: Parquet by its ``.parquet`` suffix, JSON Lines otherwise."""
    if path.suffix == ".parquet":
        return read_parquet(path)
    return read_jsonl(path)
