"""perpspec's front door: a small, validated library API over the rulebook, the engine and the prover.

Everything here takes *human* inputs — prices in the quote currency (``"50000"``
USD), money with its unit (``"1.5 XBT"`` or ``"150000000 XBt"``), leverage as a
multiple (``10`` or ``"10x"``) — and converts them exactly (no binary float ever
touches a value).  A value out of range or in the wrong unit is refused with
:class:`InputError`, whose message names the field and the unit it expects.
The functions and :class:`Exchange` call only the public entry points of the
packages underneath (:mod:`perpspec.rules`, :class:`perpspec.engine.core.exchange.Engine`,
:mod:`perpspec.engine.simulation`, :mod:`perpspec.proofs`), which stay
available for everything this door does not cover.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from perpspec.engine.core import commands as cmd
from perpspec.engine.core.events import Accepted, Event, Rejected
from perpspec.engine.core.exchange import MAX_TIME_MS, Engine
from perpspec.engine.core.ledger import LIQUIDATOR
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import InstrumentError, load_instrument
from perpspec.rules.parse import MAX_NUMBER_CHARS, ParseError, check_number_size, format_scaled, parse_scaled
from perpspec.rules.position import Position

if TYPE_CHECKING:
    from perpspec.proofs.registry import Outcome

# minor units per whole coin, by the minor unit's name (what the engine calls an asset)
COIN_SCALE: dict[str, int] = {"XBt": 100_000_000, "USDt": 1_000_000}
MISSING_Z3 = "perpspec.prove needs the Z3 solver, which is an extra: pip install 'perpspec[prove]'"
ADL_POLICIES = {"queue": "ranked-queue", "ranked-queue": "ranked-queue", "pro-rata": "pro-rata"}

Number = int | str | Decimal


class InputError(ValueError):
    """A value the library refuses: out of range, in the wrong unit, or not representable exactly.

    ``field`` names the argument; the message says the unit expected.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


# --------------------------------------------------------------------------- conversions


def _decimal_text(value: Number, field: str, unit: str) -> str:
    """A number as exact decimal text; floats are refused (they are not exact)."""
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise InputError(field, f"expected a number of {unit} as int, str or Decimal, got {type(value).__name__}")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InputError(field, f"expected a finite number of {unit}, got {value}")
        _sign, digits, exponent = value.as_tuple()
        assert isinstance(exponent, int)  # finite
        if len(digits) + abs(exponent) > MAX_NUMBER_CHARS:  # bounds the text before it is written out
            raise InputError(field, f"a number of more than {MAX_NUMBER_CHARS} digits ({unit})")
        return format(value, "f")
    try:
        check_number_size(value, field)  # before str(): an int of thousands of digits costs seconds to write
    except ParseError as error:
        raise InputError(field, f"{error.message} ({unit})") from error
    return str(value)


def _check_size(value: int, field: str) -> None:
    """An int of more than MAX_NUMBER_CHARS digits is an InputError before anything formats it (redteam26_7:
    Python refuses to write an int of more than 4,300 digits as text, a bare ValueError naming no field)."""
    try:
        check_number_size(value, field)
    except ParseError as error:
        raise InputError(field, error.message) from error


def get_coin_scale(asset: str) -> int:
    """Minor units per coin of a settlement asset (``XBt`` → 100,000,000)."""
    if not isinstance(asset, str) or asset not in COIN_SCALE:
        raise InputError("asset", f"unknown asset {asset!r} (known: {', '.join(sorted(COIN_SCALE))})")
    return COIN_SCALE[asset]


def parse_money(value: str, field: str = "amount") -> tuple[str, int]:
    """``"1.5 XBT"`` → ``("XBt", 150_000_000)``; ``"150000000 XBt"`` the same. A unit is required."""
    asset, amount = _money_amount(value, field)
    if amount <= 0:
        raise InputError(field, f"must be positive, got {value!r}")
    return asset, amount


