"""Gas used by the opendepin contracts, per whole transaction, on boa's embedded EVM.

Run: `.venv/bin/python bench/gas.py` — prints a table and writes it to bench/gas.txt.

How a figure is computed. boa executes a call as a message (no transaction envelope), so
`computation.get_gas_used()` is the EXECUTION gas only. Each figure here is the whole
transaction's gas as a node would charge it:

    total = 21,000 + calldata (4 per zero byte, 16 per non-zero byte of the ABI-encoded call)
            + execution - min(refund, total // 5)            (EIP-3529 refund cap)

Before each measured call the state changes of earlier calls are committed (`lock_changes`,
as between two transactions, so EIP-2200 sees the right "original value" of a storage slot),
the warm/cold access journal is reset and then, as at the start of a real transaction
(EIP-2929), the sender, the called contract and the precompiles are marked warm; every
other account and storage slot starts cold. (boa otherwise neither commits nor resets
between calls, so slots written earlier in the session would be charged as dirty, 100 gas,
and cold reads as warm.)

Locations are real H3 cells (the registry refuses anything else); the worst case of its H3
check is a resolution-15 cell below a pentagon base cell whose only non-zero digit is the
last (every digit is scanned for H3's deleted-subsequence rule).

Trees. Depth 10 = 1,024 leaves, depth 20 = 2**20 = 1,048,576 leaves, both built with the
real `opendepin.rewards.merkle.RewardTree` (no synthetic proofs); every proof used has
exactly 10 or 20 siblings. "First claim, fresh account" pays an account that has never
claimed and holds no tokens (two zero-to-non-zero storage writes: `claimed` and the token
balance); "first claim, holder" pays a never-claimed account that already holds tokens;
"later claim" pays an account again after the next epoch raised its cumulative amount.
The baseline is a plain ERC-20 `transfer` to a fresh account, measured in the same run.
"""

from __future__ import annotations

import importlib.util
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boa
from boa.util.abi import Address

from opendepin.chain.embedded import intrinsic_gas
from opendepin.rewards.merkle import RewardTree

_HELPERS_PATH = Path(__file__).resolve().parents[1] / "tests" / "chain" / "contracts" / "helpers.py"
_spec = importlib.util.spec_from_file_location("contract_test_helpers", _HELPERS_PATH)
assert _spec is not None and _spec.loader is not None
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

OUTPUT_PATH = Path(__file__).with_name("gas.txt")
REFUND_QUOTIENT = 5
PRECOMPILE_COUNT = 10
ONE_TOKEN = helpers.ONE_TOKEN
BENCH_TOKEN_CAP = 10_000_000_000 * ONE_TOKEN
BENCH_MAX_EMISSION_PER_EPOCH = 100_000_000 * ONE_TOKEN
MAX_LEAF_TOKENS = 100
TARGET_FIRST_CLAIM_DEPTH_20 = 90_000
TARGET_SUBMIT_2_OF_3 = 100_000
SEED = 20_261_125


@dataclass(frozen=True, slots=True)
class GasFigure:
    """One measured transaction."""

    label: str
    """What was called, and in which situation."""
    total_gas: int
    """Whole-transaction gas: intrinsic + execution - capped refund."""
    execution_gas: int
    """Gas of the message execution as boa reports it."""
    calldata_bytes: int
    """Length of the ABI-encoded call."""


