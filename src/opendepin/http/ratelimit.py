"""Per-caller token buckets: how often one peer may ask for something costly.

A concurrency cap bounds how much work runs at once; it does not stop one caller from
taking every slot, again and again. A bucket per caller (an oracle's address for signed
requests) refills at `rate` tokens per second up to `burst`; a request takes one token or
is refused with the seconds until the next token, for a `Retry-After` header. Buckets of
callers not seen for a while are dropped, so memory stays bounded by the callers of the
last minute (at most `max_callers`; past that the oldest bucket is forgotten).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class RateLimiter:
    """Token buckets keyed by caller; thread-safe."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_callers: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a rate limit needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._max_callers = max_callers
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        """caller -> (tokens, time of the last update), least recently used first."""
        self._lock = threading.Lock()

    def take(self, caller: str) -> int | None:
        """None when `caller` may go ahead (one token taken); else whole seconds to wait (>= 1)."""
        now = self._clock()
        with self._lock:
            tokens, then = self._buckets.pop(caller, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
            self._buckets[caller] = (tokens, now)
            while len(self._buckets) > self._max_callers:
                self._buckets.popitem(last=False)
        if allowed:
            return None
        return max(1, math.ceil((1.0 - tokens) / self.rate))
