"""The sealed-line fast path (`lines.compute_lines`) against the decoded path: on random
epochs with every fault, written as sealed lines of every shape a line can take (the usual
one, spaced, reordered, lower-case devices, null or extra payload keys, booleans, floats and
integers beyond 64 bits, bad hex, text that is not a line), it gives exactly the invalid
verdicts and the tallies `compute_shard` gives on the decoded lines, or the same error."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from opendepin.errors import StoreError
from opendepin.identity.address import to_checksum_address
from opendepin.proofs.heartbeat import KIND
from opendepin.proofs.heartbeat.lines import compute_lines
from opendepin.proofs.kind import LineShardedKind
from opendepin.records import ChainSnapshot, IngestedReport
from opendepin.reports import codec
from opendepin.store.sealing import parse_sealed_line
from opendepin.types import DeviceId

from .conftest import heartbeat, record, snapshot
from .test_sharded import _job, _settings, epochs

SHAPES = (("usual",) * 12) + (
    "spaced", "reordered", "lower_device", "null_accuracy", "extra_key", "bool_lat", "big_lat",
    "upper_hash", "float_ts", "float_lat", "spaced_signature", "leading_space", "not_json",
    "duplicate_seq", "duplicate_lat", "null_block", "half_challenge", "surrogate_network",
    "version_2", "huge_chain", "empty_network", "accented_network", "big_seq", "string_seq",
    "negative_accuracy", "escaped_device", "raw_control",
)  # fmt: skip
DEVICE = DeviceId(to_checksum_address(b"\xa1" * 20))
"""A checksummed device id with upper- and lower-case letters."""
RAISING = {
    "float_ts", "float_lat", "spaced_signature", "leading_space", "not_json", "raw_control",
    "surrogate_network", "version_2", "huge_chain", "empty_network", "big_seq", "string_seq",
}  # fmt: skip
"""Shapes no decoder accepts: the whole shard fails with the decoder's StoreError."""


def _shaped(line: bytes, shape: str) -> bytes:
    obj: dict[str, Any] = json.loads(line)
    payload = obj["payload"]
    if shape == "usual":
        return line
    if shape == "leading_space":
        return b" " + line
    if shape == "not_json":
        return line[:-1] + b",}"
    if shape == "spaced":
        return json.dumps(obj).encode()
    if shape == "duplicate_seq":  # the stdlib parser keeps the last value of a repeated key
        return b'{"seq":' + str(obj["seq"] + 7).encode() + b"," + line[1:]
    if shape == "duplicate_lat":
        return line.replace(b'"payload":{', b'"payload":{"lat_e7":"x",', 1)
    if shape == "escaped_device":  # the same device, one letter as a \u escape
        return line.replace(b'"device":"0x', b'"device":"\\u0030x', 1)
    if shape == "raw_control":  # a raw control character inside a string: no parser takes it
        return line.replace(b'"network":"', b'"network":"\x01', 1)
    if shape == "surrogate_network":  # the stdlib parser accepts a lone surrogate escape
        return line.replace(b'"network":"', b'"network":"\\ud800', 1)
    if shape == "reordered":
        obj = dict(reversed(list(obj.items())))
    elif shape == "lower_device":
        obj["device"] = obj["device"].lower()
    elif shape == "null_accuracy":
        payload["accuracy_m"] = None
    elif shape == "extra_key":
        payload["altitude_m"] = 3
    elif shape == "bool_lat":
        payload["lat_e7"] = True
    elif shape == "big_lat":
        payload["lat_e7"] = 2**70
    elif shape == "upper_hash" and "challenge_hash" in payload:
        payload["challenge_hash"] = payload["challenge_hash"].upper().replace("0X", "0x")
    elif shape == "float_ts":
        obj["timestampMs"] = float(obj["timestampMs"])
    elif shape == "float_lat":
        payload["lat_e7"] = 473769000.5
    elif shape == "null_block":
        payload["challenge_block"] = None
    elif shape == "half_challenge":
        payload["challenge_block"] = 5
        payload.pop("challenge_hash", None)
    elif shape == "version_2":
        obj["version"] = 2
    elif shape == "huge_chain":
        obj["chainId"] = 2**256
    elif shape == "empty_network":
        obj["network"] = ""
    elif shape == "accented_network":
        obj["network"] = obj["network"] + "é"
    elif shape == "big_seq":
        obj["seq"] = 2**63
    elif shape == "string_seq":
        obj["seq"] = str(obj["seq"])
    elif shape == "negative_accuracy":
        payload["accuracy_m"] = -1
    elif shape == "spaced_signature":
        obj["signature"] = obj["signature"][:4] + " " + obj["signature"][4:]
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _decoder(lines: list[bytes]) -> Any:
    return lambda index: parse_sealed_line(lines[index], f"line {index + 1}")


