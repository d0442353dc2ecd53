"""A storage node's HTTP API seen from the placer: put, get and delete pieces against orders.

Every call carries a placer-signed order (`opendepin.storage.orders`) in the `Depin-Order`
header; an upload also carries the placement record. What comes back is untrusted:

* a **refusal** (a 4xx/5xx JSON problem whose `code` is an `OrderReason`) is raised as
  `StorageError` with the node's code, so callers can tell "the piece is gone" from "my order
  was wrong";
* anything else that makes the answer unusable (connection refused, timeout, a body larger
  than the order allows, malformed JSON, an unknown code) is `NodeUnavailable`;
* an upload's acknowledgement is checked here: the node must sign the placement's digest with
  its own key and report the size and root the placer computed, else `StorageError`
  (bad_signature / root_mismatch / size_mismatch) — a node that cannot prove it stored the
  right bytes has not stored them.

Bodies are read in chunks with a cap, so a node cannot exhaust the placer's memory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

import httpx

from opendepin.errors import DepinError
from opendepin.identity.address import checksum
from opendepin.identity.signatures import recover_address
from opendepin.storage.orders import OrderLimit, OrderReason, Placement, StorageError, encode_header
from opendepin.types import DeviceId

ORDER_HEADER: Final = "Depin-Order"
PLACEMENT_HEADER: Final = "Depin-Placement"
MAX_JSON_BYTES: Final = 64 * 1024
"""Longest JSON answer (node info, ack, problem) the client reads."""
DEFAULT_TIMEOUT_SECONDS: Final = 30.0
MAX_MESSAGE_CHARS: Final = 300


class NodeUnavailable(DepinError):
    """A node did not give a usable answer (unreachable, timeout, oversize or malformed)."""


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """What `GET /v1/node` says about a node."""

    node: DeviceId
    capacity_bytes: int
    used_bytes: int
    pieces: int
    network: str
    chain_id: int

    @property
    def free_bytes(self) -> int:
        return max(0, self.capacity_bytes - self.used_bytes)


@dataclass(frozen=True, slots=True)
class PutAck:
    """A node's checked acknowledgement of an upload: its signature over placement.digest()."""

    piece: bytes
    node: DeviceId
    size: int
    root: bytes
    ack: bytes


