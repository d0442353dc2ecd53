"""Heartbeat scoring: trusted online hours, in integer quarter-hours.

A device's share of the heartbeat pool for an epoch is

```
share = Σ over distinct online hours h of trust(h)        (in quarters: 1.0 → 4, 0.25 → 1)
        if the number of distinct online hours ≥ heartbeat.min_online_hours, else 0
```

- An *online hour* is a bucket `(timestamp − epoch start) // hour_seconds` holding at least
  one **valid** heartbeat of the device (invalid ones, including `location_untrusted`, do not
  count towards uptime).
- `trust(h)` is the best location trust among the device's valid heartbeats in that hour, so
  the result does not depend on which of several same-hour heartbeats arrived first. With a
  constant trust this is exactly "distinct hours × trust".
- Shares are therefore integers: quarter-hours of trusted uptime (24 h at trust 1.0 = 96).
  Only devices with a positive share appear in `Shares`; `explain` covers every device that
  sent anything, with the reasons it earned less or nothing (including
  `insufficient_uptime`).

With the liveness challenge on (`heartbeat.liveness_window_seconds` > 0) a heartbeat's hour
is its entropy block's hour (`verifier.challenge_hour`), not its timestamp's.

The scorer trusts the verdicts it is given for validity, but recomputes the location (and the
challenge hour) of each valid heartbeat from the sealed payload (cheap, and keeps the verdict
type kind-neutral).

**Caps per spot and per owner** (`apply_caps`, after the uptime minimum). A farm of keys on one
machine, or one owner's rack of devices at one address, would otherwise earn once per key.
Among the devices that would earn:

1. at most `max_devices_per_cell` (2) per H3 cell at `cap_resolution` (10, ~66 m edge, about
   0.015 km²) are rewarded. The cell is the one holding the centre of the device's *asserted*
   cell (registry), so moving the reported fix cannot escape the cap, and asserting a cell of
   another resolution at the same spot does not either. Why 10 and 2: the cap must bind a
   rack of keys at one spot while leaving honest neighbours (two floors, two shops side by
   side) alone. Measured on the seeded populations: the attack suite's `hb_farm30` (30 keys
   over a ~20 m square) earns 4/30 of an honest key per key at resolution 10 and 2/30 at 9,
   while the 200-device demo (honest devices spread over ~60 km² around Lisbon) loses no
   honest device at 10 but 7 (3.7 %) at 9. Coarser cells would penalise honest density more
   than they cost a farm, which can always spread its assertions over neighbouring cells (a
   heartbeat is trusted up to `full_trust_meters` from its asserted centre, so the position
   itself cannot separate devices more finely than ~300 m; see docs/heartbeat.md).
   The same cap then counts the cell of the *reported fix* (the cap cell most of a device's
   valid heartbeats were in; group `fix <cell>`): a farm that spreads its asserted cells but
   reports one spot is one spot (`hb_farm30` then earns 3/30 of an honest key per key).
2. then at most `max_devices_per_owner` (1000) per registry owner
   (`ChainSnapshot.devices[d].owner`). Owner addresses cost nothing to create, so this cap
   only binds honest fleets and careless farms; it is generous so a real operator with many
   sites is not cut, and exists so a network can lower it (with KYC'd owners, for example).

Which devices keep their reward in an over-full group does not depend on input order and
cannot be chosen by the devices: they are ranked by `keccak256(snapshot.entropy ‖ device)`
(the close block's hash, unknown until the epoch is over) and the lowest keys are kept.
A capped device earns 0 with reason `cell_cap` or `owner_cap`; its explanation names the
cell (or owner) and the devices that were kept. 0 for either limit means no cap.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import h3
from h3.api import basic_int as h3_int

from opendepin.crypto import keccak256
from opendepin.errors import StageError
from opendepin.network.settings import Settings
from opendepin.proofs.heartbeat.geo import cell_centre, distance_to_cell_m, trust_quarters
from opendepin.proofs.heartbeat.payload import E7, HeartbeatPayload, parse_payload
from opendepin.proofs.heartbeat.settings import HeartbeatSection, heartbeat_section
from opendepin.proofs.heartbeat.verifier import (
    MS_PER_SECOND,
    HeartbeatReason,
    LocationCheck,
    challenge_hour,
)
from opendepin.records import ChainSnapshot, IngestedReport, Shares, Verdict, tuple_pickled
from opendepin.types import DeviceId

MAX_KEPT_LISTED = 16
"""A capped device's explanation names at most this many of the kept devices (an owner cap
of 1000 would otherwise repeat 1000 ids in every capped device's explanation)."""


