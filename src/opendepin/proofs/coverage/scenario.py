"""Seeded coverage scenarios in a real city, with honest devices and two kinds of cheats.

`generate_scenario(seed)` lays out a population around a real place (Lisbon by default) and
runs one epoch of beacons through `SimulatedRadio` with the real `CoverageAgent`, producing
signed beacon and witness reports plus the chain snapshot the oracle would read:

* **honest** devices on a jittered grid (~900 m spacing) around the city centre, asserting
  the H3 resolution-12 cell they really stand in;
* **location spoofers** standing among the honest devices but asserting a cell in another
  city more than 100 km away (each a different one), e.g. to farm a sparse hex's density
  bonus. Their neighbours really hear them; the verifier sees impossible distances;
* a **witness ring**: devices standing at one spot far from everyone else, each asserting a
  different cell about 1.5 km apart so they look like a healthy cluster, witnessing only
  each other. They hear each other at short-range RSSI, far louder than free space allows
  over the asserted distances.

Each beacon uses the entropy block of its window (`simulated_entropy_blocks`: one made-up
block per `entropy_window_seconds`, stamped at the window's start), as a device would.

Everything is a function of `seed`: positions, shadowing, beacon times and secrets (each
device's `simulation_rng`), entropy and even the
device keys, which are *derived* from the seed (`keccak256("opendepin:sim:coverage:" ‖ seed
‖ i)`) so two runs produce identical reports. Such keys are for simulation only.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

import h3.api.basic_int as h3
import numpy as np

from opendepin.crypto import keccak256
from opendepin.identity import DeviceKey, KeyType
from opendepin.proofs.coverage.agent import BeaconSchedule, CoverageAgent, RadioConfig
from opendepin.proofs.coverage.params import CoverageParams
from opendepin.proofs.coverage.radio import RadioNode, SimulatedRadio
from opendepin.records import ChainSnapshot, DeviceRecord, EntropyBlock, IngestedReport
from opendepin.reports.envelope import Report
from opendepin.types import Address, DeviceId, Epoch

LISBON: Final = (38.7223, -9.1393)
"""Praça do Comércio area, Lisbon (lat, lng degrees)."""
BERLIN: Final = (52.5200, 13.4050)
SPOOF_TARGETS: Final = (
    (41.1579, -8.6291),  # Porto
    (40.2033, -8.4103),  # Coimbra
    (37.0194, -7.9304),  # Faro
    (38.5667, -7.9000),  # Évora (~115 km)
    (40.4168, -3.7038),  # Madrid
    (37.3891, -5.9845),  # Seville
)
"""Where spoofers claim to be: other cities, each more than 100 km from Lisbon."""
ASSERT_RESOLUTION: Final = 12
"""Resolution of asserted cells (~10 m edge)."""
HONEST_SPACING_M: Final = 900.0
HONEST_JITTER_M: Final = 150.0
RING_OFFSET_M: Final = (45_000.0, 40_000.0)
"""Ring location relative to the city centre (north, east), out of earshot of the others."""
RING_ASSERT_SPACING_M: Final = 1_500.0
KEY_DOMAIN: Final = b"opendepin:sim:coverage:"
RNG_DOMAIN: Final = b"opendepin:sim:coverage:beacons:"
"""Domain of the seeds of simulated devices' beacon times and secrets (`simulation_rng`)."""
METRES_PER_DEGREE_LAT: Final = 111_320.0


class Role(StrEnum):
    HONEST = "honest"
    SPOOFER = "spoofer"
    RING = "ring"


@dataclass(frozen=True, slots=True)
class ScenarioDevice:
    """One simulated coverage device."""

    key: DeviceKey
    role: Role
    lat_deg: float
    """Where the radio really is."""
    lng_deg: float
    asserted_cell: int
    """The H3 cell it asserted on chain."""

    @property
    def device(self) -> DeviceId:
        return DeviceId(self.key.device_id)


