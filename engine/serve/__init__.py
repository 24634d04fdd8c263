"""``perpspec serve``: a BitMEX-compatible REST + WebSocket exchange in front of the durable engine.

Unmodified BitMEX clients (ccxt 4.5.83 sync, async and pro; bitmex-ws; bravado) trade on it.
The pieces, edge inwards:

* :mod:`.server` -- the aiohttp application, run in the foreground or in a thread;
* :mod:`.rest` -- ``/api/v1``: one route table, one request pipeline (auth, limits, parsing);
* :mod:`.ws` -- ``/realtime``: subscribe, auth, tables; :mod:`.hub` builds the table messages;
* :mod:`.keys` -- the key store (0600), BitMEX's HMAC and expiry; a withdrawal's replay refused (400, not 401);
* :mod:`.ratelimit` -- per-key and per-IP token buckets with BitMEX's headers;
* :mod:`.units` and :mod:`.errors` -- exact unit conversion at the edge, BitMEX's error strings;
* :mod:`.rows` and :mod:`.views` -- BitMEX rows from the engine and its event stream;
* :mod:`.gateway` -- the one sequencer: journal, apply, publish, in arrival order;
* :mod:`.feed` -- the default price feed (a shipped scenario's path in real time); :mod:`.funding` -- its
  funding instants and rate, which the instrument rows announce;
* :mod:`.swagger` -- the Swagger 2.0 spec from the route table; :mod:`.bench` -- the benchmark.

This package is the engine's edge: it reads the wall clock and writes decimals for clients.
Everything inside the engine stays integer and deterministic; every command the gateway sends is
journaled before its answer leaves, and replays to the same state.
"""
