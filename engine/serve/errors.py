"""BitMEX's error bodies: ``{"error": {"message": ..., "name": ...}}`` with its exact strings.

Clients map the *message* to exception classes (ccxt 4.5.83: ``Signature not
valid`` -> AuthenticationError, ``Account has insufficient Available
Balance`` -> InsufficientFunds, ``Duplicate clOrdID`` -> InvalidOrder...), so
every engine :class:`~perpspec.engine.core.events.Reason` is answered with the
string BitMEX used for that cause (``../shared/reference/bitmex-api.md`` §3).
"""

from __future__ import annotations

from typing import Any, Final

from perpspec.engine.core.events import Reason, Rejected


class ApiError(Exception):
    """A refusal answered as a BitMEX error body with an HTTP status."""

    def __init__(self, status: int, message: str, name: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.name = name or ("HTTPError" if status in (401, 403, 404, 429) or status >= 500 else "ValidationError")

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "name": self.name}}


SIGNATURE_NOT_VALID: Final = "Signature not valid."
INVALID_API_KEY: Final = "Invalid API Key."
KEY_DISABLED: Final = "This key is disabled."
ACCESS_DENIED: Final = "Access Denied"
NOT_FOUND: Final = "Not Found"
# a withdrawal's signed bytes sent again while unexpired (keys.refuse_replay): 400, ccxt's BadRequest, never the 401
# of bad credentials
DUPLICATE_REQUEST: Final = (
    "Duplicate request: this signed request was already received (replay). "
    "Sign it again with a later api-expires to send another."
)
VERIFY_FIRST: Final = "We require all new traders to verify their identity before their first deposit."

# engine reason -> (HTTP status, BitMEX message); None: the engine's own text follows the reason.  The messages are
# BitMEX's documented order-rejection texts (BitMEX API "Order rejections", the list roq-trading's BitMEX gateway
# keeps in roq/bitmex/json/utils.cpp) and the exact strings ccxt 4.5.83 maps (bitmex.py ``exceptions``): ccxt raises
# InvalidOrder on exactly "Invalid price", "Invalid stopPx for ordType", "orderQty is invalid", "Duplicate clOrdID",
# InsufficientFunds on "Account has insufficient Available Balance...", and BadRequest on any other 400 -- so a text
# off by one word (or carrying the engine's reason prefix) can change the exception a client catches
_REASONS: Final[dict[Reason, tuple[int, str | None]]] = {
    Reason.MALFORMED: (400, None),
    Reason.UNKNOWN_SYMBOL: (400, "Invalid symbol"),
    Reason.UNKNOWN_ASSET: (400, "Invalid currency"),
    Reason.UNKNOWN_ORDER: (404, NOT_FOUND),
    Reason.UNVERIFIED_ACCOUNT: (403, VERIFY_FIRST),
    Reason.INVALID_QTY: (400, "orderQty is invalid"),
    Reason.QTY_TOO_LARGE: (400, "orderQty is invalid"),
    Reason.INVALID_PRICE: (400, "Invalid price"),
    Reason.PRICE_TOO_HIGH: (400, "Invalid price"),
    Reason.FAT_FINGER: (400, "Invalid price"),
    Reason.DUPLICATE_CL_ORD_ID: (400, "Duplicate clOrdID"),
    Reason.INVALID_LEVERAGE: (400, "Invalid leverage"),
    Reason.INVALID_ORD_TYPE: (400, "Unsupported ordType"),
    Reason.INVALID_TIME_IN_FORCE: (400, "Unsupported timeInForce"),
    Reason.INVALID_INSTRUCTION: (400, "Unsupported execInst"),
    Reason.NO_MARK_PRICE: (400, "Instrument has no mark price"),
    Reason.CONTRACT_EXPIRED: (400, "Instrument expired"),
    Reason.CONTRACT_SETTLED: (400, "Instrument expired"),
    Reason.IMMEDIATE_LIQUIDATION: (400, "Executing at order price would lead to immediate liquidation"),
    Reason.LIQUIDATION_PENDING: (400, "Position is in liquidation"),
    Reason.RISK_LIMIT_EXCEEDED: (400, "Value of position and orders exceeds position Risk Limit"),
    Reason.INTERNAL_ERROR: (503, "Service unavailable"),
}

