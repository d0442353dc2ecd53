"""deploy_network wiring and the deployment.json record."""

from __future__ import annotations

from pathlib import Path

import pytest

from opendepin.chain import (
    AnvilProcess,
    Deployment,
    EmbeddedChain,
    GovernanceClient,
    RpcChain,
    Signer,
    deploy_network,
)
from opendepin.chain.deploy import DEFAULT_ADMIN_ROLE
from opendepin.chain.governance import CANCELLER_ROLE, PROPOSER_ROLE
from opendepin.errors import ChainError, ConfigError, TransactionReverted
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


def test_deploy_renounces_the_timelock_admin_role(
    deployed: tuple[EmbeddedChain, Deployment, Signer],
) -> None:
    chain, d, gov = deployed
    timelock = GovernanceClient(chain, d.address("Timelock"))
    assert not timelock.has_role(DEFAULT_ADMIN_ROLE, gov.address)
    assert timelock.has_role(DEFAULT_ADMIN_ROLE, timelock.address)  # self-administered
    assert timelock.is_proposer(gov.address) and timelock.is_executor(gov.address)
    assert timelock.has_role(CANCELLER_ROLE, gov.address)
    with pytest.raises(TransactionReverted, match="access_control: account is missing role"):
        chain.transact(
            timelock.address, "grantRole", PROPOSER_ROLE, Signer.generate().address, sender=gov
        )


def test_deploy_passes_the_epoch_clock_to_the_distributor(
    deployed: tuple[EmbeddedChain, Deployment, Signer],
) -> None:
    chain, d, _ = deployed
    assert d.distributor(chain).clock() == Settings().network.clock


@pytest.mark.parametrize(
    ("network", "match"),
    [({"genesis_unix": -1}, "genesis_unix"), ({"epoch_seconds": 2**64}, "epoch_seconds")],
)
def test_deploy_with_clock_the_distributor_cannot_hold_is_a_config_error(
    network: dict[str, int], match: str
) -> None:
    chain = EmbeddedChain()
    gov = Signer.generate()
    with pytest.raises(ConfigError, match=match):
        deploy_network(chain, Settings(network=network), gov, [gov.address] * 2, gov.address)
    assert chain.nonce(gov.address) == 0


def test_zero_timelock_delay_is_accepted_on_embedded_chains_of_any_id() -> None:
    chain = EmbeddedChain(chain_id=1)
    gov = Signer.generate()
    oracles = [Signer.generate().address for _ in range(2)]
    d = deploy_network(chain, Settings(), gov, oracles, gov.address)
    assert GovernanceClient(chain, d.address("Timelock")).min_delay() == 0


@pytest.mark.anvil
def test_zero_timelock_delay_is_refused_on_a_node_other_than_31337() -> None:
    with AnvilProcess(chain_id=4321) as node:
        chain = RpcChain(node.url)
        gov = Signer.generate()
        chain.fund(gov.address, 10**21)
        oracles = [Signer.generate().address for _ in range(2)]
        with pytest.raises(ConfigError, match="timelock_delay_seconds is 0"):
            deploy_network(chain, Settings(), gov, oracles, gov.address)
        assert chain.nonce(gov.address) == 0  # refused before anything was sent
        settings = Settings(chain={"timelock_delay_seconds": 86_400})
        d = deploy_network(chain, settings, gov, oracles, gov.address)
        timelock = GovernanceClient(chain, d.address("Timelock"))
        assert timelock.min_delay() == 86_400
        assert not timelock.has_role(DEFAULT_ADMIN_ROLE, gov.address)
