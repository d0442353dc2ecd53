"""S3's XML: response documents in the 2006-03-01 namespace, and the two request bodies.

Responses are built as ElementTree elements (so text is always escaped) and serialised with
an XML declaration. Request bodies (`CompleteMultipartUpload`, `Delete`) are hostile input:
they are size-capped by the caller, documents with a DTD are refused (no entity expansion),
and every malformation is `S3Error("MalformedXML")`. Tags are matched with or without the
S3 namespace, as clients send either.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate
from typing import Final

from opendepin.storage.gateway.errors import S3Error

NAMESPACE: Final = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_DELETE_KEYS: Final = 1000
"""DeleteObjects takes at most this many keys per request (as S3)."""
MAX_PARTS: Final = 10_000


def iso8601(ms: int) -> str:
    """S3's timestamp form in XML bodies, e.g. 2026-01-01T00:00:00.000Z."""
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def http_date(ms: int) -> str:
    """The RFC 7231 date of headers such as Last-Modified."""
    return formatdate(ms / 1000, usegmt=True)


def element(tag: str, text: str | int | bool | None = None, *children: ET.Element) -> ET.Element:
    el = ET.Element(tag)
    if text is not None:
        el.text = ("true" if text else "false") if isinstance(text, bool) else str(text)
    el.extend(children)
    return el


def add(parent: ET.Element, tag: str, text: str | int | bool | None = None) -> ET.Element:
    child = element(tag, text)
    parent.append(child)
    return child


def document(root: ET.Element, *, namespace: bool = True) -> bytes:
    """The serialised document (root gets the S3 namespace unless `namespace` is False)."""
    if namespace:
        root.set("xmlns", NAMESPACE)
    body = ET.tostring(root, encoding="unicode")  # "unicode": never an XML declaration
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body.encode()


def error_document(code: str, message: str, resource: str, request_id: str, **extra: str) -> bytes:
    root = element("Error")
    add(root, "Code", code)
    add(root, "Message", message)
    for name, value in extra.items():
        add(root, name, value)
    add(root, "Resource", resource)
    add(root, "RequestId", request_id)
    return document(root, namespace=False)


def list_buckets(owner: str, buckets: Iterable[tuple[str, int]]) -> bytes:
    root = element("ListAllMyBucketsResult")
    who = add(root, "Owner")
    add(who, "ID", owner)
    add(who, "DisplayName", owner)
    holder = add(root, "Buckets")
    for name, created_ms in buckets:
        b = add(holder, "Bucket")
        add(b, "Name", name)
        add(b, "CreationDate", iso8601(created_ms))
    return document(root)


# ---- request bodies ------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse(body: bytes, root_tag: str) -> ET.Element:
    """The root element of a request body; MalformedXML unless it is `root_tag`."""
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise S3Error("MalformedXML", "document type declarations are not accepted")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise S3Error(
            "MalformedXML", f"The XML you provided was not well-formed: {exc}"[:200]
        ) from None
    if _local(root.tag) != root_tag:
        raise S3Error("MalformedXML", f"expected <{root_tag}>, got <{_local(root.tag)[:40]}>")
    return root


def _children(el: ET.Element, tag: str) -> list[ET.Element]:
    return [c for c in el if _local(c.tag) == tag]


def _text(el: ET.Element, tag: str) -> str | None:
    found = _children(el, tag)
    if len(found) > 1:
        raise S3Error("MalformedXML", f"<{tag}> given more than once")
    return None if not found else (found[0].text or "")


@dataclass(frozen=True, slots=True)
class CompletedPart:
    """One <Part> of a CompleteMultipartUpload body."""

    number: int
    etag: str


def parse_complete(body: bytes) -> list[CompletedPart]:
    """The parts listed by a CompleteMultipartUpload body, in the order given."""
    root = parse(body, "CompleteMultipartUpload")
    parts = []
    for p in _children(root, "Part"):
        number, etag = _text(p, "PartNumber"), _text(p, "ETag")
        if number is None or etag is None or not number.strip().isdigit():
            raise S3Error("MalformedXML", "each <Part> needs a <PartNumber> and an <ETag>")
        parts.append(CompletedPart(int(number.strip()), etag.strip().strip('"')))
        if len(parts) > MAX_PARTS:
            raise S3Error("MalformedXML", f"more than {MAX_PARTS} parts")
    if not parts:
        raise S3Error("MalformedXML", "a CompleteMultipartUpload needs at least one <Part>")
    return parts


def parse_delete(body: bytes) -> tuple[list[str], bool]:
    """(keys, quiet) of a DeleteObjects body."""
    root = parse(body, "Delete")
    quiet = (_text(root, "Quiet") or "false").strip().lower() == "true"
    keys = []
    for obj in _children(root, "Object"):
        key = _text(obj, "Key")
        if key is None or key == "":
            raise S3Error("MalformedXML", "each <Object> needs a <Key>")
        keys.append(key)
    if not keys or len(keys) > MAX_DELETE_KEYS:
        raise S3Error("MalformedXML", f"a Delete lists 1 to {MAX_DELETE_KEYS} objects")
    return keys, quiet


__all__ = [
    "MAX_DELETE_KEYS",
    "MAX_PARTS",
    "NAMESPACE",
    "CompletedPart",
    "add",
    "document",
    "element",
    "error_document",
    "http_date",
    "iso8601",
    "list_buckets",
    "parse",
    "parse_complete",
    "parse_delete",
]
