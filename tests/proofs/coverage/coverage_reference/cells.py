"""H3 helpers shared by the verifier and the scorer.

Devices assert a location as an H3 cell of any resolution. Rules that count cells at a
fixed resolution (grid distance at res 11, density from res-11 parents) map every asserted
cell to that resolution the same way: its parent when it is finer, its centre child when it
is coarser, so asserting a coarse cell is never a way around a distance rule.
"""

from __future__ import annotations

from typing import Final

import h3.api.basic_int as h3

EARTH_RADIUS_M: Final = 6_371_008.8
"""Mean Earth radius (IUGG), metres: for great-circle distances."""
SPEED_OF_LIGHT_M_PER_S: Final = 299_792_458.0
"""For free-space path loss."""


def cell_at_resolution(cell: int, resolution: int) -> int:
    """`cell`'s ancestor (if finer) or centre descendant (if coarser) at `resolution`."""
    own = h3.get_resolution(cell)
    if own > resolution:
        return int(h3.cell_to_parent(cell, resolution))
    if own < resolution:
        return int(h3.cell_to_center_child(cell, resolution))
    return cell
