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

# engine reason -> (HTTP status, BitMEX message); None: the engine's own text follows the reason
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
    Reason.INVALID_ORD_TYPE: (400, "Invalid ordType"),
    Reason.INVALID_TIME_IN_FORCE: (400, "Invalid timeInForce"),
    Reason.INVALID_INSTRUCTION: (400, "Invalid execInst"),
    Reason.INTERNAL_ERROR: (503, "Service unavailable"),
}


def rejection_error(rejected: Rejected, currency: str) -> ApiError:
    """The BitMEX error for an engine rejection (``currency``: the settlement currency involved)."""
    reason = rejected.reason
    if reason is Reason.INSUFFICIENT_MARGIN or reason is Reason.INSUFFICIENT_BALANCE:
        required = _required_amount(rejected.text)
        suffix = f", {required} {currency} required" if required is not None else ""
        return ApiError(400, f"Account has insufficient Available Balance{suffix}")
    status, message = _REASONS.get(reason, (400, None))
    if message is None:
        message = f"{reason.value}: {rejected.text}"[:512]
    return ApiError(status, message)


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
