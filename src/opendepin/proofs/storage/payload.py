"""The storage kind's three payloads, parsed totally into frozen dataclasses.

A storage node files every report itself (the envelope's device is the node):

```
placement  {"type": "placement", "placement": <orders.Placement.to_obj(), placer-signed>}
proof      {"type": "proof", "block": int, "piece": <64 hex>, "leaf_index": int,
            "leaf": <standard base64 of the leaf>, "path": [<64 hex>, ...]}
removal    {"type": "removal", "order": <orders.OrderLimit.to_obj(), action "delete">}
```

A placement report is the node's acknowledgement: it signs the envelope over the placer's
record after checking the uploaded bytes. A proof answers one audit challenge (the leaf the
window's entropy picks, `challenge.challenged_leaf`) with the leaf's bytes and its Merkle
path to the sealed root. A removal tells the oracles the node deleted a piece against a
placer's DELETE order, so they stop auditing it.

`parse_payload` is total: anything that is not one of these shapes is a `ValueError` naming
the first problem (the verifier's `malformed_payload`). Sizes are bounded: a leaf is at most
`merkle.LEAF_SIZE` bytes, a path at most `merkle.MAX_PROOF_DEPTH` hashes, hex is lower case,
and no key outside the shapes above is accepted, so one payload has one encoding. Whether a
placement's term makes sense is a *rule* (`bad_term`), not a parse error: a placement whose
term ends before it starts still parses.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, replace
from typing import Any, Final

from opendepin.storage.merkle import HASH_BYTES, LEAF_SIZE, MAX_PROOF_DEPTH
from opendepin.storage.orders import (
    OrderLimit,
    OrderReason,
    Placement,
    StorageError,
    parse_order,
    parse_placement,
)

MAX_BLOCK_NUMBER: Final = 2**63 - 1
MAX_LEAF_INDEX: Final = 2**63 - 1
MAX_LEAF_BASE64: Final = 4 * -(-LEAF_SIZE // 3)
"""Characters of the standard base64 of a full leaf."""
_HEX32 = re.compile(r"[0-9a-f]{64}")
_PLACEMENT_KEYS: Final = frozenset(
    {
        "network",
        "chain_id",
        "placer",
        "node",
        "piece",
        "size",
        "root",
        "term_start_ms",
        "term_end_ms",
        "signature",
    }
)
_ORDER_KEYS: Final = frozenset(
    {
        "network",
        "chain_id",
        "placer",
        "node",
        "piece",
        "action",
        "max_bytes",
        "expires_ms",
        "serial",
        "signature",
    }
)
_TOP_KEYS: Final = {
    "placement": frozenset({"type", "placement"}),
    "removal": frozenset({"type", "order"}),
    "proof": frozenset({"type", "block", "piece", "leaf_index", "leaf", "path"}),
}


@dataclass(frozen=True, slots=True)
class PlacementPayload:
    """A node's acknowledgement of a placer-signed placement."""

    placement: Placement
    """The placer's record (signature not yet checked: that is a rule)."""


@dataclass(frozen=True, slots=True)
class ProofPayload:
    """A node's answer to one audit challenge."""

    block: int
    """Number of the entropy block of the challenged window."""
    piece: bytes
    """32-byte piece id."""
    leaf_index: int
    """The leaf it proves (must be the challenged leaf)."""
    leaf: bytes
    """The leaf's bytes (at most LEAF_SIZE)."""
    path: tuple[bytes, ...]
    """Sibling hashes from the leaf up to the root (at most MAX_PROOF_DEPTH)."""


@dataclass(frozen=True, slots=True)
class RemovalPayload:
    """A node's notice that it deleted a piece against a placer's DELETE order."""

    order: OrderLimit
    """The DELETE order (signature and authority checked by a rule)."""


StoragePayload = PlacementPayload | ProofPayload | RemovalPayload


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _keys(payload: dict[str, Any], allowed: frozenset[str], what: str) -> None:
    missing = sorted(allowed - payload.keys())
    if missing:
        raise ValueError(f"{what} is missing {', '.join(missing)}")
    extra = sorted(str(k)[:32] for k in payload.keys() - allowed)
    if extra:
        raise ValueError(f"{what} has unknown keys {', '.join(extra)}")


def _hex32(value: Any, name: str) -> bytes:
    if not isinstance(value, str) or _HEX32.fullmatch(value) is None:
        raise ValueError(f"{name} must be 64 lower-case hex digits")
    return bytes.fromhex(value)


def _parse_placement(obj: Any) -> Placement:
    if not isinstance(obj, dict):
        raise ValueError("placement must be a JSON object")
    _keys(obj, _PLACEMENT_KEYS, "placement")
    try:
        return parse_placement(obj)
    except StorageError as exc:
        if exc.reason is not OrderReason.BAD_TERM:
            raise ValueError(f"placement: {exc.message}") from None
    # Every field parsed but the term is inverted: keep it, `bad_term` judges it.
    start = obj["term_start_ms"]
    try:
        parsed = parse_placement({**obj, "term_end_ms": start + 1})
    except StorageError as exc:
        raise ValueError(f"placement: {exc.message}") from None
    return replace(parsed, term_end_ms=int(obj["term_end_ms"]))


def _parse_order(obj: Any) -> OrderLimit:
    if not isinstance(obj, dict):
        raise ValueError("order must be a JSON object")
    _keys(obj, _ORDER_KEYS, "order")
    try:
        return parse_order(obj)
    except StorageError as exc:
        raise ValueError(f"order: {exc.message}") from None


