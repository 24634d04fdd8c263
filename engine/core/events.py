"""Events: everything the engine says, each with a sequence number.

Every command produces zero or more events and then **exactly one**
:class:`Accepted` or :class:`Rejected` (with a :class:`Reason` code).  Order
events are :class:`Execution` reports named as BitMEX names them (``execType``
``New``/``Trade``/``Canceled``/``Replaced``/``TriggeredOrActivatedBySystem``/
``Liquidation``/``Deleverage``…, ``ordStatus``, ``lastQty``, ``lastPx``,
``leavesQty``, ``cumQty``, ``execComm``…); money movements are
:class:`Transaction` rows (``Deposit``, ``Withdrawal``, ``Funding``,
``Insurance``); the waterfall's explainable steps are :class:`RuleEvent`
(rule id, inputs, outcome).

Events are ``NamedTuple``s, not attrs classes: they are created on the hot
path (several per order), and a positional tuple is ~5x cheaper to build.
They are still immutable, hashable, and serialise with :func:`event_to_dict`
(BitMEX field names where BitMEX has one).
"""

from __future__ import annotations

import enum
from typing import Any, NamedTuple

import attrs


class Reason(enum.Enum):
    """Why a command was refused (one code per cause; stable strings for clients)."""

    MALFORMED = "Malformed"  # wrong type, missing or contradictory field
    UNKNOWN_SYMBOL = "UnknownSymbol"
    UNKNOWN_ASSET = "UnknownAsset"
    UNKNOWN_ORDER = "UnknownOrder"
    UNVERIFIED_ACCOUNT = "UnverifiedAccount"
    ALREADY_VERIFIED = "AlreadyVerified"
    INVALID_QTY = "InvalidOrderQty"  # zero, negative, not a lot multiple
    QTY_TOO_LARGE = "OrderQtyAboveMax"
    INVALID_PRICE = "InvalidPrice"  # off tick, not positive
    PRICE_TOO_HIGH = "PriceAboveMax"
    FAT_FINGER = "PriceOutsideProtectionBand"
    DUPLICATE_CL_ORD_ID = "DuplicateClOrdID"
    INSUFFICIENT_MARGIN = "InsufficientAvailableBalance"
    INSUFFICIENT_BALANCE = "InsufficientBalance"  # spot reservation, withdrawals
    RISK_LIMIT_EXCEEDED = "RiskLimitExceeded"
    INVALID_RISK_LIMIT = "InvalidRiskLimit"
    INVALID_LEVERAGE = "InvalidLeverage"
    NOT_ISOLATED = "PositionNotIsolated"
    NO_POSITION = "NoPosition"  # Close / ReduceOnly without anything to reduce
    REDUCE_ONLY_WOULD_INCREASE = "ReduceOnlyWouldIncrease"
    INVALID_INSTRUCTION = "InvalidExecInst"
    INVALID_TIME_IN_FORCE = "InvalidTimeInForce"
    INVALID_ORD_TYPE = "InvalidOrdType"
    NOT_AMENDABLE = "NotAmendable"
    NOT_SUPPORTED_ON_SPOT = "NotSupportedOnSpot"
    TIME_WENT_BACKWARDS = "TimeWentBackwards"
    TIME_OUT_OF_RANGE = "TimeOutOfRange"  # outside [0, MAX_TIME_MS], or beyond the clock's max step
    NO_MARK_PRICE = "NoMarkPrice"  # the contract has no mark price yet
    POST_ONLY_WOULD_TRADE = "ParticipateDoNotInitiateWouldTrade"
    NOT_DATED_FUTURE = "NotDatedFuture"  # settlement of a perpetual or a spot pair
    NOT_EXPIRED = "ContractNotExpired"  # settlement before the contract's expiry
    CONTRACT_SETTLED = "ContractSettled"  # the contract is settled: no more settlement, no more orders
    INSURANCE_SHORTFALL = "InsuranceShortfall"  # the fund cannot bear the liquidation engine's settlement loss
    MARK_NOT_SETTLEMENT_PRICE = "MarkNotAtSettlementPrice"  # settle only after a mark update to that price
    LIQUIDATION_PENDING = "LiquidationPending"  # a pool is below maintenance: the waterfall has work left
    FUNDING_ALREADY_PAID = "FundingAlreadyPaid"  # FND-021: a FundingTick not after its contract's last paid instant
    IMMEDIATE_LIQUIDATION = "ImmediateLiquidation"  # LIQ-042: executing at the order price would liquidate
    CONTRACT_EXPIRED = "ContractExpired"  # a dated future past its expiry takes no new, amended or triggered order
    NOT_PERPETUAL = "NotPerpetual"  # funding of a dated future or a spot pair
    TOO_MANY_OPEN_STOPS = "TooManyOpenStops"  # an account's untriggered conditional orders per contract are capped
    CONCENTRATED_REDUCE_ONLY = "ConcentratedPositionReduceOnly"  # RSK-008: above the share of the open value
    INTERNAL_ERROR = "InternalError"


