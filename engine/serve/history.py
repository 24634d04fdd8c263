"""``GET /order`` and ``GET /execution`` over an account's history, without building every row (redteam28_2).

An account remembers up to 20,000 orders and 20,000 executions (views.py), and the handlers run on the one loop
that applies every command: building a row for each before filtering and paging held the loop 0.3-0.7 s a request.
Here the remembered records are read in the requested order (newest first for ``reverse``), lazily: a record is
skipped on its own fields when a ``filter`` entry (symbol, side, ordStatus, open, clOrdID, ...) or the time range
refuses it, a row is built only for a record that may be kept, and reading stops once ``start + count`` rows are
kept (:func:`listing.take`, which still applies the whole listing to each built row: the answer is BitMEX's
semantics exactly as before).  ``{"open": true}`` (ccxt ``fetch_open_orders``), or any filter that refuses every
closed status, reads the open-order index only.

A filter on a field not among the record's own (``avgPx``, ``stopPx``, ``timeInForce``, ...) still builds each row it
reads: at most the history's 20,000, and only for such a request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Final

from perpspec.engine.core.exchange import Engine
from perpspec.engine.serve import rows
from perpspec.engine.serve.listing import Listing, Row, take
from perpspec.engine.serve.units import iso_timestamp, price_out
from perpspec.engine.serve.views import ExecutionRecord, OrderRecord, Views

CLOSED_STATUSES: Final = ("Filled", "Canceled", "Rejected", "Expired")

# a row field whose value is the record's own (the same value order_row / execution_row put in the row)
ORDER_FIELDS: Final[dict[str, Callable[[OrderRecord], Any]]] = {
    "symbol": lambda r: r.symbol,
    "side": lambda r: r.side,
    "ordStatus": lambda r: r.ord_status,
    "open": lambda r: r.ord_status,  # the "open" test reads ordStatus (listing.Listing.keeps)
    "clOrdID": lambda r: r.cl_ord_id,
    "account": lambda r: r.account,
    "orderQty": lambda r: r.order_qty,
    "leavesQty": lambda r: r.leaves_qty,
    "cumQty": lambda r: r.cum_qty,
    "ordType": lambda r: rows.bitmex_ord_type(r.ord_type),
    "execInst": lambda r: r.exec_inst,
    "text": lambda r: r.text,
}
EXECUTION_FIELDS: Final[dict[str, Callable[[ExecutionRecord], Any]]] = {
    "symbol": lambda e: e.report.symbol,
    "side": lambda e: e.report.side,
    "execType": lambda e: e.report.exec_type,
    "ordStatus": lambda e: e.report.ord_status,
    "open": lambda e: e.report.ord_status,
    "clOrdID": lambda e: e.report.cl_ord_id,
    "account": lambda e: e.report.account,
    "lastQty": lambda e: e.report.last_qty,
    "orderQty": lambda e: e.report.order_qty,
}


def _prefilter(listing: Listing, fields: dict[str, Callable[[Any], Any]], time_ms: Callable[[Any], int]
               ) -> Callable[[Any], bool]:
    """A test of a record on its own fields: False only when the built row could not be kept."""
    checks = [(fields[name], test) for name, test in listing.tests if name in fields]
    after, before = listing.after, listing.before
    timed = listing.time_key == "timestamp" and (after is not None or before is not None)

    def admitted(record: Any) -> bool:
        for get, test in checks:
            if not test(get(record)):
                return False
        if timed:
            stamp = iso_timestamp(time_ms(record))
            if (after is not None and stamp < after) or (before is not None and stamp > before):
                return False
        return True

    return admitted


def order_rows(listing: Listing, views: Views, exchange: Engine, account: int, symbol: str | None) -> list[Row]:
    """The account's orders as ``GET /order`` answers them (``symbol``: that contract's only)."""
    instruments = exchange.instruments()
    open_only = not any(listing.admits("open", s) and listing.admits("ordStatus", s) for s in CLOSED_STATUSES)
    fields = {**ORDER_FIELDS, "price": lambda r: price_out(instruments[r.symbol], r.price) if r.price else None}
    admitted = _prefilter(listing, fields, lambda r: r.timestamp)
    records = views.order_records(account, newest_first=listing.reverse, open_only=open_only)
    wanted: Iterator[OrderRecord] = (r for r in records if (symbol is None or r.symbol == symbol) and admitted(r))
    return take(listing, (rows.order_row(instruments[r.symbol], r, exchange) for r in wanted))


def execution_rows(listing: Listing, views: Views, exchange: Engine, account: int, symbol: str | None,
                   trades_only: bool) -> list[Row]:
    """The account's executions as ``GET /execution`` (``/execution/tradeHistory``: trades only) answers them."""
    instruments = exchange.instruments()
    admitted = _prefilter(listing, EXECUTION_FIELDS, lambda e: e.report.time_ms)
    history = views.executions.get(account, ())
    ordered = reversed(history) if listing.reverse else iter(history)
    wanted = (e for e in ordered if (symbol is None or e.report.symbol == symbol)
              and (not trades_only or e.report.exec_type == "Trade") and admitted(e))
    return take(listing, (rows.execution_row(instruments[e.report.symbol], e) for e in wanted))
