"""The default price feed: a shipped scenario's index path, replayed in real time.

``perpspec serve`` with no price source replays the index path of a built-in
scenario (``calm`` by default) as mark and index updates: step ``k`` of the
path is applied ``k × step / speed`` after start.  The scenario's instrument
follows the path itself; every other instrument follows it in proportion
(its own starting price × path / path[0]), so that all contracts have a mark
and trade.  At the end of the path the feed holds the last price.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Final

from perpspec.engine.core import commands as cmd
from perpspec.engine.serve.gateway import Gateway
from perpspec.engine.simulation.scenario import generate_index_path, load_scenario

log = logging.getLogger("perpspec.serve")

# starting prices in quote units of the instruments that are not the scenario's own
START_PRICES: Final[Mapping[str, int]] = {"ETHUSD": 3_000}


class PriceFeed:
    """Mark/index updates from a scenario path, for every instrument."""

    def __init__(self, gateway: Gateway, scenario: str = "calm", speed: int = 1) -> None:
        self.gateway = gateway
        loaded = load_scenario(scenario)
        self.symbol = loaded.instrument.symbol
        self.scale = loaded.instrument.price_scale
        self.path = generate_index_path(loaded)
        self.step_ms = max(1, loaded.step_ms // max(1, speed))
        self.position = 0

    def prices_at(self, step: int) -> dict[str, int]:
        """Mark price (price units) of every instrument at ``step`` of the path."""
        exchange = self.gateway.exchange
        base = self.path[0]
        now = self.path[min(step, len(self.path) - 1)]
        out: dict[str, int] = {}
        for symbol, inst in sorted(exchange.instruments().items()):
            if symbol in getattr(exchange, "settled", {}):
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

    async def run(self) -> None:
        """Apply step 0 at once, then one step per interval until the path ends (bounded by its length)."""
        for step in range(len(self.path)):
            self.position = step
            self.apply(step)
            await asyncio.sleep(self.step_ms / 1000)
