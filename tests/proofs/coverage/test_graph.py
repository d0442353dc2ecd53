"""The witness graph: components, closed clusters and shared receivers."""

from __future__ import annotations

import itertools

import numpy as np

from opendepin.proofs.coverage.graph import (
    Reception,
    closed_clusters,
    components,
    shared_receivers,
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
