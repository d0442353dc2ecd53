"""The usage kind's three payloads, parsed totally into frozen dataclasses.

```
usage   (gateway) {"type": "usage", "node": <address>, "egress_bytes": int,
                   "stored_byte_ms": int, "credits": int}
spend   (gateway) {"type": "spend", "account": <address>, "credits": int,
                   "usage_ref": "0x" + 64 hex}
egress  (node)    {"type": "egress", "gateway": <address>,
                   "orders": [<OrderLimit.to_obj() of a GET order>, ...], "bytes": [int, ...]}
```

A *usage* report is what the gateway charged its consumers for one node's service this epoch
(`credits` = `pricing.charge(stored_byte_ms, egress_bytes)` of that node's share). A *spend*
report says the gateway spent `credits` of `account` on chain (`Credits.spend`) citing
`usage_ref` = keccak256 of its canonical usage file. An *egress* report is a node's evidence:
the gateway-signed GET orders it served and the bytes served for each (at most
`MAX_ORDERS_PER_REPORT` orders; a node files several reports when it served more).

`parse_payload` is total: anything else is a `ValueError` naming the first problem (the
verifier's `malformed_payload`). Integers are bounded (`MAX_USAGE`), addresses are EIP-55
checksummed, hex is lower case and no other key is accepted, so one payload has one encoding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from opendepin.identity.address import checksum
from opendepin.storage.orders import OrderLimit, StorageError, parse_order
from opendepin.storage.pricing import MAX_USAGE
from opendepin.types import DeviceId

MAX_ORDERS_PER_REPORT: Final = 64
"""Orders one egress report may carry."""
MAX_CREDITS: Final = 2**128
"""Largest credit amount a payload may name."""
MAX_ORDER_BYTES: Final = 2**63 - 1
"""Largest byte count served for one order."""
_REF = re.compile(r"0x[0-9a-f]{64}")
_KEYS: Final = {
    "usage": frozenset({"type", "node", "egress_bytes", "stored_byte_ms", "credits"}),
    "spend": frozenset({"type", "account", "credits", "usage_ref"}),
    "egress": frozenset({"type", "gateway", "orders", "bytes"}),
}


@dataclass(frozen=True, slots=True)
class UsagePayload:
    """What a gateway charged consumers for one node's service this epoch."""

    node: DeviceId
    egress_bytes: int
    stored_byte_ms: int
    credits: int


@dataclass(frozen=True, slots=True)
class SpendPayload:
    """A gateway's on-chain spend of one account's credits."""

    account: DeviceId
    credits: int
    usage_ref: bytes
    """32 bytes: keccak256 of the gateway's usage file."""


@dataclass(frozen=True, slots=True)
class EgressPayload:
    """A node's served GET orders of one gateway, with the bytes served per order."""

    gateway: DeviceId
    orders: tuple[OrderLimit, ...]
    bytes_served: tuple[int, ...]


UsageKindPayload = UsagePayload | SpendPayload | EgressPayload


def _int(obj: dict[str, Any], name: str, limit: int, minimum: int = 0) -> int:
    value = obj.get(name)
    if type(value) is not int or not minimum <= value <= limit:
        raise ValueError(f"{name} must be an integer in [{minimum}, {limit}]")
    return value


def _address(obj: dict[str, Any], name: str) -> DeviceId:
    value = obj.get(name)
    if not isinstance(value, str) or len(value) != 42:
        raise ValueError(f"{name} must be a 0x-prefixed 20-byte address")
    try:
        address = checksum(value)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    if address != value:
        raise ValueError(f"{name} must be EIP-55 checksummed ({address})")
    return address


