"""Heartbeat / uptime proofs: a device is online, and where it says it is.

Devices send a signed report of kind `"heartbeat"` about once an hour carrying their GPS
position as integers (`payload`). The oracle checks each heartbeat with an ordered list of
rules (`verifier`), measures its distance from the device's asserted H3 cell
(`geo`: trust 1.0 within 300 m, 0.25 within 400 m, else 0 — after Helium Mobile), and pays
distinct online hours weighted by that trust, in integer quarter-hours, to devices online at
least `heartbeat.min_online_hours` hours (`scorer`). `sim` models honest, dishonest and
flaky devices for the demo and benchmarks.

Public API: `HEARTBEAT` (the `ProofModule`), `validate_payload`, `make_payload`,
`HeartbeatReason`, `HeartbeatExplanation`, `explain`, `Behaviour`, `simulate_device`.
"""

from __future__ import annotations

from opendepin.proofs.base import ProofModule
from opendepin.proofs.heartbeat.module import HEARTBEAT as _HEARTBEAT
from opendepin.proofs.heartbeat.module import HeartbeatModule
from opendepin.proofs.heartbeat.payload import (
    HeartbeatPayload,
    make_payload,
    parse_payload,
    validate_payload,
)
from opendepin.proofs.heartbeat.scorer import HeartbeatExplanation, explain, score
from opendepin.proofs.heartbeat.sim import Behaviour, SimHeartbeat, simulate_device
from opendepin.proofs.heartbeat.verifier import HEARTBEAT_KIND, HeartbeatReason, verify

HEARTBEAT: ProofModule = _HEARTBEAT
"""The heartbeat proof kind, as the oracle's registry of kinds expects it."""

__all__ = [
    "HEARTBEAT",
    "HEARTBEAT_KIND",
    "Behaviour",
    "HeartbeatExplanation",
    "HeartbeatModule",
    "HeartbeatPayload",
    "HeartbeatReason",
    "SimHeartbeat",
    "explain",
    "make_payload",
    "parse_payload",
    "score",
    "simulate_device",
    "validate_payload",
    "verify",
]
