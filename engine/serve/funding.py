"""The server's funding schedule and rate: what the price feed pays and what the instrument rows announce.

One place for both, so the ``instrument`` row's ``fundingTimestamp`` / ``indicativeFundingRate`` are exactly the
instant and the rate the feed's next ``FundingTick`` uses:

* the instants: FND-012 (:func:`~perpspec.rules.funding.compute_next_funding_ms`) on BitMEX's grid, 04:00 UTC
  plus whole funding intervals (04:00, 12:00, 20:00 for 8 hours);
* the rate: FND-005 (:func:`~perpspec.rules.funding.compute_funding_rate_e8`) with the interval's interest
  (FND-002: the instrument's fixed daily interest, else 0.03 % a day) and a premium index of 0 (the default feed
  quotes no book to sample), capped against the last rate paid.

Only the rules compute; this module chooses their inputs.  Rows announce funding only when a feed pays it
(``Views.funding_scheduled``): ``perpspec serve --no-feed`` pays none, so its rows carry ``fundingTimestamp`` and
``indicativeFundingRate`` null, and ``fundingRate`` null until a rate is paid (a choice: BitMEX always funds, and
a client told of an instant nobody pays would book a payment that never comes).
"""

from __future__ import annotations

from typing import Final

from perpspec.rules.funding import (
    compute_funding_rate_e8,
    compute_interval_interest_e8,
    compute_next_funding_ms,
)
from perpspec.rules.instrument import Instrument

DEFAULT_INTEREST_DAILY_E8: Final = 30_000  # 0.03 % a day (BitMEX's fixed interest for XBT/USD)
FUNDING_OFFSET_MS: Final = 4 * 3_600_000  # the funding grid starts at 04:00 UTC


def funds(inst: Instrument) -> bool:
    """True for a contract that pays funding (a perpetual with an interval)."""
    return inst.is_perpetual and inst.funding_interval_ms > 0


def next_funding_ms(inst: Instrument, now_ms: int) -> int:
    """FND-012: the first funding instant after ``now_ms`` (``inst`` must :func:`fund <funds>`)."""
    return compute_next_funding_ms(now_ms, inst.funding_interval_ms, FUNDING_OFFSET_MS)


def indicative_rate_e8(inst: Instrument, previous_e8: int) -> int:
    """FND-005: the rate the next funding instant pays, ``previous_e8`` the last rate paid (0 before the first)."""
    daily = DEFAULT_INTEREST_DAILY_E8 if inst.fixed_interest_daily_ppm is None else inst.fixed_interest_daily_ppm * 100
    interest = compute_interval_interest_e8(daily, inst.funding_interval_ms)
    return compute_funding_rate_e8(inst, 0, interest, previous_e8)
