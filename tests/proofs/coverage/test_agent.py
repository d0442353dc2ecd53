"""The device side: beacon schedule and signed beacon/witness reports."""

from __future__ import annotations

import random
from itertools import pairwise

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


INTERVAL_MS = 6 * HOUR_MS


def test_schedule_allows_one_beacon_per_interval() -> None:
    schedule = BeaconSchedule(interval_seconds=6 * 3_600, rng=random.Random(1))
    first = schedule.next_due_ms(0)
    assert 0 <= first < INTERVAL_MS  # a random point of the first interval
    assert not schedule.due(first - 1)
    with pytest.raises(ValueError, match="not due"):
        schedule.take(first - 1)
    assert schedule.take(first) == 0
    second = schedule.next_due_ms(first)
    assert first + INTERVAL_MS <= second < first + 2 * INTERVAL_MS
    assert not schedule.due(second - 1)
    assert schedule.take(second) == 1


def _times(schedule: BeaconSchedule, n: int, start_ms: int = 0) -> list[int]:
    """Beacon times when the device beacons exactly when due."""
    out = []
    now = start_ms
    for _ in range(n):
        now = schedule.next_due_ms(now)
        schedule.take(now)
        out.append(now)
    return out


@pytest.mark.parametrize("seed", range(5))
def test_schedule_never_violates_the_interval(seed: int) -> None:
    times = _times(BeaconSchedule(6 * 3_600, rng=random.Random(seed)), 200)
    gaps = [b - a for a, b in pairwise(times)]
    assert min(gaps) >= INTERVAL_MS and max(gaps) < 2 * INTERVAL_MS
    assert len(set(gaps)) > 150  # spread over the interval, not a fixed step


def test_schedule_is_not_a_function_of_public_inputs() -> None:
    """Two devices with the same interval and start (all a watcher knows) beacon at different
    times with the default CSPRNG; a seeded generator replays exactly (simulations)."""
    a, b = (_times(BeaconSchedule(6 * 3_600), 20, 1_000) for _ in range(2))
    assert a != b
    seeded = [_times(BeaconSchedule(6 * 3_600, rng=random.Random(9)), 20, 1_000) for _ in range(2)]
    assert seeded[0] == seeded[1]


def test_schedule_with_zero_interval_is_always_due() -> None:
    schedule = BeaconSchedule(0)
    assert schedule.take(5) == 0 and schedule.take(5) == 1


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
    at = sender.schedule.next_due_ms(HOUR_MS)
    assert sender.beacon(at - 1, 0, entropy, 17) is None  # not due yet
    beacon = sender.beacon(at, 0, entropy, 17)
    assert beacon is not None
    assert sender.beacon(at + 1, 0, entropy, 17) is None  # not due again
    witnesses = listener.witnesses(0)
    assert len(witnesses) == 1
    assert check_signatures([beacon, *witnesses]) == [None, None]
    b = parse_payload(beacon.payload_obj())
    w = parse_payload(witnesses[0].payload_obj())
    assert isinstance(b, BeaconPayload) and isinstance(w, WitnessPayload)
    assert b.data == beacon_data(entropy, sender.device, 0, b.secret) == w.data
    assert len(b.secret) == 16
    assert b.entropy_block == 17
    assert w.beaconer == sender.device
    assert (beacon.seq, witnesses[0].seq) == (1, 1)


def _pair() -> tuple[CoverageAgent, CoverageAgent]:
    keys = [DeviceKey.generate(), DeviceKey.generate()]
    radio = SimulatedRadio(
        [RadioNode(DeviceId(k.device_id), *offset(0, 1_000 * i)) for i, k in enumerate(keys)],
        shadowing_sigma_db=0.0,
    )
    sender, listener = (
        CoverageAgent(k, radio, "opendepin-dev", 31337, BeaconSchedule(21_600)) for k in keys
    )
    return sender, listener


def test_beacon_secrets_are_fresh_per_beacon() -> None:
    sender, _ = _pair()
    entropy = keccak256(b"epoch entropy")
    secrets_seen = []
    now = 0
    for _ in range(3):
        now = sender.schedule.next_due_ms(now)
        report = sender.beacon(now, 0, entropy, 17)
        assert report is not None
        payload = parse_payload(report.payload_obj())
        assert isinstance(payload, BeaconPayload)
        secrets_seen.append(payload.secret)
    assert len(set(secrets_seen)) == 3


def test_witness_of_a_beacon_sent_before_the_epoch_start_is_labelled_with_its_epoch() -> None:
    sender, listener = _pair()
    epoch_start = 10 * HOUR_MS
    sender.schedule.next_at_ms = epoch_start - 1_000  # due one second before epoch 1 begins
    beacon = sender.beacon(epoch_start - 1_000, 0, keccak256(b"e"), 17)
    assert beacon is not None and beacon.epoch == 0
    (late,) = listener.witnesses(1, epoch_start)  # collected in epoch 1
    assert late.epoch == 0
    sender.schedule.next_at_ms = None
    at = sender.schedule.next_due_ms(epoch_start + 7 * HOUR_MS)
    assert sender.beacon(at, 1, keccak256(b"e"), 18) is not None
    (current,) = listener.witnesses(1, epoch_start)
    assert current.epoch == 1
