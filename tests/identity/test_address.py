"""Device-id derivation and EIP-55 checksums, against eth-utils as the reference."""

from __future__ import annotations

import pytest
from eth_utils import keccak
from eth_utils import to_checksum_address as eth_checksum
from hypothesis import given, settings
from hypothesis import strategies as st

from opendepin.identity.address import (
    ED25519_ID_DOMAIN,
    checksum,
    device_id_of_ed25519,
    parse_address,
    to_checksum_address,
)


@settings(max_examples=50, deadline=None)
@given(st.binary(min_size=20, max_size=20))
def test_checksum_matches_eth_utils_for_any_address(raw: bytes) -> None:
    assert to_checksum_address(raw) == eth_checksum(raw)


def test_parse_address_accepts_lower_case_and_checksummed() -> None:
    addr = to_checksum_address(bytes(range(20)))
    assert parse_address(addr) == bytes(range(20))
    assert parse_address(addr.lower()) == bytes(range(20))
    assert checksum(addr.lower()) == addr


@pytest.mark.parametrize(
    "text",
    ["", "0x1234", "1234" * 10 + "00", "0x" + "zz" * 20, "0X" + "00" * 20, "0x" + "00" * 21],
)
def test_parse_address_rejects_malformed_text(text: str) -> None:
    with pytest.raises(ValueError):
        parse_address(text)


def test_parse_address_rejects_wrong_checksum() -> None:
    good = to_checksum_address(bytes.fromhex("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"))
    # flip the case of one letter
    i = next(i for i, c in enumerate(good) if i >= 2 and c.isalpha())
    bad = good[:i] + good[i].swapcase() + good[i + 1 :]
    with pytest.raises(ValueError, match="checksum"):
        parse_address(bad)


def test_ed25519_device_id_is_domain_separated_keccak() -> None:
    pub = bytes(range(32))
    expected = eth_checksum(keccak(b"opendepin:ed25519:" + pub)[12:])
    assert ED25519_ID_DOMAIN == b"opendepin:ed25519:"
    assert device_id_of_ed25519(pub) == expected


def test_ed25519_device_id_rejects_wrong_key_length() -> None:
    with pytest.raises(ValueError):
        device_id_of_ed25519(b"\x01" * 31)
