"""Exact parsing of human numbers at the edge (instrument files, CLI, API).

``"0.00075"`` becomes ``750`` ppm, ``"50000.5"`` becomes ``5_000_050`` price
units at scale 100 — exactly, or not at all: a value that does not fit the
unit (``"0.0000001"`` as ppm) is a :class:`ParseError` naming the field.
No float is ever created.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

INPUT_FILE_LIMIT = 4 * 1024 * 1024
"""Bytes read at most from one human-written input file (instrument, scenario, grid, positions,
mapping, price path): the shipped ones are under 25 KB. A larger file, or a device that never
ends (``/dev/zero``), is refused before it is parsed instead of filling the memory."""

MAX_NUMBER_CHARS = 200
"""Characters at most of one human-written number (and digits at most of an ``int``): the largest a
rulebook value needs is about 30.  A longer one is refused before it is parsed, so that a number of
thousands of digits cannot cost seconds of conversion (Python's own limit, 4,300 digits, would answer
with an untyped ``ValueError`` after the work)."""

_INT_BOUND = 10**MAX_NUMBER_CHARS
# ASCII digits only: ``\d`` alone (and ``int``) take any script's digits ("５００００", Arabic-Indic) as numbers
_DECIMAL = re.compile(r"^([+-]?)([0-9]+)(?:\.([0-9]*))?$|^([+-]?)\.([0-9]+)$")


class ParseError(ValueError):
    """A human-written value that cannot be represented exactly; names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def read_regular_file(path: str | Path, limit: int | None = None) -> bytes | None:
    """The bytes of the regular file at ``path`` (a link followed; at most ``limit + 1`` of them when ``limit``
    is given), or None when it is not a regular file (a FIFO, a device, a directory), never read.

    Opened without blocking (``O_NONBLOCK``): a FIFO with no writer would otherwise hold the open forever, and
    ``/dev/zero`` would never end; the ``fstat`` of the opened descriptor (not of the path, which may change in
    between) then refuses it.  Raises ``OSError`` as ``open`` and ``read`` do, and ``OSError(ENOMEM)`` for a
    file too large to read into memory (a sparse one costs nothing on disk).  The one reader of every file
    perpspec is given: input files here, journals and snapshots (engine/durability/journal.py).
    """
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):  # before any file object: a directory would raise
            return None
        with os.fdopen(descriptor, "rb", closefd=False) as handle:
            return handle.read() if limit is None else handle.read(limit + 1)
    except MemoryError:
        raise OSError(errno.ENOMEM, "file too large to read into memory", str(path)) from None
    finally:
        os.close(descriptor)


def read_input_file(path: Path, limit: int = INPUT_FILE_LIMIT) -> bytes:
    """The bytes of a human-written input file (:func:`read_regular_file`), refused with ``OSError(EFBIG)``
    beyond ``limit`` bytes and with ``OSError(EINVAL)`` when it is not a regular file.

    Callers already turn an ``OSError`` into their typed "cannot read" error naming the file; its
    ``strerror`` says why.
    """
    data = read_regular_file(path, limit)
    if data is None:
        raise OSError(errno.EINVAL, "not a regular file: not an input file", str(path))
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit:,} bytes: not an input file", str(path))
    return data


class NestedTooDeeply(json.JSONDecodeError, tomllib.TOMLDecodeError):
    """A JSON or TOML text nested deeper than its parser can follow (``[[[[…`` a hundred thousand times).

    ``json`` and ``tomllib`` raise ``RecursionError`` there, which is no ``ValueError``: a reader catching its
    parser's error let it escape as an internal error.  This is both parsers' error (and so a ``ValueError``),
    caught by every reader's own clause."""

    def __init__(self, text: str) -> None:
        message = "nested too deeply (more brackets or tables inside one another than are read)"
        json.JSONDecodeError.__init__(self, message, text, 0)
        self.args = (message,)  # not json's "line 1 column 1 (char 0)": the depth is the fault, not a place

    def __reduce__(self) -> tuple[type[NestedTooDeeply], tuple[str]]:  # json's error pickles as (msg, doc, pos)
        return type(self), (self.doc,)


def loads_json(text: str | bytes, **options: Any) -> Any:
    """``json.loads(text, **options)``, a nesting deeper than the parser goes a :class:`NestedTooDeeply`."""
    try:
        return json.loads(text, **options)
    except RecursionError:
        raise NestedTooDeeply(text if isinstance(text, str) else "") from None


