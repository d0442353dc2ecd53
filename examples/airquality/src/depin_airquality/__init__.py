"""An example opendepin proof kind: air-quality stations reporting PM2.5 every hour.

A WeatherXM-style station stands at a fixed place its owner asserted on chain (an H3 cell)
and about once an hour signs a report of kind `"airquality"` carrying one PM2.5 reading and
its position (`payload`). Oracles check every reading with ordered rules (`verifier`) and pay
each station one share per distinct hour with a valid reading (`scorer`). `device` is what
`depin agent run` sends, `simulation` the honest and dishonest stations of `depin demo`.

The whole kind lives in this package; opendepin finds it through the entry point in
pyproject.toml and needs no edit. Module layout (the same roles as opendepin's own kinds):

```
kind        the Kind object (KIND), wiring the modules below
reasons     the reason enum (shared codes reused, own codes prefixed "airquality_")
settings    the [kinds.airquality] section
payload     the payload schema and its parser
verifier    ordered rules → verdicts
scorer      verdicts → shares and explanations
device      DeviceBehaviour for `depin agent run` (and a simulated sensor)
simulation  SimModel for `depin demo`
```
"""

from __future__ import annotations

from depin_airquality.device import FixedStation, Sensor, SimulatedSensor
from depin_airquality.kind import KIND, AirQualityKind
from depin_airquality.payload import (
    PAYLOAD_SCHEMA,
    AirQualityPayload,
    parse_payload,
    validate_payload,
)
from depin_airquality.reasons import AirQualityReason
from depin_airquality.settings import AirQualitySection
from depin_airquality.simulation import AirQualityFleet, Behaviour
from depin_airquality.verifier import AIRQUALITY

__all__ = [
    "AIRQUALITY",
    "KIND",
    "PAYLOAD_SCHEMA",
    "AirQualityFleet",
    "AirQualityKind",
    "AirQualityPayload",
    "AirQualityReason",
    "AirQualitySection",
    "Behaviour",
    "FixedStation",
    "Sensor",
    "SimulatedSensor",
    "parse_payload",
    "validate_payload",
]
