"""Simulated coverage devices for the demo: a real city, honest radios and two kinds of cheats.

`CoverageFleet` lays out devices with `proofs.coverage.scenario.layout_devices` (Lisbon by
default): honest devices on a ~900 m grid asserting the cell they stand in, **location
spoofers** standing among them but asserting cells in other cities (> 100 km away), and a
**witness ring** of radios at one spot far from everyone, asserting cells ~1.5 km apart and
hearing only each other. Every device runs the real `CoverageAgent` through one shared
`SimulatedRadio`, registers on chain for kind "coverage" and asserts its (claimed) H3 cell.

Time is the chain's: each hour of an epoch is one entropy window; the demo mines a block at
the hour's start, and a device that beacons in that hour reads the last block at or before
the window's start from the chain, as a real device would, and names it in its beacon. Each
device's agent draws its beacon times as a real one would — each a random time one to two
`beacon_interval_seconds` after the last, from a seeded generator (`scenario.simulated_agent`,
which seeds the beacon secrets too) — and beacons in the hour it falls due, at that time, or
at the hour's start if it fell due after the previous hour's last slot
(`MAX_BEACON_OFFSET_SECONDS`); whoever hears it signs a witness report. Reports go through the same HTTP ingest
as heartbeats. Keys and layout derive from the seed (`scenario.simulation_key`), so the same
seed gives the same bytes.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from opendepin.chain.accounts import Signer
from opendepin.chain.clients import RegistryClient
from opendepin.proofs.coverage.params import COVERAGE_KIND, MS_PER_SECOND
from opendepin.proofs.coverage.radio import RadioNode, SimulatedRadio
from opendepin.proofs.coverage.scenario import (
    LISBON,
    Role,
    ScenarioDevice,
    layout_devices,
    simulated_agent,
)
from opendepin.reports.envelope import Report
from opendepin.types import DeviceId, Epoch

SECONDS_PER_HOUR: Final = 3_600
MIN_DEVICES_FOR_CHEATS: Final = 8
"""Below this, every coverage device is honest."""
RING_SHARE: Final = 10
"""One device in this many is in the witness ring (at least 3)."""
SPOOFER_SHARE: Final = 16
"""One device in this many is a location spoofer (at least 1)."""
MIN_RING: Final = 3
MAX_BEACON_OFFSET_SECONDS: Final = 25 * 60
"""Beacons go out within this long after the hour's start (the demo delivers at +30 min); one
falling due later in the hour waits for the next hour's start."""
SEED_SALT: Final = 0xC0FE


def fleet_roles(count: int) -> tuple[int, int, int]:
    """(honest, spoofers, ring) for a fleet of `count` devices."""
    if count < MIN_DEVICES_FOR_CHEATS:
        return count, 0, 0
    ring = max(MIN_RING, count // RING_SHARE)
    spoofers = max(1, count // SPOOFER_SHARE)
    return count - ring - spoofers, spoofers, ring


@dataclass(frozen=True, slots=True)
class FleetDevice:
    """One coverage device of the fleet and who owns it."""

    layout: ScenarioDevice
    owner: Signer

    @property
    def device(self) -> DeviceId:
        return self.layout.device

    @property
    def role(self) -> Role:
        return self.layout.role


class CoverageFleet:
    """Coverage devices, their agents and radio, all derived from `seed`."""

    def __init__(
        self,
        seed: int,
        count: int,
        owners: Sequence[Signer],
        *,
        network_id: str,
        chain_id: int,
        beacon_interval_seconds: int,
        centre: tuple[float, float] = LISBON,
    ) -> None:
        if beacon_interval_seconds % SECONDS_PER_HOUR or beacon_interval_seconds <= 0:
            raise ValueError("the simulated fleet beacons on whole hours: use a whole-hour interval")
        honest, spoofers, ring = fleet_roles(count)
        layout = layout_devices(seed, centre, honest, spoofers, ring) if count else []
        rng = random.Random(seed ^ SEED_SALT)
        self.devices = [
            FleetDevice(
                layout=d,
                owner=owners[rng.randrange(len(owners))],
            )
            for d in layout
        ]
        self.radio = SimulatedRadio(
            [RadioNode(d.device, d.layout.lat_deg, d.layout.lng_deg) for d in self.devices], seed=seed
        )
        self.agents = [
            simulated_agent(seed, i, d.layout.key, self.radio, network_id, chain_id, beacon_interval_seconds)
            for i, d in enumerate(self.devices)
        ]

    def __len__(self) -> int:
        return len(self.devices)

    def roles(self) -> dict[DeviceId, Role]:
        return {d.device: d.role for d in self.devices}

    def register(self, registry: RegistryClient, deadline: int, advance: Callable[[int], None] | None = None) -> None:
        """Register every device for kind "coverage" and assert its claimed cell (owner pays)."""
        for d in self.devices:
            registry.register(d.layout.key, d.owner, COVERAGE_KIND, deadline)
            registry.assert_location(d.device, d.layout.asserted_cell, sender=d.owner)
            if advance is not None:
                advance(1)

    def hour_reports(
        self, *, epoch: Epoch, hour_index: int, hour_start_unix: int, entropy_block: int, entropy: bytes
    ) -> list[Report]:
        """Signed beacons of the devices due in this hour, then every witness of them.

        `hour_index` counts hours since genesis (phases carry across epochs); `entropy` is the
        hash of `entropy_block`, the window's entropy block. Each device's reports are in
        signing (sequence) order.
        """
        hour_start_ms = hour_start_unix * MS_PER_SECOND
        last_slot_ms = hour_start_ms + MAX_BEACON_OFFSET_SECONDS * MS_PER_SECOND
        due = []
        for i, agent in enumerate(self.agents):
            at_ms = agent.schedule.next_due_ms(hour_start_ms)
            if at_ms <= last_slot_ms:  # due by this hour's last slot (late ones go at its start)
                due.append((max(at_ms, hour_start_ms), i))
        beacons: list[Report] = []
        for at_ms, i in sorted(due):
            beacon = self.agents[i].beacon(at_ms, epoch, entropy, entropy_block)
            if beacon is not None:
                beacons.append(beacon)
        witnesses = [w for agent in self.agents for w in agent.witnesses(epoch)]
        return beacons + witnesses