@dataclass(frozen=True)
class Scenario:
    """A simulated epoch: devices, the chain snapshot, and the signed reports they sent."""

    devices: tuple[ScenarioDevice, ...]
    snapshot: ChainSnapshot
    reports: tuple[IngestedReport, ...]
    params: CoverageParams
    epoch: Epoch
    roles: dict[DeviceId, Role] = field(default_factory=dict)

    def with_role(self, role: Role) -> list[DeviceId]:
        """Device ids of one role, in layout order."""
        return [d.device for d in self.devices if d.role is role]


def _offset(lat: float, lng: float, north_m: float, east_m: float) -> tuple[float, float]:
    return (
        lat + north_m / METRES_PER_DEGREE_LAT,
        lng + east_m / (METRES_PER_DEGREE_LAT * math.cos(math.radians(lat))),
    )


def simulation_key(seed: int, i: int) -> DeviceKey:
    """Deterministic simulation key number `i` of scenario `seed` (never use for real devices)."""
    raw = keccak256(KEY_DOMAIN + seed.to_bytes(8, "big", signed=True) + i.to_bytes(4, "big"))
    return DeviceKey.from_private_bytes(KeyType.SECP256K1, raw)


def simulation_rng(seed: int, i: int) -> random.Random:
    """Seeded randomness of simulated device `i`: its beacon times and beacon secrets (a real
    agent uses the OS's CSPRNG; a simulation must replay identically)."""
    raw = keccak256(RNG_DOMAIN + seed.to_bytes(8, "big", signed=True) + i.to_bytes(4, "big"))
    return random.Random(int.from_bytes(raw, "big"))


def simulated_agent(
    seed: int,
    i: int,
    key: DeviceKey,
    radio: SimulatedRadio,
    network_id: str,
    chain_id: int,
    interval_s: int,
    config: RadioConfig | None = None,
) -> CoverageAgent:
    """The real `CoverageAgent` with a seeded schedule and seeded beacon secrets."""
    rng = simulation_rng(seed, i)
    return CoverageAgent(
        key,
        radio,
        network_id,
        chain_id,
        BeaconSchedule(interval_s, rng=rng),
        config=config if config is not None else RadioConfig(),
        secret_source=rng.randbytes,
    )


