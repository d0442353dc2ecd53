"""Wire codec: round trips, re-canonicalisation, JSON Lines and every malformed input."""

from __future__ import annotations

import dataclasses
import json
from enum import Enum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opendepin.errors import InvalidReport
from opendepin.identity import DeviceKey, KeyType
from opendepin.reports.codec import (
    MAX_PAYLOAD_BYTES,
    WIRE_FIELDS,
    decode_many,
    dumps,
    encode_many,
    from_json,
    from_json_fast,
    loads,
    loads_fast,
    to_json,
)
from opendepin.reports.envelope import Report
from opendepin.reports.reasons import RejectReason
from opendepin.reports.verify import check_signatures
from opendepin.types import ProofKind

from .conftest import signed

_SECP = DeviceKey.generate()
_ED = DeviceKey.generate(KeyType.ED25519)


@pytest.mark.parametrize("key", [_SECP, _ED], ids=["secp256k1", "ed25519"])
def test_json_round_trips(key: DeviceKey) -> None:
    report = signed(key)
    wire = json.loads(json.dumps(to_json(report)))
    assert set(wire) == WIRE_FIELDS
    assert from_json(wire) == report
    assert loads(dumps(report)) == report


def test_to_json_shapes_fields() -> None:
    report = signed(_ED)
    wire = to_json(report)
    assert wire["payload"] == report.payload_obj()
    assert wire["signature"] == "0x" + report.signature.hex()
    assert wire["signerKey"] == "0x" + _ED.public_key.hex()
    assert to_json(signed(_SECP))["signerKey"] == "0x"


def test_dumps_equals_json_of_to_json() -> None:
    report = signed(_SECP)
    assert json.loads(dumps(report)) == to_json(report)


def test_from_json_recanonicalises_payload_so_signature_still_verifies() -> None:
    report = signed(_SECP, payload={"b": 2, "a": {"y": [1, "z"], "x": True}})
    wire = to_json(report)
    wire["payload"] = json.loads('{"a": {"x": true, "y": [1, "z"]}, "b": 2}')  # other order
    decoded = from_json(wire)
    assert decoded.payload == report.payload
    assert check_signatures([decoded]) == [None]


def test_from_json_checksums_lower_case_device() -> None:
    report = signed(_SECP)
    wire = to_json(report)
    wire["device"] = wire["device"].lower()
    assert from_json(wire).device == report.device


def _wire(**changes: Any) -> dict[str, Any]:
    wire = to_json(signed(_SECP))
    for k, v in changes.items():
        if v is _DROP:
            del wire[k]
        else:
            wire[k] = v
    return wire


_DROP = object()


MALFORMED_WIRES = [
    pytest.param(_wire(seq=_DROP), id="missing-field"),
    pytest.param(_wire(extra=1), id="unknown-field"),
    pytest.param(_wire(seq=True), id="bool-as-int"),
    pytest.param(_wire(seq="5"), id="string-as-int"),
    pytest.param(_wire(epoch=-1), id="negative"),
    pytest.param(_wire(seq=2**64), id="uint64-overflow"),
    pytest.param(_wire(seq=2**63), id="beyond-int64-store-range"),
    pytest.param(_wire(timestampMs=2**63), id="timestamp-beyond-int64"),
    pytest.param(_wire(chainId=1.0), id="float-chain-id"),
    pytest.param(_wire(version=2), id="unsupported-version"),
    pytest.param(_wire(network=""), id="empty-network"),
    pytest.param(_wire(kind=7), id="kind-not-string"),
    pytest.param(_wire(kind="\ud800"), id="kind-lone-surrogate"),
    pytest.param(_wire(signature="abcd"), id="signature-without-0x"),
    pytest.param(_wire(signature="0xzz"), id="signature-bad-hex"),
    pytest.param(_wire(signature="0xabc"), id="signature-odd-hex"),
    pytest.param(_wire(signerKey=None), id="signer-key-null"),
    pytest.param(_wire(device="0x1234"), id="device-short"),
    pytest.param(_wire(device=12), id="device-not-string"),
    pytest.param(_wire(payload=[1, 2]), id="payload-list"),
    pytest.param(_wire(payload="{}"), id="payload-string"),
    pytest.param(_wire(payload={"lat": 52.5}), id="payload-float"),
    pytest.param(_wire(payload={"a": [{"b": 1.5}]}), id="payload-nested-float"),
    pytest.param([1, 2], id="not-an-object"),
    pytest.param(None, id="null"),
]
"""Wire objects both decoders must reject as MALFORMED."""


