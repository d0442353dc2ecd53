"""Wire codec: reports as JSON objects (HTTP bodies) and JSON lines (the report log).

A report on the wire is one JSON object whose field names are the EIP-712 field names, plus
the signature fields::

    {"version": 1, "network": "opendepin-dev", "chainId": 31337,
     "device": "0x…(EIP-55)", "kind": "heartbeat", "epoch": 12, "seq": 40,
     "timestampMs": 1767225600000, "payload": {"lat_e7": 525200000, "lon_e7": 134050000},
     "signature": "0x…", "signerKey": "0x"}

`payload` travels as the JSON object itself; `from_json` re-encodes it canonically
(`envelope.canonical_payload`), so what is verified is exactly what the device signed no
matter how the JSON was spaced or ordered in transit. `signerKey` is `"0x"` for secp256k1.

Decoding is strict: any missing or unknown field, wrong JSON type (booleans are not
integers), out-of-range integer, bad hex (whitespace included, which `bytes.fromhex` would
skip), bad address checksum, float anywhere in the payload, or an oversized payload raises
`InvalidReport` with reason `MALFORMED`. Signature *lengths* are left to
`verify.check_signatures` (reason `BAD_SIGNATURE`).

`from_json` is the reference decoder: it reads as the specification. `from_json_fast` is the
one ingest calls for every report: it accepts only the common shape (every check written as
one inline type/range test, the payload canonicalised by orjson) and hands anything else to
`from_json`, so it returns exactly what `from_json` returns and raises exactly what
`from_json` raises — the tests compare the two on valid and malformed inputs. `dumps` builds
the wire line with string formatting; it produces the same bytes as
`json.dumps(..., separators=(",", ":"), ensure_ascii=False)`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from opendepin import jsonlimits
from opendepin.errors import InvalidReport
from opendepin.identity.address import checksum
from opendepin.reports.eip712 import UINT16_LIMIT, UINT256_LIMIT
from opendepin.reports.envelope import REPORT_VERSION, Report, canonical_payload, plain_json
from opendepin.reports.reasons import RejectReason
from opendepin.types import DeviceId, Epoch, ProofKind

WIRE_INT64_LIMIT = 2**63
"""Upper bound (exclusive) for epoch, seq and timestampMs on the wire. The signed type is
uint64, but every store keeps them in a signed 64-bit column (PostgreSQL has no unsigned
BIGINT), so the wire accepts the range both agree on; 2**63 ms is 292 million years."""

MAX_PAYLOAD_BYTES = 65_536
"""Largest canonical payload accepted, in bytes."""
MAX_NAME_CHARS = 128
"""Longest network id or kind name accepted, in characters."""
MAX_HEX_SIGNATURE_CHARS = 2 + 2 * 128
"""Longest signature / signerKey hex string accepted (64 bytes of slack over real sizes)."""

WIRE_FIELDS = frozenset(
    {
        "version",
        "network",
        "chainId",
        "device",
        "kind",
        "epoch",
        "seq",
        "timestampMs",
        "payload",
        "signature",
        "signerKey",
    }
)
"""Every field of a wire report (all required)."""

_DEVICE_CACHE_MAX = 200_000  # checksummed-address cache bound (one entry per device)
_checksummed: dict[str, DeviceId] = {}


def _head(report: Report) -> dict[str, Any]:
    """Every wire field except `payload`, in wire order."""
    return {
        "version": report.version,
        "network": report.network_id,
        "chainId": report.chain_id,
        "device": report.device,
        "kind": report.kind,
        "epoch": report.epoch,
        "seq": report.seq,
        "timestampMs": report.timestamp_ms,
        "signature": "0x" + report.signature.hex(),
        "signerKey": "0x" + report.signer_key.hex(),
    }


def to_json(report: Report) -> dict[str, Any]:
    """The wire JSON object of a report (payload decoded to an object)."""
    obj = _head(report)
    obj["payload"] = report.payload_obj()
    return obj


def _malformed(message: str) -> InvalidReport:
    return InvalidReport(RejectReason.MALFORMED, message)


def _uint(obj: dict[str, Any], name: str, limit: int) -> int:
    value = obj[name]
    if type(value) is not int:
        raise _malformed(f"{name} must be an integer, got {type(value).__name__}")
    if not 0 <= value < limit:
        raise _malformed(f"{name} must be in [0, {limit}), got {value}")
    return value


def _name(obj: dict[str, Any], name: str) -> str:
    value = obj[name]
    if type(value) is not str or not value or len(value) > MAX_NAME_CHARS:
        raise _malformed(f"{name} must be a non-empty string of at most {MAX_NAME_CHARS} chars")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _malformed(f"{name} is not valid Unicode text") from None
    return value


def _hex(obj: dict[str, Any], name: str) -> bytes:
    value = obj[name]
    if type(value) is not str or value[:2] != "0x" or len(value) > MAX_HEX_SIGNATURE_CHARS:
        raise _malformed(f"{name} must be a 0x-prefixed hex string")
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError:
        raise _malformed(f"{name} is not valid hex") from None
    if 2 * len(raw) != len(value) - 2:  # bytes.fromhex skips whitespace; the wire has none
        raise _malformed(f"{name} is not valid hex")
    return raw


def _device(value: Any) -> DeviceId:
    if type(value) is not str:
        raise _malformed("device must be a string")
    cached = _checksummed.get(value)
    if cached is not None:
        return cached
    try:
        device = checksum(value)
    except ValueError as exc:
        raise _malformed(f"device: {exc}") from None
    if len(_checksummed) < _DEVICE_CACHE_MAX:
        _checksummed[value] = device
    return device


def from_json(obj: Any) -> Report:
    """Decode one wire object; InvalidReport(MALFORMED) on any problem."""
    if type(obj) is not dict:
        raise _malformed(f"a report must be a JSON object, got {type(obj).__name__}")
    if obj.keys() != WIRE_FIELDS:
        missing = sorted(WIRE_FIELDS - obj.keys())
        unknown = sorted(k for k in obj if k not in WIRE_FIELDS)
        raise _malformed(f"missing fields {missing}, unknown fields {unknown}")
    version = _uint(obj, "version", UINT16_LIMIT)
    if version != REPORT_VERSION:
        raise _malformed(f"unsupported report version {version} (expected {REPORT_VERSION})")
    payload_obj = obj["payload"]
    if type(payload_obj) is not dict:
        raise _malformed("payload must be a JSON object")
    try:
        payload = canonical_payload(payload_obj)
    except (TypeError, ValueError) as exc:
        raise _malformed(f"payload: {exc}") from None
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise _malformed(f"payload is {len(payload)} bytes, more than {MAX_PAYLOAD_BYTES}")
    return Report(
        network_id=_name(obj, "network"),
        chain_id=_uint(obj, "chainId", UINT256_LIMIT),
        device=_device(obj["device"]),
        kind=ProofKind(_name(obj, "kind")),
        epoch=Epoch(_uint(obj, "epoch", WIRE_INT64_LIMIT)),
        seq=_uint(obj, "seq", WIRE_INT64_LIMIT),
        timestamp_ms=_uint(obj, "timestampMs", WIRE_INT64_LIMIT),
        payload=payload,
        signature=_hex(obj, "signature"),
        signer_key=_hex(obj, "signerKey"),
        version=version,
    )


def _fast_payload(payload_obj: dict[str, Any]) -> bytes | None:
    """The canonical payload bytes, or None where only `canonical_payload` decides."""
    if not plain_json(payload_obj):
        return None
    try:
        payload = orjson.dumps(payload_obj, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits, or a lone surrogate
        return None
    if len(payload) > MAX_PAYLOAD_BYTES:
        return None
    # orjson's bytes keep its whole output buffer (about 4 KiB, however short the payload);
    # a Report holds its payload for the epoch, so keep an exact-size copy instead.
    return bytes(memoryview(payload))


def from_json_fast(obj: Any) -> Report:
    """`from_json` for ingest's hot path: the same result, and the same InvalidReport.

    Only a report of the usual shape — exact JSON types, integers in range, ASCII names, a
    device id already seen by `from_json` (checksummed form cached), plain-JSON payload — is
    decoded here; anything else, valid or not, is decoded by `from_json` itself.
    """
    return _decode_usual(obj, lambda: from_json(obj))


_WIRE_FIELD_COUNT = len(WIRE_FIELDS)

UsualWire = tuple[int, str, int, DeviceId, str, int, int, int, bytes, bytes, dict[str, Any]]
"""(version, network, chainId, device, kind, epoch, seq, timestampMs, signature, signerKey,
payload object) of a wire object of the usual shape."""


def device_id(value: Any) -> DeviceId | None:
    """The device id `from_json` decodes from a wire `device` value (checksummed), or None
    where `from_json` would refuse it."""
    try:
        return _device(value)
    except InvalidReport:
        return None


def usual_wire(obj: Any, known: dict[str, DeviceId] | None = None) -> UsualWire | None:
    """The fields of a wire object of the usual shape (see `from_json_fast`), else None.

    Exact types only: a float at the top level is never the usual shape. The payload object
    is returned as decoded; `_decode_usual` (and any caller that builds a `Report`'s
    canonical payload itself) must still check it is plain JSON. The device must be one
    whose checksummed form is in `known` (default: the ones `from_json` has seen); a first
    sight is None (`device_id` gives its id)."""
    if type(obj) is not dict or len(obj) != _WIRE_FIELD_COUNT:
        return None
    try:  # all of the distinct fields and no more: exactly WIRE_FIELDS (no set comparison)
        version = obj["version"]
        network = obj["network"]
        chain_id = obj["chainId"]
        kind = obj["kind"]
        epoch = obj["epoch"]
        seq = obj["seq"]
        ts = obj["timestampMs"]
        signature = obj["signature"]
        signer_key = obj["signerKey"]
        payload_obj = obj["payload"]
        wire_device = obj["device"]
    except KeyError:
        return None
    device = (_checksummed if known is None else known).get(wire_device) if type(wire_device) is str else None
    if not (
        device is not None
        and type(version) is int
        and version == REPORT_VERSION
        and type(network) is str
        and 0 < len(network) <= MAX_NAME_CHARS
        and network.isascii()
        and type(chain_id) is int
        and 0 <= chain_id < UINT256_LIMIT
        and type(kind) is str
        and 0 < len(kind) <= MAX_NAME_CHARS
        and kind.isascii()
        and type(epoch) is int
        and 0 <= epoch < WIRE_INT64_LIMIT
        and type(seq) is int
        and 0 <= seq < WIRE_INT64_LIMIT
        and type(ts) is int
        and 0 <= ts < WIRE_INT64_LIMIT
        and type(signature) is str
        and signature[:2] == "0x"
        and len(signature) <= MAX_HEX_SIGNATURE_CHARS
        and type(signer_key) is str
        and signer_key[:2] == "0x"
        and len(signer_key) <= MAX_HEX_SIGNATURE_CHARS
        and type(payload_obj) is dict
    ):
        return None
    pair = hex_pair(signature, signer_key)
    if pair is None:
        return None
    return (version, network, chain_id, device, kind, epoch, seq, ts, pair[0], pair[1], payload_obj)


def hex_pair(signature: str, signer_key: str) -> tuple[bytes, bytes] | None:
    """The bytes of a `0x`-prefixed signature and signer key (prefixes already checked), or
    None unless both are hex digits only (`bytes.fromhex` skips whitespace: refused here)."""
    try:
        sig = bytes.fromhex(signature[2:])
        key = bytes.fromhex(signer_key[2:])
    except ValueError:
        return None
    if 2 * (len(sig) + len(key)) != len(signature) + len(signer_key) - 4:  # whitespace skipped
        return None
    return sig, key


def _decode_usual(obj: Any, otherwise: Callable[[], Report]) -> Report:
    """The Report of a wire object of the usual shape (see `from_json_fast`), else `otherwise()`."""
    fields = usual_wire(obj)
    if fields is None:
        return otherwise()
    version, network, chain_id, device, kind, epoch, seq, ts, sig, key, payload_obj = fields
    payload = _fast_payload(payload_obj)
    if payload is None:
        return otherwise()
    return Report(
        network_id=network,
        chain_id=chain_id,
        device=device,
        kind=ProofKind(kind),
        epoch=Epoch(epoch),
        seq=seq,
        timestamp_ms=ts,
        payload=payload,
        signature=sig,
        signer_key=key,
        version=version,
    )


def _json_str(text: str) -> str:
    """`json.dumps(text, ensure_ascii=False)`, without the call for plain printable ASCII."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return '"' + text + '"'
    return json.dumps(text, ensure_ascii=False)


