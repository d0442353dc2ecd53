"""How far a coverage device's work is believed: penalties from corroboration and the graph.

The per-report rules (`verifier`) judge each report alone. A smart cheater sends reports that
each pass; what gives it away is the *pattern*: RSSI that does not fall with distance from
where it says it is (`corroboration`), a cluster nobody else hears, or one receiver behind many
keys (`graph`). This module runs those analyses once per epoch, after the rules, and turns them
into **penalties**: each a reason, a factor in [0, 1] applied to all the device's units, a
sentence and the evidence (which witnesses, which cluster, which spot fits better), published
in the device's explanation and recomputed by `depin audit` (it is part of `compute`).

```
penalty                   factor                                   evidence
location_contradicted     1 at Λ = T, linearly 0 at Λ = 2T          Λ, best spot, offset, witnesses
closed_cluster            (size − min/2) / (min − min/2), in [0,1]  members, largest component
shared_receiver           1 / group size                           group, matched beacons
asymmetric_links          1 at 6 dB mean asymmetry, linearly 0 at 12 dB  mean, partners
establishing              (epochs since first seen + 1) / E, ≤ 1   first seen, E
```

A device's **trust** is the product of its factors; its shares are
`floor(units × density scale × trust × SHARES_PER_UNIT)`. Devices whose location is
contradicted or whose cluster earns nothing do not count towards hex density (they would
otherwise lower their honest neighbours' scale), and a shared-receiver group counts once.

**Establishment.** A device earns a growing part of its units over its first
`establishment_epochs` epochs (`CoverageHistory.first_seen_ms`), so a penalised key replaced
by a fresh one starts from the bottom again, and a ring that appears all at once does not earn
in full before the graph has seen it for a while. It costs an honest newcomer the same ramp;
shares are relative, so when everyone is new (a fresh network) nobody loses anything.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from opendepin.geo import cell_centre, haversine_m
from opendepin.proofs.coverage.corroboration import (
    FitParams,
    LocationFit,
    LocationStatus,
    Segments,
    fit_location_segments,
)
from opendepin.proofs.coverage.graph import (
    array_components,
    closed_clusters_of,
    shared_receivers_columns,
)
from opendepin.proofs.coverage.history import CoverageHistory
from opendepin.proofs.coverage.params import CoverageParams
from opendepin.proofs.coverage.reasons import CoverageReason, Invalid
from opendepin.proofs.coverage.verifier import (
    MIN_PATH_LENGTH_M,
    Beacon,
    Verification,
    Witness,
    capped_eirp_cdbm,
    free_space_loss_cdb,
)
from opendepin.records import ChainSnapshot
from opendepin.types import DeviceId

EVIDENCE_LIST_LIMIT = 32
"""Longest list of devices quoted in one penalty's evidence (the count is always given)."""


@dataclass(frozen=True, slots=True)
class Penalty:
    """One reason a device's units are scaled down this epoch."""

    reason: CoverageReason
    factor: Fraction
    details: str
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def to_obj(self) -> dict[str, Any]:
        return {"reason": self.reason.value, "factor": str(self.factor), "details": self.details,
                "evidence": dict(self.evidence)}


@dataclass(frozen=True, slots=True)
class TrustResult:
    penalties: Mapping[DeviceId, tuple[Penalty, ...]]
    """Devices with at least one penalty -> their penalties, in table order."""
    locations: Locations
    """Both location tests of every device with evidence."""
    uncounted: frozenset[DeviceId]
    """Devices that do not count towards hex density."""
    relieved: frozenset[int] = frozenset()
    """Witness reports (batch indexes) judged too loud (`bad_rssi`) against a beaconer whose
    location is contradicted, and not too loud from the spot its witnesses place it at: their
    verdict is lifted — the fault was the beaconer's claim, not the witness."""

    def trust(self, device: DeviceId) -> Fraction:
        out = Fraction(1)
        for p in self.penalties.get(device, ()):
            out *= p.factor
        return out


def _quote(devices: Sequence[DeviceId]) -> list[str]:
    return [str(d) for d in devices[:EVIDENCE_LIST_LIMIT]]


def assess(
    beacons: Sequence[Beacon],
    witnesses: Sequence[Witness],
    verification: Verification,
    snapshot: ChainSnapshot,
    params: CoverageParams,
    history: CoverageHistory,
    epoch: int,
) -> TrustResult:
    """Every penalty of the epoch (see the module docstring)."""
    return assess_started(beacons, witnesses, verification, snapshot, params, history, epoch).result()


