"""Bucket operations through boto3: list, create (name rules), head, delete, ownership."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from .harness import GatewayServer


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_create_list_head_delete(s3: Any) -> None:
    assert s3.list_buckets()["Buckets"] == []
    for name in ("zeta", "alpha-1", "my.bucket.name"):
        s3.create_bucket(Bucket=name)
    listed = s3.list_buckets()
    assert [b["Name"] for b in listed["Buckets"]] == ["alpha-1", "my.bucket.name", "zeta"]
    assert listed["Owner"]["ID"] == "alice"
    assert s3.head_bucket(Bucket="zeta")["ResponseMetadata"]["HTTPStatusCode"] == 200
    s3.delete_bucket(Bucket="zeta")
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket="zeta")
    assert code(exc) == "404"
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket="zeta")
    assert code(exc) == "NoSuchBucket"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


@pytest.mark.parametrize(
    "name",
    ["ab", "a" * 64, "Upper", "under_score", "-start", "end-", "192.168.1.1", "a..b", "a.-b",
     "xn--punycode", "dot.", "x-s3alias"],
)  # fmt: skip
def test_bucket_names_s3_refuses(s3: Any, name: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=name)
    assert code(exc) == "InvalidBucketName"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_bucket_names_s3_accepts(s3: Any) -> None:
    for name in ("abc", "a" * 63, "1-2.3", "192.168.1.1a"):
        s3.create_bucket(Bucket=name)
    assert len(s3.list_buckets()["Buckets"]) == 4


def test_not_empty_bucket_is_kept(s3: Any) -> None:
    s3.create_bucket(Bucket="full")
    s3.put_object(Bucket="full", Key="k", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket="full")
    assert code(exc) == "BucketNotEmpty"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    s3.delete_object(Bucket="full", Key="k")
    s3.delete_bucket(Bucket="full")
    assert s3.list_buckets()["Buckets"] == []


def test_bucket_with_an_upload_in_progress_is_not_empty(s3: Any) -> None:
    s3.create_bucket(Bucket="mpb")
    up = s3.create_multipart_upload(Bucket="mpb", Key="k")["UploadId"]
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket="mpb")
    assert code(exc) == "BucketNotEmpty"
    s3.abort_multipart_upload(Bucket="mpb", Key="k", UploadId=up)
    s3.delete_bucket(Bucket="mpb")


def test_buckets_belong_to_the_account(gateway: GatewayServer, s3: Any) -> None:
    bob = gateway.client("bob")
    s3.create_bucket(Bucket="alices")
    s3.put_object(Bucket="alices", Key="secret", Body=b"mine")
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket="alices")
    assert code(exc) == "BucketAlreadyOwnedByYou"
    with pytest.raises(ClientError) as exc:
        bob.create_bucket(Bucket="alices")
    assert code(exc) == "BucketAlreadyExists"
    assert bob.list_buckets()["Buckets"] == []
    for call in (
        lambda: bob.get_object(Bucket="alices", Key="secret"),
        lambda: bob.put_object(Bucket="alices", Key="x", Body=b"y"),
        lambda: bob.list_objects_v2(Bucket="alices"),
        lambda: bob.delete_object(Bucket="alices", Key="secret"),
        lambda: bob.delete_bucket(Bucket="alices"),
        lambda: bob.create_multipart_upload(Bucket="alices", Key="m"),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert code(exc) == "AccessDenied"
    bob.create_bucket(Bucket="bobs")
    with pytest.raises(ClientError) as exc:  # nor can bob copy alice's object into his bucket
        bob.copy_object(
            Bucket="bobs", Key="stolen", CopySource={"Bucket": "alices", "Key": "secret"}
        )
    assert code(exc) == "AccessDenied"
    assert s3.get_object(Bucket="alices", Key="secret")["Body"].read() == b"mine"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="alices")["Contents"]] == ["secret"]


def test_internal_parts_bucket_is_unreachable(s3: Any) -> None:
    s3.create_bucket(Bucket="bkt")
    s3.create_multipart_upload(Bucket="bkt", Key="k")
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket=".multipart-parts")
    assert code(exc) in ("AccessDenied", "InvalidBucketName")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["bkt"]
