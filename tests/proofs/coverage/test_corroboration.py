"""Location corroboration: the likelihood-ratio test of an asserted spot against what witnesses heard."""

from __future__ import annotations

import dataclasses
import math

import coverage_reference.corroboration as ref
import numpy as np
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from opendepin.proofs.coverage import corroboration
from opendepin.proofs.coverage.corroboration import (
    MAX_OBSERVATIONS,
    Columns,
    FitParams,
    LocationFit,
    LocationStatus,
    Observation,
    Segments,
    fit_location,
    fit_location_segments,
    fit_locations,
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


# The many-devices path (`fit_location_segments`, what `trust` runs) against one `Columns` per
# device through `fit_locations` (the straightforward path) and against the frozen reference
# (`coverage_reference`, from before either was optimised): the same fits, bit for bit.


def _columns(obs: list[Observation]) -> Columns:
    return Columns.of(obs)


def _reference(problems: list[tuple[tuple[float, float], Columns]], params: FitParams) -> list[tuple[object, ...]]:
    fits = ref.fit_locations(
        [(a, ref.Columns(c.lat, c.lng, c.level, c.beacon, c.who)) for a, c in problems],
        ref.FitParams(**dataclasses.asdict(params)),
    )
    return [(f.status.value, *dataclasses.astuple(f)[1:]) for f in fits]


def _plain(fits: list[LocationFit]) -> list[tuple[object, ...]]:
    return [(f.status.value, *dataclasses.astuple(f)[1:]) for f in fits]


@st.composite
def _problems(draw: st.DrawFn) -> list[tuple[tuple[float, float], Columns]]:
    out = []
    for _ in range(draw(st.integers(0, 7))):
        claim = _at(draw(st.floats(-20_000, 20_000)), draw(st.floats(-20_000, 20_000)))
        radio = (draw(st.floats(-3_000, 3_000)), draw(st.floats(-3_000, 3_000)))
        n_witnesses = draw(st.integers(0, 24))
        seed = draw(st.integers(0, 2**16))
        rng = np.random.default_rng(seed)
        obs = []
        for b in range(draw(st.integers(1, 5))):
            for i in range(n_witnesses):
                if rng.random() < 0.25:
                    continue  # not every witness hears every beacon
                n, e = rng.uniform(-6_000, 6_000, 2).tolist()
                d = max(math.hypot(n - radio[0], e - radio[1]), 1.0)
                rssi = 20 - 31.2 - 30 * math.log10(d) + rng.normal(0, 6)
                if rng.random() < 0.1:
                    rssi += rng.choice((-40.0, 40.0))  # a liar or a mismeasurement: trimmed, maybe
                level = round(rssi * 100) if rng.random() < 0.8 else -9_000  # some equal levels
                obs.append(Observation(*_at(n, e), level, b, f"w{i}"))
                if rng.random() < 0.05:
                    obs.append(obs[-1])  # a repeated observation (ties in every sort key)
        order = rng.permutation(len(obs)).tolist()
        out.append((claim, _columns([obs[k] for k in order])))
    return out


@hsettings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(_problems(), st.sampled_from([
    PARAMS, dataclasses.replace(PARAMS, min_witnesses=5, trim_ppm=400_000), dataclasses.replace(PARAMS, robust_witnesses=2),
]))
def test_segments_fit_exactly_as_one_problem_at_a_time(
    problems: list[tuple[tuple[float, float], Columns]], params: FitParams
) -> None:
    fits = fit_location_segments(Segments.of(problems), params)
    assert fits == fit_locations(problems, params)
    assert _plain(fits) == _reference(problems, params)


@hsettings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(_problems(), st.integers(1, 60), st.integers(200, 5_000), st.integers(2, 4))
def test_threads_and_parts_change_no_fit(
    problems: list[tuple[tuple[float, float], Columns]], rows: int, batch: int, threads: int
) -> None:
    """Preparing the devices in parts of a few rows and fitting the batches on several threads
    gives the fits one thread gives on one part, bit for bit (with batches this small, most
    epochs here have several)."""
    seg = Segments.of(problems)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(corroboration, "BATCH_ELEMENTS", batch)
        mp.setattr(corroboration, "fit_threads", lambda: 1)
        alone = fit_location_segments(seg, PARAMS)
        mp.setattr(corroboration, "fit_threads", lambda: threads)
        mp.setattr(corroboration, "PREPARE_ROWS", rows)
        assert fit_location_segments(seg, PARAMS) == alone
    assert len(alone) == len(problems)


@given(_problems(), st.integers(1, 80))
@hsettings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_parts_are_the_devices_in_order(problems: list[tuple[tuple[float, float], Columns]], rows: int) -> None:
    seg = Segments.of(problems)
    parts = seg.parts(rows)
    assert [a for part in parts for a in part.asserted] == list(seg.asserted)
    assert all(len(part.asserted) >= 1 for part in parts) or not problems
    for name in ("lat", "lng", "level", "beacon", "who"):
        joined = np.concatenate([getattr(part, name) for part in parts])
        assert np.array_equal(joined, getattr(seg, name))
    sizes = [int(b - a) for part in parts for a, b in zip(part.starts[:-1], part.starts[1:], strict=True)]
    assert sizes == np.diff(seg.starts).tolist()
    # Cut at device boundaries only, the first at the first boundary past `rows` rows: so
    # split exactly when a device other than the first starts there.
    inner = seg.starts[1:-1].tolist()
    assert (len(parts) > 1) == (int(seg.starts[-1]) > rows and any(b >= rows for b in inner))


def test_parts_cut_only_between_devices() -> None:
    c = _columns([Observation(*_at(100.0 * i, 0.0), -9_000 - i, i % 2, f"w{i}") for i in range(2)])
    seg = Segments.of([(ORIGIN, c), (ORIGIN, c)])  # rows 0-1 and 2-3
    assert [len(p.asserted) for p in seg.parts(3)] == [2]  # the only boundary (2) is before 3
    assert [len(p.asserted) for p in seg.parts(2)] == [1, 1]
    assert [len(p.asserted) for p in seg.parts(4)] == [2]


def test_fit_threads_is_bounded() -> None:
    assert 1 <= corroboration.fit_threads() <= corroboration.MAX_FIT_THREADS


def test_segments_fit_exactly_as_one_problem_at_a_time_over_the_observation_cap() -> None:
    big = [Observation(*_at(10.0 * (i % 100), 10.0 * (i // 100)), -10_000 + i % 7, i % 3, f"w{i % 50}")
           for i in range(MAX_OBSERVATIONS + 500)]
    honest = _heard((0.0, 0.0), _witnesses(spacing=1_500.0, side=3), seed=5)
    liars = [Observation(*_at(9_000.0 + 200 * i, 9_000.0), -9_500, b, f"liar{i}") for i in range(2) for b in range(4)]
    problems = [(ORIGIN, _columns(big)), (ORIGIN, _columns(honest + liars)), (ORIGIN, _columns([]))]
    fits = fit_location_segments(Segments.of(problems), PARAMS)
    assert fits == fit_locations(problems, PARAMS)
    assert _plain(fits) == _reference(problems, PARAMS)
    assert fits[0].observations <= MAX_OBSERVATIONS
    assert fits[1].trimmed > 0
    assert fits[2].witnesses == 0


def test_segments_fit_exactly_as_one_problem_at_a_time_with_wide_ids() -> None:
    """Witness and beacon ids too far apart to pack into one int64 key take the plain sorts."""
    honest = _heard((0.0, 0.0), _witnesses(spacing=1_500.0, side=3), seed=5)
    liars = [Observation(*_at(9_000.0 + 200 * i, 9_000.0), -9_500, b, f"liar{i}") for i in range(2) for b in range(4)]
    c = _columns(honest + liars)
    wide = Columns(c.lat, c.lng, c.level, c.beacon * (1 << 40) - (1 << 50), c.who * (1 << 56))
    problems = [(ORIGIN, wide), (_at(3_000.0, 0.0), wide), (ORIGIN, c)]
    fits = fit_location_segments(Segments.of(problems), PARAMS)
    assert fits == fit_locations(problems, PARAMS)
    assert _plain(fits) == _reference(problems, PARAMS)
    assert fits[0] == fits[2]  # only the ids' order matters
