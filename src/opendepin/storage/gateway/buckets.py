"""Bucket operations: list, create, delete, head, location, and listing a bucket's objects.

Buckets belong to the account of the access key that created them. Another account's bucket
answers AccessDenied to everything, and creating a name someone else holds is
BucketAlreadyExists (the owner gets BucketAlreadyOwnedByYou).

**Listing** (ListObjectsV2, and V1 for older clients) walks the committed keys in order from
the position after `start-after` / the continuation token. With a delimiter, a key that
has one after the prefix is rolled into its common prefix, and the walk jumps past every
key of that prefix. `max-keys` counts keys and common prefixes together. The continuation
token is the walk's position (base64url), so it survives a gateway restart.
"""

from __future__ import annotations

import base64
import binascii
from typing import Final
from urllib.parse import quote

from opendepin.storage.gateway.context import (
    MAX_XML_BODY_BYTES,
    Gateway,
    Request,
    Response,
    check_bucket_name,
    quoted,
    xml_response,
)
from opendepin.storage.gateway.errors import S3Error, no_such_bucket
from opendepin.storage.gateway.xml import add, document, element, iso8601, list_buckets, parse
from opendepin.storage.metadata import ObjectRow

MAX_KEYS: Final = 1000
LAST_CHAR: Final = "\U0010ffff"
"""Appended to a common prefix: sorts after every key that starts with it."""
MAX_TOKEN_CHARS: Final = 4096


def list_all_buckets(gw: Gateway, req: Request) -> Response:
    rows = gw.metadata.buckets_of(req.account)
    gw.meter(req)
    return xml_response(list_buckets(req.account, [(b.name, b.created_ms) for b in rows]))


def create_bucket(gw: Gateway, req: Request) -> Response:
    assert req.bucket is not None
    check_bucket_name(req.bucket)
    body = req.body.read_all(MAX_XML_BODY_BYTES)
    if body.strip():
        root = parse(body, "CreateBucketConfiguration")
        for child in root:
            if child.tag.rsplit("}", 1)[-1] == "LocationConstraint":
                wanted = (child.text or "").strip()
                if wanted and wanted != gw.config.region:
                    raise S3Error(
                        "InvalidArgument",
                        f"this gateway serves region {gw.config.region!r}, not {wanted[:40]!r}",
                    )
    if not gw.metadata.create_bucket(req.bucket, gw.clock_ms(), owner=req.account):
        row = gw.metadata.bucket(req.bucket)
        if row is not None and row.owner == req.account:
            raise S3Error(
                "BucketAlreadyOwnedByYou",
                "Your previous request to create the named bucket succeeded and you already own it.",
                BucketName=req.bucket,
            )
        raise S3Error(
            "BucketAlreadyExists",
            "The requested bucket name is not available. Please select a different name.",
            BucketName=req.bucket,
        )
    gw.meter(req)
    return Response(200, [("Location", f"/{req.bucket}")])


def delete_bucket(gw: Gateway, req: Request) -> Response:
    assert req.bucket is not None
    gw.owned_bucket(req)
    try:
        gone = gw.metadata.delete_bucket(req.bucket)
    except ValueError:
        raise S3Error(
            "BucketNotEmpty", "The bucket you tried to delete is not empty", BucketName=req.bucket
        ) from None
    if not gone:
        raise no_such_bucket(req.bucket)
    gw.meter(req)
    return Response(204)


def head_bucket(gw: Gateway, req: Request) -> Response:
    gw.owned_bucket(req)
    gw.meter(req)
    return Response(200, [("x-amz-bucket-region", gw.config.region)])


def bucket_location(gw: Gateway, req: Request) -> Response:
    gw.owned_bucket(req)
    root = element(
        "LocationConstraint", None if gw.config.region == "us-east-1" else gw.config.region
    )
    return xml_response(document(root))


# ---- listing -------------------------------------------------------------------------------


def _token(position: str) -> str:
    return base64.urlsafe_b64encode(position.encode()).decode()


def _position(token: str) -> str:
    if len(token) > MAX_TOKEN_CHARS:
        raise S3Error("InvalidArgument", "The continuation token provided is incorrect")
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, ValueError):
        raise S3Error("InvalidArgument", "The continuation token provided is incorrect") from None


