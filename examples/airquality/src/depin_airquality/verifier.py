"""Verification: an ordered list of small rules, each naming the reason it rejects with.

For every sealed report the rules run in this order and the first that fails decides the
verdict (a later rule never sees a report an earlier one rejected):

| # | rule                          | rejects when                                        | reason                    |
|---|-------------------------------|-----------------------------------------------------|---------------------------|
| 1 | `rules.report_kind`           | the report is not an airquality report              | `wrong_report_kind`       |
| 2 | `rules.registered`            | the device is not in the registry snapshot          | `unknown_device`          |
| 3 | `rules.active`                | the device is deactivated                           | `inactive_device`         |
| 4 | `rules.device_kind`           | it was registered for another kind                  | `wrong_device_kind`       |
| 5 | `rules.location`              | its asserted location is not a valid H3 cell        | `location_not_asserted`   |
| 6 | `check_payload`               | the payload does not parse (`payload.parse_payload`)| `malformed_payload`       |
| 7 | `rules.in_epoch`              | its timestamp lies outside its epoch                | `wrong_epoch`             |
| 8 | `rules.unique_seq`            | an earlier report had the same (device, seq)        | `duplicate`               |
| 9 | `check_in_range`              | the reading is above `max_pm25_dugm3`               | `airquality_out_of_range` |
|10 | `check_near_cell`             | it was taken > `max_distance_m` from the cell centre| `airquality_too_far`      |

Rules 1–5, 7 and 8 are opendepin's shared rules (`opendepin.proofs.rules`), which answer with
this kind's own `AirQualityReason` members. Each rule is a function of the report (and what earlier rules established) that returns
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

from opendepin.geo import distance_to_cell_m
from opendepin.network.settings import NetworkSection
from opendepin.proofs import rules
from opendepin.proofs.rules import Invalid
from opendepin.records import ChainSnapshot, IngestedReport, Verdict
from opendepin.reports.envelope import Report
from opendepin.types import DeviceId, ProofKind

from depin_airquality.payload import AirQualityPayload, parse_payload
from depin_airquality.reasons import AirQualityReason
from depin_airquality.settings import AirQualitySection

AIRQUALITY: Final = ProofKind("airquality")
"""The kind's name: in reports, registrations, pools and file paths."""


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


def check_payload(report: Report) -> AirQualityPayload | Invalid:
    try:
        return parse_payload(report.payload_obj())
    except ValueError as exc:  # json.JSONDecodeError is a ValueError too
        return Invalid(AirQualityReason.MALFORMED_PAYLOAD, str(exc))


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
    distance = distance_to_cell_m(payload.lat_e7, payload.lon_e7, centre)
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

    record = rules.device_rules(report, snapshot, AIRQUALITY, AirQualityReason)  # rules 1-4
    if isinstance(record, Invalid):
        return invalid(record)
    centre = rules.location(record, AirQualityReason)
    if isinstance(centre, Invalid):
        return invalid(centre)
    payload = check_payload(report)
    if isinstance(payload, Invalid):
        return invalid(payload)
    bad = rules.in_epoch(report, network, AirQualityReason) or rules.unique_seq(report, seen, AirQualityReason)
    if bad is not None:
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