def _reference(lines: list[bytes], snap: ChainSnapshot) -> tuple[object, object] | str:
    """(invalid verdicts by index, partial) of the decoded path, or its StoreError."""
    settings = _settings()
    try:
        reports = [parse_sealed_line(line, f"line {n}") for n, line in enumerate(lines, start=1)]
    except StoreError as exc:
        return str(exc)
    part = KIND.compute_shard(_job(reports, snap, settings))
    return tuple((i, v) for i, v in enumerate(part.verdicts) if not v.valid), part.partial


def _fast(lines: list[bytes], snap: ChainSnapshot) -> tuple[object, object] | str:
    try:
        judged = compute_lines(lines, snap, _settings(), _decoder(lines))
    except StoreError as exc:
        return str(exc)
    assert judged.count == len(lines)
    return judged.invalid, judged.partial


@hsettings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(epochs(), st.data())
def test_the_fast_path_judges_every_line_as_the_decoded_path(
    case: tuple[list[IngestedReport], list[ChainSnapshot], dict[DeviceId, int]], data: st.DataObject
) -> None:
    reports, (snap,), _ = case
    # sealed order is by (device, seq); the fast path must not depend on it, so half the time
    # keep the strategy's random order
    if data.draw(st.booleans()):
        reports = sorted(reports, key=lambda r: (r.report.device, r.report.seq))
    lines = [
        _shaped(codec.dumps(r.report).encode(), data.draw(st.sampled_from(SHAPES))) for r in reports
    ]
    assert _fast(lines, snap) == _reference(lines, snap)


def test_the_shapes_reach_the_fast_and_the_slow_path() -> None:
    """The property is only as good as its lines: each shape changes what the fast path sees,
    and the raising shapes raise (the others do not)."""
    settings = _settings()
    snap = snapshot(record(DEVICE))
    line = codec.dumps(heartbeat(settings, 2, device=DEVICE).report).encode()
    for shape in SHAPES:
        shaped = _shaped(line, shape)
        assert (shaped == line) == (shape == "usual"), shape
        outcome = _fast([shaped], snap)
        assert isinstance(outcome, str) == (shape in RAISING), shape
        assert outcome == _reference([shaped], snap), shape


def test_the_kind_judges_lines_with_compute_lines() -> None:
    settings = _settings()
    snap = snapshot(record(DEVICE))
    lines = [codec.dumps(heartbeat(settings, h, device=DEVICE, seq=h + 1).report).encode() for h in range(4)]
    assert isinstance(KIND, LineShardedKind)
    judged = KIND.compute_shard_lines(_job([], snap, settings), lines, _decoder(lines))
    assert judged == compute_lines(lines, snap, settings, _decoder(lines))
    assert judged.invalid == ()
    assert judged.partial[DEVICE].explanation.hours == 4
    decoded: list[int] = []

    def counting(index: int) -> IngestedReport:
        decoded.append(index)
        return parse_sealed_line(lines[index], "line")

    assert compute_lines(lines, snap, settings, counting) == judged
    assert decoded == []  # usual lines never reach the decoder


def test_an_undecodable_line_raises_the_decoders_error() -> None:
    settings = _settings()
    snap = snapshot(record())
    lines = [codec.dumps(heartbeat(settings, 1).report).encode(), b"{not a report}"]
    with pytest.raises(StoreError, match="line 2"):
        compute_lines(lines, snap, settings, _decoder(lines))
