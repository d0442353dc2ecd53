"""RewardDistributor.vy: M-of-N roots, caps, cumulative claims, pause, oracle governance."""

from __future__ import annotations

import os
from typing import Any

import boa
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from opendepin.rewards.merkle import RewardTree

from . import helpers

ZERO = "0x" + "00" * 20
ONE = helpers.ONE_TOKEN
Oracles = list[LocalAccount]


def _accounts(count: int) -> list[str]:
    return [str(boa.env.generate_address()) for _ in range(count)]


def _submit(distributor: Any, signers: Oracles, epoch: int, tree: RewardTree, total: int) -> None:
    manifest = os.urandom(32)
    sigs = helpers.sign_all(signers, distributor, epoch, tree.root, total, manifest)
    distributor.submit_root(epoch, tree.root, total, manifest, sigs)


@pytest.fixture
def users() -> list[str]:
    """Three reward recipients."""
    return _accounts(3)


@pytest.fixture
def tree(users: list[str]) -> RewardTree:
    """Epoch-0 tree paying 1, 2 and 3 tokens."""
    return RewardTree.build([(u, (i + 1) * ONE) for i, u in enumerate(users)])


@pytest.fixture
def submitted(distributor: Any, oracles: Oracles, tree: RewardTree) -> RewardTree:
    """The epoch-0 tree, submitted with 2 of 3 signatures."""
    _submit(distributor, oracles[:2], 0, tree, 6 * ONE)
    return tree


# --- submit_root -------------------------------------------------------------------------


def test_submit_root_accepts_threshold_signatures_and_mints_increase(
    distributor: Any, token: Any, oracles: Oracles, tree: RewardTree
) -> None:
    manifest = os.urandom(32)
    sigs = helpers.sign_all(oracles[1:], distributor, 0, tree.root, 6 * ONE, manifest)
    distributor.submit_root(0, tree.root, 6 * ONE, manifest, sigs)
    events = [e for e in distributor.get_logs() if type(e).__name__ == "RootSubmitted"]
    assert [(e.epoch, e.root, e.cumulative_total, e.manifest_hash) for e in events] == [
        (0, tree.root, 6 * ONE, manifest)
    ]
    assert distributor.next_epoch() == 1
    assert distributor.latest_root() == tree.root == distributor.roots(0)
    assert distributor.cumulative_total() == 6 * ONE
    assert token.balanceOf(distributor.address) == 6 * ONE


def test_submit_root_with_all_oracles_succeeds(
    distributor: Any, oracles: Oracles, tree: RewardTree
) -> None:
    _submit(distributor, oracles, 0, tree, 6 * ONE)
    assert distributor.next_epoch() == 1


def test_submit_root_with_too_few_signatures_reverts(
    distributor: Any, oracles: Oracles, tree: RewardTree
) -> None:
    with boa.reverts("RewardDistributor: too few signatures"):
        _submit(distributor, oracles[:1], 0, tree, 6 * ONE)


def test_submit_root_with_non_oracle_signer_reverts(
    distributor: Any, oracles: Oracles, tree: RewardTree
) -> None:
    with boa.reverts("RewardDistributor: signer is not an oracle"):
        _submit(distributor, [oracles[0], Account.create()], 0, tree, 6 * ONE)


def test_submit_root_with_duplicated_signature_reverts(
    distributor: Any, oracles: Oracles, tree: RewardTree
) -> None:
    manifest = os.urandom(32)
    sig = helpers.sign_epoch_root(oracles[0], distributor, 0, tree.root, 6 * ONE, manifest)
    with boa.reverts("RewardDistributor: signers not strictly ascending"):
        distributor.submit_root(0, tree.root, 6 * ONE, manifest, [sig, sig])


def test_submit_root_with_unsorted_signatures_reverts(
    distributor: Any, oracles: Oracles, tree: RewardTree
) -> None:
    manifest = os.urandom(32)
    sigs = helpers.sign_all(oracles[:2], distributor, 0, tree.root, 6 * ONE, manifest)
    with boa.reverts("RewardDistributor: signers not strictly ascending"):
        distributor.submit_root(0, tree.root, 6 * ONE, manifest, sigs[::-1])


def test_submit_root_with_signature_for_other_epoch_reverts(
    distributor: Any, oracles: Oracles, tree: RewardTree
) -> None:
    manifest = os.urandom(32)
    sigs = helpers.sign_all(oracles[:2], distributor, 1, tree.root, 6 * ONE, manifest)
    with boa.reverts("RewardDistributor: signer is not an oracle"):
        distributor.submit_root(0, tree.root, 6 * ONE, manifest, sigs)


