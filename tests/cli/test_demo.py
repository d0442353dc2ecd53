"""`depin demo` end to end with small numbers, through the real CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from opendepin.cli.app import app
from opendepin.oracle.audit import audit_epoch
from opendepin.rewards.files import RewardFile

DEVICES = 20
COVERAGE_DEVICES = 12
STORAGE_NODES = 10
EPOCHS = 2


def _run(tmp_path: Path, name: str, seed: int) -> tuple[dict[str, Any], str]:
    out = tmp_path / f"{name}.json"
    result = CliRunner().invoke(
        app,
        ["demo", "--devices", str(DEVICES), "--coverage-devices", str(COVERAGE_DEVICES),
         "--storage-nodes", str(STORAGE_NODES),
         "--epochs", str(EPOCHS), "--seed", str(seed),
         "--dir", str(tmp_path / name), "--json", str(out)],
    )
    assert result.exit_code == 0, result.output
    summary: dict[str, Any] = json.loads(out.read_text())
    return summary, result.output


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    tmp = tmp_path_factory.mktemp("demo")
    summary, output = _run(tmp, "a", seed=5)
    return tmp, summary, output


@pytest.fixture(scope="module")
def first(first_run: tuple[Path, dict[str, Any], str]) -> tuple[Path, dict[str, Any]]:
    return first_run[0], first_run[1]


@pytest.mark.slow
def test_demo_prints_every_rejection_reason_with_its_count(
    first_run: tuple[Path, dict[str, Any], str],
) -> None:
    _, summary, output = first_run
    assert "Rejected reports and invalid verdicts, by reason" in output
    for e in summary["epochs"]:
        for reason, count in e["rejected_by_reason"].items():
            row = next(line for line in output.splitlines() if f" {reason} " in line)
            assert f"{count:,}" in row, (reason, row)


@pytest.mark.slow
def test_demo_settles_every_epoch_and_claims_match_supply(first: tuple[Path, dict[str, Any]]) -> None:
    tmp, summary = first
    assert [e["epoch"] for e in summary["epochs"]] == list(range(EPOCHS))
    for e in summary["epochs"]:
        assert e["root"].startswith("0x") and int(e["root"], 16) != 0
        assert int(e["emission"]) > 0
        assert 0 < e["rewarded_devices"] < DEVICES + COVERAGE_DEVICES + STORAGE_NODES
        assert len(e["signers"]) == 2
        for reason in ("replayed", "signer_mismatch", "location_untrusted"):
            assert e["rejected_by_reason"].get(reason, 0) > 0, reason
    last = RewardFile.from_bytes((tmp / "a" / "oracle-0" / "epochs" / str(EPOCHS - 1) / "rewards_v1.json").read_bytes())
    assert int(summary["claims_total"]) == last.cumulative_total
    assert int(summary["supply"]) == (
        int(summary["genesis_minted"]) + int(summary["claims_total"]) - int(summary["burned"])
    )
    assert int(summary["burned"]) > 0 and summary["consumers"]["credits_spent"] > 0
    assert summary["unrewarded"]["wrong_location"] == {"location_untrusted": 1}
    assert summary["unrewarded"]["flaky"] == {"insufficient_uptime": 1}


@pytest.mark.slow
def test_demo_same_seed_gives_same_roots(first: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    _, summary = first
    again, _ = _run(tmp_path, "b", seed=5)
    assert [e["root"] for e in again["epochs"]] == [e["root"] for e in summary["epochs"]]
    other, _ = _run(tmp_path, "c", seed=6)
    assert [e["root"] for e in other["epochs"]] != [e["root"] for e in summary["epochs"]]


@pytest.mark.slow
def test_demo_epoch_dirs_pass_audit(first: tuple[Path, dict[str, Any]]) -> None:
    tmp, summary = first
    for oracle in range(3):
        for e in summary["epochs"]:
            result = audit_epoch(tmp / "a" / f"oracle-{oracle}" / "epochs" / str(e["epoch"]))
            assert result.ok, result.problems
            assert "0x" + result.published_root.hex() == e["root"]


def test_audit_cli_reports_mismatch_with_exit_1(first: tuple[Path, dict[str, Any]]) -> None:
    tmp, _ = first
    epoch_dir = tmp / "audited" / "0"
    shutil.copytree(tmp / "a" / "oracle-2" / "epochs" / "0", epoch_dir)
    ok = CliRunner().invoke(app, ["audit", str(epoch_dir)])
    assert ok.exit_code == 0, ok.output
    assert "OK" in ok.output
    snapshot = epoch_dir / "snapshot_v1.json"
    snapshot.write_bytes(snapshot.read_bytes().replace(b'"active":true', b'"active":false', 1))
    bad = CliRunner().invoke(app, ["audit", str(epoch_dir)])
    assert bad.exit_code == 1
    assert "snapshot_v1.json" in bad.output
