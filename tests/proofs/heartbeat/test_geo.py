from __future__ import annotations

import h3
import pytest

from opendepin.proofs.heartbeat.geo import (
    cell_centre,
    distance_to_cell_m,
    haversine_m,
    offset_point,
    trust_quarters,
)
from opendepin.proofs.heartbeat.settings import HeartbeatSection

from .conftest import CELL


@pytest.mark.parametrize(
    ("distance_m", "quarters"),
    [(0, 4), (299, 4), (300, 4), (301, 1), (399, 1), (400, 1), (401, 0), (50_000, 0)],
)
def test_trust_quarters_thresholds(distance_m: int, quarters: int) -> None:
    assert trust_quarters(distance_m, HeartbeatSection()) == quarters


@pytest.mark.parametrize(("metres", "quarters"), [(299, 4), (301, 1), (399, 1), (401, 0)])
@pytest.mark.parametrize("bearing", [0.0, 77.0, 181.0, 300.0])
def test_distance_to_cell_floors_whole_metres(metres: int, quarters: int, bearing: float) -> None:
    centre = cell_centre(CELL)
    assert centre is not None
    # Half a metre past the whole number, so flooring lands on it whatever e7 rounding does
    # (1e-7 degree is at most ~1.1 cm).
    lat, lon = offset_point(centre[0], centre[1], metres + 0.5, bearing)
    d = distance_to_cell_m(round(lat * 1e7), round(lon * 1e7), centre)
    assert d == metres
    assert trust_quarters(d, HeartbeatSection()) == quarters


def test_haversine_matches_known_distance() -> None:
    # Zürich HB to Bern HB: about 95.5 km great-circle.
    assert 95_000 < haversine_m(47.3779, 8.5403, 46.9490, 7.4390) < 96_000


def test_cell_centre_rejects_non_cells() -> None:
    assert cell_centre(0) is None
    assert cell_centre(5) is None
    assert cell_centre(1 << 64) is None
    assert cell_centre(CELL) == pytest.approx(h3.cell_to_latlng(h3.int_to_str(CELL)))
