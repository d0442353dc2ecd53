"""EIP-712 typed data the contracts verify: domains, struct hashes, digests.

Every contract signature in opendepin is over `keccak256(0x1901 ‖ domainSeparator ‖
structHash)` (EIP-712), with the full domain
`EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)` as
snekmate's `eip712_domain_separator` builds it. Two structs are signed off-chain:

- `Register(address owner,uint256 nonce,uint256 deadline)` — signed by a *device* key to
  prove possession when it is registered (domain name "DeviceRegistry", version "1");
- `EpochRoot(uint256 epoch,bytes32 root,uint256 cumulativeTotal,bytes32 manifestHash)` —
  signed by each oracle for a reward root (domain name "RewardDistributor", version "1").

Digests are computed here in Python and checked against the contracts in the tests (the
contract recovers our signer), so the two sides cannot drift apart silently.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi.abi import encode

from opendepin.crypto import keccak256

EIP712_DOMAIN_TYPE = (
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
REGISTER_TYPE = b"Register(address owner,uint256 nonce,uint256 deadline)"
EPOCH_ROOT_TYPE = (
    b"EpochRoot(uint256 epoch,bytes32 root,uint256 cumulativeTotal,bytes32 manifestHash)"
)
REGISTRY_DOMAIN_NAME = "DeviceRegistry"
DISTRIBUTOR_DOMAIN_NAME = "RewardDistributor"
DOMAIN_VERSION = "1"


@dataclass(frozen=True, slots=True)
class Domain:
    """An EIP-712 domain bound to one contract on one chain."""

    name: str
    """Domain name, e.g. "RewardDistributor"."""
    version: str
    """Domain version, "1" for all current contracts."""
    chain_id: int
    """EVM chain id."""
    verifying_contract: str
    """The contract that verifies the signature."""

    def separator(self) -> bytes:
        return keccak256(
            encode(
                ["bytes32", "bytes32", "bytes32", "uint256", "address"],
                [
                    keccak256(EIP712_DOMAIN_TYPE),
                    keccak256(self.name.encode()),
                    keccak256(self.version.encode()),
                    self.chain_id,
                    self.verifying_contract,
                ],
            )
        )


def typed_digest(domain: Domain, struct_hash: bytes) -> bytes:
    """keccak256(0x1901 ‖ domain separator ‖ struct hash)."""
    return keccak256(b"\x19\x01" + domain.separator() + struct_hash)


def register_struct_hash(owner: str, nonce: int, deadline: int) -> bytes:
    return keccak256(
        encode(
            ["bytes32", "address", "uint256", "uint256"],
            [keccak256(REGISTER_TYPE), owner, nonce, deadline],
        )
    )


def register_digest(chain_id: int, registry: str, owner: str, nonce: int, deadline: int) -> bytes:
    """The digest a device signs to be registered to `owner`."""
    domain = Domain(REGISTRY_DOMAIN_NAME, DOMAIN_VERSION, chain_id, registry)
    return typed_digest(domain, register_struct_hash(owner, nonce, deadline))


def epoch_root_struct_hash(
    epoch: int, root: bytes, cumulative_total: int, manifest_hash: bytes
) -> bytes:
    return keccak256(
        encode(
            ["bytes32", "uint256", "bytes32", "uint256", "bytes32"],
            [keccak256(EPOCH_ROOT_TYPE), epoch, root, cumulative_total, manifest_hash],
        )
    )


def epoch_root_digest(
    chain_id: int,
    distributor: str,
    epoch: int,
    root: bytes,
    cumulative_total: int,
    manifest_hash: bytes,
) -> bytes:
    """The digest each oracle signs for an epoch's reward root."""
    domain = Domain(DISTRIBUTOR_DOMAIN_NAME, DOMAIN_VERSION, chain_id, distributor)
    return typed_digest(
        domain, epoch_root_struct_hash(epoch, root, cumulative_total, manifest_hash)
    )


def encode_struct(type_string: bytes, types: list[str], values: list[object]) -> bytes:
    """ABI-encode `typeHash ‖ values` for a struct whose fields are all static types."""
    return encode(["bytes32", *types], [keccak256(type_string), *values])
