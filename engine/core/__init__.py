"""The executor: commands in, events out, every decision a call into :mod:`perpspec.rules`.

The exchange (:mod:`.exchange`) with its accounts, orders, book, triggers, prices, funding,
settlement, liquidation waterfall and ADL; the command and event types; nothing here reads a
clock, a file or randomness.
"""
