"""EIP-712 typed-data signing of report envelopes.

A device signs the EIP-712 digest of its report, so any Ethereum tool — eth-account's
`sign_typed_data`, a hardware wallet, `eth_signTypedData_v4` in a browser — can produce or
check a report signature, and a contract could verify one with `ecrecover`.

Domain: `EIP712Domain(string name,string version,uint256 chainId)` with
`name = "opendepin"`, `version = "1"`, `chainId = report.chain_id`. The primary type is::

    Report(uint16 version,string network,uint256 chainId,address device,string kind,
           uint64 epoch,uint64 seq,uint64 timestampMs,bytes payload)

and the digest is `keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ hashStruct(report))` where
`hashStruct` is `keccak256(typeHash ‖ enc(field)…)`: integers and the address are 32-byte
big-endian words, `string` and `bytes` fields are replaced by their keccak256. `payload` is the
canonical JSON bytes of the payload object (`envelope.canonical_payload`).

This module computes the digest directly with keccak (no generic typed-data encoder), with
the type hash precomputed and the domain separator cached per chain id, because every report
that enters the network is hashed here. `typed_data(report)` returns the same message as the
full `eth_signTypedData_v4` JSON so the fast path can be cross-checked against eth-account.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from opendepin.crypto import keccak256, keccak_256
from opendepin.identity.keys import DeviceKey, KeyType
from opendepin.reports.envelope import REPORT_VERSION, Report, canonical_payload
from opendepin.types import DeviceId, Epoch, ProofKind

DOMAIN_NAME = "opendepin"
"""EIP-712 domain name of report signatures."""
DOMAIN_VERSION = "1"
"""EIP-712 domain version of report signatures."""
DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId)"
REPORT_TYPE = (
    "Report(uint16 version,string network,uint256 chainId,address device,string kind,"
    "uint64 epoch,uint64 seq,uint64 timestampMs,bytes payload)"
)
DOMAIN_TYPEHASH = keccak256(DOMAIN_TYPE.encode())
REPORT_TYPEHASH = keccak256(REPORT_TYPE.encode())
EIP712_PREFIX = b"\x19\x01"

_ADDRESS_PAD = bytes(12)  # an address is left-padded to a 32-byte word
UINT16_LIMIT = 2**16
UINT64_LIMIT = 2**64
UINT256_LIMIT = 2**256

EIP712_TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
    ],
    "Report": [
        {"name": "version", "type": "uint16"},
        {"name": "network", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "device", "type": "address"},
        {"name": "kind", "type": "string"},
        {"name": "epoch", "type": "uint64"},
        {"name": "seq", "type": "uint64"},
        {"name": "timestampMs", "type": "uint64"},
        {"name": "payload", "type": "bytes"},
    ],
}
"""The `types` member of the typed data (EIP712Domain and Report)."""

FIELD_DOCS: dict[str, str] = {
    "version": "Envelope version; this code writes and accepts 1 (Report.version).",
    "network": "Network id the report is for (network.toml [network] network_id).",
    "chainId": "EVM chain id of the network's contracts; also the domain's chainId.",
    "device": "Device id: the signer's address (secp256k1) or the ed25519 key's derived address.",
    "kind": 'Proof kind, e.g. "heartbeat" or "coverage"; selects the payload schema.',
    "epoch": "Reward epoch the report belongs to; the timestamp must fall inside it.",
    "seq": "Per-device sequence number, strictly increasing across all of a device's reports.",
    "timestampMs": "Device clock at signing, Unix milliseconds.",
    "payload": "Canonical JSON of the payload object: UTF-8, sorted keys, no spaces, no floats.",
}
"""What each signed field means (printed by `depin reports schema`)."""

EPOCH_RULE: dict[str, str] = {
    "formula": "epoch = floor((timestampMs / 1000 - genesis_unix) / epoch_seconds)",
    "window": "epoch e covers Unix seconds [genesis_unix + e·epoch_seconds, "
    "genesis_unix + (e+1)·epoch_seconds)",
    "integers": "floor(timestampMs / 1000) - genesis_unix, then integer division by epoch_seconds "
    "(the same value); a timestamp before genesis_unix belongs to no epoch",
    "parameters": "genesis_unix and epoch_seconds are the network's (network.toml [network]); "
    "on chain RewardDistributor.genesis_unix() and epoch_seconds() hold the same values",
}
"""How a report's `epoch` follows from its `timestampMs` (`network.clock.EpochClock`)."""