@tuple_pickled
@dataclass(frozen=True, slots=True)
class CapDecision:
    """Why a device that would have earned was capped to 0 (published in its explanation)."""

    reason: HeartbeatReason
    """`cell_cap` or `owner_cap`."""
    group: str
    """The cap cell (H3 index as hex text) or the owner address."""
    kept: tuple[DeviceId, ...]
    """The devices of that group that were rewarded, in rank order (the first
    `MAX_KEPT_LISTED` of them)."""
    kept_total: int
    """How many devices of that group were rewarded."""

    def to_obj(self) -> dict[str, Any]:
        key = "cell" if self.reason is HeartbeatReason.CELL_CAP else "owner"
        return {"reason": self.reason.value, key: self.group, "kept": list(self.kept), "kept_total": self.kept_total}


@tuple_pickled
@dataclass(frozen=True, slots=True)
class HeartbeatExplanation:
    """Why a device earned what it earned this epoch (published with the epoch)."""

    device: DeviceId
    heartbeats: int
    """Valid heartbeats received (several in one hour count once)."""
    hours: int
    """Distinct online hours."""
    trusted_quarter_hours: int
    """Σ per-hour trust in quarters, before the uptime minimum is applied."""
    min_trust_quarters: int | None
    """Lowest per-hour trust (4 = 1.0, 1 = 0.25); None without valid heartbeats."""
    max_distance_m: int | None
    """Largest distance from the asserted cell among valid heartbeats, whole metres."""
    invalid: tuple[tuple[str, int], ...]
    """(reason, count) of invalid heartbeats, sorted by reason."""
    share: int
    """The device's share: trusted_quarter_hours, or 0 below the uptime minimum."""
    reasons: tuple[str, ...]
    """Reasons this device earned less than a perfect epoch, sorted (device and report level)."""
    capped: CapDecision | None = None
    """Set when a cap took the device's share to 0."""


def explain(
    reports: Sequence[IngestedReport],
    verdicts: Sequence[Verdict],
    snapshot: ChainSnapshot,
    settings: Settings,
    payloads: Sequence[HeartbeatPayload | None] | None = None,
) -> dict[DeviceId, HeartbeatExplanation]:
    """Per-device explanation (and share) for every device that sent a heartbeat.

    `payloads`, when given, are the verifier's parsed payloads in report order (None for
    invalid ones), so a valid heartbeat's payload is decoded once per epoch, not twice.

    Two steps: `tally` (everything about one device that depends only on its own heartbeats)
    and `settle` (the caps, which compare devices). `tally` of a device depends on no other
    device, so an epoch split by device can be tallied shard by shard, on any machine, and
    settled once (`HeartbeatKind.compute_shard` / `combine`).
    """
    return settle(tally(reports, verdicts, snapshot, settings, payloads), snapshot, settings)


@tuple_pickled
@dataclass(frozen=True, slots=True)
class DeviceTally:
    """One device's epoch before the caps: its explanation as if uncapped, and its fix cell."""

    explanation: HeartbeatExplanation
    """Share, hours, trust and reasons before `apply_caps`."""
    fix: str | None
    """The cap cell most of its valid heartbeats were reported in (None without any)."""
    cell: str | None = None
    """The cap cell of its asserted location (`cap_cell`), when it is earning and the shard
    knew the snapshot: computed where the shard runs, so the caps need not compute it for
    every earning device in the one process that settles the epoch."""

    @property
    def earning(self) -> bool:
        """Whether the caps consider it (enough hours and a positive share)."""
        return self.explanation.share > 0


