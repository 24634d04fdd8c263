"""The API's edge: BitMEX's JSON values in, the engine's integers out, and back, exactly.

Inside the engine every price is an integer count of the instrument's price
unit (XBTUSD: 0.01 USD), every quantity a count of contracts, every amount of
money an integer of the settlement currency's minor unit (``XBt`` = 1e-8 XBT,
``USDt`` = 1e-6 USDT) -- the units BitMEX's API itself uses for money.  Only
prices and rates are decimals on the wire.  They cross the edge here:

* in: a JSON number is kept as its exact text (:class:`JsonDecimal`, never a
  float) and parsed with :func:`perpspec.rules.parse.parse_scaled`; a value
  finer than the unit, too long, or of the wrong type is an :class:`ApiError`
  with BitMEX's message, before anything reaches the engine;
* out: :func:`num` marks exact decimal text that :func:`encode_json` writes
  as a bare JSON number.

Ids: the engine numbers orders 1, 2, 3...; BitMEX's ``orderID`` is a UUID.
:func:`order_uuid` writes the integer into the last 12 hex digits of a fixed
UUID and :func:`parse_order_uuid` reads it back (anything else is unknown).
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from perpspec.engine.serve.errors import ApiError
from perpspec.engine.simulation.eventlog import (
    iso_timestamp as iso_timestamp,  # one stamp format with the event log
)
from perpspec.rules.instrument import Instrument
from perpspec.rules.parse import ParseError, format_scaled, parse_scaled

NUM_MARK: Final = "\x00"  # prefix of exact decimal text written as a bare JSON number
MAX_NUMBER_TEXT: Final = 40  # longer numeric text is refused before it is parsed
MAX_ABS_INT: Final = 10**18  # no quantity, price or amount of any instrument comes near this

# BitMEX currency ids, their asset names and scales (GET /wallet/assets)
CURRENCY_SCALE: Final[dict[str, int]] = {"XBt": 8, "USDt": 6}
CURRENCY_ASSET: Final[dict[str, str]] = {"XBt": "XBT", "USDt": "USDT"}


class JsonDecimal(str):
    """A JSON number with a fraction or an exponent, kept as the exact text the client sent."""

    __slots__ = ()


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def decode_json(raw: bytes) -> Any:
    """Parse a JSON body exactly (no float is ever made); ValueError on anything malformed."""
    text = raw.decode("utf-8")
    return json.loads(text, parse_float=JsonDecimal, parse_constant=_refuse_constant)


def num(text: str) -> str:
    """Exact decimal text that :func:`encode_json` writes as a bare JSON number."""
    return NUM_MARK + text


_ENCODE = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode
_BARE_NUMBER = re.compile(r'"\\u0000(-?[0-9]+(?:\.[0-9]+)?)"')


def encode_json(value: Any) -> str:
    """Compact JSON text; :func:`num` values become bare numbers."""
    return _BARE_NUMBER.sub(r"\1", _ENCODE(value))


# ----------------------------------------------------------------------------- in


def _number_text(value: object) -> str | int | None:
    """The value as an int or exact decimal text, or None when it is no number at all."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if -MAX_ABS_INT <= value <= MAX_ABS_INT else None
    if isinstance(value, str) and 0 < len(value) <= MAX_NUMBER_TEXT:
        return str(value)
    return None


def parse_units(value: object, scale: int, message: str) -> int:
    """A decimal (JSON number, or numeric string from a form body) as an integer of ``1/scale`` units."""
    text = _number_text(value)
    if text is None:
        raise ApiError(400, message)
    try:
        units = parse_scaled(text, scale, "value")
    except (ParseError, ValueError):
        raise ApiError(400, message) from None
    if not -MAX_ABS_INT <= units <= MAX_ABS_INT:
        raise ApiError(400, message)
    return units


def parse_whole(value: object, message: str) -> int:
    """A whole number (JSON integer, or a numeric string from a form body)."""
    return parse_units(value, 1, message)


def parse_price(inst: Instrument, value: object, message: str = "Invalid price", finer: str = "") -> int:
    """A price in the instrument's quote currency as integer price units (exact or refused).

    ``finer``: the message for a well-formed number finer than the price unit -- off every tick, which BitMEX
    refuses as "Invalid price tickSize" / "Invalid stopPx tickSize" (ccxt: BadRequest), not as a malformed value
    (``message``; ccxt maps "Invalid price" to InvalidOrder)."""
    try:
        return parse_units(value, inst.price_scale, message)
    except ApiError:
        text = _number_text(value)
        if not finer or text is None:
            raise
        try:  # a well-formed number at a finer scale: off the tick (not a malformed value)
            parse_scaled(text, inst.price_scale * 10**MAX_NUMBER_TEXT, "value")
        except (ParseError, ValueError):
            raise ApiError(400, message) from None
        raise ApiError(400, finer) from None


