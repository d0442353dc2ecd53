"""AWS Signature Version 4, as S3 checks it: who sent a request, and was it altered.

A signed request names an access key and carries an HMAC over its *canonical request*:

```
canonical request = METHOD \n canonical URI \n canonical query \n canonical headers \n
                    signed header names \n payload hash
string to sign    = "AWS4-HMAC-SHA256" \n timestamp \n date/region/s3/aws4_request \n
                    hex(sha256(canonical request))
signing key       = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), "s3"), "aws4_request")
signature         = hex(HMAC(signing key, string to sign))
```

Two places carry it: the `Authorization` header (the timestamp in `x-amz-date`, at most
`MAX_CLOCK_SKEW_SECONDS` from the gateway's clock) and the query of a presigned URL
(`X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires` ≤ 7 days, `X-Amz-SignedHeaders`,
`X-Amz-Signature`; expired → AccessDenied "Request has expired").

The payload hash line is `x-amz-content-sha256`: the body's hex SHA-256 (the gateway
re-computes it while streaming and refuses a mismatch with XAmzContentSHA256Mismatch; the
object is then never committed), `UNSIGNED-PAYLOAD` (presigned URLs always), or an
`aws-chunked` body: `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`, where every chunk
`<hex size>;chunk-signature=<sig>\r\n<data>\r\n` is signed, chained from the header's
signature (`ChunkDecoder`), or `STREAMING-UNSIGNED-PAYLOAD-TRAILER` (chunks without
signatures, checksums in trailers).

Everything here parses hostile input: failures are `S3Error` with S3's code, never another
exception. The canonical URI is tried as sent and as S3 re-encodes it, since clients differ
in which characters they escape.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final
from urllib.parse import quote

from opendepin.storage.gateway.errors import S3Error, access_denied

ALGORITHM: Final = "AWS4-HMAC-SHA256"
MAX_CLOCK_SKEW_SECONDS: Final = 900
MAX_PRESIGNED_EXPIRES_SECONDS: Final = 604_800
MAX_CHUNK_BYTES: Final = 16 * 1024 * 1024
"""An aws-chunked chunk is held whole until its signature is checked: at most this big."""
MAX_CHUNK_HEADER_BYTES: Final = 4096
EMPTY_SHA256: Final = hashlib.sha256(b"").hexdigest()
UNSIGNED: Final = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED: Final = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_UNSIGNED_TRAILER: Final = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
_HEX64: Final = re.compile(r"^[0-9a-f]{64}$")
_AMZ_DATE: Final = "%Y%m%dT%H%M%SZ"

Lookup = Callable[[str], "tuple[str, str] | None"]
"""access key id -> (account, secret) of an active key, or None."""


class Payload(StrEnum):
    """How the body is protected."""

    SIGNED = "signed"
    """x-amz-content-sha256 is the body's SHA-256 (checked while streaming)."""
    UNSIGNED = "unsigned"
    CHUNKED_SIGNED = "chunked-signed"
    CHUNKED_UNSIGNED = "chunked-unsigned"


@dataclass(frozen=True, slots=True)
class RequestView:
    """What signing covers: method, path as sent, query pairs (decoded), headers (lower-case)."""

    method: str
    raw_path: str
    """The path as sent (percent-escapes kept)."""
    path: str
    """The path percent-decoded (UTF-8)."""
    query: Sequence[tuple[str, str]]
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated request: whose key, and how its body is to be checked."""

    access_key_id: str
    account: str
    payload: Payload
    payload_sha256: str | None
    """The claimed body hash (hex) when payload is SIGNED."""
    signing_key: bytes
    signature: str
    amz_date: str
    scope: str


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str = "s3") -> bytes:
    k = _hmac(("AWS4" + secret).encode(), date)
    return _hmac(_hmac(_hmac(k, region), service), "aws4_request")


def uri_encode(text: str, *, slash: bool = True) -> str:
    """AWS's encoding: everything but A-Z a-z 0-9 - . _ ~ (and '/' when `slash`) as %XX."""
    return quote(text, safe="/~" if slash else "~")


