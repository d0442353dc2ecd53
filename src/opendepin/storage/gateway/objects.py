"""Object operations: put, get (ranged), head, delete, delete many, copy.

A PUT body streams into `Placer.put_object` (one segment in memory at a time) and the 200
is sent only after the object's row is committed, so an acknowledged object survives a
gateway restart. A GET streams segment by segment from the nodes. CopyObject streams the
source through the placer again (a new object with its own pieces; for a multipart source
the ETag becomes the MD5 of the whole object, as S3 does).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO, Final, cast
from urllib.parse import unquote

from opendepin.storage.directory import PlacerError
from opendepin.storage.gateway.context import (
    MAX_XML_BODY_BYTES,
    Gateway,
    Request,
    Response,
    quoted,
    user_metadata,
    xml_response,
)
from opendepin.storage.gateway.errors import S3Error, access_denied, no_such_bucket, no_such_key
from opendepin.storage.gateway.xml import add, document, element, http_date, iso8601, parse_delete
from opendepin.storage.metadata import KEY_MAX_CHARS, ObjectRow

DEFAULT_CONTENT_TYPE: Final = "binary/octet-stream"
_RANGE: Final = re.compile(r"^bytes=(\d*)-(\d*)$")
RESPONSE_OVERRIDES: Final = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}


def placer_error(exc: PlacerError, req: Request) -> S3Error:
    """The S3 error for a placer's refusal."""
    if exc.code == "no_such_bucket":
        return no_such_bucket(req.bucket or "")
    if exc.code == "no_such_object":
        return no_such_key(req.key or "")
    if exc.code == "invalid_range":
        return S3Error("InvalidRange", "The requested range is not satisfiable")
    if exc.code == "bad_metadata":
        return S3Error("MetadataTooLarge", exc.message[:200])
    return S3Error("ServiceUnavailable", f"the storage network cannot serve this now: {exc.code}")


def check_key(key: str) -> None:
    if len(key.encode()) > KEY_MAX_CHARS:
        raise S3Error("KeyTooLongError", "Your key is too long")


def _size_limit(gw: Gateway, req: Request) -> None:
    if req.body.declared is None:
        raise S3Error("MissingContentLength", "You must provide the Content-Length HTTP header.")
    if req.body.declared > gw.config.max_object_bytes:
        raise S3Error(
            "EntityTooLarge", "Your proposed upload exceeds the maximum allowed object size."
        )


def put_object(gw: Gateway, req: Request) -> Response:
    assert req.bucket is not None and req.key is not None
    check_key(req.key)
    gw.owned_bucket(req)
    _size_limit(gw, req)
    meta = user_metadata(req.headers)
    old = gw.metadata.get_object(req.bucket, req.key)
    try:
        row = gw.placer.put_object(
            req.bucket,
            req.key,
            cast(BinaryIO, req.body.reader()),  # read(n) is all the placer uses
            content_type=req.headers.get("content-type"),
            user_metadata=meta,
        )
    except PlacerError as exc:
        raise placer_error(exc, req) from None
    gw.meter(req, bytes_in=row.size, stored_delta=row.size - (old.size if old else 0))
    return Response(200, [("ETag", quoted(row.etag))])


def object_headers(row: ObjectRow) -> list[tuple[str, str]]:
    headers = [
        ("ETag", quoted(row.etag)),
        ("Last-Modified", http_date(row.committed_ms or row.created_ms)),
        ("Content-Type", row.content_type or DEFAULT_CONTENT_TYPE),
        ("Accept-Ranges", "bytes"),
    ]
    headers += [(f"x-amz-meta-{k}", v) for k, v in sorted(row.user_metadata.items())]
    if row.etag and row.etag.rpartition("-")[2].isdigit() and "-" in row.etag:
        headers.append(("x-amz-mp-parts-count", row.etag.rpartition("-")[2]))
    return headers


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """[start, end) of a single `bytes=` range; None to serve everything; InvalidRange."""
    if header is None:
        return None
    m = _RANGE.match(header.strip())
    if m is None or (not m.group(1) and not m.group(2)):
        return None  # unparseable or multi-range: ignored, the whole object is served (as S3)
    first, last = m.group(1), m.group(2)
    if not first:  # suffix: the last n bytes
        n = int(last)
        if n == 0 or size == 0:
            raise _unsatisfiable(size)
        return max(0, size - n), size
    start = int(first)
    end = size if not last else min(size, int(last) + 1)
    if start >= size or (last and int(last) < start):
        raise _unsatisfiable(size)
    return start, end


def _unsatisfiable(size: int) -> S3Error:
    return S3Error(
        "InvalidRange", "The requested range is not satisfiable", ActualObjectSize=str(size)
    )


def _preconditions(req: Request, row: ObjectRow) -> None:
    match = req.headers.get("if-match")
    if match is not None and match.strip() not in ("*", quoted(row.etag), row.etag):
        raise S3Error(
            "PreconditionFailed", "At least one of the pre-conditions you specified did not hold"
        )


