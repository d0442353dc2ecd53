"""The air-quality payload: one PM2.5 reading and where it was taken, in integers only.

```
{"pm25_dugm3": int, "lat_e7": int, "lon_e7": int}
```

- `pm25_dugm3` is the PM2.5 mass concentration in **deci**-micrograms per cubic metre
  (12.3 µg/m³ is 123), between 0 and `PM25_LIMIT_DUGM3` (1000.0 µg/m³, the range of common
  optical sensors). Whether a value inside the schema is *plausible* is a verification rule
  with its own setting (`max_pm25_dugm3`), not a schema question.
- `lat_e7` / `lon_e7` are WGS-84 degrees × 10**7.

Payloads are signed as canonical JSON, so integers keep their bytes identical on every
machine (floats are refused by the envelope anyway). Booleans are not integers here (`True`
is rejected), no key may be missing and no other key is allowed, so one reading has exactly
one encoding.

`parse_payload` is the one schema check: ingest calls it (through `validate_payload`) on
every untrusted payload before storing a report, the verifier calls it again on sealed
payloads. It raises nothing but `ValueError`, whatever it is given.
"""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

PM25_LIMIT_DUGM3: Final = 10_000
"""Largest reading the schema admits, deci-µg/m³ (1000.0 µg/m³)."""
LAT_E7_LIMIT: Final = 900_000_000
"""|latitude| ≤ 90°, in degrees × 10**7."""
LON_E7_LIMIT: Final = 1_800_000_000
"""|longitude| ≤ 180°, in degrees × 10**7."""

KEYS: Final = frozenset({"pm25_dugm3", "lat_e7", "lon_e7"})
"""Exactly these keys, all required."""

PAYLOAD_SCHEMA: Final[Mapping[str, Any]] = {
    "type": "object",
    "description": "One PM2.5 reading of a fixed air-quality station.",
    "additionalProperties": False,
    "required": sorted(KEYS),
    "properties": {
        "pm25_dugm3": {"type": "integer", "minimum": 0, "maximum": PM25_LIMIT_DUGM3},
        "lat_e7": {"type": "integer", "minimum": -LAT_E7_LIMIT, "maximum": LAT_E7_LIMIT},
        "lon_e7": {"type": "integer", "minimum": -LON_E7_LIMIT, "maximum": LON_E7_LIMIT},
    },
}
"""JSON Schema of the payload (published through `Kind.payload_schemas`)."""

_short = reprlib.Repr()
_short.maxstring = 40
_short.maxother = 40


@dataclass(frozen=True, slots=True)
class AirQualityPayload:
    """A validated reading."""

    pm25_dugm3: int
    """PM2.5, deci-µg/m³."""
    lat_e7: int
    """Latitude where it was taken, degrees × 10**7."""
    lon_e7: int
    """Longitude where it was taken, degrees × 10**7."""

    def to_dict(self) -> dict[str, int]:
        """The JSON object a device signs (`canonical_payload` of it)."""
        return {"pm25_dugm3": self.pm25_dugm3, "lat_e7": self.lat_e7, "lon_e7": self.lon_e7}


def _int_in(payload: Mapping[str, Any], key: str, low: int, high: int) -> int:
    value = payload[key]
    if type(value) is not int or not low <= value <= high:  # bool (and int subclasses) refused
        raise ValueError(f"{key} must be an integer in [{low}, {high}], got {_short.repr(value)}")
    return value


def parse_payload(payload: Any) -> AirQualityPayload:
    """Validate `payload` and return it typed; ValueError naming the first problem."""
    if not isinstance(payload, dict):
        raise ValueError(f"airquality payload must be a JSON object, got {type(payload).__name__}")
    missing = sorted(k for k in KEYS if k not in payload)
    if missing:
        raise ValueError(f"airquality payload is missing {', '.join(missing)}")
    extra = sorted(_short.repr(k) for k in payload if k not in KEYS)
    if extra:
        raise ValueError(f"airquality payload has unknown keys {', '.join(extra)}")
    return AirQualityPayload(
        pm25_dugm3=_int_in(payload, "pm25_dugm3", 0, PM25_LIMIT_DUGM3),
        lat_e7=_int_in(payload, "lat_e7", -LAT_E7_LIMIT, LAT_E7_LIMIT),
        lon_e7=_int_in(payload, "lon_e7", -LON_E7_LIMIT, LON_E7_LIMIT),
    )


def validate_payload(payload: Any) -> None:
    """Raise ValueError unless `payload` is a well-formed reading (ingest's check)."""
    parse_payload(payload)
