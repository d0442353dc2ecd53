"""ListObjectsV2 (and V1) through boto3: prefix, delimiter, pagination, start-after, max-keys."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from .test_buckets import code

KEYS = sorted(
    ["a.txt", "b/1", "b/2", "b/c/3", "c/1", "c/2", "d", "e/f/g", "photos/2025/x.jpg",
     "photos/2026/y.jpg", "photos/index.html"]
)  # fmt: skip


@pytest.fixture
def listing(s3: Any) -> str:
    s3.create_bucket(Bucket="lst")
    for k in KEYS:
        s3.put_object(Bucket="lst", Key=k, Body=b"")
    return "lst"


def test_plain_prefix_and_keycount(s3: Any, listing: str) -> None:
    out = s3.list_objects_v2(Bucket=listing)
    assert [o["Key"] for o in out["Contents"]] == KEYS
    assert out["KeyCount"] == len(KEYS) and out["IsTruncated"] is False
    assert all(o["Size"] == 0 and o["StorageClass"] == "STANDARD" for o in out["Contents"])
    assert out["Contents"][0]["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    out = s3.list_objects_v2(Bucket=listing, Prefix="photos/")
    assert [o["Key"] for o in out["Contents"]] == [k for k in KEYS if k.startswith("photos/")]
    assert "Contents" not in s3.list_objects_v2(Bucket=listing, Prefix="zzz")


def test_delimiter_common_prefixes(s3: Any, listing: str) -> None:
    out = s3.list_objects_v2(Bucket=listing, Delimiter="/")
    assert [o["Key"] for o in out["Contents"]] == ["a.txt", "d"]
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["b/", "c/", "e/", "photos/"]
    assert out["KeyCount"] == 6
    out = s3.list_objects_v2(Bucket=listing, Delimiter="/", Prefix="photos/")
    assert [o["Key"] for o in out["Contents"]] == ["photos/index.html"]
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["photos/2025/", "photos/2026/"]


def test_pagination_with_continuation_tokens(s3: Any, listing: str) -> None:
    seen: list[str] = []
    kwargs: dict[str, Any] = {"Bucket": listing, "MaxKeys": 3}
    while True:
        out = s3.list_objects_v2(**kwargs)
        assert out["MaxKeys"] == 3 and out["KeyCount"] <= 3
        seen += [o["Key"] for o in out.get("Contents", [])]
        if not out["IsTruncated"]:
            break
        assert out["KeyCount"] == 3
        kwargs["ContinuationToken"] = out["NextContinuationToken"]
    assert seen == KEYS
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=listing, Delimiter="/", PaginationConfig={"PageSize": 2}
    )
    keys, prefixes = [], []
    for page in pages:
        keys += [o["Key"] for o in page.get("Contents", [])]
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    assert keys == ["a.txt", "d"] and prefixes == ["b/", "c/", "e/", "photos/"]


def test_start_after_and_max_keys_zero(s3: Any, listing: str) -> None:
    out = s3.list_objects_v2(Bucket=listing, StartAfter="c/1")
    assert [o["Key"] for o in out["Contents"]] == KEYS[KEYS.index("c/1") + 1 :]
    assert out["StartAfter"] == "c/1"
    out = s3.list_objects_v2(Bucket=listing, MaxKeys=0)
    assert out["KeyCount"] == 0 and "Contents" not in out


def test_bad_arguments(s3: Any, listing: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket=listing, ContinuationToken="!!!not-base64!!!")
    assert code(exc) == "InvalidArgument"
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket="absent-bucket")
    assert code(exc) == "NoSuchBucket"


def test_list_objects_v1(s3: Any, listing: str) -> None:
    out = s3.list_objects(Bucket=listing, Delimiter="/", MaxKeys=3)
    assert [o["Key"] for o in out["Contents"]] == ["a.txt"]
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["b/", "c/"]
    assert out["IsTruncated"] is True
    rest = s3.list_objects(Bucket=listing, Delimiter="/", Marker=out["NextMarker"])
    assert [o["Key"] for o in rest["Contents"]] == ["d"]
    assert [p["Prefix"] for p in rest["CommonPrefixes"]] == ["e/", "photos/"]
