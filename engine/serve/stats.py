"""``GET /stats``: BitMEX's exchange statistics per root symbol and settlement currency (ccxt's ``fetch_open_interest``).

BitMEX's ``Stats`` rows (its API explorer; the sample in ccxt 4.5.83's ``fetch_open_interests``): ``rootSymbol``,
``currency`` (the settlement currency), ``volume24h`` (contracts), ``turnover24h`` (settlement minor units),
``openInterest`` (contracts), ``openValue`` (settlement minor units), one row per root and currency (XBT in XBt:
XBTUSD and XBTZ26; XBT in USDt: XBTUSDT; ETH in XBt: ETHUSD) and a ``Total`` row per currency, whose contract counts
are 0 (contracts of different series do not add) and whose values are the sums.  Spot pairs have no open interest
and are left out.

Every figure is the engine's or the event stream's, integers throughout, computed by the functions the instrument
rows use too (``rows.open_interest``, ``rows.open_value``, ``Views.day_volume``: the same figures in both):

* ``openInterest``: the long contracts held -- every holder's long position (``holders``) and the liquidation
  engine's taken-over longs (its pending close-outs, account -1), as the simulator's ``openInterest``;
* ``openValue``: CON-003's value of that open interest at the mark (``compute_notional``), 0 before a mark;
* ``volume24h`` / ``turnover24h``: the public tape's contracts and CON-003 values over the last 24 hours at minute
  resolution (:meth:`Views.day_volume`).

ccxt builds the symbol as ``root/currency:currency``: XBT in USDt reads as ``BTC/USDT:USDT`` (the linear perpetual's
market), XBT in XBt as ``BTC/BTC:BTC``, which is no market -- so ``fetch_open_interest("BTC/USD:BTC")`` finds
nothing, on BitMEX as here (a quirk of ccxt's, left as it is).
"""

from __future__ import annotations

from typing import Any

from perpspec.engine.core.exchange import Engine
from perpspec.engine.serve.rows import open_interest, open_value, underlying_of
from perpspec.engine.serve.views import Views
from perpspec.rules.instrument import ContractKind


def stats_rows(exchange: Engine, views: Views, now_ms: int) -> list[dict[str, Any]]:
    """The ``Stats`` rows: one per (rootSymbol, currency), then a ``Total`` per currency."""
    groups: dict[tuple[str, str], list[int]] = {}  # (root, currency) -> [volume, turnover, open interest, open value]
    for symbol, inst in sorted(exchange.instruments().items()):
        if inst.kind is ContractKind.SPOT:
            continue
        contracts, value = views.day_volume(symbol, now_ms)
        held = open_interest(exchange, inst)
        worth = open_value(exchange, inst, held)
        sums = groups.setdefault((underlying_of(inst), inst.settl_currency), [0, 0, 0, 0])
        for index, figure in enumerate((contracts, value, held, worth)):
            sums[index] += figure
    rows = [_row(root, currency, sums) for (root, currency), sums in sorted(groups.items())]
    for currency in sorted({currency for _root, currency in groups}):
        parts = [sums for (_root, c), sums in groups.items() if c == currency]
        rows.append(_row("Total", currency, [0, sum(p[1] for p in parts), 0, sum(p[3] for p in parts)]))
    return rows


def _row(root: str, currency: str, sums: list[int]) -> dict[str, Any]:
    volume, turnover, held, worth = sums
    return {"rootSymbol": root, "currency": currency, "volume24h": volume, "turnover24h": turnover,
            "openInterest": held, "openValue": worth}
