"""The whole on-chain flow, on the embedded chain and on anvil over JSON-RPC.

deploy -> register a device (device-key signature) -> assert its location -> submit a
2-of-3 root signed by generated oracle keys over a RewardTree -> claim -> burn for
credits; then the registry snapshot and the deployment's code hashes.
"""

from __future__ import annotations

import pytest

from opendepin.chain import EmbeddedChain, RpcChain, Signer, deploy_network
from opendepin.chain.backend import Chain
from opendepin.errors import TransactionReverted
from opendepin.identity import DeviceKey
from opendepin.network.settings import Settings
from opendepin.rewards.merkle import RewardTree

ONE = 10**18
H3_CELL = 0x8A2A1072B59FFFF
MANIFEST_HASH = bytes(range(32))


def test_whole_flow_deploy_register_root_claim_credits(chain: Chain) -> None:
    settings = Settings()
    gov, guardian, operator, consumer = (Signer.generate() for _ in range(4))
    oracles = [Signer.generate() for _ in range(3)]
    for account in (gov, operator, consumer):
        chain.fund(account.address, 10**21)
    deployment = deploy_network(
        chain, settings, gov, [o.address for o in oracles], guardian.address
    )
    deployment.verify_code(chain)
    token = deployment.token(chain)
    registry = deployment.registry(chain)
    distributor = deployment.distributor(chain)
    credits = deployment.credits(chain)
    for client in (token, registry, distributor, credits):
        assert client.owner() == deployment.addresses["Timelock"]

    # epoch 0: the operator earns 100 tokens, the consumer 20
    tree = RewardTree.build([(operator.address, 100 * ONE), (consumer.address, 20 * ONE)])
    total = 120 * ONE
    digest = distributor.epoch_root_digest(0, tree.root, total, MANIFEST_HASH)
    one_signature = [oracles[0].sign_digest(digest)]
    with pytest.raises(TransactionReverted, match="RewardDistributor: too few signatures"):
        distributor.submit_root(0, tree.root, total, MANIFEST_HASH, one_signature, sender=consumer)
    signatures = [oracles[2].sign_digest(digest), oracles[1].sign_digest(digest)]
    receipt = distributor.submit_root(
        0, tree.root, total, MANIFEST_HASH, signatures, sender=consumer
    )
    assert receipt.events_named("RootSubmitted")[0].args["root"] == tree.root
    assert distributor.next_epoch() == 1 and distributor.roots(0) == tree.root

    distributor.claim(operator.address, 100 * ONE, tree.proof(operator.address), sender=consumer)
    distributor.claim(consumer.address, 20 * ONE, tree.proof(consumer.address), sender=consumer)
    assert token.balance_of(operator.address) == 100 * ONE
    assert distributor.claimed(operator.address) == 100 * ONE
    with pytest.raises(TransactionReverted, match="RewardDistributor: nothing to claim"):
        distributor.claim(
            operator.address, 100 * ONE, tree.proof(operator.address), sender=operator
        )

    # the operator registers a device it holds the key of, and places it
    device = DeviceKey.generate()
    deadline = chain.timestamp() + 3_600
    registry.register(device, operator, "heartbeat", deadline)
    registry.assert_location(device.device_id, H3_CELL, sender=operator)
    fees = settings.chain.onboarding_fee + settings.chain.location_fee
    assert token.balance_of(operator.address) == 100 * ONE - fees
    record = registry.device_info(device.device_id)
    assert (record.owner, record.kind, record.location, record.active) == (
        operator.address,
        "heartbeat",
        H3_CELL,
        True,
    )
    snapshot = registry.snapshot(chain.block_number(), deployment.first_block)
    assert snapshot == {device.device_id: record}

    # the consumer burns tokens for credits
    credits.burn_for_credits(2 * ONE, sender=consumer)
    assert credits.credits(consumer.address) == 2 * settings.chain.credit_price
    assert token.balance_of(consumer.address) == 18 * ONE
    assert token.total_supply() == 120 * ONE - fees - 2 * ONE


