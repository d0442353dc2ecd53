"""The whole on-chain flow, on the embedded chain and on anvil over JSON-RPC.

deploy -> register a device (device-key signature) -> assert its location -> submit a
2-of-3 root signed by generated oracle keys over a RewardTree -> claim -> burn for
credits; then the registry snapshot and the deployment's code hashes.
"""

from __future__ import annotations

import pytest

from opendepin.chain import Signer, deploy_network
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
