"""The scenario generator's seeded randomness: SplitMix64, integers only.

Every "random" number of a stress scenario — the noise on the index path, who
is long, with what leverage and size, the order flow and the makers' quotes —
comes from a :class:`SplitMix64` seeded by the scenario's ``seed``, forked into
one independent stream per purpose (:meth:`SplitMix64.fork`).  Same scenario +
same seed = same numbers on every machine and every Python.  The exchange
itself never sees randomness, only the commands built from these numbers.
Split out of ``scenario.py``, which uses it for the index path's noise.
"""

from __future__ import annotations

from collections.abc import Sequence

from perpspec.rules.num import PPM

MASK64 = (1 << 64) - 1


class SplitMix64:
    """Steele, Lea & Flood's SplitMix64: 64-bit integers from a 64-bit seed, integers only.

    Small, fast, and its output depends on nothing but the seed — not on the
    Python version, the platform or ``PYTHONHASHSEED``.
    """

    __slots__ = ("state",)

    def __init__(self, seed: int) -> None:
        self.state = seed & MASK64

    def next64(self) -> int:
        """The next 64-bit output."""
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, bound: int) -> int:
        """Uniform integer in ``[0, bound)`` (rejection sampling, no modulo bias)."""
        assert bound > 0
        limit = (1 << 64) - ((1 << 64) % bound)
        while True:
            value = self.next64()
            if value < limit:
                return value % bound

    def between(self, low: int, high: int) -> int:
        """Uniform integer in ``[low, high]``."""
        return low + self.below(high - low + 1)

    def chance_ppm(self, probability_ppm: int) -> bool:
        """True with probability ``probability_ppm / 1e6``."""
        return self.below(PPM) < probability_ppm

    def normal_ppm(self, sigma_ppm: int) -> int:
        """Approximately normal with mean 0 and standard deviation ``sigma_ppm`` (Irwin–Hall, 12 draws)."""
        total = 0
        for _ in range(12):
            total += self.next64() >> 44  # 20-bit uniform
        # sum of 12 uniforms on [0, 2^20) has mean 6 * 2^20 and std 2^20
        return (total - 6 * (1 << 20)) * sigma_ppm // (1 << 20)  # floor: noise, nobody is favoured

    def log_uniform(self, low: int, high: int) -> int:
        """Roughly log-uniform in ``[low, high]`` (``0 < low <= high``): a uniform doubling, then uniform within it."""
        doublings = (high // low).bit_length() - 1  # whole doublings of low that fit below high
        start = low << self.below(doublings + 1)
        return self.between(start, min(2 * start - 1, high)) if start < high else high

    def weighted(self, weights: Sequence[int]) -> int:
        """Index chosen with probability proportional to ``weights`` (non-negative, not all zero)."""
        pick = self.below(sum(weights))
        for index, weight in enumerate(weights):
            if pick < weight:
                return index
            pick -= weight
        raise AssertionError("unreachable: pick < sum(weights)")

    def fork(self, label: int) -> SplitMix64:
        """An independent stream for one purpose (path, population, flow), so they never interleave."""
        return SplitMix64(self.next64() ^ (label * 0xD1B54A32D192ED03))
