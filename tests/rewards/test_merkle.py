"""The reward tree is OpenZeppelin's StandardMerkleTree for ["address", "uint256"]."""

from __future__ import annotations

import random

import pytest
from eth_abi import encode
from hypothesis import given, settings
from hypothesis import strategies as st

from opendepin.crypto import keccak256
from opendepin.errors import InputError
from opendepin.identity.address import to_checksum_address
from opendepin.rewards.merkle import (
    EntryError,
    EntryProblem,
    RewardTree,
    make_tree,
    verify_proof,
)

# @openzeppelin/merkle-tree README example and its published tree (root, leaf of 0x11…, leaf of 0x22…).
OZ_README_VALUES = [
    ("0x1111111111111111111111111111111111111111", 5_000_000_000_000_000_000),
    ("0x2222222222222222222222222222222222222222", 2_500_000_000_000_000_000),
]
OZ_README_TREE = [
    "d4dee0beab2d53f2cc83e567171bd2820e49898130a22622b10ead383e90bd77",
    "eb02c421cfa48976e66dfb29120745909ea3a0f843456c263cf8f1253483e283",
    "b92c48e9d7abe27fd8dfd6b5dfdbfb1c9a463f80c712b66f3a5180a090cccafc",
]

# OpenZeppelin/merkle-tree test/dumps/standard-v1.sorted.1_0_6.json: leaves "a".."f" with
# encoding ["string"]; six leaves exercise the non-power-of-two array layout.
OZ_DUMP_STRING_TREE = [
    "6deb52b5da8fd108f79fab00341f38d2587896634c646ee52e49f845680a70c8",
    "52426e0f1f65ff7e209a13b8c29cffe82e3acaf3dad0a9b9088f3b9a61a929c3",
    "fd3cf45654e88d1cc5d663578c82c76f4b5e3826bacaa1216441443504538f51",
    "8076923e76cf01a7c048400a2304c9a9c23bbbdac3a98ea3946340fdafbba34f",
    "965b92c6cf08303cc4feb7f3e0819c436c2cec17c6f0688a6af139c9a368707c",
    "eba909cf4bb90c6922771d7f126ad0fd11dfde93f3937a196274e1ac20fd2f5b",
    "c62a8cfa41edc0ef6f6ae27a2985b7d39c7fea770787d7e104696c6e81f64848",
    "9cf5a63718145ba968a01c1d557020181c5b252f665cf7386d370eddb176517b",
    "9c15a6a0eaeed500fd9eed4cbeab71f797cefcc67bfd46683e4d2e6ff7f06d1c",
    "9a4f64e953595df82d1b4f570d34c4f4f0cfaf729a61e9d60e83e579e1aa283e",
    "19ba6c6333e0e9a15bf67523e0676e2f23eb8e574092552d5e888c64a4bb3681",
]


def _reference_leaf(account: str, amount: int) -> bytes:
    return keccak256(keccak256(encode(["address", "uint256"], [account, amount])))


def _reference_tree(leaves: list[bytes]) -> list[bytes]:
    """A literal transcription of OpenZeppelin's makeMerkleTree (node by node)."""
    ordered = sorted(leaves)
    tree: list[bytes] = [b""] * (2 * len(ordered) - 1)
    for i, leaf in enumerate(ordered):
        tree[len(tree) - 1 - i] = leaf
    for i in range(len(tree) - 1 - len(ordered), -1, -1):
        left, right = tree[2 * i + 1], tree[2 * i + 2]
        tree[i] = keccak256(b"".join(sorted([left, right])))
    return tree


def _random_entries(rng: random.Random, n: int) -> list[tuple[str, int]]:
    return [("0x" + rng.randbytes(20).hex(), rng.randrange(2**256)) for _ in range(n)]


def test_build_matches_openzeppelin_readme_vector() -> None:
    tree = RewardTree.build(OZ_README_VALUES)
    assert tree.root.hex() == OZ_README_TREE[0]
    assert RewardTree.leaf_hash(*OZ_README_VALUES[0]).hex() == OZ_README_TREE[1]
    assert [p.hex() for p in tree.proof(OZ_README_VALUES[0][0])] == [OZ_README_TREE[2]]
    assert [p.hex() for p in tree.proof(OZ_README_VALUES[1][0])] == [OZ_README_TREE[1]]