def parse_payload(payload: object) -> UsageKindPayload:
    """The payload as a dataclass; ValueError naming the first problem otherwise."""
    if not isinstance(payload, dict):
        raise ValueError("payload must be an object")
    kind = payload.get("type")
    if not isinstance(kind, str) or kind not in _KEYS:
        raise ValueError("type must be one of usage, spend, egress")
    extra = set(payload) - _KEYS[kind]
    if extra:
        raise ValueError(f"unexpected keys {sorted(str(k)[:32] for k in extra)[:4]}")
    if kind == "usage":
        return UsagePayload(
            node=_address(payload, "node"),
            egress_bytes=_int(payload, "egress_bytes", MAX_USAGE),
            stored_byte_ms=_int(payload, "stored_byte_ms", MAX_USAGE),
            credits=_int(payload, "credits", MAX_CREDITS),
        )
    if kind == "spend":
        ref = payload.get("usage_ref")
        if not isinstance(ref, str) or not _REF.fullmatch(ref):
            raise ValueError("usage_ref must be '0x' and 64 lower-case hex digits")
        return SpendPayload(
            account=_address(payload, "account"),
            credits=_int(payload, "credits", MAX_CREDITS, 1),
            usage_ref=bytes.fromhex(ref[2:]),
        )
    orders, served = payload.get("orders"), payload.get("bytes")
    if not isinstance(orders, list) or not 1 <= len(orders) <= MAX_ORDERS_PER_REPORT:
        raise ValueError(f"orders must be a list of 1 to {MAX_ORDERS_PER_REPORT} orders")
    if not isinstance(served, list) or len(served) != len(orders):
        raise ValueError("bytes must be a list with one count per order")
    parsed = []
    for i, item in enumerate(orders):
        try:
            parsed.append(parse_order(item))
        except StorageError as exc:
            raise ValueError(f"orders[{i}]: {exc}") from None
    counts = []
    for i, value in enumerate(served):
        if type(value) is not int or not 0 <= value <= MAX_ORDER_BYTES:
            raise ValueError(f"bytes[{i}] must be an integer in [0, {MAX_ORDER_BYTES}]")
        counts.append(value)
    return EgressPayload(_address(payload, "gateway"), tuple(parsed), tuple(counts))


def validate_payload(payload: dict[str, Any]) -> None:
    """Ingest-time check: raise ValueError if `parse_payload` would."""
    parse_payload(payload)


def usage_payload(
    node: str, egress_bytes: int, stored_byte_ms: int, credits: int
) -> dict[str, Any]:
    """A usage payload (gateway side)."""
    return {
        "type": "usage",
        "node": node,
        "egress_bytes": egress_bytes,
        "stored_byte_ms": stored_byte_ms,
        "credits": credits,
    }


def spend_payload(account: str, credits: int, usage_ref: bytes) -> dict[str, Any]:
    """A spend payload (gateway side)."""
    return {
        "type": "spend",
        "account": account,
        "credits": credits,
        "usage_ref": "0x" + usage_ref.hex(),
    }


def egress_payload(gateway: str, served: list[tuple[OrderLimit, int]]) -> dict[str, Any]:
    """An egress payload (node side): served GET orders with their byte counts."""
    return {
        "type": "egress",
        "gateway": gateway,
        "orders": [order.to_obj() for order, _ in served],
        "bytes": [n for _, n in served],
    }


_ADDRESS_SCHEMA: Final = {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$", "maxLength": 42}
_COUNT_SCHEMA: Final = {"type": "integer", "minimum": 0, "maximum": MAX_USAGE}
PAYLOAD_SCHEMAS: Final = {
    "usage": {
        "type": "object",
        "required": ["type", "node", "egress_bytes", "stored_byte_ms", "credits"],
        "additionalProperties": False,
        "properties": {
            "type": {"const": "usage"},
            "node": _ADDRESS_SCHEMA,
            "egress_bytes": _COUNT_SCHEMA,
            "stored_byte_ms": _COUNT_SCHEMA,
            "credits": {"type": "integer", "minimum": 0, "maximum": MAX_CREDITS},
        },
    },
    "spend": {
        "type": "object",
        "required": ["type", "account", "credits", "usage_ref"],
        "additionalProperties": False,
        "properties": {
            "type": {"const": "spend"},
            "account": _ADDRESS_SCHEMA,
            "credits": {"type": "integer", "minimum": 1, "maximum": MAX_CREDITS},
            "usage_ref": {"type": "string", "pattern": "^0x[0-9a-f]{64}$", "maxLength": 66},
        },
    },
    "egress": {
        "type": "object",
        "required": ["type", "gateway", "orders", "bytes"],
        "additionalProperties": False,
        "properties": {
            "type": {"const": "egress"},
            "gateway": _ADDRESS_SCHEMA,
            "orders": {"type": "array", "minItems": 1, "maxItems": MAX_ORDERS_PER_REPORT},
            "bytes": {
                "type": "array",
                "maxItems": MAX_ORDERS_PER_REPORT,
                "items": {"type": "integer", "minimum": 0, "maximum": MAX_ORDER_BYTES},
            },
        },
    },
}
"""JSON Schema of each payload type (documentation and the explorer)."""
