"""The air-quality kind as opendepin's registry sees it: one object declaring everything.

```
declared           here
name, reasons      "airquality", reasons.AirQualityReason
settings_model     settings.AirQualitySection   ([kinds.airquality] / [airquality])
payload_schemas    payload.PAYLOAD_SCHEMA       (validate_payload = payload.parse_payload)
state, entropy,    none: KindBase's defaults (stateless, no chain entropy, no external files)
external inputs
compute            verifier.verify (ordered rules) → scorer.explain (shares = valid hours)
device             device.FixedStation (agent.toml position + a sensor)
simulation         simulation.AirQualityFleet (honest, spoofer, stuck)
```

`compute` is the whole kind for one epoch and is pure: it reads only its `KindJob` (sealed
reports, the registry snapshot, the settings) and returns verdicts, shares and
explanations, so every oracle — and `depin audit` — computes the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from opendepin.proofs.kind import (
    DeviceBehaviour,
    KindBase,
    KindJob,
    KindResult,
    Rule,
    SimModel,
    SimSpec,
)
from opendepin.types import ProofKind
from pydantic import BaseModel

from depin_airquality.device import FixedStation
from depin_airquality.payload import PAYLOAD_SCHEMA, validate_payload
from depin_airquality.reasons import AirQualityReason
from depin_airquality.scorer import explain
from depin_airquality.settings import AirQualitySection
from depin_airquality.simulation import AirQualityFleet
from depin_airquality.verifier import AIRQUALITY, verify

if TYPE_CHECKING:
    from opendepin.agent.config import AgentConfig


def section_of(value: Any) -> AirQualitySection:
    """The typed section (`KindJob.section`, `Settings.kind_section("airquality")`)."""
    if not isinstance(value, AirQualitySection):
        raise TypeError(f"expected an AirQualitySection, got {type(value).__name__}")
    return value


RULES: Final = (
    Rule("report_kind", ("wrong_report_kind",), "the report is an airquality report"),
    Rule("registered", ("unknown_device",), "the device is in the registry at the close block"),
    Rule("active", ("inactive_device",), "and not deactivated"),
    Rule("device_kind", ("wrong_device_kind",), "it was registered as an airquality station"),
    Rule("location_asserted", ("location_not_asserted",), "it asserted a valid H3 cell"),
    Rule("payload", ("malformed_payload",), "the payload parses"),
    Rule("in_epoch", ("wrong_epoch",), "its timestamp lies inside its epoch"),
    Rule("unique_seq", ("duplicate",), "no earlier report has the same (device, seq)"),
    Rule("in_range", ("airquality_out_of_range",), "the reading is at most max_pm25_dugm3"),
    Rule("near_cell", ("airquality_too_far",), "taken within max_distance_m of the asserted cell"),
    Rule("hours", ("airquality_insufficient_hours",), "at least min_hours distinct hours measured", "device"),
)
"""The air-quality rules in order (`verifier` implements them)."""


class AirQualityKind(KindBase):
    """Hourly PM2.5 readings from fixed stations, paid per hour measured."""

    name: ProofKind = AIRQUALITY
    reasons: type[StrEnum] = AirQualityReason
    rules: Sequence[Rule] = RULES
    settings_model: type[BaseModel] = AirQualitySection
    payload_schemas: Mapping[str, Mapping[str, Any]] = {"airquality": PAYLOAD_SCHEMA}

    def validate_payload(self, payload: dict[str, Any]) -> None:
        validate_payload(payload)

    def compute(self, job: KindJob) -> KindResult:
        section = section_of(job.section)
        checked = verify(job.reports, job.snapshot, job.settings.network, section)
        explanations = explain(checked, job.settings.network, section)
        return KindResult(
            verdicts=tuple(c.verdict for c in checked),
            shares={device: e.shares for device, e in explanations.items() if e.shares > 0},
            explanations=explanations,
        )

    def device(self, config: AgentConfig) -> DeviceBehaviour:
        return FixedStation(config)

    def simulation(self, spec: SimSpec) -> SimModel:
        return AirQualityFleet(spec)


KIND: Final = AirQualityKind()
"""The kind (entry point `opendepin.proof_kinds: airquality = "depin_airquality:KIND"`)."""
