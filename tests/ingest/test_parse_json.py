"""`app.parse_json` (orjson where it decodes like the stdlib) gives `parse_json_reference`'s
value, or its problem, for any body: the same types, the same key order, the same errors."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from opendepin.http.problems import ProblemError
from opendepin.ingest.app import parse_json, parse_json_reference
from opendepin.jsonlimits import MAX_JSON_NESTING


def _outcome(parse: Any, body: bytes) -> Any:
    try:
        return ("value", repr(parse(body)))  # repr: types (True vs 1, 1 vs 1.0) and key order
    except ProblemError as exc:
        return ("problem", exc.problem, exc.detail)


strings = st.text(max_size=6) | st.sampled_from(["\ud800", "a\udfff", "\u2028", "\x00", "é", '"\\'])
numbers = st.integers() | st.integers(-(2**70), 2**70) | st.floats() | st.sampled_from([2**64 - 1, 2**64, -(2**63), -(2**63) - 1])
values = st.recursive(
    st.none() | st.booleans() | numbers | strings,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(strings, inner, max_size=4),
    max_leaves=12,
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """JSON texts as clients write them, and texts that are almost JSON."""
    value = draw(values)
    text = json.dumps(value, ensure_ascii=draw(st.booleans()), allow_nan=True)
    match draw(st.integers(0, 7)):
        case 0:  # a key written twice
            text = '{"k": 1, "j": ' + text + ', "k": ' + text + "}"
        case 1:
            text = "\ufeff" + text  # a BOM
        case 2:
            text = " \n" + text + "\t "
        case 3:
            text = text + draw(st.sampled_from(["x", ",", "]", "}", '"', " 1"]))
        case 4:  # nested near the limit
            depth = draw(st.integers(MAX_JSON_NESTING - 2, MAX_JSON_NESTING + 2))
            text = "[" * depth + text + "]" * depth
        case 5:
            text = '{"reports": [' + text + ", " + text + "]}"
        case _:
            pass
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-16", "utf-32"]))
    return text.encode(encoding, "surrogatepass")


@settings(max_examples=500, deadline=None)
@given(body=bodies() | st.binary(max_size=24))
def test_parse_json_is_the_reference(body: bytes) -> None:
    assert _outcome(parse_json, body) == _outcome(parse_json_reference, body)


def test_an_integer_beyond_64_bits_stays_an_integer() -> None:
    body = b'{"n": 1180591620717411303424, "m": -36893488147419103232, "k": 18446744073709551615}'
    assert parse_json(body) == {"n": 2**70, "m": -(2**65), "k": 2**64 - 1}
    assert all(type(v) is int for v in parse_json(body).values())
