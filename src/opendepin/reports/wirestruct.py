"""Typed decoding of sealed report lines: one msgspec pass instead of a dict and a walk over it.

A hot path that judges sealed lines (`proofs.heartbeat.lines`) needs each line's envelope
fields and its payload fields, with their exact JSON types. Parsing into a dict and then
checking eleven keys, their types and ranges, then the payload's keys and types, costs
several microseconds a line in Python. A msgspec `Struct` decoder does the parse, the key
set, the exact types and the integer ranges in one pass in C, into attribute slots.

**Why the result is the reference's.** The reference is `codec.loads` (the stdlib parser,
then `from_json`). A struct decoder may refuse more than the reference (it then hands the
line to the reference, so nothing is lost), but what it accepts must decode to the same
values. It accepts a line only with exactly the wire fields (`forbid_unknown_fields`, no
defaults: a missing field is an error) and exact types (msgspec never coerces: a float, a
bool or null is refused where an int is declared); duplicate keys keep the last value, as
the stdlib parser does; strings decode the same escapes, and text the stdlib parser accepts
but msgspec refuses (lone surrogates, other encodings) only sends the line to the
reference. `usual_envelope` then applies the checks a struct cannot state (ASCII names, the
chain id below 2**256, hex signatures) exactly as `codec.usual_wire` does.
`tests/reports/test_wirestruct.py` compares the two on arbitrary lines.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from opendepin.reports.codec import (
    MAX_HEX_SIGNATURE_CHARS,
    MAX_NAME_CHARS,
    WIRE_FIELDS,
    WIRE_INT64_LIMIT,
    hex_pair,
)
from opendepin.reports.eip712 import UINT256_LIMIT
from opendepin.reports.envelope import REPORT_VERSION

WireInt = Annotated[int, msgspec.Meta(ge=0, le=WIRE_INT64_LIMIT - 1)]
"""epoch, seq and timestampMs: 0 <= value < 2**63, checked by the decoder."""
_Name = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME_CHARS)]  # in code points, as len()
_Hex = Annotated[str, msgspec.Meta(max_length=MAX_HEX_SIGNATURE_CHARS)]

_ENVELOPE: tuple[tuple[str, Any], ...] = (
    ("version", Literal[REPORT_VERSION]),
    ("network", _Name),
    ("chainId", Annotated[int, msgspec.Meta(ge=0)]),
    ("device", str),
    ("kind", _Name),
    ("epoch", WireInt),
    ("seq", WireInt),
    ("timestampMs", WireInt),
    ("signature", _Hex),
    ("signerKey", _Hex),
)
assert {name for name, _ in _ENVELOPE} | {"payload"} == WIRE_FIELDS


def envelope_decoder(name: str, payload: Any) -> msgspec.json.Decoder[Any]:
    """A decoder of wire lines whose payload decodes as `payload` (a msgspec type: a kind's
    struct of its usual payload shape). Decoding raises `msgspec.DecodeError` for anything
    else; such a line is for the reference decoder to judge."""
    struct = msgspec.defstruct(name, [*_ENVELOPE, ("payload", payload)], forbid_unknown_fields=True)
    return msgspec.json.Decoder(struct)


def usual_envelope(wire: Any) -> bool:
    """True when a struct from `envelope_decoder` holds what `codec.usual_wire` would take
    (the device aside: the caller looks up its checksummed id). The decoder checked the
    version, the names' and hex strings' lengths and the integers' lower bounds."""
    signature = wire.signature
    signer_key = wire.signerKey
    return (
        wire.network.isascii()
        and wire.kind.isascii()
        and wire.chainId < UINT256_LIMIT
        and signature[:2] == "0x"
        and signer_key[:2] == "0x"
        and hex_pair(signature, signer_key) is not None
    )


DecodeError = msgspec.DecodeError

__all__ = ["DecodeError", "WireInt", "envelope_decoder", "usual_envelope"]
