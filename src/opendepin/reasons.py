"""One vocabulary of reasons: every code any stage or kind publishes, and what it means.

A reason code is public: ingest answers with it, metrics are labelled with it, epoch files
and explanations carry it, and an operator looks it up in `docs/reasons.md`. So one concept
has one code everywhere, whichever stage or kind finds it:

- **Shared codes** (`SharedReason`) name concepts every kind meets — an unregistered device,
  a payload that does not parse, a report outside its epoch, a duplicate. A kind's reason
  enum reuses the shared value (`UNKNOWN_DEVICE = SharedReason.UNKNOWN_DEVICE.value`), never a
  synonym of its own.
- **Kind-specific codes** are the kind's own. Where two kinds need a code for concepts that
  differ, the codes differ; `check_vocabulary` (run by the test suite over every installed
  kind) fails when two enums use one code and it is not a shared one.

`all_reason_enums()` lists every enum, the framework's stages first, then each installed
kind's `reasons`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum


class SharedReason(StrEnum):
    """Codes with one meaning across stages and kinds."""

    MALFORMED = "malformed"
    """A message (a report, an attestation) could not be decoded at all."""
    BAD_SIGNATURE = "bad_signature"
    """A signature is malformed or does not verify."""
    MALFORMED_PAYLOAD = "malformed_payload"
    """The payload does not match the schema of its proof kind."""
    UNKNOWN_DEVICE = "unknown_device"
    """The device is not registered in the DeviceRegistry."""
    INACTIVE_DEVICE = "inactive_device"
    """The device is registered but deactivated."""
    WRONG_DEVICE_KIND = "wrong_device_kind"
    """The device is registered for another proof kind than the report's."""
    WRONG_REPORT_KIND = "wrong_report_kind"
    """A report of another kind reached this kind's verifier (sealing keeps kinds apart)."""
    LOCATION_NOT_ASSERTED = "location_not_asserted"
    """The device has no valid asserted location (H3 cell) in the registry."""
    WRONG_EPOCH = "wrong_epoch"
    """The report's timestamp does not fall inside the epoch it names."""
    DUPLICATE = "duplicate"
    """The same report, or the same observation, appears twice; only the first counts."""
    EQUIVOCATED = "equivocated"
    """The device signed two different reports with one sequence number; all its reports of
    the epoch are excluded."""


def framework_reason_enums() -> list[type[StrEnum]]:
    """The reason enums of the stages (ingest, reconciliation, attestations, the storage node's
    refusals) and the shared codes."""
    from opendepin.ingest.reasons import IngestReason
    from opendepin.oracle.attestations import AttestationReason
    from opendepin.oracle.sync import ImportReason
    from opendepin.reports.reasons import RejectReason
    from opendepin.storage.orders import OrderReason

    return [SharedReason, RejectReason, IngestReason, ImportReason, AttestationReason, OrderReason]


def all_reason_enums() -> list[type[StrEnum]]:
    """Framework enums, then each installed kind's reasons (sorted by kind)."""
    from opendepin.proofs.registry import installed_kinds

    return [*framework_reason_enums(), *(k.reasons for _, k in sorted(installed_kinds().items()))]


def check_vocabulary(enums: Iterable[type[StrEnum]]) -> list[str]:
    """Problems: codes used by two enums that are not shared codes (empty when consistent)."""
    shared = {r.value for r in SharedReason}
    owners: dict[str, list[str]] = {}
    for enum in enums:
        for member in enum:
            owners.setdefault(member.value, []).append(f"{enum.__module__}.{enum.__qualname__}")
    return [
        f"reason {code!r} is defined by {', '.join(sorted(set(where)))} but is not a shared code"
        for code, where in sorted(owners.items())
        if len(set(where)) > 1 and code not in shared
    ]


def every_code(enums: Iterable[type[StrEnum]]) -> Mapping[str, list[str]]:
    """Code -> enums defining it."""
    out: dict[str, list[str]] = {}
    for enum in enums:
        for member in enum:
            out.setdefault(member.value, []).append(enum.__qualname__)
    return out
