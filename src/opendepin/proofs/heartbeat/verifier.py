"""Heartbeat verification: an ordered list of small rules, each naming its reason.

For every sealed heartbeat the rules run in this order, and the first that fails decides the
verdict (later rules never see a report an earlier one rejected):

Rules 1–5, 7 and 8 are the shared rules every kind uses (`opendepin.proofs.rules`).

| # | rule | reason |
|---|------|--------|
| 1 | `verify_kind` — the report is a heartbeat | `wrong_report_kind` |
| 2 | `verify_registered` — the device is in the registry snapshot | `unknown_device` |
| 3 | `verify_active` — and not deactivated | `inactive_device` |
| 4 | `verify_device_kind` — it was registered as a heartbeat device | `wrong_device_kind` |
| 5 | `verify_location_asserted` — it asserted a valid H3 cell | `location_not_asserted` |
| 6 | `verify_payload` — the payload is well formed (`payload.parse_payload`) | `malformed_payload` |
| 7 | `verify_in_epoch` — its timestamp lies inside its epoch | `wrong_epoch` |
| 8 | `verify_unique_seq` — no earlier report in the input has the same (device, seq) | `duplicate` |
| 9 | `verify_liveness` — it names an epoch entropy block with its hash and was signed within `liveness_window_seconds` after it (when that is > 0) | `bad_challenge`, `stale_challenge` |
| 10 | `verify_location_trust` — trust above 0 (within `partial_trust_meters`) | `location_untrusted` |

**Liveness (rule 9).** A device can sign a heartbeat with any timestamp, so on its own a
heartbeat proves only that the key existed. With `liveness_window_seconds` > 0 (the default,
300 s) each heartbeat
names the hour's entropy block — per `hour_seconds` window of the epoch, the last block at or
before the window's start, frozen in the snapshot (`ChainSnapshot.entropy_blocks`, asked for
by `HeartbeatKind.entropy_window_seconds`) — and its hash, and must be timestamped in
`[block time, block time + liveness_window_seconds]`. The hour it counts for is the block's
hour (`challenge_hour`), not whatever the timestamp says. No one knows a block hash before the
block exists, so a heartbeat cannot be pre-signed for a future hour; and ingest's `stale`
check (by the receiving oracle's clock) refuses one signed long after its block. Together:
to earn an hour a device must sign within the window after that hour's block and deliver the
heartbeat within `report_max_age_seconds` of its timestamp — it must be online around then.

**Freshness is ingest's, not the verifier's.** Ingest rejects a heartbeat whose timestamp
trails its clock by more than `report_max_age_seconds` (`stale`) or leads it by more than
`report_max_future_seconds` (`future`), and any report after its epoch's end plus
`report_grace_seconds` (`epoch_closed`). That bounds how many past hours a device can claim
with a burst of back-dated heartbeats. The verifier cannot repeat those checks: they read
the receiving oracle's clock, which is not in the sealed inputs (and must not be — it
differs between oracles, which would make their sealed files, and so their signed claims,
differ).

**Several heartbeats in one hour are not an error.** Agents retry and may beat more often
than hourly, so a second heartbeat in the same hour is a *valid* verdict that simply adds
nothing: the scorer counts distinct hours (as Helium does). There is deliberately no
`duplicate_hour` reason, so an operator's list of invalid reasons contains only real faults.

`verify` is a pure function of (reports, snapshot, settings); its only order dependence is
rule 8 (the first of two reports with the same (device, seq) is the valid one), and sealed
input order is fixed by the sealing stage. Caps per cell and per owner are device-level and
live in the scorer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from opendepin.geo import cell_centre
from opendepin.network.settings import NetworkSection, Settings
from opendepin.proofs import rules
from opendepin.proofs.heartbeat.geo import NO_TRUST_QUARTERS, distance_to_cell_m, trust_quarters
from opendepin.proofs.heartbeat.payload import HeartbeatPayload, parse_payload
from opendepin.proofs.heartbeat.reasons import HeartbeatReason as HeartbeatReason
from opendepin.proofs.heartbeat.settings import HeartbeatSection, heartbeat_section
from opendepin.proofs.rules import Invalid
from opendepin.records import ChainSnapshot, DeviceRecord, EntropyBlock, IngestedReport, Verdict
from opendepin.reports.envelope import Report
from opendepin.types import DeviceId, ProofKind

HEARTBEAT_KIND = ProofKind("heartbeat")
MS_PER_SECOND = 1_000


@dataclass(frozen=True, slots=True)
class LocationCheck:
    """Outcome of the location rule for a heartbeat that passed it."""

    distance_m: int
    """Whole metres from the asserted cell's centre."""
    trust_quarters: int
    """Location trust in quarters (4 = 1.0, 1 = 0.25)."""


