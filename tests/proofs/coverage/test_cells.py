"""Mapping asserted cells of any resolution to the resolution a rule counts in."""

from __future__ import annotations

import h3.api.basic_int as h3

from opendepin.proofs.coverage.cells import cell_at_resolution

CELL_12 = h3.latlng_to_cell(38.7223, -9.1393, 12)


def test_finer_cell_maps_to_its_parent() -> None:
    assert cell_at_resolution(CELL_12, 11) == h3.cell_to_parent(CELL_12, 11)


def test_coarser_cell_maps_to_its_centre_child() -> None:
    coarse = h3.cell_to_parent(CELL_12, 8)
    mapped = cell_at_resolution(coarse, 11)
    assert h3.get_resolution(mapped) == 11
    assert h3.cell_to_parent(mapped, 8) == coarse


def test_same_resolution_is_unchanged() -> None:
    assert cell_at_resolution(CELL_12, 12) == CELL_12
