"""Device keys: the secret that makes a device's reports its own.

A `DeviceKey` is one private key of one of two types:

* `KeyType.SECP256K1` (default): an Ethereum key. Signatures are 65 bytes `r‖s‖v` with
  `v ∈ {27, 28}` over a 32-byte digest, exactly what `ecrecover` and eth-account produce, so
  the same key can sign on-chain registration permits and off-chain reports.
* `KeyType.ED25519`: for hardware whose secure element only speaks ed25519. Signatures are
  64 bytes over the same 32-byte digest; the verifier needs the public key, which reports
  carry (`Report.signer_key`).

The device id is derived from the public key (`identity.address`). The private bytes are
never part of `repr()` or `str()`, so a key that ends up in a log line does not leak; the
only ways out are `private_bytes()` and an encrypted keystore (`identity.keystore`).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

import coincurve
import nacl.signing

from opendepin.identity.address import address_of_public_key, device_id_of_ed25519
from opendepin.types import DeviceId

DIGEST_BYTES = 32
"""Every signature in opendepin is over a 32-byte digest (EIP-712 or keccak)."""
PRIVATE_KEY_BYTES = 32
"""secp256k1 secret scalar, or ed25519 seed: 32 bytes for both types."""
SECP256K1_SIGNATURE_BYTES = 65
"""r‖s‖v."""
ED25519_SIGNATURE_BYTES = 64
"""R‖S."""
ETH_V_OFFSET = 27
"""Ethereum writes the recovery id (0 or 1) as v = 27 or 28."""


class KeyType(StrEnum):
    """Signature scheme of a device key."""

    SECP256K1 = "secp256k1"
    ED25519 = "ed25519"


class DeviceKey:
    """A device's private key (immutable). `repr()` shows the type and id, never the secret."""

    __slots__ = ("_device_id", "_private", "_public", "_signer", "type")

    type: KeyType
    _private: bytes
    _public: bytes
    _device_id: DeviceId
    _signer: Any

    def __init__(self, type: KeyType, raw: bytes) -> None:
        """Build from 32 private bytes; prefer `generate` or `from_private_bytes`."""
        key_type = KeyType(type)
        raw = bytes(raw)
        if len(raw) != PRIVATE_KEY_BYTES:
            raise ValueError(
                f"a {key_type} private key is {PRIVATE_KEY_BYTES} bytes, got {len(raw)}"
            )
        signer: Any
        if key_type is KeyType.SECP256K1:
            signer = coincurve.PrivateKey(raw)  # raises ValueError outside 1..n-1
            public = signer.public_key.format(compressed=False)[1:]
            device_id = address_of_public_key(public)
        else:
            signer = nacl.signing.SigningKey(raw)
            public = bytes(signer.verify_key)
            device_id = device_id_of_ed25519(public)
        object.__setattr__(self, "type", key_type)
        object.__setattr__(self, "_private", raw)
        object.__setattr__(self, "_public", public)
        object.__setattr__(self, "_device_id", device_id)
        object.__setattr__(self, "_signer", signer)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("DeviceKey is immutable")

    def __repr__(self) -> str:
        return f"DeviceKey(type={self.type.value!r}, device_id={self._device_id!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DeviceKey):
            return NotImplemented
        return self.type is other.type and self._private == other._private

    def __hash__(self) -> int:
        return hash((self.type, self._public))

    def __reduce__(self) -> tuple[Callable[[KeyType, bytes], DeviceKey], tuple[KeyType, bytes]]:
        # Lets worker processes (simulator) receive keys; the bytes stay in memory only.
        return (DeviceKey, (self.type, self._private))

    @classmethod
    def generate(cls, type: KeyType = KeyType.SECP256K1) -> DeviceKey:
        """A fresh random key from the operating system's CSPRNG."""
        if KeyType(type) is KeyType.SECP256K1:
            return cls(KeyType.SECP256K1, coincurve.PrivateKey().secret)
        return cls(KeyType.ED25519, bytes(nacl.signing.SigningKey.generate()))

    @classmethod
    def from_private_bytes(cls, type: KeyType, raw: bytes) -> DeviceKey:
        """Rebuild a key from its 32 private bytes (ValueError if they are not a valid key)."""
        return cls(type, raw)

    @property
    def device_id(self) -> DeviceId:
        """The device id (checksummed address) this key signs as."""
        return self._device_id

    @property
    def public_key(self) -> bytes:
        """64 bytes x‖y for secp256k1 (no 0x04 prefix); 32 bytes for ed25519."""
        return self._public

    def private_bytes(self) -> bytes:
        """The 32 secret bytes. Handle with care: never log or print them."""
        return self._private

    def sign_digest(self, digest32: bytes) -> bytes:
        """Sign a 32-byte digest: 65 bytes r‖s‖v (v = 27/28) or 64 bytes for ed25519."""
        if len(digest32) != DIGEST_BYTES:
            raise ValueError(f"sign_digest takes a {DIGEST_BYTES}-byte digest, got {len(digest32)}")
        if self.type is KeyType.SECP256K1:
            sig = self._signer.sign_recoverable(bytes(digest32), hasher=None)
            return bytes(sig[:64]) + bytes((sig[64] + ETH_V_OFFSET,))
        return bytes(self._signer.sign(bytes(digest32)).signature)