def verify_kind(report: Report) -> Invalid | None:
    return rules.report_kind(report, HEARTBEAT_KIND, HeartbeatReason)


def verify_registered(report: Report, snapshot: ChainSnapshot) -> DeviceRecord | Invalid:
    return rules.registered(report, snapshot, HeartbeatReason)


def verify_active(record: DeviceRecord) -> Invalid | None:
    return rules.active(record, HeartbeatReason)


def verify_device_kind(record: DeviceRecord) -> Invalid | None:
    return rules.device_kind(record, HEARTBEAT_KIND, HeartbeatReason)


def verify_location_asserted(record: DeviceRecord) -> tuple[float, float] | Invalid:
    return rules.location(record, HeartbeatReason)


def verify_payload(report: Report) -> HeartbeatPayload | Invalid:
    try:
        return parse_payload(report.payload_obj())
    except ValueError as exc:  # json.JSONDecodeError is a ValueError too
        return Invalid(HeartbeatReason.MALFORMED_PAYLOAD, str(exc))


def verify_in_epoch(report: Report, network: NetworkSection) -> Invalid | None:
    return rules.in_epoch(report, network, HeartbeatReason)


def verify_unique_seq(report: Report, seen: set[tuple[DeviceId, int]]) -> Invalid | None:
    return rules.unique_seq(report, seen, HeartbeatReason)


