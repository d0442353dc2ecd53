"""Limits every JSON request body must respect before any parser sees it.

Why nesting needs a limit here: the stdlib JSON parser recurses in C once per nesting level,
guarded only by Python's recursion limit — and py_ecc (imported by the Ethereum libraries
we use) raises that limit to 100,000 at import. A body of ~100,000 `[` then overflows a
thread's C stack and kills the whole process: one unauthenticated request would take an
ingest node or an oracle down. So every JSON body is checked first: orjson, which stops at
depth 1,024 and validates ~3x faster than the stdlib parses, proves the bound for ordinary
bodies; the few it refuses for other reasons (NaN, a BOM, a lone surrogate escape, ...) are
measured by a bracket count outside strings.

`JsonBodyGuard` applies the check (and a size limit) to every route of an app, so routers
mounted later (the oracle's attestations) are covered too; a route that checks its own body
off the event loop (POST /v1/reports) is listed in `self_checked` and skipped.
"""

from __future__ import annotations

from collections.abc import Collection

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opendepin.http.problems import BODY_TOO_LARGE, NOT_JSON, ProblemError, problem_response
from opendepin.jsonlimits import MAX_JSON_NESTING, nesting_depth


async def read_body_capped(request: Request, max_bytes: int) -> bytes:
    """The request body, refused (BODY_TOO_LARGE) as soon as more than `max_bytes` arrived.

    A declared Content-Length over the limit is refused before reading; a chunked body is
    counted while it arrives, so a 200 MiB chunked upload costs at most `max_bytes` of memory.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ProblemError(BODY_TOO_LARGE, f"{declared} bytes; the limit is {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise ProblemError(BODY_TOO_LARGE, f"more than {max_bytes} bytes; the limit is {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def check_nesting(body: bytes) -> None:
    """Raise ProblemError(NOT_JSON) if the body nests deeper than MAX_JSON_NESTING."""
    try:
        orjson.loads(body)
        return
    except orjson.JSONDecodeError as exc:
        if str(exc).startswith("depth limit exceeded"):
            raise ProblemError(NOT_JSON, "invalid JSON: nested too deeply") from None
    if nesting_depth(body) > MAX_JSON_NESTING:
        raise ProblemError(NOT_JSON, "invalid JSON: nested too deeply")


class JsonBodyGuard:
    """ASGI middleware: buffer each request body, refuse it if too large or too deeply
    nested (RFC 9457 problem+json), else hand the same bytes on to the app."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, self_checked: Collection[str]) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.self_checked = frozenset(self_checked)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.self_checked:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # client went away
                await self.app(scope, _replay([], message), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await problem_response(
                    BODY_TOO_LARGE, f"more than {self.max_body_bytes} bytes"
                )(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if body:
            try:
                check_nesting(body)
            except ProblemError as exc:
                await problem_response(exc.problem, exc.detail)(scope, receive, send)
                return
        await self.app(scope, _replay([body], None, receive), send)


def _replay(bodies: list[bytes], then: Message | None, upstream: Receive | None = None) -> Receive:
    """A `receive` that yields the buffered body once, then `then`, else what the server's own
    `receive` says next (it blocks until the client really disconnects, so a streamed response
    is not cut off by a made-up disconnect)."""
    pending = [{"type": "http.request", "body": b, "more_body": False} for b in bodies]

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is not None:
            return then
        if upstream is not None:
            return await upstream()
        return {"type": "http.disconnect"}

    return receive
