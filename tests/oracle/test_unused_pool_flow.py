"""Unused pool flows to the proof pools, visibly: `KindResult.pool_unused` in compute_epoch.

A kind that cannot use all of its pool (usage pays at most the token value of the credits
consumers burnt) leaves the rest to the other paid kinds in proportion to their basis points,
rounding down, the remainder unallocated; both sides say so in their notes (published in
verdicts_v1.json). A kind that uses its whole pool changes nothing."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opendepin.errors import StageError
from opendepin.network.settings import Settings
from opendepin.oracle.compute import EpochComputation, compute_epoch, unused_pool_flows
from opendepin.oracle.publish import verdicts_bytes
from opendepin.proofs.heartbeat import KIND as HEARTBEAT
from opendepin.proofs.kind import Kind, KindBase, KindJob, KindResult
from opendepin.proofs.usage.chaininput import CREDITS_SPENT_FILE
from opendepin.proofs.usage.kind import KIND as USAGE
from opendepin.records import ChainSnapshot, DeviceRecord
from opendepin.rewards.emission import EmissionSchedule
from opendepin.rewards.pools import Pools, allocate
from opendepin.storage.pricing import charge
from opendepin.types import Address, DeviceId, Epoch, ProofKind

OWNER_A = Address("0x" + "0a" * 20)
OWNER_B = Address("0x" + "0b" * 20)
DEV_A = DeviceId("0x" + "a1" * 20)
DEV_B = DeviceId("0x" + "b1" * 20)
DEV_U = DeviceId("0x" + "c1" * 20)
BPS = {"usage": 2_000, "heartbeat": 3_000, "coverage": 1_000}


# the usage kind's test world lives beside its tests (tests/proofs/usage, not a package)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "proofs" / "usage"))
from usage_world import EPOCH, GB, World  # noqa: E402

MONTH_MS = 30 * 24 * 3_600_000
_W = World.make(nodes=1)
_W.settings = Settings(pools={"bps": {"usage": 1_000, "heartbeat": 5_000}})
_CREDITS = charge(GB * MONTH_MS, 0, _W.prices)
_W.spent_on_chain(_CREDITS)
_REPORTS = [_W.usage(_W.nodes[0], GB * MONTH_MS, 0), _W.spend(_CREDITS)]


def usage_epoch() -> EpochComputation:
    """One epoch: a gateway paid for 1 GB-month of one node; the usage pool uses its value."""
    return compute_epoch(
        Epoch(EPOCH),
        {"usage": _REPORTS},
        _W.snapshot(),
        _W.settings,
        {"usage": USAGE, "heartbeat": HEARTBEAT},
        {},
        kind_inputs={"usage": {CREDITS_SPENT_FILE: _W.chain_input().to_bytes()}},
    )


@dataclass
class Fixed(KindBase):
    """A kind paying fixed shares and leaving `unused_ppm` of its pool unused."""

    shares: Mapping[DeviceId, int]
    unused_ppm: int = 0
    unused_abs: int | None = None

    def compute(self, job: KindJob) -> KindResult:
        unused = (
            self.unused_abs
            if self.unused_abs is not None
            else job.pool * self.unused_ppm // 1_000_000
        )
        return KindResult(
            (), dict(self.shares), {}, notes={"seen_pool": job.pool}, pool_unused=unused
        )


def _settings(bps: Mapping[str, int] = BPS) -> Settings:
    return Settings(pools={"bps": dict(bps)})


def _snapshot() -> ChainSnapshot:
    records = [
        DeviceRecord(DEV_A, OWNER_A, "heartbeat", 0, True),
        DeviceRecord(DEV_B, OWNER_B, "coverage", 0, True),
    ]
    records.append(DeviceRecord(DEV_U, OWNER_A, "storage", 0, True))
    return ChainSnapshot(1, b"\x00" * 32, {r.device: r for r in records}, {})


def _modules(unused_ppm: int = 0, **usage: Any) -> dict[str, Kind]:
    return {
        "usage": Fixed({DEV_U: 1}, unused_ppm, **usage),
        "heartbeat": Fixed({DEV_A: 1}),
        "coverage": Fixed({DEV_B: 1}),
    }


def _run(modules: Mapping[str, Kind], settings: Settings | None = None) -> Any:
    return compute_epoch(Epoch(0), {}, _snapshot(), settings or _settings(), modules, {})


def test_unused_usage_pool_goes_to_the_proof_pools_by_basis_points() -> None:
    settings = _settings()
    emission = EmissionSchedule.from_settings(settings.emission).emission(0)
    pools = Pools.from_settings(settings.pools).split(emission).amounts
    c = _run(_modules(unused_ppm=750_000), settings)
    unused = pools["usage"] * 750_000 // 1_000_000
    to_hb, to_cov = unused * 3_000 // 4_000, unused * 1_000 // 4_000
    usage, hb, cov = c.kinds["usage"], c.kinds["heartbeat"], c.kinds["coverage"]
    assert usage.notes["seen_pool"] == pools["usage"]  # KindJob.pool
    assert usage.pool_unused == unused
    assert usage.amounts == {DEV_U: pools["usage"] - unused}
    assert hb.amounts == {DEV_A: pools["heartbeat"] + to_hb}
    assert cov.amounts == {DEV_B: pools["coverage"] + to_cov}
    assert usage.notes["pool_unused"] == unused
    assert usage.notes["pool_unused_to"] == {"coverage": to_cov, "heartbeat": to_hb}
    assert usage.notes["pool_unused_unallocated"] == unused - to_hb - to_cov
    assert hb.notes["pool_inflow"] == {"usage": to_hb} and hb.pool_inflow == {"usage": to_hb}
    assert sum(c.owner_amounts.values()) + c.unallocated == c.emission
    published = verdicts_bytes(c).decode()
    assert '"pool_unused_to"' in published and '"pool_inflow"' in published


def test_a_kind_using_its_whole_pool_changes_nothing() -> None:
    settings = _settings()
    emission = EmissionSchedule.from_settings(settings.emission).emission(0)
    pools = Pools.from_settings(settings.pools).split(emission).amounts
    c = _run(_modules(unused_ppm=0), settings)
    for kind, device in (("usage", DEV_U), ("heartbeat", DEV_A), ("coverage", DEV_B)):
        outcome = c.kinds[ProofKind(kind)]
        assert outcome.amounts == allocate(pools[kind], {device: 1}).amounts
        assert set(outcome.notes) == {"seen_pool"}  # no flow notes
        assert outcome.pool_inflow == {} and outcome.pool_unused == 0


def test_with_no_receiver_the_unused_part_is_unallocated() -> None:
    settings = _settings({"usage": 5_000})
    c = _run({"usage": Fixed({DEV_U: 1}, 1_000_000)}, settings)
    assert c.kinds["usage"].amounts == {}
    assert c.owner_amounts == {}
    assert c.unallocated == c.emission
    assert c.kinds["usage"].notes["pool_unused_unallocated"] == c.kinds["usage"].pool_unused


@pytest.mark.parametrize("bad", [-1, 10**40, True])
def test_an_impossible_unused_amount_is_a_stage_error(bad: int) -> None:
    with pytest.raises(StageError, match="unused"):
        _run(_modules(unused_abs=bad))


def test_the_real_usage_kind_leaves_its_unpaid_pool_to_the_proof_pools() -> None:
    c = usage_epoch()
    usage = c.kinds["usage"]
    assert usage.notes["pool_used"] == sum(usage.amounts.values()) + usage.unallocated
    assert usage.pool_unused == usage.pool - usage.notes["pool_used"] > 0
    assert c.kinds["heartbeat"].notes["pool_inflow"]["usage"] > 0
    assert c == usage_epoch()  # deterministic (what `depin audit` recomputes)


@given(
    unused=st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.integers(0, 10**30)),
    bps=st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.integers(0, 10_000)),
)
def test_flows_add_up_and_never_go_to_a_giver(unused: dict[str, int], bps: dict[str, int]) -> None:
    flows = unused_pool_flows(
        {ProofKind(k): v for k, v in unused.items()}, {ProofKind(k): v for k, v in bps.items()}
    )
    for giver, flow in flows.items():
        assert flow.unused == unused[giver] > 0
        assert sum(flow.to.values()) + flow.remainder == flow.unused and flow.remainder >= 0
        assert all(unused.get(k, 0) == 0 and bps[k] > 0 for k in flow.to)