def get_object(gw: Gateway, req: Request, *, head: bool = False) -> Response:
    assert req.bucket is not None and req.key is not None
    gw.owned_bucket(req)
    row = gw.metadata.get_object(req.bucket, req.key)
    if row is None:
        raise no_such_key(req.key)
    _preconditions(req, row)
    none_match = req.headers.get("if-none-match")
    if none_match is not None and none_match.strip() in ("*", quoted(row.etag)):
        return Response(304, [("ETag", quoted(row.etag))])
    byte_range = parse_range(req.headers.get("range"), row.size)
    start, end = byte_range if byte_range is not None else (0, row.size)
    headers = object_headers(row)
    for param, header in RESPONSE_OVERRIDES.items():
        if param in req.query:
            headers = [(k, v) for k, v in headers if k != header] + [(header, req.query[param])]
    status = 200
    if byte_range is not None:
        status = 206
        headers.append(("Content-Range", f"bytes {start}-{end - 1}/{row.size}"))
    if head:
        gw.meter(req)
        return Response(status, headers, b"", end - start)
    try:
        _, chunks = gw.placer.get_object(req.bucket, req.key, start, end - start)
    except PlacerError as exc:
        raise placer_error(exc, req) from None
    gw.meter(req, bytes_out=end - start)
    return Response(status, headers, _guarded(chunks, req), end - start)


def _guarded(chunks: Iterator[bytes], req: Request) -> Iterator[bytes]:
    try:
        yield from chunks
    except PlacerError as exc:
        raise placer_error(exc, req) from None


def delete_object(gw: Gateway, req: Request) -> Response:
    assert req.bucket is not None and req.key is not None
    gw.owned_bucket(req)
    gone = gw.metadata.delete_object(req.bucket, req.key, gw.clock_ms())
    gw.placer.flush_deletes()
    gw.meter(req, stored_delta=-(gone.size if gone else 0))
    return Response(204)


def delete_objects(gw: Gateway, req: Request) -> Response:
    assert req.bucket is not None
    gw.owned_bucket(req)
    keys, quiet = parse_delete(req.body.read_all(MAX_XML_BODY_BYTES))
    root = element("DeleteResult")
    freed = 0
    for key in keys:
        if len(key.encode()) > KEY_MAX_CHARS:
            err = add(root, "Error")
            add(err, "Key", key[:1024])
            add(err, "Code", "KeyTooLongError")
            add(err, "Message", "Your key is too long")
            continue
        gone = gw.metadata.delete_object(req.bucket, key, gw.clock_ms())
        freed += gone.size if gone else 0
        if not quiet:
            add(add(root, "Deleted"), "Key", key)
    gw.placer.flush_deletes()
    gw.meter(req, stored_delta=-freed)
    return xml_response(document(root))


def _copy_source(req: Request) -> tuple[str, str]:
    raw = unquote(req.headers["x-amz-copy-source"]).split("?", 1)
    if len(raw) > 1 and raw[1] and not raw[1].startswith("versionId=null"):
        raise S3Error("NotImplemented", "versioned copy sources are not supported")
    bucket, _, key = raw[0].lstrip("/").partition("/")
    if not bucket or not key:
        raise S3Error("InvalidArgument", "Copy Source must mention the source bucket and key")
    return bucket, key


def copy_object(gw: Gateway, req: Request) -> Response:
    assert req.bucket is not None and req.key is not None
    check_key(req.key)
    gw.owned_bucket(req)
    src_bucket, src_key = _copy_source(req)
    src_owner = gw.metadata.bucket(src_bucket)
    if src_owner is None:
        raise no_such_bucket(src_bucket)
    if src_owner.owner != req.account:
        raise access_denied()
    source = gw.metadata.get_object(src_bucket, src_key)
    if source is None:
        raise no_such_key(src_key)
    directive = req.headers.get("x-amz-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise S3Error("InvalidArgument", "Unknown metadata directive.")
    if directive == "COPY":
        meta, content_type = source.user_metadata, source.content_type
        if (src_bucket, src_key) == (req.bucket, req.key):
            raise S3Error(
                "InvalidRequest",
                "This copy request is illegal because it is trying to copy an object to itself "
                "without changing the object's metadata, storage class, website redirect "
                "location or encryption attributes.",
            )
    else:
        meta, content_type = user_metadata(req.headers), req.headers.get("content-type")
    old = gw.metadata.get_object(req.bucket, req.key)
    try:
        _, chunks = gw.placer.get_object(src_bucket, src_key)
        row = gw.placer.put_object(
            req.bucket, req.key, chunks, content_type=content_type, user_metadata=meta
        )
    except PlacerError as exc:
        raise placer_error(exc, req) from None
    gw.meter(req, stored_delta=row.size - (old.size if old else 0))
    root = element("CopyObjectResult")
    add(root, "LastModified", iso8601(row.committed_ms or row.created_ms))
    add(root, "ETag", quoted(row.etag))
    return xml_response(document(root))


__all__ = [
    "copy_object",
    "delete_object",
    "delete_objects",
    "get_object",
    "object_headers",
    "parse_range",
    "placer_error",
    "put_object",
]
