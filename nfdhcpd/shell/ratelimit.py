"""Token buckets per ingress interface, checked before a packet is even parsed.

One NFQUEUE serves every VM in arrival order: a VM that floods it would starve
the others. Each interface (the TAP, or the bridge port) gets `rate` packets a
second with bursts of `burst`; the rest are dropped at the cost of a dict lookup.
"""

from __future__ import annotations


class RateLimiter:
    def __init__(self, rate: float, burst: int, max_keys: int = 65536) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.max_keys = max_keys
        self._buckets: dict[int, list[float]] = {}  # key -> [tokens, last refill]

    def allow(self, key: int, now: float) -> bool:
        """Take a token from `key`'s bucket; False when it is empty."""
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:  # TAPs come and go: start afresh
                self._buckets.clear()
            self._buckets[key] = [self.burst - 1.0, now]
            return True
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens < 1.0:
            bucket[0] = tokens
            return False
        bucket[0] = tokens - 1.0
        return True
