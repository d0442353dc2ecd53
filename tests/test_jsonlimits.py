"""Untrusted JSON must not be able to crash the process (see opendepin.jsonlimits)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from opendepin import jsonlimits
from opendepin.errors import InvalidReport
from opendepin.reports import codec

DEEP = b"[" * 200_000 + b"]" * 200_000


def test_loads_parses_ordinary_json() -> None:
    assert jsonlimits.loads(b'{"a": [[1], {"b": "[[[["}]}') == {"a": [[1], {"b": "[[[["}]}


def test_loads_accepts_exactly_the_limit_and_refuses_one_more() -> None:
    n = jsonlimits.MAX_JSON_NESTING
    assert jsonlimits.loads("[" * n + "]" * n) is not None
    with pytest.raises(jsonlimits.TooDeep):
        jsonlimits.loads("[" * (n + 1) + "]" * (n + 1))


def test_brackets_inside_strings_do_not_count() -> None:
    text = '["' + "[" * 5_000 + '"]'
    assert jsonlimits.loads(text) == ["[" * 5_000]


def test_codec_refuses_a_deep_line_as_malformed() -> None:
    with pytest.raises(InvalidReport) as info:
        codec.loads(DEEP)
    assert info.value.code == "malformed"


def test_stdlib_parser_alone_would_crash_a_thread() -> None:
    # Why the module exists: with the Ethereum libraries imported (the RPC chain imports web3,
    # whose py_ecc raises the recursion limit to 100,000), the stdlib parser overflows a
    # thread's C stack on this input.
    code = (
        "import threading, json, opendepin.chain.rpc\n"
        "t = threading.Thread(target=lambda: json.loads('[' * 200000 + ']' * 200000))\n"
        "t.start(); t.join()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert proc.returncode != 0


def test_orjson_refuses_exactly_what_the_limit_refuses() -> None:
    """`check_depth` lets a large text through when orjson parses it: sound only while
    orjson's own depth limit is MAX_JSON_NESTING."""
    import orjson

    n = jsonlimits.MAX_JSON_NESTING
    assert orjson.loads(b"[" * n + b"]" * n) is not None
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(b"[" * (n + 1) + b"]" * (n + 1))


def test_a_wide_text_that_only_the_stdlib_parses_is_still_measured() -> None:
    # many brackets (so the measuring path is taken), a NaN orjson refuses, and too deep
    n = jsonlimits.MAX_JSON_NESTING
    wide = "[" + ",".join(["{}"] * 2_000) + ",NaN]"
    assert len(jsonlimits.loads(wide)) == 2_001
    with pytest.raises(jsonlimits.TooDeep):
        jsonlimits.loads("[NaN," + "[" * n + "]" * n + "]")
