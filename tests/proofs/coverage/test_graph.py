"""The witness graph: components, closed clusters and shared receivers."""

from __future__ import annotations

import itertools

import coverage_reference.graph as ref
import numpy as np
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from opendepin.proofs.coverage import graph
from opendepin.proofs.coverage.graph import (
    Reception,
    SharedReceiver,
    array_components,
    closed_clusters,
    components,
    int_components,
    shared_receivers,
    shared_receivers_columns,
)
from opendepin.types import DeviceId


def _d(name: str) -> DeviceId:
    return DeviceId(name)


def _clique(prefix: str, n: int) -> list[tuple[DeviceId, DeviceId]]:
    devices = [_d(f"{prefix}{i:02d}") for i in range(n)]
    return list(itertools.combinations(devices, 2))


def test_components_are_canonical() -> None:
    edges = [(_d("b"), _d("a")), (_d("c"), _d("d")), (_d("a"), _d("e"))]
    assert components(edges) == [(_d("a"), _d("b"), _d("e")), (_d("c"), _d("d"))]
    assert components(reversed(edges)) == components(edges)


def test_a_small_ring_beside_the_network_earns_nothing() -> None:
    edges = _clique("h", 40) + _clique("r", 5)
    found = closed_clusters(edges, min_devices=32)
    ring = {d for d in found}
    assert ring == {_d(f"r{i:02d}") for i in range(5)}
    cluster, (num, _den) = found[_d("r00")]
    assert num == 0 and cluster.largest == 40


def test_a_mid_sized_cluster_is_scaled_between_half_and_the_minimum() -> None:
    edges = _clique("h", 40) + _clique("m", 24)
    _cluster, (num, den) = closed_clusters(edges, min_devices=32)[_d("m00")]
    assert (num, den) == (24 - 16, 32 - 16)


def test_the_largest_component_and_big_ones_are_not_penalised() -> None:
    """A young network whose only devices are few is not a ring; nor is a second big city."""
    assert closed_clusters(_clique("h", 5), min_devices=32) == {}
    assert closed_clusters(_clique("a", 40) + _clique("b", 33), min_devices=32) == {}


def _receptions(keys: list[str], beacons: int, seed: int, same_receiver: bool) -> list[Reception]:
    rng = np.random.default_rng(seed)
    out = []
    for b in range(beacons):
        base = int(rng.normal(-10_000, 800))
        for k in keys:
            rssi = base if same_receiver else base + int(rng.normal(0, 850))
            snr = 500 if same_receiver else 500 + int(rng.normal(0, 300))
            out.append(Reception(b, _d("beaconer"), _d(k), rssi, snr, 1_000 * b + (0 if same_receiver else int(rng.integers(0, 600)))))
    return out


def test_keys_behind_one_receiver_are_one_group() -> None:
    keys = [f"k{i}" for i in range(10)]
    honest = [f"h{i}" for i in range(10)]
    found = shared_receivers(
        _receptions(keys, 8, 1, True) + _receptions(honest, 8, 2, False),
        tolerance_cdb=50, tolerance_ms=20, min_beacons=3, match_ppm=800_000,
    )
    assert set(found) == {_d(k) for k in keys}
    assert found[_d("k3")].members == tuple(sorted(_d(k) for k in keys))


def test_independent_radios_are_not_a_group() -> None:
    found = shared_receivers(
        _receptions([f"h{i}" for i in range(30)], 12, 3, False),
        tolerance_cdb=50, tolerance_ms=20, min_beacons=3, match_ppm=800_000,
    )
    assert found == {}


def test_too_few_matches_are_not_a_group() -> None:
    found = shared_receivers(
        _receptions(["a", "b"], 2, 4, True), tolerance_cdb=50, tolerance_ms=20, min_beacons=3, match_ppm=800_000
    )
    assert found == {}


# The array paths `trust` runs (`array_components`, `shared_receivers_columns`) against the
# straightforward ones and the frozen reference (`coverage_reference`): the same results.


@hsettings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), max_size=80), st.integers(0, 10**6))
def test_array_components_are_int_components(edges: list[tuple[int, int]], shift: int) -> None:
    edges = [(a + shift, b + shift) for a, b in edges]  # vertices need not start at 0
    a = np.array([x for x, _ in edges], dtype=np.int64)
    b = np.array([y for _, y in edges], dtype=np.int64)
    assert array_components(a, b) == int_components(edges)


def test_array_components_of_a_long_path() -> None:
    """A path, numbered so the smallest vertex is in the middle: many hooking rounds."""
    n = 5_000
    order = np.random.default_rng(1).permutation(n)
    edges = [*itertools.pairwise(order.tolist()), (n + 1, n + 2)]
    a = np.array([x for x, _ in edges], dtype=np.int64)
    b = np.array([y for _, y in edges], dtype=np.int64)
    assert array_components(a, b) == int_components(edges) == [tuple(range(n)), (n + 1, n + 2)]