def test_submit_root_with_signature_for_other_chain_reverts(
    distributor: Any, oracles: Oracles, tree: RewardTree
) -> None:
    manifest = os.urandom(32)
    other = helpers.chain_id() + 1
    sigs = [
        helpers.sign_epoch_root(o, distributor, 0, tree.root, 6 * ONE, manifest, chain=other)
        for o in oracles[:2]
    ]
    with boa.reverts("RewardDistributor: signer is not an oracle"):
        distributor.submit_root(0, tree.root, 6 * ONE, manifest, sigs)


def test_submit_root_with_malformed_signature_reverts(
    distributor: Any, oracles: Oracles, tree: RewardTree
) -> None:
    with boa.reverts("RewardDistributor: signer is not an oracle"):
        distributor.submit_root(0, tree.root, 6 * ONE, bytes(32), [b"\x01" * 10, b"\x02" * 10])


def test_submit_root_for_stale_epoch_reverts(
    distributor: Any, oracles: Oracles, submitted: RewardTree
) -> None:
    with boa.reverts("RewardDistributor: stale epoch"):
        _submit(distributor, oracles[:2], 0, submitted, 7 * ONE)


def test_submit_root_for_future_epoch_reverts(
    distributor: Any, oracles: Oracles, tree: RewardTree
) -> None:
    with boa.reverts("RewardDistributor: future epoch"):
        _submit(distributor, oracles[:2], 1, tree, 6 * ONE)


def _clocked_distributor(token: Any, oracles: Oracles, guardian: Any, genesis: int) -> Any:
    """A 2-of-3 distributor (minter of `token`) whose epoch 0 starts at `genesis`."""
    dist = helpers.load(
        "RewardDistributor",
        token.address,
        [o.address for o in oracles],
        2,
        helpers.MAX_EMISSION_PER_EPOCH,
        helpers.HALVING_EPOCHS,
        guardian,
        genesis,
        helpers.EPOCH_SECONDS,
    )
    token.set_minter(dist.address, True)
    return dist


def test_submit_root_during_its_epoch_reverts_and_after_its_end_succeeds(
    token: Any, oracles: Oracles, guardian: Any, tree: RewardTree
) -> None:
    epoch_s = helpers.EPOCH_SECONDS
    now = int(boa.env.evm.patch.timestamp)
    genesis = now - 3 * epoch_s - 60  # epochs 0..2 ended; epoch 3 runs for another ~59 min
    dist = _clocked_distributor(token, oracles, guardian, genesis)
    end3 = genesis + 4 * epoch_s
    assert dist.epoch_end(3) == end3
    assert (dist.genesis_unix(), dist.epoch_seconds()) == (genesis, epoch_s)
    for epoch in range(3):
        _submit(dist, oracles[:2], epoch, tree, 6 * ONE)
    manifest = os.urandom(32)
    sigs = helpers.sign_all(oracles, dist, 3, tree.root, 6 * ONE, manifest)  # 3 valid of 3
    with boa.reverts("RewardDistributor: epoch not ended"):
        dist.submit_root(3, tree.root, 6 * ONE, manifest, sigs)
    boa.env.time_travel(seconds=end3 - 1 - int(boa.env.evm.patch.timestamp))
    assert int(boa.env.evm.patch.timestamp) == end3 - 1
    with boa.reverts("RewardDistributor: epoch not ended"):
        dist.submit_root(3, tree.root, 6 * ONE, manifest, sigs)
    boa.env.time_travel(seconds=1)  # block.timestamp == genesis + 4 * epoch_seconds
    dist.submit_root(3, tree.root, 6 * ONE, manifest, sigs)
    assert dist.next_epoch() == 4 and dist.roots(3) == tree.root


def test_submit_root_before_genesis_reverts(
    token: Any, oracles: Oracles, guardian: Any, tree: RewardTree
) -> None:
    genesis = int(boa.env.evm.patch.timestamp) + 10 * helpers.EPOCH_SECONDS
    dist = _clocked_distributor(token, oracles, guardian, genesis)
    with boa.reverts("RewardDistributor: epoch not ended"):
        _submit(dist, oracles[:2], 0, tree, 6 * ONE)


def test_epoch_end_of_last_representable_epoch_and_beyond(distributor: Any) -> None:
    last = 2**64 - 1
    assert distributor.epoch_end(last) == helpers.GENESIS_UNIX + 2**64 * helpers.EPOCH_SECONDS
    with boa.reverts("RewardDistributor: epoch too large"):
        distributor.epoch_end(last + 1)


