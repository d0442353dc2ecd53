"""Typed clients: registry snapshots from events, credits usage, permit, signature order."""

from __future__ import annotations

from opendepin.chain import CreditsClient, EmbeddedChain, RegistryClient, Signer, TokenClient
from opendepin.identity import DeviceKey

ONE = 10**18


def _token(chain: EmbeddedChain, gov: Signer) -> TokenClient:
    return TokenClient(chain, chain.deploy("Token", "T", "T", 10**30, "T", "1", sender=gov))


def test_registry_snapshot_follows_transfers_deactivation_and_blocks() -> None:
    chain, gov, alice, bob = (
        EmbeddedChain(),
        Signer.generate(),
        Signer.generate(),
        Signer.generate(),
    )
    token = _token(chain, gov)
    registry = RegistryClient(
        chain, chain.deploy("DeviceRegistry", token.address, ONE, 0, 0, sender=gov)
    )
    token.mint(alice.address, 10 * ONE, sender=gov)
    device = DeviceKey.generate()
    registered = registry.register(device, alice, "coverage", chain.timestamp() + 60).block_number
    chain.transact(
        registry.address,
        "transferFrom",
        alice.address,
        bob.address,
        int(device.device_id, 16),
        sender=alice,
    )
    registry.deactivate(device.device_id, sender=bob)

    at_registration = registry.snapshot(registered)[device.device_id]
    now = registry.snapshot(chain.block_number())[device.device_id]
    assert (at_registration.owner, at_registration.active) == (alice.address, True)
    assert (now.owner, now.active) == (bob.address, False)
    assert now == registry.device_info(device.device_id)
    assert registry.snapshot(registered - 1) == {}
    assert token.balance_of(alice.address) == 9 * ONE  # the onboarding fee was burned


def test_credits_burn_and_spend_produce_usage_records() -> None:
    chain, gov, consumer, service = (
        EmbeddedChain(),
        Signer.generate(),
        Signer.generate(),
        Signer.generate(),
    )
    token = _token(chain, gov)
    credits = CreditsClient(chain, chain.deploy("Credits", token.address, 1_000, sender=gov))
    token.mint(consumer.address, 5 * ONE, sender=gov)
    credits.burn_for_credits(3 * ONE, sender=consumer)
    credits.set_spender(service.address, True, sender=gov)
    ref = b"\x07" * 32
    credits.spend(consumer.address, 1_200, ref, sender=service)
    assert credits.credits(consumer.address) == 1_800
    (record,) = credits.usage()
    assert (record.account, record.spender, record.amount, record.usage_ref) == (
        consumer.address,
        service.address,
        1_200,
        ref,
    )
    assert token.total_supply() == 2 * ONE


def test_permit_sets_allowance_without_owner_transaction() -> None:
    chain, gov, owner, relayer = (
        EmbeddedChain(),
        Signer.generate(),
        Signer.generate(),
        Signer.generate(),
    )
    token = _token(chain, gov)
    token.permit(owner, relayer.address, 123, chain.timestamp() + 60, sender=relayer)
    assert token.allowance(owner.address, relayer.address) == 123
    assert token.nonces(owner.address) == 1
