"""Simulated air-quality stations for `depin demo`, honest and dishonest, from one seed.

`depin demo --kind airquality=N` builds this model (`Kind.simulation(spec)`), registers every
device it lists for the kind (asserting its cell), and each simulated hour asks it for the
signed reports the devices send; the demo delivers them to every oracle half an hour into
the hour. So the model only has to be honest about *time*: every timestamp lies inside the
hour and before its 30th minute.

| behaviour            | what it sends                                      | caught by                  |
|----------------------|----------------------------------------------------|----------------------------|
| `airquality_honest`  | one reading an hour, a few metres from its cell    | (paid: one share an hour)  |
| `airquality_spoofer` | plausible readings, but reported ~5 km away        | `airquality_too_far`       |
| `airquality_stuck`   | a saturated sensor: 1000.0 µg/m³ every hour        | `airquality_out_of_range`  |

Stations stand around a few European cities and assert the resolution-12 H3 cell (~10 m
edge) of their home. Keys come from `sim_secret(seed, "airquality", i)` — a simulation
convenience, never for real keys (anyone who knows the seed has them).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from opendepin.chain.accounts import Signer
from opendepin.geo import cell_of
from opendepin.identity import DeviceKey, KeyType
from opendepin.proofs.kind import SimDevice, SimHour, SimSpec
from opendepin.reports.eip712 import sign_report
from opendepin.reports.envelope import Report, canonical_payload
from opendepin.sim.keys import sim_secret

from depin_airquality.device import SimulatedSensor
from depin_airquality.payload import PM25_LIMIT_DUGM3, AirQualityPayload
from depin_airquality.verifier import AIRQUALITY

CITIES: Final = (
    ("berlin", 525_200_000, 134_050_000),
    ("paris", 488_566_000, 23_522_000),
    ("madrid", 404_168_000, -37_038_000),
    ("warsaw", 522_297_000, 210_122_000),
)
"""(name, lat_e7, lon_e7) of the cities stations stand around (round robin)."""
HOME_SPREAD_E7: Final = 300_000
"""Homes are spread uniformly within ±0.03° (~3 km) of their city's centre."""
JITTER_E7: Final = 200
"""An honest station's GPS position wanders up to ±0.00002° (~2 m)."""
SPOOF_OFFSET_E7: Final = 450_000
"""A spoofer reports 0.045° (~5 km) north of the cell it asserts."""
STUCK_READING_DUGM3: Final = PM25_LIMIT_DUGM3
"""What a stuck (saturated) sensor reports."""
ASSERTED_CELL_RESOLUTION: Final = 12
SECONDS_PER_HOUR: Final = 3_600
LATEST_SEND_SECONDS: Final = SECONDS_PER_HOUR // 2 - 60
"""Readings are taken at most this long into the hour (the demo delivers at +30 min)."""


class Behaviour(StrEnum):
    """How a simulated station behaves (the labels the demo's tables show)."""

    HONEST = "airquality_honest"
    SPOOFER = "airquality_spoofer"
    STUCK = "airquality_stuck"


def behaviour_plan(count: int) -> list[Behaviour]:
    """Behaviours of `count` stations: about 10 % spoofers and 10 % stuck sensors, spread
    evenly, and at least one of each from four stations on (so small demos show both)."""
    per_cheat = max(1, count // 10) if count >= 4 else 0
    plan = [Behaviour.HONEST] * count
    cheats = 2 * per_cheat
    if cheats == 0:
        return plan
    stride = count // cheats
    for i in range(cheats):
        plan[i * stride + stride // 2] = Behaviour.SPOOFER if i % 2 == 0 else Behaviour.STUCK
    return plan


@dataclass(slots=True)
class Station:
    """One simulated station and its device-side state."""

    index: int
    key: DeviceKey
    owner: Signer
    behaviour: Behaviour
    home_lat_e7: int
    home_lon_e7: int
    cell: int
    """The H3 cell its owner asserts (the home's, resolution 12)."""
    sensor: SimulatedSensor
    next_seq: int = 1


class AirQualityFleet:
    """The kind's `SimModel`: stations, and one signed reading per station per hour."""

    def __init__(self, spec: SimSpec) -> None:
        if not spec.owners:
            raise ValueError("the airquality simulation needs at least one owner")
        net = spec.settings.network
        self.network_id = net.network_id
        self.chain_id = net.chain_id
        rng = random.Random(f"airquality:{spec.seed}")
        self.stations: list[Station] = []
        for i, behaviour in enumerate(behaviour_plan(spec.count)):
            _, city_lat, city_lon = CITIES[i % len(CITIES)]
            lat = city_lat + rng.randint(-HOME_SPREAD_E7, HOME_SPREAD_E7)
            lon = city_lon + rng.randint(-HOME_SPREAD_E7, HOME_SPREAD_E7)
            self.stations.append(
                Station(
                    index=i,
                    key=DeviceKey.from_private_bytes(
                        KeyType.SECP256K1, sim_secret(spec.seed, AIRQUALITY, i)
                    ),
                    owner=spec.owners[i % len(spec.owners)],
                    behaviour=behaviour,
                    home_lat_e7=lat,
                    home_lon_e7=lon,
                    cell=cell_of(lat, lon, ASSERTED_CELL_RESOLUTION),
                    sensor=SimulatedSensor(salt=spec.seed * 1_000_003 + i),
                )
            )
        self._rng = random.Random(f"airquality:{spec.seed}:jitter")
        self._devices = [
            SimDevice(s.key, s.owner, s.cell, s.behaviour.value) for s in self.stations
        ]

    @property
    def devices(self) -> Sequence[SimDevice]:
        return self._devices

    def reading(self, station: Station, timestamp_ms: int) -> AirQualityPayload:
        """What `station` reports at `timestamp_ms` (its behaviour applied)."""
        rng = self._rng
        lat = station.home_lat_e7 + rng.randint(-JITTER_E7, JITTER_E7)
        lon = station.home_lon_e7 + rng.randint(-JITTER_E7, JITTER_E7)
        pm25 = station.sensor.read_pm25_dugm3(timestamp_ms)
        if station.behaviour is Behaviour.SPOOFER:
            lat += SPOOF_OFFSET_E7
        elif station.behaviour is Behaviour.STUCK:
            pm25 = STUCK_READING_DUGM3
        return AirQualityPayload(pm25, lat, lon)

    def hour_reports(self, hour: SimHour) -> list[Report]:
        """One signed reading per station, taken between 1 and 29 minutes into the hour."""
        out = []
        for station in self.stations:
            offset_s = 60 + (station.index * 97) % LATEST_SEND_SECONDS
            ts_ms = (hour.hour_start_unix + offset_s) * 1_000
            report = Report(
                network_id=self.network_id,
                chain_id=self.chain_id,
                device=station.key.device_id,
                kind=AIRQUALITY,
                epoch=hour.epoch,
                seq=station.next_seq,
                timestamp_ms=ts_ms,
                payload=canonical_payload(self.reading(station, ts_ms).to_dict()),
            )
            station.next_seq += 1
            out.append(sign_report(report, station.key))
        return out
