"""`audit_epoch` recomputes a published epoch and names where it diverges."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opendepin.epochdir import EpochFile
from opendepin.oracle.audit import audit_epoch
from opendepin.sim.network import build_network, make_oracle, register_devices

from .test_runner import _feed


@pytest.fixture()
def epoch_dirs(tmp_path: Path) -> list[Path]:
    net = build_network(seed=11, devices=10)
    register_devices(net)
    node = make_oracle(net, 0, tmp_path / "oracle")
    for epoch in (0, 1):
        _feed(net, [node], epoch)
        node.runner.prepare(epoch)
    node.store.close()
    return [node.runner.epoch_dir(0), node.runner.epoch_dir(1)]


def test_audit_epoch_matches_published_root(epoch_dirs: list[Path]) -> None:
    for d in epoch_dirs:
        result = audit_epoch(d)
        assert result.ok, result.problems
        assert result.recomputed_root == result.published_root


def test_audit_epoch_names_tampered_input_file(epoch_dirs: list[Path]) -> None:
    snap = epoch_dirs[1] / EpochFile.SNAPSHOT
    snap.write_bytes(snap.read_bytes().replace(b'"active":true', b'"active":false', 1))
    result = audit_epoch(epoch_dirs[1])
    assert not result.ok
    assert any(EpochFile.SNAPSHOT in p and "sha256" in p for p in result.problems)


def test_audit_epoch_names_device_whose_amount_diverges(epoch_dirs: list[Path]) -> None:
    path = epoch_dirs[0] / EpochFile.REWARDS
    obj = json.loads(path.read_bytes())
    owner = obj["owners"][0]
    device = owner["devices"][0]
    device["amount"] = str(int(device["amount"]) - 1)
    owner["epoch_amount"] = str(int(owner["epoch_amount"]) - 1)
    owner["cumulative"] = str(int(owner["cumulative"]) - 1)
    obj["unallocated"] = str(int(obj["unallocated"]) + 1)
    obj["totals"]["allocated"] = str(int(obj["totals"]["allocated"]) - 1)
    obj["totals"]["cumulative"] = str(int(obj["totals"]["cumulative"]) - 1)
    path.write_bytes(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode() + b"\n")
    result = audit_epoch(epoch_dirs[0])
    assert not result.ok
    assert any(EpochFile.REWARDS in p for p in result.problems)
    assert any(device["device"] in p for p in result.problems)
