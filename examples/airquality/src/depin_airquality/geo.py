"""How far a reading was taken from where its owner says the station stands.

The owner asserts the station's location on chain as an H3 cell (`DeviceRecord.location`,
the cell's 64-bit integer form; 0 when nothing is asserted). A reading's position is compared
with the centre of that cell by great-circle (haversine) distance on a sphere of the mean
Earth radius, **floored to whole metres before any comparison**: every oracle and auditor
then compares the same integer with the same threshold (two C libraries can only disagree
for a distance within a nanometre of a whole metre). Floats are fine *inside* this module;
nothing float leaves it.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Final

import h3

from depin_airquality.payload import E7

EARTH_RADIUS_M: Final = 6_371_008.8
"""Mean Earth radius (IUGG), metres."""
MAX_CELL: Final = 1 << 64
"""H3 cells are unsigned 64-bit integers."""


@lru_cache(maxsize=65_536)
def cell_centre(cell: int) -> tuple[float, float] | None:
    """(lat, lon) in degrees of the centre of an H3 cell given as an int; None if `cell` is not
    a valid cell (0 — no location asserted — included)."""
    if not 0 < cell < MAX_CELL:
        return None
    text = h3.int_to_str(cell)
    if not h3.is_valid_cell(text):
        return None
    lat, lon = h3.cell_to_latlng(text)
    return float(lat), float(lon)


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two points given in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2.0 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def distance_to_centre_m(lat_e7: int, lon_e7: int, centre: tuple[float, float]) -> int:
    """Whole metres (floored) from a position in degrees × 10**7 to a cell centre."""
    return math.floor(haversine_m(lat_e7 / E7, lon_e7 / E7, centre[0], centre[1]))


def cell_of(lat_e7: int, lon_e7: int, resolution: int) -> int:
    """The H3 cell (as an int) containing a position (what an owner asserts)."""
    return int(h3.str_to_int(h3.latlng_to_cell(lat_e7 / E7, lon_e7 / E7, resolution)))
