"""Stateful property test of RewardDistributor.vy against a Python model.

Hypothesis drives random sequences of: epoch submissions (within or beyond the epoch cap or
the token cap), claims (honest, inflated, repeated), and forged submissions (fewer than M
signatures, a non-oracle signer, a signature for another epoch or chain id, a duplicated
signature). After every step the invariants are checked against the chain:

* claimed(account) never exceeds the account's cumulative amount in the latest root, and the
  account's token balance equals what it claimed (no double claim);
* minted supply == cumulative_total <= sum of epoch caps so far, and <= the token cap;
* the distributor holds exactly cumulative_total - total claimed.
"""

from __future__ import annotations

import os
from typing import Any

import boa
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from opendepin.rewards.merkle import RewardTree

from . import helpers

ACCOUNT_COUNT = 4
MAX_EMISSION = 1_000
HALVING_EPOCHS = 2
TOKEN_CAP = 2_500
FORGERIES = ("too_few", "non_oracle", "other_epoch", "other_chain", "duplicate")


class DistributorMachine(RuleBasedStateMachine):
    """Drives one 2-of-3 distributor from a fresh state per example."""

    deployment: dict[str, Any]

    def __init__(self) -> None:
        super().__init__()
        self._anchor = boa.env.anchor()
        self._anchor.__enter__()
        d = self.deployment
        self.token: Any = d["token"]
        self.dist: Any = d["distributor"]
        self.oracles: list[LocalAccount] = d["oracles"]
        self.accounts: list[str] = d["accounts"]
        self.cumulative = dict.fromkeys(self.accounts, 0)
        self.claimed = dict.fromkeys(self.accounts, 0)
        self.tree: RewardTree | None = None
        self.epoch = 0
        self.total = 0
        self.cap_sum = 0

    def teardown(self) -> None:
        self._anchor.__exit__(None, None, None)

    def _signatures(
        self,
        epoch: int,
        root: bytes,
        total: int,
        manifest: bytes,
        signers: list[LocalAccount],
        chain: int | None = None,
    ) -> list[bytes]:
        ordered = sorted(signers, key=lambda a: int(a.address, 16))
        return [
            helpers.sign_epoch_root(o, self.dist, epoch, root, total, manifest, chain)
            for o in ordered
        ]

    @rule(increments=st.lists(st.integers(0, 600), min_size=ACCOUNT_COUNT, max_size=ACCOUNT_COUNT))
    def submit_epoch(self, increments: list[int]) -> None:
        new = {
            a: self.cumulative[a] + inc for a, inc in zip(self.accounts, increments, strict=True)
        }
        total = sum(new.values())
        tree = RewardTree.build(list(new.items()))
        manifest = os.urandom(32)
        sigs = self._signatures(self.epoch, tree.root, total, manifest, self.oracles[:2])
        cap = MAX_EMISSION >> (self.epoch // HALVING_EPOCHS)
        if total - self.total > cap:
            with boa.reverts("RewardDistributor: epoch cap exceeded"):
                self.dist.submit_root(self.epoch, tree.root, total, manifest, sigs)
        elif total > TOKEN_CAP:
            with boa.reverts("Token: cap exceeded"):
                self.dist.submit_root(self.epoch, tree.root, total, manifest, sigs)
        else:
            self.dist.submit_root(self.epoch, tree.root, total, manifest, sigs)
            self.cumulative, self.tree, self.total = new, tree, total
            self.cap_sum += cap
            self.epoch += 1

    @rule(forgery=st.sampled_from(FORGERIES))
    def submit_forged(self, forgery: str) -> None:
        tree = RewardTree.build([(self.accounts[0], self.cumulative[self.accounts[0]] + 1)])
        total, epoch, manifest = self.total + 1, self.epoch, os.urandom(32)
        if forgery == "too_few":
            sigs = self._signatures(epoch, tree.root, total, manifest, self.oracles[:1])
            reason = "too few signatures"
        elif forgery == "non_oracle":
            sigs = self._signatures(
                epoch, tree.root, total, manifest, [self.oracles[0], Account.create()]
            )
            reason = "signer is not an oracle"  # checked before the ordering
        elif forgery == "other_epoch":
            sigs = self._signatures(epoch + 1, tree.root, total, manifest, self.oracles[:2])
            reason = "signer is not an oracle"
        elif forgery == "other_chain":
            sigs = self._signatures(
                epoch, tree.root, total, manifest, self.oracles[:2], chain=helpers.chain_id() + 7
            )
            reason = "signer is not an oracle"
        else:
            one = self._signatures(epoch, tree.root, total, manifest, self.oracles[:1])
            sigs = one + one
            reason = "signers not strictly ascending"
        with boa.reverts("RewardDistributor: " + reason):
            self.dist.submit_root(epoch, tree.root, total, manifest, sigs)

    @rule(index=st.integers(0, ACCOUNT_COUNT - 1), inflate=st.booleans())
    def claim(self, index: int, inflate: bool) -> None:
        account = self.accounts[index]
        if self.tree is None:
            with boa.reverts("RewardDistributor: no root"):
                self.dist.claim(account, 1, [])
            return
        amount = self.cumulative[account]
        proof = self.tree.proof(account)
        if inflate:
            with boa.reverts("RewardDistributor: invalid proof"):
                self.dist.claim(account, amount + 1, proof)
        elif amount <= self.claimed[account]:
            with boa.reverts("RewardDistributor: nothing to claim"):
                self.dist.claim(account, amount, proof)
        else:
            self.dist.claim(account, amount, proof)
            self.claimed[account] = amount

    @invariant()
    def claims_within_cumulative_and_paid_once(self) -> None:
        for account in self.accounts:
            on_chain = self.dist.claimed(account)
            assert on_chain == self.claimed[account] <= self.cumulative[account]
            assert self.token.balanceOf(account) == on_chain

    @invariant()
    def supply_within_caps(self) -> None:
        supply = self.token.totalSupply()
        assert supply == self.dist.cumulative_total() == self.total
        assert supply <= self.cap_sum
        assert supply <= TOKEN_CAP
        unclaimed = self.total - sum(self.claimed.values())
        assert self.token.balanceOf(self.dist.address) == unclaimed
        assert self.dist.next_epoch() == self.epoch


@pytest.mark.slow
def test_distributor_invariants_hold_under_random_operations(guardian: Any) -> None:
    token = helpers.load("Token", "Prop", "PRP", TOKEN_CAP, "Prop", "1")
    oracles = helpers.new_keys(3)
    dist = helpers.load(
        "RewardDistributor",
        token.address,
        [o.address for o in oracles],
        2,
        MAX_EMISSION,
        HALVING_EPOCHS,
        guardian,
        *helpers.EPOCH_CLOCK,
    )
    token.set_minter(dist.address, True)
    DistributorMachine.deployment = {
        "token": token,
        "distributor": dist,
        "oracles": oracles,
        "accounts": [str(boa.env.generate_address()) for _ in range(ACCOUNT_COUNT)],
    }
    run_state_machine_as_test(
        DistributorMachine,
        settings=settings(
            max_examples=20,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
