"""The S3 REST API as an ASGI app: addressing, authentication, routing, errors, streaming.

```
request ─ bucket/key from the Host (virtual host: bucket.<domain>) or the path (path style)
        ─ SigV4 (sigv4.authenticate): the account of the access key
        ─ route (method, bucket?, key?, sub-resource) → S3 operation
        ─ authoriser.check(account, operation, …)   (credits hook: AccessDenied)
        ─ operation in a worker thread, pulling the body from the event loop chunk by chunk
        ─ response: XML, or object bytes streamed segment by segment
```

Errors are S3's XML documents (`errors.py`); HEAD answers carry no body. An unexpected
exception is logged and answered InternalError; a failure after the response started (a
segment no node can serve mid-GET) closes the connection, so the client sees a short body
rather than wrong bytes.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote_to_bytes

import anyio
import anyio.to_thread
from anyio import from_thread

from opendepin.storage.gateway import buckets, multipart, objects
from opendepin.storage.gateway.body import RequestBody
from opendepin.storage.gateway.context import Gateway, Request, Response
from opendepin.storage.gateway.errors import S3Error, access_denied
from opendepin.storage.gateway.hooks import Access
from opendepin.storage.gateway.sigv4 import RequestView, authenticate
from opendepin.storage.gateway.xml import error_document

log = logging.getLogger("opendepin.storage.gateway")

Operation = Callable[[Gateway, Request], Response]
UNSUPPORTED: Final = frozenset(
    [
        "accelerate",
        "acl",
        "analytics",
        "attributes",
        "cors",
        "encryption",
        "intelligent-tiering",
        "inventory",
        "legal-hold",
        "lifecycle",
        "logging",
        "metrics",
        "notification",
        "object-lock",
        "ownershipControls",
        "policy",
        "policyStatus",
        "publicAccessBlock",
        "replication",
        "requestPayment",
        "restore",
        "retention",
        "select",
        "tagging",
        "torrent",
        "versioning",
        "versions",
        "website",
    ]
)
"""Sub-resources the gateway does not implement (NotImplemented)."""
MAX_QUERY_PARAMS: Final = 64
SEND_BYTES: Final = 256 * 1024
"""A streamed object is written to the connection in pieces of at most this size."""


def _head(gw: Gateway, req: Request) -> Response:
    return objects.get_object(gw, req, head=True)


def route(
    method: str, bucket: str | None, key: str | None, query: dict[str, str], headers: dict[str, str]
) -> tuple[str, Operation]:
    """(S3 operation name, function) of a request; NotImplemented / MethodNotAllowed."""
    unsupported = UNSUPPORTED.intersection(query)
    if unsupported:
        raise S3Error("NotImplemented", f"?{sorted(unsupported)[0]} is not implemented")
    if bucket is None:
        if method == "GET":
            return "ListBuckets", buckets.list_all_buckets
    elif key is None:
        if method == "GET":
            if "location" in query:
                return "GetBucketLocation", buckets.bucket_location
            if "uploads" in query:
                return "ListMultipartUploads", multipart.list_uploads
            return (
                "ListObjectsV2" if query.get("list-type") == "2" else "ListObjects"
            ), buckets.list_objects
        if method == "PUT":
            return "CreateBucket", buckets.create_bucket
        if method == "DELETE":
            return "DeleteBucket", buckets.delete_bucket
        if method == "HEAD":
            return "HeadBucket", buckets.head_bucket
        if method == "POST" and "delete" in query:
            return "DeleteObjects", objects.delete_objects
    else:
        if method == "PUT":
            if "uploadId" in query or "partNumber" in query:
                if "x-amz-copy-source" in headers:
                    raise S3Error("NotImplemented", "UploadPartCopy is not implemented")
                return "UploadPart", multipart.upload_part
            if "x-amz-copy-source" in headers:
                return "CopyObject", objects.copy_object
            return "PutObject", objects.put_object
        if method == "GET":
            if "uploadId" in query:
                return "ListParts", multipart.list_parts
            return "GetObject", lambda gw, req: objects.get_object(gw, req)
        if method == "HEAD":
            return "HeadObject", _head
        if method == "DELETE":
            if "uploadId" in query:
                return "AbortMultipartUpload", multipart.abort_upload
            return "DeleteObject", objects.delete_object
        if method == "POST":
            if "uploads" in query:
                return "CreateMultipartUpload", multipart.create_upload
            if "uploadId" in query:
                return "CompleteMultipartUpload", multipart.complete_upload
    raise S3Error("MethodNotAllowed", "The specified method is not allowed against this resource.")


def _decode(raw: bytes, what: str) -> str:
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise S3Error("InvalidArgument", f"the {what} is not UTF-8") from None


def parse_query(raw: bytes) -> list[tuple[str, str]]:
    pairs = []
    for item in raw.split(b"&"):
        if not item:
            continue
        name, _, value = item.partition(b"=")
        pairs.append((_decode(name, "query"), _decode(value, "query")))
        if len(pairs) > MAX_QUERY_PARAMS:
            raise S3Error("InvalidArgument", "too many query parameters")
    return pairs


USAGE_PATH: Final = re.compile(r"^/v1/usage/(\d{1,12})$")
"""The published usage file of an epoch (`settlement`); "v1" is no valid bucket name, so the
path cannot shadow S3. Unauthenticated: the file is public accounting, also filed as reports."""


class GatewayApp:
    """The ASGI application over a `Gateway` (and its usage files, when `usage_data` is set)."""

    def __init__(self, gateway: Gateway, *, usage_data: Path | None = None) -> None:
        self.gateway = gateway
        self.usage_data = usage_data

    def _usage(self, epoch: int) -> Response:
        from opendepin.storage.settlement import read_usage_file

        data = None if self.usage_data is None else read_usage_file(self.usage_data, epoch)
        if data is None:
            return Response(
                404,
                [("Content-Type", "application/json")],
                b'{"code":"no_usage_file","message":"no usage file for epoch %d"}' % epoch,
            )
        return Response(200, [("Content-Type", "application/json")], data)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        request_id = secrets.token_hex(8).upper()
        method = scope["method"]
        usage = USAGE_PATH.match(str(scope.get("path") or ""))
        if usage is not None and method in ("GET", "HEAD"):
            response = await anyio.to_thread.run_sync(self._usage, int(usage.group(1)))
            await self._send(send, response, request_id, method)
            return

        sent = {k.lower(): v for k, v in scope["headers"]}
        body_left = {
            "more": sent.get(b"content-length", b"0") != b"0" or b"transfer-encoding" in sent
        }

        idle = self.gateway.config.body_idle_timeout_seconds

        async def next_body() -> tuple[bytes, bool]:
            try:
                with anyio.fail_after(idle):
                    message = await receive()
            except TimeoutError:
                body_left["more"] = True  # unread: the connection closes after the answer
                raise S3Error(
                    "RequestTimeout",
                    "Your socket connection to the server was not read from or written to "
                    f"within the timeout period ({idle:g} s without body bytes).",
                ) from None
            if message["type"] == "http.disconnect":
                body_left["more"] = False
                raise S3Error("IncompleteBody", "the client disconnected")
            more = bool(message.get("more_body", False))
            body_left["more"] = more
            return message.get("body", b""), more

        def pull() -> tuple[bytes, bool]:
            return from_thread.run(next_body)

        resource = str(scope.get("path") or "/")[:1024]
        try:
            response, resource = await anyio.to_thread.run_sync(
                self._handle, scope, pull, request_id
            )
        except S3Error as exc:
            response = self._error(exc, resource, request_id, method)
        except Exception:
            log.exception("request %s failed", request_id)
            response = self._error(
                S3Error("InternalError", "We encountered an internal error. Please try again."),
                resource,
                request_id,
                method,
            )
        if body_left["more"]:  # answered before the body was read: the rest cannot be reused
            response.headers.append(("Connection", "close"))
        await self._send(send, response, request_id, method)

    def _error(self, exc: S3Error, resource: str, request_id: str, method: str) -> Response:
        headers = [("Content-Type", "application/xml")]
        if exc.code == "InvalidRange" and "ActualObjectSize" in exc.extra:
            headers.append(("Content-Range", f"bytes */{exc.extra['ActualObjectSize']}"))
        body = error_document(exc.code, exc.message, resource, request_id, **exc.extra)
        return Response(exc.status, headers, b"" if method == "HEAD" else body)

    def _handle(
        self, scope: dict[str, Any], pull: Callable[[], tuple[bytes, bool]], request_id: str
    ) -> tuple[Response, str]:
        gw = self.gateway
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            k = name.decode("latin-1").lower()
            v = value.decode("latin-1")
            headers[k] = f"{headers[k]},{v}" if k in headers else v
        raw_path = (scope.get("raw_path") or scope["path"].encode()).split(b"?", 1)[0]
        path = _decode(raw_path, "path")
        pairs = parse_query(scope.get("query_string", b""))
        query = dict(reversed(pairs))  # the first value of a repeated parameter wins
        bucket, key = self._address(headers.get("host", ""), path)
        resource = "/" if bucket is None else f"/{bucket}" + ("" if key is None else f"/{key}")
        view = RequestView(scope["method"], raw_path.decode("latin-1"), path, pairs, headers)
        identity = authenticate(view, gw.keys.lookup, gw.clock_ms() / 1000, gw.config.region)
        operation, fn = route(scope["method"], bucket, key, query, headers)
        body = RequestBody(pull, headers, identity)
        req = Request(
            request_id, scope["method"], bucket, key, query, headers, identity, body, operation
        )
        if bucket is not None and bucket.startswith("."):
            raise access_denied()
        denial = gw.authoriser.check(
            Access(
                identity.account, identity.access_key_id, operation, bucket, key, body.declared or 0
            )
        )
        if denial is not None:
            raise access_denied(denial)
        response = fn(gw, req)
        if isinstance(response.body, Iterator):
            first = next(response.body, b"")  # a failure before any byte is sent is an S3 error
            response.body = _prepend(first, response.body)
        return response, resource

    def _address(self, host: str, path: str) -> tuple[str | None, str | None]:
        name = host.rsplit(":", 1)[0].lower() if not host.startswith("[") else host
        for domain in self.gateway.config.domains:
            if name.endswith("." + domain):
                bucket = name[: -len(domain) - 1]
                return bucket, (path[1:] or None)
        trimmed = path[1:]
        if not trimmed:
            return None, None
        bucket, _, key = trimmed.partition("/")
        return bucket, (key or None)

    async def _send(self, send: Any, response: Response, request_id: str, method: str) -> None:
        headers = [
            (k.encode("latin-1"), v.encode("latin-1", "replace")) for k, v in response.headers
        ]
        headers += [
            (b"x-amz-request-id", request_id.encode()),
            (b"x-amz-id-2", request_id.encode()),
        ]
        body = response.body
        if isinstance(body, bytes):
            length = response.length if response.length is not None else len(body)
            headers.append((b"content-length", str(length).encode()))
            await send(
                {"type": "http.response.start", "status": response.status, "headers": headers}
            )
            await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})
            return
        assert response.length is not None
        headers.append((b"content-length", str(response.length).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        while True:
            try:
                chunk = await anyio.to_thread.run_sync(next, body, None)
            except Exception:
                log.exception(
                    "request %s: the object stream failed after the response started", request_id
                )
                raise
            if chunk is None:
                break
            view = memoryview(chunk)
            for at in range(0, len(view), SEND_BYTES):  # small writes: bounded transport buffers
                piece = bytes(view[at : at + SEND_BYTES])
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            del view, chunk
        await send({"type": "http.response.body", "body": b""})


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


__all__ = ["GatewayApp", "parse_query", "route"]
