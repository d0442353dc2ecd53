"""The witness graph: who hears whom, and the structures cheaters cannot avoid leaving in it.

Vertices are coverage devices; an **independent edge** joins a beaconer and a witness of
*different owners* for every valid witness report (an owner's devices vouching for each other
prove nothing). Two structures are looked for, per epoch:

* **Closed clusters.** Software keys with no radio can only witness each other: they share
  their beacon secrets among themselves, so a ring of them forms a connected component with no
  edge to the rest of the network — radio physics guarantees that a real radio among honest
  devices hears them and is heard. A component that is neither the network's largest nor at
  least `min_cluster_devices` strong is a closed cluster: its devices' rewards are scaled by
  `(size − half) / (min − half)` clamped to [0, 1], where `half = min // 2` (so a ring of
  fewer than half the minimum earns nothing, and a genuine isolated community earns in full once
  it reaches the minimum). This cannot tell a ring from an honest village that nobody else can
  hear; the cost of identities (onboarding and location fees) and the establishment period are
  what make a ring big enough to pass unprofitable — `docs/coverage.md` has the arithmetic.
* **Shared receivers.** One real receiver behind many keys hears every beacon once and reports
  it under each key: the receptions are identical — same RSSI and SNR to within
  `fingerprint_tolerance_cdb`, received within `fingerprint_tolerance_ms` of each other. Two
  independent radios a few hundred metres apart see independent shadowing (several dB apart on
  most beacons), so keys that match on at least `fingerprint_min_beacons` common beacons and on at
  least `fingerprint_match_ppm` of all the beacons they both heard are one receiver. Groups are
  the connected components of such pairs; each member's rewards are divided by the group's size
  (together they earn what one device would). A front that adds noise to each key's readings
  escapes this rule; its keys still *beacon* through one radio, which location corroboration
  sees (`corroboration`).

Everything is computed from the epoch's verdicts and the registry, in a canonical order, so the
result does not depend on report order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple

from opendepin.types import DeviceId

MAX_FINGERPRINT_WITNESSES: Final = 256
"""Receptions of one beacon compared pairwise at most (the loudest): bounds the work per beacon."""


class Reception(NamedTuple):
    """A valid witness report as the graph reads it (a NamedTuple: one per reception)."""

    beacon: int
    """The beacon heard (its index in the batch)."""
    beaconer: DeviceId
    witness: DeviceId
    rssi_cdbm: int
    snr_cdb: int
    received_ms: int


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[DeviceId, DeviceId] = {}

    def find(self, x: DeviceId) -> DeviceId:
        root = self.parent.setdefault(x, x)
        while root != self.parent[root]:
            root = self.parent[root]
        while x != root:  # path compression
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: DeviceId, b: DeviceId) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            lo, hi = sorted((ra, rb))
            self.parent[hi] = lo  # the smaller id is the root: canonical

    def groups(self) -> list[tuple[DeviceId, ...]]:
        out: dict[DeviceId, list[DeviceId]] = defaultdict(list)
        for x in self.parent:
            out[self.find(x)].append(x)
        return sorted(tuple(sorted(g)) for g in out.values())


def components(edges: Iterable[tuple[DeviceId, DeviceId]]) -> list[tuple[DeviceId, ...]]:
    """Connected components of an undirected edge list, each sorted, listed in order."""
    uf = _UnionFind()
    for a, b in edges:
        uf.union(a, b)
    return uf.groups()


@dataclass(frozen=True, slots=True)
class Cluster:
    members: tuple[DeviceId, ...]
    largest: int
    """Size of the network's largest component."""


def closed_clusters(
    edges: Iterable[tuple[DeviceId, DeviceId]], min_devices: int
) -> dict[DeviceId, tuple[Cluster, tuple[int, int]]]:
    """Device -> (its cluster, reward factor as (numerator, denominator)) for every device in
    a closed cluster (see the module docstring); devices not listed are not penalised."""
    return closed_clusters_of(components(edges), min_devices)


