"""The storage node's HTTP API (Starlette): pieces in and out against placer-signed orders.

```
PUT    /v1/pieces/{piece}   Depin-Order (PUT), Depin-Placement; body = the piece  → 201 {piece, node, size, root, ack}
GET    /v1/pieces/{piece}   Depin-Order (GET), optional Range: bytes=a-b           → 200 / 206 bytes
DELETE /v1/pieces/{piece}   Depin-Order (DELETE)                                   → 200 {piece, deleted}
GET    /v1/node             {node, capacity_bytes, used_bytes, pieces, network, chain_id}
GET    /v1/orders?after=&limit=   served orders for egress settlement → {orders, next}
```

Every refusal is JSON `{"code": <OrderReason value>, "message": ...}` with the status of
`STATUS`. The checks run in this order, and nothing is written before they all passed:
order (decode, network, signature, authorised placer, node, piece, action, expiry, serial not
yet served) → placement (decode, same placer/node/piece, signature, size within the order and
the network's `max_piece_bytes`, term) → Content-Length equal to the placement's size →
piece not yet held → capacity. Then the order goes into the ledger (fsynced) and only then do
bytes move: the upload streams through `store.Upload` (root computed on the fly), a GET is
served only after the piece verified against its root (`store.PieceStore.verify`).

Who may do what: every order must come from an authorised placer; a DELETE only from the
placer that placed the piece (unauthorised_placer otherwise), so one placer cannot remove
another's data; a GET from any authorised placer (the order names who pays for the egress).

The ack is the node key's signature over `placement.digest()`; the node then files the
placement report (`reporter`). Blocking work (disk, hashing, fsync) runs in worker threads;
the reporter's database is used only on the event loop.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Final

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from opendepin.identity import DeviceKey
from opendepin.storage.node.config import LEDGER_FILE, NodeConfig
from opendepin.storage.node.ledger import OrderLedger
from opendepin.storage.node.reporter import NodeReporter
from opendepin.storage.node.store import PieceRecord, PieceStore
from opendepin.storage.orders import (
    Action,
    OrderLimit,
    OrderReason,
    Placement,
    StorageError,
    check_order,
    check_placement,
    decode_header,
    parse_order,
    parse_placement,
)
from opendepin.types import DeviceId

log = logging.getLogger("opendepin.storage.node")

ORDER_HEADER: Final = "depin-order"
PLACEMENT_HEADER: Final = "depin-placement"
WRITE_BATCH_BYTES: Final = 1 << 20
"""Body bytes gathered before one write+hash step in a worker thread."""
DRAIN_LIMIT_BYTES: Final = 1 << 20
"""A refused upload's body up to this size is read and dropped before answering, so a client
that is still sending sees the refusal rather than a reset connection."""
DEFAULT_ORDERS_LIMIT: Final = 100
_R = OrderReason
STATUS: Final[dict[OrderReason, int]] = {
    _R.MALFORMED_ORDER: 400, _R.MALFORMED_PLACEMENT: 400, _R.PLACEMENT_MISMATCH: 400,
    _R.BAD_TERM: 400, _R.SIZE_MISMATCH: 400, _R.ROOT_MISMATCH: 400, _R.WRONG_ACTION: 400,
    _R.WRONG_PIECE: 400, _R.WRONG_NETWORK: 400,
    _R.BAD_SIGNATURE: 403, _R.UNAUTHORISED_PLACER: 403, _R.WRONG_NODE: 403, _R.EXPIRED: 403,
    _R.NO_SUCH_PIECE: 404, _R.REPLAYED: 409, _R.PIECE_EXISTS: 409, _R.TOO_LARGE: 413,
    _R.BAD_RANGE: 416, _R.CORRUPT_PIECE: 500, _R.NO_SPACE: 507, _R.BODY_TIMEOUT: 408,
}  # fmt: skip
RANGE_STATUS: Final = 416
"""An unsatisfiable or multi-part Range (code bad_range)."""
_RANGE = re.compile(r"^bytes=(\d{0,19})-(\d{0,19})$")


class _RangeError(Exception):
    pass


def problem(reason: OrderReason, message: str, status: int | None = None) -> JSONResponse:
    return JSONResponse(
        {"code": reason.value, "message": message}, status_code=status or STATUS[reason]
    )


def parse_range(value: str | None, size: int) -> tuple[int, int] | None:
    """[start, end) of a single `bytes=` range, None for no header; _RangeError if unsatisfiable."""
    if value is None:
        return None
    m = _RANGE.match(value.strip())
    if m is None or (not m.group(1) and not m.group(2)):
        raise _RangeError(f"unsupported Range {value[:64]!r} (one bytes=a-b range)")
    first, last = m.group(1), m.group(2)
    if not first:  # suffix: the last n bytes
        n = int(last)
        if n == 0 or size == 0:
            raise _RangeError("empty suffix range")
        return max(size - n, 0), size
    start = int(first)
    end = min(int(last) + 1, size) if last else size
    if start >= size or end <= start:
        raise _RangeError(f"range {value[:64]!r} is outside the piece's {size} bytes")
    return start, end


class NodeApp:
    """The node's state behind the routes: key, store, ledger, reporter, clock."""

    def __init__(
        self,
        config: NodeConfig,
        key: DeviceKey,
        *,
        clock: Callable[[], int] | None = None,
        reporter_factory: Callable[[PieceStore], NodeReporter | None] | None = None,
    ) -> None:
        self.config = config
        self.key = key
        self.node = DeviceId(key.device_id)
        self.now_ms = clock or (lambda: time.time_ns() // 1_000_000)
        self.store = PieceStore(config.directory, config.capacity_bytes)
        self.recovered = self.store.recover()
        self.ledger = OrderLedger(config.directory / LEDGER_FILE)
        self._reporter_factory = reporter_factory
        self.reporter: NodeReporter | None = None
        self.body_idle_timeout = config.body_idle_timeout_seconds
        """A sender that stalls longer (a slowloris, a dead placer) gets `body_timeout`; its
        temp file is removed."""

    # ---- checks ----------------------------------------------------------------------------

    def _order(self, request: Request, piece: bytes, action: Action) -> OrderLimit:
        value = request.headers.get(ORDER_HEADER)
        if value is None:
            raise StorageError(_R.MALFORMED_ORDER, "the Depin-Order header is missing")
        order = parse_order(decode_header(value, _R.MALFORMED_ORDER))
        check_order(
            order,
            network=self.config.network_id,
            chain_id=self.config.chain_id,
            node=self.node,
            piece=piece,
            action=action,
            now_ms=self.now_ms(),
            placers=self.config.placers,
        )
        if self.ledger.seen(order.serial):
            raise StorageError(_R.REPLAYED, f"order serial {order.serial.hex()} was already served")
        return order

    def _placement(self, request: Request, order: OrderLimit) -> Placement:
        value = request.headers.get(PLACEMENT_HEADER)
        if value is None:
            raise StorageError(_R.MALFORMED_PLACEMENT, "the Depin-Placement header is missing")
        placement = parse_placement(decode_header(value, _R.MALFORMED_PLACEMENT))
        check_placement(placement, order)
        audit = self.config.audit
        if placement.size > audit.max_piece_bytes:
            raise StorageError(
                _R.TOO_LARGE, f"pieces are at most {audit.max_piece_bytes} B on this network"
            )
        if placement.term_end_ms <= self.now_ms():
            raise StorageError(_R.BAD_TERM, "the placement's term has already ended")
        if placement.term_end_ms - placement.term_start_ms > audit.max_term_seconds * 1000:
            raise StorageError(_R.BAD_TERM, f"terms are at most {audit.max_term_seconds} s")
        return placement

    # ---- routes ----------------------------------------------------------------------------

    async def pieces(self, request: Request) -> Response:
        method = request.method
        text = request.path_params["piece"]
        try:
            piece = bytes.fromhex(text) if len(text) == 64 else b""
        except ValueError:
            piece = b""
        try:
            if len(piece) != 32:
                raise StorageError(_R.WRONG_PIECE, "the path does not name a 64-hex piece id")
            if method == "PUT":
                return await self._put(request, piece)
            if method == "GET":
                return await self._get(request, piece)
            return await self._delete(request, piece)
        except StorageError as exc:
            self._log(method, text, STATUS[exc.reason], exc.reason.value)
            if exc.reason is _R.BODY_TIMEOUT:  # the rest never came: do not wait for it
                response = problem(exc.reason, exc.message)
                response.headers["Connection"] = "close"
                return response
            if method == "PUT":
                await _drain(request)
            return problem(exc.reason, exc.message)
        except _RangeError as exc:
            self._log(method, text, RANGE_STATUS, "bad_range")
            return problem(_R.BAD_RANGE, str(exc), RANGE_STATUS)

    async def _put(self, request: Request, piece: bytes) -> Response:
        order = self._order(request, piece, Action.PUT)
        placement = self._placement(request, order)
        length = request.headers.get("content-length")
        if length is None or not length.isdigit() or len(length) > 19:
            raise StorageError(_R.SIZE_MISMATCH, "Content-Length is required")
        if int(length) > order.max_bytes:
            raise StorageError(
                _R.TOO_LARGE, f"body of {length} B exceeds the order's {order.max_bytes} B"
            )
        if int(length) != placement.size:
            raise StorageError(
                _R.SIZE_MISMATCH, f"Content-Length {length} differs from the placement's size"
            )
        ack = self.key.sign_digest(placement.digest())
        upload = self.store.begin(placement, ack)
        try:
            await anyio.to_thread.run_sync(self.ledger.record, order, placement.size, self.now_ms())
            buffer = bytearray()
            chunks = request.stream().__aiter__()
            while True:
                try:
                    with anyio.fail_after(self.body_idle_timeout):
                        chunk = await chunks.__anext__()
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    raise StorageError(
                        _R.BODY_TIMEOUT,
                        f"no body bytes for {self.body_idle_timeout:g} s after "
                        f"{upload.received + len(buffer)} B",
                    ) from None
                buffer += chunk
                if len(buffer) >= WRITE_BATCH_BYTES:
                    await anyio.to_thread.run_sync(upload.write, bytes(buffer))
                    buffer.clear()
            if buffer:
                await anyio.to_thread.run_sync(upload.write, bytes(buffer))
            record = await anyio.to_thread.run_sync(upload.commit, self.now_ms())
        except ClientDisconnect:
            upload.abort()
            self._log("PUT", piece.hex(), 499, f"client went away after {upload.received} B")
            return Response(status_code=400)
        except OSError as exc:
            upload.abort()
            if exc.errno != errno.ENOSPC:
                raise
            raise StorageError(_R.NO_SPACE, "the node's disk is full") from None
        except BaseException:
            upload.abort()
            raise
        if self.reporter is not None:
            self.reporter.placed(record)
        self._log("PUT", piece.hex(), 201, f"{record.size} B")
        body = {
            "piece": piece.hex(),
            "node": self.node,
            "size": record.size,
            "root": record.root.hex(),
            "ack": record.ack.hex(),
        }
        return JSONResponse(body, status_code=201)

    async def _get(self, request: Request, piece: bytes) -> Response:
        order = self._order(request, piece, Action.GET)
        record = self.store.require(piece)
        span = parse_range(request.headers.get("range"), record.size)
        start, end = span if span is not None else (0, record.size)
        if end - start > order.max_bytes:
            raise StorageError(
                _R.TOO_LARGE, f"{end - start} B exceed the order's {order.max_bytes} B"
            )
        await anyio.to_thread.run_sync(self.store.verify, piece)
        await anyio.to_thread.run_sync(self.ledger.record, order, end - start, self.now_ms())
        headers = {"content-length": str(end - start), "accept-ranges": "bytes"}
        if span is not None:
            headers["content-range"] = f"bytes {start}-{end - 1}/{record.size}"
        self._log("GET", piece.hex(), 206 if span else 200, f"{end - start} B")
        return StreamingResponse(
            _iterate(self.store, record, start, end),
            status_code=206 if span else 200,
            headers=headers,
            media_type="application/octet-stream",
        )

    async def _delete(self, request: Request, piece: bytes) -> Response:
        order = self._order(request, piece, Action.DELETE)
        record = self.store.require(piece)
        if record.placement.placer != order.placer:
            raise StorageError(_R.UNAUTHORISED_PLACER, "only the piece's placer may delete it")
        await anyio.to_thread.run_sync(self.ledger.record, order, 0, self.now_ms())
        await anyio.to_thread.run_sync(self.store.delete, piece)
        if self.reporter is not None:
            self.reporter.removed(order)
        self._log("DELETE", piece.hex(), 200, "deleted")
        return JSONResponse({"piece": piece.hex(), "deleted": True})

    async def info(self, request: Request) -> Response:
        return JSONResponse(
            {
                "node": self.node,
                "capacity_bytes": self.config.capacity_bytes,
                "used_bytes": self.store.used_bytes,
                "pieces": self.store.piece_count,
                "network": self.config.network_id,
                "chain_id": self.config.chain_id,
            }
        )

    async def orders(self, request: Request) -> Response:
        after, limit = request.query_params.get("after", "0"), request.query_params.get("limit", "")
        if (
            not after.isdigit()
            or len(after) > 19
            or (limit and (not limit.isdigit() or len(limit) > 6))
        ):
            return problem(_R.MALFORMED_ORDER, "after and limit must be non-negative integers")
        entries, cursor = self.ledger.read(
            int(after), int(limit) if limit else DEFAULT_ORDERS_LIMIT
        )
        return JSONResponse({"orders": entries, "next": cursor})

    def _log(self, method: str, piece: str, status: int, what: str) -> None:
        log.info("%s %s… %d %s", method, piece[:16], status, what)

    # ---- lifecycle -------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """Start the reporter on the server's loop (its database belongs to this thread)."""
        import asyncio

        factory = self._reporter_factory
        self.reporter = factory(self.store) if factory is not None else None
        task = None
        if self.reporter is not None:
            filed = self.reporter.resume()
            if filed:
                log.info("filed %d placement reports missed before a restart", filed)
            task = asyncio.create_task(self.reporter.run())
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if self.reporter is not None:
                self.reporter.close()
            self.ledger.close()


def _iterate(store: PieceStore, record: PieceRecord, start: int, end: int) -> Iterator[bytes]:
    """The piece's bytes; a piece that turns out corrupt mid-stream ends the connection early."""
    try:
        yield from store.stream(record, start, end)
    except (StorageError, OSError) as exc:
        log.error("GET %s… aborted: %s", record.piece.hex()[:16], exc)
        raise


async def _drain(request: Request) -> None:
    """Read and drop a small refused body (see DRAIN_LIMIT_BYTES)."""
    length = request.headers.get("content-length", "")
    if not length.isdigit() or int(length) > DRAIN_LIMIT_BYTES:
        return
    with contextlib.suppress(ClientDisconnect, RuntimeError):
        async for _ in request.stream():
            pass


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    reason = _R.NO_SUCH_PIECE if status == 404 else _R.MALFORMED_ORDER
    return problem(reason, f"{request.method} {request.url.path[:80]}: HTTP {status}", status)


def create_app(node: NodeApp) -> Starlette:
    """The ASGI app serving `node` (its lifespan starts and stops the reporter)."""
    routes = [
        Route("/v1/pieces/{piece}", node.pieces, methods=["PUT", "GET", "DELETE"]),
        Route("/v1/node", node.info, methods=["GET"]),
        Route("/v1/orders", node.orders, methods=["GET"]),
    ]
    handlers: dict[Any, Any] = {HTTPException: _http_error}
    return Starlette(routes=routes, exception_handlers=handlers, lifespan=node.lifespan)


__all__ = ["STATUS", "NodeApp", "create_app", "parse_range", "problem"]
