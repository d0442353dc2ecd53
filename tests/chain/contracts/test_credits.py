"""Credits.vy: burn tokens for non-transferable credits; authorised spending; price."""

from __future__ import annotations

from typing import Any

import boa
import pytest

from . import helpers

ZERO = "0x" + "00" * 20
ONE = helpers.ONE_TOKEN
USAGE_REF = b"\x11" * 32


@pytest.fixture
def paying_alice(token: Any, credits: Any, alice: Any) -> Any:
    """alice, with an unlimited allowance for the credits contract."""
    token.approve(credits.address, 2**256 - 1, sender=alice)
    return alice


def test_burn_for_credits_burns_tokens_and_credits_recipient(
    credits: Any, token: Any, paying_alice: Any, bob: Any
) -> None:
    supply = token.totalSupply()
    credits.burn_for_credits(3 * ONE, bob, sender=paying_alice)
    events = [e for e in credits.get_logs() if type(e).__name__ == "CreditsPurchased"]
    assert [(e.payer, e.recipient, e.tokens, e.credits) for e in events] == [
        (paying_alice, bob, 3 * ONE, 300)
    ]
    assert credits.credits(bob) == 3 * helpers.CREDITS_PER_TOKEN
    assert token.totalSupply() == supply - 3 * ONE


def test_burn_for_credits_rounds_down(credits: Any, paying_alice: Any, bob: Any) -> None:
    credits.burn_for_credits(ONE + ONE // 100 - 1, bob, sender=paying_alice)
    assert credits.credits(bob) == helpers.CREDITS_PER_TOKEN


def test_burn_for_credits_too_small_reverts(credits: Any, paying_alice: Any, bob: Any) -> None:
    with boa.reverts("Credits: amount too small"):
        credits.burn_for_credits(ONE // helpers.CREDITS_PER_TOKEN - 1, bob, sender=paying_alice)


def test_burn_for_credits_zero_recipient_reverts(credits: Any, paying_alice: Any) -> None:
    with boa.reverts("Credits: zero recipient"):
        credits.burn_for_credits(ONE, ZERO, sender=paying_alice)


def test_burn_for_credits_without_allowance_reverts(credits: Any, alice: Any, bob: Any) -> None:
    with boa.reverts("erc20: insufficient allowance"):
        credits.burn_for_credits(ONE, bob, sender=alice)


def test_credits_have_no_transfer_function(credits: Any) -> None:
    names = {item.get("name") for item in credits.abi}
    assert not names & {"transfer", "transferFrom", "approve"}


def test_spend_by_spender_debits_credits(
    credits: Any, paying_alice: Any, bob: Any, deployer: Any
) -> None:
    credits.burn_for_credits(ONE, bob, sender=paying_alice)
    credits.set_spender(deployer, True)
    credits.spend(bob, 40, USAGE_REF)
    events = [e for e in credits.get_logs() if type(e).__name__ == "CreditsSpent"]
    assert [(e.account, e.spender, e.amount, e.usage_ref) for e in events] == [
        (bob, deployer, 40, USAGE_REF)
    ]
    assert credits.credits(bob) == helpers.CREDITS_PER_TOKEN - 40


def test_spend_by_non_spender_reverts(credits: Any, paying_alice: Any, bob: Any) -> None:
    credits.burn_for_credits(ONE, bob, sender=paying_alice)
    with boa.reverts("Credits: caller is not a spender"):
        credits.spend(bob, 1, USAGE_REF, sender=bob)


def test_spend_more_than_balance_reverts(credits: Any, bob: Any, deployer: Any) -> None:
    credits.set_spender(deployer, True)
    with boa.reverts("Credits: insufficient credits"):
        credits.spend(bob, 1, USAGE_REF)


def test_spend_zero_reverts(credits: Any, bob: Any, deployer: Any) -> None:
    credits.set_spender(deployer, True)
    with boa.reverts("Credits: zero amount"):
        credits.spend(bob, 0, USAGE_REF)


def test_set_spender_revoke_stops_spending(credits: Any, deployer: Any, bob: Any) -> None:
    credits.set_spender(deployer, True)
    assert credits.is_spender(deployer)
    credits.set_spender(deployer, False)
    with boa.reverts("Credits: caller is not a spender"):
        credits.spend(bob, 1, USAGE_REF)


def test_set_spender_by_non_owner_reverts(credits: Any, alice: Any) -> None:
    with boa.reverts("ownable: caller is not the owner"):
        credits.set_spender(alice, True, sender=alice)


def test_set_spender_zero_reverts(credits: Any) -> None:
    with boa.reverts("Credits: zero spender"):
        credits.set_spender(ZERO, True)


def test_set_price_changes_rate(credits: Any, paying_alice: Any, bob: Any) -> None:
    credits.set_price(7)
    assert credits.credits_per_token() == 7
    credits.burn_for_credits(2 * ONE, bob, sender=paying_alice)
    assert credits.credits(bob) == 14


def test_set_price_by_non_owner_reverts(credits: Any, alice: Any) -> None:
    with boa.reverts("ownable: caller is not the owner"):
        credits.set_price(7, sender=alice)


def test_set_price_zero_reverts(credits: Any) -> None:
    with boa.reverts("Credits: zero price"):
        credits.set_price(0)


def test_deploy_zero_price_reverts(token: Any) -> None:
    with boa.reverts("Credits: zero price"):
        helpers.load("Credits", token.address, 0)
