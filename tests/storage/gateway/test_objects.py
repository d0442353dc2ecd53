"""Object operations through boto3: put, get (ranges), head, delete, delete many, copy."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from ..cluster import Cluster, recv_until
from .harness import GatewayServer
from .test_buckets import code

SEG = 64 * 1024


@pytest.fixture
def bucket(s3: Any) -> str:
    s3.create_bucket(Bucket="data")
    return "data"


def test_put_get_head_round_trip(s3: Any, bucket: str) -> None:
    for size in (0, 1, SEG - 1, SEG, 3 * SEG + 17):
        data = os.urandom(size)
        put = s3.put_object(
            Bucket=bucket, Key=f"o{size}", Body=data, ContentType="text/plain",
            Metadata={"owner": "alice", "n": str(size)},
        )  # fmt: skip
        etag = f'"{hashlib.md5(data).hexdigest()}"'
        assert put["ETag"] == etag
        got = s3.get_object(Bucket=bucket, Key=f"o{size}")
        assert got["Body"].read() == data
        assert got["ETag"] == etag and got["ContentLength"] == size
        assert got["ContentType"] == "text/plain"
        assert got["Metadata"] == {"owner": "alice", "n": str(size)}
        head = s3.head_object(Bucket=bucket, Key=f"o{size}")
        assert head["ContentLength"] == size and head["ETag"] == etag
        assert head["Metadata"]["n"] == str(size) and head["LastModified"] is not None


def test_overwrite_replaces(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"first")
    s3.put_object(Bucket=bucket, Key="k", Body=b"second version")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"second version"
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 1


def test_ranged_get(s3: Any, bucket: str) -> None:
    data = os.urandom(4 * SEG + 100)
    s3.put_object(Bucket=bucket, Key="r", Body=data)
    for header, start, end in [
        ("bytes=0-9", 0, 10),
        (f"bytes={SEG - 5}-{SEG + 4}", SEG - 5, SEG + 5),
        (f"bytes={4 * SEG}-", 4 * SEG, len(data)),
        ("bytes=-50", len(data) - 50, len(data)),
        (f"bytes=10-{10 * len(data)}", 10, len(data)),
    ]:
        got = s3.get_object(Bucket=bucket, Key="r", Range=header)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["ContentRange"] == f"bytes {start}-{end - 1}/{len(data)}"
        assert got["Body"].read() == data[start:end]
    for header in (f"bytes={len(data)}-", f"bytes={len(data) + 5}-{len(data) + 9}", "bytes=-0"):
        with pytest.raises(ClientError) as exc:
            s3.get_object(Bucket=bucket, Key="r", Range=header)
        assert code(exc) == "InvalidRange"
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416


def test_missing_objects_and_buckets(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="nope")
    assert code(exc) == "NoSuchKey"
    assert exc.value.response["Error"]["Key"] == "nope"
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="nope")
    assert code(exc) == "404"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket="no-bucket", Key="k")
    assert code(exc) == "NoSuchBucket"
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket="no-bucket", Key="k", Body=b"x")
    assert code(exc) == "NoSuchBucket"


def test_delete_object_and_its_pieces(
    nodes: Cluster, gateway: GatewayServer, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="gone", Body=os.urandom(2 * SEG))
    assert gateway.placer is not None
    row = gateway.placer.metadata.get_object(bucket, "gone")
    assert row is not None
    held = gateway.placer.metadata.pieces(row.id)
    assert len(held) == 16
    assert s3.delete_object(Bucket=bucket, Key="gone")["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError):
        s3.get_object(Bucket=bucket, Key="gone")
    assert all(not nodes.by_node(p.node).piece_path(p.piece_id).exists() for p in held)
    # deleting what does not exist is not an error (as S3)
    assert s3.delete_object(Bucket=bucket, Key="gone")["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_delete_objects(s3: Any, bucket: str) -> None:
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"k{i}", Body=b"x")
    out = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "k0"}, {"Key": "k1"}, {"Key": "absent"}]}
    )
    assert sorted(d["Key"] for d in out["Deleted"]) == ["absent", "k0", "k1"]
    assert "Errors" not in out
    quiet = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "k2"}, {"Key": "k3"}], "Quiet": True}
    )
    assert "Deleted" not in quiet and "Errors" not in quiet
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k4"]


def test_copy_object_metadata_directives(s3: Any, bucket: str) -> None:
    data = os.urandom(2 * SEG + 3)
    s3.put_object(Bucket=bucket, Key="src", Body=data, ContentType="image/png", Metadata={"a": "1"})
    s3.create_bucket(Bucket="other")
    out = s3.copy_object(Bucket="other", Key="copy", CopySource={"Bucket": bucket, "Key": "src"})
    assert out["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    got = s3.get_object(Bucket="other", Key="copy")
    assert got["Body"].read() == data
    assert got["Metadata"] == {"a": "1"} and got["ContentType"] == "image/png"
    s3.copy_object(
        Bucket=bucket, Key="replaced", CopySource=f"{bucket}/src", MetadataDirective="REPLACE",
        Metadata={"b": "2"}, ContentType="text/csv",
    )  # fmt: skip
    head = s3.head_object(Bucket=bucket, Key="replaced")
    assert head["Metadata"] == {"b": "2"} and head["ContentType"] == "text/csv"
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="src", CopySource=f"{bucket}/src")
    assert code(exc) == "InvalidRequest"
    s3.copy_object(  # onto itself with new metadata: allowed
        Bucket=bucket, Key="src", CopySource=f"{bucket}/src", MetadataDirective="REPLACE",
        Metadata={"c": "3"},
    )  # fmt: skip
    assert s3.head_object(Bucket=bucket, Key="src")["Metadata"] == {"c": "3"}
    assert s3.get_object(Bucket=bucket, Key="src")["Body"].read() == data
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="x", CopySource=f"{bucket}/missing")
    assert code(exc) == "NoSuchKey"


def test_keys_with_unusual_characters(s3: Any, bucket: str) -> None:
    keys = ["a b", "plus+sign", "percent%20", "ünïcødé/ключ", "q?x=1&y", "tilde~", "/lead", "x//y"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    for k in keys:
        assert s3.get_object(Bucket=bucket, Key=k)["Body"].read() == k.encode()
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(listed) == sorted(keys)


def test_too_much_metadata(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="m", Body=b"x", Metadata={"big": "v" * 3000})
    assert code(exc) == "MetadataTooLarge"


def test_unsupported_subresource_and_unauthenticated(
    gateway: GatewayServer, s3: Any, bucket: str
) -> None:
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_acl(Bucket=bucket)
    assert code(exc) == "NotImplemented"
    anonymous = httpx.get(f"{gateway.url}/{bucket}")
    assert anonymous.status_code == 403 and b"<Code>AccessDenied</Code>" in anonymous.content
    assert (
        b"<RequestId>" in anonymous.content and b"<Resource>/data</Resource>" in anonymous.content
    )


@pytest.mark.parametrize("backend", ["postgresql"])
def test_round_trip_on_postgresql(nodes: Cluster, tmp_path, backend: str) -> None:  # type: ignore[no-untyped-def]
    from opendepin.store.testing import temporary_database_url

    with temporary_database_url(backend, tmp_path) as url:  # type: ignore[arg-type]
        g = GatewayServer(nodes, url, tmp_path).start()
        try:
            s3 = g.client("carol")
            s3.create_bucket(Bucket="pgb")
            data = os.urandom(3 * SEG + 1)
            s3.put_object(Bucket="pgb", Key="dir/k", Body=data)
            up = s3.create_multipart_upload(Bucket="pgb", Key="mp")["UploadId"]
            parts = []
            for n, chunk in enumerate([data[: 2 * SEG], data[2 * SEG :]], 1):
                e = s3.upload_part(Bucket="pgb", Key="mp", UploadId=up, PartNumber=n, Body=chunk)
                parts.append({"PartNumber": n, "ETag": e["ETag"]})
            s3.complete_multipart_upload(
                Bucket="pgb", Key="mp", UploadId=up, MultipartUpload={"Parts": parts}
            )
            assert s3.get_object(Bucket="pgb", Key="dir/k")["Body"].read() == data
            assert s3.get_object(Bucket="pgb", Key="mp")["Body"].read() == data
            listed = s3.list_objects_v2(Bucket="pgb", Delimiter="/")
            assert [p["Prefix"] for p in listed["CommonPrefixes"]] == ["dir/"]
            assert [o["Key"] for o in listed["Contents"]] == ["mp"]
        finally:
            g.stop()


def test_a_body_that_stops_arriving_times_out_and_stores_nothing(
    nodes: Cluster, tmp_path: Path
) -> None:
    """A slow-loris PUT (declares 64 KiB, sends 10 bytes, then nothing) is answered with S3's
    RequestTimeout after the idle limit; no object exists afterwards and the gateway serves on."""
    import socket
    from urllib.parse import urlsplit

    from opendepin.storage.gateway.context import GatewayConfig

    from .harness import SMALL_PART

    config = GatewayConfig(min_part_bytes=SMALL_PART, body_idle_timeout_seconds=0.5)
    g = GatewayServer(nodes, f"sqlite:///{tmp_path / 'slow.db'}", tmp_path, config=config).start()
    try:
        s3 = g.client("slow")
        s3.create_bucket(Bucket="slow")
        url = urlsplit(
            s3.generate_presigned_url("put_object", Params={"Bucket": "slow", "Key": "k"})
        )
        with socket.create_connection((url.hostname, url.port), timeout=30) as conn:
            head = (
                f"PUT {url.path}?{url.query} HTTP/1.1\r\nHost: {url.netloc}\r\n"
                "Content-Length: 65536\r\n\r\n"
            )
            conn.sendall(head.encode() + b"0123456789")
            answer = recv_until(conn, lambda a: b"</Error>" in a)
        assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
        assert b"<Code>RequestTimeout</Code>" in answer
        with pytest.raises(ClientError) as missing:
            s3.head_object(Bucket="slow", Key="k")
        assert code(missing) == "404"
        s3.put_object(Bucket="slow", Key="k", Body=b"fine")
        assert s3.get_object(Bucket="slow", Key="k")["Body"].read() == b"fine"
    finally:
        g.stop()
