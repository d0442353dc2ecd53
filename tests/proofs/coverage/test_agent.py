"""The device side: beacon schedule and signed beacon/witness reports."""

from __future__ import annotations

import pytest
from coverage_world import offset

from opendepin.crypto import keccak256
from opendepin.identity import DeviceKey
from opendepin.proofs.coverage import parse_payload
from opendepin.proofs.coverage.agent import BeaconSchedule, CoverageAgent
from opendepin.proofs.coverage.payload import BeaconPayload, WitnessPayload, beacon_data
from opendepin.proofs.coverage.radio import RadioNode, SimulatedRadio
from opendepin.reports.verify import check_signatures
from opendepin.types import DeviceId

HOUR_MS = 3_600_000


def test_schedule_allows_one_beacon_per_interval() -> None:
    schedule = BeaconSchedule(interval_seconds=6 * 3_600)
    assert schedule.take(0) == 0
    assert not schedule.due(6 * HOUR_MS - 1)
    with pytest.raises(ValueError, match="not due"):
        schedule.take(HOUR_MS)
    assert schedule.take(6 * HOUR_MS) == 1
    assert schedule.next_due_ms() == 12 * HOUR_MS


def test_agents_sign_beacons_and_witnesses_heard_over_radio() -> None:
    keys = [DeviceKey.generate(), DeviceKey.generate()]
    radio = SimulatedRadio(
        [RadioNode(DeviceId(k.device_id), *offset(0, 1_000 * i)) for i, k in enumerate(keys)],
        shadowing_sigma_db=0.0,
    )
    sender, listener = (
        CoverageAgent(k, radio, "opendepin-dev", 31337, BeaconSchedule(21_600)) for k in keys
    )
    entropy = keccak256(b"epoch entropy")
    beacon = sender.beacon(HOUR_MS, 0, entropy, 17)
    assert beacon is not None
    assert sender.beacon(HOUR_MS + 1, 0, entropy, 17) is None  # not due again
    witnesses = listener.witnesses(0)
    assert len(witnesses) == 1
    assert check_signatures([beacon, *witnesses]) == [None, None]
    b = parse_payload(beacon.payload_obj())
    w = parse_payload(witnesses[0].payload_obj())
    assert isinstance(b, BeaconPayload) and isinstance(w, WitnessPayload)
    assert b.data == beacon_data(entropy, sender.device, 0) == w.data
    assert b.entropy_block == 17
    assert w.beaconer == sender.device
    assert (beacon.seq, witnesses[0].seq) == (1, 1)