def canonical_query(query: Sequence[tuple[str, str]], *, skip: str | None = None) -> str:
    pairs = sorted(
        (uri_encode(k, slash=False), uri_encode(v, slash=False)) for k, v in query if k != skip
    )
    return "&".join(f"{k}={v}" for k, v in pairs)


def _canonical_headers(headers: Mapping[str, str], names: list[str]) -> str:
    lines = []
    for name in names:
        if name not in headers:
            raise S3Error("SignatureDoesNotMatch", f"signed header {name[:60]!r} is missing")
        lines.append(f"{name}:{' '.join(headers[name].split())}\n")
    return "".join(lines)


def _uri_candidates(raw_path: str, path: str) -> list[str]:
    sent = raw_path or "/"
    again = uri_encode(path or "/")
    return [sent] if again == sent else [sent, again]


def string_to_sign(amz_date: str, scope: str, canonical_request: str) -> str:
    digest = hashlib.sha256(canonical_request.encode()).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


def _parse_date(text: str, where: str) -> datetime:
    try:
        return datetime.strptime(text, _AMZ_DATE).replace(tzinfo=UTC)
    except ValueError:
        raise S3Error(
            "AccessDenied", f"{where}: {text[:40]!r} is not a YYYYMMDDTHHMMSSZ time"
        ) from None


def _credential(value: str, region: str, amz_date: str, code: str) -> tuple[str, str]:
    parts = value.split("/")
    if len(parts) != 5 or parts[3] != "s3" or parts[4] != "aws4_request":
        raise S3Error(code, f"malformed credential {value[:120]!r}")
    key_id, date, cred_region = parts[0], parts[1], parts[2]
    if date != amz_date[:8]:
        raise S3Error(code, f"the credential date {date[:16]!r} is not the request's date")
    if cred_region != region:
        raise S3Error(
            code, f"the region {cred_region[:32]!r} is wrong; expecting {region!r}", Region=region
        )
    return key_id, "/".join(parts[1:])


def _verify(
    view: RequestView,
    lookup: Lookup,
    key_id: str,
    scope: str,
    amz_date: str,
    signed_names: list[str],
    query: str,
    payload_line: str,
    signature: str,
) -> tuple[str, bytes]:
    found = lookup(key_id)
    if found is None:
        raise S3Error(
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
            AWSAccessKeyId=key_id[:128],
        )
    account, secret = found
    if "host" not in signed_names:
        raise S3Error("AccessDenied", "the Host header must be signed")
    date, region = scope.split("/")[0], scope.split("/")[1]
    key = signing_key(secret, date, region)
    headers = _canonical_headers(view.headers, signed_names)
    for uri in _uri_candidates(view.raw_path, view.path):
        canonical = "\n".join(
            [view.method, uri, query, headers, ";".join(signed_names), payload_line]
        )
        expected = hmac.new(
            key, string_to_sign(amz_date, scope, canonical).encode(), hashlib.sha256
        ).hexdigest()
        if hmac.compare_digest(expected, signature):
            return account, key
    raise S3Error(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
    )


def _payload(value: str | None) -> tuple[Payload, str | None]:
    if value is None:
        raise S3Error(
            "InvalidRequest", "Missing required header for this request: x-amz-content-sha256"
        )
    if value == UNSIGNED:
        return Payload.UNSIGNED, None
    if value == STREAMING_SIGNED:
        return Payload.CHUNKED_SIGNED, None
    if value == STREAMING_UNSIGNED_TRAILER:
        return Payload.CHUNKED_UNSIGNED, None
    if _HEX64.match(value):
        return Payload.SIGNED, value
    raise S3Error(
        "InvalidArgument", f"x-amz-content-sha256 {value[:80]!r} is not a SHA-256 hex digest"
    )


def authenticate(view: RequestView, lookup: Lookup, now_s: float, region: str) -> Identity:
    """Check the request's signature (header or presigned); its identity, or S3Error."""
    auth = view.headers.get("authorization")
    params = dict(view.query)
    if auth is not None:
        return _from_header(view, auth, lookup, now_s, region)
    if "X-Amz-Signature" in params or "X-Amz-Credential" in params:
        return _from_query(view, params, lookup, now_s, region)
    if "Signature" in params or "AWSAccessKeyId" in params:
        raise S3Error(
            "AccessDenied", "Signature Version 2 is not supported; use Signature Version 4"
        )
    raise access_denied("Anonymous access is not allowed: sign the request (Signature Version 4)")


