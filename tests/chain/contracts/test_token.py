"""Token.vy: capped ERC-20 with permit (snekmate erc20) — every external function."""

from __future__ import annotations

from typing import Any

import boa
from eth_account import Account

from . import helpers

ONE = helpers.ONE_TOKEN


def test_deploy_zero_cap_reverts() -> None:
    with boa.reverts("Token: zero cap"):
        helpers.load("Token", "Net", "NET", 0, "Net", "1")


def test_metadata_reports_cap_and_decimals(token: Any, deployer: Any) -> None:
    assert token.cap() == helpers.TOKEN_CAP
    assert token.decimals() == 18
    assert (token.name(), token.symbol()) == ("Net", "NET")
    assert token.owner() == deployer
    assert token.is_minter(deployer)


def test_mint_by_minter_increases_supply(token: Any, bob: Any) -> None:
    supply = token.totalSupply()
    token.mint(bob, 5 * ONE)
    assert token.balanceOf(bob) == 5 * ONE
    assert token.totalSupply() == supply + 5 * ONE


def test_mint_up_to_cap_succeeds_and_above_reverts(token: Any, bob: Any) -> None:
    room = token.cap() - token.totalSupply()
    token.mint(bob, room)
    assert token.totalSupply() == token.cap()
    with boa.reverts("Token: cap exceeded"):
        token.mint(bob, 1)


def test_mint_by_non_minter_reverts(token: Any, alice: Any, bob: Any) -> None:
    with boa.reverts("Token: caller is not a minter"):
        token.mint(bob, 1, sender=alice)


def test_mint_to_zero_address_reverts(token: Any) -> None:
    with boa.reverts("erc20: mint to the zero address"):
        token.mint("0x" + "00" * 20, 1)


def test_set_minter_grants_and_revokes(token: Any, bob: Any) -> None:
    token.set_minter(bob, True)
    token.mint(bob, ONE, sender=bob)
    token.set_minter(bob, False)
    with boa.reverts("Token: caller is not a minter"):
        token.mint(bob, ONE, sender=bob)


def test_set_minter_by_non_owner_reverts(token: Any, alice: Any, bob: Any) -> None:
    with boa.reverts("ownable: caller is not the owner"):
        token.set_minter(bob, True, sender=alice)


def test_set_minter_zero_address_reverts(token: Any) -> None:
    with boa.reverts("erc20: minter is the zero address"):
        token.set_minter("0x" + "00" * 20, True)


def test_transfer_moves_balance(token: Any, alice: Any, bob: Any) -> None:
    token.transfer(bob, ONE, sender=alice)
    assert token.balanceOf(bob) == ONE


def test_transfer_above_balance_reverts(token: Any, bob: Any, alice: Any) -> None:
    with boa.reverts("erc20: transfer amount exceeds balance"):
        token.transfer(alice, 1, sender=bob)


def test_transfer_from_with_allowance_succeeds(token: Any, alice: Any, bob: Any) -> None:
    token.approve(bob, 2 * ONE, sender=alice)
    token.transferFrom(alice, bob, ONE, sender=bob)
    assert token.allowance(alice, bob) == ONE
    assert token.balanceOf(bob) == ONE


def test_transfer_from_without_allowance_reverts(token: Any, alice: Any, bob: Any) -> None:
    with boa.reverts("erc20: insufficient allowance"):
        token.transferFrom(alice, bob, ONE, sender=bob)


def test_approve_zero_spender_reverts(token: Any, alice: Any) -> None:
    with boa.reverts("erc20: approve to the zero address"):
        token.approve("0x" + "00" * 20, 1, sender=alice)


def test_burn_reduces_supply(token: Any, alice: Any) -> None:
    supply = token.totalSupply()
    token.burn(ONE, sender=alice)
    assert token.totalSupply() == supply - ONE


def test_burn_above_balance_reverts(token: Any, bob: Any) -> None:
    with boa.reverts("erc20: burn amount exceeds balance"):
        token.burn(1, sender=bob)


