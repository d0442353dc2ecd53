"""Why a report was rejected: stable reason codes with human messages.

The values are part of opendepin's public interface — they appear in ingest responses,
metrics labels and published epoch files — so they never change meaning and are never
renamed. Each check in `reports.verify` returns a `Rejection(reason, message)`: the reason
for machines, the message (with the observed and expected values) for people.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from opendepin.errors import InvalidReport


class RejectReason(StrEnum):
    """Stable code of a report rejection."""

    MALFORMED = "malformed"
    WRONG_NETWORK = "wrong_network"
    WRONG_CHAIN = "wrong_chain"
    UNKNOWN_DEVICE = "unknown_device"
    INACTIVE_DEVICE = "inactive_device"
    BAD_SIGNATURE = "bad_signature"
    SIGNER_MISMATCH = "signer_mismatch"
    STALE = "stale"
    FUTURE = "future"
    REPLAYED = "replayed"
    UNKNOWN_KIND = "unknown_kind"
    MALFORMED_PAYLOAD = "malformed_payload"
    WRONG_EPOCH = "wrong_epoch"

    @property
    def description(self) -> str:
        """One sentence explaining the reason to an operator."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS: dict[RejectReason, str] = {
    RejectReason.MALFORMED: "The report could not be decoded (missing field, wrong type, bad hex, float).",
    RejectReason.WRONG_NETWORK: "The report is bound to another network id.",
    RejectReason.WRONG_CHAIN: "The report is bound to another chain id.",
    RejectReason.UNKNOWN_DEVICE: "The device is not registered in the DeviceRegistry.",
    RejectReason.INACTIVE_DEVICE: "The device is registered but deactivated.",
    RejectReason.BAD_SIGNATURE: "The signature is invalid: wrong length, v, or it does not verify.",
    RejectReason.SIGNER_MISMATCH: "The signature is valid but was made by a key other than the device's.",
    RejectReason.STALE: "The report's timestamp is older than the accepted age.",
    RejectReason.FUTURE: "The report's timestamp is too far in the future.",
    RejectReason.REPLAYED: "The sequence number is not above the device's last accepted one.",
    RejectReason.UNKNOWN_KIND: "No proof kind of that name is configured on this network.",
    RejectReason.MALFORMED_PAYLOAD: "The payload does not match the schema of its proof kind.",
    RejectReason.WRONG_EPOCH: "The timestamp does not fall inside the epoch the report names.",
}


@dataclass(frozen=True, slots=True)
class Rejection:
    """One reasoned rejection of one report."""

    reason: RejectReason
    """Stable machine-readable code."""
    message: str
    """Human explanation with the observed and expected values."""

    def to_error(self) -> InvalidReport:
        """The same rejection as an exception, for callers that raise."""
        return InvalidReport(self.reason, self.message)