def int_components(pairs: Iterable[tuple[int, int]]) -> list[tuple[int, ...]]:
    """`components` of an edge list of integer vertices (each sorted, listed in order): the
    same partition, without comparing strings; vertices that are codes in id order give the
    components of the ids in the same order."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        root = parent.setdefault(x, x)
        while root != parent[root]:
            root = parent[root]
        while x != root:
            parent[x], x = root, parent[x]
        return root

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            if ra < rb:
                parent[rb] = ra
            else:
                parent[ra] = rb
    out: dict[int, list[int]] = defaultdict(list)
    for x in parent:
        out[find(x)].append(x)
    return sorted(tuple(sorted(g)) for g in out.values())


def closed_clusters_of(
    comps: Sequence[tuple[DeviceId, ...]], min_devices: int
) -> dict[DeviceId, tuple[Cluster, tuple[int, int]]]:
    """`closed_clusters` of already computed components."""
    if not comps:
        return {}
    largest = max(len(c) for c in comps)
    half = min_devices // 2
    out: dict[DeviceId, tuple[Cluster, tuple[int, int]]] = {}
    for comp in comps:
        size = len(comp)
        if size >= min_devices or size == largest:
            continue
        factor = (max(0, size - half), max(1, min_devices - half))
        cluster = Cluster(comp, largest)
        for d in comp:
            out[d] = (cluster, factor)
    return out


@dataclass(frozen=True, slots=True)
class SharedReceiver:
    members: tuple[DeviceId, ...]
    matched_beacons: int
    """Beacons on which members' receptions matched (counted over matching pairs)."""


def shared_receivers(
    receptions: Sequence[Reception],
    tolerance_cdb: int,
    tolerance_ms: int,
    min_beacons: int,
    match_ppm: int,
) -> dict[DeviceId, SharedReceiver]:
    """Device -> its shared-receiver group, for keys whose receptions are one radio's."""
    by_beacon: dict[int, list[Reception]] = defaultdict(list)
    for r in receptions:
        by_beacon[r.beacon].append(r)
    common: dict[tuple[DeviceId, DeviceId], int] = defaultdict(int)
    matched: dict[tuple[DeviceId, DeviceId], int] = defaultdict(int)
    heard: dict[DeviceId, set[int]] = defaultdict(set)
    for beacon in sorted(by_beacon):
        rs = sorted(by_beacon[beacon], key=lambda r: (-r.rssi_cdbm, r.witness))[:MAX_FINGERPRINT_WITNESSES]
        for r in rs:
            heard[r.witness].add(beacon)
        # Sweep in RSSI order: only receptions within the tolerance can match.
        for i, a in enumerate(rs):
            for b in rs[i + 1:]:
                if a.rssi_cdbm - b.rssi_cdbm > tolerance_cdb:
                    break
                if a.witness == b.witness:
                    continue
                if abs(a.snr_cdb - b.snr_cdb) <= tolerance_cdb and abs(a.received_ms - b.received_ms) <= tolerance_ms:
                    lo, hi = sorted((a.witness, b.witness))
                    matched[lo, hi] += 1
    for lo, hi in matched:
        common[lo, hi] = len(heard[lo] & heard[hi])
    uf = _UnionFind()
    counts: dict[tuple[DeviceId, DeviceId], int] = {}
    for pair in sorted(matched):
        n, both = matched[pair], common[pair]
        if n >= min_beacons and n * 1_000_000 >= match_ppm * both:
            uf.union(*pair)
            counts[pair] = n
    out: dict[DeviceId, SharedReceiver] = {}
    for group in uf.groups():
        if len(group) < 2:
            continue
        members = set(group)
        n = sum(c for (a, b), c in counts.items() if a in members and b in members)
        shared = SharedReceiver(group, n)
        for d in group:
            out[d] = shared
    return out


__all__ = [
    "Cluster",
    "Reception",
    "SharedReceiver",
    "closed_clusters",
    "closed_clusters_of",
    "components",
    "int_components",
    "shared_receivers",
]
