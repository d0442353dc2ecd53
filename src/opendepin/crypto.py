"""Hash primitives shared by every package.

Ethereum hashes with Keccak-256 (the pre-standard SHA-3 padding), not with `hashlib.sha3_256`.
Everything in opendepin that must agree with the EVM (addresses, EIP-712 digests, Merkle
leaves) calls `keccak256` from here, so there is one implementation to trust and to speed up.
It is backed by safe-pysha3, the fastest binding on these machines (~820,000 64-byte hashes/s
against ~130,000 for pycryptodome or eth-hash).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import sha3


class KeccakHash(Protocol):
    """The part of a safe-pysha3 hash object opendepin uses."""

    def update(self, data: bytes, /) -> None: ...
    def digest(self) -> bytes: ...


keccak_256: Callable[[bytes], KeccakHash] = sha3.keccak_256
"""The hash-object constructor behind `keccak256` (`keccak_256(data).digest()`), for hot loops
that want to skip one Python call per hash; anywhere else use `keccak256`."""

KECCAK_EMPTY = bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
"""keccak256(b""), handy as a sanity check."""


def keccak256(data: bytes) -> bytes:
    """The 32-byte Keccak-256 digest of `data` (Ethereum's `keccak256`)."""
    return keccak_256(data).digest()
