"""Strict beacon/witness payload decoding and beacon data derivation."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from opendepin.crypto import keccak256
from opendepin.identity import DeviceKey
from opendepin.proofs.coverage.payload import (
    BeaconPayload,
    WitnessPayload,
    beacon_data,
    parse_payload,
    parse_payload_strict,
)
from opendepin.reports.envelope import canonical_payload
from opendepin.types import DeviceId


def _witness() -> WitnessPayload:
    return WitnessPayload(
        DeviceId(DeviceKey.generate().device_id), bytes(range(16)), -10_250, 725, 868_100_000,
        1_767_225_600_000, 300, "EU868",
    )


SECRET = bytes(range(100, 116))


def _beacon() -> BeaconPayload:
    return BeaconPayload(3, bytes(16), 41, 868_100_000, 1_400, 300, "EU868", SECRET)


def test_beacon_data_is_keccak_of_entropy_device_counter_secret() -> None:
    device = DeviceId(DeviceKey.generate().device_id)
    entropy = keccak256(b"e")
    expected = keccak256(entropy + bytes.fromhex(device[2:]) + (7).to_bytes(8, "big") + SECRET)[:16]
    assert beacon_data(entropy, device, 7, SECRET) == expected
    assert beacon_data(entropy, device, 8, SECRET) != expected
    assert beacon_data(entropy, device, 7, bytes(16)) != expected  # the secret changes the data


def test_beacon_data_refuses_a_secret_of_the_wrong_length() -> None:
    device = DeviceId(DeviceKey.generate().device_id)
    with pytest.raises(ValueError, match="secret"):
        beacon_data(keccak256(b"e"), device, 7, bytes(15))


def test_parse_round_trips_beacon_and_witness() -> None:
    beacon = _beacon()
    assert beacon.to_obj()["secret"] == "0x" + SECRET.hex()
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


@pytest.mark.parametrize(
    "secret",
    [
        None,
        7,
        True,
        "",
        "0x",
        "0x" + "ab" * 15,  # too short
        "0x" + "ab" * 17,  # too long
        "ab" * 16,  # no 0x
        "0X" + "ab" * 16,
        "0x" + "AB" * 16,  # upper case: a second spelling of one value
        "0x" + "ab" * 15 + " a",  # whitespace bytes.fromhex would skip
        "0x" + "zz" * 16,
        "0x" + "ab" * 16 + "\n",
        ["0x" + "ab" * 16],
    ],
)
def test_parse_rejects_hostile_beacon_secret(secret: object) -> None:
    obj = _beacon().to_obj() | {"secret": secret}
    with pytest.raises(ValueError, match="secret"):
        parse_payload(obj)


def test_parse_rejects_beacon_without_secret() -> None:
    obj = _beacon().to_obj()
    del obj["secret"]
    with pytest.raises(ValueError, match=r"missing field.*secret"):
        parse_payload(obj)


def test_parse_rejects_upper_case_or_spaced_data() -> None:
    for data in ("0x" + "AB" * 16, "0x" + "ab" * 15 + " a"):
        with pytest.raises(ValueError, match="data"):
            parse_payload(_witness().to_obj() | {"data": data})


def test_parse_rejects_missing_field() -> None:
    obj = _witness().to_obj()
    del obj["received_ms"]
    with pytest.raises(ValueError, match="missing field"):
        parse_payload(obj)


# The fused well-formed test of `parse_payload` against the field-by-field reference
# (`parse_payload_strict`): the same payload, or the same error, on payloads with any field
# changed to a boundary value, a wrong type, a bad address or hex, or removed or added.

_EDGE_VALUES: list[Any] = [
    0, 1, -1, True, False, None, 1.0, "1", [], {}, 2**64, 2**64 - 1, -(2**63), 10**12, 10**12 + 1,
    100_000, 100_001, -100_000, -100_001, "", "EU868", "x" * 16, "x" * 17, "0x" + "ab" * 16, "0x" + "AB" * 16,
    "0x" + "ab" * 15, "0x" + "ab" * 17, "0x" + "g" * 32, "ab" * 17, " 0x" + "ab" * 16,
    "0x" + "ab" * 20, "0x" + "AB" * 20, "0x" + "aB" * 20,
]


def _mutated(draw: st.DrawFn) -> dict[str, Any]:
    base = draw(st.sampled_from([_witness(), _beacon()])).to_obj()
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(["set", "set", "drop", "add"]))
        if action == "set":
            base[draw(st.sampled_from(sorted(base)))] = draw(st.sampled_from(_EDGE_VALUES))
        elif action == "drop" and base:
            del base[draw(st.sampled_from(sorted(base)))]
        else:
            base[draw(st.sampled_from(["extra", "type", "secret", "beaconer"]))] = draw(st.sampled_from(_EDGE_VALUES))
    return base


def _outcome(parse: Any, obj: dict[str, Any]) -> tuple[str, Any]:
    try:
        return "ok", parse(obj)
    except ValueError as exc:
        return "error", str(exc)


@hsettings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.composite(_mutated)())
def test_the_fused_check_decodes_as_the_field_by_field_one(obj: dict[str, Any]) -> None:
    assert _outcome(parse_payload, obj) == _outcome(parse_payload_strict, obj)


def test_the_fused_check_takes_a_wrong_checksum_to_the_strict_error() -> None:
    obj = _witness().to_obj()
    wrong = obj["beaconer"][:2] + obj["beaconer"][2:].swapcase()
    if wrong[2:] in (wrong[2:].lower(), wrong[2:].upper()):  # no letters to get wrong
        pytest.skip("address without letters")
    obj["beaconer"] = wrong
    assert _outcome(parse_payload, obj) == _outcome(parse_payload_strict, obj)
    assert _outcome(parse_payload, obj)[0] == "error"
