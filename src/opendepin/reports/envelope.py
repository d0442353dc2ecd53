"""The report envelope: what every device signs, whatever its proof kind.

A report binds a kind-specific payload to one network, one chain, one device, one epoch and
a per-device sequence number, at a timestamp the device claims. The envelope is versioned
(`version`); the payload is a JSON object of integers, strings and booleans (no floats —
coordinates are integers such as `lat_e7`), encoded canonically (sorted keys, no spaces,
UTF-8) so the signed bytes are the same on every machine that re-encodes it.

The signature covers the EIP-712 digest of the envelope (see `reports.eip712`); for
secp256k1 devices it is a 65-byte (r, s, v) signature from which the signer is recovered;
for ed25519 devices it is a 64-byte signature and `signer_key` carries the 32-byte public
key, whose derived device id must equal `device`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import orjson

from opendepin.types import DeviceId, Epoch, ProofKind

REPORT_VERSION = 1
"""Envelope version this code writes and accepts."""

JsonValue = int | str | bool | None | list["JsonValue"] | dict[str, "JsonValue"]


def canonical_payload(payload: dict[str, Any]) -> bytes:
    """The exact bytes a payload contributes to the signature.

    Raises TypeError for floats, so money and coordinates can never be rounded differently
    on two machines.
    """
    _reject_floats(payload)
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


_SIMPLE_JSON_TYPES = (str, int, bool, type(None))  # exact types orjson and json encode alike


def plain_json(value: Any) -> bool:
    """True if `value` holds only dict (str keys), list, str, int, bool and None.

    Such a value is what `json.loads` and orjson decode alike (orjson reads an integer beyond
    64 bits as a float), and for it `orjson.dumps(OPT_SORT_KEYS)` writes the bytes
    `canonical_payload` writes (code-point key order, the same escapes, UTF-8), as long as
    every integer fits in 64 bits (orjson raises otherwise). Floats and any other type make
    it False.
    """
    t = type(value)
    if t is dict:
        for k, v in value.items():
            if type(k) is not str:
                return False
            tv = type(v)
            if tv is not str and tv is not int and tv is not bool and not plain_json(v):
                return False
        return True
    if t is list:
        return all(type(v) in _SIMPLE_JSON_TYPES or plain_json(v) for v in value)
    return t in _SIMPLE_JSON_TYPES


def _reject_floats(value: Any) -> None:
    if isinstance(value, float):
        raise TypeError("report payloads must not contain floats; use scaled integers")
    if isinstance(value, dict):
        for v in value.values():
            _reject_floats(v)
    elif isinstance(value, list):
        for v in value:
            _reject_floats(v)


@dataclass(frozen=True, slots=True)
class Report:
    """A signed device report (the envelope plus its kind-specific payload)."""

    network_id: str
    """Network the report is for (`Settings.network.network_id`)."""
    chain_id: int
    """EVM chain id of the network's contracts."""
    device: DeviceId
    """Checksummed device address; for ed25519 devices, derived from `signer_key`."""
    kind: ProofKind
    """Proof kind, which selects the payload schema and verifier."""
    epoch: Epoch
    """Epoch the report belongs to."""
    seq: int
    """Per-device sequence number; strictly increasing, so replays are detectable."""
    timestamp_ms: int
    """Device clock at signing, Unix milliseconds."""
    payload: bytes
    """Canonical JSON bytes of the kind-specific payload (`canonical_payload`)."""
    signature: bytes = b""
    """65-byte secp256k1 (r‖s‖v) or 64-byte ed25519 signature over the EIP-712 digest."""
    signer_key: bytes = b""
    """ed25519 only: the 32-byte public key. Empty for secp256k1 (the key is recovered)."""
    version: int = field(default=REPORT_VERSION)
    """Envelope version."""

    def payload_obj(self) -> dict[str, Any]:
        """Decode the payload bytes (raises ValueError if they are not a JSON object).

        orjson decodes the usual payload, giving the objects `json.loads` gives; anything it
        refuses (lone surrogates, overflowing exponents, other encodings …) and any result
        that is not `plain_json` (a float: orjson reads an integer beyond 64 bits as one) is
        decoded by `json.loads`, whose result or error is the answer."""
        try:
            obj = orjson.loads(self.payload)
            if not plain_json(obj):
                obj = json.loads(self.payload)
        except orjson.JSONDecodeError:
            obj = json.loads(self.payload)
        if not isinstance(obj, dict):
            raise ValueError("payload is not a JSON object")
        return obj