_MAX_CACHED_STRINGS = 4_096  # bound for the string-hash cache (networks and kinds are few)
_string_hashes: dict[str, bytes] = {}
_domain_separators: dict[int, bytes] = {}


def domain_separator(chain_id: int) -> bytes:
    """`hashStruct(EIP712Domain)` for a chain id (cached)."""
    sep = _domain_separators.get(chain_id)
    if sep is None:
        if type(chain_id) is not int or not 0 <= chain_id < UINT256_LIMIT:
            raise ValueError(f"chain id must be a uint256, got {chain_id!r}")
        sep = keccak256(
            DOMAIN_TYPEHASH
            + keccak256(DOMAIN_NAME.encode())
            + keccak256(DOMAIN_VERSION.encode())
            + chain_id.to_bytes(32, "big")
        )
        if len(_domain_separators) < _MAX_CACHED_STRINGS:
            _domain_separators[chain_id] = sep
    return sep


def _string_hash(text: str) -> bytes:
    h = _string_hashes.get(text)
    if h is None:
        h = keccak256(text.encode("utf-8"))
        if len(_string_hashes) < _MAX_CACHED_STRINGS:
            _string_hashes[text] = h
    return h


def struct_hash(report: Report) -> bytes:
    """`hashStruct(Report)` of the envelope (signature fields excluded).

    Raises ValueError if a field is out of its EIP-712 type's range or `device` is not a
    20-byte hex address.
    """
    version, chain_id = report.version, report.chain_id
    prefix = None
    if type(version) is int and type(chain_id) is int:  # the usual types: maybe seen before
        prefix = _prefixes.get((version, report.network_id, chain_id))
    if prefix is None:
        return _struct_hash_reference(report)
    # version and chain_id were in range when the prefix was cached: the reference's range
    # check continues with the other three, in its order.
    epoch, seq, ts = report.epoch, report.seq, report.timestamp_ms
    if not (0 <= epoch < UINT64_LIMIT and 0 <= seq < UINT64_LIMIT and 0 <= ts < UINT64_LIMIT):
        raise ValueError(_RANGE_MESSAGE)
    device = report.device
    if len(device) != 42 or device[:2] != "0x":
        raise ValueError(f"device must be a 0x-prefixed 20-byte address, got {device!r}")
    return _hash_after(prefix, report, device, epoch, seq, ts)


def _hash_after(prefix: bytes, report: Report, device: str, epoch: int, seq: int, ts: int) -> bytes:
    """`hashStruct(Report)` from its first four words (`prefix`) and the remaining fields."""
    return keccak_256(
        b"".join(
            (
                prefix,
                _ADDRESS_PAD,
                bytes.fromhex(device[2:]),
                _string_hash(report.kind),
                epoch.to_bytes(32, "big"),
                seq.to_bytes(32, "big"),
                ts.to_bytes(32, "big"),
                keccak_256(report.payload).digest(),
            )
        )
    ).digest()


_RANGE_MESSAGE = (
    "report field out of range: version must be uint16; epoch, seq, timestamp_ms uint64; "
    "chain_id uint256"
)
_prefixes: dict[tuple[int, str, int], bytes] = {}
"""(version, network, chain id) -> the first four words of `hashStruct(Report)` (type hash,
version, keccak(network), chain id), cached once the reference has checked them."""


