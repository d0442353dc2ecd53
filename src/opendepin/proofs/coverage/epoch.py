"""One epoch of coverage: decode → verify → select → score → explain.

`verify_epoch` is the whole coverage stage as a pure function of (sealed reports, chain
snapshot, parameters, history, denylist). It returns a `CoverageResult` holding

* one `Verdict` per report, in input order (valid, or invalid with a `CoverageReason`);
* the witnesses selected for each valid beacon;
* integer `shares` per device (`SHARES_PER_UNIT` = 10**6 per reward unit, density-scaled,
  rounded down), which the rewards stage turns into token amounts;
* a `DeviceExplanation` per device: units, density scale, shares, and the reason for every
  invalid report — what the explorer shows when an operator asks "why did I earn nothing?";
* `activity`: this epoch's contribution to `CoverageHistory`, which the oracle merges into
  the history it passes to the next epoch (`history.updated(result.activity)`). Pass the
  history as it was *before* this epoch: re-running an epoch with its own activity merged in
  would judge its beacons against themselves.

`evaluate` is the same stage on already-decoded reports; `verify_epoch` calls it, and the
benchmark measures it.
"""

from __future__ import annotations

import gc
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import starmap
from typing import Any

from opendepin.geo import cell_centre
from opendepin.proofs.coverage.denylist import Denylist
from opendepin.proofs.coverage.history import CoverageHistory
from opendepin.proofs.coverage.params import COVERAGE_KIND, MS_PER_SECOND, CoverageParams
from opendepin.proofs.coverage.payload import BeaconPayload, parse_payload
from opendepin.proofs.coverage.reasons import CoverageReason, Invalid
from opendepin.proofs.coverage.scorer import (
    PPM,
    beaconer_units,
    hex_density_scales,
    shares_of,
    witness_units,
)
from opendepin.proofs.coverage.trust import Penalty, TrustResult, assess_started
from opendepin.proofs.coverage.verifier import Beacon, BeaconKey, Witness, verify_batch
from opendepin.records import ChainSnapshot, IngestedReport, Verdict
from opendepin.types import DeviceId


@dataclass(frozen=True, slots=True)
class DecodedReports:
    """A batch of coverage reports, split by type; index = position in the batch."""

    identities: tuple[tuple[DeviceId, int], ...]
    """(device, seq) of every report, in batch order."""
    beacons: tuple[Beacon, ...] = ()
    witnesses: tuple[Witness, ...] = ()
    malformed: Mapping[int, Invalid] = field(default_factory=dict)
    """Index -> why the payload could not be decoded."""


def decode_reports(reports: Sequence[IngestedReport]) -> DecodedReports:
    """Decode payloads; undecodable ones become `malformed_payload`, other kinds `wrong_report_kind`."""
    beacons: list[Beacon] = []
    witnesses: list[Witness] = []
    malformed: dict[int, Invalid] = {}
    for i, ingested in enumerate(reports):
        r = ingested.report
        if r.kind != COVERAGE_KIND:
            malformed[i] = Invalid(
                CoverageReason.WRONG_REPORT_KIND, f"report kind is {r.kind!r}, not {COVERAGE_KIND!r}"
            )
            continue
        try:
            payload = parse_payload(r.payload_obj())
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            malformed[i] = Invalid(CoverageReason.MALFORMED_PAYLOAD, str(exc))
            continue
        if isinstance(payload, BeaconPayload):
            beacons.append(
                Beacon(i, r.device, r.seq, r.epoch, r.timestamp_ms, payload)
            )
        else:
            witnesses.append(Witness(i, r.device, r.seq, r.epoch, payload))
    return DecodedReports(
        identities=tuple((ing.report.device, ing.report.seq) for ing in reports),
        beacons=tuple(beacons),
        witnesses=tuple(witnesses),
        malformed=malformed,
    )


@dataclass(frozen=True, slots=True)
class InvalidReportNote:
    """One invalid report in a device's explanation."""

    seq: int
    reason: CoverageReason
    details: str