def _money_amount(value: str, field: str) -> tuple[str, int]:
    """:func:`parse_money` without the sign check (a margin balance may be zero or negative)."""
    if not isinstance(value, str) or len(value.split()) != 2:
        raise InputError(
            field, f"give an amount with its unit, e.g. '1.5 XBT' or '150000000 XBt' (got {value!r})"
        )
    number, unit = value.split()
    coins = {asset[:-1] + asset[-1].upper(): asset for asset in COIN_SCALE}  # XBT -> XBt
    try:
        if unit in COIN_SCALE:
            amount, asset = parse_scaled(number, 1, field), unit
        elif unit in coins:
            asset = coins[unit]
            amount = parse_scaled(number, COIN_SCALE[asset], field)
        else:
            known = ", ".join(sorted([*COIN_SCALE, *coins]))
            raise InputError(field, f"unknown unit {unit!r} (known: {known})")
    except ParseError as error:
        raise InputError(field, f"{error.message} ({unit})") from error
    return asset, amount


def parse_price(inst: Instrument, value: Number, field: str = "price", *, on_tick: bool = True) -> int:
    """A price in the quote currency (``"50000.5"`` USD) → price units, in range and on the tick grid
    (``on_tick=False``: at price resolution, as a mark price may be: XBTUSD marks carry cents on a 0.5 tick)."""
    unit = inst.quote_currency
    try:
        price = parse_scaled(_decimal_text(value, field, unit), inst.price_scale, field)
    except ParseError as error:
        raise InputError(field, f"{error.message} (prices are in {unit})") from error
    top = format_scaled(inst.max_price, inst.price_scale)
    if price <= 0 or price > inst.max_price:
        raise InputError(
            field,
            f"{value} {unit} is outside (0, maxPrice {top} {unit}] of {inst.symbol} "
            f"(prices are in {unit}, not in price units of 1/{inst.price_scale})",
        )
    if on_tick and price % inst.tick_size != 0:
        tick = format_scaled(inst.tick_size, inst.price_scale)
        raise InputError(field, f"{value} {unit} is not a multiple of tickSize {tick} {unit}")
    return price


def parse_leverage(inst: Instrument, value: Number, field: str = "leverage") -> int:
    """Leverage as a multiple (``10``, ``"10x"``, ``"2.5"``; ``0`` = cross) → hundredths, within the instrument's maximum."""
    text = _decimal_text(value, field, "leverage (a multiple)").strip()
    text = text[:-1] if text[-1:] in ("x", "X") else text
    try:
        hundredths = parse_scaled(text, 100, field)
    except ParseError as error:
        raise InputError(field, f"{error.message} (leverage is a multiple: 10 or '10x' for 10x, 0 for cross)") from error
    top = inst.max_leverage_hundredths
    if hundredths != 0 and not 1 <= hundredths <= top:  # BitMEX: 0.01x up to 1 / initial margin
        raise InputError(
            field,
            f"{value}x is outside 0.01x..{format_scaled(top, 100)}x for {inst.symbol} "
            "(leverage is a multiple, e.g. 10 for 10x, not hundredths; 0 for cross)",
        )
    return hundredths