_AUTH_FIELDS: Final = re.compile(r"\s*(Credential|SignedHeaders|Signature)\s*=\s*([^,\s]*)\s*")


def _from_header(
    view: RequestView, auth: str, lookup: Lookup, now_s: float, region: str
) -> Identity:
    code = "AuthorizationHeaderMalformed"
    if not auth.startswith(ALGORITHM + " "):
        if auth.startswith("AWS "):
            raise S3Error("AccessDenied", "Signature Version 2 is not supported; use Version 4")
        raise S3Error(code, "the authorization header must use AWS4-HMAC-SHA256")
    fields: dict[str, str] = {}
    for part in auth[len(ALGORITHM) + 1 :].split(","):
        m = _AUTH_FIELDS.fullmatch(part)
        if m is None:
            raise S3Error(code, "the authorization header is malformed")
        fields[m.group(1)] = m.group(2)
    if set(fields) != {"Credential", "SignedHeaders", "Signature"}:
        raise S3Error(code, "the authorization header needs Credential, SignedHeaders, Signature")
    amz_date = view.headers.get("x-amz-date")
    if amz_date is None:
        raise S3Error("AccessDenied", "AWS authentication requires a valid x-amz-date header")
    when = _parse_date(amz_date, "x-amz-date")
    if abs(when.timestamp() - now_s) > MAX_CLOCK_SKEW_SECONDS:
        raise S3Error(
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        )
    key_id, scope = _credential(fields["Credential"], region, amz_date, code)
    payload, claimed = _payload(view.headers.get("x-amz-content-sha256"))
    names = fields["SignedHeaders"].split(";")
    account, key = _verify(
        view,
        lookup,
        key_id,
        scope,
        amz_date,
        names,
        canonical_query(view.query),
        view.headers["x-amz-content-sha256"],
        fields["Signature"],
    )
    return Identity(key_id, account, payload, claimed, key, fields["Signature"], amz_date, scope)


def _from_query(
    view: RequestView, params: dict[str, str], lookup: Lookup, now_s: float, region: str
) -> Identity:
    code = "AuthorizationQueryParametersError"
    needed = ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires"]
    needed += ["X-Amz-SignedHeaders", "X-Amz-Signature"]
    missing = [n for n in needed if n not in params]
    if missing:
        raise S3Error(code, f"the presigned URL lacks {', '.join(missing)}")
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise S3Error(code, "X-Amz-Algorithm must be AWS4-HMAC-SHA256")
    expires_text = params["X-Amz-Expires"]
    if not expires_text.isdigit() or not 0 < int(expires_text) <= MAX_PRESIGNED_EXPIRES_SECONDS:
        raise S3Error(code, f"X-Amz-Expires must be 1 to {MAX_PRESIGNED_EXPIRES_SECONDS} seconds")
    amz_date = params["X-Amz-Date"]
    when = _parse_date(amz_date, "X-Amz-Date").timestamp()
    if now_s > when + int(expires_text):
        raise access_denied("Request has expired")
    if when - now_s > MAX_CLOCK_SKEW_SECONDS:
        raise access_denied("Request is not valid yet")
    key_id, scope = _credential(params["X-Amz-Credential"], region, amz_date, code)
    claimed = view.headers.get("x-amz-content-sha256") or params.get("X-Amz-Content-Sha256")
    payload_line = claimed if claimed is not None else UNSIGNED
    payload, digest = _payload(payload_line)
    if payload not in (Payload.UNSIGNED, Payload.SIGNED):
        raise S3Error(code, "a presigned request cannot carry an aws-chunked body")
    names = params["X-Amz-SignedHeaders"].split(";")
    signature = params["X-Amz-Signature"]
    account, key = _verify(
        view,
        lookup,
        key_id,
        scope,
        amz_date,
        names,
        canonical_query(view.query, skip="X-Amz-Signature"),
        payload_line,
        signature,
    )
    return Identity(key_id, account, payload, digest, key, signature, amz_date, scope)


