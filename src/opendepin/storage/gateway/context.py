"""The gateway's state and the shapes its operations share: a request in, a response out.

Operations (`buckets`, `objects`, `multipart`) are plain functions `(Gateway, Request) ->
Response` run in a worker thread; `app` does the HTTP around them. `Gateway` holds the
placer (metadata + nodes), the access keys, the configuration and the two hooks
(`hooks.Authoriser`, `hooks.UsageSink`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final

from opendepin.storage.gateway.body import RequestBody
from opendepin.storage.gateway.errors import S3Error, access_denied, no_such_bucket
from opendepin.storage.gateway.hooks import ALLOW_ALL, NO_USAGE, Authoriser, UsageEvent, UsageSink
from opendepin.storage.gateway.keys import KeyStore
from opendepin.storage.gateway.sigv4 import Identity
from opendepin.storage.metadata import BucketRow
from opendepin.storage.placer import Placer

MIB: Final = 1024 * 1024
MIN_PART_BYTES: Final = 5 * MIB
"""S3: every part but the last is at least 5 MiB."""
MAX_OBJECT_BYTES: Final = 5 * 1024 * MIB
"""S3: a single PUT (and a part) carries at most 5 GiB."""
MAX_XML_BODY_BYTES: Final = 2 * MIB
_BUCKET_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IPV4: Final = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")


def check_bucket_name(name: str) -> None:
    """S3's bucket naming rules; InvalidBucketName otherwise."""
    if (
        not _BUCKET_NAME.match(name)
        or _IPV4.match(name)
        or ".." in name
        or ".-" in name
        or "-." in name
        or name.startswith("xn--")
        or name.endswith("-s3alias")
    ):
        raise S3Error(
            "InvalidBucketName", "The specified bucket is not valid.", BucketName=name[:80]
        )


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """The gateway's S3 face."""

    region: str = "us-east-1"
    """The region clients sign for."""
    domains: tuple[str, ...] = ()
    """Base domains of virtual-host addressing (`bucket.<domain>`); path style always works."""
    min_part_bytes: int = MIN_PART_BYTES
    max_object_bytes: int = MAX_OBJECT_BYTES
    body_idle_timeout_seconds: float = 60.0
    """Longest wait for the next piece of a request body: a client that stops sending (a
    slowloris, a dead peer) gets S3's `RequestTimeout` and its upload is abandoned, instead of
    holding a worker thread and a half-written segment for ever."""


@dataclass(slots=True)
class Request:
    """An authenticated S3 request."""

    id: str
    method: str
    bucket: str | None
    key: str | None
    query: dict[str, str]
    headers: Mapping[str, str]
    identity: Identity
    body: RequestBody
    operation: str = ""

    @property
    def account(self) -> str:
        return self.identity.account

    @property
    def resource(self) -> str:
        if self.bucket is None:
            return "/"
        return f"/{self.bucket}" + ("" if self.key is None else f"/{self.key}")


@dataclass(slots=True)
class Response:
    """What an operation answers; `body` an iterator streams (its length in Content-Length)."""

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | Iterator[bytes] = b""
    length: int | None = None


def xml_response(body: bytes, status: int = 200) -> Response:
    return Response(status, [("Content-Type", "application/xml")], body)


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class Gateway:
    """Everything an operation needs."""

    def __init__(
        self,
        placer: Placer,
        keys: KeyStore,
        config: GatewayConfig | None = None,
        *,
        authoriser: Authoriser = ALLOW_ALL,
        usage: UsageSink = NO_USAGE,
        clock_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.placer = placer
        self.metadata = placer.metadata
        self.keys = keys
        self.config = config or GatewayConfig()
        self.authoriser = authoriser
        self.usage = usage
        self.clock_ms = clock_ms

    def owned_bucket(self, req: Request) -> BucketRow:
        """The request's bucket, which the caller's account must own."""
        assert req.bucket is not None
        row = self.metadata.bucket(req.bucket)
        if row is None:
            raise no_such_bucket(req.bucket)
        if row.owner != req.account:
            raise access_denied()
        return row

    def meter(
        self, req: Request, *, bytes_in: int = 0, bytes_out: int = 0, stored_delta: int = 0
    ) -> None:
        self.usage.record(
            UsageEvent(
                account=req.account,
                operation=req.operation,
                bucket=req.bucket,
                key=req.key,
                bytes_in=bytes_in,
                bytes_out=bytes_out,
                stored_delta=stored_delta,
                time_ms=self.clock_ms(),
                request_id=req.id,
            )
        )


def user_metadata(headers: Mapping[str, str]) -> dict[str, str]:
    """The x-amz-meta-* headers (names lower-case, prefix removed); MetadataTooLarge > 2 KiB."""
    meta = {k[len("x-amz-meta-") :]: v for k, v in headers.items() if k.startswith("x-amz-meta-")}
    if sum(len(k) + len(v) for k, v in meta.items()) > 2048:
        raise S3Error("MetadataTooLarge", "Your metadata headers exceed the maximum allowed size.")
    return meta


def quoted(etag: str | None) -> str:
    return f'"{etag or ""}"'


__all__ = [
    "MAX_OBJECT_BYTES",
    "MAX_XML_BODY_BYTES",
    "MIN_PART_BYTES",
    "Gateway",
    "GatewayConfig",
    "Request",
    "Response",
    "check_bucket_name",
    "quoted",
    "user_metadata",
    "wall_clock_ms",
    "xml_response",
]
