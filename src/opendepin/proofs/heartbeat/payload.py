"""The heartbeat payload: where a device says it is, in integers.

A heartbeat is the smallest possible proof of being online: a signed report of kind
`"heartbeat"` whose payload is

```
{"lat_e7": int, "lon_e7": int, "accuracy_m": int (optional)}
```

Coordinates are WGS-84 degrees × 10**7 as integers (about 1.1 cm of resolution), so the
signed bytes never depend on how a machine prints a float. `accuracy_m` is the GPS fix's
reported horizontal accuracy in whole metres; it is recorded and shown to operators but does
not change the score (Helium Mobile does not use it either). No other keys are allowed, and
booleans are not integers here (`True` is rejected), so one payload has one encoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opendepin.geo import E7 as E7

LAT_E7_LIMIT = 900_000_000
"""|latitude| ≤ 90° in degrees × 10**7."""
LON_E7_LIMIT = 1_800_000_000
"""|longitude| ≤ 180° in degrees × 10**7."""
MAX_ACCURACY_M = 100_000
"""Largest accuracy a payload may state, metres (larger is not a GPS fix)."""

_REQUIRED_KEYS = frozenset({"lat_e7", "lon_e7"})
_ALLOWED_KEYS = _REQUIRED_KEYS | {"accuracy_m"}


@dataclass(frozen=True, slots=True)
class HeartbeatPayload:
    """A validated heartbeat payload."""

    lat_e7: int
    """Latitude, degrees × 10**7."""
    lon_e7: int
    """Longitude, degrees × 10**7."""
    accuracy_m: int | None = None
    """Horizontal accuracy the device reported, whole metres; None if not sent."""

    def to_dict(self) -> dict[str, int]:
        """The JSON object a device signs (`canonical_payload` of it)."""
        out = {"lat_e7": self.lat_e7, "lon_e7": self.lon_e7}
        if self.accuracy_m is not None:
            out["accuracy_m"] = self.accuracy_m
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
    return HeartbeatPayload(lat_e7=lat, lon_e7=lon, accuracy_m=acc)


def validate_payload(payload: dict[str, Any]) -> None:
    """Raise ValueError if `payload` is not a well-formed heartbeat payload (ingest's check)."""
    parse_payload(payload)


def make_payload(lat_deg: float, lon_deg: float, accuracy_m: int | None = None) -> dict[str, int]:
    """Device side: a payload from a GPS fix in degrees, rounded to the nearest 10**-7°."""
    return HeartbeatPayload(
        lat_e7=round(lat_deg * E7), lon_e7=round(lon_deg * E7), accuracy_m=accuracy_m
    ).to_dict()
