"""Proof-of-Coverage: devices prove a radio really covers an area by hearing each other.

After Helium IoT: a device *beacons* a packet derived from chain entropy; devices that hear
it send *witness* reports with RSSI, SNR, frequency and time. The oracles check each report
against physics and the registry (distance, free-space path loss, timing, frequency,
region, reciprocity, denylist), reward at most 14 witnesses per beacon chosen from entropy,
and scale rewards by H3 hex density so piling devices into one spot does not pay. See
docs/coverage.md for the rules, numbers and their sources.

```
payload    beacon/witness payloads, beacon data derivation     reasons    CoverageReason
verifier   the ordered verify_* rules                           scorer     units, hex density
epoch      verify_epoch -> CoverageResult (verdicts, shares,     history    CoverageHistory
           selected witnesses, per-device explanations)         denylist   signed denylist_v1
agent      BeaconSchedule, CoverageAgent                        radio      Radio, SimulatedRadio
scenario   seeded city scenarios with spoofers and a ring
```

`kind.KIND` is this kind's `Kind` (published as the entry point `coverage`); `settings` holds
its `[coverage]` section and `simulation` the demo's simulated devices.
"""

from __future__ import annotations

from opendepin.proofs.coverage.agent import BeaconSchedule, CoverageAgent, RadioConfig
from opendepin.proofs.coverage.denylist import (
    DENYLIST_FILENAME,
    Denylist,
    load_denylist,
    parse_denylist,
    sign_denylist,
    write_denylist,
)
from opendepin.proofs.coverage.epoch import (
    CoverageResult,
    DecodedReports,
    DeviceExplanation,
    decode_reports,
    evaluate,
    verify_epoch,
)
from opendepin.proofs.coverage.history import CoverageHistory
from opendepin.proofs.coverage.kind import KIND, CoverageKind
from opendepin.proofs.coverage.params import COVERAGE_KIND, CoverageParams
from opendepin.proofs.coverage.payload import (
    BeaconPayload,
    WitnessPayload,
    beacon_data,
    parse_payload,
)
from opendepin.proofs.coverage.radio import Frame, Radio, RadioNode, Reception, SimulatedRadio
from opendepin.proofs.coverage.reasons import CoverageReason, Invalid
from opendepin.proofs.coverage.scenario import Role, Scenario, generate_scenario
from opendepin.proofs.coverage.scorer import (
    SHARES_PER_UNIT,
    beaconer_units,
    hex_density_scales,
    witness_units,
)
from opendepin.proofs.coverage.settings import CoverageSection, coverage_section

COVERAGE = KIND
"""The coverage kind (same object as `KIND`)."""

__all__ = [
    "COVERAGE",
    "COVERAGE_KIND",
    "DENYLIST_FILENAME",
    "KIND",
    "SHARES_PER_UNIT",
    "BeaconPayload",
    "BeaconSchedule",
    "CoverageAgent",
    "CoverageHistory",
    "CoverageKind",
    "CoverageParams",
    "CoverageReason",
    "CoverageResult",
    "CoverageSection",
    "DecodedReports",
    "Denylist",
    "DeviceExplanation",
    "Frame",
    "Invalid",
    "Radio",
    "RadioConfig",
    "RadioNode",
    "Reception",
    "Role",
    "Scenario",
    "SimulatedRadio",
    "WitnessPayload",
    "beacon_data",
    "beaconer_units",
    "coverage_section",
    "decode_reports",
    "evaluate",
    "generate_scenario",
    "hex_density_scales",
    "load_denylist",
    "parse_denylist",
    "parse_payload",
    "sign_denylist",
    "verify_epoch",
    "witness_units",
    "write_denylist",
]
