"""A request body, streamed from the connection and checked as it passes.

The S3 operation runs in a worker thread and pulls the body chunk by chunk from the event
loop (`Receive`), so an object of any size flows through with one chunk (plus, for signed
aws-chunked bodies, one aws chunk) in memory. What the signature and headers promised is
verified on the way — the SHA-256 of `x-amz-content-sha256`, each aws-chunked chunk
signature, `Content-MD5`, `x-amz-checksum-{crc32,sha1,sha256}` (header or trailer) and the
declared length — and a broken promise is raised as S3Error from the iterator *at the end
of the body, before the consumer sees end-of-stream*: the placer then abandons the upload
and the object is never committed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Callable, Iterator, Mapping
from typing import Final

from opendepin.storage.gateway.errors import S3Error
from opendepin.storage.gateway.sigv4 import ChunkDecoder, Identity, Payload

Receive = Callable[[], tuple[bytes, bool]]
"""Next (bytes, more_body) of the request; raises S3Error(IncompleteBody) on disconnect."""

CHECKSUM_HEADERS: Final = ("x-amz-checksum-crc32", "x-amz-checksum-sha1", "x-amz-checksum-sha256")


class _Crc32:
    def __init__(self) -> None:
        self.value = 0

    def update(self, data: bytes) -> None:
        self.value = zlib.crc32(data, self.value)

    def digest(self) -> bytes:
        return self.value.to_bytes(4, "big")


def _decoded_b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise S3Error("InvalidDigest", f"{what} is not base64") from None


def declared_length(headers: Mapping[str, str], identity: Identity | None) -> int | None:
    """The payload length the client declared (decoded length for aws-chunked)."""
    chunked = identity is not None and identity.payload in (
        Payload.CHUNKED_SIGNED,
        Payload.CHUNKED_UNSIGNED,
    )
    text = headers.get("x-amz-decoded-content-length" if chunked else "content-length")
    if text is None:
        if chunked:
            raise S3Error(
                "MissingContentLength", "aws-chunked bodies need x-amz-decoded-content-length"
            )
        return None
    if not text.strip().isdigit() or len(text) > 20:
        raise S3Error("InvalidArgument", f"bad content length {text[:30]!r}")
    return int(text)


class RequestBody:
    """The payload of one request; iterate `chunks()` once."""

    def __init__(
        self, receive: Receive, headers: Mapping[str, str], identity: Identity | None
    ) -> None:
        self._receive = receive
        self._headers = headers
        self._identity = identity
        self.declared = declared_length(headers, identity)
        self.received = 0
        self._used = False

    def chunks(self) -> Iterator[bytes]:
        if self._used:
            raise RuntimeError("a request body is read once")
        self._used = True
        identity = self._identity
        decoder = (
            ChunkDecoder(identity)
            if identity is not None
            and identity.payload in (Payload.CHUNKED_SIGNED, Payload.CHUNKED_UNSIGNED)
            else None
        )
        sha = (
            hashlib.sha256()
            if identity is not None and identity.payload is Payload.SIGNED
            else None
        )
        md5 = hashlib.md5(usedforsecurity=False) if "content-md5" in self._headers else None
        sums: dict[str, _Crc32 | hashlib._Hash] = {}
        names = list(CHECKSUM_HEADERS)
        trailer = self._headers.get("x-amz-trailer", "").strip().lower()
        for name in names:
            if name in self._headers or name == trailer:
                sums[name] = (
                    _Crc32() if name.endswith("crc32") else hashlib.new(name.rsplit("-", 1)[1])
                )
        more = True
        while more:
            raw, more = self._receive()
            pieces = decoder.feed(raw) if decoder is not None else ([raw] if raw else [])
            for piece in pieces:
                self.received += len(piece)
                if self.declared is not None and self.received > self.declared:
                    raise S3Error("IncompleteBody", "the body is longer than its declared length")
                if sha is not None:
                    sha.update(piece)
                if md5 is not None:
                    md5.update(piece)
                for h in sums.values():
                    h.update(piece)
                yield piece
        trailers = decoder.finish() if decoder is not None else {}
        if self.declared is not None and self.received != self.declared:
            raise S3Error(
                "IncompleteBody",
                f"You did not provide the number of bytes specified by the Content-Length "
                f"HTTP header ({self.received} of {self.declared})",
            )
        if sha is not None and identity is not None and sha.hexdigest() != identity.payload_sha256:
            raise S3Error(
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            )
        if md5 is not None and md5.digest() != _decoded_b64(
            self._headers["content-md5"], "Content-MD5"
        ):
            raise S3Error(
                "BadDigest", "The Content-MD5 you specified did not match what we received."
            )
        for name, h in sums.items():
            claimed = self._headers.get(name) or trailers.get(name)
            if claimed is None:
                continue
            if h.digest() != _decoded_b64(claimed, name):
                raise S3Error(
                    "BadDigest", f"The {name} you specified did not match the calculated checksum."
                )

    def reader(self) -> ChunkReader:
        """The body as a file-like `read(n)` (what the placer reads segments with)."""
        return ChunkReader(self.chunks())

    def read_all(self, limit: int) -> bytes:
        """The whole (small) body; EntityTooLarge beyond `limit` bytes."""
        if self.declared is not None and self.declared > limit:
            raise S3Error("EntityTooLarge", f"this request's body is limited to {limit} bytes")
        parts, size = [], 0
        for chunk in self.chunks():
            size += len(chunk)
            if size > limit:
                raise S3Error("EntityTooLarge", f"this request's body is limited to {limit} bytes")
            parts.append(chunk)
        return b"".join(parts)


class ChunkReader:
    """`read(n)` over an iterator of chunks, joining each result once (no growing buffer)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._left = b""

    def read(self, n: int = -1) -> bytes:
        parts, size = [], 0
        if self._left:
            parts.append(self._left)
            size = len(self._left)
            self._left = b""
        while n < 0 or size < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            parts.append(chunk)
            size += len(chunk)
        data = b"".join(parts)
        del parts
        if 0 <= n < len(data):
            data, self._left = data[:n], data[n:]
        return data


__all__ = ["ChunkReader", "Receive", "RequestBody", "declared_length"]