def layout_devices(
    seed: int, centre: tuple[float, float], honest: int, spoofers: int, ring: int
) -> list[ScenarioDevice]:
    rng = np.random.default_rng(seed)
    side = math.ceil(math.sqrt(honest))
    devices: list[ScenarioDevice] = []
    n = 0
    for i in range(honest):
        row, col = divmod(i, side)
        north = (row - side / 2) * HONEST_SPACING_M + rng.uniform(-HONEST_JITTER_M, HONEST_JITTER_M)
        east = (col - side / 2) * HONEST_SPACING_M + rng.uniform(-HONEST_JITTER_M, HONEST_JITTER_M)
        lat, lng = _offset(*centre, north, east)
        devices.append(
            ScenarioDevice(
                simulation_key(seed, n), Role.HONEST, lat, lng,
                h3.latlng_to_cell(lat, lng, ASSERT_RESOLUTION),
            )
        )
        n += 1
    for i in range(spoofers):
        # Stand between honest devices, claim another city.
        north, east = rng.uniform(-0.3, 0.3, 2) * side * HONEST_SPACING_M
        lat, lng = _offset(*centre, north, east)
        target = SPOOF_TARGETS[i % len(SPOOF_TARGETS)]
        t_lat, t_lng = _offset(*target, *(rng.uniform(-2_000, 2_000, 2) * (1 + i // 6)))
        devices.append(
            ScenarioDevice(
                simulation_key(seed, n), Role.SPOOFER, lat, lng,
                h3.latlng_to_cell(t_lat, t_lng, ASSERT_RESOLUTION),
            )
        )
        n += 1
    ring_lat, ring_lng = _offset(*centre, *RING_OFFSET_M)
    for i in range(ring):
        # All radios within a few metres; asserted cells on a circle of ~1.5 km.
        lat, lng = _offset(ring_lat, ring_lng, *rng.uniform(-3, 3, 2))
        angle = 2 * math.pi * i / max(ring, 1)
        a_lat, a_lng = _offset(
            ring_lat, ring_lng,
            RING_ASSERT_SPACING_M * math.cos(angle), RING_ASSERT_SPACING_M * math.sin(angle),
        )
        devices.append(
            ScenarioDevice(
                simulation_key(seed, n), Role.RING, lat, lng,
                h3.latlng_to_cell(a_lat, a_lng, ASSERT_RESOLUTION),
            )
        )
        n += 1
    return devices


def simulated_entropy_blocks(seed: int, params: CoverageParams, epoch: int) -> list[EntropyBlock]:
    """One made-up entropy block per window of `epoch`, stamped at the window's start."""
    start_s = params.epoch_start_ms(epoch) // 1_000
    window_s = params.coverage.entropy_window_seconds
    out = []
    for k in range(-(-params.epoch_seconds // window_s)):
        number = 1_000 * (epoch + 1) + k
        digest = keccak256(
            b"opendepin:sim:entropy-block:"
            + seed.to_bytes(8, "big", signed=True)
            + number.to_bytes(8, "big")
        )
        out.append(EntropyBlock(number, digest, start_s + k * window_s))
    return out


def generate_scenario(
    seed: int = 0,
    *,
    centre: tuple[float, float] = LISBON,
    honest: int = 36,
    spoofers: int = 3,
    ring: int = 5,
    epoch: int = 0,
    params: CoverageParams | None = None,
    network_id: str = "opendepin-dev",
    chain_id: int = 31337,
    radio_config: RadioConfig | None = None,
) -> Scenario:
    """One epoch of signed coverage reports from a seeded population (module docstring)."""
    params = params if params is not None else CoverageParams()
    config = radio_config if radio_config is not None else RadioConfig()
    devices = layout_devices(seed, centre, honest, spoofers, ring)
    radio = SimulatedRadio(
        [RadioNode(d.device, d.lat_deg, d.lng_deg, config.antenna_gain_cdbi) for d in devices],
        seed=seed,
    )
    entropy = keccak256(b"opendepin:sim:entropy:" + seed.to_bytes(8, "big", signed=True))
    blocks = simulated_entropy_blocks(seed, params, epoch)
    interval_s = params.coverage.beacon_interval_seconds
    agents = [
        simulated_agent(seed, i, d.key, radio, network_id, chain_id, interval_s, config)
        for i, d in enumerate(devices)
    ]
    # One beacon per device at its schedule's first (seeded, random) time: a point of the first
    # beacon interval from the epoch's start, in time order; none after the epoch's end.
    start_ms = params.epoch_start_ms(epoch)
    end_ms = params.epoch_end_ms(epoch)
    times = sorted((agent.schedule.next_due_ms(start_ms), i) for i, agent in enumerate(agents))
    reports: list[Report] = []
    for at_ms, i in times:
        if at_ms >= end_ms:
            continue
        block = blocks[(at_ms - start_ms) // (params.coverage.entropy_window_seconds * 1_000)]
        beacon = agents[i].beacon(at_ms, epoch, block.hash, block.number)
        if beacon is not None:
            reports.append(beacon)
    for agent in agents:
        reports.extend(agent.witnesses(epoch))
    ingested = tuple(IngestedReport(r) for r in reports)
    snapshot = ChainSnapshot(
        block_number=1,
        entropy=entropy,
        entropy_blocks={b.number: b for b in blocks},
        devices={
            d.device: DeviceRecord(d.device, Address(d.device), "coverage", d.asserted_cell, True)
            for d in devices
        },
    )
    return Scenario(
        devices=tuple(devices),
        snapshot=snapshot,
        reports=ingested,
        params=params,
        epoch=Epoch(epoch),
        roles={d.device: d.role for d in devices},
    )

