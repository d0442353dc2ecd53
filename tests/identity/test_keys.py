"""DeviceKey: generation, ids, signatures, and that the secret never shows."""

from __future__ import annotations

import pickle

import nacl.signing
import pytest
from eth_account import Account
from eth_keys import keys as eth_keys
from eth_utils import keccak, to_checksum_address

from opendepin.identity import DeviceKey, KeyType, address_of_public_key


def test_generate_secp256k1_id_matches_eth_account() -> None:
    key = DeviceKey.generate()
    assert key.type is KeyType.SECP256K1
    assert len(key.public_key) == 64
    assert key.device_id == Account.from_key(key.private_bytes()).address
    assert address_of_public_key(key.public_key) == key.device_id


def test_sign_digest_secp256k1_recovers_with_eth_keys() -> None:
    key = DeviceKey.generate(KeyType.SECP256K1)
    digest = keccak(b"a message")
    sig = key.sign_digest(digest)
    assert len(sig) == 65 and sig[64] in (27, 28)
    recovered = eth_keys.Signature(
        sig[:64] + bytes((sig[64] - 27,))
    ).recover_public_key_from_msg_hash(digest)
    assert recovered.to_checksum_address() == key.device_id


def test_sign_digest_ed25519_verifies_with_pynacl() -> None:
    key = DeviceKey.generate(KeyType.ED25519)
    digest = keccak(b"a message")
    sig = key.sign_digest(digest)
    assert len(sig) == 64 and len(key.public_key) == 32
    nacl.signing.VerifyKey(key.public_key).verify(digest, sig)
    assert key.device_id == to_checksum_address(keccak(b"opendepin:ed25519:" + key.public_key)[12:])


@pytest.mark.parametrize("key_type", list(KeyType))
def test_from_private_bytes_round_trips(key_type: KeyType) -> None:
    key = DeviceKey.generate(key_type)
    again = DeviceKey.from_private_bytes(key_type, key.private_bytes())
    assert again == key and again.device_id == key.device_id and again.public_key == key.public_key


@pytest.mark.parametrize("key_type", list(KeyType))
def test_repr_and_str_hide_the_private_key(key_type: KeyType) -> None:
    key = DeviceKey.generate(key_type)
    secret = key.private_bytes().hex()
    for text in (repr(key), str(key), f"{key}"):
        assert secret not in text
        assert key.device_id in text


def test_device_key_is_immutable() -> None:
    key = DeviceKey.generate()
    with pytest.raises(AttributeError):
        key.type = KeyType.ED25519  # type: ignore[misc]


@pytest.mark.parametrize("key_type", list(KeyType))
def test_pickle_round_trips(key_type: KeyType) -> None:
    key = DeviceKey.generate(key_type)
    assert pickle.loads(pickle.dumps(key)) == key


@pytest.mark.parametrize(
    ("key_type", "raw"),
    [
        (KeyType.SECP256K1, b"\x01" * 31),
        (KeyType.SECP256K1, bytes(32)),  # zero is not a valid secp256k1 scalar
        (KeyType.SECP256K1, b"\xff" * 32),  # above the group order
        (KeyType.ED25519, b"\x01" * 33),
    ],
)
def test_from_private_bytes_rejects_invalid_keys(key_type: KeyType, raw: bytes) -> None:
    with pytest.raises(ValueError):
        DeviceKey.from_private_bytes(key_type, raw)


def test_sign_digest_rejects_non_32_byte_input() -> None:
    key = DeviceKey.generate()
    with pytest.raises(ValueError, match="32-byte"):
        key.sign_digest(b"short")


def test_generated_keys_differ() -> None:
    assert DeviceKey.generate().device_id != DeviceKey.generate().device_id
