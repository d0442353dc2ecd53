"""Signed orders and placement records: who may put or get which piece, and what a node holds.

**Order limits** (after Storj): a storage node moves bytes only against an order signed by an
authorised *placer* (the party that places pieces: an uploader, the S3 gateway, the repair
worker). An order names the placer, the node, the piece, the action (put, get, delete), the
most bytes the node may move for it, an expiry and a random serial. The node refuses anything
else, and keeps every order it served (the serial makes each one count once), so its egress
can be paid from orders the placer cannot deny having signed.

**Placement records** tell the oracles what each node must hold: the placer signs (piece id,
node, size, Merkle root of the content, storage term); the node checks the uploaded bytes
against size and root, acknowledges by signing the same digest, and files the record as a
`storage` report (`proofs.storage`), so it is sealed with the epoch and every oracle audits
the node against it.

Both are EIP-712 typed data in the network's domain (`reports.eip712.domain_separator`), so any
Ethereum tool can produce or check them:

    OrderLimit(string network,address placer,address node,bytes32 piece,uint8 action,
               uint64 maxBytes,uint64 expiresMs,bytes16 serial)
    Placement(string network,address placer,address node,bytes32 piece,uint64 size,
              bytes32 root,uint64 termStartMs,uint64 termEndMs)

On the wire both are JSON objects of hex strings and integers (`to_obj` / `parse_*`); the
parsers are total: anything malformed is a `StorageError` with a reason, never a crash.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, replace
from enum import IntEnum, StrEnum
from typing import Any, Final, Protocol, TypeVar

from opendepin.crypto import keccak256
from opendepin.identity.address import checksum
from opendepin.identity.signatures import recover_address
from opendepin.reports.eip712 import EIP712_PREFIX, domain_separator
from opendepin.types import DeviceId

ORDER_TYPE: Final = (
    "OrderLimit(string network,address placer,address node,bytes32 piece,uint8 action,"
    "uint64 maxBytes,uint64 expiresMs,bytes16 serial)"
)
PLACEMENT_TYPE: Final = (
    "Placement(string network,address placer,address node,bytes32 piece,uint64 size,"
    "bytes32 root,uint64 termStartMs,uint64 termEndMs)"
)
ORDER_TYPEHASH: Final = keccak256(ORDER_TYPE.encode())
PLACEMENT_TYPEHASH: Final = keccak256(PLACEMENT_TYPE.encode())
PIECE_ID_BYTES: Final = 32
SERIAL_BYTES: Final = 16
SIGNATURE_BYTES: Final = 65
UINT64_LIMIT: Final = 2**64
MAX_WIRE_BYTES: Final = 4096
"""An order or placement on the wire (JSON, then base64 in a header) is never longer."""


class Action(IntEnum):
    """What an order allows."""

    PUT = 1
    GET = 2
    DELETE = 3


class OrderReason(StrEnum):
    """Why a node refuses a request (stable codes in its HTTP problem bodies)."""

    MALFORMED_ORDER = "malformed_order"
    BAD_SIGNATURE = "bad_signature"
    UNAUTHORISED_PLACER = "placer_not_authorised"
    WRONG_NODE = "wrong_node"
    WRONG_NETWORK = "order_wrong_network"
    WRONG_PIECE = "wrong_piece"
    WRONG_ACTION = "wrong_action"
    EXPIRED = "order_expired"
    REPLAYED = "order_replayed"
    TOO_LARGE = "too_large"
    MALFORMED_PLACEMENT = "malformed_placement"
    PLACEMENT_MISMATCH = "placement_mismatch"
    ROOT_MISMATCH = "root_mismatch"
    SIZE_MISMATCH = "size_mismatch"
    BAD_TERM = "placement_bad_term"
    NO_SPACE = "no_space"
    PIECE_EXISTS = "piece_exists"
    NO_SUCH_PIECE = "no_such_piece"
    CORRUPT_PIECE = "corrupt_piece"
    BAD_RANGE = "bad_range"
    BODY_TIMEOUT = "body_timeout"


class StorageError(Exception):
    """A refused order, placement or request: a stable reason and a human message."""

    def __init__(self, reason: OrderReason, message: str) -> None:
        super().__init__(f"{reason.value}: {message}")
        self.reason = reason
        self.message = message


class DigestSigner(Protocol):
    """Anything that signs a 32-byte digest as r ‖ s ‖ v (Signer, secp256k1 DeviceKey)."""

    def sign_digest(self, digest: bytes, /) -> bytes: ...


def _address_word(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(address[2:])


def _u64(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _typed_digest(chain_id: int, struct: bytes) -> bytes:
    return keccak256(EIP712_PREFIX + domain_separator(chain_id) + keccak256(struct))


def new_piece_id() -> bytes:
    """A fresh random 32-byte piece id (the placer's choice; unique across the network)."""
    return secrets.token_bytes(PIECE_ID_BYTES)


def new_serial() -> bytes:
    """A fresh random 16-byte order serial."""
    return secrets.token_bytes(SERIAL_BYTES)


@dataclass(frozen=True, slots=True)
class OrderLimit:
    """Permission for `node` to move at most `max_bytes` of `piece` for `action` until `expires_ms`."""

    network: str
    chain_id: int
    placer: DeviceId
    node: DeviceId
    piece: bytes
    action: Action
    max_bytes: int
    expires_ms: int
    serial: bytes
    signature: bytes = b""

    def digest(self) -> bytes:
        """The EIP-712 digest the placer signs."""
        return _typed_digest(
            self.chain_id,
            ORDER_TYPEHASH
            + keccak256(self.network.encode())
            + _address_word(self.placer)
            + _address_word(self.node)
            + self.piece
            + _u64(int(self.action))
            + _u64(self.max_bytes)
            + _u64(self.expires_ms)
            + self.serial.ljust(32, b"\x00"),
        )

    def signed(self, signer: DigestSigner) -> OrderLimit:
        """This order with the placer's signature."""
        return _replace_signature(self, signer.sign_digest(self.digest()))

    def signer(self) -> DeviceId | None:
        """Who signed it (None: no recoverable signature)."""
        return recover_address(self.digest(), self.signature)

    def to_obj(self) -> dict[str, Any]:
        return {
            **_header_obj(self),
            "action": self.action.name.lower(),
            "max_bytes": self.max_bytes,
            "expires_ms": self.expires_ms,
            "serial": self.serial.hex(),
            "signature": self.signature.hex(),
        }


@dataclass(frozen=True, slots=True)
class Placement:
    """What `node` holds for `placer`: `size` bytes of `piece` with Merkle `root`, for a term."""

    network: str
    chain_id: int
    placer: DeviceId
    node: DeviceId
    piece: bytes
    size: int
    root: bytes
    term_start_ms: int
    term_end_ms: int
    signature: bytes = b""
    """The placer's signature over `digest()`."""

    def digest(self) -> bytes:
        """The EIP-712 digest the placer signs and the node acknowledges."""
        return _typed_digest(
            self.chain_id,
            PLACEMENT_TYPEHASH
            + keccak256(self.network.encode())
            + _address_word(self.placer)
            + _address_word(self.node)
            + self.piece
            + _u64(self.size)
            + self.root
            + _u64(self.term_start_ms)
            + _u64(self.term_end_ms),
        )

    def signed(self, signer: DigestSigner) -> Placement:
        return _replace_signature(self, signer.sign_digest(self.digest()))

    def signer(self) -> DeviceId | None:
        return recover_address(self.digest(), self.signature)

    def to_obj(self) -> dict[str, Any]:
        return {
            **_header_obj(self),
            "size": self.size,
            "root": self.root.hex(),
            "term_start_ms": self.term_start_ms,
            "term_end_ms": self.term_end_ms,
            "signature": self.signature.hex(),
        }


_Signed = TypeVar("_Signed", OrderLimit, Placement)


def _header_obj(record: OrderLimit | Placement) -> dict[str, Any]:
    """The fields orders and placements share, in their JSON form."""
    return {
        "network": record.network,
        "chain_id": record.chain_id,
        "placer": record.placer,
        "node": record.node,
        "piece": record.piece.hex(),
    }


def _replace_signature(record: _Signed, signature: bytes) -> _Signed:
    return replace(record, signature=signature)


# ---- parsing (total) -------------------------------------------------------------------------


def _field(obj: dict[str, Any], name: str, kind: type, reason: OrderReason) -> Any:
    value = obj.get(name)
    if type(value) is not kind:
        raise StorageError(reason, f"{name} must be a {kind.__name__}")
    return value


def _hex_bytes(obj: dict[str, Any], name: str, length: int, reason: OrderReason) -> bytes:
    text = _field(obj, name, str, reason)
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise StorageError(reason, f"{name} is not hex") from None
    if len(raw) != length:
        raise StorageError(reason, f"{name} must be {length} bytes, got {len(raw)}")
    return raw


def _uint(obj: dict[str, Any], name: str, reason: OrderReason, limit: int = UINT64_LIMIT) -> int:
    value = _field(obj, name, int, reason)
    if not 0 <= value < limit:
        raise StorageError(reason, f"{name} out of range")
    return int(value)


def _address(obj: dict[str, Any], name: str, reason: OrderReason) -> DeviceId:
    text = _field(obj, name, str, reason)
    try:
        return checksum(text)
    except ValueError:
        raise StorageError(reason, f"{name} is not an address") from None


def _as_obj(data: object, reason: OrderReason) -> dict[str, Any]:
    if isinstance(data, dict):
        return data
    if not isinstance(data, (bytes, bytearray, str)):
        raise StorageError(reason, f"expected a JSON object, got {type(data).__name__}")
    if len(data) > MAX_WIRE_BYTES:
        raise StorageError(reason, f"longer than {MAX_WIRE_BYTES} bytes")
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise StorageError(reason, "not JSON") from None
    if not isinstance(obj, dict):
        raise StorageError(reason, "not a JSON object")
    return obj


def parse_order(data: object) -> OrderLimit:
    """An order from its JSON form; StorageError(malformed_order) if it is not one."""
    r = OrderReason.MALFORMED_ORDER
    obj = _as_obj(data, r)
    action_name = _field(obj, "action", str, r)
    try:
        action = Action[action_name.upper()]
    except KeyError:
        raise StorageError(r, f"unknown action {action_name[:16]!r}") from None
    return OrderLimit(
        network=_field(obj, "network", str, r)[:256],
        chain_id=_uint(obj, "chain_id", r, 2**256),
        placer=_address(obj, "placer", r),
        node=_address(obj, "node", r),
        piece=_hex_bytes(obj, "piece", PIECE_ID_BYTES, r),
        action=action,
        max_bytes=_uint(obj, "max_bytes", r),
        expires_ms=_uint(obj, "expires_ms", r),
        serial=_hex_bytes(obj, "serial", SERIAL_BYTES, r),
        signature=_hex_bytes(obj, "signature", SIGNATURE_BYTES, r),
    )


def parse_placement(data: object) -> Placement:
    """A placement from its JSON form; StorageError(malformed_placement) if it is not one."""
    r = OrderReason.MALFORMED_PLACEMENT
    obj = _as_obj(data, r)
    placement = Placement(
        network=_field(obj, "network", str, r)[:256],
        chain_id=_uint(obj, "chain_id", r, 2**256),
        placer=_address(obj, "placer", r),
        node=_address(obj, "node", r),
        piece=_hex_bytes(obj, "piece", PIECE_ID_BYTES, r),
        size=_uint(obj, "size", r),
        root=_hex_bytes(obj, "root", 32, r),
        term_start_ms=_uint(obj, "term_start_ms", r),
        term_end_ms=_uint(obj, "term_end_ms", r),
        signature=_hex_bytes(obj, "signature", SIGNATURE_BYTES, r),
    )
    if placement.term_end_ms <= placement.term_start_ms:
        raise StorageError(OrderReason.BAD_TERM, "term_end_ms must be after term_start_ms")
    return placement


def encode_header(record: OrderLimit | Placement) -> str:
    """The record as an HTTP header value: base64url of its compact JSON."""
    raw = json.dumps(record.to_obj(), separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_header(value: str, reason: OrderReason) -> dict[str, Any]:
    """The JSON object in a header made by `encode_header`; StorageError(reason) if it is not one."""
    if len(value) > MAX_WIRE_BYTES * 2:
        raise StorageError(reason, "header too long")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError:
        raise StorageError(reason, "header is not base64url") from None
    return _as_obj(raw, reason)


def check_order(
    order: OrderLimit,
    *,
    network: str,
    chain_id: int,
    node: DeviceId,
    piece: bytes,
    action: Action,
    now_ms: int,
    placers: frozenset[DeviceId] | None,
) -> None:
    """Raise StorageError unless `order` lets `node` do `action` on `piece` now.

    `placers` is the set of authorised placers (None: any signer may place, for open test
    networks). Replay (a serial already served) is the node's ledger's check, not this one.
    """
    if order.network != network or order.chain_id != chain_id:
        raise StorageError(OrderReason.WRONG_NETWORK, f"order is for {order.network!r}/{order.chain_id}")
    signer = order.signer()
    if signer is None or signer != order.placer:
        raise StorageError(OrderReason.BAD_SIGNATURE, "the order is not signed by its placer")
    if placers is not None and order.placer not in placers:
        raise StorageError(OrderReason.UNAUTHORISED_PLACER, f"{order.placer} is not an authorised placer")
    if order.node != node:
        raise StorageError(OrderReason.WRONG_NODE, f"order is for node {order.node}")
    if order.piece != piece:
        raise StorageError(OrderReason.WRONG_PIECE, "order is for another piece")
    if order.action != action:
        raise StorageError(OrderReason.WRONG_ACTION, f"order allows {order.action.name.lower()}")
    if now_ms > order.expires_ms:
        raise StorageError(OrderReason.EXPIRED, f"order expired at {order.expires_ms} ms")


def check_placement(placement: Placement, order: OrderLimit) -> None:
    """Raise StorageError unless `placement` is signed by the order's placer for its node and piece."""
    if (placement.network, placement.chain_id, placement.placer, placement.node, placement.piece) != (
        order.network,
        order.chain_id,
        order.placer,
        order.node,
        order.piece,
    ):
        raise StorageError(OrderReason.PLACEMENT_MISMATCH, "placement and order differ in network, placer, node or piece")
    signer = placement.signer()
    if signer is None or signer != placement.placer:
        raise StorageError(OrderReason.BAD_SIGNATURE, "the placement is not signed by its placer")
    if placement.size > order.max_bytes:
        raise StorageError(OrderReason.TOO_LARGE, f"placement of {placement.size} B exceeds the order's {order.max_bytes} B")


__all__ = [
    "Action",
    "DigestSigner",
    "OrderLimit",
    "OrderReason",
    "Placement",
    "StorageError",
    "check_order",
    "check_placement",
    "decode_header",
    "encode_header",
    "new_piece_id",
    "new_serial",
    "parse_order",
    "parse_placement",
]