def test_submit_root_with_decreasing_total_reverts(
    distributor: Any, oracles: Oracles, submitted: RewardTree
) -> None:
    with boa.reverts("RewardDistributor: cumulative total decreased"):
        _submit(distributor, oracles[:2], 1, submitted, 5 * ONE)


def test_submit_root_at_epoch_cap_succeeds_and_above_reverts(
    distributor: Any, oracles: Oracles, tree: RewardTree
) -> None:
    cap = distributor.epoch_cap(0)
    with boa.reverts("RewardDistributor: epoch cap exceeded"):
        _submit(distributor, oracles[:2], 0, tree, cap + 1)
    _submit(distributor, oracles[:2], 0, tree, cap)
    assert distributor.cumulative_total() == cap


def test_submit_root_zero_root_reverts(distributor: Any, oracles: Oracles) -> None:
    manifest = bytes(32)
    sigs = helpers.sign_all(oracles[:2], distributor, 0, bytes(32), 0, manifest)
    with boa.reverts("RewardDistributor: zero root"):
        distributor.submit_root(0, bytes(32), 0, manifest, sigs)


def test_submit_root_above_token_cap_reverts(token: Any, oracles: Oracles, guardian: Any) -> None:
    small = helpers.load("Token", "Small", "SML", 10 * ONE, "Small", "1")
    dist = helpers.load(
        "RewardDistributor",
        small.address,
        [o.address for o in oracles],
        2,
        100 * ONE,
        helpers.HALVING_EPOCHS,
        guardian,
        *helpers.EPOCH_CLOCK,
    )
    small.set_minter(dist.address, True)
    tree = RewardTree.build([(str(boa.env.generate_address()), 11 * ONE)])
    with boa.reverts("Token: cap exceeded"):
        _submit(dist, oracles[:2], 0, tree, 11 * ONE)


def test_submit_root_without_minter_role_reverts(
    token: Any, distributor: Any, oracles: Oracles, tree: RewardTree
) -> None:
    token.set_minter(distributor.address, False)
    with boa.reverts("Token: caller is not a minter"):
        _submit(distributor, oracles[:2], 0, tree, 6 * ONE)


def test_epoch_cap_halves_every_halving_period(distributor: Any) -> None:
    cap = helpers.MAX_EMISSION_PER_EPOCH
    assert distributor.epoch_cap(helpers.HALVING_EPOCHS - 1) == cap
    assert distributor.epoch_cap(helpers.HALVING_EPOCHS) == cap // 2
    assert distributor.epoch_cap(3 * helpers.HALVING_EPOCHS) == cap >> 3
    assert distributor.epoch_cap(300 * helpers.HALVING_EPOCHS) == 0


# --- claim ---------------------------------------------------------------------------------


def test_claim_pays_cumulative_amount(
    distributor: Any, token: Any, users: list[str], submitted: RewardTree
) -> None:
    distributor.claim(users[1], 2 * ONE, submitted.proof(users[1]))
    events = [e for e in distributor.get_logs() if type(e).__name__ == "Claimed"]
    assert [(e.account, e.amount, e.cumulative_amount) for e in events] == [
        (users[1], 2 * ONE, 2 * ONE)
    ]
    assert token.balanceOf(users[1]) == 2 * ONE
    assert distributor.claimed(users[1]) == 2 * ONE


def test_claim_pays_only_the_difference_after_next_epoch(
    distributor: Any, token: Any, oracles: Oracles, users: list[str], submitted: RewardTree
) -> None:
    distributor.claim(users[0], ONE, submitted.proof(users[0]))
    later = RewardTree.build([(u, (i + 1) * ONE + 5 * ONE) for i, u in enumerate(users)])
    _submit(distributor, oracles[:2], 1, later, 21 * ONE)
    distributor.claim(users[0], 6 * ONE, later.proof(users[0]))
    assert token.balanceOf(users[0]) == 6 * ONE


def test_claim_twice_reverts(distributor: Any, users: list[str], submitted: RewardTree) -> None:
    distributor.claim(users[2], 3 * ONE, submitted.proof(users[2]))
    with boa.reverts("RewardDistributor: nothing to claim"):
        distributor.claim(users[2], 3 * ONE, submitted.proof(users[2]))


def test_claim_with_inflated_amount_reverts(
    distributor: Any, users: list[str], submitted: RewardTree
) -> None:
    with boa.reverts("RewardDistributor: invalid proof"):
        distributor.claim(users[0], 2 * ONE, submitted.proof(users[0]))


