"""Proof-of-Coverage: devices prove a radio really covers an area by hearing each other.

After Helium IoT: a device *beacons* a packet derived from chain entropy; devices that hear
it send *witness* reports with RSSI, SNR, frequency and time. The oracles check each report
against physics and the registry (distance, free-space path loss, timing, frequency,
region, reciprocity, denylist), reward at most 14 witnesses per beacon chosen from entropy,
and scale rewards by H3 hex density so piling devices into one spot does not pay. See
docs/coverage.md for the rules, numbers and their sources.

```
payloads   beacon/witness payloads, beacon data derivation     reasons    CoverageReason
verifier   the ordered verify_* rules                           scoring    units, hex density
epoch      verify_epoch -> CoverageResult (verdicts, shares,     history    CoverageHistory
           selected witnesses, per-device explanations)         denylist   signed denylist_v1
agent      BeaconSchedule, CoverageAgent                        radio      Radio, SimulatedRadio
scenario   seeded city scenarios with spoofers and a ring
```

`module` is this kind's `ProofModule`; build one with history and a denylist with
`CoverageModule(history=..., denylist=...)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from opendepin.network.settings import Settings
from opendepin.proofs.base import ChainSnapshot, IngestedReport, Shares, Verdict
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
from opendepin.proofs.coverage.params import COVERAGE_KIND, CoverageParams
from opendepin.proofs.coverage.payloads import (
    BeaconPayload,
    WitnessPayload,
    beacon_data,
    parse_payload,
)
from opendepin.proofs.coverage.radio import Frame, Radio, RadioNode, Reception, SimulatedRadio
from opendepin.proofs.coverage.reasons import CoverageReason, Invalid
from opendepin.proofs.coverage.scenario import Role, Scenario, generate_scenario
from opendepin.proofs.coverage.scoring import (
    SHARES_PER_UNIT,
    beaconer_units,
    hex_density_scales,
    witness_units,
)
from opendepin.types import ProofKind


@dataclass(frozen=True)
class CoverageModule:
    """The coverage `ProofModule`, bound to a history and a denylist.

    `verify`, `score` and `run` each stand for the whole (pure) stage. The last result is
    remembered (for equal reports, the same snapshot and settings objects), so the oracle's
    `verify` + `score` + `run` for explanations compute the epoch once. The memo is
    per instance: build one module per epoch, never share one between oracles.
    """

    history: CoverageHistory = field(default_factory=CoverageHistory)
    denylist: Denylist = field(default_factory=Denylist)
    kind: ProofKind = COVERAGE_KIND
    _memo: list[tuple[tuple[IngestedReport, ...], ChainSnapshot, Settings, CoverageResult]] = field(
        default_factory=list, compare=False, repr=False
    )

    def validate_payload(self, payload: dict[str, Any]) -> None:
        parse_payload(payload)

    def run(
        self, reports: Sequence[IngestedReport], snapshot: ChainSnapshot, settings: Settings
    ) -> CoverageResult:
        batch = tuple(reports)
        for seen, snap, sett, result in self._memo:
            if snap is snapshot and sett is settings and seen == batch:
                return result
        result = verify_epoch(
            batch, snapshot, CoverageParams.from_settings(settings), self.history, self.denylist
        )
        self._memo[:] = [(batch, snapshot, settings, result)]
        return result

    def verify(
        self, reports: Sequence[IngestedReport], snapshot: ChainSnapshot, settings: Settings
    ) -> list[Verdict]:
        return list(self.run(reports, snapshot, settings).verdicts)

    def score(
        self,
        reports: Sequence[IngestedReport],
        verdicts: Sequence[Verdict],
        snapshot: ChainSnapshot,
        settings: Settings,
    ) -> Shares:
        """Shares (10**6 per unit). Recomputes the stage; `verdicts` must be `verify`'s."""
        return self.run(reports, snapshot, settings).shares


module = CoverageModule()
"""The coverage kind with no history and an empty denylist."""
COVERAGE = module
"""Alias under the name the oracle's kind registry imports."""

__all__ = [
    "COVERAGE",
    "COVERAGE_KIND",
    "DENYLIST_FILENAME",
    "SHARES_PER_UNIT",
    "BeaconPayload",
    "BeaconSchedule",
    "CoverageAgent",
    "CoverageHistory",
    "CoverageModule",
    "CoverageParams",
    "CoverageReason",
    "CoverageResult",
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
    "decode_reports",
    "evaluate",
    "generate_scenario",
    "hex_density_scales",
    "load_denylist",
    "module",
    "parse_denylist",
    "parse_payload",
    "sign_denylist",
    "verify_epoch",
    "witness_units",
    "write_denylist",
]