class PendingTrust:
    """`assess` under way: the location tests (numpy on every core, see
    `corroboration.fit_threads`) run on a thread of their own while the caller goes on with
    work that does not need them; `result()` waits for them and gives what `assess` gives.
    Only the tests run there: every penalty is built by `result()`, in table order."""

    def __init__(
        self,
        locations: Future[Locations],
        pool: ThreadPoolExecutor,
        finish: Callable[[Locations], TrustResult],
    ) -> None:
        self._locations, self._pool, self._finish = locations, pool, finish
        self._done: TrustResult | None = None

    def result(self) -> TrustResult:
        """The epoch's trust (an error of the tests is raised here)."""
        if self._done is None:
            try:
                locations = self._locations.result()
            finally:
                self.close()
            self._done = self._finish(locations)
        return self._done

    def close(self) -> None:
        """Wait for the tests' thread (what a caller that fails before `result()` calls)."""
        self._pool.shutdown(wait=True)


def assess_started(
    beacons: Sequence[Beacon],
    witnesses: Sequence[Witness],
    verification: Verification,
    snapshot: ChainSnapshot,
    params: CoverageParams,
    history: CoverageHistory,
    epoch: int,
) -> PendingTrust:
    """`assess`, with its location tests started on a thread (see `PendingTrust`)."""
    cov = params.coverage
    owner = {d: str(r.owner).lower() for d, r in snapshot.devices.items()}
    index, witness_outcomes = verification.beacon_of, verification.witness_outcomes
    # Evidence is what valid witness reports heard. Receptions judged too loud (`bad_rssi`)
    # are left out: they would say the beaconer is closer than it claims, but a few hostile
    # radios beside an honest device could then frame it with absurd levels.
    ids = sorted(snapshot.devices)
    code = {d: i for i, d in enumerate(ids)}
    owner_codes: dict[str, int] = {}
    owner_of = np.array([owner_codes.setdefault(owner[d], len(owner_codes)) for d in ids], dtype=np.int64)
    max_gain = cov.max_antenna_gain_cdbi
    max_tx = cov.max_tx_power_cdbm
    valid = verification.valid
    if valid is None:
        valid = [(w, b) for w in witnesses if witness_outcomes.get(w.index) is None
                 for b in (index.get((w.payload.beaconer, w.payload.data)),) if b is not None]
    pairs = [(w, b) for w, b in valid if b.device != w.device and b.device in code and w.device in code]
    # The columns of `_Heard`, one list each (values as the rules left them: valid reports'
    # levels and times are bounded, so they are int64s).
    columns = [
        [b.index for _, b in pairs],
        [code[b.device] for _, b in pairs],
        [code[w.device] for w, _ in pairs],
        [w.payload.rssi_cdbm for w, _ in pairs],
        [w.payload.snr_cdb for w, _ in pairs],
        [w.payload.received_ms for w, _ in pairs],
        [min(w.payload.antenna_gain_cdbi, max_gain) for w, _ in pairs],
        [min(b.payload.tx_power_cdbm, max_tx) + min(b.payload.antenna_gain_cdbi, max_gain) for _, b in pairs],
        [w.index for w, _ in pairs],
    ]
    heard = _Heard.of(columns, owner_of)
    # Components on device codes (codes are in id order, so each component and the list of
    # them come out in the order `closed_clusters` gives on the ids).
    comps = [tuple(ids[c] for c in comp) for comp in array_components(*heard.independent_pair_arrays())]
    clusters = closed_clusters_of(comps, cov.min_cluster_devices)
    shared = shared_receivers_columns(
        heard.beacon, heard.witness, heard.rssi, heard.snr, heard.received, ids,
        cov.fingerprint_tolerance_cdb, cov.fingerprint_tolerance_ms,
        cov.fingerprint_min_beacons, cov.fingerprint_match_ppm,
    )
    clustered = {code[d] for d in clusters}
    shared_root = {code[d]: code[g.members[0]] for d, g in shared.items()}

    pool = ThreadPoolExecutor(1, thread_name_prefix="location-tests")
    tests = pool.submit(_locations, heard, ids, snapshot, params, clustered, shared_root)
    try:
        asymmetric = _asymmetric(heard, ids, cov)
        establishing: dict[DeviceId, list[Penalty]] = defaultdict(list)
        _establishment(beacons, witnesses, params, history, epoch, establishing)
    except BaseException:
        pool.shutdown(wait=True)
        raise

    def finish(locations: Locations) -> TrustResult:
        penalties: dict[DeviceId, list[Penalty]] = defaultdict(list)
        uncounted: set[DeviceId] = set()
        threshold = cov.location_lr_threshold_centi
        for device in sorted(locations.contradicted()):
            side, fit = locations.worst(device)
            factor = Fraction(max(0, min(threshold, 2 * threshold - fit.lr_centi)), threshold)
            uncounted.add(device)
            whose = (
                f"{fit.witnesses} independent witnesses' RSSI of its beacons" if side == "beacons"
                else f"its own receptions of {fit.witnesses} independent beaconers"
            )
            penalties[device].append(Penalty(
                CoverageReason.LOCATION_CONTRADICTED, factor,
                f"{whose} fit a spot {fit.offset_m} m from the asserted cell far better than the cell "
                f"itself (likelihood ratio {fit.lr_centi / 100:.2f}, threshold {threshold / 100:.2f}; "
                f"{fit.support_ppm // 10_000} % of them fit that spot better)",
                {"test": side, **fit.summary(), "best_lat": round(fit.best_lat, 5), "best_lng": round(fit.best_lng, 5)},
            ))
        for device, (cluster, (num, den)) in sorted(clusters.items()):
            factor = Fraction(min(num, den), den)
            if factor == 0:
                uncounted.add(device)
            penalties[device].append(Penalty(
                CoverageReason.CLOSED_CLUSTER, factor,
                f"its witness graph is a closed cluster of {len(cluster.members)} devices with no edge to "
                f"the rest of the network (largest component {cluster.largest}; full rewards from "
                f"{cov.min_cluster_devices})",
                {"members": len(cluster.members), "sample": _quote(cluster.members), "largest": cluster.largest},
            ))
        for device, group in sorted(shared.items()):
            if device != group.members[0]:
                uncounted.add(device)  # the group counts once for density, at its first member
            penalties[device].append(Penalty(
                CoverageReason.SHARED_RECEIVER, Fraction(1, len(group.members)),
                f"its receptions are identical to those of {len(group.members) - 1} other keys "
                f"({group.matched_beacons} matching receptions): one receiver behind "
                f"{len(group.members)} keys earns as one",
                {"members": len(group.members), "sample": _quote(group.members), "matched": group.matched_beacons},
            ))
        for device, (mean_cdb, partners) in sorted(asymmetric.items()):
            limit = cov.reciprocity_threshold_cdb
            factor = Fraction(max(0, min(limit, 2 * limit - abs(mean_cdb))), limit)
            penalties[device].append(Penalty(
                CoverageReason.ASYMMETRIC_LINKS, factor,
                f"over {partners} independent two-way links, the path loss it reports hearing differs by "
                f"{mean_cdb / 100:+.1f} dB on average from the loss its partners measure from it (a link "
                f"loses the same both ways): its claimed power, gain or receptions are not what it has",
                {"mean_db": mean_cdb / 100, "partners": partners, "threshold_db": limit / 100},
            ))
        for device, later in establishing.items():
            penalties[device].extend(later)
        relieved = _relieved(witnesses, witness_outcomes, index, locations, snapshot, params)
        return TrustResult(
            {d: tuple(ps) for d, ps in sorted(penalties.items()) if ps}, locations, frozenset(uncounted), relieved
        )

    return PendingTrust(tests, pool, finish)


