from __future__ import annotations

import asyncio
import random

import pytest

from opendepin.agent.backoff import Backoff, ManualClock


def test_backoff_schedule_doubles_to_the_cap() -> None:
    b = Backoff(base_seconds=1.0, factor=2.0, max_seconds=60.0, jitter=0.0)
    rng = random.Random(0)
    assert [b.delay_seconds(n, rng) for n in range(0, 9)] == [0, 1, 2, 4, 8, 16, 32, 60, 60]


def test_backoff_survives_very_long_outage() -> None:
    assert Backoff(max_seconds=300.0).cap_seconds(10_000) == 300.0


@pytest.mark.parametrize("failures", [1, 3, 12])
def test_backoff_jitter_stays_within_band(failures: int) -> None:
    b = Backoff(jitter=0.5)
    rng = random.Random(failures)
    cap = b.cap_seconds(failures)
    delays = [b.delay_seconds(failures, rng) for _ in range(200)]
    assert all(cap * 0.5 < d <= cap for d in delays)
    assert len(set(delays)) > 100  # actually jittered, not one value


def test_backoff_jitter_is_reproducible_with_seed() -> None:
    b = Backoff()
    assert [b.delay_seconds(4, random.Random(9)) for _ in range(3)] == [
        b.delay_seconds(4, random.Random(9)) for _ in range(3)
    ]


def test_manual_clock_sleep_advances_time() -> None:
    clock = ManualClock(1_000)
    asyncio.run(clock.sleep(2.5))
    clock.advance(1)
    assert clock.now_ms() == 4_500
