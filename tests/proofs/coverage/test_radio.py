"""The simulated channel: seeded, distance-dependent, never hearing itself."""

from __future__ import annotations

from coverage_world import offset

from opendepin.proofs.coverage.radio import Frame, RadioNode, SimulatedRadio
from opendepin.types import DeviceId


def _nodes() -> list[RadioNode]:
    spots = [(0, 0), (0, 500), (0, 2_000), (0, 6_000), (0, 60_000)]
    return [
        RadioNode(DeviceId(f"0x{i:040x}"), *offset(north, east)) for i, (north, east) in enumerate(spots)
    ]


def _frame(sender: DeviceId) -> Frame:
    return Frame(sender, bytes(16), 868_100_000, 1_400, 300, 1_000)


def test_hear_is_deterministic_for_a_seed() -> None:
    nodes = _nodes()
    one = SimulatedRadio(nodes, seed=5).hear(_frame(nodes[0].device))
    two = SimulatedRadio(nodes, seed=5).hear(_frame(nodes[0].device))
    other = SimulatedRadio(nodes, seed=6).hear(_frame(nodes[0].device))
    assert one == two
    assert [r.rssi_cdbm for r in one] != [r.rssi_cdbm for r in other]


def test_hear_weakens_with_distance_and_excludes_sender() -> None:
    nodes = _nodes()
    radio = SimulatedRadio(nodes, seed=1, shadowing_sigma_db=0.0)
    heard = radio.hear(_frame(nodes[0].device))
    receivers = [r.receiver for r in heard]
    assert nodes[0].device not in receivers
    assert receivers == [n.device for n in nodes[1:4]]  # 60 km is out of range
    rssi = [r.rssi_cdbm for r in heard]
    assert rssi == sorted(rssi, reverse=True)
    assert all(
        r.snr_cdb == min(r.rssi_cdbm - radio.noise_floor_cdbm, radio.snr_saturation_cdb)
        for r in heard
    )
    assert all(r.received_ms > 1_000 for r in heard)


def test_transmit_delivers_to_inboxes_once() -> None:
    nodes = _nodes()
    radio = SimulatedRadio(nodes, seed=1, shadowing_sigma_db=0.0)
    radio.transmit(_frame(nodes[0].device))
    assert len(radio.receptions(nodes[1].device)) == 1
    assert radio.receptions(nodes[1].device) == []
    assert radio.receptions(nodes[4].device) == []


def test_hear_caps_snr_at_saturation_and_lets_it_go_below_zero() -> None:
    nodes = _nodes()
    radio = SimulatedRadio(nodes, seed=1, shadowing_sigma_db=0.0)
    heard = radio.hear(_frame(nodes[0].device))
    assert max(r.snr_cdb for r in heard) == radio.snr_saturation_cdb  # the nearest is loud
    quiet = SimulatedRadio(nodes, seed=1, shadowing_sigma_db=0.0, noise_floor_cdbm=-5_000)
    assert all(r.snr_cdb < 0 for r in quiet.hear(_frame(nodes[0].device)))
