"""Retry timing: exponential backoff with jitter, and the clock the agent runs on.

After the `n`-th consecutive failed send (n ≥ 1) the agent waits

```
cap(n)   = min(max_seconds, base_seconds × factor**(n − 1))
delay(n) = cap(n) × (1 − jitter × u),   u uniform in [0, 1) from the agent's RNG
```

so with the defaults (1 s, ×2, 300 s, jitter 0.5) waits grow 0.5–1 s, 1–2 s, 2–4 s, … up to
150–300 s, and a fleet of devices that lost the ingest at the same moment does not come back
in lock-step. A success resets `n` to 0. The RNG is injected so a simulation replays exactly.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Protocol

MS_PER_SECOND = 1_000


@dataclass(frozen=True, slots=True)
class Backoff:
    """Parameters of the retry schedule."""

    base_seconds: float = 1.0
    """Wait ceiling after the first failure."""
    factor: float = 2.0
    """Growth of the ceiling per further failure."""
    max_seconds: float = 300.0
    """Largest ceiling."""
    jitter: float = 0.5
    """Fraction of the ceiling that is randomised away (0 = none, 1 = full jitter)."""

    def cap_seconds(self, failures: int) -> float:
        """The ceiling after `failures` consecutive failures (0 → no wait)."""
        if failures <= 0:
            return 0.0
        # Clamp the exponent so a long outage cannot overflow the float.
        return min(self.max_seconds, self.base_seconds * self.factor ** min(failures - 1, 64))

    def delay_seconds(self, failures: int, rng: random.Random) -> float:
        """The jittered wait after `failures` consecutive failures."""
        return self.cap_seconds(failures) * (1.0 - self.jitter * rng.random())


class Clock(Protocol):
    """Where the agent gets time from: the system, or a simulation."""

    def now_ms(self) -> int:
        """Current Unix time in milliseconds."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait (or, for a simulated clock, advance) `seconds`."""
        ...


class SystemClock:
    """Wall-clock time and real sleeping."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ManualClock:
    """A simulated clock: `sleep` advances time instantly; `advance` moves it by hand."""

    def __init__(self, now_ms: int) -> None:
        self._now_ms = now_ms

    def now_ms(self) -> int:
        return self._now_ms

    def advance(self, seconds: float) -> None:
        self._now_ms += round(seconds * MS_PER_SECOND)

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)
        await asyncio.sleep(0)  # still yield, so other simulated agents and tasks get a turn
