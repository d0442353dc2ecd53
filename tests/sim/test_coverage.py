"""The simulated coverage fleet: roles, reproducibility, beacons naming their entropy block."""

from __future__ import annotations

from itertools import pairwise

from opendepin.chain.accounts import Signer
from opendepin.crypto import keccak256
from opendepin.proofs.coverage import BeaconPayload, Role, beacon_data, parse_payload
from opendepin.proofs.coverage.simulation import CoverageFleet, fleet_roles
from opendepin.reports.envelope import Report
from opendepin.sim.keys import sim_secret
from opendepin.types import Epoch

START = 1_893_456_000


def _fleet(seed: int, count: int = 16) -> CoverageFleet:
    owners = [Signer.from_private_bytes(sim_secret(seed, "owner", i)) for i in range(3)]
    return CoverageFleet(
        seed, count, owners, network_id="n", chain_id=1, beacon_interval_seconds=6 * 3_600
    )


def _day(fleet: CoverageFleet) -> list[Report]:
    out: list[Report] = []
    for hour in range(24):
        out += fleet.hour_reports(
            epoch=Epoch(0),
            hour_index=hour,
            hour_start_unix=START + hour * 3_600,
            entropy_block=100 + hour,
            entropy=keccak256(hour.to_bytes(2, "big")),
        )
    return out


def test_fleet_roles_include_cheats_only_from_eight_devices() -> None:
    assert fleet_roles(7) == (7, 0, 0)
    honest, spoofers, ring = fleet_roles(48)
    assert (spoofers, ring) == (3, 4) and honest + spoofers + ring == 48


def test_fleet_same_seed_signs_same_reports() -> None:
    assert _day(_fleet(2)) == _day(_fleet(2))
    assert _day(_fleet(2)) != _day(_fleet(3))


def test_fleet_beacons_once_per_interval_with_the_hours_entropy_block() -> None:
    fleet = _fleet(4)
    beacons = [
        (r, p) for r in _day(fleet) if isinstance(p := parse_payload(r.payload_obj()), BeaconPayload)
    ]
    interval_ms = 6 * 3_600_000
    by_device: dict[str, list[int]] = {}
    for report, payload in beacons:
        hour = (report.timestamp_ms // 1_000 - START) // 3_600
        assert payload.entropy_block == 100 + hour
        entropy = keccak256(hour.to_bytes(2, "big"))
        assert payload.data == beacon_data(entropy, report.device, payload.counter, payload.secret)
        by_device.setdefault(report.device, []).append(report.timestamp_ms)
    assert len(by_device) == len(fleet)  # everyone beacons within the first interval
    for times in by_device.values():
        assert 2 <= len(times) <= 4  # random gaps of one to two 6 h intervals in 24 h
        gaps = [b - a for a, b in pairwise(times)]
        # at least one interval; at most two plus the wait for the next hour's beacon slot
        assert all(interval_ms <= g < 2 * interval_ms + 3_600_000 for g in gaps)
    assert len({p.secret for _, p in beacons}) == len(beacons)  # a fresh secret per beacon
    assert {r for r in fleet.roles().values()} == {Role.HONEST, Role.SPOOFER, Role.RING}