def parse_bool(value: object, message: str) -> bool:
    """``true``/``false`` as JSON or as form text."""
    if isinstance(value, bool):
        return value
    if value in ("true", "True", "1"):
        return True
    if value in ("false", "False", "0"):
        return False
    raise ApiError(400, message)


def parse_text(value: object, message: str, limit: int = 256) -> str:
    """A short string field of printable characters (no control characters: NUL marks numbers on the way out)."""
    if not isinstance(value, str) or len(value) > limit or any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise ApiError(400, message)
    return str(value)


# ----------------------------------------------------------------------------- out


def price_out(inst: Instrument, units: int) -> str:
    """Price units as a bare JSON number (XBTUSD 4900050 -> 49000.5)."""
    return num(format_scaled(units, inst.price_scale))


def ppm_out(value_ppm: int) -> str:
    """Parts per million as a fraction (750 -> 0.00075)."""
    return num(format_scaled(value_ppm, 1_000_000))


def hundredths_out(value: int) -> str:
    """Hundredths (leverage) as a number (2500 -> 25)."""
    return num(format_scaled(value, 100))


def ratio_out(numerator: int, denominator: int, digits: int = 8) -> str | None:
    """``numerator / denominator`` to ``digits`` decimals, rounded toward zero (display only), or None."""
    if denominator == 0:
        return None
    scale = 10**digits
    negative = (numerator < 0) != (denominator < 0)
    magnitude = abs(numerator) * scale // abs(denominator)  # toward zero: a displayed figure, never money
    return num(format_scaled(-magnitude if negative else magnitude, scale))


def order_uuid(order_id: int) -> str:
    """The BitMEX-style ``orderID`` of engine order ``order_id``."""
    return f"00000000-0000-4000-8000-{order_id:012x}"


_UUID = re.compile(r"00000000-0000-4000-8000-([0-9a-f]{12})")  # the whole text (fullmatch)


def parse_order_uuid(text: object) -> int | None:
    """The engine order id inside an ``orderID`` this server issued, or None."""
    if not isinstance(text, str):
        return None
    match = _UUID.fullmatch(text)
    return int(match.group(1), 16) if match else None


def seq_uuid(kind: int, seq: int) -> str:
    """A stable UUID for an event (``execID``: kind 1, ``trdMatchID``: kind 2) from its sequence number."""
    return f"{kind:08x}-0000-4000-8000-{seq:012x}"


_ISO = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,6}))?)?)?Z?")  # ASCII, whole


def parse_iso_ms(text: object) -> int | None:
    """ms since the epoch of an ISO-8601 UTC time (``2026-11-25T12:00:00.000Z``), or None if malformed.

    Every component in its range: a month of 1-12, a day that month has (29 February in leap years only), an hour
    of 0-23, a minute and a second of 0-59 (no leap second, no ``24:00``).  An out-of-range component is refused,
    never carried into the next (``9999-12-31T99:99:99`` is not a time of the year 10000): a list's
    ``startTime``/``endTime`` are compared as the stamps this returns, so a carried one would silently exclude rows
    instead of answering 400 (redteam13)."""
    if not isinstance(text, str) or len(text) > 40:
        return None
    match = _ISO.fullmatch(text)
    if match is None:
        return None
    year, month, day = int(match.group(1)), int(match.group(2)), int(match.group(3))
    hour, minute = int(match.group(4) or 0), int(match.group(5) or 0)
    second = int(match.group(6) or 0)
    if not (1 <= month <= 12 and 1 <= day <= days_in_month(year, month)
            and hour <= 23 and minute <= 59 and second <= 59):
        return None
    ms = int((match.group(7) or "0").ljust(3, "0")[:3])
    y = year - (month <= 2)  # Howard Hinnant's days_from_civil
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146_097 + doe - 719_468
    return ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + ms


def days_in_month(year: int, month: int) -> int:
    """The days of ``month`` (1-12) of ``year`` in the proleptic Gregorian calendar."""
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def currency_scale(currency: str) -> int:
    """``scale`` of a BitMEX currency id (minor units per whole coin = 10**scale)."""
    return CURRENCY_SCALE.get(currency, 0)