# ---- aws-chunked bodies ------------------------------------------------------------------


class ChunkDecoder:
    """Incremental aws-chunked decoder: feed encoded bytes, get payload bytes back.

    With `identity.payload == CHUNKED_SIGNED` each chunk is held until its signature (chained
    from the previous one, starting at the header signature) is checked, so no unverified
    byte is ever returned. `finish` checks the final zero-length chunk arrived and returns
    the trailers (name -> value) of a trailer-carrying body.
    """

    def __init__(self, identity: Identity) -> None:
        self._id = identity
        self._signed = identity.payload is Payload.CHUNKED_SIGNED
        self._previous = identity.signature
        self._buffer = bytearray()
        self._done = False
        self.trailers: dict[str, str] = {}

    def _check(self, signature: str | None, data: bytes) -> None:
        if not self._signed:
            return
        if signature is None:
            raise S3Error("SignatureDoesNotMatch", "an aws-chunked chunk lacks its chunk-signature")
        text = "\n".join(
            [
                "AWS4-HMAC-SHA256-PAYLOAD",
                self._id.amz_date,
                self._id.scope,
                self._previous,
                EMPTY_SHA256,
                hashlib.sha256(data).hexdigest(),
            ]
        )
        expected = hmac.new(self._id.signing_key, text.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise S3Error("SignatureDoesNotMatch", "a chunk's signature does not match")
        self._previous = signature

    def feed(self, data: bytes) -> list[bytes]:
        if self._done:
            if data.strip(b"\r\n"):
                self._buffer.extend(data)
                self._parse_trailers()
            return []
        self._buffer.extend(data)
        out: list[bytes] = []
        while not self._done:
            line_end = self._buffer.find(b"\r\n")
            if line_end < 0:
                if len(self._buffer) > MAX_CHUNK_HEADER_BYTES:
                    raise S3Error("IncompleteBody", "an aws-chunked chunk header is too long")
                break
            header = bytes(self._buffer[:line_end]).decode("latin-1")
            size_text, _, ext = header.partition(";")
            try:
                size = int(size_text.strip(), 16)
            except ValueError:
                raise S3Error("IncompleteBody", "malformed aws-chunked chunk size") from None
            if size < 0 or size > MAX_CHUNK_BYTES:
                raise S3Error(
                    "InvalidArgument", f"aws-chunked chunks are at most {MAX_CHUNK_BYTES} B"
                )
            signature = None
            if ext:
                name, _, value = ext.partition("=")
                if name.strip() == "chunk-signature":
                    signature = value.strip()
            if size == 0:
                self._check(signature, b"")
                del self._buffer[: line_end + 2]
                self._done = True
                self._parse_trailers()
                break
            if len(self._buffer) < line_end + 2 + size + 2:
                break
            body = bytes(self._buffer[line_end + 2 : line_end + 2 + size])
            if self._buffer[line_end + 2 + size : line_end + 4 + size] != b"\r\n":
                raise S3Error("IncompleteBody", "an aws-chunked chunk is not followed by CRLF")
            self._check(signature, body)
            del self._buffer[: line_end + 4 + size]
            out.append(body)
        return out

    def _parse_trailers(self) -> None:
        if len(self._buffer) > MAX_CHUNK_HEADER_BYTES:
            raise S3Error("IncompleteBody", "aws-chunked trailers are too long")
        for line in bytes(self._buffer).decode("latin-1").split("\r\n"):
            name, sep, value = line.partition(":")
            if sep:
                self.trailers[name.strip().lower()] = value.strip()

    def finish(self) -> dict[str, str]:
        if not self._done:
            raise S3Error("IncompleteBody", "the aws-chunked body ended before its final chunk")
        return self.trailers


__all__ = [
    "ALGORITHM",
    "EMPTY_SHA256",
    "MAX_CLOCK_SKEW_SECONDS",
    "STREAMING_SIGNED",
    "STREAMING_UNSIGNED_TRAILER",
    "UNSIGNED",
    "ChunkDecoder",
    "Identity",
    "Lookup",
    "Payload",
    "RequestView",
    "authenticate",
    "canonical_query",
    "signing_key",
    "string_to_sign",
    "uri_encode",
]
