"""`depin merkle root|proof` over an account,amount CSV."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opendepin.cli.app import app
from opendepin.cli.merkle_cmd import read_entries
from opendepin.errors import InputError
from opendepin.rewards.merkle import RewardTree, verify_proof

A = "0x1111111111111111111111111111111111111111"
B = "0x2222222222222222222222222222222222222222"
OZ_ROOT = "0xd4dee0beab2d53f2cc83e567171bd2820e49898130a22622b10ead383e90bd77"

runner = CliRunner()


def _csv(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "rewards.csv"
    path.write_text(body, encoding="utf-8")
    return path


def test_root_prints_openzeppelin_root(tmp_path: Path) -> None:
    path = _csv(tmp_path, f"account,amount\n{A},5000000000000000000\n{B},2500000000000000000\n")
    result = runner.invoke(app, ["merkle", "root", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == OZ_ROOT


def test_proof_prints_json_list_that_verifies(tmp_path: Path) -> None:
    path = _csv(tmp_path, f"account,amount\n{A},5000000000000000000\n{B},2500000000000000000\n")
    result = runner.invoke(app, ["merkle", "proof", str(path), B])
    assert result.exit_code == 0, result.output
    proof = [bytes.fromhex(h[2:]) for h in json.loads(result.output)]
    leaf = RewardTree.leaf_hash(B, 2500000000000000000)
    assert verify_proof(bytes.fromhex(OZ_ROOT[2:]), leaf, proof)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("0x12,5", "40 hex digits"),
        (f"{A},-5", "negative amount"),
        (f"{A},1.5", "not an integer"),
        (f"{A},{2**256}", "uint256"),
        (f"{A},5,6", "2 columns"),
        (f"{A.lower()},7", "duplicate account"),
    ],
)
def test_read_entries_rejects_bad_row_naming_line(tmp_path: Path, row: str, message: str) -> None:
    path = _csv(tmp_path, f"account,amount\n{A},1\n\n{row}\n")
    with pytest.raises(InputError, match=message) as caught:
        read_entries(path)
    assert f"{path}:4:" in str(caught.value)


def test_read_entries_rejects_wrong_header(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="expected header"):
        read_entries(_csv(tmp_path, f"address,value\n{A},1\n"))


def test_read_entries_rejects_file_without_rows(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no rows"):
        read_entries(_csv(tmp_path, "account,amount\n"))


def test_cli_bad_row_exits_1_with_one_line(tmp_path: Path) -> None:
    path = _csv(tmp_path, f"account,amount\n{A},-1\n")
    done = subprocess.run(
        [sys.executable, "-m", "opendepin", "merkle", "root", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and ":2:" in lines[0] and "negative amount" in lines[0]