def tally(
    reports: Sequence[IngestedReport],
    verdicts: Sequence[Verdict],
    snapshot: ChainSnapshot,
    settings: Settings,
    payloads: Sequence[HeartbeatPayload | None] | None = None,
    locations: Sequence[LocationCheck | None] | None = None,
) -> dict[DeviceId, DeviceTally]:
    """Per device that sent a heartbeat: its uncapped explanation (see `explain`).

    `locations`, when given, are the verifier's location checks in report order (None for
    invalid ones): the distance and trust it measured, so they are not measured twice."""
    if len(reports) != len(verdicts):
        raise StageError(f"{len(reports)} reports but {len(verdicts)} verdicts")
    if payloads is not None and len(payloads) != len(reports):
        raise StageError(f"{len(reports)} reports but {len(payloads)} parsed payloads")
    if locations is not None and len(locations) != len(reports):
        raise StageError(f"{len(reports)} reports but {len(locations)} location checks")
    window_starts: dict[int, int] = {}
    section = heartbeat_section(settings)
    builder = TallyBuilder(section)
    for index, (ingested, verdict) in enumerate(zip(reports, verdicts, strict=True)):
        report = ingested.report
        if (verdict.device, verdict.seq) != (report.device, report.seq):
            raise StageError(f"verdict for {verdict.device}#{verdict.seq} does not match report")
        device = report.device
        if not verdict.valid:
            builder.invalid(device, str(verdict.reason))
            continue
        record = snapshot.devices.get(device)
        centre = cell_centre(record.location) if record is not None else None
        if centre is None:
            raise StageError(f"valid verdict for {device} without an asserted location")
        parsed = payloads[index] if payloads is not None else None
        payload = parsed if parsed is not None else parse_payload(report.payload_obj())
        checked = locations[index] if locations is not None else None
        if checked is not None:
            distance, trust = checked.distance_m, checked.trust_quarters
        else:
            distance = distance_to_cell_m(payload.lat_e7, payload.lon_e7, centre)
            trust = trust_quarters(distance, section)
        start_ms = window_starts.get(report.epoch)
        if start_ms is None:
            start_ms = window_starts[report.epoch] = settings.network.epoch_window_ms(report.epoch)[0]
        hour = _hour_of(report.timestamp_ms, payload, snapshot, section, start_ms)
        builder.valid(device, hour, trust, distance, fix_cell(payload.lat_e7, payload.lon_e7, section))
    return builder.finish(snapshot)


def fix_cell(lat_e7: int, lon_e7: int, section: HeartbeatSection) -> str:
    """The cap cell (H3 hex text at `cap_resolution`) of a reported fix."""
    return str(h3.latlng_to_cell(lat_e7 / E7, lon_e7 / E7, section.cap_resolution))


def fix_cells(section: HeartbeatSection) -> Callable[[int, int], str]:
    """`fix_cell` for one section, for a hot loop: the cell found as an integer and its hex
    text looked up (a shard's fixes fall in few cells), the same text `fix_cell` returns."""
    resolution = section.cap_resolution
    to_cell = h3_int.latlng_to_cell
    texts: dict[int, str] = {}

    def cell(lat_e7: int, lon_e7: int) -> str:
        number = to_cell(lat_e7 / E7, lon_e7 / E7, resolution)
        text = texts.get(number)
        if text is None:
            text = texts[number] = str(h3.int_to_str(number))
        return text

    return cell