@pytest.mark.parametrize(
    "wire",
    [
        *MALFORMED_WIRES,
        pytest.param(_wire(payload={"s": "x" * MAX_PAYLOAD_BYTES}), id="payload-too-large"),
    ],
)
def test_from_json_rejects_malformed(wire: Any) -> None:
    with pytest.raises(InvalidReport) as info:
        from_json(wire)
    assert info.value.code == RejectReason.MALFORMED


def test_from_json_rejects_wrong_device_checksum() -> None:
    device = to_json(signed(_SECP))["device"]
    # Swap one letter's case so the result stays mixed-case (an all-lower or all-upper
    # address carries no checksum and would be accepted).
    bad = next(
        flipped
        for i, c in enumerate(device)
        if i >= 2 and c.isalpha()
        for flipped in [device[:i] + c.swapcase() + device[i + 1 :]]
        if not (flipped[2:].islower() or flipped[2:].isupper())
    )
    with pytest.raises(InvalidReport, match="checksum"):
        from_json(_wire(device=bad))


@pytest.mark.parametrize("line", ["", "{", "[]", b"\xff\xfe"])
def test_loads_rejects_non_json_as_malformed(line: str | bytes) -> None:
    with pytest.raises(InvalidReport) as info:
        loads(line)
    assert info.value.code == RejectReason.MALFORMED


def test_encode_many_decode_many_round_trip() -> None:
    reports = [signed(_SECP, seq=i) for i in range(3)] + [signed(_ED, seq=9)]
    blob = encode_many(reports)
    assert blob.count(b"\n") == 4 and blob.endswith(b"\n")
    assert decode_many(blob) == reports
    assert decode_many(blob.decode() + "\n\n") == reports  # blank lines are skipped
    assert decode_many(b"") == []


def test_decode_many_names_the_bad_line() -> None:
    blob = encode_many([signed(_SECP)]) + b'{"not": "a report"}\n'
    with pytest.raises(InvalidReport, match="line 2"):
        decode_many(blob)


_json_leaf = st.integers(-(2**70), 2**70) | st.text(max_size=8) | st.booleans() | st.none()
_payloads = st.dictionaries(
    st.text(max_size=6),
    st.recursive(
        _json_leaf,
        lambda kids: (
            st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=4), kids, max_size=3)
        ),
        max_leaves=6,
    ),
    max_size=5,
)


@settings(max_examples=40, deadline=None)
@given(payload=_payloads, seq=st.integers(0, 2**63 - 1))
def test_codec_round_trips_any_integer_payload(payload: dict[str, Any], seq: int) -> None:
    report = signed(_ED, payload=payload, seq=seq)
    assert decode_many(encode_many([report])) == [report]
    assert from_json(json.loads(json.dumps(to_json(report)))) == report


# --- from_json_fast / dumps: the hot-path versions must agree with the reference ones ---


def _outcome(decode: Any, wire: Any) -> Any:
    """What a decoder does with `wire`: the Report, or the InvalidReport's (code, message)."""
    try:
        return decode(wire)
    except InvalidReport as exc:
        return ("rejected", exc.code, exc.message)


class _Colour(Enum):
    RED = 1


_FRESH_SECP = DeviceKey.generate()  # its device id never went through from_json before


