"""Multipart upload: create, upload part, complete, abort, list parts, list uploads.

Each part is streamed into an object of the internal parts bucket (see
`opendepin.storage.metadata`), so a part acknowledged with its ETag is committed metadata and
survives a gateway restart or a kill -9. Completion checks the client's list against the
stored parts — ascending numbers (InvalidPartOrder), existing parts with matching ETags
(InvalidPart), every part but the last at least `min_part_bytes` (EntityTooSmall) — then
composes the object in one metadata transaction without moving any bytes. Its ETag is S3's:
`hex(md5(md5(part 1) ‖ … ‖ md5(part N)))-N`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from itertools import pairwise
from typing import BinaryIO, Final, cast

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
from opendepin.storage.gateway.errors import S3Error, access_denied, no_such_upload
from opendepin.storage.gateway.objects import check_key, placer_error
from opendepin.storage.gateway.xml import MAX_PARTS, add, document, element, iso8601, parse_complete
from opendepin.storage.metadata import PARTS_BUCKET, UploadRow, part_key

UPLOAD_ID: Final = re.compile(r"^[0-9a-f]{32}$")
MAX_LISTED_PARTS: Final = 1000


def multipart_etag(part_md5_hex: list[str]) -> str:
    """S3's multipart ETag (unquoted)."""
    joined = b"".join(bytes.fromhex(h) for h in part_md5_hex)
    return f"{hashlib.md5(joined, usedforsecurity=False).hexdigest()}-{len(part_md5_hex)}"


def _upload(gw: Gateway, req: Request) -> UploadRow:
    upload_id = req.query.get("uploadId", "")
    if not UPLOAD_ID.match(upload_id):
        raise no_such_upload(upload_id)
    row = gw.metadata.upload(upload_id)
    if row is None or row.bucket != req.bucket or row.key != req.key:
        raise no_such_upload(upload_id)
    if row.owner != req.account:
        raise access_denied()
    return row


def create_upload(gw: Gateway, req: Request) -> Response:
    assert req.bucket is not None and req.key is not None
    check_key(req.key)
    gw.owned_bucket(req)
    upload_id = secrets.token_hex(16)
    try:
        gw.metadata.begin_upload(
            upload_id,
            req.bucket,
            req.key,
            gw.clock_ms(),
            owner=req.account,
            content_type=req.headers.get("content-type"),
            user_metadata=user_metadata(req.headers),
        )
    except ValueError as exc:
        raise S3Error("MetadataTooLarge", str(exc)[:200]) from None
    gw.meter(req)
    root = element("InitiateMultipartUploadResult")
    add(root, "Bucket", req.bucket)
    add(root, "Key", req.key)
    add(root, "UploadId", upload_id)
    return xml_response(document(root))


def _part_number(req: Request) -> int:
    text = req.query.get("partNumber", "")
    if not text.isdigit() or not 1 <= int(text) <= MAX_PARTS:
        raise S3Error(
            "InvalidArgument", f"Part number must be an integer between 1 and {MAX_PARTS}"
        )
    return int(text)


def upload_part(gw: Gateway, req: Request) -> Response:
    gw.owned_bucket(req)
    number = _part_number(req)
    up = _upload(gw, req)
    if req.body.declared is None:
        raise S3Error("MissingContentLength", "You must provide the Content-Length HTTP header.")
    if req.body.declared > gw.config.max_object_bytes:
        raise S3Error("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size.")
    key = part_key(up.upload_id, number)
    old = gw.metadata.get_object(PARTS_BUCKET, key)
    try:
        reader = cast(BinaryIO, req.body.reader())  # read(n) is all the placer uses
        row = gw.placer.put_object(PARTS_BUCKET, key, reader)
    except PlacerError as exc:
        raise placer_error(exc, req) from None
    if gw.metadata.upload(up.upload_id) is None:  # completed or aborted meanwhile
        gw.placer.delete_object(PARTS_BUCKET, key)
        raise no_such_upload(up.upload_id)
    gw.meter(req, bytes_in=row.size, stored_delta=row.size - (old.size if old else 0))
    return Response(200, [("ETag", quoted(row.etag))])