@st.composite
def _reception_rows(draw: st.DrawFn) -> tuple[list[DeviceId], list[tuple[int, int, int, int, int]]]:
    """Receptions of a few beacons by a few keys, levels and times on a coarse grid so that
    matches, near misses and ties are frequent; some keys copy another key's receptions."""
    n_keys = draw(st.integers(1, 12))
    ids = sorted(DeviceId(f"0x{k:040x}") for k in draw(st.sets(st.integers(0, 2**20), min_size=n_keys, max_size=n_keys)))
    rows = []
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    step = draw(st.sampled_from((10, 25, 50, 100)))
    for beacon in draw(st.lists(st.integers(0, 30), min_size=1, max_size=8)):
        t0 = int(rng.integers(0, 10_000))
        for w in range(n_keys):
            if rng.random() < 0.3:
                continue
            rssi = -10_000 + step * int(rng.integers(-8, 8))
            snr = min(rssi + 11_700, 1_000) + step * int(rng.integers(-2, 3))
            rows.append((beacon, w, rssi, snr, t0 + int(rng.integers(0, 400))))
            if rng.random() < 0.1:
                rows.append(rows[-1])  # the same reception twice
    order = rng.permutation(len(rows)).tolist()
    return ids, [rows[k] for k in order]


def _both(
    ids: list[DeviceId], rows: list[tuple[int, int, int, int, int]], tol_cdb: int, tol_ms: int, min_b: int, ppm: int
) -> tuple[dict[DeviceId, SharedReceiver], dict[DeviceId, SharedReceiver], dict[DeviceId, tuple[object, int]]]:
    b, w, r, sn, t = (np.array([row[i] for row in rows], dtype=np.int64) for i in range(5))
    fast = shared_receivers_columns(b, w, r, sn, t, ids, tol_cdb, tol_ms, min_b, ppm)
    plain = shared_receivers(
        [Reception(b, ids[0], ids[w], r, s, t) for b, w, r, s, t in rows], tol_cdb, tol_ms, min_b, ppm
    )
    old = ref.shared_receivers(
        [ref.Reception(b, ids[0], ids[w], r, s, t) for b, w, r, s, t in rows], tol_cdb, tol_ms, min_b, ppm
    )
    return fast, plain, {d: (g.members, g.matched_beacons) for d, g in old.items()}


@hsettings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(_reception_rows(), st.sampled_from((0, 50, 100, 10**6)), st.sampled_from((0, 100, 10**6)),
       st.integers(1, 3), st.sampled_from((0, 500_000, 1_000_000)))
def test_shared_receivers_columns_are_shared_receivers(
    data: tuple[list[DeviceId], list[tuple[int, int, int, int, int]]], tol_cdb: int, tol_ms: int, min_b: int, ppm: int
) -> None:
    ids, rows = data
    fast, plain, old = _both(ids, rows, tol_cdb, tol_ms, min_b, ppm)
    assert fast == plain
    assert {d: (g.members, g.matched_beacons) for d, g in fast.items()} == old


def test_shared_receivers_columns_without_receptions() -> None:
    empty = np.zeros(0, dtype=np.int64)
    assert shared_receivers_columns(empty, empty, empty, empty, empty, [], 50, 100, 2, 500_000) == {}


@pytest.mark.parametrize("limit", [0, 5])
def test_shared_receivers_columns_over_the_pair_limit_compare_beacon_by_beacon(
    monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    ids = [DeviceId(f"0x{k:040x}") for k in range(6)]
    rows = [(b, w, -10_000 + 10 * (w % 2), 500, 1_000 * b + w) for b in range(8) for w in range(6)]
    expected = _both(ids, rows, 50, 100, 2, 500_000)[1]
    assert expected  # the copies are found
    monkeypatch.setattr(graph, "MAX_PAIR_CANDIDATES", limit)
    assert _both(ids, rows, 50, 100, 2, 500_000)[0] == expected


def test_shared_receivers_columns_cap_the_receptions_compared_per_beacon() -> None:
    n = graph.MAX_FINGERPRINT_WITNESSES + 40
    ids = [DeviceId(f"0x{k:040x}") for k in range(n)]
    rows = [(b, w, -10_000 - (w // 2) * 100, 500, 1_000 * b) for b in range(3) for w in range(n)]
    fast, plain, _ = _both(ids, rows, 50, 100, 2, 500_000)
    assert fast == plain
    assert len(fast) == graph.MAX_FINGERPRINT_WITNESSES  # the quietest pairs are never compared
