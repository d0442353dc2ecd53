"""Deterministic simulation keys: every simulated account derives from the seed.

`sim_secret(seed, role, index)` is `keccak256("opendepin-sim:<seed>:<role>:<index>")` — a
simulation convenience that must never be used for real keys (anyone who knows the seed has
them).
"""

from __future__ import annotations

from opendepin.chain.accounts import Signer
from opendepin.crypto import keccak256


def sim_secret(seed: int, role: str, index: int) -> bytes:
    """Deterministic simulation key material (never for real keys: the seed reveals it)."""
    return keccak256(f"opendepin-sim:{seed}:{role}:{index}".encode())


def sim_owners(seed: int, count: int) -> list[Signer]:
    """`count` device owners of a simulated network."""
    return [Signer.from_private_bytes(sim_secret(seed, "owner", i)) for i in range(count)]
