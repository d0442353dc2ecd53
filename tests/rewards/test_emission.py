"""Emission schedule: halving, exact exponential decay, supply cap."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opendepin.network.settings import EmissionSection
from opendepin.rewards.emission import (
    EmissionSchedule,
    ScheduleKind,
    _ExponentialCache,
    _extend_exponential,
    exponential_amount_exact,
)

TOKEN = 10**18


def test_halving_amount_halves_every_period() -> None:
    schedule = EmissionSchedule(per_epoch=1_000, halving_epochs=10)
    assert [schedule.emission(e) for e in (0, 9, 10, 19, 20, 30)] == [
        1_000,
        1_000,
        500,
        500,
        250,
        125,
    ]


def test_halving_cumulative_matches_sum_of_amounts() -> None:
    schedule = EmissionSchedule(per_epoch=12_345 * TOKEN, halving_epochs=7)
    running = 0
    for epoch in range(600):
        running += schedule.raw_amount(epoch)
        assert schedule.raw_cumulative(epoch) == running


def test_exponential_amount_equals_exact_fraction_floor() -> None:
    schedule = EmissionSchedule(
        per_epoch=40_000 * TOKEN, kind=ScheduleKind.EXPONENTIAL, decay_ppm_per_epoch=950
    )
    for epoch in (0, 1, 2, 17, 365, 1_000, 5_000):
        expected = Fraction(40_000 * TOKEN) * Fraction(1_000_000 - 950, 1_000_000) ** epoch
        assert schedule.emission(epoch) == int(expected)  # int() of a positive Fraction floors


def test_exponential_fast_path_with_few_fraction_bits_stays_exact() -> None:
    # With only 4 fractional bits the carried value is often ambiguous, forcing the exact path.
    cache = _ExponentialCache()
    _extend_exponential(cache, per_epoch=10**9, decay_ppm=123_457, upto=120, fraction_bits=4)
    assert cache.amounts == [exponential_amount_exact(10**9, 123_457, e) for e in range(121)]


@settings(max_examples=30, deadline=None)
@given(
    per_epoch=st.integers(min_value=0, max_value=10**30),
    ppm=st.integers(min_value=0, max_value=999_999),
    epoch=st.integers(min_value=0, max_value=400),
)
def test_exponential_amount_matches_reference_for_any_parameters(
    per_epoch: int, ppm: int, epoch: int
) -> None:
    schedule = EmissionSchedule(
        per_epoch=per_epoch, kind=ScheduleKind.EXPONENTIAL, decay_ppm_per_epoch=ppm
    )
    assert schedule.raw_amount(epoch) == exponential_amount_exact(per_epoch, ppm, epoch)


def test_exponential_reaches_epoch_100k_with_exact_last_amount() -> None:
    schedule = EmissionSchedule(
        per_epoch=40_000 * TOKEN, kind=ScheduleKind.EXPONENTIAL, decay_ppm_per_epoch=1
    )
    assert schedule.emission(100_000) == exponential_amount_exact(40_000 * TOKEN, 1, 100_000)
    assert schedule.raw_cumulative(100_000) == sum(schedule.raw_amount(e) for e in range(100_001))


def test_exponential_amount_stays_zero_once_zero() -> None:
    schedule = EmissionSchedule(
        per_epoch=1_000, kind=ScheduleKind.EXPONENTIAL, decay_ppm_per_epoch=500_000
    )
    assert [schedule.emission(e) for e in range(12)] == [
        1_000,
        500,
        250,
        125,
        62,
        31,
        15,
        7,
        3,
        1,
        0,
        0,
    ]


def test_cap_clips_the_epoch_that_reaches_it() -> None:
    schedule = EmissionSchedule(per_epoch=100, halving_epochs=1_000, supply_cap=250)
    assert [schedule.emission(e) for e in range(4)] == [100, 100, 50, 0]
    assert schedule.cumulative(10) == 250


@settings(max_examples=40, deadline=None)
@given(
    per_epoch=st.integers(min_value=0, max_value=10**24),
    kind=st.sampled_from(list(ScheduleKind)),
    halving=st.integers(min_value=1, max_value=50),
    ppm=st.integers(min_value=0, max_value=999_999),
    cap=st.none() | st.integers(min_value=0, max_value=10**26),
    upto=st.integers(min_value=0, max_value=300),
)
def test_schedule_never_exceeds_cap_and_parts_sum_to_cumulative(
    per_epoch: int, kind: ScheduleKind, halving: int, ppm: int, cap: int | None, upto: int
) -> None:
    schedule = EmissionSchedule(
        per_epoch=per_epoch,
        kind=kind,
        halving_epochs=halving,
        decay_ppm_per_epoch=ppm,
        supply_cap=cap,
    )
    total = 0
    for epoch in range(upto + 1):
        amount = schedule.emission(epoch)
        assert 0 <= amount <= schedule.raw_amount(epoch)
        total += amount
        assert schedule.cumulative(epoch) == total
        if cap is not None:
            assert total <= cap


def test_from_settings_reads_every_field() -> None:
    section = EmissionSection(
        per_epoch=7,
        schedule="exponential",
        halving_epochs=3,
        decay_ppm_per_epoch=5,
        supply_cap=None,
    )
    schedule = EmissionSchedule.from_settings(section)
    assert (schedule.per_epoch, schedule.kind, schedule.halving_epochs) == (
        7,
        ScheduleKind.EXPONENTIAL,
        3,
    )
    assert (schedule.decay_ppm_per_epoch, schedule.supply_cap) == (5, None)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"per_epoch": -1},
        {"per_epoch": 1, "halving_epochs": 0},
        {"per_epoch": 1, "decay_ppm_per_epoch": 10**6},
        {"per_epoch": 1, "supply_cap": -5},
    ],
)
def test_construct_rejects_invalid_parameters(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        EmissionSchedule(**kwargs)  # type: ignore[arg-type]


def test_emission_rejects_negative_epoch() -> None:
    with pytest.raises(ValueError):
        EmissionSchedule(per_epoch=1).raw_amount(-1)
