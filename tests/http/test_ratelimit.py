"""Token buckets per caller: bursts, refill, independence of callers, bounded memory."""

from __future__ import annotations

import pytest

from opendepin.http.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_one_token_per_interval() -> None:
    clock = Clock()
    limiter = RateLimiter(2.0, 3, clock=clock)
    assert [limiter.take("a") for _ in range(3)] == [None, None, None]
    assert limiter.take("a") == 1  # empty: the next token is 0.5 s away, said as 1 s
    clock.now += 0.5
    assert limiter.take("a") is None
    assert limiter.take("a") == 1
    clock.now += 60
    assert [limiter.take("a") for _ in range(4)] == [None, None, None, 1]  # refill caps at burst


def test_callers_do_not_share_a_bucket() -> None:
    limiter = RateLimiter(1.0, 1, clock=Clock())
    assert limiter.take("a") is None
    assert limiter.take("a") == 1
    assert limiter.take("b") is None


def test_a_slow_rate_says_how_long_to_wait() -> None:
    limiter = RateLimiter(0.1, 1, clock=Clock())
    assert limiter.take("a") is None
    assert limiter.take("a") == 10


def test_memory_is_bounded_by_max_callers() -> None:
    clock = Clock()
    limiter = RateLimiter(1.0, 1, max_callers=2, clock=clock)
    for caller in ("a", "b", "c"):
        assert limiter.take(caller) is None
    assert limiter.take("a") is None  # "a" was forgotten (oldest), so it starts full again
    assert limiter.take("c") == 1


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (-1.0, 1), (1.0, 0)])
def test_a_limit_that_could_never_admit_is_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate, burst)
