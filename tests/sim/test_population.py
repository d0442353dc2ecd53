"""The seeded simulated population: reproducible, and every dishonest behaviour present."""

from __future__ import annotations

from collections import Counter

from opendepin.proofs.heartbeat.simulation import Behaviour, Population, behaviour_plan
from opendepin.reports.envelope import Report
from opendepin.reports.verify import check_signatures
from opendepin.types import Epoch

START = 1_893_456_000


def _hour(pop: Population, hour: int = 0) -> list[Report]:
    return list(pop.hour_reports(network_id="n", chain_id=1, epoch=Epoch(0), hour=hour, epoch_start_unix=START))


def test_behaviour_plan_includes_every_dishonest_kind_for_small_populations() -> None:
    plan = Counter(behaviour_plan(8))
    assert all(plan[b] >= 1 for b in Behaviour)
    assert plan[Behaviour.HONEST] == 4


def test_population_same_seed_signs_same_reports() -> None:
    assert _hour(Population(seed=3, devices=10)) == _hour(Population(seed=3, devices=10))
    assert _hour(Population(seed=3, devices=10)) != _hour(Population(seed=4, devices=10))


def test_population_forgeries_fail_signature_check_and_replays_repeat() -> None:
    pop = Population(seed=2, devices=16)
    reports = _hour(pop)
    by_device = pop.by_id()
    rejections = check_signatures(reports)
    for report, rejection in zip(reports, rejections, strict=True):
        forged = by_device[report.device].behaviour is Behaviour.FORGER and report.timestamp_ms % 1000 == 1
        assert (rejection is not None) == forged
    replayer = next(d for d in pop.devices if d.behaviour is Behaviour.REPLAYER)
    mine = [r for r in reports if r.device == replayer.device_id]
    assert len(mine) == 2 and mine[0] == mine[1]


def test_population_flaky_devices_go_quiet_after_a_few_hours() -> None:
    pop = Population(seed=2, devices=16)
    flaky = {d.device_id for d in pop.devices if d.behaviour is Behaviour.FLAKY}
    assert flaky & {r.device for r in _hour(pop, 0)}
    assert not flaky & {r.device for r in _hour(pop, 23)}
