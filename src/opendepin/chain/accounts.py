"""Accounts that sign: a secp256k1 key and the EVM address derived from it.

`Signer` is what every chain operation takes as `sender`. It wraps a coincurve private
key, is generated fresh (`Signer.generate()`) or loaded from bytes a keystore produced
(`Signer.from_private_bytes`), and never prints its key. Anything with an `address` and a
`sign_digest` (and `private_bytes`, for transaction signing) satisfies `AccountLike`, so a
secp256k1 `opendepin.identity.DeviceKey` can be adapted with `Signer.from_key(key)`.
"""

from __future__ import annotations

from typing import Protocol

import coincurve
from eth_utils.address import to_checksum_address

from opendepin.crypto import keccak256
from opendepin.types import Address

SIGNATURE_V_OFFSET = 27
"""Ethereum's `v` is the recovery id plus 27."""


class AccountLike(Protocol):
    """A signing account."""

    @property
    def address(self) -> Address: ...

    def sign_digest(self, digest: bytes) -> bytes:
        """65-byte r || s || v (v in {27, 28}) over a 32-byte digest."""
        ...

    def private_bytes(self) -> bytes: ...


class _KeyBytes(Protocol):
    def private_bytes(self) -> bytes: ...


class Signer:
    """A secp256k1 account (EVM address + signing)."""

    __slots__ = ("_address", "_key")

    def __init__(self, key: coincurve.PrivateKey) -> None:
        self._key = key
        public = key.public_key.format(compressed=False)[1:]
        self._address = Address(to_checksum_address(keccak256(public)[-20:]))

    @classmethod
    def generate(cls) -> Signer:
        """A fresh random key (from the OS's CSPRNG)."""
        return cls(coincurve.PrivateKey())

    @classmethod
    def from_private_bytes(cls, secret: bytes) -> Signer:
        return cls(coincurve.PrivateKey(secret))

    @classmethod
    def from_key(cls, key: _KeyBytes) -> Signer:
        """Adapt any key object exposing `private_bytes()` (e.g. a secp256k1 DeviceKey)."""
        return cls.from_private_bytes(key.private_bytes())

    @property
    def address(self) -> Address:
        return self._address

    def private_bytes(self) -> bytes:
        return bytes(self._key.secret)

    def sign_digest(self, digest: bytes) -> bytes:
        if len(digest) != 32:
            raise ValueError("digest must be 32 bytes")
        sig = self._key.sign_recoverable(digest, hasher=None)
        return sig[:64] + bytes([sig[64] + SIGNATURE_V_OFFSET])

    def __repr__(self) -> str:
        return f"Signer({self._address})"
