from __future__ import annotations

from typing import Any

import pytest

from opendepin.proofs.heartbeat import HEARTBEAT, make_payload, parse_payload, validate_payload


def test_validate_payload_accepts_well_formed() -> None:
    validate_payload({"lat_e7": 473_769_000, "lon_e7": 85_417_000, "accuracy_m": 4})
    HEARTBEAT.validate_payload({"lat_e7": -900_000_000, "lon_e7": 1_800_000_000})


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"lon_e7": 1}, "missing lat_e7"),
        ({"lat_e7": 1, "lon_e7": 1, "speed": 3}, "unknown keys speed"),
        ({"lat_e7": 900_000_001, "lon_e7": 1}, "lat_e7"),
        ({"lat_e7": 1, "lon_e7": -1_800_000_001}, "lon_e7"),
        ({"lat_e7": True, "lon_e7": 1}, "lat_e7"),
        ({"lat_e7": "1", "lon_e7": 1}, "lat_e7"),
        ({"lat_e7": 1, "lon_e7": 1, "accuracy_m": -1}, "accuracy_m"),
        ({"lat_e7": 1, "lon_e7": 1, "accuracy_m": 2.5}, "accuracy_m"),
    ],
)
def test_validate_payload_rejects_malformed(payload: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_payload(payload)


def test_make_payload_rounds_to_e7_integers() -> None:
    p = make_payload(47.37690004, 8.54169996, 3)
    assert p == {"lat_e7": 473_769_000, "lon_e7": 85_417_000, "accuracy_m": 3}
    assert parse_payload(p).to_dict() == p