@pytest.mark.parametrize(
    "wire",
    [
        pytest.param(_wire(), id="valid-secp256k1"),
        pytest.param(to_json(signed(_ED)), id="valid-ed25519"),
        pytest.param(to_json(signed(_FRESH_SECP)), id="valid-device-not-cached"),
        pytest.param(_wire(device=to_json(signed(_SECP))["device"].lower()), id="lower-device"),
        pytest.param(_wire(network="réseau"), id="non-ascii-network"),
        pytest.param(_wire(kind="x" * 129), id="kind-too-long"),
        pytest.param(_wire(chainId=2**256), id="uint256-overflow"),
        pytest.param(_wire(chainId=2**255), id="big-chain-id"),
        pytest.param(_wire(version=True), id="bool-version"),
        pytest.param(_wire(timestampMs=-1), id="negative-timestamp"),
        pytest.param(_wire(signature="0x" + "ab" * 200), id="signature-too-long"),
        pytest.param(_wire(signature="0x ab"), id="signature-with-space"),
        pytest.param(_wire(signerKey="0xg0"), id="signer-key-bad-hex"),
        pytest.param(_wire(payload={}), id="payload-empty"),
        pytest.param(_wire(payload={"n": 2**64}), id="payload-int-beyond-64-bits"),
        pytest.param(_wire(payload={"n": -(2**63) - 1}), id="payload-int-below-int64"),
        pytest.param(_wire(payload={"s": "\ud800"}), id="payload-lone-surrogate"),
        pytest.param(_wire(payload={"s": "\x00\x1f\x7f\u2028\"\\/é😀"}), id="payload-escapes"),
        pytest.param(_wire(payload={"😀": 1, "\uffff": 2, "é": 3, "a": 4}), id="payload-key-order"),
        pytest.param(_wire(payload={"a": [1, [True, None], {"z": "y"}]}), id="payload-nested"),
        pytest.param(_wire(payload={"a": (1, 2)}), id="payload-tuple"),
        pytest.param(_wire(payload={1: 2}), id="payload-int-key"),
        pytest.param(_wire(payload={"c": _Colour.RED}), id="payload-enum"),
        pytest.param(_wire(payload={"a": [1.5]}), id="payload-float-in-list"),
        pytest.param(_wire(payload={"s": "x" * (MAX_PAYLOAD_BYTES - 8)}), id="payload-at-limit"),
        pytest.param(_wire(payload={"s": "x" * (MAX_PAYLOAD_BYTES - 7)}), id="payload-over-limit"),
        pytest.param(_wire(payload={"s": "é" * (MAX_PAYLOAD_BYTES // 2)}), id="payload-utf8-over"),
        *MALFORMED_WIRES,
    ],
)
def test_from_json_fast_gives_the_same_result_as_from_json(wire: Any) -> None:
    fast = _outcome(from_json_fast, wire)
    assert fast == _outcome(from_json, wire)
    assert fast == _outcome(from_json_fast, wire)  # a second call (device now cached) agrees


def test_from_json_fast_rejects_wrong_checksum_like_from_json() -> None:
    device = to_json(signed(_SECP))["device"]
    bad = next(
        flipped
        for i, c in enumerate(device)
        if i >= 2 and c.isalpha()
        for flipped in [device[:i] + c.swapcase() + device[i + 1 :]]
        if not (flipped[2:].islower() or flipped[2:].isupper())
    )
    fast = _outcome(from_json_fast, _wire(device=bad))
    assert fast == _outcome(from_json, _wire(device=bad))
    assert fast[0] == "rejected" and "checksum" in fast[2]


_any_json_leaf = st.integers(-(2**70), 2**70) | st.text(max_size=8) | st.booleans() | st.none()
_any_payloads = st.dictionaries(
    st.text(max_size=6),
    st.recursive(
        _any_json_leaf | st.floats(allow_nan=False),
        lambda kids: (
            st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=4), kids, max_size=3)
        ),
        max_leaves=6,
    ),
    max_size=5,
)


@settings(max_examples=150, deadline=None)
@given(payload=_any_payloads)
def test_from_json_fast_agrees_with_from_json_on_any_payload(payload: dict[str, Any]) -> None:
    wire = _wire(payload=payload)
    assert _outcome(from_json_fast, wire) == _outcome(from_json, wire)


@settings(max_examples=60, deadline=None)
@given(
    payload=_payloads,
    network=st.text(min_size=1, max_size=10),
    kind=st.text(min_size=1, max_size=10),
    chain_id=st.integers(0, 2**256 - 1),
)
def test_dumps_equals_json_dumps_of_the_wire_object(
    payload: dict[str, Any], network: str, kind: str, chain_id: int
) -> None:
    report = dataclasses.replace(
        signed(_ED, payload=payload), network_id=network, kind=ProofKind(kind), chain_id=chain_id
    )
    head = json.dumps(_head_of(report), separators=(",", ":"), ensure_ascii=False)
    assert dumps(report) == head[:-1] + ',"payload":' + report.payload.decode("utf-8") + "}"


def _head_of(report: Report) -> dict[str, Any]:
    obj = to_json(report)
    del obj["payload"]
    return obj


# --- loads_fast: orjson + from_json_fast must decode every line as loads does ---


def _line_outcome(decode: Any, line: bytes) -> Any:
    try:
        return decode(line)
    except InvalidReport as exc:
        return ("rejected", exc.code, exc.message)


def _nested(depth: int) -> bytes:
    """A report line whose payload nests `depth` arrays deep."""
    inner = "[" * depth + "]" * depth
    return dumps(signed(_SECP)).replace('"payload":{', '"payload":{"d":' + inner + ",", 1).encode()


LINE_CASES = [
    dumps(signed(_SECP)).encode(),
    dumps(signed(_ED)).encode(),
    dumps(signed(_SECP)).encode().replace(b'"seq":', b'"seq": ', 1),  # other whitespace
    dumps(signed(_SECP)).encode().replace(b'"payload":{', b'"payload":{"s":"\\ud800",', 1),
    dumps(signed(_SECP)).encode().replace(b'"payload":{', b'"payload":{"f":NaN,', 1),
    dumps(signed(_SECP)).encode().replace(b'"payload":{', b'"payload":{"n":' + b"9" * 30 + b",", 1),
    dumps(signed(_SECP)).encode().replace(b'"payload":{', b'"payload":{"f":1e400,', 1),
    dumps(signed(_SECP)).encode().replace(b'"payload":{', b'"payload":{"a":1,"a":2,', 1),
    b"\xef\xbb\xbf" + dumps(signed(_SECP)).encode(),  # a UTF-8 byte order mark
    dumps(signed(_SECP)).encode("utf-16-le"),
    b'{"version":1,' + b"\xff" + b"}",
    b"[]",
    b"",
    *(_nested(d) for d in (1019, 1020, 1021, 1022, 1023, 1024, 1025)),
]


@pytest.mark.parametrize("line", LINE_CASES)
def test_loads_fast_decodes_every_line_as_loads(line: bytes) -> None:
    assert _line_outcome(loads_fast, line) == _line_outcome(loads, line)


@settings(max_examples=200, deadline=None)
@given(position=st.integers(0, 10_000), junk=st.binary(min_size=1, max_size=4))
def test_loads_fast_agrees_with_loads_on_damaged_lines(position: int, junk: bytes) -> None:
    line = dumps(signed(_SECP)).encode()
    at = position % (len(line) + 1)
    damaged = line[:at] + junk + line[at:]
    assert _line_outcome(loads_fast, damaged) == _line_outcome(loads, damaged)


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(payload=st.dictionaries(st.text(max_size=6), _JSON_VALUES, max_size=5), ascii_only=st.booleans())
def test_loads_fast_agrees_with_loads_on_any_payload(payload: dict[str, Any], ascii_only: bool) -> None:
    head = dumps(signed(_SECP)).split('"payload":', 1)[0]
    line = (head + '"payload":' + json.dumps(payload, ensure_ascii=ascii_only) + "}").encode(
        "utf-8", "surrogatepass"
    )
    assert _line_outcome(loads_fast, line) == _line_outcome(loads, line)


def test_fast_decoded_reports_hold_no_oversized_buffers() -> None:
    """orjson's output bytes keep its whole buffer (about 4 KiB); a sealed epoch holds every
    Report for the whole compute, so the fast path must keep exact-size payloads (this once
    tripled the read stage's memory)."""
    import tracemalloc

    line = dumps(signed(_SECP)).encode()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [loads_fast(line) for _ in range(2_000)]
        per_report = (tracemalloc.get_traced_memory()[0] - before) / len(kept)
    finally:
        tracemalloc.stop()
    assert kept[0] == loads(line)
    assert per_report < 1_500, f"{per_report:.0f} bytes traced per decoded report"