# (reason, the engine text's start or end) -> BitMEX's text, where one engine reason covers several of BitMEX's
_BY_TEXT: Final[tuple[tuple[Reason, str, str], ...]] = (
    (Reason.INVALID_PRICE, " needs stopPx", "Invalid stopPx for ordType"),  # a Stop/StopLimit/...IfTouched without
    (Reason.INVALID_PRICE, "pegOffsetValue must be a non-zero multiple", "Invalid pegOffsetValue tickSize"),
    (Reason.INVALID_PRICE, "trailing stop: pegOffsetValue", "Invalid pegOffsetValue for pegPriceType"),
    (Reason.INVALID_PRICE, "bad pegOffsetValue", "Invalid pegOffsetValue for pegPriceType"),
    (Reason.NOT_AMENDABLE, " has no price", "Invalid price"),  # PUT /order: a price for a Market or Stop
    # a stopPx for a Limit (the engine's Limit is a triggered order) or a trailing stop ([I]: for an already triggered
    # stop BitMEX's text is not documented; the same one is kept)
    (Reason.NOT_AMENDABLE, "stopPx/pegOffsetValue only on untriggered", "Invalid stopPx for ordType"),
    (Reason.NOT_AMENDABLE, "a trailing stop is amended by pegOffsetValue", "Invalid stopPx for ordType"),
    (Reason.NOT_AMENDABLE, "pegOffsetValue only on pegged", "Invalid pegOffsetValue for pegPriceType"),
    (Reason.INVALID_QTY, "displayQty", "Invalid displayQty"),
    (Reason.INVALID_TIME_IN_FORCE, "displayQty", "Invalid displayQty"),
    (Reason.INVALID_ORD_TYPE, "only pegPriceType", "Unsupported pegPriceType"),
    (Reason.INVALID_INSTRUCTION, "ParticipateDoNotInitiate needs", "Invalid ordType or timeInForce for execInst"),
    (Reason.INVALID_INSTRUCTION, "trigger source only for", "Invalid ordType for execInst"),
    (Reason.INVALID_INSTRUCTION, "LastWithinMark needs", "Invalid ordType for execInst"),
    (Reason.INVALID_INSTRUCTION, "Fixed is for pegged", "Invalid ordType for execInst"),
)
_OFF_TICK: Final = "price must be a positive multiple of tickSize"


def rejection_error(rejected: Rejected, currency: str, command: object = None, tick: int = 0) -> ApiError:
    """The BitMEX error for an engine rejection (``currency``: the settlement currency involved).

    ``command`` (the PlaceOrder or AmendOrder refused) and ``tick`` (its contract's tickSize in price units) tell
    which field an off-tick or non-positive price refusal is about: the engine checks ``price`` before ``stopPx``
    with one rule (``check_price``), BitMEX names the field ("Invalid price tickSize" / "Invalid stopPx tickSize").
    """
    reason = rejected.reason
    if reason is Reason.INSUFFICIENT_MARGIN or reason is Reason.INSUFFICIENT_BALANCE:
        required = _required_amount(rejected.text)
        suffix = f", {required} {currency} required" if required is not None else ""
        return ApiError(400, f"Account has insufficient Available Balance{suffix}")
    text = rejected.text
    for known, fragment, bitmex_text in _BY_TEXT:
        if reason is known and (text.startswith(fragment) or text.endswith(fragment)):
            return ApiError(400, bitmex_text)
    if reason is Reason.INVALID_PRICE and text.startswith(_OFF_TICK):
        return ApiError(400, _off_tick_message(command, tick))
    if reason is Reason.INVALID_PRICE and text.endswith("takes no stopPx or pegOffsetValue"):
        sent_stop = getattr(command, "stop_px", None) is not None
        return ApiError(400, "Invalid stopPx for ordType" if sent_stop else "Invalid pegOffsetValue for pegPriceType")
    status, message = _REASONS.get(reason, (400, None))
    if message is None:
        message = f"{reason.value}: {text}"[:512]
    return ApiError(status, message)


def _off_tick_message(command: object, tick: int) -> str:
    """BitMEX's text for ``check_price``'s refusal: the price if the price is the one at fault, else the stopPx."""
    price = getattr(command, "price", None)
    if isinstance(price, int) and (price <= 0 or (tick > 0 and price % tick != 0)):
        return "Invalid price" if price <= 0 else "Invalid price tickSize"
    stop_px = getattr(command, "stop_px", None)
    if isinstance(stop_px, int) and stop_px > 0 and tick > 0 and stop_px % tick != 0:
        return "Invalid stopPx tickSize"
    if isinstance(stop_px, int) and stop_px <= 0:
        return "Invalid stopPx for ordType"
    return "Invalid price"


def _required_amount(text: str) -> int | None:
    """The requirement in the engine's text ``needs N, available M``, if it says one."""
    if not text.startswith("needs "):
        return None
    digits = ""
    for char in text[6:]:
        if "0" <= char <= "9":
            digits += char
        elif digits:
            break
    return int(digits) if digits and len(digits) < 30 else None


# BitMEX's text for a Close or ReduceOnly order with nothing to reduce on its side (BitMEX answers 200 with the order
# Canceled and "Canceled: " before this text; serve refuses it, 400, a ccxt BadRequest either way).  Recorded BitMEX
# answers: "Order had execInst of Close or ReduceOnly and side of Buy but current position is 0" (2019, a Close limit
# order), "Order had execInst of Close or ReduceOnly but current position is 0" (2017, a Close with no side); the list
# roq-trading's BitMEX gateway keeps (roq/bitmex/json/utils.cpp) has the same form
_REDUCE_ONLY_REASONS: Final = frozenset((Reason.REDUCE_ONLY_WOULD_INCREASE, Reason.NO_POSITION))


def reduce_only_error(rejected: Rejected, side: str | None, position_qty: int) -> ApiError | None:
    """BitMEX's refusal of a Close/ReduceOnly order (``side`` as the order has it, ``position_qty`` the signed
    position it found), or None for any other rejection."""
    if rejected.reason not in _REDUCE_ONLY_REASONS:
        return None
    sided = f" and side of {side}" if side in ("Buy", "Sell") else ""
    return ApiError(400, f"Order had execInst of Close or ReduceOnly{sided} but current position is {position_qty}")