def test_make_tree_matches_openzeppelin_dump_layout() -> None:
    leaves = sorted(keccak256(keccak256(encode(["string"], [c]))) for c in "abcdef")
    assert [node.hex() for node in make_tree(leaves)] == OZ_DUMP_STRING_TREE


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 17, 33, 100])
def test_build_matches_reference_implementation(n: int) -> None:
    rng = random.Random(n)
    entries = _random_entries(rng, n)
    tree = RewardTree.build(entries)
    reference = _reference_tree([_reference_leaf(a, v) for a, v in entries])
    assert tree.root == reference[0]
    for account, amount in entries:
        leaf = _reference_leaf(account, amount)
        assert RewardTree.leaf_hash(account, amount) == leaf
        proof = tree.proof(account)
        assert verify_proof(tree.root, leaf, proof)
        assert not verify_proof(tree.root, _reference_leaf(account, (amount + 1) % 2**256), proof)


def test_build_single_entry_root_is_its_leaf() -> None:
    entries = [("0x" + "ab" * 20, 42)]
    tree = RewardTree.build(entries)
    assert tree.root == RewardTree.leaf_hash(*entries[0])
    assert tree.proof(entries[0][0]) == []


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32), n=st.integers(min_value=1, max_value=60))
def test_build_is_independent_of_entry_order(seed: int, n: int) -> None:
    rng = random.Random(seed)
    entries = _random_entries(rng, n)
    shuffled = entries[:]
    rng.shuffle(shuffled)
    assert RewardTree.build(entries).root == RewardTree.build(shuffled).root


def test_proof_accepts_any_case_of_the_account() -> None:
    account = to_checksum_address(bytes(range(20)))
    tree = RewardTree.build([(account, 5), ("0x" + "11" * 20, 6)])
    assert tree.proof(account.lower()) == tree.proof(account)
    assert tree.amount(account.lower()) == 5


def test_verify_proof_rejects_tampered_sibling() -> None:
    entries = _random_entries(random.Random(7), 10)
    tree = RewardTree.build(entries)
    proof = tree.proof(entries[3][0])
    proof[1] = bytes(32)
    assert not verify_proof(tree.root, RewardTree.leaf_hash(*entries[3]), proof)


@pytest.mark.parametrize(
    ("entries", "problem"),
    [
        ([], EntryProblem.EMPTY_TREE),
        ([("0x1234", 1)], EntryProblem.BAD_ADDRESS),
        ([("0x" + "zz" * 20, 1)], EntryProblem.BAD_ADDRESS),
        ([("11" * 21, 1)], EntryProblem.BAD_ADDRESS),
        ([("0x" + "aA" * 20, 1)], EntryProblem.BAD_ADDRESS),
        ([("0x" + "11" * 20, -1)], EntryProblem.NEGATIVE_AMOUNT),
        ([("0x" + "11" * 20, 2**256)], EntryProblem.AMOUNT_TOO_LARGE),
        ([("0x" + "11" * 20, "5")], EntryProblem.BAD_AMOUNT),
        ([("0x" + "11" * 20, True)], EntryProblem.BAD_AMOUNT),
        ([("0x" + "ab" * 20, 1), ("0x" + "AB" * 20, 2)], EntryProblem.DUPLICATE_ACCOUNT),
    ],
)
def test_build_rejects_bad_entry(entries: list[tuple[str, int]], problem: EntryProblem) -> None:
    with pytest.raises(EntryError) as caught:
        RewardTree.build(entries)
    assert caught.value.problem is problem
    assert isinstance(caught.value, InputError)
    if entries:
        assert caught.value.index == len(entries) - 1
        assert f"entry {len(entries) - 1}" in str(caught.value)


def test_build_accepts_valid_to_checksum_address() -> None:
    account = to_checksum_address(bytes.fromhex("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"))
    assert account == "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"  # EIP-55 test vector
    assert RewardTree.build([(account, 1)]).amount(account) == 1


def test_proof_of_unknown_account_raises() -> None:
    tree = RewardTree.build(OZ_README_VALUES)
    with pytest.raises(EntryError) as caught:
        tree.proof("0x" + "33" * 20)
    assert caught.value.problem is EntryProblem.UNKNOWN_ACCOUNT
