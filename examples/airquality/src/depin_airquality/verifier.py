"""Verification: an ordered list of small rules, each naming the reason it rejects with.

For every sealed report the rules run in this order and the first that fails decides the
verdict (a later rule never sees a report an earlier one rejected):

| # | rule                          | rejects when                                        | reason                    |
|---|-------------------------------|-----------------------------------------------------|---------------------------|
| 1 | `check_report_kind`           | the report is not an airquality report              | `wrong_report_kind`       |
| 2 | `check_registered`            | the device is not in the registry snapshot          | `unknown_device`          |
| 3 | `check_active`                | the device is deactivated                           | `inactive_device`         |
| 4 | `check_device_kind`           | it was registered for another kind                  | `wrong_device_kind`       |
| 5 | `check_location_asserted`     | its asserted location is not a valid H3 cell        | `location_not_asserted`   |
| 6 | `check_payload`               | the payload does not parse (`payload.parse_payload`)| `malformed_payload`       |
| 7 | `check_in_epoch`              | its timestamp lies outside its epoch                | `wrong_epoch`             |
| 8 | `check_unique_seq`            | an earlier report had the same (device, seq)        | `duplicate`               |
| 9 | `check_in_range`              | the reading is above `max_pm25_dugm3`               | `airquality_out_of_range` |
|10 | `check_near_cell`             | it was taken > `max_distance_m` from the cell centre| `airquality_too_far`      |

Each rule is a function of the report (and what earlier rules established) that returns
either `Invalid` or what the next rules need, so adding a rule is adding one function and one
line in `assess`.

What the verifier does **not** check, because ingest already did before storing the report:
the signature and signer (`bad_signature`, `signer_mismatch`), replays (`replayed`), and
freshness against the receiving oracle's clock (`stale`, `future`, `epoch_closed`). Those need
data that is not in the sealed inputs (an oracle's clock differs from another's), and the
verifier reads only sealed inputs, so every oracle and every auditor computes the same
verdicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from opendepin.network.settings import NetworkSection
from opendepin.records import ChainSnapshot, DeviceRecord, IngestedReport, Verdict
from opendepin.reports.envelope import Report
from opendepin.types import DeviceId, ProofKind

from depin_airquality.geo import cell_centre, distance_to_centre_m
from depin_airquality.payload import AirQualityPayload, parse_payload
from depin_airquality.reasons import AirQualityReason
from depin_airquality.settings import AirQualitySection

AIRQUALITY: Final = ProofKind("airquality")
"""The kind's name: in reports, registrations, pools and file paths."""


@dataclass(frozen=True, slots=True)
class Invalid:
    """A failed rule: its reason and what was expected versus seen."""

    reason: AirQualityReason
    details: str


@dataclass(frozen=True, slots=True)
class Reading:
    """What a valid report contributes to scoring."""

    pm25_dugm3: int
    distance_m: int
    """Whole metres from the asserted cell's centre."""


@dataclass(frozen=True, slots=True)
class Checked:
    """One report's verdict, plus its reading when valid."""

    report: Report
    verdict: Verdict
    reading: Reading | None = None


def check_report_kind(report: Report) -> Invalid | None:
    if report.kind != AIRQUALITY:
        return Invalid(AirQualityReason.WRONG_REPORT_KIND, f"kind is {report.kind!r}, not {AIRQUALITY!r}")
    return None


def check_registered(report: Report, snapshot: ChainSnapshot) -> DeviceRecord | Invalid:
    record = snapshot.devices.get(report.device)
    if record is None:
        return Invalid(
            AirQualityReason.UNKNOWN_DEVICE,
            f"{report.device} is not in the registry at block {snapshot.block_number}",
        )
    return record


def check_active(record: DeviceRecord) -> Invalid | None:
    if not record.active:
        return Invalid(AirQualityReason.INACTIVE_DEVICE, f"{record.device} is deactivated")
    return None


def check_device_kind(record: DeviceRecord) -> Invalid | None:
    if record.kind != AIRQUALITY:
        return Invalid(
            AirQualityReason.WRONG_DEVICE_KIND,
            f"{record.device} is registered as {record.kind!r}, not {AIRQUALITY!r}",
        )
    return None