def complete_upload(gw: Gateway, req: Request) -> Response:
    assert req.bucket is not None and req.key is not None
    gw.owned_bucket(req)
    up = _upload(gw, req)
    listed = parse_complete(req.body.read_all(MAX_XML_BODY_BYTES))
    numbers = [p.number for p in listed]
    if any(b <= a for a, b in pairwise(numbers)):
        raise S3Error("InvalidPartOrder", "The list of parts was not in ascending order.")
    stored = dict(gw.metadata.upload_parts(up.upload_id))
    chosen = []
    for i, part in enumerate(listed):
        row = stored.get(part.number)
        if row is None or row.etag != part.etag:
            raise S3Error(
                "InvalidPart",
                "One or more of the specified parts could not be found. The part may not have "
                "been uploaded, or the specified entity tag may not match the part's entity tag.",
                PartNumber=str(part.number),
            )
        if i < len(listed) - 1 and row.size < gw.config.min_part_bytes:
            raise S3Error(
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed object size.",
                PartNumber=str(part.number),
                MinSizeAllowed=str(gw.config.min_part_bytes),
            )
        chosen.append(row)
    etag = multipart_etag([r.etag or "" for r in chosen])
    size = sum(r.size for r in chosen)
    old = gw.metadata.get_object(req.bucket, req.key)
    unused = sum(r.size for n, r in stored.items() if n not in set(numbers))
    done = gw.metadata.complete_upload(
        up.upload_id,
        [(n, r.id) for n, r in zip(numbers, chosen, strict=True)],
        size,
        etag,
        gw.clock_ms(),
    )
    if done is None:
        raise no_such_upload(up.upload_id)
    gw.placer.flush_deletes()
    gw.meter(req, stored_delta=-unused - (old.size if old else 0))
    root = element("CompleteMultipartUploadResult")
    add(root, "Location", f"/{req.bucket}/{req.key}")
    add(root, "Bucket", req.bucket)
    add(root, "Key", req.key)
    add(root, "ETag", quoted(etag))
    return xml_response(document(root))


def abort_upload(gw: Gateway, req: Request) -> Response:
    gw.owned_bucket(req)
    up = _upload(gw, req)
    held = sum(r.size for _, r in gw.metadata.upload_parts(up.upload_id))
    if not gw.metadata.abort_upload(up.upload_id, gw.clock_ms()):
        raise no_such_upload(up.upload_id)
    gw.placer.flush_deletes()
    gw.meter(req, stored_delta=-held)
    return Response(204)


def list_parts(gw: Gateway, req: Request) -> Response:
    assert req.bucket is not None and req.key is not None
    gw.owned_bucket(req)
    up = _upload(gw, req)
    marker_text = req.query.get("part-number-marker", "0")
    max_text = req.query.get("max-parts", str(MAX_LISTED_PARTS))
    if not marker_text.isdigit() or not max_text.isdigit() or len(marker_text + max_text) > 12:
        raise S3Error("InvalidArgument", "part-number-marker and max-parts must be integers")
    marker, max_parts = int(marker_text), min(int(max_text), MAX_LISTED_PARTS)
    parts = [(n, r) for n, r in gw.metadata.upload_parts(up.upload_id) if n > marker]
    shown, truncated = parts[:max_parts], len(parts) > max_parts
    root = element("ListPartsResult")
    add(root, "Bucket", req.bucket)
    add(root, "Key", req.key)
    add(root, "UploadId", up.upload_id)
    for who in ("Initiator", "Owner"):
        el = add(root, who)
        add(el, "ID", req.account)
        add(el, "DisplayName", req.account)
    add(root, "StorageClass", "STANDARD")
    add(root, "PartNumberMarker", marker)
    add(root, "NextPartNumberMarker", shown[-1][0] if shown else marker)
    add(root, "MaxParts", max_parts)
    add(root, "IsTruncated", truncated)
    for number, row in shown:
        p = add(root, "Part")
        add(p, "PartNumber", number)
        add(p, "LastModified", iso8601(row.committed_ms or row.created_ms))
        add(p, "ETag", quoted(row.etag))
        add(p, "Size", row.size)
    gw.meter(req)
    return xml_response(document(root))


def list_uploads(gw: Gateway, req: Request) -> Response:
    assert req.bucket is not None
    gw.owned_bucket(req)
    prefix = req.query.get("prefix", "")
    rows = [u for u in gw.metadata.uploads_of(req.bucket) if u.key.startswith(prefix)]
    root = element("ListMultipartUploadsResult")
    add(root, "Bucket", req.bucket)
    add(root, "KeyMarker", "")
    add(root, "UploadIdMarker", "")
    add(root, "Prefix", prefix)
    add(root, "MaxUploads", 1000)
    add(root, "IsTruncated", False)
    for u in rows:
        el = add(root, "Upload")
        add(el, "Key", u.key)
        add(el, "UploadId", u.upload_id)
        add(el, "StorageClass", "STANDARD")
        add(el, "Initiated", iso8601(u.created_ms))
    gw.meter(req)
    return xml_response(document(root))


__all__ = [
    "abort_upload",
    "complete_upload",
    "create_upload",
    "list_parts",
    "list_uploads",
    "multipart_etag",
    "upload_part",
]
