"""The heartbeat payload: where a device says it is, in integers.

A heartbeat is the smallest possible proof of being online: a signed report of kind
`"heartbeat"` whose payload is

```
{"lat_e7": int, "lon_e7": int, "accuracy_m": int (optional),
 "challenge_block": int, "challenge_hash": "0x" + 64 lower-case hex   (optional, together)}
```

Coordinates are WGS-84 degrees × 10**7 as integers (about 1.1 cm of resolution), so the
signed bytes never depend on how a machine prints a float. `accuracy_m` is the GPS fix's
reported horizontal accuracy in whole metres; it is recorded and shown to operators but does
not change the score (Helium Mobile does not use it either). No other keys are allowed, and
booleans are not integers here (`True` is rejected), so one payload has one encoding.

**The liveness challenge.** `challenge_block` and `challenge_hash` name the current hour's
chain entropy block (the last block at or before the hour's start) and its hash, which a
device can only know once that block exists. They come together or not at all; the hash is
written in exactly one way (`0x`, 64 lower-case hex digits). Whether the block is really one
of the epoch's entropy blocks, and whether the heartbeat was signed soon enough after it, is
the verifier's `verify_liveness` (the payload check cannot see the chain).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from opendepin.geo import E7 as E7

LAT_E7_LIMIT = 900_000_000
"""|latitude| ≤ 90° in degrees × 10**7."""
LON_E7_LIMIT = 1_800_000_000
"""|longitude| ≤ 180° in degrees × 10**7."""
MAX_ACCURACY_M = 100_000
"""Largest accuracy a payload may state, metres (larger is not a GPS fix)."""

MAX_BLOCK_NUMBER = 2**63 - 1
"""Largest block number a challenge may name (int64, far beyond any chain)."""
HASH_BYTES = 32
"""A block hash is 32 bytes."""

_REQUIRED_KEYS = frozenset({"lat_e7", "lon_e7"})
_CHALLENGE_KEYS = frozenset({"challenge_block", "challenge_hash"})
_ALLOWED_KEYS = _REQUIRED_KEYS | {"accuracy_m"} | _CHALLENGE_KEYS
_HASH_RE = re.compile(r"0x[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class HeartbeatPayload:
    """A validated heartbeat payload."""

    lat_e7: int
    """Latitude, degrees × 10**7."""
    lon_e7: int
    """Longitude, degrees × 10**7."""
    accuracy_m: int | None = None
    """Horizontal accuracy the device reported, whole metres; None if not sent."""
    challenge_block: int | None = None
    """Number of the entropy block the device saw (the liveness challenge); None if not sent."""
    challenge_hash: bytes | None = None
    """That block's 32-byte hash as the device saw it; None exactly when `challenge_block` is."""

    def to_dict(self) -> dict[str, int | str]:
        """The JSON object a device signs (`canonical_payload` of it)."""
        out: dict[str, int | str] = {"lat_e7": self.lat_e7, "lon_e7": self.lon_e7}
        if self.accuracy_m is not None:
            out["accuracy_m"] = self.accuracy_m
        if self.challenge_block is not None and self.challenge_hash is not None:
            out["challenge_block"] = self.challenge_block
            out["challenge_hash"] = "0x" + self.challenge_hash.hex()
        return out


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_payload(payload: dict[str, Any]) -> HeartbeatPayload:
    """Validate `payload` and return it typed; raise ValueError naming the first problem."""
    if not isinstance(payload, dict):
        raise ValueError("heartbeat payload must be a JSON object")
    missing = sorted(_REQUIRED_KEYS - payload.keys())
    if missing:
        raise ValueError(f"heartbeat payload is missing {', '.join(missing)}")
    extra = sorted(payload.keys() - _ALLOWED_KEYS)
    if extra:
        raise ValueError(f"heartbeat payload has unknown keys {', '.join(extra)}")
    lat, lon, acc = payload["lat_e7"], payload["lon_e7"], payload.get("accuracy_m")
    if not _is_int(lat) or not -LAT_E7_LIMIT <= lat <= LAT_E7_LIMIT:
        raise ValueError(f"lat_e7 must be an int in ±{LAT_E7_LIMIT}, got {lat!r}")
    if not _is_int(lon) or not -LON_E7_LIMIT <= lon <= LON_E7_LIMIT:
        raise ValueError(f"lon_e7 must be an int in ±{LON_E7_LIMIT}, got {lon!r}")
    if acc is not None and (not _is_int(acc) or not 0 <= acc <= MAX_ACCURACY_M):
        raise ValueError(f"accuracy_m must be an int in [0, {MAX_ACCURACY_M}], got {acc!r}")
    block, digest = _parse_challenge(payload)
    return HeartbeatPayload(
        lat_e7=lat, lon_e7=lon, accuracy_m=acc, challenge_block=block, challenge_hash=digest
    )


def _parse_challenge(payload: dict[str, Any]) -> tuple[int | None, bytes | None]:
    """(block, hash) of the liveness challenge, (None, None) without one; ValueError if bad."""
    present = _CHALLENGE_KEYS & payload.keys()
    if not present:
        return None, None
    if present != _CHALLENGE_KEYS:
        raise ValueError("challenge_block and challenge_hash must be sent together")
    block, text = payload["challenge_block"], payload["challenge_hash"]
    if not _is_int(block) or not 0 <= block <= MAX_BLOCK_NUMBER:
        raise ValueError(f"challenge_block must be an int in [0, {MAX_BLOCK_NUMBER}], got {block!r}")
    if not isinstance(text, str) or _HASH_RE.fullmatch(text) is None:
        shown = text[:80] if isinstance(text, str) else text
        raise ValueError(f"challenge_hash must be 0x and 64 lower-case hex digits, got {shown!r}")
    return block, bytes.fromhex(text[2:])


def validate_payload(payload: dict[str, Any]) -> None:
    """Raise ValueError if `payload` is not a well-formed heartbeat payload (ingest's check)."""
    parse_payload(payload)


def make_payload(
    lat_deg: float,
    lon_deg: float,
    accuracy_m: int | None = None,
    challenge: tuple[int, bytes] | None = None,
) -> dict[str, int | str]:
    """Device side: a payload from a GPS fix in degrees, rounded to the nearest 10**-7°.

    `challenge` is (number, hash) of the current hour's entropy block, when the network asks
    for liveness (`heartbeat.liveness_window_seconds` > 0).
    """
    if challenge is not None and len(challenge[1]) != HASH_BYTES:
        raise ValueError(f"a block hash is {HASH_BYTES} bytes, got {len(challenge[1])}")
    return HeartbeatPayload(
        lat_e7=round(lat_deg * E7),
        lon_e7=round(lon_deg * E7),
        accuracy_m=accuracy_m,
        challenge_block=challenge[0] if challenge is not None else None,
        challenge_hash=challenge[1] if challenge is not None else None,
    ).to_dict()
