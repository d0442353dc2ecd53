"""The demo with storage nodes, end to end: cheats disqualified, honest paid, objects readable, audits hold."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from opendepin.cli.app import app
from opendepin.cli.demo_cmd import render
from opendepin.errors import InputError
from opendepin.oracle.audit import audit_epoch
from opendepin.proofs.storage.simulation import (
    OBJECTS,
    OFFLINE_FROM_HOUR,
    behaviour_plan,
    node_key,
    placer_signer,
)
from opendepin.rewards.files import RewardFile
from opendepin.sim.demo import DemoSummary, run_demo
from opendepin.sim.network import WITH_STORAGE_BPS, demo_pools, sim_settings, sim_storage_placers

SEED = 7
HEARTBEAT_DEVICES = 8
STORAGE_NODES = 12
EPOCHS = 3


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoSummary]:
    data_dir = tmp_path_factory.mktemp("storage-demo")
    summary = run_demo(
        seed=SEED,
        epochs=EPOCHS,
        data_dir=data_dir,
        kinds={"heartbeat": HEARTBEAT_DEVICES, "storage": STORAGE_NODES},
    )
    return data_dir, summary


def test_demo_pools_with_storage_add_up_and_storage_settings_name_the_placer() -> None:
    assert demo_pools(["heartbeat", "coverage", "storage"]) == WITH_STORAGE_BPS
    assert sum(WITH_STORAGE_BPS.values()) == 10_000
    assert sum(demo_pools(["heartbeat", "storage"]).values()) == 10_000
    placers = sim_storage_placers(SEED, ["heartbeat", "storage"])
    assert placers == [placer_signer(SEED).address]
    assert sim_storage_placers(SEED, ["heartbeat"]) == []
    settings = sim_settings(kinds=["heartbeat", "storage"], storage_placers=placers)
    assert settings.parameters()["kinds"]["storage"]["placers"] == placers
    assert "storage" not in sim_settings(kinds=["heartbeat"]).kinds


@pytest.mark.slow
def test_demo_disqualifies_deleter_and_roots_only_and_pays_honest_and_offline(
    demo: tuple[Path, DemoSummary],
) -> None:
    _, summary = demo
    storage = summary.storage
    assert storage is not None
    rows = storage.behaviours
    assert {b: r.nodes for b, r in rows.items()} == {
        "honest": 9,
        "deleter": 1,
        "roots_only": 1,
        "offline": 1,
    }
    assert rows["deleter"].disqualified == rows["roots_only"].disqualified == 1
    assert rows["honest"].disqualified == rows["offline"].disqualified == 0
    assert rows["honest"].paid_nodes == 9 and rows["offline"].paid_nodes == 1
    assert rows["honest"].min_score_ppm is not None and rows["honest"].min_score_ppm > 960_000
    assert rows["offline"].min_score_ppm is not None and rows["offline"].min_score_ppm > 960_000
    assert (
        rows["roots_only"].max_score_ppm is not None and rows["roots_only"].max_score_ppm <= 960_000
    )
    honest_each = int(rows["honest"].rewards) // 9
    assert int(rows["offline"].rewards) > 0
    assert int(rows["deleter"].rewards) < honest_each // 2
    assert int(rows["roots_only"].rewards) == 0
    # the oracles saw the garbage proofs, and refused the disqualified nodes' later ones
    assert summary.epochs[0].rejected_by_reason.get("wrong_root", 0) > 0
    assert summary.epochs[-1].rejected_by_reason.get("node_disqualified", 0) > 0
    # the deleter still served consumers' downloads before it deleted (signed GET orders the
    # consumers paid for), so the usage pool pays it for those; its storage rewards are above
    assert "storage_roots_only" in summary.unrewarded
    assert not {"storage_honest", "storage_offline"} & set(summary.unrewarded)


@pytest.mark.slow
def test_demo_objects_survive_the_cheats_through_repair(demo: tuple[Path, DemoSummary]) -> None:
    _, summary = demo
    storage = summary.storage
    assert storage is not None
    consumers = summary.consumers
    assert consumers is not None  # the demo's consumers store through the same placer
    assert storage.objects == OBJECTS + consumers.objects_put
    assert storage.readable == storage.objects
    assert storage.pieces_repaired > 0
    assert storage.pieces_placed >= OBJECTS * 6
    assert summary.to_json()["storage"]["readable"] == storage.objects


@pytest.mark.slow
def test_demo_storage_pool_is_paid_and_epochs_pass_audit(demo: tuple[Path, DemoSummary]) -> None:
    data_dir, summary = demo
    assert summary.supply_reconciles  # genesis (consumers) + claims − burned for credits
    epochs = data_dir / "oracle-1" / "epochs"
    for e in summary.epochs:
        reward_file = RewardFile.from_bytes(
            (epochs / str(e.epoch) / "rewards_v1.json").read_bytes()
        )
        storage = sum(
            d.amount for o in reward_file.owners for d in o.devices if d.kind == "storage"
        )
        assert 0 < storage <= reward_file.emission // 2  # heartbeat, storage, usage share equally
        result = audit_epoch(epochs / str(e.epoch))
        assert result.ok, result.problems
    manifest = json.loads((epochs / "0" / "manifest_v1.json").read_bytes())
    assert manifest["parameters"]["kinds"]["storage"]["placers"] == [placer_signer(SEED).address]


@pytest.mark.slow
def test_demo_prints_the_storage_section(demo: tuple[Path, DemoSummary]) -> None:
    _, summary = demo
    out = io.StringIO()
    render(Console(file=out, width=160), summary, kept=True)
    text = out.getvalue()
    assert summary.storage is not None and summary.consumers is not None
    total = summary.storage.objects
    assert f"{total} of {total} readable at the end" in text
    assert "Storage nodes by simulated behaviour" in text
    assert "Credits (consumers → gateway → usage pool)" in text
    assert f"{summary.consumers.credits_spent:,}" in text
    assert "supply reconciles" in text
    for behaviour, row in summary.storage.behaviours.items():
        line = next(x for x in text.splitlines() if f" {behaviour} " in x and "│" in x)
        assert f" {row.nodes} " in line and f" {row.disqualified} " in line, line


def test_demo_refuses_too_few_storage_nodes() -> None:
    result = CliRunner().invoke(app, ["demo", "--storage-nodes", "3"])
    assert result.exit_code != 0
    assert isinstance(result.exception, InputError)  # the entry point prints it as one error line
    assert "--storage-nodes" in str(result.exception)


@pytest.mark.slow
def test_demo_offline_node_loses_pay_not_reputation(demo: tuple[Path, DemoSummary]) -> None:
    """In the epoch it was offline its contained answers keep its score but earn no windows:
    it is paid for fewer audited byte-windows per byte held than every honest node."""
    data_dir, _ = demo
    plan = behaviour_plan(STORAGE_NODES)
    devices = {node_key(SEED, i).device_id: b.value for i, b in enumerate(plan)}
    path = data_dir / "oracle-1" / "epochs" / str(OFFLINE_FROM_HOUR // 24) / "explanations_v1.json"
    rows = {x["device"]: x for x in json.loads(path.read_bytes())["kinds"]["storage"]}

    def windows_per_byte(row: dict[str, Any]) -> float:
        return int(row["audited_byte_windows"]) / max(1, int(row["bytes"]))

    offline = next(rows[d] for d, b in devices.items() if b == "offline")
    honest = [rows[d] for d, b in devices.items() if b == "honest" and d in rows]
    assert offline["audits"]["contained"] > 0 and offline["audits"]["missing"] == 0
    assert offline["reputation"]["score_ppm"] > 960_000
    assert windows_per_byte(offline) < min(windows_per_byte(h) for h in honest)
