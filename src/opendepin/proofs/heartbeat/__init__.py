"""Heartbeat / uptime proofs: a device is online, and where it says it is.

Devices send a signed report of kind `"heartbeat"` about once an hour carrying their GPS
position as integers (`payload`). The oracle checks each heartbeat with an ordered list of
rules (`verifier`), measures its distance from the device's asserted H3 cell
(`geo`: trust 1.0 within 300 m, 0.25 within 400 m, else 0 — after Helium Mobile), and pays
distinct online hours weighted by that trust, in integer quarter-hours, to devices online at
least `min_online_hours` hours (`scorer`), at most `max_devices_per_cell` per spot and
`max_devices_per_owner` per owner. A heartbeat must also carry the hour's chain entropy
block and be signed shortly after it (`liveness_window_seconds`, on by default: 300 s), so
being online is proved, not claimed (docs/heartbeat.md). `simulation` models honest and dishonest devices
for the demo, `sim` a lighter model for benchmarks.

The package layout is the template for a kind: `kind` (the `Kind` object, `KIND`), `settings`
(its section), `payload`, `verifier` (ordered rules, the reason enum), `scorer` (shares and
explanations), `simulation` (its simulated devices).
"""

from __future__ import annotations

from opendepin.proofs.heartbeat.kind import KIND, HeartbeatKind
from opendepin.proofs.heartbeat.payload import (
    HeartbeatPayload,
    make_payload,
    parse_payload,
    validate_payload,
)
from opendepin.proofs.heartbeat.scorer import HeartbeatExplanation, explain, score
from opendepin.proofs.heartbeat.settings import HeartbeatSection, heartbeat_section
from opendepin.proofs.heartbeat.sim import Behaviour, SimHeartbeat, simulate_device
from opendepin.proofs.heartbeat.verifier import HEARTBEAT_KIND, HeartbeatReason, verify

HEARTBEAT = KIND
"""The heartbeat kind (same object as `KIND`)."""

__all__ = [
    "HEARTBEAT",
    "HEARTBEAT_KIND",
    "KIND",
    "Behaviour",
    "HeartbeatExplanation",
    "HeartbeatKind",
    "HeartbeatPayload",
    "HeartbeatReason",
    "HeartbeatSection",
    "SimHeartbeat",
    "explain",
    "heartbeat_section",
    "make_payload",
    "parse_payload",
    "score",
    "simulate_device",
    "validate_payload",
    "verify",
]
