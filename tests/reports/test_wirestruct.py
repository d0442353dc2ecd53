"""The typed line decoder (`reports.wirestruct`) against the reference: whatever line it takes
as the usual shape, the stdlib parser and `codec.usual_wire` take too, with the same values;
and it takes the lines real reports are written as."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from opendepin.identity import DeviceKey
from opendepin.reports import codec
from opendepin.reports.wirestruct import DecodeError, envelope_decoder, usual_envelope

from .conftest import signed

DECODER = envelope_decoder("AnyPayloadLine", dict[str, Any])
KEY = DeviceKey.generate()
LINE = codec.dumps(signed(KEY)).encode()
BASE: dict[str, Any] = json.loads(LINE)

_odd_values = st.one_of(
    st.integers(-(2**70), 2**300),
    st.sampled_from([0, 1, 2, 2**63 - 1, 2**63, 2**256 - 1, 2**256, -1]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.text(max_size=6),
    st.sampled_from(["", "0x", "0x1b", "0x 1b", "0xzz", "0X1b", "é", "\ud800", "a" * 129, "a" * 128, "0x" + "ab" * 129]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    """A report line with some fields replaced, dropped, added or repeated, written spaced
    or tight, with escapes or raw UTF-8."""
    obj = dict(BASE)
    for name in draw(st.lists(st.sampled_from(sorted(codec.WIRE_FIELDS)), max_size=3)):
        action = draw(st.sampled_from(["replace", "drop", "keep"]))
        if action == "replace":
            obj[name] = draw(_odd_values)
        elif action == "drop":
            obj.pop(name, None)
    if draw(st.booleans()):
        obj[draw(st.text(max_size=4))] = draw(_odd_values)
    text = json.dumps(
        obj,
        ensure_ascii=draw(st.booleans()),
        separators=draw(st.sampled_from([(",", ":"), (", ", ": ")])),
    )
    if draw(st.booleans()):  # a repeated key: the stdlib parser keeps its last value
        name = draw(st.sampled_from(sorted(codec.WIRE_FIELDS)))
        text = "{" + json.dumps(name) + ":" + json.dumps(draw(_odd_values)) + "," + text[1:]
    return text.encode("utf-8", "surrogatepass")


def _struct_view(line: bytes) -> tuple[Any, ...] | None:
    try:
        wire = DECODER.decode(line)
    except DecodeError:
        return None
    if not usual_envelope(wire) or codec.device_id(wire.device) is None:  # the caller's device check
        return None
    return (
        wire.version, wire.network, wire.chainId, wire.device, wire.kind, wire.epoch, wire.seq,
        wire.timestampMs, bytes.fromhex(wire.signature[2:]), bytes.fromhex(wire.signerKey[2:]), wire.payload,
    )  # fmt: skip


def _reference_view(line: bytes) -> tuple[Any, ...] | None:
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    device = obj.get("device") if type(obj) is dict else None
    checked = codec.device_id(device)
    if checked is None:
        return None
    fields = codec.usual_wire(obj, {device: checked})
    if fields is None:
        return None
    return (*fields[:3], device, *fields[4:])


@settings(max_examples=400, deadline=None)
@given(lines())
def test_a_line_the_struct_takes_is_one_the_reference_takes_with_the_same_values(line: bytes) -> None:
    mine = _struct_view(line)
    if mine is not None:
        assert mine == _reference_view(line)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=80).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_arbitrary_bytes_never_decode_to_something_the_reference_refuses(data: bytes) -> None:
    mine = _struct_view(data)
    if mine is not None:
        assert mine == _reference_view(data)


def test_the_usual_line_and_its_variants_are_taken() -> None:
    """Not vacuous: the lines reports are written as decode, spaced and reordered included."""
    assert _struct_view(LINE) == _reference_view(LINE) is not None
    spaced = json.dumps(dict(reversed(list(BASE.items())))).encode()
    assert _struct_view(spaced) == _reference_view(spaced) is not None


def test_what_the_struct_refuses() -> None:
    refused = {
        "version 2": {**BASE, "version": 2},
        "a bool version": {**BASE, "version": True},
        "a float seq": {**BASE, "seq": 1.0},
        "seq 2**63": {**BASE, "seq": 2**63},
        "chainId 2**256": {**BASE, "chainId": 2**256},
        "an empty network": {**BASE, "network": ""},
        "a non-ASCII kind": {**BASE, "kind": "hé"},
        "a signature without 0x": {**BASE, "signature": BASE["signature"][2:]},
        "a spaced signature": {**BASE, "signature": "0x 1b"},
        "an extra field": {**BASE, "extra": 1},
        "a missing field": {k: v for k, v in BASE.items() if k != "seq"},
        "a list payload": {**BASE, "payload": [1]},
    }
    for why, obj in refused.items():
        assert _struct_view(json.dumps(obj).encode()) is None, why
