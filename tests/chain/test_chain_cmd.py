"""`depin chain deploy` on the embedded backend and against anvil with a keystore."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from opendepin.chain import AnvilProcess, Deployment, RpcChain, Signer
from opendepin.cli.app import app
from opendepin.errors import InputError
from opendepin.identity import DeviceKey, save_keystore

LOW_SCRYPT_N = 2**10
"""Keystore work factor for tests only (fast; never use outside tests)."""


def _oracle_args(n: int) -> list[str]:
    return [arg for _ in range(n) for arg in ("--oracle", Signer.generate().address)]


def test_deploy_embedded_writes_deployment_json(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["chain", "deploy", "--dir", str(tmp_path), *_oracle_args(3)])
    assert result.exit_code == 0, result.output
    deployment = Deployment.load(tmp_path)
    assert set(deployment.addresses) >= {"Token", "RewardDistributor", "Timelock"}
    assert "embedded chain" in result.output


def test_deploy_with_too_few_oracles_is_an_input_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["chain", "deploy", "--dir", str(tmp_path), *_oracle_args(1)])
    assert isinstance(result.exception, InputError)
    assert not (tmp_path / "deployment.json").exists()


@pytest.mark.anvil
def test_deploy_over_rpc_with_keystore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = DeviceKey.generate()
    keystore = tmp_path / "gov.json"
    save_keystore(key, keystore, "test passphrase", scrypt_n=LOW_SCRYPT_N)
    monkeypatch.setenv("DEPIN_PASSPHRASE", "test passphrase")
    with AnvilProcess(chain_id=31337) as node:
        chain = RpcChain(node.url)
        chain.fund(key.device_id, 10**21)
        args = [
            "chain",
            "deploy",
            "--dir",
            str(tmp_path),
            "--rpc",
            node.url,
            "--keystore",
            str(keystore),
        ]
        result = CliRunner().invoke(app, [*args, *_oracle_args(2)])
        assert result.exit_code == 0, result.output
        deployment = Deployment.load(tmp_path)
        deployment.verify_code(chain)
        assert deployment.deployer == key.device_id
