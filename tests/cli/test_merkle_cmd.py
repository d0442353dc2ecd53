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
from opendepin.identity.address import to_checksum_address
from opendepin.rewards.files import RewardFile
from opendepin.rewards.merkle import RewardTree, tree_proof, verify_proof

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


C = "0x3333333333333333333333333333333333333333"
OZ_DUMP_THREE = {
    "format": "standard-v1",
    "leafEncoding": ["address", "uint256"],
    "tree": [
        "0xe264190c3e22d981e46853866509a7576d5037da794a48ed577d392cc9a9b415",
        "0x1d079e8489684395a2a7a25ec7ee7c2b84871c4c44e8105ffef65c5b40526c88",
        "0xeb02c421cfa48976e66dfb29120745909ea3a0f843456c263cf8f1253483e283",
        "0xbe3b42a05702c04893d953884f1140495cc5b2fea835e19e0bb1d150bd5f9c6a",
        "0xb92c48e9d7abe27fd8dfd6b5dfdbfb1c9a463f80c712b66f3a5180a090cccafc",
    ],
    "values": [
        {"value": [A, "5000000000000000000"], "treeIndex": 2},
        {"value": [B, "2500000000000000000"], "treeIndex": 4},
        {"value": [C, "7"], "treeIndex": 3},
    ],
}
"""`StandardMerkleTree.of([[A, 5e18], [B, 2.5e18], [C, 7]], ["address", "uint256"]).dump()`
as printed by @openzeppelin/merkle-tree 1.0.8 (node), pinned here so this test needs no node."""


def test_dump_of_csv_is_openzeppelins_dump_byte_for_byte(tmp_path: Path) -> None:
    path = _csv(
        tmp_path, f"account,amount\n{A},5000000000000000000\n{B},2500000000000000000\n{C},7\n"
    )
    result = runner.invoke(app, ["merkle", "dump", str(path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == OZ_DUMP_THREE
    assert result.output == json.dumps(OZ_DUMP_THREE, separators=(",", ":")) + "\n"


def _rewards(tmp_path: Path) -> tuple[Path, RewardFile]:
    owners = [to_checksum_address(bytes([i] * 20)) for i in (0xA1, 0x0B, 0x5C, 0xE7)]
    rewards = RewardFile.build(
        network="testnet",
        epoch=4,
        emission=1_000,
        unallocated=10,
        cumulative={owners[0]: 900, owners[1]: 400, owners[2]: 90, owners[3]: 1},
        epoch_amounts={owners[0]: 500, owners[1]: 400, owners[2]: 90},
        devices={
            owners[0]: [(owners[3], "heartbeat", 5, 500)],
            owners[1]: [(owners[2], "coverage", 7, 400)],
            owners[2]: [(owners[1], "heartbeat", 1, 90)],
        },
    )
    path = tmp_path / "rewards_v1.json"
    path.write_bytes(rewards.to_bytes())
    return path, rewards


def test_dump_of_reward_file_gives_its_root_and_every_owners_proof(tmp_path: Path) -> None:
    path, rewards = _rewards(tmp_path)
    before = path.read_bytes()
    out = tmp_path / "tree.json"
    result = runner.invoke(app, ["merkle", "dump", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert path.read_bytes() == before  # the published reward file is untouched
    dump = json.loads(out.read_text())
    assert dump["format"] == "standard-v1" and dump["leafEncoding"] == ["address", "uint256"]
    assert dump["tree"][0] == "0x" + rewards.root.hex()
    assert [v["value"] for v in dump["values"]] == [
        [o.account, str(o.cumulative)] for o in rewards.owners
    ]
    nodes = [bytes.fromhex(h[2:]) for h in dump["tree"]]
    tree = rewards.tree()
    for value, owner in zip(dump["values"], rewards.owners, strict=True):
        leaf = RewardTree.leaf_hash(owner.account, owner.cumulative)
        assert nodes[value["treeIndex"]] == leaf
        assert tree_proof(nodes, value["treeIndex"]) == tree.proof(owner.account)
        assert verify_proof(rewards.root, leaf, tree.proof(owner.account))
    assert sorted(v["treeIndex"] for v in dump["values"]) == list(range(3, 7))


def test_dump_refuses_reward_file_whose_root_is_wrong(tmp_path: Path) -> None:
    path, _ = _rewards(tmp_path)
    doc = json.loads(path.read_bytes())
    doc["root"] = "0x" + bytes(32).hex()
    path.write_text(json.dumps(doc))
    result = runner.invoke(app, ["merkle", "dump", str(path)])
    assert result.exit_code != 0
    assert isinstance(result.exception, InputError)
    assert "root_mismatch" in str(result.exception) and str(path) in str(result.exception)
