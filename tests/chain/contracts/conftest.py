"""Fixtures for the contract tests: contracts deployed once per module, state anchored per test.

Every test runs inside `boa.env.anchor()`, so whatever it changes is rolled back afterwards;
deployments are module-scoped and shared. Keys are generated per run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boa
import pytest
from eth_account.signers.local import LocalAccount

from . import helpers

helpers.use_project_cache()


@pytest.fixture(autouse=True)
def _anchor() -> Iterator[None]:
    """Roll back every state change a test makes."""
    with boa.env.anchor():
        yield


@pytest.fixture(scope="module")
def deployer() -> Any:
    """The account that deploys everything (owner of all contracts)."""
    return boa.env.eoa


@pytest.fixture(scope="module")
def alice() -> Any:
    """A user holding 1,000 tokens."""
    return boa.env.generate_address("alice")


@pytest.fixture(scope="module")
def bob() -> Any:
    """A user holding no tokens."""
    return boa.env.generate_address("bob")


@pytest.fixture(scope="module")
def token(alice: Any) -> Any:
    """The network token, with 1,000 tokens minted to alice."""
    contract = helpers.load("Token", "Net", "NET", helpers.TOKEN_CAP, "Net", "1")
    contract.mint(alice, 1_000 * helpers.ONE_TOKEN)
    return contract


@pytest.fixture(scope="module")
def registry(token: Any) -> Any:
    """The device registry with the test fees and cooldown."""
    return helpers.load(
        "DeviceRegistry",
        token.address,
        helpers.ONBOARDING_FEE,
        helpers.LOCATION_FEE,
        helpers.LOCATION_COOLDOWN_S,
    )


@pytest.fixture(scope="module")
def oracles() -> list[LocalAccount]:
    """Three oracle keys, sorted by address."""
    return helpers.new_keys(3)


@pytest.fixture(scope="module")
def guardian() -> Any:
    """The distributor's guardian."""
    return boa.env.generate_address("guardian")


@pytest.fixture(scope="module")
def distributor(token: Any, oracles: list[LocalAccount], guardian: Any) -> Any:
    """A 2-of-3 distributor that may mint the token."""
    contract = helpers.load(
        "RewardDistributor",
        token.address,
        [o.address for o in oracles],
        2,
        helpers.MAX_EMISSION_PER_EPOCH,
        helpers.HALVING_EPOCHS,
        guardian,
        *helpers.EPOCH_CLOCK,
    )
    token.set_minter(contract.address, True)
    return contract


@pytest.fixture(scope="module")
def credits(token: Any) -> Any:
    """The credits contract at 100 credits per token."""
    return helpers.load("Credits", token.address, helpers.CREDITS_PER_TOKEN)
