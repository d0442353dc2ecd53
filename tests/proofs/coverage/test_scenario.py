"""A seeded Lisbon scenario: spoofers and the witness ring are caught, honest devices paid."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from opendepin.proofs.coverage import CoverageReason, Role, generate_scenario, verify_epoch
from opendepin.proofs.coverage.scenario import Scenario


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return generate_scenario(seed=11, honest=25, spoofers=3, ring=5)


def test_scenario_is_reproducible_from_seed(scenario: Scenario) -> None:
    again = generate_scenario(seed=11, honest=25, spoofers=3, ring=5)
    assert [r.report for r in again.reports] == [r.report for r in scenario.reports]


def test_spoofers_and_ring_are_caught(scenario: Scenario) -> None:
    result = verify_epoch(scenario.reports, scenario.snapshot, scenario.params)
    cheats = scenario.with_role(Role.SPOOFER) + scenario.with_role(Role.RING)
    assert all(result.shares.get(d, 0) == 0 for d in cheats)
    reasons = Counter(
        v.reason for v in result.verdicts if scenario.roles[v.device] is not Role.HONEST
    )
    assert not any(beaconer in cheats for beaconer, _ in result.selected)
    assert not any(set(chosen) & set(cheats) for chosen in result.selected.values())
    assert reasons[CoverageReason.BAD_RSSI] > 0  # the ring hears itself far too loudly
    assert reasons[CoverageReason.MAX_DISTANCE_EXCEEDED] > 0  # spoofers claim another city
    for d in cheats:
        assert result.explanations[d].invalid, f"{scenario.roles[d]} {d} has no reasons"


def test_honest_devices_keep_their_rewards(scenario: Scenario) -> None:
    result = verify_epoch(scenario.reports, scenario.snapshot, scenario.params)
    honest = scenario.with_role(Role.HONEST)
    assert all(result.shares.get(d, 0) > 0 for d in honest)
    # Honest devices only lose witness reports of spoofers' beacons (impossible distances).
    lost = Counter(
        v.reason
        for v in result.verdicts
        if v.reason is not None and scenario.roles[v.device] is Role.HONEST
    )
    assert set(lost) <= {CoverageReason.MAX_DISTANCE_EXCEEDED}
    without_cheats = [
        r for r in scenario.reports if scenario.roles[r.report.device] is Role.HONEST
    ]
    clean = verify_epoch(without_cheats, scenario.snapshot, scenario.params)
    assert sum(result.shares[d] for d in honest) == sum(clean.shares[d] for d in honest)


def test_scenario_result_is_order_independent(scenario: Scenario) -> None:
    shuffled = list(scenario.reports)
    random.Random(1).shuffle(shuffled)
    a = verify_epoch(scenario.reports, scenario.snapshot, scenario.params)
    b = verify_epoch(shuffled, scenario.snapshot, scenario.params)
    assert dict(a.shares) == dict(b.shares)
    assert a.selected == b.selected