def _parse_proof(payload: dict[str, Any]) -> ProofPayload:
    block, index, leaf_text, path = (
        payload["block"],
        payload["leaf_index"],
        payload["leaf"],
        payload["path"],
    )
    if not _is_int(block) or not 0 <= block <= MAX_BLOCK_NUMBER:
        raise ValueError(f"block must be an int in [0, {MAX_BLOCK_NUMBER}]")
    if not _is_int(index) or not 0 <= index <= MAX_LEAF_INDEX:
        raise ValueError(f"leaf_index must be an int in [0, {MAX_LEAF_INDEX}]")
    if not isinstance(leaf_text, str) or len(leaf_text) > MAX_LEAF_BASE64:
        raise ValueError(f"leaf must be standard base64 of at most {LEAF_SIZE} bytes")
    try:
        leaf = base64.b64decode(leaf_text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise ValueError("leaf is not standard base64") from None
    if len(leaf) > LEAF_SIZE or base64.b64encode(leaf).decode() != leaf_text:
        raise ValueError(f"leaf must be canonical base64 of at most {LEAF_SIZE} bytes")
    if not isinstance(path, list) or len(path) > MAX_PROOF_DEPTH:
        raise ValueError(f"path must be a list of at most {MAX_PROOF_DEPTH} hashes")
    hashes = tuple(_hex32(h, "each path entry") for h in path)
    return ProofPayload(block, _hex32(payload["piece"], "piece"), index, leaf, hashes)


def parse_payload(payload: Any) -> StoragePayload:
    """The typed payload; ValueError naming the first problem if it is not a storage payload."""
    if not isinstance(payload, dict):
        raise ValueError("a storage payload must be a JSON object")
    kind = payload.get("type")
    allowed = _TOP_KEYS.get(kind) if isinstance(kind, str) else None
    if allowed is None:
        raise ValueError("type must be 'placement', 'proof' or 'removal'")
    _keys(payload, allowed, f"{kind} payload")
    if kind == "placement":
        return PlacementPayload(_parse_placement(payload["placement"]))
    if kind == "removal":
        return RemovalPayload(_parse_order(payload["order"]))
    return _parse_proof(payload)


def validate_payload(payload: dict[str, Any]) -> None:
    """Raise ValueError if `payload` is not a well-formed storage payload (ingest's check)."""
    parse_payload(payload)


# ---- builders (the node and the simulation) --------------------------------------------------


def placement_payload(placement: Placement) -> dict[str, Any]:
    """The payload a node files after accepting `placement` (placer-signed)."""
    return {"type": "placement", "placement": placement.to_obj()}


def proof_payload(
    block: int, piece: bytes, leaf_index: int, leaf: bytes, path: list[bytes] | tuple[bytes, ...]
) -> dict[str, Any]:
    """The payload answering the challenge of `piece` in the window of entropy block `block`."""
    if len(piece) != HASH_BYTES or any(len(h) != HASH_BYTES for h in path):
        raise ValueError("piece ids and path hashes are 32 bytes")
    return {
        "type": "proof",
        "block": block,
        "piece": piece.hex(),
        "leaf_index": leaf_index,
        "leaf": base64.b64encode(leaf).decode(),
        "path": [h.hex() for h in path],
    }


def removal_payload(order: OrderLimit) -> dict[str, Any]:
    """The payload a node files after deleting a piece against a DELETE `order`."""
    return {"type": "removal", "order": order.to_obj()}


# ---- JSON Schemas (published; ingest and tools) ----------------------------------------------

_HEX64 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_U64 = {"type": "integer", "minimum": 0, "maximum": 2**64 - 1}
_ADDRESS = {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"}
_SIGNATURE = {"type": "string", "pattern": "^[0-9a-f]{130}$"}
_COMMON = {
    "network": {"type": "string", "maxLength": 256},
    "chain_id": {"type": "integer", "minimum": 0},
    "placer": _ADDRESS,
    "node": _ADDRESS,
    "piece": _HEX64,
    "signature": _SIGNATURE,
}

PLACEMENT_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["type", "placement"],
    "properties": {
        "type": {"const": "placement"},
        "placement": {
            "type": "object",
            "additionalProperties": False,
            "required": sorted(_PLACEMENT_KEYS),
            "properties": {
                **_COMMON,
                "size": _U64,
                "root": _HEX64,
                "term_start_ms": _U64,
                "term_end_ms": _U64,
            },
        },
    },
}
PROOF_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["type", "block", "piece", "leaf_index", "leaf", "path"],
    "properties": {
        "type": {"const": "proof"},
        "block": {"type": "integer", "minimum": 0, "maximum": MAX_BLOCK_NUMBER},
        "piece": _HEX64,
        "leaf_index": {"type": "integer", "minimum": 0, "maximum": MAX_LEAF_INDEX},
        "leaf": {"type": "string", "maxLength": MAX_LEAF_BASE64, "contentEncoding": "base64"},
        "path": {"type": "array", "maxItems": MAX_PROOF_DEPTH, "items": _HEX64},
    },
}
REMOVAL_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["type", "order"],
    "properties": {
        "type": {"const": "removal"},
        "order": {
            "type": "object",
            "additionalProperties": False,
            "required": sorted(_ORDER_KEYS),
            "properties": {
                **_COMMON,
                "action": {"const": "delete"},
                "max_bytes": _U64,
                "expires_ms": _U64,
                "serial": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
            },
        },
    },
}
PAYLOAD_SCHEMAS: Final = {
    "placement": PLACEMENT_SCHEMA,
    "proof": PROOF_SCHEMA,
    "removal": REMOVAL_SCHEMA,
}
