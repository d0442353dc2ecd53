"""`Report.payload_obj` decodes with orjson where it can; whatever the bytes, it answers what
the reference decoder (`json.loads`) answers: the same object, or a ValueError."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from opendepin.reports.envelope import Report
from opendepin.types import DeviceId, Epoch, ProofKind

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)


def _report(payload: bytes) -> Report:
    return Report(
        network_id="n", chain_id=1, device=DeviceId("0x" + "ab" * 20), kind=ProofKind("heartbeat"),
        epoch=Epoch(0), seq=1, timestamp_ms=0, payload=payload,
    )  # fmt: skip


def _reference(payload: bytes) -> Any:
    obj = json.loads(payload)
    if not isinstance(obj, dict):
        raise ValueError("payload is not a JSON object")
    return obj


def _outcome(fn: Any, payload: bytes) -> tuple[str, Any]:
    try:
        return "ok", fn(payload)
    except ValueError:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        return "error", None


def _same(a: tuple[str, Any], b: tuple[str, Any]) -> bool:
    # compare through json text so NaN equals NaN and 1 vs 1.0 / True vs 1 are told apart
    if a[0] != b[0]:
        return False
    return a[0] == "error" or (json.dumps(a[1], sort_keys=True) == json.dumps(b[1], sort_keys=True) and _types(a[1]) == _types(b[1]))


def _types(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_types(v) for v in value]
    return type(value).__name__


@hsettings(max_examples=400, deadline=None)
@given(value=json_values, ascii_only=st.booleans())
def test_payload_obj_equals_json_loads_on_any_json(value: Any, ascii_only: bool) -> None:
    try:
        payload = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    except (ValueError, UnicodeEncodeError):
        return
    assert _same(_outcome(lambda p: _report(p).payload_obj(), payload), _outcome(_reference, payload))


@hsettings(max_examples=300, deadline=None)
@given(st.binary(max_size=40) | st.sampled_from([
    b'{"a":18446744073709551616}', b'{"a":-9223372036854775809}', b'{"a":1e400}', b'{"a":"\\ud800"}',
    b'\xef\xbb\xbf{"a":1}', b'{"a":1,"a":2}', b'{"a":NaN}', b'[1]', b'{"a":1} x', '{"a":1}'.encode("utf-16"),
]))  # fmt: skip
def test_payload_obj_equals_json_loads_on_any_bytes(payload: bytes) -> None:
    assert _same(_outcome(lambda p: _report(p).payload_obj(), payload), _outcome(_reference, payload))