def _relieved(
    witnesses: Sequence[Witness],
    witness_outcomes: Mapping[int, Invalid | None],
    index: Mapping[tuple[DeviceId, bytes], Beacon],
    locations: Locations,
    snapshot: ChainSnapshot,
    params: CoverageParams,
) -> frozenset[int]:
    """Too-loud witnesses of contradicted beaconers that fit the free-space bound from the spot
    the location test found (a too-loud honest witness counts against the beaconer's claim)."""
    spot = {d: (fit.best_lat, fit.best_lng) for d in locations.contradicted() for _, fit in [locations.worst(d)]}
    if not spot:
        return frozenset()
    cov = params.coverage
    out: set[int] = set()
    for w in witnesses:
        outcome = witness_outcomes.get(w.index)
        if outcome is None or outcome.reason is not CoverageReason.BAD_RSSI:
            continue
        b = index.get((w.payload.beaconer, w.payload.data))
        if b is None or b.device not in spot or w.device not in snapshot.devices:
            continue
        at = cell_centre(snapshot.devices[w.device].location)
        if at is None:
            continue
        d_m = max(haversine_m(*spot[b.device], *at), MIN_PATH_LENGTH_M)
        budget = capped_eirp_cdbm(b.payload, cov) + min(w.payload.antenna_gain_cdbi, cov.max_antenna_gain_cdbi)
        if w.payload.rssi_cdbm <= budget - int(free_space_loss_cdb(d_m, b.payload.frequency_hz)) + cov.rssi_margin_cdb:
            out.add(w.index)
    return frozenset(out)


