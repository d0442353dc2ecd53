"""Governance through the Timelock: schedule -> wait the delay -> execute, on a deployed network.

Most tests run on the embedded chain (time travel makes the delay free); one runs the same
propose/execute against a real anvil node over JSON-RPC (it fails, never skips, without
anvil).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from opendepin.chain import (
    AnvilProcess,
    Call,
    Deployment,
    EmbeddedChain,
    GovernanceClient,
    Operation,
    OperationState,
    Proposal,
    RpcChain,
    Signer,
    deploy_network,
)
from opendepin.errors import InputError, TransactionReverted
from opendepin.network.settings import Settings
from opendepin.rewards.merkle import RewardTree
from opendepin.types import Address

DELAY_S = 3_600
FUNDING_WEI = 10**21
ONE = 10**18
MANIFEST_HASH = bytes(range(32))
NOT_READY = "timelock_controller: operation is not ready"
MISSING_ROLE = "access_control: account is missing role"


@dataclass(frozen=True)
class Net:
    chain: EmbeddedChain
    deployment: Deployment
    gov: Signer
    oracles: list[Signer]
    gov_client: GovernanceClient


@pytest.fixture
def net() -> Net:
    chain = EmbeddedChain()
    gov = Signer.generate()
    chain.fund(gov.address, FUNDING_WEI)
    oracles = [Signer.generate() for _ in range(3)]
    settings = Settings(chain={"timelock_delay_seconds": DELAY_S, "oracle_threshold": 2})
    deployment = deploy_network(chain, settings, gov, [o.address for o in oracles], gov.address)
    return Net(
        chain,
        deployment,
        gov,
        oracles,
        GovernanceClient(chain, deployment.address("Timelock")),
    )


def _pass(net: Net, op: Operation) -> None:
    """Schedule `op`, wait the delay on the chain's clock, execute it."""
    net.gov_client.propose(op, sender=net.gov)
    net.chain.time_travel(DELAY_S)
    net.gov_client.execute_operation(op, sender=net.gov)


def test_rotate_oracles_through_timelock_accepts_new_and_rejects_removed(net: Net) -> None:
    distributor = net.deployment.distributor(net.chain)
    kept = net.oracles[0]
    removed = net.oracles[1]
    new = [Signer.generate() for _ in range(2)]
    members = [kept.address, *(n.address for n in new)]
    op = Operation.of(Proposal.set_oracles(distributor.address, members, 3))
    assert net.gov_client.min_delay() == DELAY_S

    net.gov_client.propose(op, sender=net.gov)
    assert net.gov_client.state(op.id) is OperationState.WAITING
    assert net.gov_client.ready_at(op.id) == net.chain.timestamp() + DELAY_S
    net.chain.time_travel(DELAY_S - 1)
    assert not net.gov_client.is_ready(op.id)
    net.chain.time_travel(1)
    assert net.gov_client.is_ready(op.id)
    receipt = net.gov_client.execute_operation(op, sender=net.gov)
    assert receipt.events_named("CallExecuted")[0].args["id"] == op.id
    assert net.gov_client.is_done(op.id) and not net.gov_client.is_pending(op.id)
    assert sorted(distributor.oracles()) == sorted(members)
    assert distributor.threshold() == 3

    tree = RewardTree.build([(net.gov.address, ONE)])
    digest = distributor.epoch_root_digest(0, tree.root, ONE, MANIFEST_HASH)
    with pytest.raises(TransactionReverted, match="RewardDistributor: signer is not an oracle"):
        distributor.submit_root(
            0,
            tree.root,
            ONE,
            MANIFEST_HASH,
            [s.sign_digest(digest) for s in (kept, removed, new[0])],
            sender=net.gov,
        )
    with pytest.raises(TransactionReverted, match="RewardDistributor: too few signatures"):
        distributor.submit_root(
            0,
            tree.root,
            ONE,
            MANIFEST_HASH,
            [s.sign_digest(digest) for s in new],  # two were enough before the change
            sender=net.gov,
        )
    distributor.submit_root(
        0,
        tree.root,
        ONE,
        MANIFEST_HASH,
        [s.sign_digest(digest) for s in (kept, *new)],
        sender=net.gov,
    )
    assert distributor.roots(0) == tree.root


