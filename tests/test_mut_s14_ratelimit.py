"""The serve rate limiter's table bound and its drop measured by mutants (session 14, helper "mut14").

Found by ``python -m tests.mutation engine/serve/ratelimit.py`` on session 13's lines (red team 6: a flood of fresh
clients no longer clears the table): ``RateLimiter`` keeps at most ``MAX_CLIENTS`` buckets, and a new client that
would exceed it drops the full buckets, or else the fullest half (each drop frees at least half the table, so the
cost per request stays constant; the emptiest buckets, the clients being limited, stay).  The tests in
``test_serve_ratelimit_flood.py`` shrink the table, so nothing held the shipped bound, and none filled a table
whose every bucket had spent tokens.
"""

from __future__ import annotations

import pytest

from perpspec.engine.serve import ratelimit
from perpspec.engine.serve.ratelimit import RateLimiter


def test_the_shipped_table_keeps_at_most_a_hundred_thousand_buckets() -> None:
    """Kills ``MAX_CLIENTS = 100_000`` -> ``100_001`` (the memory bound of the server under a flood of addresses).

    100,000 clients fill the table; the 100,001st makes room first (the others' buckets are full again after a
    minute: all dropped), so the table never holds more than 100,000 buckets."""
    limiter = RateLimiter(limit_per_minute=60)
    for n in range(100_000):
        limiter.take(f"ip:{n}", 0)
    assert len(limiter._buckets) == 100_000
    limiter.take("ip:late", 0)
    assert len(limiter._buckets) <= 100_000


def test_a_full_table_of_spending_clients_drops_its_fullest_half(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kills ``len(levels) // 2`` -> ``len(levels) // 3`` in ``RateLimiter._make_room``.

    200 clients have each spent tokens within the minute (client n spent n % 5 + 1 of 10, so none is full): the
    201st drops the fullest 100 (the ones that spent least), keeps the 100 that spent most, and enters: 101
    buckets.  Dropping only a third left the table two thirds full, so a flood paid a sort of the table every
    third of it instead of every half (and kept more buckets than the bound's amortisation allows)."""
    monkeypatch.setattr(ratelimit, "MAX_CLIENTS", 200)
    limiter = RateLimiter(limit_per_minute=10)
    spent = {f"c{n}": n % 5 + 1 for n in range(200)}
    for client, count in spent.items():
        for _ in range(count):
            assert limiter.take(client, 0).allowed
    limiter.take("new", 0)
    assert len(limiter._buckets) == 101
    kept = set(limiter._buckets) - {"new"}
    assert min(spent[client] for client in kept) >= max(spent[client] for client in set(spent) - kept)


def test_the_verdicts_headers_count_a_full_bucket_of_limit_tokens() -> None:
    """Kills ``capacity = self.limit * 1000`` -> ``// 1000`` and ``1000 -> 1001`` in ``RateLimiter.take``.

    ``take``'s capacity is what the reset header counts to: 60 requests a minute, one taken at t=0 leaves 59 and
    the bucket is full again one second later (x-ratelimit-reset 1); the client that spent all 60 is told to retry
    in one second and that the bucket is full again at 60.  The mutants reported a reset in the past (-59) or a
    second late."""
    limiter = RateLimiter(limit_per_minute=60)
    first = limiter.take("k", 0)
    assert (first.allowed, first.remaining, first.reset_s, first.retry_after_s) == (True, 59, 1, 0)
    for _ in range(59):
        limiter.take("k", 0)
    spent = limiter.take("k", 0)
    assert (spent.allowed, spent.remaining, spent.reset_s, spent.retry_after_s) == (False, 0, 60, 1)