def _asymmetric(heard: _Heard, ids: Sequence[DeviceId], cov: Any) -> dict[DeviceId, tuple[int, int]]:
    """Devices whose links are not reciprocal: device -> (mean difference, centi-dB; partners).

    Path loss is the same both ways on a link. For every independent pair that heard each other
    this epoch, the loss X reports (Y's claimed EIRP + X's claimed gain − X's RSSI, averaged) is
    compared with the loss Y reports from X. An honest device's differences scatter around 0;
    one that transmits quieter than it claims, or reports receptions fitted to a false place,
    shows a consistent offset. Flagged when the mean over at least `reciprocity_min_partners`
    partners exceeds `reciprocity_threshold_cdb` and is 4 standard errors from 0."""
    sel = np.flatnonzero(heard.independent)
    if len(sel) == 0:
        return {}
    b, w = heard.beaconer[sel], heard.witness[sel]
    loss = heard.eirp[sel] + heard.gain[sel] - heard.rssi[sel]
    n = len(ids)
    pair = b * n + w  # directed: b transmitted, w measured
    keys, inverse = np.unique(pair, return_inverse=True)
    mean = np.bincount(inverse, weights=loss) / np.bincount(inverse)
    # Two-way links: each directed pair (tx, rx) with rx < tx whose reverse was heard too.
    tx, rx = keys // n, keys % n
    reverse = rx * n + tx
    j = np.minimum(np.searchsorted(keys, reverse), len(keys) - 1)
    link = np.flatnonzero((keys[j] == reverse) & (rx < tx))
    # Loss measured by `rx` from `tx` minus loss measured by `tx` from `rx`: +d to `rx`'s
    # list, then −d to `tx`'s, link by link in key order (the order each device's mean and
    # standard deviation add them in).
    d = mean[link] - mean[j[link]]
    whose = np.stack((rx[link], tx[link]), axis=1).ravel()
    value = np.stack((d, -d), axis=1).ravel()
    order = np.argsort(whose, kind="stable")
    whose, value = whose[order], value[order]
    firsts = np.flatnonzero(np.concatenate(([True], whose[1:] != whose[:-1]))) if len(whose) else whose
    bounds = [*firsts.tolist(), len(whose)]
    out: dict[DeviceId, tuple[int, int]] = {}
    for device, lo, hi in zip(whose[firsts].tolist(), bounds[:-1], bounds[1:], strict=True):
        if hi - lo < cov.reciprocity_min_partners:
            continue
        ds = value[lo:hi]
        arr = np.array(ds)
        m = float(arr.mean())
        se = float(arr.std(ddof=1)) / math.sqrt(len(arr)) if len(arr) > 1 else math.inf
        if abs(m) > cov.reciprocity_threshold_cdb and abs(m) >= 4 * se:
            out[ids[device]] = (round(m), len(ds))
    return out


