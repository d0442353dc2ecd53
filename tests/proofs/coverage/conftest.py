"""Fixtures for the coverage tests (helpers live in `coverage_world`)."""

from __future__ import annotations

import pytest
from coverage_world import HOUR_MS, Triangle, World


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def triangle(world: World) -> Triangle:
    a = world.device(0, 0)
    b = world.device(0, 1_500)
    c = world.device(1_500, 700)
    beacons = {
        d: world.beacon(d, at_ms=world.start_ms() + (i + 1) * HOUR_MS)
        for i, d in enumerate((a, b, c))
    }
    reports = list(beacons.values())
    for beaconer in (a, b, c):
        for w in (a, b, c):
            if w != beaconer:
                reports.append(world.witness(w, beacons[beaconer]))
    return Triangle(world, a, b, c, beacons, reports)
