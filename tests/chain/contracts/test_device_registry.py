"""DeviceRegistry.vy: device-key registration, location assertions, (de)activation, setters."""

from __future__ import annotations

from typing import Any

import boa
import h3.api.basic_int as h3
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from . import helpers

ZERO = "0x" + "00" * 20
LOCATION = 0x8A2A1072B59FFFF
"""A resolution-10 cell in New York."""
OTHER_LOCATION = 0x8A2A1072B597FFF
"""A neighbour of LOCATION (in `h3.grid_disk(LOCATION, 1)`)."""
PENTAGON_BASE_CELLS = (4, 14, 24, 38, 49, 58, 63, 72, 83, 97, 107, 117)
MAX_UINT64 = 2**64 - 1


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
    signature = helpers.sign_register(device, registry, str(owner), "heartbeat", nonce, deadline)
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
    signature = helpers.sign_register(
        intruder, registry, str(paying_alice), "heartbeat", 0, deadline
    )
    with boa.reverts("DeviceRegistry: invalid device signature"):
        registry.register(
            key.address, paying_alice, "heartbeat", deadline, signature, sender=paying_alice
        )


def test_register_with_signature_for_other_owner_reverts(
    registry: Any, paying_alice: Any, bob: Any
) -> None:
    key = Account.create()
    deadline = _deadline()
    signature = helpers.sign_register(key, registry, str(bob), "heartbeat", 0, deadline)
    with boa.reverts("DeviceRegistry: invalid device signature"):
        registry.register(
            key.address, paying_alice, "heartbeat", deadline, signature, sender=paying_alice
        )


def test_register_with_reused_nonce_reverts(
    registry: Any, paying_alice: Any, device: LocalAccount
) -> None:
    deadline = _deadline()
    stale = helpers.sign_register(device, registry, str(paying_alice), "heartbeat", 0, deadline)
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
    signature = helpers.sign_register(key, registry, str(paying_alice), "heartbeat", 0, deadline)
    with boa.reverts("DeviceRegistry: expired deadline"):
        registry.register(
            key.address, paying_alice, "heartbeat", deadline, signature, sender=paying_alice
        )


def test_register_for_other_chain_reverts(registry: Any, paying_alice: Any) -> None:
    key = Account.create()
    deadline = _deadline()
    signature = helpers.sign_register(
        key, registry, str(paying_alice), "heartbeat", 0, deadline, chain=helpers.chain_id() + 1
    )
    with boa.reverts("DeviceRegistry: invalid device signature"):
        registry.register(
            key.address, paying_alice, "heartbeat", deadline, signature, sender=paying_alice
        )


def test_register_to_zero_owner_reverts(registry: Any, paying_alice: Any) -> None:
    key = Account.create()
    deadline = _deadline()
    signature = helpers.sign_register(key, registry, ZERO, "heartbeat", 0, deadline)
    with boa.reverts("DeviceRegistry: zero owner"):
        registry.register(key.address, ZERO, "heartbeat", deadline, signature, sender=paying_alice)


def test_register_with_kind_other_than_signed_reverts_then_honest_succeeds(
    registry: Any, paying_alice: Any, bob: Any
) -> None:
    key = Account.create()
    deadline = _deadline()
    signature = helpers.sign_register(key, registry, str(bob), "heartbeat", 0, deadline)
    # A front-runner replays the pending transaction with another kind: refused.
    with boa.reverts("DeviceRegistry: invalid device signature"):
        registry.register(key.address, bob, "coverage", deadline, signature, sender=paying_alice)
    assert registry.nonces(key.address) == 0
    registry.register(key.address, bob, "heartbeat", deadline, signature, sender=paying_alice)
    info = registry.device_info(key.address)
    assert (info.owner, info.kind) == (bob, "heartbeat")


def test_register_signed_for_empty_kind_binds_empty_kind(registry: Any, paying_alice: Any) -> None:
    key = Account.create()
    deadline = _deadline()
    signature = helpers.sign_register(key, registry, str(paying_alice), "", 0, deadline)
    with boa.reverts("DeviceRegistry: invalid device signature"):
        registry.register(key.address, paying_alice, "x", deadline, signature, sender=paying_alice)
    registry.register(key.address, paying_alice, "", deadline, signature, sender=paying_alice)
    assert registry.device_info(key.address).kind == ""


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


def _cell(resolution: int, base_cell: int, digits: list[int], header: int = 0x08) -> int:
    """An H3 index from its fields: bits 56..63 header, resolution, base cell, 15 digits."""
    value = header << 56 | resolution << 52 | base_cell << 45
    for r, digit in enumerate(digits, start=1):
        value |= digit << (3 * (15 - r))
    return value


def _with_digit(cell: int, resolution: int, digit: int) -> int:
    """`cell` with its digit at `resolution` (1..15) replaced."""
    shift = 3 * (15 - resolution)
    return (cell & ~(7 << shift)) | (digit << shift)


def _edge(cell: int) -> int:
    """A directed edge (mode 2) out of `cell`, as h3 builds it."""
    return int(h3.origin_to_directed_edges(cell)[0])