def _establishment(
    beacons: Sequence[Beacon],
    witnesses: Sequence[Witness],
    params: CoverageParams,
    history: CoverageHistory,
    epoch: int,
    penalties: dict[DeviceId, list[Penalty]],
) -> None:
    need = params.coverage.establishment_epochs
    if need <= 1:
        return
    start = params.epoch_start_ms(epoch)
    length = params.epoch_end_ms(epoch) - start
    for device in sorted({b.device for b in beacons} | {w.device for w in witnesses}):
        first = history.first_seen_ms.get(device, start)
        age = max(0, (start - first) // length) if length > 0 else need
        if age + 1 >= need:
            continue
        penalties[device].append(Penalty(
            CoverageReason.ESTABLISHING, Fraction(age + 1, need),
            f"a new device earns {age + 1}/{need} of its units in its epoch {age + 1} of {need}",
            {"first_seen_ms": first, "establishment_epochs": need},
        ))


@dataclass(frozen=True, slots=True)
class _Heard:
    """The epoch's valid witness reports as columns, in canonical order (beacon, witness id,
    report); devices are integer codes in id order."""

    beacon: np.ndarray
    beaconer: np.ndarray
    witness: np.ndarray
    rssi: np.ndarray
    snr: np.ndarray
    received: np.ndarray
    gain: np.ndarray
    """The witness's claimed antenna gain, capped as for the RSSI bound."""
    eirp: np.ndarray
    """The beacon's claimed EIRP (tx power + antenna gain, each capped as for the RSSI bound)."""
    independent: np.ndarray
    """The witness and the beaconer have different owners."""

    @classmethod
    def of(cls, columns: Sequence[Sequence[int]], owner_of: np.ndarray) -> _Heard:
        """From nine columns: beacon, beaconer, witness, rssi, snr, received, gain, eirp and
        the witness report's index (the last only orders reports)."""
        a = np.empty((len(columns[0]), 9), dtype=np.int64)
        for i, column in enumerate(columns):
            a[:, i] = column
        a = a[np.lexsort((a[:, 8], a[:, 2], a[:, 0]))]
        return cls(a[:, 0], a[:, 1], a[:, 2], a[:, 3], a[:, 4], a[:, 5], a[:, 6], a[:, 7],
                   owner_of[a[:, 1]] != owner_of[a[:, 2]])

    def independent_pair_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The distinct (beaconer, witness) pairs of independent receptions, as two arrays."""
        b, w = self.beaconer[self.independent], self.witness[self.independent]
        if not len(b):
            return b, w
        # One int64 per pair (codes are non-negative and below `span`): a 1-D unique, not a
        # row-wise one, for the same set of pairs.
        span = int(max(b.max(), w.max())) + 1
        keys = np.unique(b * span + w)
        return keys // span, keys % span


@dataclass(frozen=True, slots=True)
class Locations:
    """Both location tests of every device that has evidence."""

    transmitter: Mapping[DeviceId, LocationFit]
    """Its beacons as independent witnesses heard them (evidence from others)."""
    receiver: Mapping[DeviceId, LocationFit]
    """Its own receptions of independent devices' beacons, against their claimed EIRP (its own
    claims: they can contradict its location, never corroborate it)."""

    def status(self, device: DeviceId) -> LocationStatus | None:
        tx, rx = self.transmitter.get(device), self.receiver.get(device)
        if tx is None and rx is None:
            return None
        if any(f is not None and f.status is LocationStatus.CONTRADICTED for f in (tx, rx)):
            return LocationStatus.CONTRADICTED
        if tx is not None and tx.status is LocationStatus.CORROBORATED:
            return LocationStatus.CORROBORATED
        return LocationStatus.UNCORROBORATED

    def contradicted(self) -> set[DeviceId]:
        return {d for d in {*self.transmitter, *self.receiver} if self.status(d) is LocationStatus.CONTRADICTED}

    def worst(self, device: DeviceId) -> tuple[str, LocationFit]:
        """The contradicting test with the largest likelihood ratio ("beacons" or "receptions")
        of a device in `contradicted()`."""
        fits = [(side, f) for side, f in (("beacons", self.transmitter.get(device)),
                                          ("receptions", self.receiver.get(device)))
                if f is not None and f.status is LocationStatus.CONTRADICTED]
        return max(fits, key=lambda t: t[1].lr_centi)


def _locations(
    heard: _Heard,
    ids: Sequence[DeviceId],
    snapshot: ChainSnapshot,
    params: CoverageParams,
    clustered: set[int],
    shared_root: Mapping[int, int],
) -> Locations:
    """Both location tests of every device: once on all independent evidence, then again
    without the evidence of devices whose own location the first pass contradicted. Devices
    are codes into `ids`; `shared_root` maps a shared receiver's keys to its first key."""
    cov = params.coverage
    fit_params = FitParams(
        cov.location_sigma_cdb, cov.location_min_exponent_centi, cov.location_max_exponent_centi,
        cov.location_lr_threshold_centi, cov.location_min_offset_m, cov.location_min_witnesses,
        cov.location_robust_witnesses,
    )
    involved = np.union1d(heard.beaconer, heard.witness)
    lat = np.full(len(ids), np.nan)
    lng = np.full(len(ids), np.nan)
    for c in involved.tolist():
        at = cell_centre(snapshot.devices[ids[c]].location)
        if at is not None:
            lat[c], lng[c] = at
    placed = ~np.isnan(lat)
    bad = np.zeros(len(ids), dtype=bool)
    bad[list(clustered)] = True
    use = heard.independent & ~bad[heard.beaconer] & ~bad[heard.witness] & placed[heard.beaconer] & placed[heard.witness]
    idx = np.flatnonzero(use)
    level = heard.rssi - heard.gain  # what each witness heard, its own antenna taken out
    root = np.arange(len(ids))
    for k, v in shared_root.items():
        root[k] = v
    # Its beacons: one receiver behind several keys is one witness of a beacon (its first key).
    who = root[heard.witness[idx]]
    _, first = np.unique(heard.beacon[idx] * len(ids) + who, return_index=True)
    tx_rows = idx[np.sort(first)]
    tx_who = root[heard.witness[tx_rows]]
    tx_level = level[tx_rows]
    # Its receptions: one level for its receiver, so the beacons' claimed EIRP is taken out.
    rx_level = level[idx] - heard.eirp[idx]

    # Each side's rows grouped by the device tested (stably, so a device's rows keep their
    # order): its beacons as others heard them, its own receptions.
    sides = []
    for tested, other, lv, beacon, whom in (
        (heard.beaconer[tx_rows], heard.witness[tx_rows], tx_level, heard.beacon[tx_rows], tx_who),
        (heard.witness[idx], heard.beaconer[idx], rx_level, np.zeros(len(idx), dtype=np.int64), heard.beaconer[idx]),
    ):
        by = np.argsort(tested, kind="stable")
        sides.append((tested[by], other[by], lv[by], beacon[by], whom[by]))

    def run(excluded: np.ndarray, only: set[int] | None) -> tuple[dict[DeviceId, LocationFit], ...]:
        """Every placed device's tests (of those in `only`, if given), without the evidence of
        `excluded` devices: one problem per (side, device), the sides in turn, devices in
        code order, each device's rows in `heard` order."""
        wanted = placed.copy()
        if only is not None:
            wanted &= np.isin(np.arange(len(ids)), np.fromiter(only, dtype=np.int64, count=len(only)))
        keys: list[tuple[int, int]] = []
        asserted: list[tuple[float, float]] = []
        sizes: list[np.ndarray] = []
        cols: list[tuple[np.ndarray, ...]] = []
        for side, (tested, other, lv, beacon, whom) in enumerate(sides):
            devices = np.unique(tested)
            devices = devices[wanted[devices]]
            rows = wanted[tested] & ~excluded[other]
            # Rows per device (a device whose evidence is all excluded still has its test).
            sizes.append(np.bincount(np.searchsorted(devices, tested[rows]), minlength=len(devices)))
            o = other[rows]
            cols.append((lat[o], lng[o], lv[rows], beacon[rows], whom[rows]))
            for d in devices.tolist():
                keys.append((side, d))
                asserted.append((float(lat[d]), float(lng[d])))
        starts = np.concatenate(([0], np.cumsum(np.concatenate(sizes)))).astype(np.int64)
        seg = Segments(asserted, starts, *(np.concatenate([c[i] for c in cols]) for i in range(5)))
        out: tuple[dict[DeviceId, LocationFit], ...] = ({}, {})
        for (side, device), fit in zip(keys, fit_location_segments(seg, fit_params), strict=True):
            out[side][ids[device]] = fit
        return out

    none = np.zeros(len(ids), dtype=bool)
    first_pass = Locations(*run(none, None))
    contradicted = first_pass.contradicted()
    if not contradicted:
        return first_pass
    excluded = np.zeros(len(ids), dtype=bool)
    code = {d: i for i, d in enumerate(ids)}
    excluded[[code[d] for d in contradicted]] = True
    touched = {int(d) for d in heard.beaconer[tx_rows][excluded[heard.witness[tx_rows]]]}
    touched |= {int(d) for d in heard.witness[idx][excluded[heard.beaconer[idx]]]}
    tx2, rx2 = run(excluded, touched)
    return Locations({**first_pass.transmitter, **tx2}, {**first_pass.receiver, **rx2})


__all__ = ["Penalty", "PendingTrust", "TrustResult", "assess", "assess_started"]
