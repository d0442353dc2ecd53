"""Location corroboration: the likelihood-ratio test of an asserted spot against what witnesses heard."""

from __future__ import annotations

import math

import numpy as np
import pytest

from opendepin.proofs.coverage.corroboration import (
    MAX_OBSERVATIONS,
    FitParams,
    LocationStatus,
    Observation,
    fit_location,
)

ORIGIN = (38.7223, -9.1393)
PARAMS = FitParams(
    sigma_cdb=700, min_exponent_centi=200, max_exponent_centi=500, lr_threshold_centi=800,
    min_offset_m=500, min_witnesses=3,
)


def _at(north_m: float, east_m: float) -> tuple[float, float]:
    return (
        ORIGIN[0] + north_m / 111_320.0,
        ORIGIN[1] + east_m / (111_320.0 * math.cos(math.radians(ORIGIN[0]))),
    )


def _witnesses(spacing: float = 900.0, side: int = 8) -> list[tuple[float, float]]:
    return [((r - side / 2) * spacing, (c - side / 2) * spacing) for r in range(side) for c in range(side)]


def _heard(
    transmitter: tuple[float, float], witnesses: list[tuple[float, float]], seed: int,
    beacons: int = 4, exponent: float = 3.0, sigma_db: float = 6.0, eirp_dbm: float = 20.0,
) -> list[Observation]:
    """Receptions of `beacons` beacons from a radio really at `transmitter` (metres)."""
    rng = np.random.default_rng(seed)
    out = []
    for b in range(beacons):
        for i, (n, e) in enumerate(witnesses):
            d = max(math.hypot(n - transmitter[0], e - transmitter[1]), 1.0)
            if d < 200:
                continue
            rssi = eirp_dbm - 31.2 - 10 * exponent * math.log10(d) + rng.normal(0, sigma_db)
            if rssi >= -130:
                out.append(Observation(*_at(n, e), round(rssi * 100), b, f"w{i}"))
    return out


@pytest.mark.parametrize("seed", range(8))
def test_a_true_assertion_is_corroborated(seed: int) -> None:
    radio = (300.0, -450.0)
    fit = fit_location(_at(*radio), _heard(radio, _witnesses(), seed), PARAMS)
    assert fit.status is LocationStatus.CORROBORATED
    assert fit.lr_centi < PARAMS.lr_threshold_centi
    assert fit.witnesses >= PARAMS.min_witnesses


@pytest.mark.parametrize("offset_m", [3_000.0, 20_000.0, 50_000.0])
def test_a_spoofed_assertion_is_contradicted_even_with_weakened_power(offset_m: float) -> None:
    """The radio stands among the witnesses but asserts a spot `offset_m` away and transmits
    12 dB below normal, so no single reception is louder than free space over the claim."""
    radio = (0.0, 0.0)
    obs = _heard(radio, _witnesses(), seed=1, eirp_dbm=8.0)
    fit = fit_location(_at(offset_m, offset_m / 2), obs, PARAMS)
    assert fit.status is LocationStatus.CONTRADICTED
    assert fit.lr_centi >= 2 * PARAMS.lr_threshold_centi  # the penalty factor is 0
    # The best spot is near the real radio, not near the claim.
    best_n = (fit.best_lat - ORIGIN[0]) * 111_320.0
    assert abs(best_n) < 1_500.0


def test_changing_power_between_beacons_changes_nothing() -> None:
    """Each beacon's level is fitted on its own: a spoofer cannot hide by varying power."""
    radio = (0.0, 0.0)
    steady = _heard(radio, _witnesses(), seed=2)
    varied = [Observation(o.witness_lat, o.witness_lng, o.level_cdbm - 1_000 * o.beacon, o.beacon, o.witness)
              for o in steady]
    a = fit_location(_at(*radio), steady, PARAMS)
    b = fit_location(_at(*radio), varied, PARAMS)
    assert (a.status, a.lr_centi, a.offset_m) == (b.status, b.lr_centi, b.offset_m)


def test_too_few_witnesses_is_uncorroborated_not_contradicted() -> None:
    obs = [Observation(*_at(1_000.0, 0.0), -9_000, 0, "a"), Observation(*_at(2_000.0, 0.0), -10_000, 0, "b")]
    fit = fit_location(_at(50_000.0, 0.0), obs, PARAMS)
    assert fit.status is LocationStatus.UNCORROBORATED
    assert fit.witnesses == 2


def test_a_beacon_heard_once_carries_no_evidence() -> None:
    """With its level fitted per beacon, one reception of a beacon constrains nothing."""
    obs = [Observation(*_at(1_000.0 * i, 0.0), -9_000 - 100 * i, i, f"w{i}") for i in range(10)]
    fit = fit_location(_at(50_000.0, 0.0), obs, PARAMS)
    assert fit.status is LocationStatus.UNCORROBORATED
    assert fit.observations == 0


def test_the_result_does_not_depend_on_observation_order() -> None:
    obs = _heard((0.0, 0.0), _witnesses(), seed=4)
    claim = _at(2_000.0, 1_000.0)
    assert fit_location(claim, obs, PARAMS) == fit_location(claim, list(reversed(obs)), PARAMS)


def test_work_is_bounded_by_the_observation_cap() -> None:
    obs = [Observation(*_at(10.0 * (i % 100), 10.0 * (i // 100)), -10_000 + i % 7, i % 3, f"w{i % 50}")
           for i in range(MAX_OBSERVATIONS + 500)]
    fit = fit_location(ORIGIN, obs, PARAMS)
    assert fit.observations <= MAX_OBSERVATIONS


@pytest.mark.parametrize("level", [-10**9, 0, 10**9])
def test_absurd_levels_give_a_result_not_an_exception(level: int) -> None:
    obs = [Observation(*_at(500.0 * i, 0.0), level, b, f"w{i}") for i in range(4) for b in range(2)]
    fit = fit_location(ORIGIN, obs, PARAMS)
    assert fit.status in set(LocationStatus)
    assert fit.lr_centi >= 0


def test_a_few_liars_are_trimmed_and_contradict_nothing() -> None:
    """Honest witnesses around the claim; two liars 13 km out report it as loud as free space
    allows there (louder would be `bad_rssi`, which the trust stage leaves out)."""
    radio = (0.0, 0.0)
    obs = _heard(radio, _witnesses(spacing=1_500.0, side=3), seed=5)
    liars = [Observation(*_at(9_000.0 + 200 * i, 9_000.0), -9_500, b, f"liar{i}") for i in range(2) for b in range(4)]
    fit = fit_location(_at(*radio), obs + liars, PARAMS)
    assert fit.status is LocationStatus.CORROBORATED
    assert fit.trimmed == 2  # the two liars fit the claim worst, beyond 3σ: left out


def test_trimming_leaves_a_false_claim_contradicted() -> None:
    """A fifth of the witnesses at most is trimmed: a spoofer's claim stays contradicted."""
    obs = _heard((0.0, 0.0), _witnesses(), seed=6)
    fit = fit_location(_at(3_000.0, 0.0), obs, PARAMS)
    assert fit.status is LocationStatus.CONTRADICTED
    assert fit.trimmed <= fit.witnesses * PARAMS.trim_ppm // 1_000_000 + 1
