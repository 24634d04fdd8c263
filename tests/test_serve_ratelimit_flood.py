"""A flood of fresh clients must not refill a throttled client's bucket (red team 6, noticed: the table was cleared).

``RateLimiter`` keeps at most ``MAX_CLIENTS`` buckets.  It used to clear every bucket when a new client came with
the table full, so rotating source addresses handed a key (or address) that had spent its requests a full bucket
again.  Now a new client makes room by dropping the full buckets (nothing is lost: a new bucket is full), else the
fullest half; the emptiest, the clients being limited, stay.
"""

from __future__ import annotations

import pytest

from perpspec.engine.serve import ratelimit
from perpspec.engine.serve.ratelimit import RateLimiter


@pytest.fixture
def small_table(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(ratelimit, "MAX_CLIENTS", 200)
    return 200


def test_a_flood_of_fresh_clients_keeps_a_throttled_key_throttled(small_table: int) -> None:
    limiter = RateLimiter(limit_per_minute=3)
    now = 1_000_000
    verdicts = [limiter.take("key-A", now) for _ in range(4)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    for n in range(5 * small_table):  # rotated addresses, one request each, all within the same second
        limiter.take(f"ip:10.0.{n // 256}.{n % 256}", now + n % 1000)
    again = limiter.take("key-A", now + 1_000)
    assert not again.allowed  # old code: True (the table was cleared, key-A got a full bucket)
    assert again.retry_after_s >= 1
    assert len(limiter._buckets) <= small_table


def test_full_buckets_are_dropped_first(small_table: int) -> None:
    limiter = RateLimiter(limit_per_minute=60)
    for n in range(small_table - 1):
        limiter.take(f"old-{n}", 0)  # one request each at t=0: full again a second later
    limiter.take("busy", 100_000)
    for _ in range(30):
        limiter.take("busy", 100_000)
    busy_before = limiter._tokens("busy", 100_000)
    limiter.take("new", 100_000)  # the table is full: the refilled ones go, "busy" stays as it was
    assert "busy" in limiter._buckets
    assert limiter._tokens("busy", 100_000) == busy_before
    assert "new" in limiter._buckets
    assert len(limiter._buckets) == 2


def test_a_bucket_is_never_refilled_beyond_what_time_earned(small_table: int) -> None:
    limiter = RateLimiter(limit_per_minute=2)
    assert limiter.take("k", 0).allowed
    assert limiter.take("k", 0).allowed
    assert not limiter.take("k", 29_999).allowed  # 0.9999 of a token earned: floor
    assert limiter.take("k", 60_000).allowed
