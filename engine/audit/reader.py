"""Reading a log as a stream of (line, row): JSON Lines, or Parquet when pyarrow is installed.

Neither reader holds the log in memory: JSON Lines are read line by line,
Parquet in record batches.  A line that is not valid UTF-8 or not a JSON
object is a :class:`~perpspec.engine.audit.schema.LogError` naming it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
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


MAX_BATCH_ROWS = 4096
# a column chunk may be one page, decoded whole: one larger than MAX_CHUNK_BYTES must be at most MAX_RATIO times
# its bytes on disk, so what the reader decodes stays linear in the file (a 20 KB chunk held 400 MB: redteam18_7)
MAX_CHUNK_BYTES = 64 << 20
MAX_RATIO = 100
MAX_BATCH_BYTES = 32 << 20  # about what one decoded record batch (and its rows as Python objects) may take
_DICTIONARY_ENCODINGS = frozenset({"PLAIN_DICTIONARY", "RLE_DICTIONARY"})


def read_parquet(path: Path, columns: Collection[str] | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows of a Parquet file in record batches (needs the ``parquet`` extra: pyarrow).

    ``columns``: the fields the audit's mapping can use; the file's other top-level columns are never decoded (nor
    judged) (review19_5: an extra column took a gigabyte).  None: every column.

    Memory is bounded whatever the compression ratio (redteam18_7: a 20 KB file decoded to 1.3 GB):

    * before any page is decoded, each row group's column chunks are read from the footer: a chunk larger than
      :data:`MAX_CHUNK_BYTES` decoded that is more than :data:`MAX_RATIO` times its bytes on disk (a page may be
      the whole chunk, decoded at once) and rows averaging more than :data:`MAX_LINE_BYTES` (no JSON Lines row may
      be longer) are refused, and the batch size is chosen so
      a batch decodes to about :data:`MAX_BATCH_BYTES` (a ``DELTA_BYTE_ARRAY`` chunk, whose values share
      prefixes, counts whole for every row);
    * dictionary-encoded string columns, nested ones too, are read as dictionaries (a value repeated a million
      times is decoded once; review19_5: a list<string> column decoded plainly took a gigabyte);
    * a row whose text and byte values total more than :data:`MAX_LINE_BYTES` (inside lists and structs too) is
      refused before it becomes Python
      objects, and a batch becomes Python objects a slice of about :data:`MAX_BATCH_BYTES` at a time;
    * anything pyarrow raises on a damaged file is a :class:`LogError` naming the row it had reached.
    """
    try:
        import pyarrow.parquet as parquet  # the parquet extra, loaded only for a .parquet log
    except ImportError:
        raise LogError(0, "", "reading Parquet needs pyarrow: pip install 'perpspec[parquet]'") from None
    try:
        metadata = parquet.read_metadata(str(path))
        names = list(metadata.schema.to_arrow_schema().names)
        read = [name for name in names if columns is None or name in columns]
        dictionary = _dictionary_columns(metadata, set(read))
        table = parquet.ParquetFile(str(path), read_dictionary=sorted(dictionary))
        plan = [_batch_rows(metadata.row_group(index), index, dictionary, set(read))
                for index in range(metadata.num_row_groups)]
    except LogError:
        raise
    except Exception as error:  # pyarrow raises its own error types for a bad file
        raise LogError(0, "", f"not a readable Parquet file ({_short(error)})") from None
    number = 0
    for index, batch_rows in enumerate(plan):
        if batch_rows == 0:
            continue
        batches = table.iter_batches(batch_size=batch_rows, row_groups=[index], columns=read)
        while True:
            try:
                batch = next(batches, None)
                if batch is None:
                    break
                sizes = _row_sizes(batch)
            except Exception as error:  # a damaged page, a wrong type: the file's fault, not the audit's
                raise LogError(number + 1, "", f"unreadable Parquet data ({_short(error)})") from None
            start = 0
            while start < batch.num_rows:
                stop, total = start, 0
                while stop < batch.num_rows and (stop == start or total + sizes[stop] <= MAX_BATCH_BYTES):
                    if sizes[stop] > MAX_LINE_BYTES:
                        raise LogError(number + stop - start + 1, "",
                                       f"row longer than {MAX_LINE_BYTES} bytes ({sizes[stop]:,} bytes of values)")
                    total += sizes[stop]
                    stop += 1
                for row in batch.slice(start, stop - start).to_pylist():
                    number += 1
                    yield number, {key: _exact(value) for key, value in row.items()}
                start = stop


def _top(path_in_schema: str, read: set[str]) -> bool:
    """Whether a column chunk (``a`` or nested ``a.list.element``) belongs to a top-level column that is read."""
    return path_in_schema in read or path_in_schema.split(".", 1)[0] in read


