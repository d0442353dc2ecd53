"""Which pieces a storage node must prove in an audit window, and which leaf of each.

Audits are non-interactive, like Sia's storage proofs: nobody asks the node anything. Per
audit window (`[storage] audit_window_seconds`, one chain entropy block per window: the last
block at or before the window's start, as every kind with entropy windows uses), a piece is
*challenged* when

    int(H("opendepin/storage/audit" ‖ entropy ‖ piece)[:8]) < audit_probability_ppm · 2^64 / 10^6

and its challenged leaf is

    int(H("opendepin/storage/leaf" ‖ entropy ‖ piece)[:16]) mod leaves(piece)

with H = BLAKE2b-256, `entropy` the window's 32-byte block hash and `piece` the 32-byte piece
id. Each piece is drawn independently, so the node and every oracle agree on a piece's
challenge from the piece alone, without agreeing on the set of pieces first; a node cannot
know its challenges before the block exists, and cannot choose which pieces are audited.
The 16-byte draw for the leaf keeps the modulo bias below 2^-64 for any piece size.
"""

from __future__ import annotations

import hashlib
from typing import Final

AUDIT_DOMAIN: Final = b"opendepin/storage/audit"
LEAF_DOMAIN: Final = b"opendepin/storage/leaf"
PPM: Final = 1_000_000
_TWO64: Final = 2**64


def _draw(domain: bytes, entropy: bytes, piece: bytes, nbytes: int) -> int:
    digest = hashlib.blake2b(domain + entropy + piece, digest_size=32).digest()
    return int.from_bytes(digest[:nbytes], "big")


def is_challenged(entropy: bytes, piece: bytes, probability_ppm: int) -> bool:
    """Is `piece` audited in the window whose entropy block hash is `entropy`?"""
    if probability_ppm >= PPM:
        return True
    if probability_ppm <= 0:
        return False
    return _draw(AUDIT_DOMAIN, entropy, piece, 8) * PPM < probability_ppm * _TWO64


def challenged_leaf(entropy: bytes, piece: bytes, leaves: int) -> int:
    """The leaf index of `piece` (of `leaves` leaves) to prove in that window."""
    if leaves < 1:
        raise ValueError("a piece has at least one leaf")
    return _draw(LEAF_DOMAIN, entropy, piece, 16) % leaves


__all__ = ["challenged_leaf", "is_challenged"]