@dataclass(frozen=True, slots=True)
class DeviceExplanation:
    """Why a device earned what it earned this epoch."""

    device: DeviceId
    beacon_units: Fraction
    """Units from its own valid beacons."""
    witness_units: Fraction
    """Units from its selected valid witness reports."""
    scale: Fraction
    """Hex density scale applied to all its units, in (0, 1]."""
    shares: int
    """floor((beacon_units + witness_units) × scale × trust × SHARES_PER_UNIT)."""
    valid_beacons: int
    valid_witnesses: int
    selected_witnesses: int
    """Valid witness reports that were within the per-beacon cap (the rest earn nothing)."""
    invalid: tuple[InvalidReportNote, ...]
    """Every invalid report of the device, with its reason."""
    denylist_version: int
    """Version of the denylist these verdicts were judged against."""
    trust: Fraction = Fraction(1)
    """Product of the penalties' factors (`trust`), in [0, 1]."""
    penalties: tuple[Penalty, ...] = ()
    """Why its units were scaled down beyond density: reason, factor, details, evidence."""
    location: str = ""
    """Outcome of its location test (`corroborated`, `uncorroborated`, `contradicted`), or ""
    when it did not beacon."""
    location_test: Mapping[str, Any] = field(default_factory=dict)
    """The test's figures (witnesses, likelihood ratio, support, offset of the best spot)."""

    def to_obj(self) -> dict[str, Any]:
        """JSON form (fractions as "numerator/denominator" strings)."""
        return {
            "device": self.device,
            "beacon_units": str(self.beacon_units),
            "witness_units": str(self.witness_units),
            "scale": str(self.scale),
            "shares": self.shares,
            "valid_beacons": self.valid_beacons,
            "valid_witnesses": self.valid_witnesses,
            "selected_witnesses": self.selected_witnesses,
            "invalid": [
                {"seq": n.seq, "reason": n.reason.value, "details": n.details}
                for n in self.invalid
            ],
            "denylist_version": self.denylist_version,
            "trust": str(self.trust),
            "penalties": [p.to_obj() for p in self.penalties],
            "location": self.location,
            "location_test": dict(self.location_test),
        }