def test_spender_authorised_through_governance_can_spend(net: Net) -> None:
    credits = net.deployment.credits(net.chain)
    service, consumer = Signer.generate(), Signer.generate()
    net.chain.fund(service.address, FUNDING_WEI)
    net.chain.fund(consumer.address, FUNDING_WEI)
    price = credits.credits_per_token()
    with pytest.raises(TransactionReverted, match="ownable: caller is not the owner"):
        credits.set_spender(service.address, True, sender=net.gov)  # only the timelock may

    _pass(net, Operation.of(Proposal.set_spender(credits.address, service.address, True)))

    # the consumer gets tokens the only way there is: an epoch root and a claim
    distributor = net.deployment.distributor(net.chain)
    tree = RewardTree.build([(consumer.address, 2 * ONE)])
    digest = distributor.epoch_root_digest(0, tree.root, 2 * ONE, MANIFEST_HASH)
    sigs = [o.sign_digest(digest) for o in net.oracles[:2]]
    distributor.submit_root(0, tree.root, 2 * ONE, MANIFEST_HASH, sigs, sender=consumer)
    distributor.claim(consumer.address, 2 * ONE, tree.proof(consumer.address), sender=consumer)
    credits.burn_for_credits(2 * ONE, sender=consumer)
    credits.spend(consumer.address, price, b"\x01" * 32, sender=service)
    assert credits.credits(consumer.address) == price
    (record,) = credits.usage()
    assert (record.spender, record.amount) == (service.address, price)


def test_batch_changes_price_and_registry_fees_together(net: Net) -> None:
    credits = net.deployment.credits(net.chain)
    registry = net.deployment.registry(net.chain)
    op = Operation.of(
        Proposal.set_price(credits.address, 7),
        Proposal.set_onboarding_fee(registry.address, 3 * ONE),
        Proposal.set_location_fee(registry.address, 0),
        Proposal.set_location_cooldown(registry.address, 60),
    )
    assert op.is_batch
    _pass(net, op)
    assert credits.credits_per_token() == 7
    assert (registry.onboarding_fee(), registry.location_fee()) == (3 * ONE, 0)
    assert net.chain.call(registry.address, "location_cooldown") == 60


def test_execute_before_delay_fails_with_timelock_reason(net: Net) -> None:
    credits = net.deployment.credits(net.chain)
    call = Proposal.set_price(credits.address, 5)
    salt = b"\x01" * 32
    net.gov_client.schedule(call.target, call.calldata, salt=salt, delay=DELAY_S, sender=net.gov)
    net.chain.time_travel(DELAY_S - 1)
    with pytest.raises(TransactionReverted, match=NOT_READY):
        net.gov_client.execute(call.target, call.calldata, salt=salt, sender=net.gov)
    assert credits.credits_per_token() != 5


def test_schedule_by_non_proposer_reverts(net: Net) -> None:
    outsider = Signer.generate()
    net.chain.fund(outsider.address, FUNDING_WEI)
    op = Operation.of(Proposal.set_price(net.deployment.address("Credits"), 5))
    assert not net.gov_client.is_proposer(outsider.address)
    assert net.gov_client.is_proposer(net.gov.address)
    with pytest.raises(TransactionReverted, match=MISSING_ROLE):
        net.gov_client.propose(op, sender=outsider)
    assert net.gov_client.state(op.id) is OperationState.UNSET


def test_schedule_below_min_delay_reverts(net: Net) -> None:
    op = Operation.of(Proposal.set_price(net.deployment.address("Credits"), 5))
    with pytest.raises(TransactionReverted, match="timelock_controller: insufficient delay"):
        net.gov_client.propose(op, delay=DELAY_S - 1, sender=net.gov)


def test_operation_id_matches_contract_hash(net: Net) -> None:
    credits = net.deployment.address("Credits")
    single = Operation.of(Proposal.set_price(credits, 9), predecessor=b"\x02" * 32)
    batch = Operation.of(
        Proposal.set_price(credits, 9), Proposal.set_spender(credits, net.gov.address, False)
    )
    timelock = net.gov_client.address
    only = single.calls[0]
    assert single.id == net.chain.call(
        timelock, "hash_operation", only.target, 0, only.calldata, single.predecessor, single.salt
    )
    assert batch.id == net.chain.call(
        timelock,
        "hash_operation_batch",
        [c.target for c in batch.calls],
        [0, 0],
        [c.calldata for c in batch.calls],
        batch.predecessor,
        batch.salt,
    )
    receipt = net.gov_client.propose(single, sender=net.gov)
    assert receipt.events_named("CallScheduled")[0].args["id"] == single.id


def test_cancel_makes_operation_unexecutable(net: Net) -> None:
    op = Operation.of(Proposal.set_price(net.deployment.address("Credits"), 5))
    net.gov_client.propose(op, sender=net.gov)
    net.gov_client.cancel(op.id, sender=net.gov)
    net.chain.time_travel(DELAY_S)
    assert net.gov_client.state(op.id) is OperationState.UNSET
    with pytest.raises(TransactionReverted, match=NOT_READY):
        net.gov_client.execute_operation(op, sender=net.gov)


