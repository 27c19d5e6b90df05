"""The per-interface token buckets that guard the queue against one flooding VM."""

from __future__ import annotations

from nfdhcpd.shell.ratelimit import RateLimiter


def test_burst_passes_then_the_rate() -> None:
    limiter = RateLimiter(rate=10, burst=5)
    assert [limiter.allow(7, 0.0) for _ in range(7)] == [True] * 5 + [False] * 2
    assert limiter.allow(7, 0.05) is False  # half a token
    assert limiter.allow(7, 0.1) is True  # one token after 1/rate seconds
    assert limiter.allow(7, 0.1) is False


def test_bucket_refills_up_to_burst_only() -> None:
    limiter = RateLimiter(rate=10, burst=3)
    for _ in range(3):
        assert limiter.allow(1, 0.0)
    passed = sum(limiter.allow(1, 100.0) for _ in range(10))
    assert passed == 3


def test_interfaces_do_not_share_a_bucket() -> None:
    limiter = RateLimiter(rate=1, burst=1)
    assert limiter.allow(1, 0.0)
    assert not limiter.allow(1, 0.0)
    assert limiter.allow(2, 0.0)


def test_memory_is_bounded() -> None:
    limiter = RateLimiter(rate=1, burst=1, max_keys=4)
    for key in range(100):
        limiter.allow(key, 0.0)
    assert len(limiter._buckets) <= 4
