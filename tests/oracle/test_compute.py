"""The pure reward computation over heartbeat reports."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from opendepin.network.settings import PoolsSection
from opendepin.oracle.compute import compute_epoch
from opendepin.proofs.heartbeat import HEARTBEAT
from opendepin.proofs.heartbeat.simulation import Behaviour, Population
from opendepin.types import Address, Epoch

from .helpers import accepted_reports, sim_settings, snapshot_of

MODULES = {"heartbeat": HEARTBEAT}


def test_compute_epoch_pays_honest_owners_and_adds_up() -> None:
    pop = Population(seed=3, devices=16)
    cfg = sim_settings()
    reports = accepted_reports(pop, cfg, 0)
    result = compute_epoch(Epoch(0), {"heartbeat": reports}, snapshot_of(pop, cfg, 0), cfg, MODULES, {})
    assert sum(result.owner_amounts.values()) + result.unallocated == result.emission
    outcome = result.kinds["heartbeat"]
    for dev in pop.devices:
        paid = outcome.amounts.get(dev.device_id, 0)
        if dev.behaviour in (Behaviour.WRONG_LOCATION, Behaviour.FLAKY):
            assert paid == 0, dev.behaviour
        else:
            assert paid > 0, dev.behaviour
    assert result.rejected_by_reason.get("location_untrusted", 0) == 24
    # No coverage module here: the coverage pool is visibly unallocated.
    assert result.unallocated >= result.emission * 6_000 // 10_000


def test_compute_epoch_accumulates_previous_totals() -> None:
    pop = Population(seed=4, devices=8)
    cfg = sim_settings()
    first = compute_epoch(Epoch(0), {"heartbeat": accepted_reports(pop, cfg, 0)}, snapshot_of(pop, cfg, 0), cfg, MODULES, {})
    second = compute_epoch(
        Epoch(1), {"heartbeat": accepted_reports(pop, cfg, 1)}, snapshot_of(pop, cfg, 1), cfg, MODULES, first.cumulative
    )
    for owner, total in first.cumulative.items():
        assert second.cumulative[owner] == total + second.owner_amounts.get(owner, 0)


def test_compute_epoch_is_deterministic_for_equal_inputs() -> None:
    cfg = sim_settings()
    a = Population(seed=9, devices=12)
    b = Population(seed=9, devices=12)
    ra = compute_epoch(Epoch(0), {"heartbeat": accepted_reports(a, cfg, 0)}, snapshot_of(a, cfg, 0), cfg, MODULES, {})
    rb = compute_epoch(Epoch(0), {"heartbeat": accepted_reports(b, cfg, 0)}, snapshot_of(b, cfg, 0), cfg, MODULES, {})
    assert ra == rb


@settings(max_examples=15, deadline=None)
@given(
    bps=st.integers(min_value=0, max_value=10_000),
    prior=st.dictionaries(st.sampled_from(["0x" + "ab" * 20, "0x" + "cd" * 20]), st.integers(0, 10**24), max_size=2),
)
def test_compute_epoch_parts_sum_to_emission(bps: int, prior: dict[str, int]) -> None:
    pop = Population(seed=5, devices=8)
    cfg = sim_settings().model_copy(update={"pools": PoolsSection(bps={"heartbeat": bps})})
    previous = {Address(a): v for a, v in prior.items()}
    result = compute_epoch(Epoch(0), {"heartbeat": accepted_reports(pop, cfg, 0)}, snapshot_of(pop, cfg, 0), cfg, MODULES, previous)
    assert sum(result.owner_amounts.values()) + result.unallocated == result.emission
    assert all(result.cumulative[a] >= v for a, v in previous.items())