def _dumps_reference(report: Report) -> str:
    head = json.dumps(_head(report), separators=(",", ":"), ensure_ascii=False)
    return head[:-1] + ',"payload":' + report.payload.decode("utf-8") + "}"


def dumps(report: Report) -> str:
    """One report as a compact JSON line (no trailing newline).

    The bytes are those of `json.dumps(to_json(report), separators=(",", ":"),
    ensure_ascii=False)` with the payload last and spliced in verbatim (its canonical bytes
    are never decoded and re-encoded). Reports with unusual field types take the json path.
    """
    version, chain_id, epoch, seq, ts = (
        report.version,
        report.chain_id,
        report.epoch,
        report.seq,
        report.timestamp_ms,
    )
    network, device, kind = report.network_id, report.device, report.kind
    if not (
        type(version) is int
        and type(chain_id) is int
        and type(epoch) is int
        and type(seq) is int
        and type(ts) is int
        and type(network) is str
        and type(device) is str
        and type(kind) is str
    ):
        return _dumps_reference(report)
    return (
        f'{{"version":{version},"network":{_json_str(network)},"chainId":{chain_id},'
        f'"device":{_json_str(device)},"kind":{_json_str(kind)},"epoch":{epoch},'
        f'"seq":{seq},"timestampMs":{ts},"signature":"0x{report.signature.hex()}",'
        f'"signerKey":"0x{report.signer_key.hex()}","payload":'
        + report.payload.decode("utf-8")
        + "}"
    )