def _dictionary_columns(metadata: Any, read: set[str]) -> set[str]:
    """Columns (nested ones by their path) to read as dictionaries: dictionary-encoded in some row group, never
    ``DELTA_BYTE_ARRAY`` (pyarrow cannot decode that into a dictionary)."""
    encoded: set[str] = set()
    delta: set[str] = set()
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        for column in range(row_group.num_columns):
            chunk = row_group.column(column)
            name = chunk.path_in_schema
            if not _top(name, read):
                continue  # a column the audit does not read
            encodings = set(chunk.encodings)
            if "DELTA_BYTE_ARRAY" in encodings:
                delta.add(name)
            elif encodings & _DICTIONARY_ENCODINGS and chunk.physical_type in ("BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY"):
                encoded.add(name)
    return encoded - delta


def _batch_rows(row_group: Any, index: int, dictionary: set[str], read: set[str]) -> int:
    """Rows per batch for one row group, from its footer (nothing decoded): 0 for an empty group."""
    rows = row_group.num_rows
    if rows <= 0:
        return 0
    total = per_row = 0
    for column in range(row_group.num_columns):
        chunk = row_group.column(column)
        if not _top(chunk.path_in_schema, read):
            continue  # never decoded
        size = max(int(chunk.total_uncompressed_size), 0)
        if size > MAX_CHUNK_BYTES and size > MAX_RATIO * max(int(chunk.total_compressed_size), 1):
            raise LogError(0, chunk.path_in_schema, f"row group {index}: {size:,} bytes decoded from "
                           f"{chunk.total_compressed_size:,} on disk, refused (more than {MAX_CHUNK_BYTES:,} bytes "
                           f"at a ratio over {MAX_RATIO}: a decompression bomb, or rewrite it with smaller row groups)")
        total += size
        encodings = set(chunk.encodings)
        amplifies = "DELTA_BYTE_ARRAY" in encodings or (
            encodings & _DICTIONARY_ENCODINGS and chunk.path_in_schema not in dictionary
        )
        per_row += size if amplifies else -(-size // rows)  # a value there may be as long as the whole chunk
    if total > rows * MAX_LINE_BYTES:
        raise LogError(0, "", f"row group {index}: its {rows:,} rows hold {total:,} bytes, more than "
                              f"{MAX_LINE_BYTES} bytes a row (no log row is longer)")
    return max(1, min(MAX_BATCH_ROWS, MAX_BATCH_BYTES // max(per_row, 1)))


def _row_sizes(batch: Any) -> list[int]:
    """Bytes of each row's values: text and bytes by their length, inside lists and structs too, anything else 8
    bytes a value."""
    sizes = [0] * batch.num_rows
    for column in batch.columns:
        sizes = [size + more for size, more in zip(sizes, _value_sizes(column), strict=True)]
    return sizes


def _value_sizes(column: Any) -> list[int]:
    """Bytes of each value of an Arrow array (see :func:`_row_sizes`); a nested type other than a list or a struct
    is refused (no log row holds one)."""
    import pyarrow as arrow
    import pyarrow.compute as compute

    kind = column.type
    if arrow.types.is_dictionary(kind):
        if _is_bytes(column.dictionary.type):
            lengths = compute.take(compute.fill_null(compute.binary_length(column.dictionary), 0), column.indices)
            return [length or 0 for length in lengths.to_pylist()]
        return [8] * len(column)
    if _is_bytes(kind):
        return [int(length) for length in compute.fill_null(compute.binary_length(column), 0).to_pylist()]
    if arrow.types.is_list(kind) or arrow.types.is_large_list(kind):
        sizes = [8] * len(column)
        inner = _value_sizes(column.flatten())
        for parent, size in zip(compute.list_parent_indices(column).to_pylist(), inner, strict=True):
            sizes[parent] += size
        return sizes
    if arrow.types.is_struct(kind):
        sizes = [0] * len(column)
        for field in column.flatten():
            sizes = [size + more for size, more in zip(sizes, _value_sizes(field), strict=True)]
        return sizes
    if arrow.types.is_nested(kind):
        raise LogError(0, "", f"a column of type {kind} is not read (a log's values are text, numbers, lists and "
                              "structs)")
    return [8] * len(column)


def _is_bytes(kind: Any) -> bool:
    import pyarrow as arrow

    return bool(arrow.types.is_string(kind) or arrow.types.is_large_string(kind) or arrow.types.is_binary(kind)
                or arrow.types.is_large_binary(kind) or arrow.types.is_fixed_size_binary(kind))


def _short(error: BaseException, limit: int = 200) -> str:
    """An exception as one short line: its type and the start of its text."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:limit]}" + ("…" if len(text) > limit else "")


def _exact(value: object) -> object:
    """A Parquet value as the JSON reader would give it (a float becomes its shortest exact text)."""
    if isinstance(value, float):
        return DecimalText(repr(value))
    if isinstance(value, list):
        return [_exact(item) for item in value]
    if isinstance(value, dict):
        return {key: _exact(item) for key, item in value.items()}
    return value


def read_log(path: Path, columns: Collection[str] | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows of ``path``: Parquet by its ``.parquet`` suffix (only ``columns``, when given), JSON Lines otherwise."""
    if path.suffix == ".parquet":
        return read_parquet(path, columns)
    return read_jsonl(path)