@dataclass(frozen=True, slots=True)
class CoverageResult:
    """Everything the coverage stage produces for one epoch."""

    verdicts: tuple[Verdict, ...]
    """One per report, in input order."""
    selected: Mapping[BeaconKey, tuple[DeviceId, ...]]
    """(beaconer, counter) of each valid, witnessed beacon -> its rewarded witnesses."""
    shares: Mapping[DeviceId, int]
    """Devices with positive units -> shares (10**6 per unit, density-scaled, floored)."""
    explanations: Mapping[DeviceId, DeviceExplanation]
    """Every device that reported or earned, sorted by id."""
    activity: CoverageHistory
    """This epoch's activity, to merge into the history of the next epoch."""
    denylist_version: int


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """The cyclic garbage collector paused (and restored as it was): an epoch allocates millions
    of small acyclic objects that keep triggering full collections which find nothing, at
    about a quarter of the stage's time. Reference counting still frees everything."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def evaluate(
    decoded: DecodedReports,
    snapshot: ChainSnapshot,
    params: CoverageParams,
    history: CoverageHistory,
    denylist: Denylist,
) -> CoverageResult:
    """The coverage stage on decoded reports (what `verify_epoch` runs after decoding)."""
    with _no_cyclic_gc():
        return _evaluate(decoded, snapshot, params, history, denylist)


def _evaluate(
    decoded: DecodedReports,
    snapshot: ChainSnapshot,
    params: CoverageParams,
    history: CoverageHistory,
    denylist: Denylist,
) -> CoverageResult:
    v = verify_batch(decoded.beacons, decoded.witnesses, snapshot, params, history, denylist)
    epoch = _epoch_of(decoded)
    # The location tests run on their own thread (and the cores) while this one builds what
    # does not depend on them: the verdicts of the rules, units and activity.
    pending = assess_started(decoded.beacons, decoded.witnesses, v, snapshot, params, history, epoch)
    try:
        outcomes: dict[int, Invalid | None] = dict(decoded.malformed)
        outcomes.update(v.beacon_outcomes)
        outcomes.update(v.witness_outcomes)
        n = len(decoded.identities)
        if n and not (len(outcomes) == n and min(outcomes) == 0 and max(outcomes) == n - 1):
            for i in range(n):  # every report is malformed, a beacon or a witness
                outcomes[i]  # a KeyError names the report without an outcome
        invalid = {i: o for i, o in outcomes.items() if o is not None}
        verdicts = list(starmap(Verdict, decoded.identities))
        for i, o in invalid.items():
            if 0 <= i < n:
                device, seq = decoded.identities[i]
                verdicts[i] = Verdict(device, seq, o.reason, o.details)
        counted = _units(v.selected, params)
        activity = _activity(decoded, v.beacon_outcomes, v.witness_outcomes, v.selected, params, epoch, v.valid)
    except BaseException:
        pending.close()
        raise
    trust = pending.result()
    for i in trust.relieved:  # too loud only against a beaconer's contradicted claim
        outcomes[i] = None
        invalid.pop(i, None)
        verdicts[i] = Verdict(*decoded.identities[i])
    b_units, w_units, witness_n = counted

    cov = params.coverage
    scales = _scales(decoded, snapshot, params, history, activity, trust, epoch)
    unknown_scale = Fraction(cov.unknown_hex_scale_ppm, PPM)

    # Explanations for every device that reported or earned.
    notes: dict[DeviceId, list[InvalidReportNote]] = defaultdict(list)
    for i, o in invalid.items():
        device, seq = decoded.identities[i]
        notes[device].append(InvalidReportNote(seq, o.reason, o.details))
    valid_beacons: Counter[DeviceId] = Counter(
        b.device for b in decoded.beacons if v.beacon_outcomes[b.index] is None
    )
    valid_witnesses: Counter[DeviceId] = Counter(
        w.device for w in decoded.witnesses if outcomes[w.index] is None
    )
    selected_witnesses: Counter[DeviceId] = Counter(d for (d, _n) in witness_n.elements())
    devices = sorted({d for d, _ in decoded.identities} | set(b_units) | set(w_units))
    shares: dict[DeviceId, int] = {}
    explanations: dict[DeviceId, DeviceExplanation] = {}
    for device in devices:
        units = b_units.get(device, Fraction(0)) + w_units.get(device, Fraction(0))
        scale = scales.get(device, unknown_scale)
        factor = trust.trust(device)
        device_shares = shares_of(units, scale * factor)
        if units > 0:
            shares[device] = device_shares
        explanations[device] = DeviceExplanation(
            device=device,
            beacon_units=b_units.get(device, Fraction(0)),
            witness_units=w_units.get(device, Fraction(0)),
            scale=scale,
            shares=device_shares,
            valid_beacons=valid_beacons[device],
            valid_witnesses=valid_witnesses[device],
            selected_witnesses=selected_witnesses[device],
            invalid=tuple(sorted(notes[device], key=lambda n: n.seq)),
            denylist_version=denylist.version,
            trust=factor,
            penalties=trust.penalties.get(device, ()),
            location=_status(trust, device),
            location_test=_location_test(trust, device),
        )
    return CoverageResult(
        verdicts=tuple(verdicts),
        selected=v.selected,
        shares=shares,
        explanations=explanations,
        activity=activity,
        denylist_version=denylist.version,
    )


def _units(
    selected: Mapping[BeaconKey, tuple[DeviceId, ...]], params: CoverageParams
) -> tuple[dict[DeviceId, Fraction], dict[DeviceId, Fraction], Counter[tuple[DeviceId, int]]]:
    """Beacon and witness units per device, and the (witness, n) counts: beacons and witnesses
    counted per (device, n) and multiplied once per count."""
    cov = params.coverage
    beacon_n: Counter[tuple[DeviceId, int]] = Counter()
    witness_n: Counter[tuple[DeviceId, int]] = Counter()
    for (beaconer, _counter), chosen in selected.items():
        n = len(chosen)
        beacon_n[beaconer, n] += 1
        for w in chosen:
            witness_n[w, n] += 1
    b_units = _sum_units(
        beacon_n,
        lambda n: beaconer_units(n, cov.witness_redundancy, cov.witness_decay_ppm, cov.beaconer_units_cap),
    )
    w_units = _sum_units(witness_n, lambda n: witness_units(n, cov.witness_redundancy, cov.witness_decay_ppm))
    return b_units, w_units, witness_n


def _sum_units(
    counts: Mapping[tuple[DeviceId, int], int], units: Callable[[int], Fraction]
) -> dict[DeviceId, Fraction]:
    """Device -> Σ count × units(n) over its (device, n) counts: the exact sum, as integers
    over the common denominator of the few distinct units(n), one Fraction per device."""
    of_n = {n: units(n) for n in sorted({n for _, n in counts})}
    common = math.lcm(*(u.denominator for u in of_n.values())) if of_n else 1
    scaled = {n: u.numerator * (common // u.denominator) for n, u in of_n.items()}
    numerators: dict[DeviceId, int] = defaultdict(int)
    for (device, n), count in counts.items():
        numerators[device] += count * scaled[n]
    return {device: Fraction(numerator, common) for device, numerator in numerators.items()}


def _activity(
    decoded: DecodedReports,
    beacon_outcomes: Mapping[int, Invalid | None],
    witness_outcomes: Mapping[int, Invalid | None],
    selected: Mapping[BeaconKey, tuple[DeviceId, ...]],
    params: CoverageParams,
    epoch: int,
    valid: Sequence[tuple[Witness, Beacon]] | None = None,
) -> CoverageHistory:
    """This epoch's activity; `valid` (if given) lists the witness reports whose outcome is None,
    in input order, with their beacons."""
    last_beacon: dict[DeviceId, int] = {}
    last_valid_beacon: dict[DeviceId, int] = {}
    last_active: dict[DeviceId, int] = {}
    not_counted = (CoverageReason.DUPLICATE, CoverageReason.IRREGULAR_INTERVAL)
    for b in decoded.beacons:
        outcome = beacon_outcomes[b.index]
        if outcome is None or outcome.reason not in not_counted:
            last_beacon[b.device] = max(b.sent_ms, last_beacon.get(b.device, b.sent_ms))
        if outcome is None:
            last_valid_beacon[b.device] = max(b.sent_ms, last_valid_beacon.get(b.device, 0))
            if (b.device, b.payload.counter) in selected:
                last_active[b.device] = max(b.sent_ms, last_active.get(b.device, 0))
    last_valid_witness: dict[DeviceId, int] = {}
    valid_witnesses = (
        [w for w in decoded.witnesses if witness_outcomes[w.index] is None] if valid is None else [w for w, _ in valid]
    )
    for w in valid_witnesses:
        ms, device = w.payload.received_ms, w.device
        last = last_valid_witness.get(device)
        if last is None or ms > last:
            last_valid_witness[device] = ms
    start = params.epoch_start_ms(epoch)
    first_seen = {d: start for d in sorted({d for d, _ in decoded.identities})}
    return CoverageHistory(last_beacon, last_valid_beacon, last_valid_witness, last_active, first_seen)


def _status(trust: TrustResult, device: DeviceId) -> str:
    status = trust.locations.status(device)
    return "" if status is None else status.value


def _location_test(trust: TrustResult, device: DeviceId) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for side, fits in (("beacons", trust.locations.transmitter), ("receptions", trust.locations.receiver)):
        fit = fits.get(device)
        if fit is not None:
            out[side] = {"status": fit.status.value, **fit.summary()}
    return out


def _epoch_of(decoded: DecodedReports) -> int:
    """The epoch the batch is for (the latest any decoded report names; 0 for none)."""
    return max([b.epoch for b in decoded.beacons] + [w.epoch for w in decoded.witnesses], default=0)


def _scales(
    decoded: DecodedReports,
    snapshot: ChainSnapshot,
    params: CoverageParams,
    history: CoverageHistory,
    activity: CoverageHistory,
    trust: TrustResult,
    epoch: int,
) -> dict[DeviceId, Fraction]:
    """Density scale of every device active in the density window (others: unknown scale)."""
    if not decoded.beacons and not decoded.witnesses:
        return {}
    since_ms = params.epoch_end_ms(epoch) - params.coverage.density_window_seconds * MS_PER_SECOND
    active = set(activity.last_active_ms)
    active.update(d for d, ms in history.last_active_ms.items() if ms >= since_ms)
    # A contradicted location, a cluster that earns nothing or a second key of one receiver
    # is no coverage: counting it would lower its honest neighbours' scale (`trust`).
    active -= trust.uncounted
    # Only a valid asserted cell places a device in a hex: a device the history remembers may
    # since have changed its registry entry to no location, or to a value that is no H3 cell.
    located = {
        d: snapshot.devices[d].location
        for d in sorted(active)
        if d in snapshot.devices and cell_centre(snapshot.devices[d].location) is not None
    }
    by_cell = hex_density_scales(located.values(), params.coverage.density_resolutions)
    return {d: by_cell[cell] for d, cell in located.items()}


def verify_epoch(
    reports: Sequence[IngestedReport],
    snapshot: ChainSnapshot,
    params: CoverageParams,
    history: CoverageHistory | None = None,
    denylist: Denylist | None = None,
) -> CoverageResult:
    """Verify and score one epoch of coverage reports (see the module docstring)."""
    with _no_cyclic_gc():
        decoded = decode_reports(reports)
    return evaluate(
        decoded,
        snapshot,
        params,
        history if history is not None else CoverageHistory(),
        denylist if denylist is not None else Denylist(),
    )
