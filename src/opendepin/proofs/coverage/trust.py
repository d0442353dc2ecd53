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

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, NamedTuple

from opendepin.geo import cell_centre
from opendepin.proofs.coverage.corroboration import (
    FitParams,
    LocationFit,
    LocationStatus,
    Observation,
    fit_locations,
)
from opendepin.proofs.coverage.graph import (
    Reception,
    closed_clusters,
    shared_receivers,
)
from opendepin.proofs.coverage.history import CoverageHistory
from opendepin.proofs.coverage.params import CoverageParams
from opendepin.proofs.coverage.reasons import CoverageReason, Invalid
from opendepin.proofs.coverage.verifier import Beacon, Witness
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

    def trust(self, device: DeviceId) -> Fraction:
        out = Fraction(1)
        for p in self.penalties.get(device, ()):
            out *= p.factor
        return out


def _quote(devices: Sequence[DeviceId]) -> list[str]:
    return [str(d) for d in devices[:EVIDENCE_LIST_LIMIT]]


def _beacon_of(beacons: Sequence[Beacon]) -> dict[tuple[DeviceId, bytes], Beacon]:
    index: dict[tuple[DeviceId, bytes], Beacon] = {}
    for b in sorted(beacons, key=lambda b: (b.device, b.seq, b.index)):
        index.setdefault((b.device, b.payload.data), b)
    return index


def assess(
    beacons: Sequence[Beacon],
    witnesses: Sequence[Witness],
    beacon_outcomes: Mapping[int, Invalid | None],
    witness_outcomes: Mapping[int, Invalid | None],
    snapshot: ChainSnapshot,
    params: CoverageParams,
    history: CoverageHistory,
    epoch: int,
) -> TrustResult:
    """Every penalty of the epoch (see the module docstring)."""
    cov = params.coverage
    owner = {d: str(r.owner).lower() for d, r in snapshot.devices.items()}
    index = _beacon_of(beacons)
    # Evidence is what valid witness reports heard. Receptions judged too loud (`bad_rssi`)
    # are left out: they would say the beaconer is closer than it claims, but a few hostile
    # radios beside an honest device could then frame it with absurd levels.
    heard: list[Heard] = []
    for w in witnesses:
        if witness_outcomes.get(w.index) is not None:
            continue
        b = index.get((w.payload.beaconer, w.payload.data))
        if b is None or b.device == w.device:
            continue
        ob = owner.get(b.device)
        pl = w.payload
        eirp = min(b.payload.tx_power_cdbm, cov.max_tx_power_cdbm) + min(
            b.payload.antenna_gain_cdbi, cov.max_antenna_gain_cdbi
        )
        heard.append(Heard(
            Reception(b.index, b.device, w.device, pl.rssi_cdbm, pl.snr_cdb, pl.received_ms),
            ob is None or ob != owner.get(w.device), pl.antenna_gain_cdbi, eirp, w.index,
        ))
    heard.sort(key=lambda h: (h.rx.beacon, h.rx.witness, h.report))
    edges = [(h.rx.beaconer, h.rx.witness) for h in heard if h.independent]
    clusters = closed_clusters(edges, cov.min_cluster_devices)
    shared = shared_receivers(
        [h.rx for h in heard], cov.fingerprint_tolerance_cdb, cov.fingerprint_tolerance_ms,
        cov.fingerprint_min_beacons, cov.fingerprint_match_ppm,
    )
    locations = _locations(heard, snapshot, params, set(clusters), shared)

    penalties: dict[DeviceId, list[Penalty]] = defaultdict(list)
    uncounted: set[DeviceId] = set()
    threshold = cov.location_lr_threshold_centi
    for device in sorted(locations.contradicted()):
        fits = [(side, f) for side, f in (("beacons", locations.transmitter.get(device)),
                                          ("receptions", locations.receiver.get(device)))
                if f is not None and f.status is LocationStatus.CONTRADICTED]
        side, fit = max(fits, key=lambda t: t[1].lr_centi)
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
    _establishment(beacons, witnesses, params, history, epoch, penalties)
    return TrustResult({d: tuple(ps) for d, ps in sorted(penalties.items()) if ps}, locations, frozenset(uncounted))


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


