"""`opendepin.canonical`: the one spelling of published JSON bytes and their digests."""

from __future__ import annotations

import hashlib
import json

from hypothesis import given
from hypothesis import strategies as st

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


class _Text(str):
    pass


_keys = st.text(max_size=4) | st.integers(-3, 3) | st.none() | st.booleans()
_leaves = (
    st.none()
    | st.booleans()
    | st.integers()  # beyond 64 bits too: orjson refuses those, json.dumps decides
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.text()  # every code point, lone surrogates included
    | st.floats()  # NaN and infinities too: their text is json.dumps's
    | st.text(max_size=3).map(_Text)
)
_values = st.recursive(
    _leaves,
    lambda inner: st.lists(inner, max_size=4)
    | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    | st.dictionaries(_keys, inner, max_size=3),
    max_leaves=25,
)


def _reference(value: object) -> bytes | str:
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
    except (TypeError, ValueError) as exc:  # unsortable keys, lone surrogates
        return type(exc).__name__


@given(_values)
def test_canonical_json_is_json_dumps_byte_for_byte_on_any_value(value: object) -> None:
    try:
        got: bytes | str = canonical_json(value)
    except (TypeError, ValueError) as exc:
        got = type(exc).__name__
    assert got == _reference(value)


def test_deep_nesting_beyond_orjson_still_encodes() -> None:
    value: object = 1
    for _ in range(300):
        value = [value]
    assert canonical_json(value) == b"[" * 300 + b"1" + b"]" * 300 + b"\n"
