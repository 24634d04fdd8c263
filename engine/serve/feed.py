"""The default price feed: a shipped scenario's index path, replayed in real time.

``perpspec serve`` with no price source replays the index path of a built-in
scenario (``calm`` by default) as mark and index updates: step ``k`` of the
path is applied ``k × step / speed`` after start.  The scenario's instrument
follows the path itself; every other instrument follows it in proportion
(its own starting price × path / path[0]), so that all contracts have a mark
and trade.  At the end of the path the feed holds the last price.

Funding: at BitMEX's funding instants (04:00, 12:00 and 20:00 UTC for an 8-hour interval, FND-012)
every perpetual gets a ``FundingTick`` at the rate FND-005 computes from the interval's interest
(FND-002, the instrument's fixed interest or 0.03 % a day) and a premium index of 0: the default
feed quotes no book, so there is no premium to sample.

The tick is stamped with the funding instant itself and applied before any command stamped at or after
it (:attr:`Gateway.before`, set by the feed): the positions held at the instant pay, as on BitMEX, and
the ``funding`` row says the instant -- not the feed's next wake (up to a second later), when a trade
sent in between would already have moved the position.  A tick held by FND-020 (a pool carried) is sent
again at the next command or wake, stamped then: it is paid later, and its row says when.

Only a server with a feed pays funding: :attr:`Views.funding_scheduled` tells the instrument rows so,
and ``perpspec serve --no-feed`` announces no ``fundingTimestamp`` or ``indicativeFundingRate``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Final

from perpspec.engine.core import commands as cmd
from perpspec.engine.core.events import Accepted, Event, Reason, Rejected
from perpspec.engine.serve.funding import (
    DEFAULT_INTEREST_DAILY_E8,
    FUNDING_OFFSET_MS,
    funds,
    indicative_rate_e8,
    next_funding_ms,
)
from perpspec.engine.serve.gateway import Gateway
from perpspec.engine.serve.makers import MarketMaker
from perpspec.engine.serve.rows import is_settled, last_funding_rate_e8
from perpspec.engine.simulation.scenario import generate_index_path, load_scenario

log = logging.getLogger("perpspec.serve")

# starting prices in quote units of the instruments that are not the scenario's own
START_PRICES: Final[Mapping[str, int]] = {"ETHUSD": 3_000}
__all__ = ["DEFAULT_INTEREST_DAILY_E8", "FUNDING_OFFSET_MS", "PriceFeed"]
WAKE_MS: Final = 1_000  # the feed checks for a due price step or funding instant this often


class PriceFeed:
    """Mark/index updates from a scenario path, for every instrument."""

    def __init__(self, gateway: Gateway, scenario: str = "calm", speed: int = 1, maker: MarketMaker | None = None) -> None:
        self.gateway = gateway
        self.maker = maker
        loaded = load_scenario(scenario)
        self.symbol = loaded.instrument.symbol
        self.scale = loaded.instrument.price_scale
        self.path = generate_index_path(loaded)
        self.step_ms = max(1, loaded.step_ms // max(1, speed))
        self.position = 0
        self.rates: dict[str, int] = {}  # last funding rate per symbol (the change cap's reference)
        self.next_funding: dict[str, int] = {}
        self._funding = False  # a round of FundingTicks is being sent (fund_if_due is not re-entered)
        gateway.views.funding_scheduled = True  # the instrument rows may announce the instants this feed pays
        gateway.before = self.fund_if_due  # a due instant is paid before any later command

    def prices_at(self, step: int) -> dict[str, int]:
        """Mark price (price units) of every instrument at ``step`` of the path."""
        exchange = self.gateway.exchange
        base = self.path[0]
        now = self.path[min(step, len(self.path) - 1)]
        out: dict[str, int] = {}
        for symbol, inst in sorted(exchange.instruments().items()):
            if is_settled(exchange, symbol):
                continue
            if symbol == self.symbol or symbol.startswith("XBT"):
                start = base * inst.price_scale // self.scale  # exact: both scales are powers of ten here
            else:
                start = START_PRICES.get(symbol, 1_000) * inst.price_scale
            price = start * now // base  # floor: a display price path, nobody's money depends on the rounding
            price -= price % inst.tick_size  # onto the tick, downward
            out[symbol] = max(inst.tick_size, price)
        return out

    def apply(self, step: int) -> None:
        for symbol, price in self.prices_at(step).items():
            events = self.gateway.execute(
                cmd.PriceUpdate(time_ms=self.gateway.now_ms(), symbol=symbol, mark_price=price, index_price=price)
            )
            if events and type(events[-1]).__name__ == "Rejected":
                log.debug("price update refused: %s", events[-1])
        if self.maker is not None:
            self.maker.requote()

    def funding_rate_e8(self, symbol: str) -> int:
        """FND-005 with the interval's interest and no premium (:mod:`.funding`; the instrument row's
        ``indicativeFundingRate``), capped against the last rate paid (this feed's, else the journal's)."""
        inst = self.gateway.exchange.instruments()[symbol]
        previous = self.rates.get(symbol)
        if previous is None:
            previous = last_funding_rate_e8(self.gateway.views, symbol) or 0
        return indicative_rate_e8(inst, previous)

    def fund_if_due(self, now_ms: int) -> list[str]:
        """A FundingTick for every perpetual whose funding instant has come; the symbols funded.

        Also the gateway's :attr:`~Gateway.before` hook: its own FundingTicks pass through the gateway too, and must
        not start another round (each instant is paid once)."""
        if self._funding:
            return []
        self._funding = True
        try:
            return self._fund_due(now_ms)
        finally:
            self._funding = False

    def _fund_due(self, now_ms: int) -> list[str]:
        funded = []
        exchange = self.gateway.exchange
        for symbol, inst in sorted(exchange.instruments().items()):
            if not funds(inst) or is_settled(exchange, symbol):
                continue
            due = self.next_funding.setdefault(symbol, next_funding_ms(inst, now_ms))
            if now_ms < due:
                continue
            rate = self.funding_rate_e8(symbol)
            at = max(due, self.gateway.exchange.time_ms)  # the instant; later only if a held instant is retried
            journaled = self.gateway.durable.writer.next_seq
            events: list[Event] | None = None
            try:
                events = self.gateway.execute(cmd.FundingTick(time_ms=at, symbol=symbol, rate_e8=rate))
            finally:
                # the instant is done once the journal holds its tick (whatever was raised after: redteam28_5, a tick
                # journaled and applied, then an exception, was sent again by every later command and paid N times);
                # it stays due only when the engine held it (FND-020, a typed refusal) or nothing reached the journal
                last = events[-1] if events else None
                held = isinstance(last, Rejected) and last.reason == Reason.LIQUIDATION_PENDING
                if not held and (events is not None or self.gateway.durable.writer.next_seq != journaled):
                    self.next_funding[symbol] = next_funding_ms(inst, now_ms)
            if events and isinstance(events[-1], Accepted):
                self.rates[symbol] = rate
                funded.append(symbol)
        return funded

    async def run(self) -> None:
        """Apply step 0 at once, then one step per interval; fund at funding instants (until cancelled).

        A wake that fails is logged (once per episode, and its end) and the next wake tries again: the feed's task
        never dies of one failure (redteam28_1: it once ended silently, and prices and funding stopped for good)."""
        started = self.gateway.now_ms()
        started_path = failing = False
        while True:
            try:
                if not started_path:
                    self.apply(0)
                    started_path = True
                else:
                    now = self.gateway.now_ms()
                    step = min(len(self.path) - 1, (now - started) // self.step_ms)
                    if step > self.position:
                        self.position = step
                        self.apply(step)
                    self.fund_if_due(now)
            except Exception:
                if not failing:
                    log.exception("price feed: a wake failed (tried again every %d ms)", WAKE_MS)
                failing = True
            else:
                if failing:
                    log.warning("price feed: running again")
                failing = False
            await asyncio.sleep(WAKE_MS / 1000)