def test_register_with_wrong_device_signature_reverts(chain: Chain) -> None:
    gov, operator = Signer.generate(), Signer.generate()
    oracles = [Signer.generate().address for _ in range(2)]
    chain.fund(gov.address, 10**21)
    chain.fund(operator.address, 10**21)
    settings = Settings(chain={"onboarding_fee": 0})
    registry = deploy_network(chain, settings, gov, oracles, gov.address).registry(chain)

    class Impostor:
        """Claims a device id but signs with another key."""

        device_id = DeviceKey.generate().device_id
        _other = DeviceKey.generate()

        def sign_digest(self, digest32: bytes) -> bytes:
            return self._other.sign_digest(digest32)

    with pytest.raises(TransactionReverted, match="DeviceRegistry: invalid device signature"):
        registry.register(Impostor(), operator, "heartbeat", chain.timestamp() + 60)


def _advance(chain: Chain, seconds: int) -> None:
    """Move the chain's clock forward and mine a block (time travel or evm_increaseTime)."""
    if isinstance(chain, EmbeddedChain):
        chain.time_travel(seconds)
        chain.mine()
        return
    assert isinstance(chain, RpcChain)
    chain.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def test_root_of_running_epoch_is_refused_until_it_ends(chain: Chain) -> None:
    epoch_s = 3_600
    gov = Signer.generate()
    chain.fund(gov.address, 10**21)
    oracles = [Signer.generate() for _ in range(3)]
    genesis = chain.timestamp() - 3 * epoch_s - 60  # in epoch 3, ~59 minutes before its end
    settings = Settings(network={"genesis_unix": genesis, "epoch_seconds": epoch_s})
    deployment = deploy_network(chain, settings, gov, [o.address for o in oracles], gov.address)
    distributor = deployment.distributor(chain)
    assert distributor.clock() == settings.network.clock
    assert distributor.epoch_end(3) == settings.network.epoch_end_unix(3)
    tree = RewardTree.build([(gov.address, ONE)])

    def submit(epoch: int) -> None:
        digest = distributor.epoch_root_digest(epoch, tree.root, ONE, MANIFEST_HASH)
        signatures = [o.sign_digest(digest) for o in oracles[:2]]
        distributor.submit_root(epoch, tree.root, ONE, MANIFEST_HASH, signatures, sender=gov)

    for epoch in range(3):
        submit(epoch)
    with pytest.raises(TransactionReverted, match="RewardDistributor: epoch not ended"):
        submit(3)
    assert distributor.next_epoch() == 3
    _advance(chain, settings.network.epoch_end_unix(3) - chain.timestamp())
    assert chain.timestamp() >= distributor.epoch_end(3)
    submit(3)
    assert distributor.next_epoch() == 4 and distributor.roots(3) == tree.root


def test_registration_replayed_with_other_kind_is_refused(chain: Chain) -> None:
    gov, owner, relayer = Signer.generate(), Signer.generate(), Signer.generate()
    for account in (gov, owner, relayer):
        chain.fund(account.address, 10**21)
    settings = Settings(chain={"onboarding_fee": 0})
    oracles = [Signer.generate().address for _ in range(2)]
    deployment = deploy_network(chain, settings, gov, oracles, gov.address)
    registry = deployment.registry(chain)
    device = DeviceKey.generate()
    deadline = chain.timestamp() + 600
    signature = device.sign_digest(
        registry.register_digest(device.device_id, owner.address, "heartbeat", deadline)
    )
    with pytest.raises(TransactionReverted, match="DeviceRegistry: invalid device signature"):
        chain.transact(
            registry.address,
            "register",
            device.device_id,
            owner.address,
            "coverage",
            deadline,
            signature,
            sender=relayer,
        )
    chain.transact(
        registry.address,
        "register",
        device.device_id,
        owner.address,
        "heartbeat",
        deadline,
        signature,
        sender=relayer,
    )
    assert registry.device_info(device.device_id).kind == "heartbeat"
    with pytest.raises(TransactionReverted, match="DeviceRegistry: invalid H3 cell"):
        registry.assert_location(device.device_id, H3_CELL + 1, sender=owner)