def loads_toml(text: str, *, parse_float: Callable[[str], Any]) -> dict[str, Any]:
    """``tomllib.loads(text, parse_float=...)``, a nesting deeper than the parser goes a :class:`NestedTooDeeply`
    (``parse_float=str`` keeps decimals as text: never a binary float)."""
    try:
        return tomllib.loads(text, parse_float=parse_float)
    except RecursionError:
        raise NestedTooDeeply(text) from None


def check_number_size(value: int | str, field: str) -> None:
    """Refuse a number text longer than :data:`MAX_NUMBER_CHARS` characters, or an ``int`` of more digits.

    Cheap whatever the size: a length, or a comparison of integers (no conversion to text).
    """
    if isinstance(value, str) and len(value) > MAX_NUMBER_CHARS:
        raise ParseError(field, f"a number of {len(value):,} characters: at most {MAX_NUMBER_CHARS} are read")
    if isinstance(value, int) and not -_INT_BOUND < value < _INT_BOUND:
        raise ParseError(field, f"a number of more than {MAX_NUMBER_CHARS} digits")


def parse_scaled(text: object, scale: int, field: str) -> int:
    """Parse a decimal (``int`` or string) into an integer count of ``1/scale`` units, exactly."""
    if isinstance(text, bool):
        raise ParseError(field, f"expected a number, got {text!r}")
    if isinstance(text, int):
        check_number_size(text, field)
        return text * scale
    if not isinstance(text, str):
        raise ParseError(field, f"expected a number, got {type(text).__name__} {text!r}")
    check_number_size(text, field)
    cleaned = text.strip().replace("_", "")
    match = _DECIMAL.match(cleaned)
    if match is None:
        raise ParseError(field, f"not a decimal number: {text!r}")
    if match.group(2) is not None:
        sign_text, whole, frac = match.group(1), match.group(2), match.group(3) or ""
    else:
        sign_text, whole, frac = match.group(4), "0", match.group(5)
    frac = frac.rstrip("0")
    denominator: int = 10 ** len(frac)
    numerator = int(whole) * denominator + (int(frac) if frac else 0)
    scaled = numerator * scale
    if scaled % denominator != 0:
        raise ParseError(field, f"{text!r} is finer than the unit 1/{scale}")
    value = scaled // denominator
    return -value if sign_text == "-" else value


def parse_int(text: object, field: str) -> int:
    """Parse a whole number (``int`` or string such as ``"1_000"``)."""
    return parse_scaled(text, 1, field)


def parse_ppm(text: object, field: str) -> int:
    """Parse a fraction (``"0.005"``) or percentage (``"0.5%"``) into parts per million."""
    if isinstance(text, str) and text.strip().endswith("%"):
        return parse_scaled(text.strip()[:-1], 10_000, field)
    return parse_scaled(text, 1_000_000, field)


def parse_duration_ms(text: object, field: str) -> int:
    """Parse ``"HH:MM:SS"``, ``"8h"``, ``"30m"``, ``"15s"`` or an integer of milliseconds."""
    if isinstance(text, int) and not isinstance(text, bool):
        check_number_size(text, field)
        return text
    if not isinstance(text, str):
        raise ParseError(field, f"expected a duration, got {text!r}")
    check_number_size(text, field)
    cleaned = text.strip()
    clock = re.fullmatch(r"([0-9]+):([0-9]{2}):([0-9]{2})", cleaned)
    if clock is not None:
        hours, minutes, seconds = (int(part) for part in clock.groups())
        return ((hours * 60 + minutes) * 60 + seconds) * 1000
    unit = re.fullmatch(r"([0-9]+)(ms|s|m|h|d)", cleaned)
    if unit is None:
        raise ParseError(field, f"not a duration: {text!r} (use HH:MM:SS or 8h/30m/15s)")
    factor = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}[unit.group(2)]
    return int(unit.group(1)) * factor


def format_scaled(value: int, scale: int) -> str:
    """Render an integer count of ``1/scale`` units as an exact decimal string."""
    sign_text = "-" if value < 0 else ""
    magnitude = -value if value < 0 else value
    whole, frac = divmod(magnitude, scale)
    digits = len(str(scale)) - 1
    if digits == 0 or frac == 0:
        return f"{sign_text}{whole}"
    return f"{sign_text}{whole}.{frac:0{digits}d}".rstrip("0")


def format_ppm(value_ppm: int) -> str:
    """``5_000`` -> ``"0.50%"`` style text for tables (exact, trailing zeros kept to 2 places)."""
    text = format_scaled(value_ppm, 10_000)
    if "." not in text:
        text += ".00"
    elif len(text.split(".")[1]) == 1:
        text += "0"
    return text + "%"
