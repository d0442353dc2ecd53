from __future__ import annotations

from collections.abc import Callable

import pytest

from opendepin.crypto import keccak256
from opendepin.identity import DeviceKey, recover_address


def test_recover_address_returns_signer() -> None:
    key = DeviceKey.generate()
    digest = keccak256(b"epoch root")
    assert recover_address(digest, key.sign_digest(digest)) == key.device_id


def test_recover_address_other_digest_gives_other_address() -> None:
    key = DeviceKey.generate()
    signature = key.sign_digest(keccak256(b"a"))
    assert recover_address(keccak256(b"b"), signature) != key.device_id


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: s[:64],  # too short
        lambda s: s + b"\x00",  # too long
        lambda s: s[:64] + b"\x01",  # v not 27/28
        lambda s: b"\x00" * 64 + s[64:],  # r = s = 0: not recoverable
    ],
)
def test_recover_address_malformed_signature_is_none(mangle: Callable[[bytes], bytes]) -> None:
    key = DeviceKey.generate()
    digest = keccak256(b"x")
    assert recover_address(digest, mangle(key.sign_digest(digest))) is None
