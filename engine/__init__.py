"""The deterministic matching engine that executes the rulebook, in five rooms.

* :mod:`perpspec.engine.core` — the executor (commands in, events out);
* :mod:`perpspec.engine.durability` — codec, journal, snapshots, recovery;
* :mod:`perpspec.engine.simulation` — scenarios, the stress runner, its report, what-if;
* :mod:`perpspec.engine.cli` — the ``perpspec`` command line;
* :mod:`perpspec.engine.bench` — benchmarks and the native build.

Dependencies point one way: cli → simulation / durability → core → :mod:`perpspec.rules`.
See ``engine/README.md``.
"""