def loads(line: str | bytes) -> Report:
    """Decode one JSON line; InvalidReport(MALFORMED) if it is not valid JSON or not a report."""
    try:
        obj = jsonlimits.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError and TooDeep included
        raise _malformed(f"not valid JSON: {exc}") from None
    return from_json(obj)


def loads_fast(line: bytes) -> Report:
    """`loads` for hot paths (sealed files, the oracle's read stage): the same Report, or the
    same InvalidReport. orjson parses and `from_json_fast` decodes. Where orjson and the
    stdlib parser could differ, `loads` itself decodes the line, so the result and any error
    are `loads`' own: a line orjson refuses (lone surrogates, NaN, other encodings, nesting
    past `jsonlimits.MAX_JSON_NESTING`), and any line not of the usual shape — among them a
    line whose parse holds a float (orjson reads an integer beyond 64 bits as a float, the
    stdlib parser as an int)."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return loads(line)
    return _decode_usual(obj, lambda: loads(line))


def encode_many(reports: Iterable[Report]) -> bytes:
    """JSON Lines (UTF-8, one report per line, each line ending in a newline)."""
    return "".join(dumps(r) + "\n" for r in reports).encode("utf-8")


def decode_many(data: bytes | str) -> list[Report]:
    """Decode JSON Lines; blank lines are skipped. InvalidReport(MALFORMED) names the line.

    Lines are split on "\n" only: canonical payloads keep non-ASCII text verbatim, and
    characters such as U+0085 or U+2028 that `str.splitlines` would treat as line breaks
    can occur inside a report.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    out: list[Report] = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            out.append(loads(line))
        except InvalidReport as exc:
            raise _malformed(f"line {number}: {exc.message}") from None
    return out
