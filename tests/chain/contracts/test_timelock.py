"""Timelock.vy and the governance hand-off: the agreed deploy order, then owner-only calls
go through the timelock (schedule -> wait min_delay -> execute)."""

from __future__ import annotations

from typing import Any

import boa
import pytest
from eth_abi import encode

from opendepin.crypto import keccak256

from . import helpers

ZERO_SALT = b"\x00" * 32
MIN_DELAY_S = 60


def _calldata(signature: str, types: list[str], args: list[Any]) -> bytes:
    return keccak256(signature.encode())[:4] + encode(types, args)


@pytest.fixture
def governed(token: Any, registry: Any, distributor: Any, credits: Any, deployer: Any) -> Any:
    """A timelock (delay 60 s, deployer proposes and executes) owning all four contracts."""
    timelock = helpers.load("Timelock", MIN_DELAY_S, [deployer], [deployer], deployer)
    for contract in (token, registry, distributor, credits):
        contract.transfer_ownership(timelock.address)
    return timelock


def test_handoff_makes_timelock_owner_of_all(
    governed: Any, token: Any, registry: Any, distributor: Any, credits: Any, deployer: Any
) -> None:
    for contract in (token, registry, distributor, credits):
        assert contract.owner() == governed.address
    assert token.is_minter(distributor.address)
    assert not token.is_minter(deployer)
    with boa.reverts("ownable: caller is not the owner"):
        credits.set_price(1)


def test_timelock_executes_scheduled_change_after_delay(governed: Any, credits: Any) -> None:
    payload = _calldata("set_price(uint256)", ["uint256"], [5])
    governed.schedule(credits.address, 0, payload, ZERO_SALT, ZERO_SALT, MIN_DELAY_S)
    with boa.reverts("timelock_controller: operation is not ready"):
        governed.execute(credits.address, 0, payload, ZERO_SALT, ZERO_SALT)
    boa.env.time_travel(seconds=MIN_DELAY_S)
    governed.execute(credits.address, 0, payload, ZERO_SALT, ZERO_SALT)
    assert credits.credits_per_token() == 5


def test_timelock_schedule_by_non_proposer_reverts(governed: Any, credits: Any, alice: Any) -> None:
    payload = _calldata("set_price(uint256)", ["uint256"], [5])
    with boa.reverts("access_control: account is missing role"):
        governed.schedule(
            credits.address, 0, payload, ZERO_SALT, ZERO_SALT, MIN_DELAY_S, sender=alice
        )


def test_timelock_schedule_below_min_delay_reverts(governed: Any, credits: Any) -> None:
    payload = _calldata("set_price(uint256)", ["uint256"], [5])
    with boa.reverts("timelock_controller: insufficient delay"):
        governed.schedule(credits.address, 0, payload, ZERO_SALT, ZERO_SALT, MIN_DELAY_S - 1)
