"""Why a heartbeat (or a heartbeat device) earns nothing: stable codes, shared ones reused.

Shared concepts use the shared codes (`opendepin.reasons.SharedReason`); `location_untrusted`,
`insufficient_uptime`, the liveness codes (`bad_challenge`, `stale_challenge`) and the caps
(`cell_cap`, `owner_cap`) are heartbeat's own. `docs/reasons.md` says what each means and what
an operator can do.
"""

from __future__ import annotations

from enum import StrEnum

from opendepin.reasons import SharedReason


class HeartbeatReason(StrEnum):
    """Why a heartbeat (or, for `INSUFFICIENT_UPTIME`, a device) earned nothing. Stable values."""

    WRONG_REPORT_KIND = SharedReason.WRONG_REPORT_KIND.value
    UNKNOWN_DEVICE = SharedReason.UNKNOWN_DEVICE.value
    INACTIVE_DEVICE = SharedReason.INACTIVE_DEVICE.value
    WRONG_DEVICE_KIND = SharedReason.WRONG_DEVICE_KIND.value
    LOCATION_NOT_ASSERTED = SharedReason.LOCATION_NOT_ASSERTED.value
    MALFORMED_PAYLOAD = SharedReason.MALFORMED_PAYLOAD.value
    WRONG_EPOCH = SharedReason.WRONG_EPOCH.value
    DUPLICATE = SharedReason.DUPLICATE.value
    LOCATION_UNTRUSTED = "location_untrusted"
    """The heartbeat's position is further from the asserted cell than `partial_trust_meters`."""
    INSUFFICIENT_UPTIME = "insufficient_uptime"
    """Device level, never on a Verdict: fewer distinct online hours than required."""
    BAD_CHALLENGE = "bad_challenge"
    """The heartbeat names no entropy block, or one that is not an epoch entropy block with
    that hash (liveness on)."""
    STALE_CHALLENGE = "stale_challenge"
    """The heartbeat was signed before its entropy block or more than
    `liveness_window_seconds` after it."""
    CELL_CAP = "cell_cap"
    """Device level: more devices earned in its cap cell than `max_devices_per_cell`; the
    entropy ranking kept others."""
    OWNER_CAP = "owner_cap"
    """Device level: its owner has more earning devices than `max_devices_per_owner`."""