class Accepted(NamedTuple):
    """The command was applied (its effects are the events just before this one)."""

    seq: int
    time_ms: int
    command: str  # command type name, e.g. "PlaceOrder"
    account: int  # -1 for system commands
    order_id: int  # the order a PlaceOrder created or an order command addressed, else 0


class Rejected(NamedTuple):
    """The command changed nothing; ``reason`` says why."""

    seq: int
    time_ms: int
    command: str
    account: int
    reason: Reason
    text: str
    cl_ord_id: str


class Execution(NamedTuple):
    """An execution report for one order (BitMEX ``Execution``)."""

    seq: int
    time_ms: int
    exec_type: str  # execType
    account: int  # account
    symbol: str  # symbol
    order_id: int  # orderID
    cl_ord_id: str  # clOrdID
    side: str  # side
    ord_type: str  # ordType
    order_qty: int  # orderQty
    price: int  # price (0 for market)
    stop_px: int  # stopPx (0 when none)
    last_qty: int  # lastQty (trades)
    last_px: int  # lastPx (trades)
    leaves_qty: int  # leavesQty
    cum_qty: int  # cumQty
    ord_status: str  # ordStatus
    exec_comm: int  # execComm (minor units; negative = rebate)
    last_liquidity_ind: str  # lastLiquidityInd: AddedLiquidity / RemovedLiquidity / ""
    text: str  # text: why (e.g. "Canceled: self-trade prevention")


class Transaction(NamedTuple):
    """A money movement outside trading (BitMEX ``Transaction`` / ``Funding``)."""

    seq: int
    time_ms: int
    transact_type: str  # transactType: Deposit, Withdrawal, Funding, Insurance
    account: int  # -1 for the exchange (insurance fund)
    asset: str  # currency
    amount: int  # signed, minor units
    symbol: str  # "" when not tied to a contract
    text: str


class PositionUpdate(NamedTuple):
    """A position changed (after a fill, liquidation, ADL or margin change)."""

    seq: int
    time_ms: int
    account: int
    symbol: str
    current_qty: int  # currentQty
    pos_cost: int  # posCost (signed cost basis)
    leverage_hundredths: int  # leverage × 100; 0 = cross
    liquidation_price: int  # liquidationPrice of the state reported (MRG-011; 0: flat)
    bankrupt_price: int  # bankruptPrice of the state reported (MRG-012; 0: flat)


class RuleEvent(NamedTuple):
    """An explainable step of a rule (liquidation, insurance, ADL): the rules' own event record.

    ``record`` is the frozen record the rules define (:mod:`rules.events`:
    ``Liquidation``, ``LiquidationFill``, ``InsuranceMovement``, ``AdlFill``…),
    carrying the rule id, its inputs and its outcome.
    """

    seq: int
    time_ms: int
    rule_id: str
    kind: str  # the record's type name
    account: int
    symbol: str
    record: Any


class InternalError(NamedTuple):
    """A bug was caught: the command was rejected and the state restored to before it."""

    seq: int
    time_ms: int
    command: str
    text: str


Event = Accepted | Rejected | Execution | Transaction | PositionUpdate | RuleEvent | InternalError

# snake_case field -> BitMEX API name, where BitMEX has one
BITMEX_NAMES: dict[str, str] = {
    "exec_type": "execType",
    "order_id": "orderID",
    "cl_ord_id": "clOrdID",
    "ord_type": "ordType",
    "order_qty": "orderQty",
    "stop_px": "stopPx",
    "last_qty": "lastQty",
    "last_px": "lastPx",
    "leaves_qty": "leavesQty",
    "cum_qty": "cumQty",
    "ord_status": "ordStatus",
    "exec_comm": "execComm",
    "last_liquidity_ind": "lastLiquidityInd",
    "transact_type": "transactType",
    "asset": "currency",
    "current_qty": "currentQty",
    "pos_cost": "posCost",
    "liquidation_price": "liquidationPrice",
    "bankrupt_price": "bankruptPrice",
    "time_ms": "timestamp",
}


def event_to_dict(event: Event) -> dict[str, Any]:
    """A JSON-ready mapping with ``event`` (the type name) and BitMEX field names where they exist."""
    out: dict[str, Any] = {"event": type(event).__name__}
    for name, value in zip(event._fields, event, strict=True):
        key = BITMEX_NAMES.get(name, name)
        if isinstance(value, Reason):
            out[key] = value.value
        elif name == "record" and attrs.has(type(value)):
            out[key] = attrs.asdict(value)
        else:
            out[key] = value
    return out