class Heard(NamedTuple):
    """A valid witness report as the analyses read it (one per reception: a NamedTuple)."""

    rx: Reception
    independent: bool
    """The witness and the beaconer have different owners."""
    gain_cdbi: int
    """The witness's claimed antenna gain."""
    eirp_cdbm: int
    """The beacon's claimed EIRP (tx power + antenna gain, each capped as for the RSSI bound)."""
    report: int
    """The witness report's position in the batch (a canonical tie-break)."""


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


Evidence = dict[DeviceId, list[tuple[DeviceId, Observation]]]
"""Device tested -> (the other device the observation is about, the observation)."""


def _locations(
    heard: Sequence[Heard],
    snapshot: ChainSnapshot,
    params: CoverageParams,
    clustered: set[DeviceId],
    shared: Mapping[DeviceId, Any],
) -> Locations:
    """Both location tests of every device: once on all independent evidence, then again
    without the evidence of devices whose own location the first pass contradicted. `heard` is
    in canonical order (beacon, witness, report)."""
    cov = params.coverage
    fit_params = FitParams(
        cov.location_sigma_cdb, cov.location_min_exponent_centi, cov.location_max_exponent_centi,
        cov.location_lr_threshold_centi, cov.location_min_offset_m, cov.location_min_witnesses,
    )
    centres: dict[DeviceId, tuple[float, float] | None] = {}

    def centre(d: DeviceId) -> tuple[float, float] | None:
        if d not in centres:
            rec = snapshot.devices.get(d)
            centres[d] = cell_centre(rec.location) if rec is not None else None
        return centres[d]

    max_gain = cov.max_antenna_gain_cdbi
    transmitter: Evidence = defaultdict(list)
    receiver: Evidence = defaultdict(list)
    seen: set[tuple[int, DeviceId]] = set()
    for h in heard:
        rx = h.rx
        if not h.independent or rx.witness in clustered or rx.beaconer in clustered:
            continue
        at_w = centres[rx.witness] if rx.witness in centres else centre(rx.witness)
        at_b = centres[rx.beaconer] if rx.beaconer in centres else centre(rx.beaconer)
        if at_w is None or at_b is None:
            continue
        level = rx.rssi_cdbm - min(h.gain_cdbi, max_gain)
        # The witness's receptions: one level A for all of them (its receiver), so the
        # beacons' claimed EIRP is taken out; "beacon" 0 puts them in one group.
        receiver[rx.witness].append((rx.beaconer, Observation(at_b[0], at_b[1], level - h.eirp_cdbm, 0, rx.beaconer)))
        # One receiver behind several keys is one witness of a beacon: keep its first key.
        group = shared.get(rx.witness)
        who = group.members[0] if group is not None else rx.witness
        if (rx.beacon, who) in seen:
            continue
        seen.add((rx.beacon, who))
        transmitter[rx.beaconer].append((rx.witness, Observation(at_w[0], at_w[1], level, rx.beacon, who)))

    def run(excluded: set[DeviceId], tx: Evidence, rcv: Evidence) -> tuple[dict[DeviceId, LocationFit], ...]:
        keys: list[tuple[int, DeviceId]] = []
        problems: list[tuple[tuple[float, float], list[Observation]]] = []
        for side, evidence in enumerate((tx, rcv)):
            for device in sorted(evidence):
                at = centre(device)
                if at is not None:
                    keys.append((side, device))
                    problems.append((at, [o for other, o in evidence[device] if other not in excluded]))
        out: tuple[dict[DeviceId, LocationFit], ...] = ({}, {})
        for (side, device), fit in zip(keys, fit_locations(problems, fit_params), strict=True):
            out[side][device] = fit
        return out

    first = Locations(*run(set(), transmitter, receiver))
    contradicted = first.contradicted()
    if not contradicted:
        return first

    def touched(evidence: Evidence) -> Evidence:
        return {d: ev for d, ev in evidence.items() if any(o in contradicted for o, _ in ev)}

    tx2, rx2 = run(contradicted, touched(transmitter), touched(receiver))
    return Locations({**first.transmitter, **tx2}, {**first.receiver, **rx2})


__all__ = ["Penalty", "TrustResult", "assess"]
