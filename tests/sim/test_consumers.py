"""The demo's demand side end to end: consumers pay, the gateway settles, usage pays the nodes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opendepin.crypto import keccak256
from opendepin.oracle.audit import audit_epoch
from opendepin.proofs.storage.simulation import placer_signer
from opendepin.proofs.usage.chaininput import parse_credits_spent
from opendepin.rewards.files import RewardFile
from opendepin.sim.consumers import (
    CREDIT_TOKENS,
    GENESIS_TOKENS,
    OBJECTS_PER_EPOCH,
    SHORT_CREDIT_TOKENS,
    DemoConsumers,
    consumer_signers,
)
from opendepin.sim.demo import DemoSummary, run_demo
from opendepin.sim.network import WITH_USAGE_BPS, demo_pools, sim_settings
from opendepin.types import ONE_TOKEN

SEED = 11
EPOCHS = 3
CONSUMERS = 3
KINDS = {"heartbeat": 6, "storage": 10}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoSummary]:
    data_dir = tmp_path_factory.mktemp("consumers-demo")
    summary = run_demo(
        seed=SEED, epochs=EPOCHS, data_dir=data_dir, kinds=KINDS, consumers=CONSUMERS
    )
    return data_dir, summary


def _epoch_dir(data_dir: Path, epoch: int) -> Path:
    return data_dir / "oracle-1" / "epochs" / str(epoch)


def test_consumer_settings_add_the_usage_pool_allocations_and_prices() -> None:
    allocations = DemoConsumers.allocations(SEED, CONSUMERS)
    assert set(allocations) == {s.address for s in consumer_signers(SEED, CONSUMERS)}
    settings = sim_settings(kinds=["heartbeat", "coverage", "storage"], consumers=allocations)
    assert settings.pools.bps == WITH_USAGE_BPS == demo_pools(
        ["heartbeat", "coverage", "storage", "usage"]
    )
    assert sum(WITH_USAGE_BPS.values()) == 10_000
    assert settings.chain.genesis_total == CONSUMERS * GENESIS_TOKENS
    assert settings.pricing.egress_gb_credits > sim_settings().pricing.egress_gb_credits
    plain = sim_settings(kinds=["heartbeat", "storage"])
    assert "usage" not in plain.pools.bps and plain.chain.genesis_total == 0


@pytest.mark.slow
def test_consumers_store_list_read_back_and_delete(demo: tuple[Path, DemoSummary]) -> None:
    _, summary = demo
    c = summary.consumers
    assert c is not None and c.consumers == CONSUMERS
    assert c.objects_put == CONSUMERS * OBJECTS_PER_EPOCH * EPOCHS
    assert c.reads > 0 and c.reads_intact == c.reads
    assert c.deleted == EPOCHS - 1  # the first consumer deletes one object from epoch 1 on
    # the last listing (epoch 2, hour 12) comes before that epoch's delete (hour 18)
    assert c.objects_listed == c.objects_put - (c.deleted - 1)
    storage = summary.storage
    assert storage is not None and storage.readable == storage.objects


@pytest.mark.slow
def test_credits_are_burned_charged_spent_and_the_short_consumer_owes(
    demo: tuple[Path, DemoSummary],
) -> None:
    _, summary = demo
    c = summary.consumers
    assert c is not None
    burned = (CONSUMERS - 1) * CREDIT_TOKENS + SHORT_CREDIT_TOKENS
    assert int(c.tokens_burned) == burned == int(summary.burned)
    assert c.credits_bought == burned * 100_000 // ONE_TOKEN  # chain.credit_price
    assert c.settled_epochs == list(range(EPOCHS - 1))
    assert 0 < c.credits_spent < c.credits_charged
    assert c.credits_owed == c.credits_charged - c.credits_spent > 0
    assert c.unsettled_charges > 0


@pytest.mark.slow
def test_spends_on_chain_cite_the_usage_files_and_usage_reports_all_pass(
    demo: tuple[Path, DemoSummary],
) -> None:
    data_dir, _ = demo
    gateway = placer_signer(SEED).address
    for settled in range(EPOCHS - 1):
        (path,) = (data_dir / "gateway" / "usage" / str(settled)).glob("usage_v1.*.json")
        ref = keccak256(path.read_bytes())
        assert json.loads(path.read_bytes())["epoch"] == settled
        d = _epoch_dir(data_dir, settled + 1)  # spent and reported in the next epoch
        chain = parse_credits_spent((d / "kinds" / "usage" / "credits_spent_v1.json").read_bytes())
        assert chain.spends and {s.usage_ref for s in chain.spends} == {ref}
        assert {s.spender for s in chain.spends} == {gateway}
        counts = json.loads((d / "verdicts_v1.json").read_bytes())["kinds"]["usage"]["counts"]
        assert set(counts) == {"valid"} and counts["valid"] > len(chain.spends)
        explained = json.loads((d / "explanations_v1.json").read_bytes())["kinds"]["usage"]
        assert all(e["reasons"] == [] for e in explained)
        assert audit_epoch(d).ok


@pytest.mark.slow
def test_usage_pays_nodes_the_token_value_of_what_consumers_paid(
    demo: tuple[Path, DemoSummary],
) -> None:
    data_dir, summary = demo
    c = summary.consumers
    assert c is not None
    value = c.credits_spent * ONE_TOKEN // 100_000
    paid = int(c.usage_paid)
    assert 0 < paid <= value and paid >= value * 999 // 1_000  # per-node rounding only
    by_epoch = []
    for epoch in range(EPOCHS):
        rewards = RewardFile.from_bytes((_epoch_dir(data_dir, epoch) / "rewards_v1.json").read_bytes())
        by_epoch.append(sum(d.amount for o in rewards.owners for d in o.devices if d.kind == "usage"))
    assert by_epoch[0] == 0 and by_epoch[1] > 0 and by_epoch[2] > 0  # E is paid in E + 1
    assert sum(by_epoch) == paid


@pytest.mark.slow
def test_supply_reconciles_with_genesis_claims_and_burns(demo: tuple[Path, DemoSummary]) -> None:
    _, summary = demo
    assert int(summary.genesis_minted) == CONSUMERS * GENESIS_TOKENS
    assert summary.supply_reconciles
    assert int(summary.supply) == (
        int(summary.genesis_minted) + int(summary.claims_total) - int(summary.burned)
    )
    assert summary.unclaimed == "0"