class TallyBuilder:
    """Accumulates one shard's heartbeats device by device, in any order, into the tallies
    `tally` returns: every path that judges heartbeats (`tally` from verdicts, the sealed-line
    fast path `lines.compute_lines`) feeds one of these, so they cannot tally differently."""

    __slots__ = ("_distance", "_fixes", "_heartbeats", "_hours", "_invalid", "_minimum", "_resolution")

    def __init__(self, section: HeartbeatSection) -> None:
        self._minimum = section.min_online_hours
        self._resolution = section.cap_resolution
        self._hours: dict[DeviceId, dict[int, int]] = {}
        """Per device: hour -> best trust (quarters) of its valid heartbeats in that hour."""
        self._heartbeats: dict[DeviceId, int] = {}
        self._distance: dict[DeviceId, int] = {}
        """Largest distance of a valid heartbeat (absent without any)."""
        self._fixes: dict[DeviceId, Counter[str]] = {}
        """Cap cells of the reported fixes of its valid heartbeats."""
        self._invalid: dict[DeviceId, Counter[str]] = {}

    def invalid(self, device: DeviceId, reason: str) -> None:
        """An invalid heartbeat of `device` (reason value)."""
        if device not in self._hours:
            self._start(device)
        counts = self._invalid.get(device)
        if counts is None:
            counts = self._invalid[device] = Counter()
        counts[reason] += 1

    def valid(self, device: DeviceId, hour: int, trust: int, distance: int, fix: str) -> None:
        """A valid heartbeat of `device`: the hour it counts for, its trust in quarters, its
        whole-metre distance from the asserted cell and the cap cell of its fix."""
        hours = self._hours.get(device)
        if hours is None:
            hours = self._start(device)
        best = hours.get(hour)
        if best is None or best < trust:
            hours[hour] = trust
        self._heartbeats[device] += 1
        farthest = self._distance.get(device)
        if farthest is None or farthest < distance:
            self._distance[device] = distance
        self._fixes[device][fix] += 1

    def merge_run(
        self, device: DeviceId, hours: dict[int, int], count: int, farthest: int, fixes: dict[str, int]
    ) -> None:
        """`count` valid heartbeats of `device` at once: `valid` called for each of them gives
        the same tally (per hour the best trust, the largest distance, the fixes counted)."""
        mine = self._hours.get(device)
        if mine is None:
            mine = self._start(device)
        for hour, trust in hours.items():
            best = mine.get(hour)
            if best is None or best < trust:
                mine[hour] = trust
        self._heartbeats[device] += count
        known = self._distance.get(device)
        if known is None or known < farthest:
            self._distance[device] = farthest
        self._fixes[device].update(fixes)

    def _start(self, device: DeviceId) -> dict[int, int]:
        hours: dict[int, int] = {}
        self._hours[device] = hours
        self._heartbeats[device] = 0
        self._fixes[device] = Counter()
        return hours

    def finish(self, snapshot: ChainSnapshot | None = None) -> dict[DeviceId, DeviceTally]:
        """The tallies, sorted by device; with `snapshot`, each earning device's asserted cap
        cell (`DeviceTally.cell`) too."""
        out: dict[DeviceId, DeviceTally] = {}
        devices = snapshot.devices if snapshot is not None else {}
        resolution = self._resolution
        for device in sorted(self._hours):
            hours = self._hours[device]
            total = sum(hours.values())
            counts = self._invalid.get(device, Counter())
            reasons = set(counts)
            enough = len(hours) >= self._minimum
            if not enough:
                reasons.add(HeartbeatReason.INSUFFICIENT_UPTIME.value)
            fixes = self._fixes[device]
            share = total if enough else 0
            record = devices.get(device) if share > 0 else None
            out[device] = DeviceTally(
                HeartbeatExplanation(
                    device=device,
                    heartbeats=self._heartbeats[device],
                    hours=len(hours),
                    trusted_quarter_hours=total,
                    min_trust_quarters=min(hours.values()) if hours else None,
                    max_distance_m=self._distance.get(device),
                    invalid=tuple(sorted(counts.items())),
                    share=share,
                    reasons=tuple(sorted(reasons)),
                ),
                min(fixes.items(), key=lambda kv: (-kv[1], kv[0]))[0] if fixes else None,
                cap_cell(record.location, resolution) if record is not None else None,
            )
        return out


def settle(
    tallies: Mapping[DeviceId, DeviceTally], snapshot: ChainSnapshot, settings: Settings
) -> dict[DeviceId, HeartbeatExplanation]:
    """The final explanations: every tallied device, the caps applied (sorted by device)."""
    section = heartbeat_section(settings)
    out = {device: tallies[device].explanation for device in sorted(tallies)}
    earning = {device for device, t in tallies.items() if t.earning}
    fixes = {device: t.fix for device, t in tallies.items() if t.fix is not None}
    cells = {device: t.cell for device, t in tallies.items() if t.cell is not None}
    for device, decision in apply_caps(earning, snapshot, section, fixes, cells).items():
        e = out[device]
        out[device] = replace(
            e, share=0, reasons=tuple(sorted({*e.reasons, decision.reason.value})), capped=decision
        )
    return out


def _hour_of(
    timestamp_ms: int,
    payload: HeartbeatPayload,
    snapshot: ChainSnapshot,
    section: HeartbeatSection,
    epoch_start_ms: int,
) -> int:
    """The hour a valid heartbeat counts for: its challenge block's with liveness on, else its
    timestamp's."""
    hour_ms = section.hour_seconds * MS_PER_SECOND
    if section.liveness_window_seconds == 0:
        return (timestamp_ms - epoch_start_ms) // hour_ms
    block = snapshot.entropy_blocks.get(payload.challenge_block) if payload.challenge_block is not None else None
    if block is None:
        raise StageError(f"valid heartbeat without a known challenge block ({payload.challenge_block})")
    return challenge_hour(block, epoch_start_ms, hour_ms)


