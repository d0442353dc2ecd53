"""Why a coverage report is invalid: one stable code per rule.

The values are part of the published epoch files and of every explanation shown to an
operator, so they never change meaning; new rules add new values. They follow the names of
Helium IoT's invalid reasons where a rule has a Helium counterpart (`invalid_packet`,
`below_min_distance`, …) so operators who know that network recognise them — except where
opendepin has a shared code for the concept (`opendepin.reasons.SharedReason`: Helium's
`gateway_not_found` is `unknown_device` here, as in every other kind and at ingest).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from opendepin.reasons import SharedReason


class CoverageReason(StrEnum):
    """Reason a beacon or witness report earns nothing."""

    MALFORMED_PAYLOAD = SharedReason.MALFORMED_PAYLOAD.value
    """The payload is not a valid beacon or witness object."""
    UNKNOWN_DEVICE = SharedReason.UNKNOWN_DEVICE.value
    """The reporting device is not in the registry snapshot."""
    INACTIVE_DEVICE = SharedReason.INACTIVE_DEVICE.value
    """The reporting device was deactivated."""
    WRONG_REPORT_KIND = SharedReason.WRONG_REPORT_KIND.value
    """A report of another kind reached the coverage verifier."""
    WRONG_DEVICE_KIND = SharedReason.WRONG_DEVICE_KIND.value
    """The device is registered for another proof kind."""
    LOCATION_NOT_ASSERTED = SharedReason.LOCATION_NOT_ASSERTED.value
    """The device has no asserted location."""
    DENIED = "denied"
    """The device's key is on the denylist."""
    DENIED_EDGE = "denied_edge"
    """The (beaconer, witness) pair is on the denylist."""
    BAD_ENTROPY = "bad_entropy"
    """The beacon names an entropy block that is not one of the epoch's entropy blocks."""
    ENTROPY_EXPIRED = "entropy_expired"
    """The report lies outside the window in which its entropy is valid."""
    IRREGULAR_INTERVAL = "irregular_interval"
    """The device beaconed again before its beacon interval had passed."""
    INVALID_PACKET = "invalid_packet"
    """The beacon data does not match what entropy and device id regenerate."""
    UNKNOWN_BEACON = "unknown_beacon"
    """The witnessed beacon was never reported by its beaconer."""
    INVALID_BEACON = "invalid_beacon"
    """The witnessed beacon is itself invalid, so hearing it proves nothing."""
    DUPLICATE = SharedReason.DUPLICATE.value
    """Same beacon (beaconer, counter) or same witness (witness, beacon) reported twice."""
    SELF_WITNESS = "self_witness"
    """A device witnessed its own beacon."""
    TOO_LATE = "too_late"
    """The witness was heard too long after (or before) the beacon was sent."""
    INVALID_FREQUENCY = "invalid_frequency"
    """Witness and beacon frequencies differ by more than allowed."""
    INVALID_REGION = "invalid_region"
    """Witness and beacon are in different regulatory regions."""
    UNKNOWN_REGION = "unknown_region"
    """The report names a region that is no known plan, or one the network does not accept."""
    OFF_CHANNEL = "off_channel"
    """The frequency is not on an uplink channel of the report's region."""
    EIRP_EXCEEDED = "eirp_exceeded"
    """The beacon claims more radiated power (tx power + antenna gain) than its region allows."""
    BELOW_SENSITIVITY = "below_sensitivity"
    """The witness claims an RSSI weaker than any LoRa receiver can hear."""
    SNR_BELOW_FLOOR = "snr_below_floor"
    """The witness claims an SNR below LoRa's demodulation floor."""
    SNR_INCONSISTENT = "snr_inconsistent"
    """The witness's SNR does not fit its RSSI and the receiver's noise floor."""
    BELOW_MIN_DISTANCE = "below_min_distance"
    """Witness and beaconer are too close (H3 grid distance) to prove any coverage."""
    MAX_DISTANCE_EXCEEDED = "max_distance_exceeded"
    """Witness and beaconer are further apart than a radio can plausibly reach."""
    BAD_RSSI = "bad_rssi"
    """The witness heard the beacon louder than free-space path loss allows."""
    NO_VALID_WITNESSES = "gateway_no_valid_witnesses"
    """Reciprocity: the beaconer has not itself witnessed validly in the window."""
    NO_VALID_BEACONS = "gateway_no_valid_beacons"
    """Reciprocity: the witness has not itself beaconed validly in the window."""
    SAME_OWNER_WITNESS = "same_owner_witness"
    """The witness and the beaconer have the same owner: an owner cannot vouch for itself."""
    # Device-level penalties (trust.py): not verdicts, reasons a device's units were scaled down.
    LOCATION_CONTRADICTED = "location_contradicted"
    """Independent witnesses' RSSI fits another spot far better than the asserted cell."""
    CLOSED_CLUSTER = "closed_cluster"
    """The device's witness graph is a small cluster with no edge to the rest of the network."""
    ASYMMETRIC_LINKS = "asymmetric_links"
    """The path loss the device reports hearing differs consistently from what its partners
    measure from it: its claimed power, gain or receptions are not what it has."""
    SHARED_RECEIVER = "shared_receiver"
    """The device's receptions are identical to other keys': one receiver behind several keys."""
    ESTABLISHING = "establishing"
    """A new device earns a growing part of its units over its first epochs."""


@dataclass(frozen=True, slots=True)
class Invalid:
    """What a failing rule returns: the stable reason and a human explanation."""

    reason: CoverageReason
    """Stable code (published)."""
    details: str
    """What was expected and what was seen."""