def parse_qty(inst: Instrument, value: int, field: str = "qty") -> int:
    """Contracts: a non-zero whole multiple of the lot size, at most ``maxOrderQty``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(field, f"expected a whole number of contracts (int), got {type(value).__name__}")
    _check_size(value, field)
    if value == 0 or value % inst.lot_size != 0 or abs(value) > inst.max_order_qty:
        raise InputError(
            field,
            f"{value} contracts: must be a non-zero multiple of lotSize {inst.lot_size} "
            f"and at most maxOrderQty {inst.max_order_qty:,} contracts",
        )
    return value


def _positive_qty(qty: int) -> int:
    if isinstance(qty, int) and not isinstance(qty, bool):
        _check_size(qty, "qty")
    if isinstance(qty, bool) or not isinstance(qty, int) or qty <= 0:
        raise InputError("qty", f"a positive whole number of contracts, got {qty!r} (buy or sell says the side)")
    return qty


# --------------------------------------------------------------------------- positions


def instrument(symbol: str = "XBTUSD", **overrides: object) -> Instrument:
    """A shipped instrument (``XBTUSD``, ``XBTUSDT``, ``ETHUSD``, ``XBTZ26``) or a TOML file, fields overridden by BitMEX name."""
    if not isinstance(symbol, str):
        raise InputError("symbol", f"a symbol or an instrument file's path as str, got {type(symbol).__name__}")
    try:
        return load_instrument(symbol, overrides or None)
    except InstrumentError as error:
        if error.field in ("symbol", "(file)"):  # the symbol or the file it names
            raise InputError("symbol", str(error)) from error
        # an override or a field derived from one (a tickSize no maxPrice is a multiple of names maxPrice)
        raise InputError(error.field, f"{error.message} ({error.source})") from error


def position(
    symbol: str = "XBTUSD",
    *,
    qty: int,
    entry: Number,
    mark: Number | None = None,
    leverage: Number = 0,
    wallet: str | None = None,
    pos_cross: str | None = None,
) -> dict[str, Any]:
    """A position's BitMEX fields, exactly as ``perpspec position --json`` prints them.

    ``qty`` signed contracts (long > 0), whole lots (a position, not an order: it may
    exceed ``maxOrderQty``); ``entry`` in the quote currency on the tick grid, ``mark``
    at price resolution (marks are not on the tick grid); ``leverage`` a multiple
    (0 = cross, which needs ``wallet``, the margin balance backing the position, with
    its unit: ``"0.5 XBT"``; it may be zero or negative); ``pos_cross`` extra isolated
    margin with its unit.  Money comes back in minor units (``posMaint`` in XBt),
    prices and rates as exact decimal strings.  It accepts and refuses exactly what
    ``perpspec position`` does.

    ``liquidationPrice`` is BitMEX's published figure, rounded to the tick toward the
    entry: a safe bound (no mark on its safe side liquidates), not the trigger.  The
    trigger is ``liquidationMarkPrice``: the first mark, at price resolution, at which
    the engine liquidates this position (long: the highest liquidating mark, short: the
    lowest; cross: the pool of an account holding only this position, with ``wallet``
    as its wallet), computed from the engine's own pool test (LIQ-001, LIQ-003) and
    checked at the boundary; ``None`` when no mark up to ``maxPrice`` liquidates it.
    XBTUSD short 1,000 @ 50,000 at 100x: ``liquidationPrice`` ``"50251"``,
    ``liquidationMarkPrice`` ``"50251.39"``.
    """
    from perpspec.engine.cli.main import UsageError
    from perpspec.engine.cli.position import as_record, compute

    inst = instrument(symbol)
    if isinstance(qty, bool) or not isinstance(qty, int):
        raise InputError("qty", f"expected a whole number of contracts (int), got {type(qty).__name__}")
    qty_text = _decimal_text(qty, "qty", "contracts")  # bounded before any arithmetic or str()
    if qty == 0 or qty % inst.lot_size != 0:
        raise InputError("qty", f"{qty_text} contracts: must be a non-zero multiple of lotSize {inst.lot_size}")
    parse_price(inst, entry, "entry")
    if mark is not None:
        parse_price(inst, mark, "mark", on_tick=False)
    parse_leverage(inst, leverage)

    def minor(value: str | None, field: str) -> str | None:
        if value is None:
            return None
        asset, amount = _money_amount(value, field)
        if asset != inst.settl_currency:
            raise InputError(field, f"{inst.symbol} settles in {inst.settl_currency}, got {value!r}")
        return str(amount)

    args = argparse.Namespace(
        symbol=symbol,
        set=[],
        qty=qty_text,
        entry=_decimal_text(entry, "entry", inst.quote_currency),
        mark=None if mark is None else _decimal_text(mark, "mark", inst.quote_currency),
        leverage=_decimal_text(leverage, "leverage", "x"),
        wallet=minor(wallet, "wallet"),
        pos_cross=minor(pos_cross, "pos_cross") or "0",
    )
    try:
        inst, mark_price, margin, trigger = compute(args)
    except UsageError as error:  # the CLI's own checks (risk tier, cross needs a wallet, ...)
        field, _, message = str(error).partition(": ")
        raise InputError(field.lstrip("-").replace("-", "_"), message) from error
    return as_record(inst, mark_price, margin, trigger)


# --------------------------------------------------------------------------- the engine


@attrs.frozen(kw_only=True)
class Result:
    """What one command did: accepted or rejected (with the engine's reason code), and its events."""

    accepted: bool
    reason: str  # "" when accepted, else the engine's reason code, e.g. "InsufficientAvailableBalance"
    text: str
    order_id: int  # the order a placed order got (0 otherwise)
    events: tuple[Event, ...]

    def __bool__(self) -> bool:
        return self.accepted


class Exchange:
    """The matching engine behind five-line calls: accounts, prices and orders in human units.

    Wraps :class:`perpspec.engine.core.exchange.Engine` (available as ``.engine``)
    and its logical clock: every call is a command at ``now_ms``, which only
    :meth:`advance` moves.  A call the engine refuses returns a falsy
    :class:`Result` with the reason; bad *input* raises :class:`InputError` first.
    """

    def __init__(self, symbols: Sequence[str] | None = None, *, adl_policy: str = "queue") -> None:
        if not isinstance(adl_policy, str) or adl_policy not in ADL_POLICIES:
            raise InputError("adl_policy", f"one of {', '.join(sorted(ADL_POLICIES))}, got {adl_policy!r}")
        if isinstance(symbols, str) or not (symbols is None or isinstance(symbols, Sequence)):
            raise InputError("symbols", f"a list of symbols, e.g. ['XBTUSD'], got {symbols!r}")
        instruments = None if symbols is None else {symbol: instrument(symbol) for symbol in symbols}
        self.engine = Engine(instruments, adl_policy=ADL_POLICIES[adl_policy])
        self.now_ms = 0

    def _instrument(self, symbol: str) -> Instrument:
        known = self.engine.instruments()
        if not isinstance(symbol, str) or symbol not in known:
            raise InputError("symbol", f"unknown symbol {symbol!r} (this exchange lists {', '.join(sorted(known))})")
        return known[symbol]

    def submit(self, command: cmd.Command) -> Result:
        """Apply one raw engine command (see :mod:`perpspec.engine.core.commands`)."""
        events = tuple(self.engine.process(command))
        last = events[-1]
        if isinstance(last, Rejected):
            return Result(accepted=False, reason=last.reason.value, text=last.text, order_id=0, events=events)
        assert isinstance(last, Accepted), "every command ends with Accepted or Rejected"
        return Result(accepted=True, reason="", text="", order_id=last.order_id, events=events)

    def _account(self, account: int) -> int:
        """An account the exchange knows (opened with :meth:`open_account`); reads of any other are refused."""
        if isinstance(account, bool) or not isinstance(account, int):
            raise InputError("account", f"an account id is an int, got {type(account).__name__}")
        _check_size(account, "account")
        if account not in self.engine.accounts and account != LIQUIDATOR:
            raise InputError("account", f"unknown account {account} (open it with open_account)")
        return account

    def advance(self, *, seconds: int = 0, ms: int = 0) -> None:
        """Move the logical clock forward (due stops, day expiries and dead man's switches fire on the next command).

        ``seconds`` and ``ms`` are whole numbers >= 0.  The engine moves its clock by at most
        ``engine.max_clock_step_ms`` (366 days) in one command, so a step that would take the clock further
        than that past the engine's last command is refused (nothing changes): advance in smaller steps
        with a command in between (a price update, say).  While the engine's clock is still at 0, the first
        move off 0 sets the epoch and is not bounded by the step.
        """
        for field, value in (("seconds", seconds), ("ms", ms)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise InputError(field, f"a whole number of {field} (int), got {type(value).__name__}")
            if value < 0:
                raise InputError(field, "the clock only moves forward (>= 0)")
            if value > MAX_TIME_MS:
                raise InputError(field, f"at most {MAX_TIME_MS:,} (the engine's clock ends in 9999)")
        field = "seconds" if seconds else "ms"
        now_ms = self.now_ms + seconds * 1000 + ms
        if now_ms > MAX_TIME_MS:
            raise InputError(field, f"the clock would pass {MAX_TIME_MS:,} ms, the end of the engine's time")
        engine_ms, step_ms = self.engine.time_ms, self.engine.max_clock_step_ms
        if engine_ms > 0 and now_ms - engine_ms > step_ms:  # the engine would refuse every later command
            raise InputError(
                field,
                f"the clock would be {now_ms - engine_ms:,} ms past the engine's last command, more than "
                f"max_clock_step_ms {step_ms:,}: advance in smaller steps with a command in between",
            )
        self.now_ms = now_ms

    def open_account(self, account: int, deposit: str) -> Result:
        """Verify ``account`` and deposit ``deposit`` (with its unit: ``"1 XBT"``, ``"5000 USDT"``)."""
        if isinstance(account, bool) or not isinstance(account, int) or account < 0:
            raise InputError("account", f"an account id is an int >= 0, got {account!r}")
        # the whole deposit is checked before anything is submitted: a Deposit the engine would refuse after
        # VerifyAccount was accepted would leave a verified, empty account behind (redteam26_3)
        asset, amount = parse_money(deposit, "deposit")
        assets = self.engine.assets()
        if asset not in assets:
            raise InputError("deposit", f"this exchange settles in {', '.join(assets)}, got {deposit!r}")
        if amount > cmd.FIELD_INT_MAX:
            raise InputError("deposit", f"at most {cmd.FIELD_INT_MAX:,} {asset} (signed 64 bits), got {deposit!r}")
        verified = self.submit(cmd.VerifyAccount(time_ms=self.now_ms, account=account))
        return self.deposit(account, deposit) if verified else verified

    def deposit(self, account: int, amount: str) -> Result:
        """Deposit ``amount`` with its unit (``"0.5 XBT"`` or ``"50000000 XBt"``)."""
        asset, minor = parse_money(amount, "amount")
        return self.submit(cmd.Deposit(time_ms=self.now_ms, account=account, asset=asset, amount=minor))

    def price(self, symbol: str, mark: Number, index: Number | None = None) -> Result:
        """Set the mark (and index, default the mark) price of ``symbol`` in its quote currency; runs liquidations.

        Marks and indices are at price resolution, not on the tick grid (an XBTUSD mark carries cents on a 0.5 tick),
        as the engine's ``PriceUpdate`` takes them."""
        inst = self._instrument(symbol)
        mark_units = parse_price(inst, mark, "mark", on_tick=False)
        index_units = mark_units if index is None else parse_price(inst, index, "index", on_tick=False)
        return self.submit(
            cmd.PriceUpdate(time_ms=self.now_ms, symbol=symbol, mark_price=mark_units, index_price=index_units)
        )

    def set_leverage(self, account: int, symbol: str, leverage: Number) -> Result:
        """Isolate the position at ``leverage`` (a multiple: ``10`` or ``"10x"``), or ``0`` for cross margin."""
        inst = self._instrument(symbol)
        hundredths = parse_leverage(inst, leverage)
        return self.submit(
            cmd.SetLeverage(time_ms=self.now_ms, account=account, symbol=symbol, leverage_hundredths=hundredths)
        )

    def order(
        self, account: int, symbol: str, qty: int, price: Number | None = None, *, time_in_force: str | None = None
    ) -> Result:
        """Place an order of ``qty`` signed contracts (buy > 0, sell < 0); limit at ``price`` (quote currency), else market."""
        inst = self._instrument(symbol)
        contracts = parse_qty(inst, qty)
        limit = None if price is None else parse_price(inst, price)
        return self.submit(
            cmd.PlaceOrder(
                time_ms=self.now_ms,
                account=account,
                symbol=symbol,
                side="Buy" if contracts > 0 else "Sell",
                order_qty=abs(contracts),
                price=limit,
                time_in_force=time_in_force,
            )
        )

    def buy(self, account: int, symbol: str, qty: int, price: Number | None = None) -> Result:
        """Buy ``qty`` contracts (> 0) at ``price`` (limit, quote currency) or at market."""
        return self.order(account, symbol, _positive_qty(qty), price)

    def sell(self, account: int, symbol: str, qty: int, price: Number | None = None) -> Result:
        """Sell ``qty`` contracts (> 0) at ``price`` (limit, quote currency) or at market."""
        return self.order(account, symbol, -_positive_qty(qty), price)

    def position(self, account: int, symbol: str) -> Position:
        """The account's position in ``symbol`` (``qty`` signed contracts, ``cost`` in minor units); flat if none.

        ``account`` must be open (:meth:`open_account`), or ``-1``, the liquidation engine.
        """
        self._instrument(symbol)
        return self.engine.positions(self._account(account)).get(symbol, Position())

    def wallet(self, account: int, asset: str = "XBt") -> int:
        """The account's wallet balance in minor units of ``asset`` (``XBt``, ``USDt``); ``account`` must be open."""
        get_coin_scale(asset)
        if self._account(account) == LIQUIDATOR:
            raise InputError("account", "the liquidation engine (-1) has no wallet")
        return self.engine.wallet(account, asset)

    def insurance(self, asset: str = "XBt") -> int:
        """The insurance fund in minor units of ``asset``."""
        get_coin_scale(asset)
        return self.engine.insurance(asset)

    def state_hash(self) -> str:
        """SHA-256 of the whole canonical state (what ``perpspec replay`` prints)."""
        return self.engine.state_hash()


# --------------------------------------------------------------------------- scenarios and proofs


def scenarios() -> tuple[str, ...]:
    """Names of the shipped stress scenarios (``perpspec simulate --list``)."""
    from perpspec.engine.simulation.scenario import builtin_names

    return builtin_names()


def simulate(
    scenario: str = "default_crash",
    *,
    out: str | Path = "perpspec-out",
    seed: int | None = None,
    overrides: Mapping[str, str | int] | None = None,
) -> dict[str, Any]:
    """Run a scenario (shipped name or TOML path) through the engine; writes the event log and journal under ``out``.

    ``overrides`` sets scenario fields by dotted name (``{"accounts.count": 100}``).
    Returns the summary figures (``summary.json``): money in minor units.
    """
    from perpspec.engine.simulation.scenario import ScenarioError, load_scenario
    from perpspec.engine.simulation.simulate import run_scenario

    for name, value in (overrides or {}).items():
        if isinstance(value, int):
            _check_size(value, name)
    pairs = [(name, str(value)) for name, value in (overrides or {}).items()]
    try:
        loaded = load_scenario(scenario, pairs, seed=seed)
    except ScenarioError as error:
        raise InputError("scenario", str(error)) from error
    return run_scenario(loaded, Path(out)).summary()


def prove(only: str | None = None, *, timeout_ms: int | None = None) -> list[Outcome]:
    """Run the proof obligations whose id matches ``only`` (glob or substring); each :class:`Outcome` has ``.passed``.

    Needs the ``prove`` extra (``pip install 'perpspec[prove]'``).
    """
    if timeout_ms is not None and (isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int) or timeout_ms <= 0):
        raise InputError("timeout_ms", f"a positive number of milliseconds, got {timeout_ms!r}")
    try:
        from perpspec.proofs.registry import discover, run_obligation
    except ModuleNotFoundError as error:
        if error.name == "z3":
            raise ImportError(MISSING_Z3) from error
        raise
    from perpspec.engine.cli.prove import matches

    selected = [obligation for obligation in discover() if matches(obligation.id, only)]
    if not selected:
        raise InputError("only", f"no obligation id matches {only!r}")
    return [run_obligation(obligation, timeout_ms) for obligation in selected]