def measure(label: str, contract: Any, function: str, *args: Any, sender: Any) -> GasFigure:
    """Call `contract.function(*args)` as `sender` and account its whole-transaction gas."""
    evm = boa.env.evm
    state = evm.vm.state
    state.lock_changes()  # commit earlier calls: EIP-2200 "original value" = value at tx start
    evm.reset_access_counters()
    warm = [Address(sender), Address(contract.address)]
    warm += [Address(i.to_bytes(20, "big")) for i in range(1, PRECOMPILE_COUNT + 1)]
    for address in warm:
        state.mark_address_warm(address.canonical_address)
    getattr(contract, function)(*args, sender=sender)
    computation = contract._computation
    data = bytes(computation.msg.data)
    intrinsic = intrinsic_gas(data)
    execution = computation.get_gas_used()
    total = intrinsic + execution
    total -= min(computation.get_gas_refund(), total // REFUND_QUOTIENT)
    return GasFigure(label, total, execution, len(data))


def random_accounts(rng: random.Random, count: int) -> list[str]:
    """`count` distinct random account addresses (as hex strings)."""
    return ["0x" + rng.randbytes(20).hex() for _ in range(count)]


def build_tree(rng: random.Random, accounts: list[str]) -> tuple[RewardTree, dict[str, int]]:
    """A reward tree giving each account 1..MAX_LEAF_TOKENS tokens (odd base units)."""
    amounts = {a: rng.randint(ONE_TOKEN, MAX_LEAF_TOKENS * ONE_TOKEN) for a in accounts}
    return RewardTree.build(list(amounts.items())), amounts


def main() -> None:
    """Deploy everything, measure each transaction, print and save the table."""
    helpers.use_project_cache()
    rng = random.Random(SEED)
    started = time.perf_counter()
    deployer = boa.env.eoa
    token = helpers.load("Token", "Net", "NET", BENCH_TOKEN_CAP, "Net", "1")
    registry = helpers.load(
        "DeviceRegistry",
        token.address,
        helpers.ONBOARDING_FEE,
        helpers.LOCATION_FEE,
        helpers.LOCATION_COOLDOWN_S,
    )
    credits = helpers.load("Credits", token.address, helpers.CREDITS_PER_TOKEN)
    oracles7 = helpers.new_keys(7)
    guardian = boa.env.generate_address()
    dist3 = helpers.load(
        "RewardDistributor",
        token.address,
        [o.address for o in oracles7[:3]],
        2,
        BENCH_MAX_EMISSION_PER_EPOCH,
        helpers.HALVING_EPOCHS,
        guardian,
        *helpers.EPOCH_CLOCK,
    )
    dist7 = helpers.load(
        "RewardDistributor",
        token.address,
        [o.address for o in oracles7],
        5,
        BENCH_MAX_EMISSION_PER_EPOCH,
        helpers.HALVING_EPOCHS,
        guardian,
        *helpers.EPOCH_CLOCK,
    )
    token.set_minter(dist3.address, True)
    token.set_minter(dist7.address, True)
    figures: list[GasFigure] = []

    # Baseline: a plain ERC-20 transfer to a fresh account.
    payer = boa.env.generate_address()
    token.mint(payer, 1_000_000 * ONE_TOKEN)
    token.mint(boa.env.generate_address(), ONE_TOKEN)  # totalSupply already non-zero
    baseline = measure(
        "baseline: ERC-20 transfer to a fresh account",
        token,
        "transfer",
        boa.env.generate_address(),
        ONE_TOKEN,
        sender=payer,
    )
    figures.append(baseline)

    # Device registry.
    token.approve(registry.address, 2**256 - 1, sender=payer)
    deadline = boa.env.evm.patch.timestamp + 3_600
    for label in ("register (owner's first device)", "register (owner's second device)"):
        device = helpers.new_keys(1)[0]
        signature = helpers.sign_register(device, registry, str(payer), "heartbeat", 0, deadline)
        figures.append(
            measure(
                label,
                registry,
                "register",
                device.address,
                payer,
                "heartbeat",
                deadline,
                signature,
                sender=payer,
            )
        )
    location = 0x8A2A1072B59FFFF  # resolution 10, New York
    neighbour = 0x8A2A1072B597FFF  # a neighbouring resolution-10 cell
    # Worst case of the H3 check: a resolution-15 pentagon cell (base cell 4) whose first
    # non-zero digit is the last one, so the pentagon rule scans all 15 digits.
    pentagon15 = 0x08 << 56 | 15 << 52 | 4 << 45 | 2
    figures.append(
        measure(
            "assert_location (first)",
            registry,
            "assert_location",
            device.address,
            location,
            sender=payer,
        )
    )
    boa.env.time_travel(seconds=helpers.LOCATION_COOLDOWN_S)
    figures.append(
        measure(
            "assert_location (later, after cooldown)",
            registry,
            "assert_location",
            device.address,
            neighbour,
            sender=payer,
        )
    )
    boa.env.time_travel(seconds=helpers.LOCATION_COOLDOWN_S)
    figures.append(
        measure(
            "assert_location (res-15 pentagon cell, worst case)",
            registry,
            "assert_location",
            device.address,
            pentagon15,
            sender=payer,
        )
    )

    # Trees: depth 10 (1,024 leaves) and depth 20 (2**20 leaves).
    tree_started = time.perf_counter()
    accounts10 = random_accounts(rng, 2**10)
    tree10, amounts10 = build_tree(rng, accounts10)
    accounts20 = random_accounts(rng, 2**20)
    tree20, amounts20 = build_tree(rng, accounts20)
    tree_seconds = time.perf_counter() - tree_started
    submitter = boa.env.generate_address()

    def submit(
        dist: Any, oracles: list[Any], epoch: int, tree: RewardTree, total: int, label: str | None
    ) -> None:
        manifest = rng.randbytes(32)
        sigs = helpers.sign_all(oracles, dist, epoch, tree.root, total, manifest)
        args = (epoch, tree.root, total, manifest, sigs)
        if label is None:
            dist.submit_root(*args, sender=submitter)
        else:
            figures.append(measure(label, dist, "submit_root", *args, sender=submitter))

    # submit_root 2-of-3: epoch 0 (first ever), then steady state for both tree sizes.
    total10 = sum(amounts10.values())
    submit(dist3, oracles7[:2], 0, tree10, total10, "submit_root 2-of-3, epoch 0 (first ever)")
    total20 = sum(amounts20.values())
    submit(dist3, oracles7[:2], 1, tree20, total20, "submit_root 2-of-3, 1,048,576 accounts paid")
    bumped10 = dict(amounts10)
    bumped10[accounts10[0]] += ONE_TOKEN
    tree10b = RewardTree.build(list(bumped10.items()))
    total10b = total20 + ONE_TOKEN  # cumulative totals never decrease; only the bound matters
    submit(dist3, oracles7[:2], 2, tree10b, total10b, "submit_root 2-of-3, 1,024 accounts paid")

    # submit_root 5-of-7 on the second distributor (steady state: epoch 1).
    submit(dist7, oracles7[:5], 0, tree20, total20, None)
    submit(
        dist7,
        oracles7[:5],
        1,
        tree20,
        total20 + ONE_TOKEN,
        "submit_root 5-of-7, 1,048,576 accounts paid",
    )

    # Claims at depth 10 against dist3's latest root (tree10b, epoch 2).
    holder = accounts10[2]
    token.mint(holder, ONE_TOKEN)
    fresh = accounts10[1]
    for label, account in (
        ("claim depth 10, first claim, fresh account", fresh),
        ("claim depth 10, first claim, holder", holder),
    ):
        proof = tree10b.proof(account)
        assert len(proof) == 10
        figures.append(
            measure(label, dist3, "claim", account, bumped10[account], proof, sender=submitter)
        )

    # Claims at depth 20 against dist7's latest root (tree20, epoch 1).
    fresh20, holder20 = accounts20[1], accounts20[2]
    token.mint(holder20, ONE_TOKEN)
    for label, account in (
        ("claim depth 20, first claim, fresh account", fresh20),
        ("claim depth 20, first claim, holder", holder20),
    ):
        proof = tree20.proof(account)
        assert len(proof) == 20
        figures.append(
            measure(label, dist7, "claim", account, amounts20[account], proof, sender=submitter)
        )

    # Later claims: raise both accounts' cumulative amounts in the next epoch, claim again.
    amounts20[fresh20] += ONE_TOKEN
    tree20b = RewardTree.build(list(amounts20.items()))
    submit(dist7, oracles7[:5], 2, tree20b, total20 + 2 * ONE_TOKEN, None)
    proof = tree20b.proof(fresh20)
    figures.append(
        measure(
            "claim depth 20, later claim",
            dist7,
            "claim",
            fresh20,
            amounts20[fresh20],
            proof,
            sender=submitter,
        )
    )
    bumped10[fresh] += ONE_TOKEN
    tree10c = RewardTree.build(list(bumped10.items()))
    submit(dist3, oracles7[:2], 3, tree10c, total10b + ONE_TOKEN, None)
    figures.append(
        measure(
            "claim depth 10, later claim",
            dist3,
            "claim",
            fresh,
            bumped10[fresh],
            tree10c.proof(fresh),
            sender=submitter,
        )
    )

    # Credits.
    token.approve(credits.address, 2**256 - 1, sender=payer)
    credit_holder = boa.env.generate_address()
    credits.burn_for_credits(ONE_TOKEN, credit_holder, sender=payer)
    figures.append(
        measure(
            "burn_for_credits (recipient's first credits)",
            credits,
            "burn_for_credits",
            5 * ONE_TOKEN,
            boa.env.generate_address(),
            sender=payer,
        )
    )
    figures.append(
        measure(
            "burn_for_credits (recipient holds credits)",
            credits,
            "burn_for_credits",
            5 * ONE_TOKEN,
            credit_holder,
            sender=payer,
        )
    )

    lines = render(figures, baseline, tree_seconds, time.perf_counter() - started)
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    OUTPUT_PATH.write_text(text)
    _ = deployer


def render(
    figures: list[GasFigure], baseline: GasFigure, tree_seconds: float, run_seconds: float
) -> list[str]:
    """The printed table, with targets checked."""
    by_label = {f.label: f for f in figures}
    width = max(len(f.label) for f in figures)
    lines = [
        "opendepin contract gas (whole transaction = 21,000 + calldata 4/16 per zero/non-zero"
        " byte + execution - capped refund; cold/warm as at the start of a transaction)",
        f"{'transaction':<{width}}  {'total gas':>10}  {'execution':>10}  {'calldata B':>10}"
        f"  {'x baseline':>10}",
    ]
    for f in figures:
        ratio = f.total_gas / baseline.total_gas
        lines.append(
            f"{f.label:<{width}}  {f.total_gas:>10,}  {f.execution_gas:>10,}"
            f"  {f.calldata_bytes:>10,}  {ratio:>10.2f}"
        )
    first20 = by_label["claim depth 20, first claim, fresh account"].total_gas
    first20_holder = by_label["claim depth 20, first claim, holder"].total_gas
    submit23 = by_label["submit_root 2-of-3, 1,048,576 accounts paid"].total_gas
    submit23_small = by_label["submit_root 2-of-3, 1,024 accounts paid"].total_gas
    lines += [
        "",
        f"target first claim depth 20 <= {TARGET_FIRST_CLAIM_DEPTH_20:,}: fresh account"
        f" {first20:,} ({'met' if first20 <= TARGET_FIRST_CLAIM_DEPTH_20 else 'MISSED'}),"
        f" holder {first20_holder:,}"
        f" ({'met' if first20_holder <= TARGET_FIRST_CLAIM_DEPTH_20 else 'MISSED'})",
        f"target submit_root 2-of-3 <= {TARGET_SUBMIT_2_OF_3:,}: {submit23:,}"
        f" ({'met' if submit23 <= TARGET_SUBMIT_2_OF_3 else 'MISSED'});"
        f" 1,024 vs 1,048,576 accounts paid: {submit23_small:,} vs {submit23:,}"
        " (differs only by calldata bytes)",
        f"trees built with opendepin.rewards.merkle.RewardTree (1,024 + 2 x 1,048,576 leaves +"
        f" small rebuilds): first two in {tree_seconds:.1f} s; whole run {run_seconds:.1f} s",
    ]
    return lines


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