def _struct_hash_reference(report: Report) -> bytes:
    """`struct_hash` field by field, as the module docstring reads; caches the prefix."""
    version, chain_id, epoch, seq, ts = (
        report.version,
        report.chain_id,
        report.epoch,
        report.seq,
        report.timestamp_ms,
    )
    if not (
        0 <= version < UINT16_LIMIT
        and 0 <= epoch < UINT64_LIMIT
        and 0 <= seq < UINT64_LIMIT
        and 0 <= ts < UINT64_LIMIT
        and 0 <= chain_id < UINT256_LIMIT
    ):
        raise ValueError(_RANGE_MESSAGE)
    device = report.device
    if len(device) != 42 or device[:2] != "0x":
        raise ValueError(f"device must be a 0x-prefixed 20-byte address, got {device!r}")
    prefix = b"".join(
        (
            REPORT_TYPEHASH,
            version.to_bytes(32, "big"),
            _string_hash(report.network_id),
            chain_id.to_bytes(32, "big"),
        )
    )
    digest = _hash_after(prefix, report, device, epoch, seq, ts)
    network = report.network_id
    if type(version) is int and type(chain_id) is int and type(network) is str and len(_prefixes) < _MAX_CACHED_STRINGS:
        _prefixes[(version, network, chain_id)] = prefix
    return digest


def report_digest(report: Report) -> bytes:
    """The 32-byte EIP-712 digest a device signs for `report` (ValueError if out of range)."""
    sep = _domain_separators.get(report.chain_id) or domain_separator(report.chain_id)
    return keccak_256(EIP712_PREFIX + sep + struct_hash(report)).digest()


def typed_data(report: Report) -> dict[str, Any]:
    """The full `eth_signTypedData_v4` structure of a report (payload as 0x hex)."""
    return {
        "types": {name: [dict(f) for f in fields] for name, fields in EIP712_TYPES.items()},
        "primaryType": "Report",
        "domain": {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": report.chain_id},
        "message": {
            "version": report.version,
            "network": report.network_id,
            "chainId": report.chain_id,
            "device": report.device,
            "kind": report.kind,
            "epoch": report.epoch,
            "seq": report.seq,
            "timestampMs": report.timestamp_ms,
            "payload": "0x" + report.payload.hex(),
        },
    }


def schema() -> dict[str, Any]:
    """The published signing schema: types, domain template, field documentation."""
    return {
        "standard": "EIP-712 (eth_signTypedData_v4)",
        "primaryType": "Report",
        "types": {name: [dict(f) for f in fields] for name, fields in EIP712_TYPES.items()},
        "domain": {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": "<network chain id>"},
        "encodeType": REPORT_TYPE,
        "typeHash": "0x" + REPORT_TYPEHASH.hex(),
        "fields": dict(FIELD_DOCS),
        "signature": {
            "secp256k1": "65 bytes r‖s‖v, v in {27, 28}, low s; the signer is recovered",
            "ed25519": "64 bytes over the same digest; the report carries the 32-byte public key "
            "(signerKey) and device = last 20 bytes of keccak256('opendepin:ed25519:' ‖ key)",
        },
        "reportVersion": REPORT_VERSION,
        "epoch": dict(EPOCH_RULE),
    }


def sign_report(report: Report, key: DeviceKey) -> Report:
    """A copy of `report` signed by `key` (ed25519 keys also fill `signer_key`).

    Raises ValueError if `report.device` is not `key.device_id` (compared as addresses).
    """
    if report.device.lower() != key.device_id.lower():
        raise ValueError(f"report is for device {report.device}, but the key is {key.device_id}")
    signature = key.sign_digest(report_digest(report))
    signer_key = key.public_key if key.type is KeyType.ED25519 else b""
    return dataclasses.replace(report, signature=signature, signer_key=signer_key)


def new_signed_report(
    key: DeviceKey,
    *,
    network_id: str,
    chain_id: int,
    kind: str,
    epoch: int,
    seq: int,
    timestamp_ms: int,
    payload: dict[str, Any],
) -> Report:
    """Build a report for `key`'s device from a payload object and sign it."""
    report = Report(
        network_id=network_id,
        chain_id=chain_id,
        device=DeviceId(key.device_id),
        kind=ProofKind(kind),
        epoch=Epoch(epoch),
        seq=seq,
        timestamp_ms=timestamp_ms,
        payload=canonical_payload(payload),
    )
    return sign_report(report, key)
