"""The gateway's parsers of hostile input are total: S3Error or a value, never another exception.

Plus the pieces boto3 does not exercise: virtual-host addressing, the key store's sealing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, update

from opendepin.errors import ConfigError
from opendepin.storage.gateway.app import parse_query, route
from opendepin.storage.gateway.body import ChunkReader
from opendepin.storage.gateway.context import check_bucket_name
from opendepin.storage.gateway.errors import STATUS, S3Error
from opendepin.storage.gateway.keys import KeyStore, gateway_keys, load_master_key
from opendepin.storage.gateway.objects import parse_range
from opendepin.storage.gateway.sigv4 import (
    ChunkDecoder,
    Identity,
    Payload,
    RequestView,
    authenticate,
)
from opendepin.storage.gateway.xml import parse_complete, parse_delete

from .harness import GatewayServer, signed_headers

LOOKUP = {"DPNAAAAAAAAAAAAAAAAA": ("acct", "s3cr3t")}.get


def _identity(payload: Payload) -> Identity:
    return Identity("DPNAAAAAAAAAAAAAAAAA", "acct", payload, None, b"k" * 32, "0" * 64,
                    "20260101T000000Z", "20260101/us-east-1/s3/aws4_request")  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    auth=st.one_of(st.none(), st.text(max_size=300), st.just("AWS4-HMAC-SHA256 Credential=x")),
    date=st.one_of(st.none(), st.text(max_size=20), st.just("20260101T000000Z")),
    sha=st.one_of(st.none(), st.text(max_size=70), st.just("UNSIGNED-PAYLOAD")),
    query=st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "X-Amz-Signature",
                    "X-Amz-Credential",
                    "X-Amz-Expires",
                    "X-Amz-Date",
                    "X-Amz-Algorithm",
                    "X-Amz-SignedHeaders",
                    "a",
                ]
            ),
            st.text(max_size=40),
        ),
        max_size=8,
    ),
)
def test_authenticate_is_total(
    auth: str | None, date: str | None, sha: str | None, query: Any
) -> None:
    headers = {"host": "h"}
    for name, value in (
        ("authorization", auth),
        ("x-amz-date", date),
        ("x-amz-content-sha256", sha),
    ):
        if value is not None:
            headers[name] = value
    view = RequestView("GET", "/b/k", "/b/k", query, headers)
    with pytest.raises(S3Error) as exc:
        authenticate(view, LOOKUP, 1_767_225_600.0, "us-east-1")
    assert exc.value.code in STATUS


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.binary(max_size=200), max_size=6), signed=st.booleans())
def test_chunk_decoder_is_total(parts: list[bytes], signed: bool) -> None:
    decoder = ChunkDecoder(
        _identity(Payload.CHUNKED_SIGNED if signed else Payload.CHUNKED_UNSIGNED)
    )
    try:
        for p in parts:
            decoder.feed(p)
        decoder.finish()
    except S3Error as exc:
        assert exc.code in STATUS


def test_unsigned_chunks_decode_across_any_split() -> None:
    body = b"5\r\nhello\r\n3\r\nabc\r\n0\r\nx-amz-checksum-crc32:AAAA\r\n\r\n"
    for cut in range(len(body)):
        decoder = ChunkDecoder(_identity(Payload.CHUNKED_UNSIGNED))
        out = decoder.feed(body[:cut]) + decoder.feed(body[cut:])
        assert b"".join(out) == b"helloabc"
        assert decoder.finish() == {"x-amz-checksum-crc32": "AAAA"}


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=400))
def test_query_and_xml_parsers_are_total(raw: bytes) -> None:
    for parse in (parse_query, parse_complete, parse_delete):
        try:
            parse(raw)
        except S3Error as exc:
            assert exc.code in STATUS


@settings(max_examples=300, deadline=None)
@given(header=st.text(max_size=40), size=st.integers(0, 10**12))
def test_range_parser_is_total(header: str, size: int) -> None:
    try:
        got = parse_range(header, size)
    except S3Error as exc:
        assert exc.code == "InvalidRange"
        return
    if got is not None:
        assert 0 <= got[0] < got[1] <= size


@settings(max_examples=200, deadline=None)
@given(name=st.text(max_size=70))
def test_bucket_name_check_is_total(name: str) -> None:
    try:
        check_bucket_name(name)
    except S3Error as exc:
        assert exc.code == "InvalidBucketName"
        return
    assert 3 <= len(name) <= 63 and name == name.lower()


@settings(max_examples=200, deadline=None)
@given(method=st.sampled_from(["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH"]),
       bucket=st.one_of(st.none(), st.just("b")), key=st.one_of(st.none(), st.just("k")),
       query=st.dictionaries(st.sampled_from(["uploads", "uploadId", "partNumber", "delete",
                             "acl", "list-type", "location"]), st.just(""), max_size=3))  # fmt: skip
def test_router_is_total(
    method: str, bucket: str | None, key: str | None, query: dict[str, str]
) -> None:
    try:
        name, fn = route(method, bucket, key, query, {})
    except S3Error as exc:
        assert exc.code in ("NotImplemented", "MethodNotAllowed")
        return
    assert name and callable(fn)


def test_chunk_reader_reads_exact_sizes() -> None:
    reader = ChunkReader(iter([b"abc", b"", b"defgh", b"ij"]))
    assert [reader.read(4), reader.read(4), reader.read(4), reader.read(4)] == [
        b"abcd",
        b"efgh",
        b"ij",
        b"",
    ]


def test_master_key_and_sealed_secrets(tmp_path: Path) -> None:
    path = tmp_path / "m.key"
    key = load_master_key(path)
    assert path.stat().st_mode & 0o777 == 0o600 and load_master_key(path) == key
    path.chmod(0o644)
    with pytest.raises(ConfigError):
        load_master_key(path)
    with pytest.raises(ConfigError):
        load_master_key(tmp_path / "absent.key", create=False)
    engine = create_engine(f"sqlite:///{tmp_path / 'k.db'}")
    store = KeyStore(engine, key)
    a, secret_a = store.create("alice", 1)
    b, _ = store.create("bob", 2)
    assert store.lookup(a.access_key_id) == ("alice", secret_a)
    assert KeyStore(engine, b"\1" * 32).lookup(a.access_key_id) is None  # another master key
    with engine.begin() as conn:  # bob's sealed secret copied onto alice's row does not open
        sealed_b = (
            conn.execute(
                gateway_keys.select().where(gateway_keys.c.access_key_id == b.access_key_id)
            )
            .one()
            .secret_box
        )
        conn.execute(
            update(gateway_keys)
            .where(gateway_keys.c.access_key_id == a.access_key_id)
            .values(secret_box=sealed_b)
        )
    assert store.lookup(a.access_key_id) is None
    assert store.lookup("not a key id") is None and store.lookup("DPN" + "Z" * 17) is None
    with pytest.raises(ConfigError):
        KeyStore(engine).create("carol", 3)


def test_virtual_host_addressing(nodes: Any, tmp_path: Path) -> None:
    from opendepin.storage.gateway.context import GatewayConfig

    g = GatewayServer(nodes, f"sqlite:///{tmp_path / 'v.db'}", tmp_path,
                      config=GatewayConfig(domains=("s3.example.test",))).start()  # fmt: skip
    try:
        s3 = g.client("vh")
        s3.create_bucket(Bucket="vhost")
        s3.put_object(Bucket="vhost", Key="dir/file.txt", Body=b"by host")
        key_id, secret = g.new_key("vh")
        port = g.port
        virtual = f"http://vhost.s3.example.test:{port}/dir/file.txt"
        headers = signed_headers("GET", virtual, key_id, secret)
        headers["Host"] = f"vhost.s3.example.test:{port}"
        got = httpx.get(f"http://127.0.0.1:{port}/dir/file.txt", headers=headers)
        assert got.status_code == 200 and got.content == b"by host"
        listing = f"http://vhost.s3.example.test:{port}/?list-type=2"
        headers = signed_headers("GET", listing, key_id, secret)
        headers["Host"] = f"vhost.s3.example.test:{port}"
        got = httpx.get(f"http://127.0.0.1:{port}/?list-type=2", headers=headers)
        assert got.status_code == 200 and b"<Key>dir/file.txt</Key>" in got.content
        wrong_host = signed_headers("GET", virtual, key_id, secret)
        wrong_host["Host"] = f"other.s3.example.test:{port}"  # signed for another bucket
        assert (
            httpx.get(f"http://127.0.0.1:{port}/dir/file.txt", headers=wrong_host).status_code
            == 403
        )
    finally:
        g.stop()