def test_predecessor_must_be_done_first(net: Net) -> None:
    credits = net.deployment.address("Credits")
    first = Operation.of(Proposal.set_price(credits, 5))
    second = Operation.of(Proposal.set_price(credits, 6), predecessor=first.id)
    net.gov_client.propose(first, sender=net.gov)
    net.gov_client.propose(second, sender=net.gov)
    net.chain.time_travel(DELAY_S)
    with pytest.raises(TransactionReverted, match="timelock_controller: missing dependency"):
        net.gov_client.execute_operation(second, sender=net.gov)
    net.gov_client.execute_operation(first, sender=net.gov)
    net.gov_client.execute_operation(second, sender=net.gov)
    assert net.deployment.credits(net.chain).credits_per_token() == 6


def test_update_delay_and_minter_go_through_timelock(net: Net) -> None:
    token = net.deployment.token(net.chain)
    _pass(
        net,
        Operation.of(
            Proposal.update_delay(net.gov_client.address, 2 * DELAY_S),
            Proposal.set_minter(token.address, net.gov.address, True),
        ),
    )
    assert net.gov_client.min_delay() == 2 * DELAY_S
    assert token.is_minter(net.gov.address)


def test_reverting_target_bubbles_its_reason(net: Net) -> None:
    distributor = net.deployment.address("RewardDistributor")
    op = Operation.of(Proposal.set_guardian(distributor, net.gov.address))
    zero_guardian = Call(op.calls[0].target, op.calls[0].calldata[:4] + bytes(32))
    bad = Operation((zero_guardian,), op.salt)
    net.gov_client.propose(bad, sender=net.gov)
    net.chain.time_travel(DELAY_S)
    with pytest.raises(TransactionReverted, match="RewardDistributor: zero guardian"):
        net.gov_client.execute_operation(bad, sender=net.gov)


def test_proposal_arguments_checked_before_scheduling() -> None:
    distributor = Signer.generate().address
    oracle = Signer.generate().address
    with pytest.raises(InputError, match="threshold"):
        Proposal.set_oracles(distributor, [oracle], 2)
    with pytest.raises(InputError, match="distinct"):
        Proposal.set_oracles(distributor, [oracle, oracle], 1)
    with pytest.raises(InputError, match="at most 1024"):
        Proposal.set_oracles(distributor, [Signer.generate().address for _ in range(40)], 1)
    with pytest.raises(InputError, match="not a 20-byte"):
        Proposal.set_spender(distributor, Address("0x1234"), True)


def test_operation_round_trips_and_detects_tampering() -> None:
    credits = Signer.generate().address
    op = Operation.of(Proposal.set_price(credits, 5), Proposal.set_price(credits, 6))
    assert Operation.from_dict(op.to_dict()) == op
    doc = op.to_dict()
    doc["salt"] = "0x" + bytes(32).hex()
    with pytest.raises(InputError, match="does not hash"):
        Operation.from_dict(doc)


@pytest.fixture
def anvil_node() -> Iterator[AnvilProcess]:
    with AnvilProcess(chain_id=31337) as node:
        yield node


@pytest.mark.anvil
def test_propose_and_execute_over_rpc(anvil_node: AnvilProcess) -> None:
    chain = RpcChain(anvil_node.url)
    gov = Signer.generate()
    chain.fund(gov.address, FUNDING_WEI)
    settings = Settings(chain={"timelock_delay_seconds": DELAY_S})
    oracles = [Signer.generate().address for _ in range(2)]
    deployment = deploy_network(chain, settings, gov, oracles, gov.address)
    governance = GovernanceClient(chain, deployment.address("Timelock"))
    credits = deployment.credits(chain)
    op = Operation.of(Proposal.set_price(credits.address, 11))

    governance.propose(op, sender=gov)
    assert governance.state(op.id) is OperationState.WAITING
    with pytest.raises(TransactionReverted, match=NOT_READY):
        governance.execute_operation(op, sender=gov)
    chain.w3.provider.make_request("evm_increaseTime", [DELAY_S])  # type: ignore[arg-type]
    chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    assert governance.state(op.id) is OperationState.READY
    governance.execute_operation(op, sender=gov)
    assert governance.is_done(op.id)
    assert credits.credits_per_token() == 11


def test_transfer_ownership_hands_contract_back_through_timelock(net: Net) -> None:
    credits = net.deployment.credits(net.chain)
    _pass(
        net,
        Operation.of(Proposal.transfer_ownership("Credits", credits.address, net.gov.address)),
    )
    assert credits.owner() == net.gov.address
    net.chain.transact(credits.address, "set_price", 3, sender=net.gov)  # no timelock needed now
    assert credits.credits_per_token() == 3
