"""The epoch clock: boundaries, windows and which epoch a time falls in."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opendepin.network.clock import EpochClock
from opendepin.network.settings import NetworkSection


def test_boundaries_and_window() -> None:
    clock = EpochClock(genesis_unix=1_000, epoch_seconds=60)
    assert (clock.start_unix(0), clock.end_unix(0), clock.start_unix(3)) == (1_000, 1_060, 1_180)
    assert clock.window_ms(2) == (1_120_000, 1_180_000)


@given(st.integers(0, 10**6), st.integers(1, 10**6), st.integers(0, 10**13))
def test_epoch_at_is_the_epoch_whose_window_holds_the_time(genesis: int, length: int, ms: int) -> None:
    clock = EpochClock(genesis, length)
    if ms < genesis * 1_000:
        with pytest.raises(ValueError, match="before the network's genesis"):
            clock.epoch_at_ms(ms)
        return
    epoch = clock.epoch_at_ms(ms)
    start, end = clock.window_ms(epoch)
    assert start <= ms < end


def test_network_section_exposes_its_clock() -> None:
    net = NetworkSection(genesis_unix=50, epoch_seconds=10)
    assert net.clock == EpochClock(50, 10)
    assert net.epoch_window_ms(1) == net.clock.window_ms(1)
