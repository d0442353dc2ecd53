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


HASH = "0x" + "5a" * 32


def test_a_challenge_round_trips_and_make_payload_writes_it() -> None:
    p = make_payload(47.3769, 8.5417, 3, (1_234, bytes.fromhex(HASH[2:])))
    assert p["challenge_block"] == 1_234 and p["challenge_hash"] == HASH
    parsed = parse_payload(p)
    assert (parsed.challenge_block, parsed.challenge_hash) == (1_234, b"\x5a" * 32)
    assert parsed.to_dict() == p
    HEARTBEAT.validate_payload(p)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"challenge_block": 1}, "together"),
        ({"challenge_hash": HASH}, "together"),
        ({"challenge_block": False, "challenge_hash": HASH}, "challenge_block"),
        ({"challenge_block": 2**63, "challenge_hash": HASH}, "challenge_block"),
        ({"challenge_block": 1, "challenge_hash": HASH.upper()}, "challenge_hash"),
        ({"challenge_block": 1, "challenge_hash": HASH + "\n"}, "challenge_hash"),
        ({"challenge_block": 1, "challenge_hash": ["0x00"]}, "challenge_hash"),
    ],
)
def test_validate_payload_rejects_a_malformed_challenge(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_payload({"lat_e7": 1, "lon_e7": 1, **extra})


def test_make_payload_refuses_a_hash_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        make_payload(1.0, 1.0, None, (1, b"\x00" * 31))
