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

The scorer trusts the verdicts it is given for validity, but recomputes the location of each
valid heartbeat from the sealed payload (cheap, and keeps the verdict type kind-neutral).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from opendepin.errors import StageError
from opendepin.network.settings import Settings
from opendepin.proofs.heartbeat.geo import cell_centre, distance_to_cell_m, trust_quarters
from opendepin.proofs.heartbeat.payload import parse_payload
from opendepin.proofs.heartbeat.settings import heartbeat_section
from opendepin.proofs.heartbeat.verifier import MS_PER_SECOND, HeartbeatReason
from opendepin.records import ChainSnapshot, IngestedReport, Shares, Verdict
from opendepin.types import DeviceId


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


@dataclass
class _Acc:
    heartbeats: int = 0
    max_distance_m: int | None = None


def explain(
    reports: Sequence[IngestedReport],
    verdicts: Sequence[Verdict],
    snapshot: ChainSnapshot,
    settings: Settings,
) -> dict[DeviceId, HeartbeatExplanation]:
    """Per-device explanation (and share) for every device that sent a heartbeat."""
    if len(reports) != len(verdicts):
        raise StageError(f"{len(reports)} reports but {len(verdicts)} verdicts")
    section = heartbeat_section(settings)
    hour_ms = section.hour_seconds * MS_PER_SECOND
    hour_trust: dict[DeviceId, dict[int, int]] = {}
    acc: dict[DeviceId, _Acc] = {}
    invalid: dict[DeviceId, Counter[str]] = {}
    for ingested, verdict in zip(reports, verdicts, strict=True):
        report = ingested.report
        if (verdict.device, verdict.seq) != (report.device, report.seq):
            raise StageError(f"verdict for {verdict.device}#{verdict.seq} does not match report")
        device = report.device
        a = acc.setdefault(device, _Acc())
        hours = hour_trust.setdefault(device, {})
        if not verdict.valid:
            invalid.setdefault(device, Counter())[str(verdict.reason)] += 1
            continue
        record = snapshot.devices.get(device)
        centre = cell_centre(record.location) if record is not None else None
        if centre is None:
            raise StageError(f"valid verdict for {device} without an asserted location")
        payload = parse_payload(report.payload_obj())
        distance = distance_to_cell_m(payload.lat_e7, payload.lon_e7, centre)
        trust = trust_quarters(distance, section)
        start_ms, _ = settings.network.epoch_window_ms(report.epoch)
        hour = (report.timestamp_ms - start_ms) // hour_ms
        hours[hour] = max(hours.get(hour, 0), trust)
        a.heartbeats += 1
        a.max_distance_m = distance if a.max_distance_m is None else max(a.max_distance_m, distance)

    out: dict[DeviceId, HeartbeatExplanation] = {}
    minimum = section.min_online_hours
    for device in sorted(acc):
        hours = hour_trust[device]
        total = sum(hours.values())
        counts = invalid.get(device, Counter())
        reasons = set(counts)
        enough = len(hours) >= minimum
        if not enough:
            reasons.add(HeartbeatReason.INSUFFICIENT_UPTIME.value)
        out[device] = HeartbeatExplanation(
            device=device,
            heartbeats=acc[device].heartbeats,
            hours=len(hours),
            trusted_quarter_hours=total,
            min_trust_quarters=min(hours.values()) if hours else None,
            max_distance_m=acc[device].max_distance_m,
            invalid=tuple(sorted(counts.items())),
            share=total if enough else 0,
            reasons=tuple(sorted(reasons)),
        )
    return out


def score(
    reports: Sequence[IngestedReport],
    verdicts: Sequence[Verdict],
    snapshot: ChainSnapshot,
    settings: Settings,
) -> Shares:
    """Shares (quarter-hours of trusted uptime) per device with a positive share."""
    explained = explain(reports, verdicts, snapshot, settings)
    return {device: e.share for device, e in explained.items() if e.share > 0}