def rank_key(entropy: bytes, device: DeviceId) -> bytes:
    """`keccak256(entropy ‖ device address)`: a device's place in a cap group (lowest first)."""
    return keccak256(entropy + bytes.fromhex(device[2:]))


def cap_cell(location: int, resolution: int) -> str | None:
    """The H3 cell (hex text) at `resolution` holding the centre of the asserted cell
    `location`; None when `location` is not a valid cell."""
    centre = cell_centre(location)
    if centre is None:
        return None
    return str(h3.latlng_to_cell(centre[0], centre[1], resolution))


def _over_cap(
    group_of: Mapping[DeviceId, str], limit: int, reason: HeartbeatReason, entropy: bytes
) -> dict[DeviceId, CapDecision]:
    """The devices of groups (`group_of`: device -> its group) holding more than `limit`
    devices, past the first `limit` in rank order. Only the groups over the limit are
    gathered and ranked (most groups hold one device)."""
    out: dict[DeviceId, CapDecision] = {}
    if limit == 0:
        return out
    over = {group for group, n in Counter(group_of.values()).items() if n > limit}
    if not over:
        return out
    groups: dict[str, list[DeviceId]] = {}
    for device, group in group_of.items():
        if group in over:
            groups.setdefault(group, []).append(device)
    for group, members in sorted(groups.items()):
        ranked = sorted(members, key=lambda d: (rank_key(entropy, d), d))
        kept = tuple(ranked[: min(limit, MAX_KEPT_LISTED)])
        for device in ranked[limit:]:
            out[device] = CapDecision(reason, group, kept, limit)
    return out


def apply_caps(
    earning: set[DeviceId],
    snapshot: ChainSnapshot,
    section: HeartbeatSection,
    fixes: Mapping[DeviceId, str] | None = None,
    cells: Mapping[DeviceId, str] | None = None,
) -> dict[DeviceId, CapDecision]:
    """The devices of `earning` that a cap takes to 0, and why (see the module docstring):
    first `max_devices_per_cell` per cap cell of the asserted location, then as many per cap
    cell of the reported fix (`fixes`: the cell most of a device's valid heartbeats were in —
    a farm that spreads its asserted cells but reports one spot is one spot), then
    `max_devices_per_owner` per owner among the devices the cell caps left. A pure function of
    its arguments (set order is irrelevant). `cells`: asserted cap cells already computed
    (`DeviceTally.cell`; each must be `cap_cell` of the device's location), the rest are
    computed here."""
    known = cells or {}
    devices = snapshot.devices
    cell_of: dict[DeviceId, str] = {}
    for device in earning:
        cell = known.get(device)
        if cell is None:
            record = devices.get(device)
            cell = cap_cell(record.location, section.cap_resolution) if record is not None else None
            if cell is None:
                raise StageError(f"earning device {device} without an asserted location")
        cell_of[device] = cell
    entropy = snapshot.entropy
    capped = _over_cap(cell_of, section.max_devices_per_cell, HeartbeatReason.CELL_CAP, entropy)
    reported = fixes or {}
    fix_of = {
        device: "fix " + fix
        for device in earning
        if device not in capped and (fix := reported.get(device)) is not None
    }
    capped.update(_over_cap(fix_of, section.max_devices_per_cell, HeartbeatReason.CELL_CAP, entropy))
    owner_of = {device: str(devices[device].owner) for device in earning if device not in capped}
    capped.update(_over_cap(owner_of, section.max_devices_per_owner, HeartbeatReason.OWNER_CAP, entropy))
    return capped


def score(
    reports: Sequence[IngestedReport],
    verdicts: Sequence[Verdict],
    snapshot: ChainSnapshot,
    settings: Settings,
) -> Shares:
    """Shares (quarter-hours of trusted uptime) per device with a positive share."""
    explained = explain(reports, verdicts, snapshot, settings)
    return {device: e.share for device, e in explained.items() if e.share > 0}
