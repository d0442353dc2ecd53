"""Strict beacon/witness payload decoding and beacon data derivation."""

from __future__ import annotations

from typing import Any

import pytest

from opendepin.crypto import keccak256
from opendepin.identity import DeviceKey
from opendepin.proofs.coverage.payload import (
    BeaconPayload,
    WitnessPayload,
    beacon_data,
    parse_payload,
)
from opendepin.reports.envelope import canonical_payload
from opendepin.types import DeviceId


def _witness() -> WitnessPayload:
    return WitnessPayload(
        DeviceId(DeviceKey.generate().device_id), bytes(range(16)), -10_250, 725, 868_100_000,
        1_767_225_600_000, 300, "EU868",
    )


def test_beacon_data_is_keccak_of_entropy_device_counter() -> None:
    device = DeviceId(DeviceKey.generate().device_id)
    entropy = keccak256(b"e")
    expected = keccak256(entropy + bytes.fromhex(device[2:]) + (7).to_bytes(8, "big"))[:16]
    assert beacon_data(entropy, device, 7) == expected
    assert beacon_data(entropy, device, 8) != expected


def test_parse_round_trips_beacon_and_witness() -> None:
    beacon = BeaconPayload(3, bytes(16), 41, 868_100_000, 1_400, 300, "EU868")
    witness = _witness()
    assert parse_payload(beacon.to_obj()) == beacon
    assert parse_payload(witness.to_obj()) == witness
    canonical_payload(witness.to_obj())  # integers and strings only: no floats


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"type": "ping"}, "type"),
        ({"rssi_cdbm": -102.5}, "rssi_cdbm"),
        ({"snr_cdb": True}, "snr_cdb"),
        ({"data": "0x00"}, "data"),
        ({"data": "zz"}, "data"),
        ({"beaconer": "0x1234"}, "address"),
        ({"frequency_hz": 0}, "frequency_hz"),
        ({"region": ""}, "region"),
        ({"extra": 1}, "unknown field"),
    ],
)
def test_parse_rejects_malformed_witness(change: dict[str, Any], message: str) -> None:
    obj = _witness().to_obj() | change
    with pytest.raises(ValueError, match=message):
        parse_payload(obj)


def test_parse_rejects_missing_field() -> None:
    obj = _witness().to_obj()
    del obj["received_ms"]
    with pytest.raises(ValueError, match="missing field"):
        parse_payload(obj)