def _max_keys(req: Request) -> int:
    text = req.query.get("max-keys", str(MAX_KEYS))
    if not text.isdigit() or len(text) > 9:
        raise S3Error("InvalidArgument", "max-keys must be a non-negative integer")
    return min(int(text), MAX_KEYS)


def walk(
    gw: Gateway, bucket: str, prefix: str, delimiter: str, after: str, max_keys: int
) -> tuple[list[ObjectRow], list[str], bool, str]:
    """(objects, common prefixes, truncated, position of the last entry returned)."""
    keys: list[ObjectRow] = []
    prefixes: list[str] = []
    position = after
    while True:
        batch = gw.metadata.list_objects(bucket, prefix=prefix, after=position, limit=MAX_KEYS)
        if not batch:
            return keys, prefixes, False, position
        for row in batch:
            rest = row.key[len(prefix) :]
            cut = rest.find(delimiter) if delimiter else -1
            if len(keys) + len(prefixes) >= max_keys:
                return keys, prefixes, True, position
            if cut >= 0:
                common = prefix + rest[: cut + len(delimiter)]
                prefixes.append(common)
                position = common + LAST_CHAR
                break  # continue the walk past every key of this prefix
            keys.append(row)
            position = row.key
        else:
            if len(batch) < MAX_KEYS:
                return keys, prefixes, False, position


def list_objects(gw: Gateway, req: Request) -> Response:
    """ListObjectsV2 (`list-type=2`) or V1."""
    assert req.bucket is not None
    gw.owned_bucket(req)
    v2 = req.query.get("list-type") == "2"
    prefix = req.query.get("prefix", "")
    delimiter = req.query.get("delimiter", "")
    encoding = req.query.get("encoding-type")
    if encoding not in (None, "url"):
        raise S3Error("InvalidArgument", "Invalid Encoding Method specified in Request")
    max_keys = _max_keys(req)
    token = req.query.get("continuation-token") if v2 else None
    start_after = req.query.get("start-after", "") if v2 else req.query.get("marker", "")
    after = _position(token) if token is not None else start_after
    if not v2 and delimiter and after.endswith(delimiter) and after.startswith(prefix):
        after += LAST_CHAR  # a V1 NextMarker naming a common prefix: continue past all of it
    if max_keys == 0:
        rows: list[ObjectRow] = []
        commons: list[str] = []
        truncated, position = False, after
    else:
        rows, commons, truncated, position = walk(
            gw, req.bucket, prefix, delimiter, after, max_keys
        )

    def enc(text: str) -> str:
        return quote(text, safe="/") if encoding == "url" else text

    root = element("ListBucketResult")
    add(root, "Name", req.bucket)
    add(root, "Prefix", enc(prefix))
    if delimiter:
        add(root, "Delimiter", enc(delimiter))
    add(root, "MaxKeys", max_keys)
    if encoding:
        add(root, "EncodingType", encoding)
    add(root, "IsTruncated", truncated)
    if v2:
        add(root, "KeyCount", len(rows) + len(commons))
        if token is not None:
            add(root, "ContinuationToken", token)
        if truncated:
            add(root, "NextContinuationToken", _token(position))
        if "start-after" in req.query:
            add(root, "StartAfter", enc(start_after))
    else:
        add(root, "Marker", enc(start_after))
        if truncated and delimiter:
            add(root, "NextMarker", enc(position.removesuffix(LAST_CHAR)))
    owner = req.query.get("fetch-owner") == "true" or not v2
    for row in rows:
        c = add(root, "Contents")
        add(c, "Key", enc(row.key))
        add(c, "LastModified", iso8601(row.committed_ms or row.created_ms))
        add(c, "ETag", quoted(row.etag))
        add(c, "Size", row.size)
        add(c, "StorageClass", "STANDARD")
        if owner:
            o = add(c, "Owner")
            add(o, "ID", req.account)
            add(o, "DisplayName", req.account)
    for common in commons:
        add(add(root, "CommonPrefixes"), "Prefix", enc(common))
    gw.meter(req)
    return xml_response(document(root))


__all__ = [
    "bucket_location",
    "create_bucket",
    "delete_bucket",
    "head_bucket",
    "list_all_buckets",
    "list_objects",
    "walk",
]