def check_location_asserted(record: DeviceRecord) -> tuple[float, float] | Invalid:
    centre = cell_centre(record.location)
    if centre is None:
        what = "no location" if record.location == 0 else f"invalid H3 cell {record.location:#x}"
        return Invalid(AirQualityReason.LOCATION_NOT_ASSERTED, f"{record.device} has {what}")
    return centre


def check_payload(report: Report) -> AirQualityPayload | Invalid:
    try:
        return parse_payload(report.payload_obj())
    except ValueError as exc:  # json.JSONDecodeError is a ValueError too
        return Invalid(AirQualityReason.MALFORMED_PAYLOAD, str(exc))


def check_in_epoch(report: Report, network: NetworkSection) -> Invalid | None:
    start, end = network.epoch_window_ms(report.epoch)
    if not start <= report.timestamp_ms < end:
        return Invalid(
            AirQualityReason.WRONG_EPOCH,
            f"timestamp {report.timestamp_ms} ms is outside epoch {report.epoch} [{start}, {end})",
        )
    return None


def check_unique_seq(report: Report, seen: set[tuple[DeviceId, int]]) -> Invalid | None:
    key = (report.device, report.seq)
    if key in seen:
        return Invalid(AirQualityReason.DUPLICATE, f"seq {report.seq} of {report.device} appears twice")
    seen.add(key)
    return None


def check_in_range(payload: AirQualityPayload, section: AirQualitySection) -> Invalid | None:
    if payload.pm25_dugm3 > section.max_pm25_dugm3:
        return Invalid(
            AirQualityReason.AIRQUALITY_OUT_OF_RANGE,
            f"PM2.5 {payload.pm25_dugm3} dµg/m³ is above the plausible maximum "
            f"{section.max_pm25_dugm3} dµg/m³",
        )
    return None


def check_near_cell(
    payload: AirQualityPayload, centre: tuple[float, float], section: AirQualitySection
) -> int | Invalid:
    distance = distance_to_centre_m(payload.lat_e7, payload.lon_e7, centre)
    if distance > section.max_distance_m:
        return Invalid(
            AirQualityReason.AIRQUALITY_TOO_FAR,
            f"reported {distance} m from the asserted cell's centre (at most {section.max_distance_m} m)",
        )
    return distance


def assess(
    report: Report,
    snapshot: ChainSnapshot,
    network: NetworkSection,
    section: AirQualitySection,
    seen: set[tuple[DeviceId, int]],
) -> Checked:
    """Run the rules in order on one report (`seen` carries rule 8's state)."""

    def invalid(bad: Invalid) -> Checked:
        return Checked(report, Verdict(report.device, report.seq, bad.reason, bad.details))

    if (bad := check_report_kind(report)) is not None:
        return invalid(bad)
    record = check_registered(report, snapshot)
    if isinstance(record, Invalid):
        return invalid(record)
    if (bad := check_active(record) or check_device_kind(record)) is not None:
        return invalid(bad)
    centre = check_location_asserted(record)
    if isinstance(centre, Invalid):
        return invalid(centre)
    payload = check_payload(report)
    if isinstance(payload, Invalid):
        return invalid(payload)
    if (bad := check_in_epoch(report, network) or check_unique_seq(report, seen)) is not None:
        return invalid(bad)
    if (bad := check_in_range(payload, section)) is not None:
        return invalid(bad)
    distance = check_near_cell(payload, centre, section)
    if isinstance(distance, Invalid):
        return invalid(distance)
    return Checked(report, Verdict(report.device, report.seq), Reading(payload.pm25_dugm3, distance))


def verify(
    reports: Sequence[IngestedReport],
    snapshot: ChainSnapshot,
    network: NetworkSection,
    section: AirQualitySection,
) -> list[Checked]:
    """One checked verdict per sealed report, in sealed order (pure).

    The only order dependence is rule 8 — of two reports with one (device, seq) the first is
    the valid one — and the sealed order is fixed by the sealing stage.
    """
    seen: set[tuple[DeviceId, int]] = set()
    return [assess(r.report, snapshot, network, section, seen) for r in reports]
