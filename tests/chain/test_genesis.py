"""The genesis allocation: minted exactly once at deployment, and counted in the supply."""

from __future__ import annotations

from pathlib import Path

import pytest

from opendepin.chain import Deployment, EmbeddedChain, Signer, deploy_network
from opendepin.chain.clients import ZERO_ADDRESS
from opendepin.errors import ConfigError, TransactionReverted
from opendepin.network.settings import MAX_GENESIS_ALLOCATIONS, Settings, load_settings
from opendepin.rewards.merkle import RewardTree

ONE = 10**18
MANIFEST_HASH = bytes(32)
FUNDING_WEI = 10**21


def _settings(allocations: dict[str, int | str], **emission: int) -> Settings:
    return Settings(
        network={"genesis_unix": 0, "epoch_seconds": 60},
        chain={"genesis_allocations": allocations, "onboarding_fee": 0, "location_fee": 0},
        emission=emission or {},
    )


def _deploy(settings: Settings) -> tuple[EmbeddedChain, Deployment, Signer, list[Signer]]:
    chain = EmbeddedChain()
    gov = Signer.generate()
    oracles = [Signer.generate() for _ in range(2)]
    chain.fund(gov.address, FUNDING_WEI)
    deployment = deploy_network(chain, settings, gov, [o.address for o in oracles], gov.address)
    return chain, deployment, gov, oracles


def test_deploy_mints_each_allocation_once_and_deployer_cannot_mint_again(tmp_path: Path) -> None:
    treasury, consumer = Signer.generate(), Signer.generate()
    settings = _settings({treasury.address: str(1_000 * ONE), consumer.address.lower(): 25 * ONE})
    chain, d, gov, _ = _deploy(settings)
    token = d.token(chain)
    assert token.balance_of(treasury.address) == 1_000 * ONE
    assert token.balance_of(consumer.address) == 25 * ONE
    assert token.total_supply() == d.genesis_total == 1_025 * ONE
    mints = [
        e
        for e in token.events("Transfer", d.first_block, d.deploy_block)
        if e.args["sender"] == ZERO_ADDRESS
    ]
    assert sorted((e.args["receiver"], e.args["value"]) for e in mints) == sorted(
        [(treasury.address, 1_000 * ONE), (consumer.address, 25 * ONE)]
    )
    assert not token.is_minter(gov.address)
    with pytest.raises(TransactionReverted, match="Token: caller is not a minter"):
        token.mint(gov.address, ONE, sender=gov)
    assert d.genesis_allocations == {treasury.address: 1_000 * ONE, consumer.address: 25 * ONE}
    d.save(tmp_path)
    assert '"1000000000000000000000"' in (tmp_path / "deployment.json").read_text()
    assert Deployment.load(tmp_path) == d


def test_supply_is_genesis_plus_rewards_minus_burned() -> None:
    consumer, operator = Signer.generate(), Signer.generate()
    chain, d, _, oracles = _deploy(_settings({consumer.address: 50 * ONE}))
    chain.fund(consumer.address, FUNDING_WEI)
    token, distributor, credits = d.token(chain), d.distributor(chain), d.credits(chain)
    tree = RewardTree.build([(operator.address, 70 * ONE), (consumer.address, 30 * ONE)])
    digest = distributor.epoch_root_digest(0, tree.root, 100 * ONE, MANIFEST_HASH)
    sigs = [o.sign_digest(digest) for o in oracles]
    distributor.submit_root(0, tree.root, 100 * ONE, MANIFEST_HASH, sigs, sender=consumer)
    distributor.claim(operator.address, 70 * ONE, tree.proof(operator.address), sender=consumer)
    credits.burn_for_credits(5 * ONE, sender=consumer)

    minted, burned = token.minted_and_burned(d.first_block)
    assert minted == d.genesis_total + distributor.cumulative_total() == 150 * ONE
    assert burned == 5 * ONE
    assert token.total_supply() == d.genesis_total + distributor.cumulative_total() - burned
    claimed = distributor.claimed(operator.address)
    unclaimed = token.balance_of(d.address("RewardDistributor"))
    assert claimed + unclaimed == distributor.cumulative_total()  # the distributor's own books


def test_allocation_above_the_cap_is_refused_before_anything_is_sent() -> None:
    chain = EmbeddedChain()
    gov = Signer.generate()
    chain.fund(gov.address, FUNDING_WEI)
    settings = _settings({Signer.generate().address: str(11 * ONE)}, supply_cap=10 * ONE)
    before = chain.block_number()
    with pytest.raises(ConfigError, match="more than the token cap"):
        deploy_network(chain, settings, gov, [gov.address, Signer.generate().address], gov.address)
    assert chain.block_number() == before


def test_no_allocation_keeps_supply_zero() -> None:
    chain, d, _, _ = _deploy(_settings({}))
    assert d.genesis_allocations == {} and d.deploy_block >= d.first_block
    assert d.token(chain).total_supply() == 0


@pytest.mark.parametrize(
    ("allocations", "message"),
    [
        ({"0x12": "1"}, "40 hex digits"),
        ({"0xAbCdEf0000000000000000000000000000000000": "1"}, "checksum"),
        ({"0x" + "11" * 20: "0"}, "must be positive"),
        ({"0x" + "11" * 20: "-5"}, "must be positive"),
        ({"0x" + "11" * 20: "1.5"}, "genesis_allocations"),
        ({"0x" + "ab" * 20: "1", "0x" + "AB" * 20: "2"}, "twice"),
    ],
)
def test_bad_allocations_are_config_errors(
    allocations: dict[str, str], message: str, tmp_path: Path
) -> None:
    cfg = tmp_path / "network.toml"
    body = ", ".join(f'"{a}" = "{v}"' for a, v in allocations.items())
    cfg.write_text(f"[chain]\ngenesis_allocations = {{ {body} }}\n")
    with pytest.raises(ConfigError, match=message):
        load_settings(cfg)


def test_toml_decimal_strings_beyond_64_bits_load(tmp_path: Path) -> None:
    account = Signer.generate().address
    cfg = tmp_path / "network.toml"
    cfg.write_text(f'[chain]\ngenesis_allocations = {{ "{account.lower()}" = "{10**30}" }}\n')
    settings = load_settings(cfg)
    assert settings.chain.genesis_allocations == {account: 10**30}
    assert settings.chain.genesis_total == 10**30


def test_too_many_allocations_are_refused() -> None:
    many = {"0x" + f"{i:040x}": 1 for i in range(1, MAX_GENESIS_ALLOCATIONS + 2)}
    with pytest.raises(ValueError, match=f"at most {MAX_GENESIS_ALLOCATIONS}"):
        Settings(chain={"genesis_allocations": many})
