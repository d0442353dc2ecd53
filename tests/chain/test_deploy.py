"""deploy_network wiring and the deployment.json record."""

from __future__ import annotations

from pathlib import Path

import pytest

from opendepin.chain import Deployment, EmbeddedChain, Signer, deploy_network
from opendepin.errors import ChainError, ConfigError
from opendepin.network.settings import Settings


@pytest.fixture(scope="module")
def deployed() -> tuple[EmbeddedChain, Deployment, Signer]:
    chain = EmbeddedChain()
    gov = Signer.generate()
    oracles = [Signer.generate().address for _ in range(3)]
    deployment = deploy_network(chain, Settings(), gov, oracles, gov.address)
    return chain, deployment, gov


def test_deploy_wires_minter_oracles_and_timelock(
    deployed: tuple[EmbeddedChain, Deployment, Signer],
) -> None:
    chain, d, gov = deployed
    assert set(d.addresses) == {
        "Token",
        "DeviceRegistry",
        "RewardDistributor",
        "Credits",
        "Timelock",
    }
    token = d.token(chain)
    assert token.is_minter(d.addresses["RewardDistributor"])
    assert not token.is_minter(gov.address)  # the minter role moved with ownership
    assert d.distributor(chain).threshold() == Settings().chain.oracle_threshold
    assert len(d.distributor(chain).oracles()) == 3
    assert token.cap() == Settings().emission.supply_cap
    assert d.deployer == gov.address and d.first_block <= d.deploy_block == chain.block_number()


def test_deployment_json_round_trips(
    deployed: tuple[EmbeddedChain, Deployment, Signer], tmp_path: Path
) -> None:
    d = deployed[1]
    d.save(tmp_path)
    assert Deployment.load(tmp_path) == d


def test_load_without_file_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="depin chain deploy"):
        Deployment.load(tmp_path)


def test_load_of_other_format_is_refused(tmp_path: Path) -> None:
    (tmp_path / "deployment.json").write_text('{"format": "deployment_v0"}')
    with pytest.raises(ConfigError, match="deployment_v1"):
        Deployment.load(tmp_path)


def test_verify_code_detects_other_chain_and_other_code(
    deployed: tuple[EmbeddedChain, Deployment, Signer],
) -> None:
    chain, d, _ = deployed
    d.verify_code(chain)
    with pytest.raises(ChainError, match="chain"):
        d.verify_code(EmbeddedChain(chain_id=1))
    swapped = Deployment(
        d.chain_id,
        d.network_id,
        {**d.addresses, "Token": d.addresses["Credits"]},
        d.deploy_block,
        d.first_block,
        d.code_hashes,
        d.deployer,
    )
    with pytest.raises(ChainError, match="Token"):
        swapped.verify_code(chain)


def test_deploy_with_too_few_oracles_is_a_config_error() -> None:
    chain = EmbeddedChain()
    with pytest.raises(ConfigError, match="threshold"):
        deploy_network(
            chain,
            Settings(),
            Signer.generate(),
            [Signer.generate().address],
            Signer.generate().address,
        )