def _short(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE_CHARS else text[:MAX_MESSAGE_CHARS] + "…"


def _uint(obj: dict[str, Any], name: str, where: str) -> int:
    value = obj.get(name)
    if type(value) is not int or value < 0:
        raise NodeUnavailable(f"{where}: {name} is not a non-negative integer")
    return value


def _text(obj: dict[str, Any], name: str, where: str, limit: int = 256) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or len(value) > limit:
        raise NodeUnavailable(f"{where}: {name} is not a string")
    return value


def _hex(obj: dict[str, Any], name: str, length: int, where: str) -> bytes:
    try:
        raw = bytes.fromhex(_text(obj, name, where, 2 * length + 2).removeprefix("0x"))
    except ValueError:
        raise NodeUnavailable(f"{where}: {name} is not hex") from None
    if len(raw) != length:
        raise NodeUnavailable(f"{where}: {name} must be {length} bytes")
    return raw


class NodeClient:
    """One storage node at `url` (e.g. http://127.0.0.1:7000); `http` is injectable for tests."""

    def __init__(
        self,
        url: str,
        http: httpx.Client | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.url = url.rstrip("/")
        self._own = http is None
        self._http = http or httpx.Client(timeout=timeout_seconds)
        self._timeout = timeout_seconds

    def close(self) -> None:
        if self._own:
            self._http.close()

    def __enter__(self) -> NodeClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ---- transport -------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        max_bytes: int = MAX_JSON_BYTES,
        ok: tuple[int, ...] = (200,),
    ) -> tuple[int, httpx.Headers, bytes]:
        """(status, headers, body) of a successful request; raises on refusals and failures."""
        where = f"{method} {self.url}{path}"
        body = bytearray()
        try:
            with self._http.stream(
                method, self.url + path, headers=headers, content=content, timeout=self._timeout
            ) as resp:
                limit = max_bytes if resp.status_code in ok else MAX_JSON_BYTES
                for chunk in resp.iter_bytes():
                    body += chunk
                    if len(body) > limit:
                        raise NodeUnavailable(f"{where}: answer larger than {limit} bytes")
                status, resp_headers = resp.status_code, resp.headers
        except httpx.HTTPError as exc:
            raise NodeUnavailable(f"{where}: {type(exc).__name__}: {_short(str(exc))}") from exc
        if status not in ok:
            raise self._refusal(where, status, bytes(body))
        return status, resp_headers, bytes(body)

    @staticmethod
    def _refusal(where: str, status: int, body: bytes) -> Exception:
        try:
            problem = json.loads(body)
            code, message = problem["code"], problem.get("message", "")
            reason = OrderReason(code)
        except (ValueError, KeyError, TypeError):
            return NodeUnavailable(
                f"{where}: HTTP {status}: {_short(body.decode(errors='replace'))}"
            )
        return StorageError(reason, f"{where}: {_short(str(message))}")

    def _json(self, where: str, body: bytes) -> dict[str, Any]:
        try:
            obj = json.loads(body)
        except ValueError:
            raise NodeUnavailable(f"{where}: answer is not JSON") from None
        if not isinstance(obj, dict):
            raise NodeUnavailable(f"{where}: answer is not a JSON object")
        return obj

    # ---- API -------------------------------------------------------------------------------

    def info(self) -> NodeInfo:
        """`GET /v1/node`: the node's id, capacity and use."""
        _, _, body = self._request("GET", "/v1/node")
        where = f"{self.url}/v1/node"
        obj = self._json(where, body)
        try:
            node = checksum(_text(obj, "node", where, 66))
        except ValueError:
            raise NodeUnavailable(f"{where}: node is not an address") from None
        return NodeInfo(
            node=node,
            capacity_bytes=_uint(obj, "capacity_bytes", where),
            used_bytes=_uint(obj, "used_bytes", where),
            pieces=_uint(obj, "pieces", where),
            network=_text(obj, "network", where),
            chain_id=_uint(obj, "chain_id", where),
        )

    def put(self, order: OrderLimit, placement: Placement, data: bytes) -> PutAck:
        """Upload one piece; the node's acknowledgement, checked against the placement."""
        path = f"/v1/pieces/{placement.piece.hex()}"
        headers = {
            ORDER_HEADER: encode_header(order),
            PLACEMENT_HEADER: encode_header(placement),
            "Content-Type": "application/octet-stream",
        }
        _, _, body = self._request("PUT", path, headers=headers, content=data, ok=(200, 201))
        where = f"PUT {self.url}{path}"
        obj = self._json(where, body)
        ack = PutAck(
            piece=_hex(obj, "piece", 32, where),
            node=DeviceId(_text(obj, "node", where, 66)),
            size=_uint(obj, "size", where),
            root=_hex(obj, "root", 32, where),
            ack=_hex(obj, "ack", 65, where),
        )
        if recover_address(placement.digest(), ack.ack) != placement.node:
            raise StorageError(
                OrderReason.BAD_SIGNATURE, f"{where}: the ack is not the node's signature"
            )
        if ack.piece != placement.piece:
            raise StorageError(OrderReason.WRONG_PIECE, f"{where}: the ack names another piece")
        if ack.size != placement.size:
            raise StorageError(OrderReason.SIZE_MISMATCH, f"{where}: the node stored {ack.size} B")
        if ack.root != placement.root:
            raise StorageError(OrderReason.ROOT_MISMATCH, f"{where}: the node's root differs")
        return ack

    def get(self, order: OrderLimit, byte_range: tuple[int, int] | None = None) -> bytes:
        """Download a piece (or bytes [a, b] of it, inclusive); at most `order.max_bytes`."""
        path = f"/v1/pieces/{order.piece.hex()}"
        headers = {ORDER_HEADER: encode_header(order)}
        if byte_range is not None:
            headers["Range"] = f"bytes={byte_range[0]}-{byte_range[1]}"
        _, _, body = self._request(
            "GET", path, headers=headers, max_bytes=order.max_bytes, ok=(200, 206)
        )
        return body

    def delete(self, order: OrderLimit) -> None:
        """Delete a piece (a node that no longer has it answers no_such_piece)."""
        path = f"/v1/pieces/{order.piece.hex()}"
        self._request("DELETE", path, headers={ORDER_HEADER: encode_header(order)}, ok=(200, 204))


__all__ = ["NodeClient", "NodeInfo", "NodeUnavailable", "PutAck"]
