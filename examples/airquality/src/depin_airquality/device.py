"""The device side: what `depin agent run` sends for an air-quality station.

`depin agent run` asks the device's kind for a `DeviceBehaviour` (`Kind.device(config)`) and,
every `interval_seconds`, calls its `payloads(timestamp_ms)`, then signs, sends, spools and
retries the result itself. So a kind's device code is only "what do I measure now".

An air-quality station is stationary: its position is the fixed one in agent.toml
(`depin agent init --kind airquality --lat … --lon …`, the position whose H3 cell
`depin agent register` asserts on chain). Its reading comes from a `Sensor`.

**A real device reads its sensor in `Sensor.read_pm25_dugm3`** — e.g. a Plantower PMS5003 or
Sensirion SPS30 over UART/I²C, averaged over a minute and converted to deci-µg/m³. This
example ships `SimulatedSensor`, a deterministic stand-in (derived from the timestamp and the
station's position), so `depin agent run` works on a laptop and two runs sign the same bytes.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Final, Protocol

from opendepin.errors import ConfigError

from depin_airquality.payload import PM25_LIMIT_DUGM3, AirQualityPayload

if TYPE_CHECKING:
    from opendepin.agent.config import AgentConfig

MS_PER_HOUR: Final = 3_600_000
BASE_DUGM3: Final = 80
"""Background PM2.5 of the simulated sensor: 8.0 µg/m³ (a clean-ish city)."""
RUSH_HOUR_STEP_DUGM3: Final = 30
"""The simulated rush hours (08:00 and 18:00 UTC) add up to 4 × 3.0 µg/m³."""
NOISE_DUGM3: Final = 20
"""Simulated measurement noise: ± 2.0 µg/m³, fixed per minute."""


class Sensor(Protocol):
    """Where a station's PM2.5 reading comes from."""

    def read_pm25_dugm3(self, timestamp_ms: int) -> int:
        """PM2.5 now, deci-µg/m³ (0 ..= 10000)."""
        ...


class SimulatedSensor:
    """A deterministic PM2.5 sensor: background + two rush-hour peaks + per-minute noise.

    Integer arithmetic only; `salt` makes two stations read different values.
    """

    def __init__(self, salt: int = 0) -> None:
        self.salt = salt

    def read_pm25_dugm3(self, timestamp_ms: int) -> int:
        hour = (timestamp_ms // MS_PER_HOUR) % 24
        from_rush = min(abs(hour - 8), abs(hour - 18))
        rush = max(0, 4 - from_rush) * RUSH_HOUR_STEP_DUGM3
        digest = hashlib.sha256(f"{self.salt}:{timestamp_ms // 60_000}".encode()).digest()
        noise = int.from_bytes(digest[:2], "big") % (2 * NOISE_DUGM3 + 1) - NOISE_DUGM3
        return max(0, min(PM25_LIMIT_DUGM3, BASE_DUGM3 + rush + noise))


class FixedStation:
    """A `DeviceBehaviour`: one reading at the configured position each time it wakes up."""

    def __init__(self, config: AgentConfig, sensor: Sensor | None = None) -> None:
        if config.lat_e7 is None or config.lon_e7 is None:
            raise ConfigError(
                "an airquality station needs its fixed position: set lat_e7/lon_e7 in agent.toml "
                "(depin agent init --kind airquality --lat … --lon …)"
            )
        self.lat_e7 = config.lat_e7
        self.lon_e7 = config.lon_e7
        self.sensor: Sensor = sensor or SimulatedSensor(salt=self.lat_e7 ^ self.lon_e7)

    def payloads(self, timestamp_ms: int) -> list[dict[str, Any]]:
        reading = self.sensor.read_pm25_dugm3(timestamp_ms)
        return [AirQualityPayload(reading, self.lat_e7, self.lon_e7).to_dict()]
