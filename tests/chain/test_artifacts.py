"""The published contract artefacts: identical to a fresh compile, the only thing deployed,
and readable by the CLI (`depin chain abi`, `depin chain permit-schema`) and by ethers.

The fresh compile is the check CI runs: every contract is recompiled from source (never from
a cache) and the checked-in files must be byte-for-byte what that build writes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account.messages import encode_typed_data
from eth_utils.address import to_checksum_address
from typer.testing import CliRunner

from opendepin.chain import EmbeddedChain, RpcChain, Signer, deploy_network
from opendepin.chain.anvil import AnvilProcess
from opendepin.chain.artifacts import (
    ARTIFACTS_DIR,
    INDEX_FILE,
    artifact_names,
    compiled,
    load_artifact,
)
from opendepin.chain.artifacts.build import BuiltFiles, check, fresh_build
from opendepin.chain.compiler import CONTRACTS_DIR, contract_names
from opendepin.chain.deploy import Deployment
from opendepin.chain.eip712 import REGISTER_TYPE, register_digest
from opendepin.cli.app import app
from opendepin.crypto import keccak256
from opendepin.errors import ConfigError
from opendepin.identity import DeviceKey
from opendepin.network.settings import Settings
from opendepin.rewards.files import RewardFile

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TOOLS_NODE_MODULES = PROJECT_ROOT / "tools" / "node_modules"
CLAIM_SCRIPT = Path(__file__).parent / "js" / "claim.cjs"
ONE = 10**18
EPOCH_SECONDS = 3_600
runner = CliRunner()


@pytest.fixture(scope="module")
def fresh() -> BuiltFiles:
    """Every packaged contract compiled from source now (about 7 s)."""
    return fresh_build()


# -- identical to a fresh compile -----------------------------------------------------------


def test_checked_in_artifacts_equal_a_fresh_compile(fresh: BuiltFiles) -> None:
    assert check(ARTIFACTS_DIR, fresh) == []
    assert artifact_names() == contract_names() == sorted(fresh.artifacts)
    for name, new in fresh.artifacts.items():
        shipped = load_artifact(name)
        assert shipped.bytecode == new.bytecode, name
        assert shipped.deployed_bytecode == new.deployed_bytecode, name
        assert shipped.abi == new.abi, name
        assert shipped.sources == new.sources, name
        assert (shipped.compiler_version, shipped.settings) == (new.compiler_version, new.settings)


def test_source_hashes_are_the_files_on_disk_including_snekmate() -> None:
    import snekmate

    snekmate_root = Path(next(iter(snekmate.__path__))).parent  # a namespace package
    for name in artifact_names():
        sources = load_artifact(name).sources
        own = f"opendepin/chain/contracts/{name}.vy"
        assert sources[own] == hashlib.sha256((CONTRACTS_DIR / f"{name}.vy").read_bytes()).hexdigest()
        libs = [p for p in sources if p.startswith("snekmate/")]
        assert libs, f"{name} lists no snekmate module"
        for path in libs:
            assert sources[path] == hashlib.sha256((snekmate_root / path).read_bytes()).hexdigest()
    assert "snekmate/utils/ecdsa.vy" in load_artifact("RewardDistributor").sources


def test_check_names_the_field_that_differs(tmp_path: Path, fresh: BuiltFiles) -> None:
    for name, data in fresh.files.items():
        (tmp_path / name).write_bytes(data)
    doc = json.loads((tmp_path / "Credits.json").read_text())
    doc["bytecode"] = doc["bytecode"][:-2] + ("00" if doc["bytecode"][-2:] != "00" else "01")
    (tmp_path / "Credits.json").write_text(json.dumps(doc))
    (tmp_path / "Stale.json").write_text("{}")
    problems = check(tmp_path, fresh)
    assert any(p.startswith("Credits.json:") and "fields: bytecode" in p for p in problems)
    assert any(p.startswith("Stale.json:") for p in problems)


def test_edited_artifact_is_refused_by_the_index_hash(tmp_path: Path) -> None:
    shutil.copytree(ARTIFACTS_DIR, tmp_path / "a", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    directory = tmp_path / "a"
    assert load_artifact("Credits", directory).bytecode == load_artifact("Credits").bytecode
    text = (directory / "Token.json").read_text()
    (directory / "Token.json").write_text(text.replace('"contractName": "Token"', '"contractName": "Tokem"'))
    assert (directory / "Token.json").read_text() != text
    with pytest.raises(ConfigError, match=f"does not match the sha256 in {INDEX_FILE}"):
        load_artifact("Token", directory)


def test_unknown_contract_is_a_config_error_listing_the_names() -> None:
    with pytest.raises(ConfigError, match="no contract named 'Nope'; known: Credits, DeviceRegistry"):
        load_artifact("Nope")


# -- deployed from the artefacts, nothing compiled -------------------------------------------


def test_deploy_uses_artifact_bytecode_without_compiling(monkeypatch: pytest.MonkeyPatch) -> None:
    from vyper.compiler import phases

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the Vyper compiler ran during deployment")

    monkeypatch.setattr(phases.CompilerData, "__init__", refuse)
    chain = EmbeddedChain()
    gov = Signer.generate()
    chain.fund(gov.address, 10**21)
    oracles = [Signer.generate().address for _ in range(3)]
    deployment = deploy_network(chain, Settings(), gov, oracles, gov.address)
    deployment.verify_code(chain)
    for name, address in deployment.addresses.items():
        code = chain.code(address)
        # Vyper appends the immutables after the runtime code at deployment.
        assert code.startswith(compiled(name).runtime_bytecode), name


# -- CLI ------------------------------------------------------------------------------------


def test_chain_abi_prints_the_artifacts_abi_and_nothing_else() -> None:
    result = runner.invoke(app, ["chain", "abi", "RewardDistributor"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == list(load_artifact("RewardDistributor").abi)
    names = {e.get("name") for e in json.loads(result.output)}
    assert {"claim", "submit_root", "latest_root"} <= names


def test_chain_abi_of_unknown_name_is_one_line_listing_the_names() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "opendepin", "chain", "abi", "Nope"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "'Nope'" in lines[0] and all(n in lines[0] for n in artifact_names())


def test_permit_schema_template_has_placeholder_domain() -> None:
    result = runner.invoke(app, ["chain", "permit-schema"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["primaryType"] == "Register" and doc["encodeType"] == REGISTER_TYPE.decode()
    assert doc["typeHash"] == "0x" + keccak256(REGISTER_TYPE).hex()
    assert doc["domain"]["name"] == "DeviceRegistry" and doc["domain"]["version"] == "1"
    assert doc["domain"]["chainId"].startswith("<") and doc["domain"]["verifyingContract"].startswith("<")
    assert set(doc["fields"]) == {f["name"] for f in doc["types"]["Register"]}


def test_permit_schema_for_a_deployment_signs_to_the_registrys_digest(tmp_path: Path) -> None:
    registry = to_checksum_address("0x" + "5a" * 20)
    Deployment(chain_id=31337, network_id="n", addresses={"DeviceRegistry": registry}).save(tmp_path)
    result = runner.invoke(app, ["chain", "permit-schema", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["domain"] == {
        "name": "DeviceRegistry",
        "version": "1",
        "chainId": 31337,
        "verifyingContract": registry,
    }
    owner = Signer.generate().address
    message = {"owner": owner, "kind": "heartbeat", "nonce": 3, "deadline": 1_900_000_000}
    full = {k: doc[k] for k in ("types", "primaryType", "domain")} | {"message": message}
    signable = encode_typed_data(full_message=full)
    theirs = keccak256(b"\x19" + signable.version + signable.header + signable.body)
    assert theirs == register_digest(31337, registry, owner, "heartbeat", 3, 1_900_000_000)


# -- ethers claims with only the artefact and the Merkle dump ------------------------------


@pytest.mark.anvil
def test_ethers_claims_with_artifact_abi_and_standard_merkle_dump(tmp_path: Path) -> None:
    node_bin = shutil.which("node")
    assert node_bin is not None, "node is needed (it also runs anvil)"
    assert (TOOLS_NODE_MODULES / "ethers").is_dir(), "run `cd tools && npm install`"
    with AnvilProcess(chain_id=31337) as anvil:
        chain = RpcChain(anvil.url)
        gov, claimant, other = Signer.generate(), Signer.generate(), Signer.generate()
        oracles = [Signer.generate() for _ in range(3)]
        for account in (gov, claimant):
            chain.fund(account.address, 10**21)
        genesis = chain.timestamp() - 2 * EPOCH_SECONDS  # epochs 0 and 1 have ended
        settings = Settings(network={"genesis_unix": genesis, "epoch_seconds": EPOCH_SECONDS})
        deployment = deploy_network(chain, settings, gov, [o.address for o in oracles], gov.address)
        distributor = deployment.distributor(chain)

        amounts = {claimant.address: 123 * ONE, other.address: 45 * ONE}
        device_a, device_b = DeviceKey.generate().device_id, DeviceKey.generate().device_id
        rewards = RewardFile.build(
            network=settings.network.network_id,
            epoch=0,
            emission=200 * ONE,
            unallocated=32 * ONE,
            cumulative=amounts,
            epoch_amounts=amounts,
            devices={
                claimant.address: [(device_a, "heartbeat", 3, 123 * ONE)],
                other.address: [(device_b, "heartbeat", 1, 45 * ONE)],
            },
        )
        rewards_path = tmp_path / "rewards_v1.json"
        rewards_path.write_bytes(rewards.to_bytes())
        dump_path = tmp_path / "tree.json"
        result = runner.invoke(app, ["merkle", "dump", str(rewards_path), "-o", str(dump_path)])
        assert result.exit_code == 0, result.output

        manifest_hash = keccak256(b"manifest of epoch 0")
        total = rewards.cumulative_total
        digest = distributor.epoch_root_digest(0, rewards.root, total, manifest_hash)
        signatures = [o.sign_digest(digest) for o in oracles[:2]]
        distributor.submit_root(0, rewards.root, total, manifest_hash, signatures, sender=gov)
        token = deployment.token(chain)
        assert token.balance_of(claimant.address) == 0

        done = subprocess.run(
            [
                node_bin,
                str(CLAIM_SCRIPT),
                "--rpc", anvil.url,
                "--artifact", str(ARTIFACTS_DIR / "RewardDistributor.json"),
                "--distributor", deployment.address("RewardDistributor"),
                "--dump", str(dump_path),
            ],
            env={
                **os.environ,
                "NODE_PATH": str(TOOLS_NODE_MODULES),
                "CLAIMANT_PRIVATE_KEY": "0x" + claimant.private_bytes().hex(),
            },
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout)
        assert out["status"] == 1
        assert out["ofDumpEqual"] is True
        assert out["treeRoot"] == out["onChainRoot"] == "0x" + rewards.root.hex()
        assert out["proof"] == ["0x" + h.hex() for h in rewards.tree().proof(claimant.address)]
        assert token.balance_of(claimant.address) == 123 * ONE
        assert distributor.claimed(claimant.address) == 123 * ONE
        assert token.balance_of(other.address) == 0
        assert int(out["gasUsed"]) > 21_000
        print(f"ethers claim gas used: {out['gasUsed']}")