def challenge_hour(block: EntropyBlock, epoch_start_ms: int, hour_ms: int) -> int:
    """The hour (bucket of the epoch, from 0) whose entropy block `block` is: the first window
    starting at or after the block's time (an entropy block is the last one at or before its
    window's start; one mined before the epoch began is hour 0's)."""
    after_start_ms = block.timestamp * MS_PER_SECOND - epoch_start_ms
    return max(0, -(-after_start_ms // hour_ms))


def verify_liveness(
    report: Report,
    payload: HeartbeatPayload,
    snapshot: ChainSnapshot,
    section: HeartbeatSection,
) -> EntropyBlock | Invalid | None:
    """The entropy block a heartbeat proves it saw; None when liveness is off (window 0).

    `bad_challenge`: no challenge, a block that is not one of the epoch's entropy blocks, or
    the wrong hash for it. `stale_challenge`: signed before the block's time or more than
    `liveness_window_seconds` after it.
    """
    window_s = section.liveness_window_seconds
    if window_s == 0:
        return None
    number, digest = payload.challenge_block, payload.challenge_hash
    if number is None or digest is None:
        return Invalid(HeartbeatReason.BAD_CHALLENGE, "no challenge_block/challenge_hash in the payload")
    block = snapshot.entropy_blocks.get(number)
    if block is None:
        return Invalid(HeartbeatReason.BAD_CHALLENGE, f"block {number} is not one of the epoch's entropy blocks")
    if digest != block.hash:
        return Invalid(HeartbeatReason.BAD_CHALLENGE, f"wrong hash for entropy block {number}")
    seen_ms = block.timestamp * MS_PER_SECOND
    if not seen_ms <= report.timestamp_ms <= seen_ms + window_s * MS_PER_SECOND:
        return Invalid(
            HeartbeatReason.STALE_CHALLENGE,
            f"signed at {report.timestamp_ms} ms, outside [{seen_ms}, {seen_ms + window_s * MS_PER_SECOND}] "
            f"ms: the {window_s} s after entropy block {number}",
        )
    return block


def verify_location_trust(
    payload: HeartbeatPayload, centre: tuple[float, float], section: HeartbeatSection
) -> LocationCheck | Invalid:
    distance = distance_to_cell_m(payload.lat_e7, payload.lon_e7, centre)
    trust = trust_quarters(distance, section)
    if trust == NO_TRUST_QUARTERS:
        return Invalid(
            HeartbeatReason.LOCATION_UNTRUSTED,
            f"{distance} m from the asserted cell (trusted up to "
            f"{section.partial_trust_meters} m)",
        )
    return LocationCheck(distance_m=distance, trust_quarters=trust)


@dataclass(frozen=True, slots=True)
class Assessment:
    """A verdict plus what the scorer needs from a valid heartbeat."""

    verdict: Verdict
    location: LocationCheck | None = None
    """Set for valid verdicts only."""
    challenge: EntropyBlock | None = None
    """The entropy block a valid heartbeat saw (None when liveness is off)."""
    payload: HeartbeatPayload | None = None
    """The parsed payload of a valid heartbeat (so the scorer does not decode it again)."""


def assess(
    ingested: IngestedReport,
    snapshot: ChainSnapshot,
    settings: Settings,
    seen: set[tuple[DeviceId, int]],
    section: HeartbeatSection,
) -> Assessment:
    """Run the rules in order on one report (`seen` carries rule 8's state; `section` is
    `settings`' heartbeat section, read once per batch)."""
    report = ingested.report

    def invalid(bad: Invalid) -> Assessment:
        return Assessment(Verdict(report.device, report.seq, bad.reason, bad.details))

    if (bad := verify_kind(report)) is not None:
        return invalid(bad)
    record = verify_registered(report, snapshot)
    if isinstance(record, Invalid):
        return invalid(record)
    if (bad := verify_active(record) or verify_device_kind(record)) is not None:
        return invalid(bad)
    centre = verify_location_asserted(record)
    if isinstance(centre, Invalid):
        return invalid(centre)
    payload = verify_payload(report)
    if isinstance(payload, Invalid):
        return invalid(payload)
    network = settings.network
    bad = verify_in_epoch(report, network) or verify_unique_seq(report, seen)
    if bad is not None:
        return invalid(bad)
    challenge = verify_liveness(report, payload, snapshot, section)
    if isinstance(challenge, Invalid):
        return invalid(challenge)
    location = verify_location_trust(payload, centre, section)
    if isinstance(location, Invalid):
        return invalid(location)
    return Assessment(Verdict(report.device, report.seq), location, challenge, payload)


def assess_all(
    reports: Sequence[IngestedReport], snapshot: ChainSnapshot, settings: Settings
) -> list[Assessment]:
    """One assessment per heartbeat, in input order (see the module docstring for the rules).

    The usual heartbeat passes rules 1–7 with one inline test each (`_passes_first_rules`);
    only a report that fails one of them goes through `assess` from rule 1, so every failure
    is still the rule's own verdict and message (rules 1–7 change no state, so running them
    twice is harmless). Rules 8–10 run as written for every report that gets that far.
    """
    seen: set[tuple[DeviceId, int]] = set()
    section = heartbeat_section(settings)
    devices = snapshot.devices
    windows: dict[int, tuple[int, int]] = {}
    network = settings.network
    out: list[Assessment] = []
    for ingested in reports:
        report = ingested.report
        first = _passes_first_rules(report, devices, windows, network)
        if first is None:
            out.append(assess(ingested, snapshot, settings, seen, section))
            continue
        centre, payload = first
        bad = verify_unique_seq(report, seen)
        if bad is not None:
            out.append(Assessment(Verdict(report.device, report.seq, bad.reason, bad.details)))
            continue
        challenge = verify_liveness(report, payload, snapshot, section)
        if isinstance(challenge, Invalid):
            out.append(Assessment(Verdict(report.device, report.seq, challenge.reason, challenge.details)))
            continue
        location = verify_location_trust(payload, centre, section)
        if isinstance(location, Invalid):
            out.append(Assessment(Verdict(report.device, report.seq, location.reason, location.details)))
            continue
        out.append(Assessment(Verdict(report.device, report.seq), location, challenge, payload))
    return out


def _passes_first_rules(
    report: Report,
    devices: Mapping[DeviceId, DeviceRecord],
    windows: dict[int, tuple[int, int]],
    network: NetworkSection,
) -> tuple[tuple[float, float], HeartbeatPayload] | None:
    """(asserted cell centre, parsed payload) when rules 1–7 all pass, else None."""
    if report.kind != HEARTBEAT_KIND:
        return None
    record = devices.get(report.device)
    if record is None or not record.active or record.kind != HEARTBEAT_KIND:
        return None
    centre = cell_centre(record.location)
    if centre is None:
        return None
    payload = verify_payload(report)
    if isinstance(payload, Invalid):
        return None
    window = windows.get(report.epoch)
    if window is None:
        window = windows[report.epoch] = network.epoch_window_ms(report.epoch)
    if not window[0] <= report.timestamp_ms < window[1]:
        return None
    return centre, payload


def verify(
    reports: Sequence[IngestedReport], snapshot: ChainSnapshot, settings: Settings
) -> list[Verdict]:
    """One verdict per heartbeat, in input order (see the module docstring for the rules)."""
    return [a.verdict for a in assess_all(reports, snapshot, settings)]
