"""The heartbeat kind as the registry sees it: one object declaring everything about it.

```
payload   {"lat_e7", "lon_e7", "accuracy_m"?}            payload.validate_payload
rules     verifier.verify (ordered, HeartbeatReason)     settings  [kinds.heartbeat] / [heartbeat]
shares    trusted quarter-hours (scorer)                 state     none (stateless)
explain   hours, trust, distance, every reason           device    a fixed position (agent.toml)
sim       population.Population (honest, wrong_location, replayer, forger, flaky)
```
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel

from opendepin.errors import ConfigError
from opendepin.proofs.heartbeat.payload import validate_payload
from opendepin.proofs.heartbeat.scorer import explain
from opendepin.proofs.heartbeat.settings import HeartbeatSection
from opendepin.proofs.heartbeat.simulation import Population
from opendepin.proofs.heartbeat.verifier import HEARTBEAT_KIND, HeartbeatReason, verify
from opendepin.proofs.kind import (
    DeviceBehaviour,
    Explanation,
    KindBase,
    KindJob,
    KindResult,
    Rule,
    SimDevice,
    SimHour,
    SimModel,
    SimSpec,
)
from opendepin.reports.envelope import Report
from opendepin.types import ProofKind

if TYPE_CHECKING:
    from opendepin.agent.config import AgentConfig

PAYLOAD_SCHEMA: Final[Mapping[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["lat_e7", "lon_e7"],
    "properties": {
        "lat_e7": {"type": "integer", "minimum": -900_000_000, "maximum": 900_000_000},
        "lon_e7": {"type": "integer", "minimum": -1_800_000_000, "maximum": 1_800_000_000},
        "accuracy_m": {"type": "integer", "minimum": 0, "maximum": 100_000},
    },
}


RULES: Final = (
    Rule("report_kind", ("wrong_report_kind",), "the report is a heartbeat"),
    Rule("registered", ("unknown_device",), "the device is in the registry at the close block"),
    Rule("active", ("inactive_device",), "and not deactivated"),
    Rule("device_kind", ("wrong_device_kind",), "it was registered as a heartbeat device"),
    Rule("location_asserted", ("location_not_asserted",), "it asserted a valid H3 cell"),
    Rule("payload", ("malformed_payload",), "the payload is well formed"),
    Rule("in_epoch", ("wrong_epoch",), "its timestamp lies inside its epoch"),
    Rule("unique_seq", ("duplicate",), "no earlier report in the input has the same (device, seq)"),
    Rule("location_trust", ("location_untrusted",), "within partial_trust_meters of the asserted cell"),
    Rule("uptime", ("insufficient_uptime",), "at least min_online_hours distinct online hours", "device"),
)
"""The heartbeat rules in order (`verifier` implements them)."""


class FixedPosition:
    """A stationary device: every heartbeat carries the position configured in agent.toml."""

    def __init__(self, config: AgentConfig) -> None:
        if config.lat_e7 is None or config.lon_e7 is None:
            raise ConfigError("no position: set lat_e7/lon_e7 in agent.toml (depin agent init --lat --lon)")
        self.payload: dict[str, Any] = {"lat_e7": config.lat_e7, "lon_e7": config.lon_e7}
        if config.accuracy_m is not None:
            self.payload["accuracy_m"] = config.accuracy_m

    def payloads(self, timestamp_ms: int) -> list[dict[str, Any]]:
        return [dict(self.payload)]


class PopulationModel:
    """`Population` as a `SimModel`: one report an hour per device, plus the cheats' extras."""

    def __init__(self, spec: SimSpec) -> None:
        self.population = Population(spec.seed, spec.count, spec.owners)
        self.network_id = spec.settings.network.network_id
        self.chain_id = spec.settings.network.chain_id
        self._devices = [
            SimDevice(d.key, d.owner, d.cell, d.behaviour.value) for d in self.population.devices
        ]

    @property
    def devices(self) -> Sequence[SimDevice]:
        return self._devices

    def hour_reports(self, hour: SimHour) -> list[Report]:
        return list(
            self.population.hour_reports(
                network_id=self.network_id,
                chain_id=self.chain_id,
                epoch=hour.epoch,
                hour=hour.hour,
                epoch_start_unix=hour.epoch_start_unix,
            )
        )


class HeartbeatKind(KindBase):
    """Heartbeat / uptime: a device is online, and where it says it is."""

    name: ProofKind = HEARTBEAT_KIND
    reasons: type[StrEnum] = HeartbeatReason
    rules: Sequence[Rule] = RULES
    settings_model: type[BaseModel] = HeartbeatSection
    payload_schemas: Mapping[str, Mapping[str, Any]] = {"heartbeat": PAYLOAD_SCHEMA}

    def validate_payload(self, payload: dict[str, Any]) -> None:
        validate_payload(payload)

    def compute(self, job: KindJob) -> KindResult:
        verdicts = verify(job.reports, job.snapshot, job.settings)
        explained = explain(job.reports, verdicts, job.snapshot, job.settings)
        explanations = {
            device: Explanation(
                device=device,
                shares=e.share,
                reasons=e.reasons,
                invalid=dict(e.invalid),
                details={
                    "heartbeats": e.heartbeats,
                    "hours": e.hours,
                    "trusted_quarter_hours": e.trusted_quarter_hours,
                    "min_trust_quarters": e.min_trust_quarters,
                    "max_distance_m": e.max_distance_m,
                },
            )
            for device, e in explained.items()
        }
        shares = {device: e.share for device, e in explained.items() if e.share > 0}
        return KindResult(verdicts=tuple(verdicts), shares=shares, explanations=explanations)

    def device(self, config: AgentConfig) -> DeviceBehaviour:
        return FixedPosition(config)

    def simulation(self, spec: SimSpec) -> SimModel:
        return PopulationModel(spec)


KIND: Final = HeartbeatKind()
"""The heartbeat kind (entry point `opendepin.proof_kinds: heartbeat`)."""
