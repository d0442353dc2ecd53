"""Positions on the Earth as the network judges them: H3 cells, distances in whole metres.

A device asserts its location on chain as an H3 cell (`DeviceRecord.location`, the cell's
64-bit integer form; 0 when nothing is asserted). Kinds that judge a position compare it with
the centre of that cell by great-circle (haversine) distance on a sphere of the mean Earth
radius, and floor the distance to whole metres **before any comparison**. The haversine
uses IEEE-754 doubles; `sqrt` is correctly rounded everywhere while `sin`/`cos`/`asin` may
differ by an ulp between C libraries — about 10**-9 m here, so two machines can only disagree
for a distance within a nanometre of a whole metre (accepted rather than slower integer
trigonometry). Positions are WGS-84 degrees × 10**7 as integers (`E7`), so signed bytes never
depend on how a machine prints a float. `cell_centre` is total: any integer, including a
hostile registry value, gives a centre or None.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import Final

import h3

E7: Final = 10_000_000
"""Scale of `lat_e7` / `lon_e7`: degrees × E7."""
EARTH_RADIUS_M: Final = 6_371_008.8
"""Mean Earth radius (IUGG), metres."""
MAX_CELL: Final = 1 << 64
"""H3 cells are unsigned 64-bit integers."""


@lru_cache(maxsize=1 << 18)
def cell_centre(cell: int) -> tuple[float, float] | None:
    """(lat, lon) in degrees of an H3 cell given as an int; None if it is not a valid cell
    (0 — no location asserted — included)."""
    if not 0 < cell < MAX_CELL:
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
    """Whole metres (floored) from a position in degrees × 10**7 to a cell centre."""
    return math.floor(haversine_m(lat_e7 / E7, lon_e7 / E7, centre[0], centre[1]))


def distance_from(centre: tuple[float, float]) -> Callable[[int, int], int]:
    """`distance_to_cell_m` to one fixed `centre`, with what depends only on the centre
    computed once (the same operations in the same order: bit-identical results). A device's
    heartbeats are all measured against its one asserted cell."""
    lat2, lon2 = centre
    p2 = math.radians(lat2)
    cos_p2 = math.cos(p2)
    radians, sin, cos, asin, sqrt, floor = math.radians, math.sin, math.cos, math.asin, math.sqrt, math.floor
    diameter = 2.0 * EARTH_RADIUS_M

    def distance(lat_e7: int, lon_e7: int) -> int:
        p1 = radians(lat_e7 / E7)
        dp, dl = p2 - p1, radians(lon2 - lon_e7 / E7)
        a = sin(dp / 2) ** 2 + cos(p1) * cos_p2 * sin(dl / 2) ** 2
        return floor(diameter * asin(min(1.0, sqrt(a))))

    return distance


def cell_of(lat_e7: int, lon_e7: int, resolution: int) -> int:
    """The H3 cell (as an int) containing a position in degrees × 10**7."""
    return int(h3.str_to_int(h3.latlng_to_cell(lat_e7 / E7, lon_e7 / E7, resolution)))


def offset_point(lat: float, lon: float, distance_m: float, bearing_deg: float) -> tuple[float, float]:
    """The point `distance_m` from (lat, lon) along `bearing_deg` on the same sphere.

    Used by simulations and tests to place a device at a chosen distance from its cell.
    """
    d = distance_m / EARTH_RADIUS_M
    p1, l1, b = math.radians(lat), math.radians(lon), math.radians(bearing_deg)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2))
    return math.degrees(p2), (math.degrees(l2) + 540.0) % 360.0 - 180.0
