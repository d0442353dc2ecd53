"""Location trust: how far a heartbeat is from the device's asserted H3 cell.

Each heartbeat's position is compared with the centre of the device's asserted H3 cell in
whole metres (`opendepin.geo`: cells, haversine, flooring — shared by every kind that judges
a position); the explanation published with each epoch states the metres used.

Trust follows Helium Mobile: within `full_trust_meters` (300) → 1.0; within
`partial_trust_meters` (400) → 0.25; beyond → 0. It is kept as an integer number of quarters
(`TRUST_SCALE` = 4), so shares stay integers: 1.0 is 4, 0.25 is 1.
"""

from __future__ import annotations

from opendepin.geo import EARTH_RADIUS_M as EARTH_RADIUS_M
from opendepin.geo import cell_centre as cell_centre
from opendepin.geo import distance_to_cell_m as distance_to_cell_m
from opendepin.geo import haversine_m as haversine_m
from opendepin.geo import offset_point as offset_point
from opendepin.proofs.heartbeat.settings import HeartbeatSection

TRUST_SCALE = 4
"""Trust is counted in quarters: this many quarters make trust 1.0."""
FULL_TRUST_QUARTERS = 4
"""Trust 1.0, in quarters."""
PARTIAL_TRUST_QUARTERS = 1
"""Trust 0.25, in quarters."""
NO_TRUST_QUARTERS = 0
"""Trust 0."""


def trust_quarters(distance_m: int, params: HeartbeatSection) -> int:
    """Location trust in quarters for a whole-metre distance (thresholds are inclusive)."""
    if distance_m <= params.full_trust_meters:
        return FULL_TRUST_QUARTERS
    if distance_m <= params.partial_trust_meters:
        return PARTIAL_TRUST_QUARTERS
    return NO_TRUST_QUARTERS
