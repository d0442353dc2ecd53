"""Cells and whole-metre distances: total on hostile cells, floored, round-trippable."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from opendepin.geo import (
    E7,
    cell_centre,
    cell_of,
    distance_from,
    distance_to_cell_m,
    haversine_m,
    offset_point,
)


@given(st.integers(-(2**70), 2**70))
def test_cell_centre_is_total(cell: int) -> None:
    centre = cell_centre(cell)
    assert centre is None or (-90 <= centre[0] <= 90 and -180 <= centre[1] <= 180)


def test_a_position_is_within_a_few_metres_of_its_own_res12_cell() -> None:
    lat_e7, lon_e7 = 473_769_000, 85_417_000
    centre = cell_centre(cell_of(lat_e7, lon_e7, 12))
    assert centre is not None
    assert 0 <= distance_to_cell_m(lat_e7, lon_e7, centre) < 15


def test_offset_point_and_haversine_agree() -> None:
    lat, lon = offset_point(47.0, 8.0, 1_234.0, 77.0)
    assert abs(haversine_m(47.0, 8.0, lat, lon) - 1_234.0) < 1e-6
    assert distance_to_cell_m(round(lat * E7), round(lon * E7), (47.0, 8.0)) in (1_233, 1_234)


@given(
    st.integers(min_value=-900_000_000, max_value=900_000_000),
    st.integers(min_value=-1_800_000_000, max_value=1_800_000_000),
    st.floats(min_value=-90, max_value=90),
    st.floats(min_value=-180, max_value=180),
)
def test_distance_from_a_fixed_centre_is_distance_to_cell_m(lat: int, lon: int, clat: float, clon: float) -> None:
    assert distance_from((clat, clon))(lat, lon) == distance_to_cell_m(lat, lon, (clat, clon))
