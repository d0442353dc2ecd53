"""Rules every kind needs, written once: the report's kind, the device in the registry, the
asserted location, the epoch, duplicates.

Each rule is a small function returning `Invalid(reason, details)` (or what the next rules
need); the reason is the *kind's own* enum member for the shared code
(`opendepin.reasons.SharedReason`), so a kind's verdicts carry its enum and the code means the
same in every kind. A kind composes them in its own order and adds its own rules after them:

```
report_kind → registered → active → device_kind → location (if the kind judges position)
  → (the kind's payload rule) → in_epoch → unique_seq → (the kind's own rules)
```

`device_rules` runs the first four in that order. A kind whose reason enum lacks a shared code
that a rule it uses can return fails on the first such verdict (ValueError naming the code):
declare every shared code you use.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from opendepin.geo import cell_centre
from opendepin.network.settings import NetworkSection
from opendepin.reasons import SharedReason
from opendepin.records import ChainSnapshot, DeviceRecord
from opendepin.reports.envelope import Report
from opendepin.types import DeviceId


@dataclass(frozen=True, slots=True)
class Invalid:
    """A failed rule: the kind's reason and what was expected versus seen."""

    reason: StrEnum
    details: str


def _reason(reasons: type[StrEnum], shared: SharedReason) -> StrEnum:
    """The kind's member for a shared code."""
    return reasons(shared.value)


def report_kind(report: Report, kind: str, reasons: type[StrEnum]) -> Invalid | None:
    """`wrong_report_kind`: the report is of another kind (sealing keeps kinds apart)."""
    if report.kind != kind:
        return Invalid(_reason(reasons, SharedReason.WRONG_REPORT_KIND), f"kind is {report.kind!r}, not {kind!r}")
    return None


def registered(report: Report, snapshot: ChainSnapshot, reasons: type[StrEnum]) -> DeviceRecord | Invalid:
    """`unknown_device`: the device is not in the registry at the close block."""
    record = snapshot.devices.get(report.device)
    if record is None:
        return Invalid(
            _reason(reasons, SharedReason.UNKNOWN_DEVICE),
            f"{report.device} is not in the registry at block {snapshot.block_number}",
        )
    return record


def active(record: DeviceRecord, reasons: type[StrEnum]) -> Invalid | None:
    """`inactive_device`: its owner deactivated it."""
    if not record.active:
        return Invalid(_reason(reasons, SharedReason.INACTIVE_DEVICE), f"{record.device} is deactivated")
    return None


def device_kind(record: DeviceRecord, kind: str, reasons: type[StrEnum]) -> Invalid | None:
    """`wrong_device_kind`: the device is registered for another kind."""
    if record.kind != kind:
        return Invalid(
            _reason(reasons, SharedReason.WRONG_DEVICE_KIND),
            f"{record.device} is registered as {record.kind!r}, not {kind!r}",
        )
    return None


def device_rules(
    report: Report, snapshot: ChainSnapshot, kind: str, reasons: type[StrEnum]
) -> DeviceRecord | Invalid:
    """report_kind → registered → active → device_kind: the device's record, or the first failure."""
    if (bad := report_kind(report, kind, reasons)) is not None:
        return bad
    record = registered(report, snapshot, reasons)
    if isinstance(record, Invalid):
        return record
    return active(record, reasons) or device_kind(record, kind, reasons) or record


def location(record: DeviceRecord, reasons: type[StrEnum]) -> tuple[float, float] | Invalid:
    """`location_not_asserted`: no valid asserted H3 cell; else the cell's centre (lat, lon)."""
    centre = cell_centre(record.location)
    if centre is None:
        what = "no location" if record.location == 0 else f"invalid cell {record.location:#x}"
        return Invalid(_reason(reasons, SharedReason.LOCATION_NOT_ASSERTED), f"{record.device} has {what}")
    return centre


def in_epoch(
    report: Report, network: NetworkSection, reasons: type[StrEnum], overhang_ms: int = 0
) -> Invalid | None:
    """`wrong_epoch`: the timestamp is outside the epoch the report names, extended past its end
    by the kind's `overhang_ms` (`Kind.epoch_overhang_ms`; 0 for most kinds)."""
    start, end = network.epoch_window_ms(report.epoch, overhang_ms)
    if not start <= report.timestamp_ms < end:
        return Invalid(
            _reason(reasons, SharedReason.WRONG_EPOCH),
            f"timestamp {report.timestamp_ms} ms is outside epoch {report.epoch} [{start}, {end})",
        )
    return None


def unique_seq(report: Report, seen: set[tuple[DeviceId, int]], reasons: type[StrEnum]) -> Invalid | None:
    """`duplicate`: an earlier report in the input had the same (device, seq); `seen` carries
    the state across calls (the first of two is the valid one)."""
    key = (report.device, report.seq)
    if key in seen:
        return Invalid(_reason(reasons, SharedReason.DUPLICATE), f"seq {report.seq} appears twice")
    seen.add(key)
    return None
