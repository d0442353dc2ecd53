"""`opendepin.canonical`: the one spelling of published JSON bytes and their digests."""

from __future__ import annotations

import hashlib
import json

from opendepin.canonical import canonical_json, sha256_hex


def test_keys_are_sorted_at_every_level() -> None:
    data = canonical_json({"b": 1, "a": {"z": 1, "y": [{"d": 1, "c": 2}]}})
    assert data == b'{"a":{"y":[{"c":2,"d":1}],"z":1},"b":1}\n'


def test_no_whitespace_between_tokens() -> None:
    data = canonical_json({"list": [1, 2, 3], "x": "a b"})
    assert data == b'{"list":[1,2,3],"x":"a b"}\n'
    assert b" " not in data.replace(b"a b", b"")
    assert data.count(b"\n") == 1


def test_utf8_is_written_as_is_not_escaped() -> None:
    data = canonical_json({"city": "Zürich", "emoji": "☀"})
    assert "Zürich".encode() in data
    assert "☀".encode() in data
    assert b"\\u" not in data
    data.decode("utf-8")  # valid UTF-8


def test_one_trailing_newline() -> None:
    assert canonical_json([]) == b"[]\n"
    assert canonical_json({}).endswith(b"}\n")
    assert not canonical_json({}).endswith(b"\n\n")


def test_equal_content_gives_equal_bytes_whatever_the_key_order() -> None:
    a = {"x": 1, "y": {"p": True, "q": None}}
    b = {"y": {"q": None, "p": True}, "x": 1}
    assert canonical_json(a) == canonical_json(b)
    assert json.loads(canonical_json(a)) == a


def test_sha256_hex_is_lower_case_hex_of_the_bytes() -> None:
    data = canonical_json({"a": 1})
    digest = sha256_hex(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert len(digest) == 64
    assert digest == digest.lower()
    int(digest, 16)
    assert sha256_hex(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
