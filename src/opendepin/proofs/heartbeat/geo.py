"""Location trust: how far a heartbeat is from the device's asserted H3 cell.

A device asserts its location on chain as an H3 cell (`DeviceRecord.location`, the cell's
64-bit integer form). Each heartbeat's position is compared with the centre of that cell by
great-circle (haversine) distance on a sphere of the mean Earth radius, and the distance is
*floored to whole metres before any comparison*. The haversine itself uses IEEE-754 doubles;
`sqrt` is correctly rounded everywhere, while `sin`/`cos`/`asin` may differ by an ulp
between C libraries. An ulp at these magnitudes is ~10**-9 m, so two machines can only
disagree for a distance within a nanometre of a whole metre — and only then about which side
of a trust threshold it falls. We accept that (rather than a slower integer trigonometry),
and the explanation published with each epoch states the metres used.

Trust follows Helium Mobile: within `full_trust_meters` (300) → 1.0; within
`partial_trust_meters` (400) → 0.25; beyond → 0. It is kept as an integer number of quarters
(`TRUST_SCALE` = 4), so shares stay integers: 1.0 is 4, 0.25 is 1.
"""

from __future__ import annotations

import math
from functools import lru_cache

import h3

from opendepin.proofs.heartbeat.settings import HeartbeatSection

EARTH_RADIUS_M = 6_371_008.8
"""Mean Earth radius (IUGG), metres."""
TRUST_SCALE = 4
"""Trust is counted in quarters: this many quarters make trust 1.0."""
FULL_TRUST_QUARTERS = 4
"""Trust 1.0, in quarters."""
PARTIAL_TRUST_QUARTERS = 1
"""Trust 0.25, in quarters."""
NO_TRUST_QUARTERS = 0
"""Trust 0."""
_E7 = 10_000_000


@lru_cache(maxsize=65_536)
def cell_centre(cell: int) -> tuple[float, float] | None:
    """(lat, lon) in degrees of an H3 cell given as an int; None if it is not a valid cell."""
    if cell <= 0 or cell >= 1 << 64:
        return None
    text = h3.int_to_str(cell)
    if not h3.is_valid_cell(text):
        return None
    lat, lon = h3.cell_to_latlng(text)
    return float(lat), float(lon)


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two points in degrees (not yet quantised)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2.0 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def distance_to_cell_m(lat_e7: int, lon_e7: int, centre: tuple[float, float]) -> int:
    """Whole metres (floored) from a heartbeat position to a cell centre."""
    return math.floor(haversine_m(lat_e7 / _E7, lon_e7 / _E7, centre[0], centre[1]))


def trust_quarters(distance_m: int, params: HeartbeatSection) -> int:
    """Location trust in quarters for a whole-metre distance (thresholds are inclusive)."""
    if distance_m <= params.full_trust_meters:
        return FULL_TRUST_QUARTERS
    if distance_m <= params.partial_trust_meters:
        return PARTIAL_TRUST_QUARTERS
    return NO_TRUST_QUARTERS


def offset_point(
    lat: float, lon: float, distance_m: float, bearing_deg: float
) -> tuple[float, float]:
    """The point `distance_m` from (lat, lon) along `bearing_deg` on the same sphere.

    Used by the simulation and tests to place a device at a chosen distance from its cell.
    """
    d = distance_m / EARTH_RADIUS_M
    p1, l1, b = math.radians(lat), math.radians(lon), math.radians(bearing_deg)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(
        math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2)
    )
    return math.degrees(p2), (math.degrees(l2) + 540.0) % 360.0 - 180.0