def test_h3_fixtures_are_what_they_claim() -> None:
    assert h3.is_valid_cell(LOCATION) and h3.get_resolution(LOCATION) == 10
    assert OTHER_LOCATION in h3.grid_disk(LOCATION, 1) and OTHER_LOCATION != LOCATION
    pentagons = sorted(h3.get_base_cell_number(p) for p in h3.get_pentagons(0))
    assert tuple(pentagons) == PENTAGON_BASE_CELLS


@pytest.mark.parametrize(
    ("cell", "why"),
    [
        (0, "zero"),
        (0x1, "mode 0, resolution 0, digits not 7"),
        (MAX_UINT64, "high bit set"),
        (LOCATION | 1 << 63, "reserved high bit set"),
        (_with_digit(LOCATION, 4, 7), "digit 7 inside the resolution"),
        (_with_digit(LOCATION, 10, 7), "digit 7 at the cell's own resolution"),
        (_with_digit(LOCATION, 12, 0), "unused digit not 7"),
        (_with_digit(LOCATION, 15, 6), "last unused digit not 7"),
        (_edge(LOCATION), "mode 2 (a directed edge)"),
        (LOCATION & ~(0xF << 59) | 4 << 59, "mode 4 (a vertex)"),
        (LOCATION | 1 << 56, "mode-dependent reserved bits set"),
        (_cell(0, 122, [7] * 15), "base cell 122"),
        (_cell(0, 127, [7] * 15), "base cell 127"),
        (_cell(2, 4, [1, 0] + [7] * 13), "pentagon: first non-zero digit 1"),
        (_cell(3, 117, [0, 0, 1] + [7] * 12), "pentagon: deleted subsequence after zeros"),
    ],
)
def test_assert_location_of_invalid_cell_reverts(
    registry: Any, paying_alice: Any, device: LocalAccount, cell: int, why: str
) -> None:
    assert not h3.is_valid_cell(cell), why
    assert not registry.is_h3_cell(cell), why
    with boa.reverts("DeviceRegistry: invalid H3 cell"):
        registry.assert_location(device.address, cell, sender=paying_alice)


@pytest.mark.parametrize("resolution", [0, 1, 5, 9, 12, 15])
def test_assert_location_of_valid_cells_at_several_resolutions(
    registry: Any, paying_alice: Any, device: LocalAccount, resolution: int
) -> None:
    registry.set_location_cooldown(0)
    for cell in (
        int(h3.latlng_to_cell(47.3769, 8.5417, resolution)),
        int(h3.get_pentagons(resolution)[0]),
        _cell(resolution, 4, [0] * (resolution - 1) + [2] + [7] * (15 - resolution))
        if resolution
        else _cell(0, 4, [7] * 15),
    ):
        assert h3.is_valid_cell(cell) and registry.is_h3_cell(cell)
        registry.assert_location(device.address, cell, sender=paying_alice)
        assert registry.device_info(device.address).location == cell


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lat=st.floats(min_value=-90, max_value=90, allow_nan=False),
    lng=st.floats(min_value=-180, max_value=180, allow_nan=False),
    resolution=st.integers(min_value=0, max_value=15),
)
def test_every_cell_h3_computes_is_accepted(
    registry: Any, lat: float, lng: float, resolution: int
) -> None:
    cell = int(h3.latlng_to_cell(lat, lng, resolution))
    assert registry.is_h3_cell(cell)
    parent = int(h3.cell_to_parent(cell, max(0, resolution - 1)))
    assert registry.is_h3_cell(parent)


def _near_cells() -> st.SearchStrategy[int]:
    """64-bit values close to cells: right header mostly, digits mostly 0..6 then 7."""
    return st.builds(
        lambda header, resolution, base, used, unused: _cell(
            resolution, base, used[:resolution] + unused[: 15 - resolution], header
        ),
        st.sampled_from([0x08, 0x08, 0x08, 0x00, 0x09, 0x10, 0x88]),
        st.integers(min_value=0, max_value=15),
        st.one_of(st.integers(0, 127), st.sampled_from(PENTAGON_BASE_CELLS)),
        st.lists(st.sampled_from([0, 0, 1, 2, 3, 4, 5, 6, 7]), min_size=15, max_size=15),
        st.lists(st.sampled_from([7, 7, 7, 7, 0, 3]), min_size=15, max_size=15),
    )


@settings(
    max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cell=st.one_of(_near_cells(), st.integers(min_value=0, max_value=MAX_UINT64)))
def test_is_h3_cell_agrees_with_h3_is_valid_cell(registry: Any, cell: int) -> None:
    assert registry.is_h3_cell(cell) == h3.is_valid_cell(cell)


def test_assert_location_within_cooldown_reverts_then_succeeds_after(
    registry: Any, paying_alice: Any, device: LocalAccount
) -> None:
    registry.assert_location(device.address, LOCATION, sender=paying_alice)
    boa.env.time_travel(seconds=helpers.LOCATION_COOLDOWN_S - 1)
    with boa.reverts("DeviceRegistry: location cooldown"):
        registry.assert_location(device.address, OTHER_LOCATION, sender=paying_alice)
    boa.env.time_travel(seconds=1)
    registry.assert_location(device.address, OTHER_LOCATION, sender=paying_alice)
    assert registry.device_info(device.address).location == OTHER_LOCATION


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
