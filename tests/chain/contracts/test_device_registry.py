"""DeviceRegistry.vy: device-key registration, location assertions, (de)activation, setters."""

from __future__ import annotations

from typing import Any

import boa
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from . import helpers

ZERO = "0x" + "00" * 20
LOCATION = 0x8A2A1072B59FFFF


@pytest.fixture
def paying_alice(token: Any, registry: Any, alice: Any) -> Any:
    """alice, with an unlimited allowance for the registry's fee burns."""
    token.approve(registry.address, 2**256 - 1, sender=alice)
    return alice


def _deadline() -> int:
    return int(boa.env.evm.patch.timestamp) + 600


def _register(registry: Any, device: LocalAccount, owner: Any, sender: Any) -> None:
    deadline = _deadline()
    nonce = registry.nonces(device.address)
    signature = helpers.sign_register(device, registry, str(owner), nonce, deadline)
    registry.register(device.address, owner, "heartbeat", deadline, signature, sender=sender)


@pytest.fixture
def device(registry: Any, paying_alice: Any) -> LocalAccount:
    """A device registered to alice."""
    key = Account.create()
    _register(registry, key, paying_alice, paying_alice)
    return key


def test_register_mints_nft_burns_fee_and_records_device(
    registry: Any, token: Any, paying_alice: Any, bob: Any
) -> None:
    key = Account.create()
    supply = token.totalSupply()
    _register(registry, key, bob, paying_alice)
    events = [e for e in registry.get_logs() if type(e).__name__ == "DeviceRegistered"]
    assert [(e.device, e.owner, e.kind) for e in events] == [(key.address, bob, "heartbeat")]
    assert registry.ownerOf(int(key.address, 16)) == bob
    assert token.totalSupply() == supply - helpers.ONBOARDING_FEE
    assert registry.nonces(key.address) == 1
    info = registry.device_info(key.address)
    assert (info.owner, info.kind, info.location, info.active) == (bob, "heartbeat", 0, True)


def test_register_without_device_key_reverts(registry: Any, paying_alice: Any) -> None:
    key, intruder = Account.create(), Account.create()
    deadline = _deadline()
    signature = helpers.sign_register(intruder, registry, str(paying_alice), 0, deadline)
    with boa.reverts("DeviceRegistry: invalid device signature"):
        registry.register(
            key.address, paying_alice, "heartbeat", deadline, signature, sender=paying_alice
        )


def test_register_with_signature_for_other_owner_reverts(
    registry: Any, paying_alice: Any, bob: Any
) -> None:
    key = Account.create()
    deadline = _deadline()
    signature = helpers.sign_register(key, registry, str(bob), 0, deadline)
    with boa.reverts("DeviceRegistry: invalid device signature"):
        registry.register(
            key.address, paying_alice, "heartbeat", deadline, signature, sender=paying_alice
        )


def test_register_with_reused_nonce_reverts(
    registry: Any, paying_alice: Any, device: LocalAccount
) -> None:
    deadline = _deadline()
    stale = helpers.sign_register(device, registry, str(paying_alice), 0, deadline)
    with boa.reverts("DeviceRegistry: invalid device signature"):
        registry.register(
            device.address, paying_alice, "heartbeat", deadline, stale, sender=paying_alice
        )


def test_register_twice_with_fresh_nonce_reverts(
    registry: Any, paying_alice: Any, device: LocalAccount
) -> None:
    with boa.reverts("DeviceRegistry: device already registered"):
        _register(registry, device, paying_alice, paying_alice)


def test_register_past_deadline_reverts(registry: Any, paying_alice: Any) -> None:
    key = Account.create()
    deadline = int(boa.env.evm.patch.timestamp) - 1
    signature = helpers.sign_register(key, registry, str(paying_alice), 0, deadline)
    with boa.reverts("DeviceRegistry: expired deadline"):
        registry.register(
            key.address, paying_alice, "heartbeat", deadline, signature, sender=paying_alice
        )


def test_register_for_other_chain_reverts(registry: Any, paying_alice: Any) -> None:
    key = Account.create()
    deadline = _deadline()
    signature = helpers.sign_register(
        key, registry, str(paying_alice), 0, deadline, chain=helpers.chain_id() + 1
    )
    with boa.reverts("DeviceRegistry: invalid device signature"):
        registry.register(
            key.address, paying_alice, "heartbeat", deadline, signature, sender=paying_alice
        )


def test_register_to_zero_owner_reverts(registry: Any, paying_alice: Any) -> None:
    key = Account.create()
    deadline = _deadline()
    signature = helpers.sign_register(key, registry, ZERO, 0, deadline)
    with boa.reverts("DeviceRegistry: zero owner"):
        registry.register(key.address, ZERO, "heartbeat", deadline, signature, sender=paying_alice)


def test_register_without_fee_allowance_reverts(registry: Any, bob: Any) -> None:
    with boa.reverts("erc20: insufficient allowance"):
        _register(registry, Account.create(), bob, bob)


def test_register_with_zero_fee_needs_no_tokens(registry: Any, bob: Any) -> None:
    registry.set_onboarding_fee(0)
    key = Account.create()
    _register(registry, key, bob, bob)
    assert registry.device_info(key.address).owner == bob


def test_assert_location_records_cell_and_burns_fee(
    registry: Any, token: Any, paying_alice: Any, device: LocalAccount
) -> None:
    balance = token.balanceOf(paying_alice)
    registry.assert_location(device.address, LOCATION, sender=paying_alice)
    assert registry.device_info(device.address).location == LOCATION
    assert registry.location_asserted_at(device.address) == boa.env.evm.patch.timestamp
    assert token.balanceOf(paying_alice) == balance - helpers.LOCATION_FEE


