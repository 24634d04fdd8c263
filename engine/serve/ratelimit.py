"""Rate limits as BitMEX states them: N requests per minute per key (or per IP without a key).

A token bucket per client in integer milli-tokens: full at ``limit``, refilled
at ``limit`` per 60 s.  :meth:`RateLimiter.take` says whether a request may
pass and the numbers for BitMEX's headers (``x-ratelimit-limit``,
``x-ratelimit-remaining``, ``x-ratelimit-reset``: the epoch second at which
the bucket is full again) or, refused, how long to wait (``Retry-After``).
"""

from __future__ import annotations

from typing import Final

import attrs

MINUTE_MS: Final = 60_000
MAX_CLIENTS: Final = 100_000  # buckets kept; when a new client would exceed it, the fullest are dropped first


@attrs.frozen(kw_only=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_s: int  # epoch second when the bucket is full again
    retry_after_s: int  # 0 when allowed

    def headers(self) -> dict[str, str]:
        out = {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(self.reset_s),
        }
        if not self.allowed:
            out["Retry-After"] = str(self.retry_after_s)
        return out


class RateLimiter:
    """Token buckets keyed by client (an API key id, or ``ip:<address>``)."""

    def __init__(self, limit_per_minute: int) -> None:
        self.limit = max(1, limit_per_minute)
        self._buckets: dict[str, tuple[int, int]] = {}  # client -> (milli-tokens, at ms)

    def _tokens(self, client: str, now_ms: int) -> int:
        """The client's milli-tokens at ``now_ms`` (a client without a bucket has a full one)."""
        capacity = self.limit * 1000
        tokens, at = self._buckets.get(client, (capacity, now_ms))
        elapsed = max(0, now_ms - at)
        return min(capacity, tokens + elapsed * self.limit * 1000 // MINUTE_MS)  # floor: never more than earned

    def _make_room(self, now_ms: int) -> None:
        """Drop buckets so that a new client fits: the full ones (forgetting a full bucket changes nothing: a new
        client's bucket is full), then, if every client spent tokens within the last minute, the fullest half.

        Never all of them: a flood of fresh clients (rotated source addresses) must not hand a throttled key or
        address a full bucket again (it did: the table was cleared).  The emptiest buckets, the ones being limited,
        are the last dropped.  Each drop frees at least half the table, so the cost per request stays constant.
        """
        capacity = self.limit * 1000
        levels = sorted(((self._tokens(client, now_ms), client) for client in self._buckets), reverse=True)
        full = sum(1 for tokens, _ in levels if tokens >= capacity)
        for _, client in levels[: max(full, len(levels) // 2)]:
            del self._buckets[client]

    def take(self, client: str, now_ms: int) -> Verdict:
        capacity = self.limit * 1000
        tokens = self._tokens(client, now_ms)
        allowed = tokens >= 1000
        if allowed:
            tokens -= 1000
        if len(self._buckets) >= MAX_CLIENTS and client not in self._buckets:
            self._make_room(now_ms)
        self._buckets[client] = (tokens, now_ms)
        missing = capacity - tokens
        refill_ms = -(-missing * MINUTE_MS // (self.limit * 1000))  # ceiling: the reset is never early
        wait_ms = 0 if allowed else -(-(1000 - tokens) * MINUTE_MS // (self.limit * 1000))
        return Verdict(
            allowed=allowed,
            limit=self.limit,
            remaining=tokens // 1000,
            reset_s=(now_ms + refill_ms + 999) // 1000,
            retry_after_s=max(1, (wait_ms + 999) // 1000) if not allowed else 0,
        )
