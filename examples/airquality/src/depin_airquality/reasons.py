"""Every reason code the air-quality kind publishes.

Reason codes are public (ingest answers, epoch files, explanations, metrics), so one concept
has one code across the whole network (`opendepin.reasons`):

- concepts every kind meets reuse the shared value (`SharedReason`), never a synonym;
- concepts of this kind only are prefixed with the kind's name (`airquality_…`), so they can
  never collide with another installed kind's codes (`opendepin.reasons.check_vocabulary`).
"""

from __future__ import annotations

from enum import StrEnum

from opendepin.reasons import SharedReason


class AirQualityReason(StrEnum):
    """Why a reading (or, for `AIRQUALITY_INSUFFICIENT_HOURS`, a device) earned nothing."""

    WRONG_REPORT_KIND = SharedReason.WRONG_REPORT_KIND.value
    UNKNOWN_DEVICE = SharedReason.UNKNOWN_DEVICE.value
    INACTIVE_DEVICE = SharedReason.INACTIVE_DEVICE.value
    WRONG_DEVICE_KIND = SharedReason.WRONG_DEVICE_KIND.value
    LOCATION_NOT_ASSERTED = SharedReason.LOCATION_NOT_ASSERTED.value
    MALFORMED_PAYLOAD = SharedReason.MALFORMED_PAYLOAD.value
    WRONG_EPOCH = SharedReason.WRONG_EPOCH.value
    DUPLICATE = SharedReason.DUPLICATE.value
    AIRQUALITY_OUT_OF_RANGE = "airquality_out_of_range"
    """The reading is above `max_pm25_dugm3`: a broken, saturated or stuck sensor."""
    AIRQUALITY_TOO_FAR = "airquality_too_far"
    """The reported position is further than `max_distance_m` from the asserted cell's centre."""
    AIRQUALITY_INSUFFICIENT_HOURS = "airquality_insufficient_hours"
    """Device level, never on a verdict: fewer distinct hours with a valid reading than
    `min_hours`."""
