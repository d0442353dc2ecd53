"""EIP-712 typed data the contracts verify: domains, struct hashes, digests.

Every contract signature in opendepin is over `keccak256(0x1901 ‖ domainSeparator ‖
structHash)` (EIP-712), with the full domain
`EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)` as
snekmate's `eip712_domain_separator` builds it. Two structs are signed off-chain:

- `Register(address owner,string kind,uint256 nonce,uint256 deadline)` — signed by a
  *device* key to prove possession when it is registered (domain name "DeviceRegistry",
  version "1"). `kind` is an EIP-712 `string`, encoded in the struct hash as
  `keccak256(utf8(kind))`, so the signature fixes the kind as well as the owner: a relayer
  replaying a pending registration with another kind is refused;
- `EpochRoot(uint256 epoch,bytes32 root,uint256 cumulativeTotal,bytes32 manifestHash)` —
  signed by each oracle for a reward root (domain name "RewardDistributor", version "1").

Digests are computed here in Python and checked against the contracts in the tests (the
contract recovers our signer), so the two sides cannot drift apart silently.
`register_typed_data` and `epoch_root_typed_data` publish the same structs as EIP-712 JSON
(`types`, `primaryType`, `domain`, `message`), the form wallets and other clients sign
(`eth_account.Account.sign_typed_data(full_message=...)`, `eth_signTypedData_v4`); the
tests check that such a client's digest equals ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode

from opendepin.crypto import keccak256
from opendepin.errors import InputError

EIP712_DOMAIN_TYPE = (
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
REGISTER_TYPE = b"Register(address owner,string kind,uint256 nonce,uint256 deadline)"
EPOCH_ROOT_TYPE = (
    b"EpochRoot(uint256 epoch,bytes32 root,uint256 cumulativeTotal,bytes32 manifestHash)"
)
REGISTRY_DOMAIN_NAME = "DeviceRegistry"
DISTRIBUTOR_DOMAIN_NAME = "RewardDistributor"
DOMAIN_VERSION = "1"
KIND_MAX_BYTES = 32
"""DeviceRegistry stores `kind` as `String[32]`: at most 32 bytes of UTF-8."""

EIP712_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
REGISTER_FIELDS = [
    {"name": "owner", "type": "address"},
    {"name": "kind", "type": "string"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
"""The fields of `REGISTER_TYPE`, in order, as EIP-712 JSON."""
EPOCH_ROOT_FIELDS = [
    {"name": "epoch", "type": "uint256"},
    {"name": "root", "type": "bytes32"},
    {"name": "cumulativeTotal", "type": "uint256"},
    {"name": "manifestHash", "type": "bytes32"},
]
"""The fields of `EPOCH_ROOT_TYPE`, in order, as EIP-712 JSON."""


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

    def as_json(self) -> dict[str, Any]:
        """The domain as an EIP-712 JSON `domain` object."""
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": self.verifying_contract,
        }


def _copy(fields: list[dict[str, str]]) -> list[dict[str, str]]:
    """A fresh copy of a field list (callers may mutate what they are given)."""
    return [dict(f) for f in fields]


def typed_digest(domain: Domain, struct_hash: bytes) -> bytes:
    """keccak256(0x1901 ‖ domain separator ‖ struct hash)."""
    return keccak256(b"\x19\x01" + domain.separator() + struct_hash)


def kind_bytes(kind: str) -> bytes:
    """`kind` as the registry stores and hashes it (UTF-8); InputError if over 32 bytes."""
    raw = kind.encode()
    if len(raw) > KIND_MAX_BYTES:
        raise InputError(f"device kind {kind!r} is {len(raw)} bytes; at most {KIND_MAX_BYTES}")
    return raw


def register_struct_hash(owner: str, kind: str, nonce: int, deadline: int) -> bytes:
    """hashStruct(Register): the `string` field enters as keccak256 of its UTF-8 bytes."""
    return keccak256(
        encode(
            ["bytes32", "address", "bytes32", "uint256", "uint256"],
            [keccak256(REGISTER_TYPE), owner, keccak256(kind_bytes(kind)), nonce, deadline],
        )
    )


def register_digest(
    chain_id: int, registry: str, owner: str, kind: str, nonce: int, deadline: int
) -> bytes:
    """The digest a device signs to be registered to `owner` as a device of `kind`."""
    domain = Domain(REGISTRY_DOMAIN_NAME, DOMAIN_VERSION, chain_id, registry)
    return typed_digest(domain, register_struct_hash(owner, kind, nonce, deadline))


def register_typed_data(
    chain_id: int, registry: str, owner: str, kind: str, nonce: int, deadline: int
) -> dict[str, Any]:
    """The `Register` consent as EIP-712 JSON: what a wallet shows and signs.

    Its digest is `register_digest` of the same arguments.
    """
    kind_bytes(kind)
    domain = Domain(REGISTRY_DOMAIN_NAME, DOMAIN_VERSION, chain_id, registry)
    return {
        "types": {"EIP712Domain": _copy(EIP712_DOMAIN_FIELDS), "Register": _copy(REGISTER_FIELDS)},
        "primaryType": "Register",
        "domain": domain.as_json(),
        "message": {"owner": owner, "kind": kind, "nonce": nonce, "deadline": deadline},
    }


REGISTER_FIELD_DOCS: dict[str, str] = {
    "owner": "Account the device NFT is minted to; whoever sends `register` (usually the owner) "
    "pays the onboarding fee.",
    "kind": "Proof kind the device is registered for, e.g. \"heartbeat\"; UTF-8, at most 32 bytes "
    "(hashed as an EIP-712 string).",
    "nonce": "DeviceRegistry.nonces(device) at signing: each consent can be used once.",
    "deadline": "Last block timestamp (Unix seconds) the consent is valid for.",
}
"""What each `Register` field means (printed by `depin chain permit-schema`)."""


def register_schema(chain_id: int | None = None, registry: str | None = None) -> dict[str, Any]:
    """The published schema of the registry's `Register` permit, as EIP-712 JSON.

    With a deployment's `chain_id` and `registry` address the domain is that deployment's,
    ready to sign; without them it is a template whose `chainId` and `verifyingContract`
    are placeholders. `message` always shows the field types, to be filled per device.
    """
    domain: dict[str, Any] = {
        "name": REGISTRY_DOMAIN_NAME,
        "version": DOMAIN_VERSION,
        "chainId": chain_id if chain_id is not None else "<network chain id>",
        "verifyingContract": registry if registry is not None else "<DeviceRegistry address>",
    }
    return {
        "standard": "EIP-712 (eth_signTypedData_v4)",
        "primaryType": "Register",
        "types": {"EIP712Domain": _copy(EIP712_DOMAIN_FIELDS), "Register": _copy(REGISTER_FIELDS)},
        "domain": domain,
        "message": {f["name"]: f"<{f['type']}>" for f in REGISTER_FIELDS},
        "encodeType": REGISTER_TYPE.decode(),
        "typeHash": "0x" + keccak256(REGISTER_TYPE).hex(),
        "fields": dict(REGISTER_FIELD_DOCS),
        "signer": "the device key (secp256k1): the registry recovers the device address from "
        "the signature",
        "signature": "65 bytes r‖s‖v, v in {27, 28}, low s (snekmate ecdsa refuses a high s)",
        "submit": "DeviceRegistry.register(device, owner, kind, deadline, signature), sent by "
        "anyone (usually the owner, who pays the onboarding fee)",
    }


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


def epoch_root_typed_data(
    chain_id: int,
    distributor: str,
    epoch: int,
    root: bytes,
    cumulative_total: int,
    manifest_hash: bytes,
) -> dict[str, Any]:
    """An oracle's `EpochRoot` attestation as EIP-712 JSON (digest = `epoch_root_digest`)."""
    domain = Domain(DISTRIBUTOR_DOMAIN_NAME, DOMAIN_VERSION, chain_id, distributor)
    return {
        "types": {
            "EIP712Domain": _copy(EIP712_DOMAIN_FIELDS),
            "EpochRoot": _copy(EPOCH_ROOT_FIELDS),
        },
        "primaryType": "EpochRoot",
        "domain": domain.as_json(),
        "message": {
            "epoch": epoch,
            "root": "0x" + bytes(root).hex(),
            "cumulativeTotal": cumulative_total,
            "manifestHash": "0x" + bytes(manifest_hash).hex(),
        },
    }


def encode_struct(type_string: bytes, types: list[str], values: list[object]) -> bytes:
    """ABI-encode `typeHash ‖ values` for a struct whose fields are all static types."""
    return encode(["bytes32", *types], [keccak256(type_string), *values])
