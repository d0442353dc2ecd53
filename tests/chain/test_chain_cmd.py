"""`depin chain deploy` on the embedded backend and against anvil with a keystore."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from opendepin.chain import AnvilProcess, Deployment, GovernanceClient, RpcChain, Signer
from opendepin.chain.deploy import DEFAULT_ADMIN_ROLE
from opendepin.cli.app import app
from opendepin.errors import ConfigError, InputError
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
    assert "governance changes take effect immediately" in result.output


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
        assert "timelock delay is 0 (allowed on development chain id 31337 only)" in result.output
        assert "renounced the timelock admin role" in result.output


@pytest.mark.anvil
def test_deploy_over_rpc_refuses_zero_delay_off_devnet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = DeviceKey.generate()
    keystore = tmp_path / "gov.json"
    save_keystore(key, keystore, "test passphrase", scrypt_n=LOW_SCRYPT_N)
    monkeypatch.setenv("DEPIN_PASSPHRASE", "test passphrase")
    monkeypatch.setenv("DEPIN_NETWORK__CHAIN_ID", "4321")
    with AnvilProcess(chain_id=4321) as node:
        chain = RpcChain(node.url)
        chain.fund(key.device_id, 10**21)
        args = ["chain", "deploy", "--dir", str(tmp_path), "--rpc", node.url]
        args += ["--keystore", str(keystore), *_oracle_args(2)]
        refused = CliRunner().invoke(app, args)
        assert isinstance(refused.exception, ConfigError)
        assert "timelock_delay_seconds is 0" in str(refused.exception)
        assert "31337" in str(refused.exception)
        assert not (tmp_path / "deployment.json").exists()
        assert chain.nonce(key.device_id) == 0

        monkeypatch.setenv("DEPIN_CHAIN__TIMELOCK_DELAY_SECONDS", "172800")
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "timelock delay: 172800 s" in result.output
        deployment = Deployment.load(tmp_path)
        timelock = GovernanceClient(chain, deployment.address("Timelock"))
        assert timelock.min_delay() == 172_800
        assert not timelock.has_role(DEFAULT_ADMIN_ROLE, key.device_id)
