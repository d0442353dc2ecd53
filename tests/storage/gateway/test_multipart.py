"""Multipart upload through boto3: create, upload part, complete (S3's checks), abort, list."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest
from botocore.exceptions import ClientError

from ..cluster import Cluster
from .harness import SMALL_PART, GatewayServer
from .test_buckets import code

PART = SMALL_PART


@pytest.fixture
def bucket(s3: Any) -> str:
    s3.create_bucket(Bucket="mpu")
    return "mpu"


def _upload(
    s3: Any, bucket: str, key: str, chunks: list[bytes]
) -> tuple[str, list[dict[str, Any]]]:
    up = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = []
    for n, chunk in enumerate(chunks, 1):
        out = s3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=n, Body=chunk)
        parts.append({"PartNumber": n, "ETag": out["ETag"]})
    return up, parts


def test_complete_composes_the_object(gateway: GatewayServer, s3: Any, bucket: str) -> None:
    chunks = [os.urandom(PART), os.urandom(PART + 7), os.urandom(100)]
    up = s3.create_multipart_upload(
        Bucket=bucket, Key="big", ContentType="video/mp4", Metadata={"film": "yes"}
    )["UploadId"]
    parts = []
    for n, chunk in enumerate(chunks, 1):
        out = s3.upload_part(Bucket=bucket, Key="big", UploadId=up, PartNumber=n, Body=chunk)
        assert out["ETag"] == f'"{hashlib.md5(chunk).hexdigest()}"'
        parts.append({"PartNumber": n, "ETag": out["ETag"]})
    listed = s3.list_parts(Bucket=bucket, Key="big", UploadId=up)
    assert [(p["PartNumber"], p["Size"]) for p in listed["Parts"]] == [
        (1, PART), (2, PART + 7), (3, 100)
    ]  # fmt: skip
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [up]
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="big", UploadId=up, MultipartUpload={"Parts": parts}
    )
    digests = b"".join(hashlib.md5(c).digest() for c in chunks)
    expected = f'"{hashlib.md5(digests).hexdigest()}-3"'
    assert done["ETag"] == expected
    got = s3.get_object(Bucket=bucket, Key="big")
    data = b"".join(chunks)
    assert got["Body"].read() == data and got["ETag"] == expected
    assert got["ContentType"] == "video/mp4" and got["Metadata"] == {"film": "yes"}
    ranged = s3.get_object(Bucket=bucket, Key="big", Range=f"bytes={PART - 10}-{PART + 10}")
    assert ranged["Body"].read() == data[PART - 10 : PART + 11]
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
    assert gateway.placer is not None
    row = gateway.placer.metadata.get_object(bucket, "big")
    assert row is not None and row.size == len(data)
    segs = gateway.placer.metadata.segments(row.id)
    assert [s.idx for s in segs] == list(range(len(segs)))
    assert [s.offset for s in segs] == sorted(s.offset for s in segs)
    with pytest.raises(ClientError) as exc:  # the upload is gone once completed
        s3.list_parts(Bucket=bucket, Key="big", UploadId=up)
    assert code(exc) == "NoSuchUpload"


def test_reuploaded_part_and_unused_parts(
    nodes: Cluster, gateway: GatewayServer, s3: Any, bucket: str
) -> None:
    chunks = [os.urandom(PART), os.urandom(PART), os.urandom(10)]
    up, parts = _upload(s3, bucket, "k", chunks)
    again = os.urandom(PART)
    parts[0]["ETag"] = s3.upload_part(
        Bucket=bucket, Key="k", UploadId=up, PartNumber=1, Body=again
    )["ETag"]
    assert gateway.placer is not None
    stored = dict(gateway.placer.metadata.upload_parts(up))
    unused = gateway.placer.metadata.pieces(stored[2].id)
    s3.complete_multipart_upload(
        Bucket=bucket, Key="k", UploadId=up, MultipartUpload={"Parts": [parts[0], parts[2]]}
    )
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == again + chunks[2]
    assert all(not nodes.by_node(p.node).piece_path(p.piece_id).exists() for p in unused)


def test_parts_below_the_minimum(nodes: Cluster, tmp_path: Any) -> None:
    g = GatewayServer(nodes, f"sqlite:///{tmp_path / 'g.db'}", tmp_path, segment_size=1 << 20)
    g.config = type(g.config)()  # S3's real 5 MiB minimum
    g.start()
    try:
        s3 = g.client("dave")
        s3.create_bucket(Bucket="min")
        up, parts = _upload(s3, "min", "k", [os.urandom(5 * 1024 * 1024 - 1), b"tail"])
        with pytest.raises(ClientError) as exc:
            s3.complete_multipart_upload(
                Bucket="min", Key="k", UploadId=up, MultipartUpload={"Parts": parts}
            )
        assert code(exc) == "EntityTooSmall"
        five = os.urandom(5 * 1024 * 1024)
        parts[0]["ETag"] = s3.upload_part(
            Bucket="min", Key="k", UploadId=up, PartNumber=1, Body=five
        )["ETag"]
        s3.complete_multipart_upload(
            Bucket="min", Key="k", UploadId=up, MultipartUpload={"Parts": parts}
        )
        assert s3.get_object(Bucket="min", Key="k")["Body"].read() == five + b"tail"
    finally:
        g.stop()


def test_invalid_part_order_and_upload(s3: Any, bucket: str) -> None:
    up, parts = _upload(s3, bucket, "k", [os.urandom(PART), os.urandom(PART)])
    for bad, expected in [
        ([parts[1], parts[0]], "InvalidPartOrder"),
        ([parts[0], parts[0]], "InvalidPartOrder"),
        ([parts[0], {"PartNumber": 3, "ETag": parts[1]["ETag"]}], "InvalidPart"),
        ([parts[0], {"PartNumber": 2, "ETag": '"' + "0" * 32 + '"'}], "InvalidPart"),
    ]:
        with pytest.raises(ClientError) as exc:
            s3.complete_multipart_upload(
                Bucket=bucket, Key="k", UploadId=up, MultipartUpload={"Parts": bad}
            )
        assert code(exc) == expected
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="other-key", UploadId=up, MultipartUpload={"Parts": parts}
        )
    assert code(exc) == "NoSuchUpload"
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=bucket, Key="k", UploadId="f" * 32, PartNumber=1, Body=b"x")
    assert code(exc) == "NoSuchUpload"
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=bucket, Key="k", UploadId=up, PartNumber=10001, Body=b"x")
    assert code(exc) == "InvalidArgument"
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="k", UploadId=up, MultipartUpload={"Parts": []}
        )
    assert code(exc) == "MalformedXML"
    s3.complete_multipart_upload(
        Bucket=bucket, Key="k", UploadId=up, MultipartUpload={"Parts": parts}
    )


def test_abort_deletes_the_parts(
    nodes: Cluster, gateway: GatewayServer, s3: Any, bucket: str
) -> None:
    up, _ = _upload(s3, bucket, "k", [os.urandom(PART), os.urandom(99)])
    assert gateway.placer is not None
    held = [
        p
        for _, r in gateway.placer.metadata.upload_parts(up)
        for p in gateway.placer.metadata.pieces(r.id)
    ]
    assert len(held) == 16
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=up)
    assert all(not nodes.by_node(p.node).piece_path(p.piece_id).exists() for p in held)
    with pytest.raises(ClientError) as exc:
        s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=up)
    assert code(exc) == "NoSuchUpload"
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="k")
    assert code(exc) == "404"


def test_another_account_cannot_touch_an_upload(
    gateway: GatewayServer, s3: Any, bucket: str
) -> None:
    up, parts = _upload(s3, bucket, "k", [b"abc"])
    eve = gateway.client("eve")
    for call in (
        lambda: eve.list_parts(Bucket=bucket, Key="k", UploadId=up),
        lambda: eve.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=up),
        lambda: eve.upload_part(Bucket=bucket, Key="k", UploadId=up, PartNumber=2, Body=b"x"),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert code(exc) == "AccessDenied"
    s3.complete_multipart_upload(
        Bucket=bucket, Key="k", UploadId=up, MultipartUpload={"Parts": parts}
    )
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"abc"
