"""`audit_epoch` recomputes a published epoch and names where it diverges."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from opendepin.canonical import sha256_hex
from opendepin.epochdir import EpochFile, KindFile, kind_path
from opendepin.oracle.audit import audit_epoch
from opendepin.sim.demo import run_demo
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


# -- every output is re-rendered and compared (a demo network with heartbeat and coverage) ---

COVERAGE_NEXT_STATE = kind_path("coverage", KindFile.NEXT_STATE)
COVERAGE_STATE = kind_path("coverage", KindFile.STATE)


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


@pytest.fixture(scope="module")
def demo_epochs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The published `epochs/` directory of one oracle of a two-epoch demo (heartbeat + coverage)."""
    data_dir = tmp_path_factory.mktemp("audit-demo")
    run_demo(seed=3, kinds={"heartbeat": 8, "coverage": 12}, epochs=2, data_dir=data_dir)
    return data_dir / "oracle-0" / "epochs"


@pytest.fixture()
def epochs_copy(demo_epochs: Path, tmp_path: Path) -> Path:
    """A private copy of the demo's epoch directories (tests tamper with it)."""
    return Path(shutil.copytree(demo_epochs, tmp_path / "epochs"))


def _rewrite_json(path: Path, obj: Any) -> bytes:
    data = _canonical(obj)
    path.write_bytes(data)
    return data


def _manifest(d: Path) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads((d / EpochFile.MANIFEST).read_bytes())
    return obj


def _set_output_sha(d: Path, name: str, data: bytes) -> None:
    """Make the manifest agree with the tampered output, so only the recomputation can tell."""
    manifest = _manifest(d)
    entries = [o for o in manifest["outputs"] if o["name"] == name]
    assert len(entries) == 1, name
    entries[0]["sha256"] = sha256_hex(data)
    _rewrite_json(d / EpochFile.MANIFEST, manifest)


def _set_input_sha(d: Path, name: str, data: bytes) -> None:
    manifest = _manifest(d)
    entries = [i for i in manifest["inputs"] if i["name"] == name]
    assert len(entries) == 1, name
    entries[0]["sha256"] = sha256_hex(data)
    entries[0]["bytes"] = len(data)
    _rewrite_json(d / EpochFile.MANIFEST, manifest)


def test_demo_epochs_audit_clean_and_the_manifest_is_canonical(epochs_copy: Path) -> None:
    for epoch in (0, 1):
        d = epochs_copy / str(epoch)
        # The helpers' canonical spelling is the published one (so rewriting changes nothing else).
        assert _canonical(_manifest(d)) == (d / EpochFile.MANIFEST).read_bytes()
        assert (d / COVERAGE_NEXT_STATE).is_file()
        result = audit_epoch(d)
        assert result.ok, result.problems


def test_audit_names_the_verdicts_file_and_device_of_a_rewritten_reason(epochs_copy: Path) -> None:
    d = epochs_copy / "0"
    path = d / EpochFile.VERDICTS
    obj = json.loads(path.read_bytes())
    kind, row = next((k, r) for k, entry in sorted(obj["kinds"].items()) for r in entry["invalid"])
    other = sorted({r["reason"] for e in obj["kinds"].values() for r in e["invalid"]} - {row["reason"]})
    row["reason"] = other[0] if other else "not_a_reason"
    _set_output_sha(d, EpochFile.VERDICTS, _rewrite_json(path, obj))
    result = audit_epoch(d)
    assert not result.ok
    assert result.recomputed_root == result.published_root  # only the verdicts lie
    assert any(EpochFile.VERDICTS in p and row["device"] in p and kind in p for p in result.problems), result.problems
    assert not any(p.startswith("input ") for p in result.problems)


def test_audit_names_the_explanations_file_and_device_of_changed_shares(epochs_copy: Path) -> None:
    d = epochs_copy / "0"
    path = d / EpochFile.EXPLANATIONS
    obj = json.loads(path.read_bytes())
    row = obj["kinds"]["coverage"][0]
    row["shares"] = int(row["shares"]) + 1
    _set_output_sha(d, EpochFile.EXPLANATIONS, _rewrite_json(path, obj))
    result = audit_epoch(d)
    assert not result.ok
    assert any(
        EpochFile.EXPLANATIONS in p and row["device"] in p and "coverage" in p for p in result.problems
    ), result.problems


def test_audit_names_the_explanations_file_and_device_of_changed_reasons(epochs_copy: Path) -> None:
    d = epochs_copy / "0"
    path = d / EpochFile.EXPLANATIONS
    obj = json.loads(path.read_bytes())
    row = obj["kinds"]["heartbeat"][-1]
    row["reasons"] = sorted({*row["reasons"], "made_up_reason"})
    _set_output_sha(d, EpochFile.EXPLANATIONS, _rewrite_json(path, obj))
    result = audit_epoch(d)
    assert not result.ok
    assert any(
        EpochFile.EXPLANATIONS in p and row["device"] in p and "heartbeat" in p for p in result.problems
    ), result.problems


def test_audit_names_the_kind_state_file_and_device_of_a_removed_entry(epochs_copy: Path) -> None:
    d = epochs_copy / "0"
    path = d / COVERAGE_NEXT_STATE
    obj = json.loads(path.read_bytes())
    table = next(v for _, v in sorted(obj["history"].items()) if isinstance(v, dict) and v)
    device = sorted(table)[0]
    del table[device]
    _set_output_sha(d, COVERAGE_NEXT_STATE, _rewrite_json(path, obj))
    result = audit_epoch(d)
    assert not result.ok
    assert any(COVERAGE_NEXT_STATE in p and device in p for p in result.problems), result.problems


def test_audit_flags_an_output_the_recomputation_does_not_produce(epochs_copy: Path) -> None:
    d = epochs_copy / "0"
    manifest = _manifest(d)
    manifest["outputs"] = sorted(
        [*manifest["outputs"], {"name": "extra_v1.json", "sha256": sha256_hex(b"{}\n")}], key=lambda o: o["name"]
    )
    _rewrite_json(d / EpochFile.MANIFEST, manifest)
    (d / "extra_v1.json").write_bytes(b"{}\n")
    result = audit_epoch(d)
    assert not result.ok
    assert any("extra_v1.json" in p and "not produced" in p for p in result.problems), result.problems


def test_audit_flags_a_kind_state_that_is_not_the_previous_next_state(epochs_copy: Path) -> None:
    d = epochs_copy / "1"
    path = d / COVERAGE_STATE
    assert path.read_bytes() == (epochs_copy / "0" / COVERAGE_NEXT_STATE).read_bytes()
    obj = json.loads(path.read_bytes())
    table = next(v for _, v in sorted(obj["history"].items()) if isinstance(v, dict) and v)
    del table[sorted(table)[0]]
    _set_input_sha(d, COVERAGE_STATE, _rewrite_json(path, obj))  # the manifest agrees: no sha problem
    result = audit_epoch(d)
    assert not result.ok
    assert any(COVERAGE_STATE in p and "epoch 0" in p for p in result.problems), result.problems
    assert not any(p.startswith("input ") for p in result.problems), result.problems

