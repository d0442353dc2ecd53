"""Helpers for the contract tests and the gas benchmark: paths, loading, EIP-712 signing.

Keys are always generated (`Account.create()`); nothing here holds a fixed private key.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boa
from eth_account import Account
from eth_account.signers.local import LocalAccount

PROJECT_ROOT = Path(__file__).resolve().parents[3]
CONTRACTS_DIR = PROJECT_ROOT / "src" / "opendepin" / "chain" / "contracts"
BOA_CACHE_DIR = PROJECT_ROOT / ".data" / "boa-cache"

ONE_TOKEN = 10**18
TOKEN_CAP = 1_000_000_000 * ONE_TOKEN
MAX_EMISSION_PER_EPOCH = 1_000_000 * ONE_TOKEN
HALVING_EPOCHS = 10
ONBOARDING_FEE = 10 * ONE_TOKEN
LOCATION_FEE = ONE_TOKEN
LOCATION_COOLDOWN_S = 3_600
CREDITS_PER_TOKEN = 100
GENESIS_UNIX = 0
EPOCH_SECONDS = 3_600
EPOCH_CLOCK = (GENESIS_UNIX, EPOCH_SECONDS)
"""The distributor's (genesis_unix, epoch_seconds) in the contract tests: by boa's clock (the
current time) every epoch a test reaches ended long ago, so only the tests of the epoch
clock itself move time."""

REGISTER_TYPES = {
    "Register": [
        {"name": "owner", "type": "address"},
        {"name": "kind", "type": "string"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ]
}
EPOCH_ROOT_TYPES = {
    "EpochRoot": [
        {"name": "epoch", "type": "uint256"},
        {"name": "root", "type": "bytes32"},
        {"name": "cumulativeTotal", "type": "uint256"},
        {"name": "manifestHash", "type": "bytes32"},
    ]
}


def use_project_cache() -> None:
    """Keep boa's compile cache inside the project (never the home directory)."""
    boa.interpret.set_cache_dir(str(BOA_CACHE_DIR))


def load(name: str, *args: Any) -> Any:
    """Deploy `chain/contracts/<name>.vy` on boa's embedded chain."""
    return boa.load(str(CONTRACTS_DIR / f"{name}.vy"), *args)


def new_keys(count: int) -> list[LocalAccount]:
    """`count` freshly generated accounts, sorted by address (the order signatures need)."""
    return sorted((Account.create() for _ in range(count)), key=lambda a: int(a.address, 16))


def chain_id() -> int:
    """The embedded chain's id."""
    return int(boa.env.evm.patch.chain_id)


def _domain(name: str, contract: Any, chain: int | None) -> dict[str, Any]:
    return {
        "name": name,
        "version": "1",
        "chainId": chain_id() if chain is None else chain,
        "verifyingContract": str(contract.address),
    }


def sign_register(
    device: LocalAccount,
    registry: Any,
    owner: str,
    kind: str,
    nonce: int,
    deadline: int,
    chain: int | None = None,
) -> bytes:
    """The device key's EIP-712 `Register(owner, kind, nonce, deadline)` signature."""
    signed = device.sign_typed_data(
        _domain("DeviceRegistry", registry, chain),
        REGISTER_TYPES,
        {"owner": owner, "kind": kind, "nonce": nonce, "deadline": deadline},
    )
    return bytes(signed.signature)


def sign_epoch_root(
    oracle: LocalAccount,
    distributor: Any,
    epoch: int,
    root: bytes,
    cumulative_total: int,
    manifest_hash: bytes,
    chain: int | None = None,
) -> bytes:
    """One oracle's EIP-712 `EpochRoot` signature."""
    signed = oracle.sign_typed_data(
        _domain("RewardDistributor", distributor, chain),
        EPOCH_ROOT_TYPES,
        {
            "epoch": epoch,
            "root": root,
            "cumulativeTotal": cumulative_total,
            "manifestHash": manifest_hash,
        },
    )
    return bytes(signed.signature)


def sign_all(
    oracles: Sequence[LocalAccount],
    distributor: Any,
    epoch: int,
    root: bytes,
    cumulative_total: int,
    manifest_hash: bytes,
) -> list[bytes]:
    """Signatures of `oracles`, ordered by signer address ascending."""
    ordered = sorted(oracles, key=lambda a: int(a.address, 16))
    return [
        sign_epoch_root(o, distributor, epoch, root, cumulative_total, manifest_hash)
        for o in ordered
    ]