def test_assert_location_by_non_owner_reverts(
    registry: Any, bob: Any, device: LocalAccount
) -> None:
    with boa.reverts("DeviceRegistry: caller is not the device owner"):
        registry.assert_location(device.address, LOCATION, sender=bob)


def test_assert_location_of_unknown_device_reverts(registry: Any, paying_alice: Any) -> None:
    with boa.reverts("DeviceRegistry: unknown device"):
        registry.assert_location(Account.create().address, LOCATION, sender=paying_alice)


def test_assert_location_zero_cell_reverts(
    registry: Any, paying_alice: Any, device: LocalAccount
) -> None:
    with boa.reverts("DeviceRegistry: zero location"):
        registry.assert_location(device.address, 0, sender=paying_alice)


def test_assert_location_within_cooldown_reverts_then_succeeds_after(
    registry: Any, paying_alice: Any, device: LocalAccount
) -> None:
    registry.assert_location(device.address, LOCATION, sender=paying_alice)
    boa.env.time_travel(seconds=helpers.LOCATION_COOLDOWN_S - 1)
    with boa.reverts("DeviceRegistry: location cooldown"):
        registry.assert_location(device.address, LOCATION + 1, sender=paying_alice)
    boa.env.time_travel(seconds=1)
    registry.assert_location(device.address, LOCATION + 1, sender=paying_alice)
    assert registry.device_info(device.address).location == LOCATION + 1


def test_assert_location_of_inactive_device_reverts(
    registry: Any, paying_alice: Any, device: LocalAccount
) -> None:
    registry.deactivate(device.address, sender=paying_alice)
    with boa.reverts("DeviceRegistry: device inactive"):
        registry.assert_location(device.address, LOCATION, sender=paying_alice)


def test_deactivate_and_reactivate_toggle_active(
    registry: Any, paying_alice: Any, device: LocalAccount
) -> None:
    registry.deactivate(device.address, sender=paying_alice)
    assert not registry.device_info(device.address).active
    registry.reactivate(device.address, sender=paying_alice)
    assert registry.device_info(device.address).active


def test_deactivate_by_non_owner_reverts(registry: Any, bob: Any, device: LocalAccount) -> None:
    with boa.reverts("DeviceRegistry: caller is not the device owner"):
        registry.deactivate(device.address, sender=bob)


def test_deactivate_inactive_device_reverts(
    registry: Any, paying_alice: Any, device: LocalAccount
) -> None:
    registry.deactivate(device.address, sender=paying_alice)
    with boa.reverts("DeviceRegistry: device inactive"):
        registry.deactivate(device.address, sender=paying_alice)


def test_reactivate_by_non_owner_reverts(
    registry: Any, paying_alice: Any, bob: Any, device: LocalAccount
) -> None:
    registry.deactivate(device.address, sender=paying_alice)
    with boa.reverts("DeviceRegistry: caller is not the device owner"):
        registry.reactivate(device.address, sender=bob)


def test_reactivate_active_device_reverts(
    registry: Any, paying_alice: Any, device: LocalAccount
) -> None:
    with boa.reverts("DeviceRegistry: device active"):
        registry.reactivate(device.address, sender=paying_alice)


def test_nft_transfer_moves_device_ownership(
    registry: Any, paying_alice: Any, bob: Any, device: LocalAccount
) -> None:
    registry.transferFrom(paying_alice, bob, int(device.address, 16), sender=paying_alice)
    assert registry.device_info(device.address).owner == bob
    registry.deactivate(device.address, sender=bob)
    with boa.reverts("DeviceRegistry: caller is not the device owner"):
        registry.reactivate(device.address, sender=paying_alice)


def test_device_info_of_unknown_device_is_empty(registry: Any) -> None:
    info = registry.device_info(Account.create().address)
    assert (info.owner, info.kind, info.location, info.active) == (ZERO, "", 0, False)


@pytest.mark.parametrize(
    ("setter", "getter", "value"),
    [
        ("set_onboarding_fee", "onboarding_fee", 7),
        ("set_location_fee", "location_fee", 3),
        ("set_location_cooldown", "location_cooldown", 60),
    ],
)
def test_setters_by_owner_update_value(registry: Any, setter: str, getter: str, value: int) -> None:
    getattr(registry, setter)(value)
    assert getattr(registry, getter)() == value


@pytest.mark.parametrize(
    "setter", ["set_onboarding_fee", "set_location_fee", "set_location_cooldown"]
)
def test_setters_by_non_owner_revert(registry: Any, alice: Any, setter: str) -> None:
    with boa.reverts("ownable: caller is not the owner"):
        getattr(registry, setter)(1, sender=alice)


def test_supports_erc721_interfaces_only(registry: Any) -> None:
    assert registry.supportsInterface(bytes.fromhex("80ac58cd"))
    assert registry.supportsInterface(bytes.fromhex("01ffc9a7"))
    assert not registry.supportsInterface(bytes.fromhex("589c5ce2"))


def test_eip712_domain_is_device_registry_v1(registry: Any) -> None:
    assert registry.eip712Domain()[1:5] == (
        "DeviceRegistry",
        "1",
        helpers.chain_id(),
        registry.address,
    )


def test_deploy_zero_token_reverts() -> None:
    with boa.reverts("DeviceRegistry: zero token"):
        helpers.load("DeviceRegistry", ZERO, 0, 0, 0)
