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
integers), out-of-range integer, bad hex, bad address checksum, float anywhere in the
payload, or an oversized payload raises `InvalidReport` with reason `MALFORMED`. Signature
*lengths* are left to `verify.check_signatures` (reason `BAD_SIGNATURE`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from opendepin.errors import InvalidReport
from opendepin.identity.address import checksum
from opendepin.reports.eip712 import UINT16_LIMIT, UINT64_LIMIT, UINT256_LIMIT
from opendepin.reports.envelope import REPORT_VERSION, Report, canonical_payload
from opendepin.reports.reasons import RejectReason
from opendepin.types import DeviceId, Epoch, ProofKind

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
        return bytes.fromhex(value[2:])
    except ValueError:
        raise _malformed(f"{name} is not valid hex") from None


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
        epoch=Epoch(_uint(obj, "epoch", UINT64_LIMIT)),
        seq=_uint(obj, "seq", UINT64_LIMIT),
        timestamp_ms=_uint(obj, "timestampMs", UINT64_LIMIT),
        payload=payload,
        signature=_hex(obj, "signature"),
        signer_key=_hex(obj, "signerKey"),
        version=version,
    )


def dumps(report: Report) -> str:
    """One report as a compact JSON line (no trailing newline)."""
    # Splice the canonical payload bytes in verbatim instead of decoding and re-encoding them.
    head = json.dumps(_head(report), separators=(",", ":"), ensure_ascii=False)
    return head[:-1] + ',"payload":' + report.payload.decode("utf-8") + "}"


def loads(line: str | bytes) -> Report:
    """Decode one JSON line; InvalidReport(MALFORMED) if it is not valid JSON or not a report."""
    try:
        obj = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _malformed(f"not valid JSON: {exc}") from None
    return from_json(obj)


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