def test_claim_for_other_account_reverts(
    distributor: Any, users: list[str], submitted: RewardTree
) -> None:
    with boa.reverts("RewardDistributor: invalid proof"):
        distributor.claim(users[1], ONE, submitted.proof(users[0]))


def test_claim_against_old_root_reverts(
    distributor: Any, oracles: Oracles, users: list[str], submitted: RewardTree
) -> None:
    later = RewardTree.build([(users[0], 2 * ONE)])
    _submit(distributor, oracles[:2], 1, later, 7 * ONE)
    with boa.reverts("RewardDistributor: invalid proof"):
        distributor.claim(users[1], 2 * ONE, submitted.proof(users[1]))


def test_claim_before_any_root_reverts(distributor: Any, users: list[str]) -> None:
    with boa.reverts("RewardDistributor: no root"):
        distributor.claim(users[0], ONE, [])


def test_claim_by_third_party_pays_account(
    distributor: Any, token: Any, alice: Any, users: list[str], submitted: RewardTree
) -> None:
    distributor.claim(users[2], 3 * ONE, submitted.proof(users[2]), sender=alice)
    assert token.balanceOf(users[2]) == 3 * ONE


def test_claim_beyond_minted_balance_reverts(
    distributor: Any, oracles: Oracles, users: list[str]
) -> None:
    overpaying = RewardTree.build([(users[0], 10 * ONE)])
    _submit(distributor, oracles[:2], 0, overpaying, 4 * ONE)
    with boa.reverts("erc20: transfer amount exceeds balance"):
        distributor.claim(users[0], 10 * ONE, overpaying.proof(users[0]))


@pytest.mark.parametrize("leaves", [1, 2, 3])
def test_claim_accepts_reward_tree_proofs_small_trees(
    distributor: Any, token: Any, oracles: Oracles, leaves: int
) -> None:
    _claim_every_leaf(distributor, token, oracles, leaves)


@pytest.mark.slow
def test_claim_accepts_reward_tree_proofs_1000_leaves(
    distributor: Any, token: Any, oracles: Oracles
) -> None:
    _claim_every_leaf(distributor, token, oracles, 1_000)


def _claim_every_leaf(distributor: Any, token: Any, oracles: Oracles, leaves: int) -> None:
    accounts = _accounts(leaves)
    amounts = {a: (i * 7_919 + 1) * 10**14 for i, a in enumerate(accounts)}
    tree = RewardTree.build(list(amounts.items()))
    total = sum(amounts.values())
    _submit(distributor, oracles[:2], 0, tree, total)
    for account, amount in amounts.items():
        distributor.claim(account, amount, tree.proof(account))
        assert token.balanceOf(account) == amount
    assert token.balanceOf(distributor.address) == 0


# --- pause ---------------------------------------------------------------------------------


def test_pause_blocks_submit_and_claim_until_unpause(
    distributor: Any,
    token: Any,
    oracles: Oracles,
    guardian: Any,
    users: list[str],
    submitted: RewardTree,
) -> None:
    distributor.pause(sender=guardian)
    assert distributor.paused()
    assert distributor.latest_root() == submitted.root
    with boa.reverts("RewardDistributor: paused"):
        distributor.claim(users[0], ONE, submitted.proof(users[0]))
    with boa.reverts("RewardDistributor: paused"):
        _submit(distributor, oracles[:2], 1, submitted, 6 * ONE)
    distributor.unpause(sender=guardian)
    distributor.claim(users[0], ONE, submitted.proof(users[0]))
    assert token.balanceOf(users[0]) == ONE


def test_pause_before_any_root_then_claim_reverts_paused(
    distributor: Any, guardian: Any, users: list[str]
) -> None:
    distributor.pause(sender=guardian)
    with boa.reverts("RewardDistributor: paused"):
        distributor.claim(users[0], ONE, [])
    distributor.unpause(sender=guardian)
    with boa.reverts("RewardDistributor: no root"):
        distributor.claim(users[0], ONE, [])


def test_pause_by_non_guardian_reverts(distributor: Any, deployer: Any) -> None:
    with boa.reverts("RewardDistributor: caller is not the guardian"):
        distributor.pause(sender=deployer)


def test_pause_twice_reverts(distributor: Any, guardian: Any) -> None:
    distributor.pause(sender=guardian)
    with boa.reverts("RewardDistributor: paused"):
        distributor.pause(sender=guardian)


def test_unpause_by_non_guardian_reverts(distributor: Any, guardian: Any, deployer: Any) -> None:
    distributor.pause(sender=guardian)
    with boa.reverts("RewardDistributor: caller is not the guardian"):
        distributor.unpause(sender=deployer)


