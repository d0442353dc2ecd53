"""The device map: every device of the registry snapshot on its H3 cell, as SVG geometry.

A device's location is the H3 cell its owner asserted on chain (`geo`; 0 when none). The
server turns each cell into its boundary polygon with the `h3` package and projects it with
**Web Mercator** at a whole zoom level `z` — pixel `x = (lon + 180) / 360 · 256 · 2^z`,
`y = (1 − ln(tan φ + sec φ) / π) / 2 · 256 · 2^z` — which is the projection of the usual
256-pixel `{z}/{x}/{y}` map tiles, so an optional tile URL only adds `<image>` tiles under the
same coordinates. `z` is the largest zoom at which every device fits the canvas
(`CANVAS_WIDTH` × `CANVAS_HEIGHT`); coordinates are relative to the top-left corner of the
padded bounding box, so the numbers stay small.

Cells of fine resolutions are metres wide and vanish at city scale, so each device is also
drawn as a marker of fixed size at its cell's centre. Devices without a valid cell are not
drawn; the page lists how many.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import h3

from opendepin.geo import cell_centre

CANVAS_WIDTH: Final = 960
"""Width of the map canvas, pixels."""
CANVAS_HEIGHT: Final = 560
"""Height of the map canvas, pixels."""
PADDING_PX: Final = 40
"""Margin around the devices' bounding box, pixels."""
MAX_ZOOM: Final = 18
"""Deepest zoom level used (tile servers rarely go further)."""
TILE_PX: Final = 256
"""Size of one map tile, pixels."""
MAX_TILES: Final = 96
"""Tiles drawn at most (a guard against a huge canvas)."""
MAX_MERCATOR_LAT: Final = 85.05112878
"""Web Mercator's latitude limit, degrees."""


@dataclass(frozen=True, slots=True)
class Projection:
    """Web Mercator at zoom `zoom`, shifted so (`origin_x`, `origin_y`) is (0, 0)."""

    zoom: int
    origin_x: float
    origin_y: float
    width: float
    height: float

    def point(self, lat: float, lon: float) -> tuple[float, float]:
        x, y = world_px(lat, lon, self.zoom)
        return round(x - self.origin_x, 1), round(y - self.origin_y, 1)


@dataclass(frozen=True, slots=True)
class Tile:
    """One background tile: its URL and where it goes on the canvas."""

    url: str
    x: float
    y: float


def world_px(lat: float, lon: float, zoom: int) -> tuple[float, float]:
    """Web Mercator pixel coordinates of a point at `zoom` (0, 0 is the north-west corner)."""
    lat = max(-MAX_MERCATOR_LAT, min(MAX_MERCATOR_LAT, lat))
    scale = TILE_PX * (1 << zoom)
    phi = math.radians(lat)
    x = (lon + 180.0) / 360.0 * scale
    y = (1.0 - math.log(math.tan(phi) + 1.0 / math.cos(phi)) / math.pi) / 2.0 * scale
    return x, y


def cell_boundary(cell: int) -> list[tuple[float, float]] | None:
    """(lat, lon) vertices of a cell given as an int, or None if it is not a valid cell."""
    if cell_centre(cell) is None:
        return None
    return [(float(a), float(b)) for a, b in h3.cell_to_boundary(h3.int_to_str(cell))]


def fit(points: Iterable[tuple[float, float]]) -> Projection:
    """The deepest-zoom projection that shows every (lat, lon) within the canvas."""
    pts = list(points) or [(0.0, 0.0)]
    zoom = 0
    for z in range(MAX_ZOOM, -1, -1):
        xs, ys = zip(*(world_px(lat, lon, z) for lat, lon in pts), strict=True)
        if max(xs) - min(xs) <= CANVAS_WIDTH - 2 * PADDING_PX and max(ys) - min(ys) <= CANVAS_HEIGHT - 2 * PADDING_PX:
            zoom = z
            break
    xs, ys = zip(*(world_px(lat, lon, zoom) for lat, lon in pts), strict=True)
    cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    return Projection(zoom, cx - CANVAS_WIDTH / 2, cy - CANVAS_HEIGHT / 2, CANVAS_WIDTH, CANVAS_HEIGHT)


def tiles(projection: Projection, tile_url: str | None) -> list[Tile]:
    """The tiles under the canvas, for a `{z}/{x}/{y}` URL template (none without one)."""
    if not tile_url:
        return []
    z = projection.zoom
    n = 1 << z
    first_x = math.floor(projection.origin_x / TILE_PX)
    first_y = math.floor(projection.origin_y / TILE_PX)
    last_x = math.floor((projection.origin_x + projection.width) / TILE_PX)
    last_y = math.floor((projection.origin_y + projection.height) / TILE_PX)
    out: list[Tile] = []
    for ty in range(max(first_y, 0), min(last_y, n - 1) + 1):
        for tx in range(first_x, last_x + 1):
            url = tile_url.replace("{z}", str(z)).replace("{x}", str(tx % n)).replace("{y}", str(ty))
            out.append(Tile(url, tx * TILE_PX - projection.origin_x, ty * TILE_PX - projection.origin_y))
            if len(out) >= MAX_TILES:
                return out
    return out
