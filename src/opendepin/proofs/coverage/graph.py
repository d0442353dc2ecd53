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

import itertools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple

import numpy as np

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
    return _shared_groups(matched, common, min_beacons, match_ppm)


def _shared_groups(
    matched: Mapping[tuple[DeviceId, DeviceId], int],
    common: Mapping[tuple[DeviceId, DeviceId], int],
    min_beacons: int,
    match_ppm: int,
) -> dict[DeviceId, SharedReceiver]:
    """The groups of keys whose receptions matched on enough beacons: `matched` and `common`
    count, per pair of keys (ordered), the beacons on which they matched and those both heard
    (`common` is read only for pairs that matched on at least `min_beacons`)."""
    uf = _UnionFind()
    counts: dict[tuple[DeviceId, DeviceId], int] = {}
    for pair in sorted(matched):
        n = matched[pair]
        if n >= min_beacons and n * 1_000_000 >= match_ppm * common[pair]:
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


MAX_PAIR_CANDIDATES: Final = 1 << 23
"""Most candidate pairs `shared_receivers_columns` compares at once (beyond, it compares one
beacon at a time, as `shared_receivers` does): bounds its memory."""


def array_components(a: np.ndarray, b: np.ndarray) -> list[tuple[int, ...]]:
    """`int_components` of the edges (a[i], b[i]), vertices non-negative integers: the same
    partition, found by pointer jumping over arrays (each round hooks every tree onto the
    smallest tree root it has an edge to, at least halving the trees of a component)."""
    if len(a) == 0:
        return []
    vertices, inverse = np.unique(np.concatenate((a, b)), return_inverse=True)
    u, v = inverse[: len(a)], inverse[len(a):]
    parent = np.arange(len(vertices))
    while True:
        pu, pv = parent[u], parent[v]
        differ = pu != pv
        if not differ.any():
            break
        np.minimum.at(parent, np.maximum(pu, pv)[differ], np.minimum(pu, pv)[differ])
        while True:  # every vertex straight to its root
            up = parent[parent]
            if np.array_equal(up, parent):
                break
            parent = up
    order = np.argsort(parent, kind="stable")  # by root, then vertex: members ascending
    roots = parent[order]
    cuts = np.flatnonzero(roots[1:] != roots[:-1]) + 1
    members = vertices[order].tolist()
    bounds = [0, *cuts.tolist(), len(members)]
    return sorted(tuple(members[s:e]) for s, e in itertools.pairwise(bounds))


def shared_receivers_columns(
    beacon: np.ndarray,
    witness: np.ndarray,
    rssi_cdbm: np.ndarray,
    snr_cdb: np.ndarray,
    received_ms: np.ndarray,
    ids: Sequence[DeviceId],
    tolerance_cdb: int,
    tolerance_ms: int,
    min_beacons: int,
    match_ppm: int,
) -> dict[DeviceId, SharedReceiver]:
    """`shared_receivers` of the receptions given as columns (in that order), witnesses as
    codes into `ids` (which is sorted, so codes order as ids do): the same comparisons, made
    over arrays. Every pair a reception's sweep would reach — the ones after it in its
    beacon's (−RSSI, witness) order, up to the first more than the tolerance quieter — is
    generated at once and filtered by the same tests."""
    m = len(beacon)
    if m == 0:
        return {}
    # Each beacon's receptions loudest first, ties by witness, then input order; the first
    # MAX_FINGERPRINT_WITNESSES of each.
    order = np.lexsort((np.arange(m), witness, -rssi_cdbm, beacon))
    b_s = beacon[order]
    starts = np.flatnonzero(np.concatenate(([True], b_s[1:] != b_s[:-1])))
    group = np.cumsum(np.concatenate(([0], (b_s[1:] != b_s[:-1]).astype(np.int64))))
    rank = np.arange(m) - starts[group]
    order = order[rank < MAX_FINGERPRINT_WITNESSES]
    group = group[rank < MAX_FINGERPRINT_WITNESSES]
    bc, wc = beacon[order], witness[order]
    rs, sn, tm = rssi_cdbm[order], snr_cdb[order], received_ms[order]
    # A reception's sweep ends at the first one more than `tolerance_cdb` quieter, or at its
    # beacon's end: one non-decreasing key, group first, makes both one search.
    quiet = -rs - int((-rs).min())
    span = int(quiet.max()) + tolerance_cdb + 1
    if tolerance_cdb < 0 or (int(group[-1]) + 1) * span >= 1 << 62:
        return _shared_receivers_of(bc, wc, rs, sn, tm, ids, tolerance_cdb, tolerance_ms, min_beacons, match_ppm)
    key = group * span + quiet
    end = np.searchsorted(key, key + tolerance_cdb, side="right")
    count = end - np.arange(len(key)) - 1
    total = int(count.sum())
    if total > MAX_PAIR_CANDIDATES:
        return _shared_receivers_of(bc, wc, rs, sn, tm, ids, tolerance_cdb, tolerance_ms, min_beacons, match_ppm)
    i = np.repeat(np.arange(len(key)), count)
    j = i + 1 + (np.arange(total) - np.repeat(np.cumsum(count) - count, count))
    hit = (wc[i] != wc[j]) & (np.abs(sn[i] - sn[j]) <= tolerance_cdb) & (np.abs(tm[i] - tm[j]) <= tolerance_ms)
    lo = np.minimum(wc[i[hit]], wc[j[hit]])
    hi = np.maximum(wc[i[hit]], wc[j[hit]])
    n = len(ids)
    pair_keys, pair_counts = np.unique(lo * n + hi, return_counts=True)
    if len(pair_keys) == 0:
        return {}
    matched = {(ids[k // n], ids[k % n]): c for k, c in zip(pair_keys.tolist(), pair_counts.tolist(), strict=True)}
    # Beacons each key heard (among the compared receptions), for the keys of pairs that
    # matched often enough for the share to be read (`_shared_groups` reads no other).
    strong = pair_keys[pair_counts >= min_beacons]
    involved = np.unique(np.concatenate((strong // n, strong % n)))
    mine = np.isin(wc, involved)
    heard: dict[DeviceId, set[int]] = defaultdict(set)
    for w, b in zip(wc[mine].tolist(), bc[mine].tolist(), strict=True):
        heard[ids[w]].add(b)
    common: dict[tuple[DeviceId, DeviceId], int] = {}
    for k in strong.tolist():
        a, b = ids[k // n], ids[k % n]
        common[a, b] = len(heard[a] & heard[b])
    return _shared_groups(matched, common, min_beacons, match_ppm)


def _shared_receivers_of(
    beacon: np.ndarray, witness: np.ndarray, rssi_cdbm: np.ndarray, snr_cdb: np.ndarray, received_ms: np.ndarray,
    ids: Sequence[DeviceId], tolerance_cdb: int, tolerance_ms: int, min_beacons: int, match_ppm: int,
) -> dict[DeviceId, SharedReceiver]:
    receptions = [
        Reception(b, ids[w], ids[w], r, s, t) for b, w, r, s, t in zip(
            beacon.tolist(), witness.tolist(), rssi_cdbm.tolist(), snr_cdb.tolist(), received_ms.tolist(), strict=True)
    ]
    return shared_receivers(receptions, tolerance_cdb, tolerance_ms, min_beacons, match_ppm)


__all__ = [
    "Cluster",
    "Reception",
    "SharedReceiver",
    "array_components",
    "closed_clusters",
    "closed_clusters_of",
    "components",
    "int_components",
    "shared_receivers",
    "shared_receivers_columns",
]
