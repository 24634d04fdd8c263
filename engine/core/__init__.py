"""The executor: commands in, events out, every decision a call into :mod:`perpspec.rules`.

:class:`.exchange.Engine` is a thin sequencer over components that each own one concern
and its slice of the state — the market (:mod:`.market`), the ledger (:mod:`.ledger`),
risk and the liquidation index (:mod:`.risk`), triggers (:mod:`.triggers`), the order
registry (:mod:`.registry`), book and fills (:mod:`.fills`), order entry (:mod:`.entry`),
the liquidation waterfall and ADL (:mod:`.waterfall`), prices, funding and settlement
(:mod:`.prices`), the account commands (:mod:`.account_desk`) and the read-only views
(:mod:`.views`); the command and event types; nothing here reads a clock, a file or
randomness.  ``engine/README.md`` has the map.
"""