def test_burn_from_with_allowance_succeeds(token: Any, alice: Any, bob: Any) -> None:
    token.approve(bob, ONE, sender=alice)
    token.burn_from(alice, ONE, sender=bob)
    assert token.balanceOf(alice) == 1_000 * ONE - ONE


def test_burn_from_without_allowance_reverts(token: Any, alice: Any, bob: Any) -> None:
    with boa.reverts("erc20: insufficient allowance"):
        token.burn_from(alice, ONE, sender=bob)


def _permit_signature(
    token: Any, owner: Any, spender: Any, amount: int, nonce: int, deadline: int
) -> tuple[int, bytes, bytes]:
    domain = {
        "name": "Net",
        "version": "1",
        "chainId": helpers.chain_id(),
        "verifyingContract": str(token.address),
    }
    types = {
        "Permit": [
            {"name": "owner", "type": "address"},
            {"name": "spender", "type": "address"},
            {"name": "value", "type": "uint256"},
            {"name": "nonce", "type": "uint256"},
            {"name": "deadline", "type": "uint256"},
        ]
    }
    message = {
        "owner": owner.address,
        "spender": str(spender),
        "value": amount,
        "nonce": nonce,
        "deadline": deadline,
    }
    signed = owner.sign_typed_data(domain, types, message)
    return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")


def test_permit_sets_allowance(token: Any, bob: Any) -> None:
    owner = Account.create()
    deadline = boa.env.evm.patch.timestamp + 60
    v, r, s = _permit_signature(token, owner, bob, ONE, 0, deadline)
    token.permit(owner.address, bob, ONE, deadline, v, r, s)
    assert token.allowance(owner.address, bob) == ONE
    assert token.nonces(owner.address) == 1


def test_permit_signed_by_other_key_reverts(token: Any, bob: Any) -> None:
    owner, intruder = Account.create(), Account.create()
    deadline = boa.env.evm.patch.timestamp + 60
    v, r, s = _permit_signature(token, intruder, bob, ONE, 0, deadline)
    with boa.reverts("erc20: invalid signature"):
        token.permit(owner.address, bob, ONE, deadline, v, r, s)


def test_permit_expired_reverts(token: Any, bob: Any) -> None:
    owner = Account.create()
    deadline = boa.env.evm.patch.timestamp - 1
    v, r, s = _permit_signature(token, owner, bob, ONE, 0, deadline)
    with boa.reverts("erc20: expired deadline"):
        token.permit(owner.address, bob, ONE, deadline, v, r, s)


def test_domain_separator_matches_eip712_domain(token: Any) -> None:
    fields = token.eip712Domain()
    assert fields[1:5] == ("Net", "1", helpers.chain_id(), token.address)
    assert len(token.DOMAIN_SEPARATOR()) == 32


def test_transfer_ownership_moves_minter_role(token: Any, deployer: Any, bob: Any) -> None:
    token.transfer_ownership(bob)
    assert token.owner() == bob
    assert token.is_minter(bob)
    assert not token.is_minter(deployer)


def test_transfer_ownership_by_non_owner_reverts(token: Any, alice: Any, bob: Any) -> None:
    with boa.reverts("ownable: caller is not the owner"):
        token.transfer_ownership(bob, sender=alice)


def test_transfer_ownership_to_zero_reverts(token: Any) -> None:
    with boa.reverts("erc20: new owner is the zero address"):
        token.transfer_ownership("0x" + "00" * 20)


def test_renounce_ownership_clears_owner(token: Any, deployer: Any) -> None:
    token.renounce_ownership()
    assert token.owner() == "0x" + "00" * 20
    assert not token.is_minter(deployer)


def test_renounce_ownership_by_non_owner_reverts(token: Any, alice: Any) -> None:
    with boa.reverts("ownable: caller is not the owner"):
        token.renounce_ownership(sender=alice)