def test_unpause_when_not_paused_reverts(distributor: Any, guardian: Any) -> None:
    with boa.reverts("RewardDistributor: not paused"):
        distributor.unpause(sender=guardian)


# --- governance ----------------------------------------------------------------------------


def test_set_oracles_replaces_set_and_threshold(
    distributor: Any, oracles: Oracles, tree: RewardTree
) -> None:
    new = helpers.new_keys(4)
    distributor.set_oracles([o.address for o in new], 3)
    assert distributor.oracles() == [o.address for o in new]
    assert distributor.threshold() == 3
    assert not distributor.is_oracle(oracles[0].address)
    with boa.reverts("RewardDistributor: signer is not an oracle"):
        _submit(distributor, oracles, 0, tree, 6 * ONE)
    with boa.reverts("RewardDistributor: too few signatures"):
        _submit(distributor, new[:2], 0, tree, 6 * ONE)
    _submit(distributor, new[1:], 0, tree, 6 * ONE)
    assert distributor.next_epoch() == 1


def test_set_oracles_by_non_owner_reverts(distributor: Any, alice: Any, oracles: Oracles) -> None:
    with boa.reverts("ownable: caller is not the owner"):
        distributor.set_oracles([o.address for o in oracles], 1, sender=alice)


@pytest.mark.parametrize(
    ("threshold", "reason"),
    [(0, "zero threshold"), (4, "threshold above oracle count")],
)
def test_set_oracles_bad_threshold_reverts(
    distributor: Any, oracles: Oracles, threshold: int, reason: str
) -> None:
    with boa.reverts(f"RewardDistributor: {reason}"):
        distributor.set_oracles([o.address for o in oracles], threshold)


def test_set_oracles_duplicate_reverts(distributor: Any, oracles: Oracles) -> None:
    with boa.reverts("RewardDistributor: duplicate oracle"):
        distributor.set_oracles([oracles[0].address, oracles[0].address], 1)


def test_set_oracles_zero_address_reverts(distributor: Any, oracles: Oracles) -> None:
    with boa.reverts("RewardDistributor: zero oracle"):
        distributor.set_oracles([oracles[0].address, ZERO], 1)


def test_set_guardian_by_owner_moves_pause_right(
    distributor: Any, guardian: Any, alice: Any
) -> None:
    distributor.set_guardian(alice)
    assert distributor.guardian() == alice
    with boa.reverts("RewardDistributor: caller is not the guardian"):
        distributor.pause(sender=guardian)
    distributor.pause(sender=alice)


def test_set_guardian_by_non_owner_reverts(distributor: Any, alice: Any) -> None:
    with boa.reverts("ownable: caller is not the owner"):
        distributor.set_guardian(alice, sender=alice)


def test_set_guardian_zero_reverts(distributor: Any) -> None:
    with boa.reverts("RewardDistributor: zero guardian"):
        distributor.set_guardian(ZERO)


def test_transfer_ownership_by_non_owner_reverts(distributor: Any, alice: Any) -> None:
    with boa.reverts("ownable: caller is not the owner"):
        distributor.transfer_ownership(alice, sender=alice)


def test_eip712_domain_is_reward_distributor_v1(distributor: Any) -> None:
    assert distributor.eip712Domain()[1:5] == (
        "RewardDistributor",
        "1",
        helpers.chain_id(),
        distributor.address,
    )
    assert len(distributor.DOMAIN_SEPARATOR()) == 32


@pytest.mark.parametrize(
    ("token_ok", "halving", "guardian_ok", "clock", "reason"),
    [
        (False, 1, True, helpers.EPOCH_CLOCK, "zero token"),
        (True, 0, True, helpers.EPOCH_CLOCK, "zero halving epochs"),
        (True, 1, False, helpers.EPOCH_CLOCK, "zero guardian"),
        (True, 1, True, (0, 0), "zero epoch seconds"),
        (True, 1, True, (2**64, 60), "genesis too large"),
        (True, 1, True, (0, 2**64), "epoch seconds too large"),
    ],
)
def test_deploy_bad_parameters_revert(
    token: Any,
    oracles: Oracles,
    guardian: Any,
    token_ok: bool,
    halving: int,
    guardian_ok: bool,
    clock: tuple[int, int],
    reason: str,
) -> None:
    with boa.reverts(f"RewardDistributor: {reason}"):
        helpers.load(
            "RewardDistributor",
            token.address if token_ok else ZERO,
            [o.address for o in oracles],
            2,
            ONE,
            halving,
            guardian if guardian_ok else ZERO,
            *clock,
        )
