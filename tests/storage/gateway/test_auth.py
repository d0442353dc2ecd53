"""Authentication and integrity: SigV4 header and presigned, keys, payload hashes, aws-chunked,
and the credits/metering hooks. Each refusal is checked for S3's code and for changing nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
import zlib
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from opendepin.storage.gateway.hooks import Access

from ..cluster import Cluster
from .harness import REGION, GatewayServer, make_client, signed_headers
from .test_buckets import code


@pytest.fixture
def bucket(s3: Any) -> str:
    s3.create_bucket(Bucket="auth")
    s3.put_object(Bucket="auth", Key="k", Body=b"kept")
    return "auth"


def _nothing_pending(gateway: GatewayServer) -> bool:
    assert gateway.placer is not None
    return gateway.placer.metadata.abandoned_uploads(int(time.time() * 1000) + 10**9) == []


def test_wrong_secret_unknown_and_revoked_keys(gateway: GatewayServer, bucket: str) -> None:
    key_id, secret = gateway.new_key("alice")
    wrong = make_client(gateway.url, key_id, secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    with pytest.raises(ClientError) as exc:
        wrong.put_object(Bucket=bucket, Key="k", Body=b"overwritten?")
    assert code(exc) == "SignatureDoesNotMatch"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    unknown = make_client(gateway.url, "DPNUNKNOWNKEY0000000", secret)
    with pytest.raises(ClientError) as exc:
        unknown.list_buckets()
    assert code(exc) == "InvalidAccessKeyId"
    good = make_client(gateway.url, key_id, secret)
    assert good.get_object(Bucket=bucket, Key="k")["Body"].read() == b"kept"
    assert gateway.keys.revoke(key_id, 1)
    with pytest.raises(ClientError) as exc:
        good.get_object(Bucket=bucket, Key="k")
    assert code(exc) == "InvalidAccessKeyId"


def test_presigned_get_and_put(gateway: GatewayServer, s3: Any, bucket: str) -> None:
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=60
    )
    got = httpx.get(url)
    assert got.status_code == 200 and got.content == b"kept"
    data = os.urandom(100_000)
    put_url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "uploaded"}, ExpiresIn=60
    )
    assert httpx.put(put_url, content=data).status_code == 200
    assert s3.get_object(Bucket=bucket, Key="uploaded")["Body"].read() == data
    # the URL is bound to its key: another key with the same signature is refused
    other = url.replace("/auth/k?", "/auth/uploaded?")
    refused = httpx.get(other)
    assert refused.status_code == 403 and b"SignatureDoesNotMatch" in refused.content


def test_expired_presigned_url(gateway: GatewayServer, s3: Any, bucket: str) -> None:
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=5
    )
    assert httpx.get(url).status_code == 200
    assert gateway.gateway is not None
    gateway.gateway.clock_ms = lambda: time.time_ns() // 1_000_000 + 6_000
    refused = httpx.get(url)
    assert refused.status_code == 403
    assert b"<Code>AccessDenied</Code>" in refused.content
    assert b"Request has expired" in refused.content


def test_clock_skew(gateway: GatewayServer, s3: Any, bucket: str) -> None:
    assert gateway.gateway is not None
    gateway.gateway.clock_ms = lambda: time.time_ns() // 1_000_000 + 16 * 60_000
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="k")
    assert code(exc) == "RequestTimeTooSkewed"


def test_tampered_payload_hash_is_refused_and_nothing_stored(
    nodes: Cluster, gateway: GatewayServer, s3: Any, bucket: str
) -> None:
    def tamper(request: Any, **_: Any) -> None:
        request.body = b"E" * 200_000  # same length, not what x-amz-content-sha256 promises

    s3.meta.events.register("before-send.s3.PutObject", tamper)
    before = sum(1 for n in nodes.nodes for _ in (n.directory / "pieces").rglob("*") if _.is_file())
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="k", Body=os.urandom(200_000))
    assert code(exc) == "XAmzContentSHA256Mismatch"
    s3.meta.events.unregister("before-send.s3.PutObject", tamper)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"kept"
    assert _nothing_pending(gateway)
    after = sum(1 for n in nodes.nodes for _ in (n.directory / "pieces").rglob("*") if _.is_file())
    assert after == before  # the pieces already placed for the refused body were deleted


def test_content_md5_mismatch(gateway: GatewayServer, s3: Any, bucket: str) -> None:
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="md5", Body=b"payload", ContentMD5=wrong)
    assert code(exc) == "BadDigest"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="md5")


def _chunk_signature(key: bytes, amz_date: str, scope: str, previous: str, data: bytes) -> str:
    text = "\n".join(
        ["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous,
         hashlib.sha256(b"").hexdigest(), hashlib.sha256(data).hexdigest()]
    )  # fmt: skip
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def _signing_key(secret: str, date: str) -> bytes:
    k = ("AWS4" + secret).encode()
    for part in (date, REGION, "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def _streaming_put(
    gateway: GatewayServer, key_id: str, secret: str, url: str, data: bytes, *, tamper: bool = False
) -> httpx.Response:
    chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)] + [b""]
    encoded_len = sum(
        len(f"{len(c):x};chunk-signature=".encode()) + 64 + 4 + len(c) for c in chunks
    )
    headers = signed_headers(
        "PUT", url, key_id, secret, payload_hash="STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        headers={"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data)),
                 "Content-Length": str(encoded_len)},
    )  # fmt: skip
    seed = headers["Authorization"].rsplit("Signature=", 1)[1]
    amz_date = headers["X-Amz-Date"]
    scope = f"{amz_date[:8]}/{REGION}/s3/aws4_request"
    key = _signing_key(secret, amz_date[:8])
    body, previous = bytearray(), seed
    for i, c in enumerate(chunks):
        sig = _chunk_signature(key, amz_date, scope, previous, c)
        previous = sig
        sent = (b"X" * len(c)) if tamper and i == 1 else c
        body += f"{len(c):x};chunk-signature={sig}\r\n".encode() + sent + b"\r\n"
    assert len(body) == encoded_len
    return httpx.put(url, content=bytes(body), headers=headers)


def test_aws_chunked_signed_upload(gateway: GatewayServer, s3: Any, bucket: str) -> None:
    key_id, secret = gateway.new_key("alice")
    data = os.urandom(200_000)
    url = f"{gateway.url}/{bucket}/streamed"
    answer = _streaming_put(gateway, key_id, secret, url, data)
    assert answer.status_code == 200, answer.text
    assert answer.headers["etag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert s3.get_object(Bucket=bucket, Key="streamed")["Body"].read() == data
    refused = _streaming_put(
        gateway, key_id, secret, f"{gateway.url}/{bucket}/evil", data, tamper=True
    )
    assert refused.status_code == 403 and b"<Code>SignatureDoesNotMatch</Code>" in refused.content
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="evil")
    assert _nothing_pending(gateway)


def test_aws_chunked_unsigned_with_trailer(gateway: GatewayServer, s3: Any, bucket: str) -> None:
    key_id, secret = gateway.new_key("alice")
    data = os.urandom(150_000)
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()

    def body(checksum: str) -> bytes:
        chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)]
        out = b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in chunks)
        return out + f"0\r\nx-amz-checksum-crc32:{checksum}\r\n\r\n".encode()

    for checksum, status in [(crc, 200), (base64.b64encode(b"\0\0\0\0").decode(), 400)]:
        url = f"{gateway.url}/{bucket}/trailer-{status}"
        encoded = body(checksum)
        headers = signed_headers(
            "PUT", url, key_id, secret, payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            headers={"Content-Encoding": "aws-chunked", "x-amz-trailer": "x-amz-checksum-crc32",
                     "x-amz-decoded-content-length": str(len(data)),
                     "Content-Length": str(len(encoded))},
        )  # fmt: skip
        answer = httpx.put(url, content=encoded, headers=headers)
        assert answer.status_code == status, answer.text
    assert s3.get_object(Bucket=bucket, Key="trailer-200")["Body"].read() == data
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="trailer-400")


def test_malformed_xml(gateway: GatewayServer, bucket: str) -> None:
    key_id, secret = gateway.new_key("alice")
    for raw in (b"<Delete><Object><Key>k</Key>", b"<NotDelete/>",
                b'<!DOCTYPE d [<!ENTITY x "y">]><Delete><Object><Key>&x;</Key></Object></Delete>'):  # fmt: skip
        url = f"{gateway.url}/{bucket}?delete"
        headers = signed_headers("POST", url, key_id, secret, body=raw)
        answer = httpx.post(url, content=raw, headers=headers)
        assert answer.status_code == 400 and b"<Code>MalformedXML</Code>" in answer.content
    headers = signed_headers("GET", f"{gateway.url}/{bucket}/k", key_id, secret)
    assert httpx.get(f"{gateway.url}/{bucket}/k", headers=headers).content == b"kept"


class Broke:
    """An authoriser refusing writes of accounts without credits (the credits hook)."""

    def __init__(self) -> None:
        self.seen: list[Access] = []

    def check(self, access: Access) -> str | None:
        self.seen.append(access)
        if access.account == "broke" and access.operation in ("PutObject", "CreateBucket"):
            return "the account has no credits left"
        return None


def test_authoriser_refusal_changes_nothing(nodes: Cluster, tmp_path: Any) -> None:
    auth = Broke()
    g = GatewayServer(nodes, f"sqlite:///{tmp_path / 'g.db'}", tmp_path, authoriser=auth).start()
    try:
        rich, broke = g.client("rich"), g.client("broke")
        with pytest.raises(ClientError) as exc:
            broke.create_bucket(Bucket="nope")
        assert code(exc) == "AccessDenied"
        assert "no credits" in exc.value.response["Error"]["Message"]
        assert broke.list_buckets()["Buckets"] == []
        rich.create_bucket(Bucket="rich")
        rich.put_object(Bucket="rich", Key="k", Body=b"12345")
        assert rich.get_object(Bucket="rich", Key="k")["Body"].read() == b"12345"
        ops = [(a.account, a.operation) for a in auth.seen]
        assert ("broke", "CreateBucket") in ops and ("rich", "PutObject") in ops
        put = next(a for a in auth.seen if a.operation == "PutObject")
        assert put.bucket == "rich" and put.key == "k" and put.declared_bytes == 5
        events = [
            (e.account, e.operation, e.bytes_in, e.bytes_out, e.stored_delta)
            for e in g.usage.events
        ]
        assert ("rich", "PutObject", 5, 0, 5) in events
        assert ("rich", "GetObject", 0, 5, 0) in events
        assert not any(
            e.account == "broke" and e.operation == "CreateBucket" for e in g.usage.events
        )
        rich.delete_object(Bucket="rich", Key="k")
        assert g.usage.events[-1].stored_delta == -5
    finally:
        g.stop()
