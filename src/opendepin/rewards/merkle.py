"""Merkle tree of cumulative rewards, identical to OpenZeppelin's `StandardMerkleTree`.

The tree commits to (account, cumulative amount) pairs with leaf encoding
`["address", "uint256"]`, exactly as `@openzeppelin/merkle-tree` builds it, so its root and
proofs are accepted by OpenZeppelin's `MerkleProof.verify(proof, root, leaf)` and by our
`RewardDistributor`:

* leaf  = keccak256(keccak256(abi.encode(address, uint256))) — `abi.encode` of these two
  static types is the address left-padded to 32 bytes followed by the amount as 32 bytes
  big-endian, so it is built here by byte concatenation;
* leaves are sorted by hash (ascending);
* the tree is one array of `2n - 1` nodes: leaf `i` (in sorted order) sits at index
  `2n - 2 - i` (the end, in reverse order); node `i` has children `2i + 1` and `2i + 2`;
  a parent is keccak256 of its two children sorted as byte strings (sorted-pair hashing);
  node 0 is the root;
* a proof is the sibling of the leaf, then of its parent, and so on up to the root.

Internal nodes are computed in contiguous runs whose children are all known (indices
`[b // 2, b)` once every index `>= b` is done), one list comprehension per run, which keeps
1,000,000 leaves to a few seconds on one core (bench/merkle.py).

The hot loop calls `opendepin.crypto.keccak_256` (the hash-object constructor behind
`keccak256`) directly to save a Python call per hash.

Published form. `standard_dump(entries)` writes the tree in `@openzeppelin/merkle-tree`'s
`StandardMerkleTree.dump()` format, `{"format": "standard-v1", "leafEncoding": ["address",
"uint256"], "tree": [...], "values": [{"value": [account, amount], "treeIndex": i}]}`, so
`StandardMerkleTree.load(dump)` in JavaScript reads it, checks it, and gives the same root and
proofs. Because the layout above is that library's, the dump is exactly what
`StandardMerkleTree.of(values, ["address", "uint256"]).dump()` returns for the same values in
the same order: nodes as lower-case 0x hex, accounts EIP-55 checksummed, amounts as decimal
strings (JSON numbers lose precision above 2**53).

Input rules: an account is `0x` + 40 hex digits (all-lower, all-upper, or a valid EIP-55
checksum; `identity.address.parse_address`); an amount is an int in [0, 2**256); accounts
are unique (case-insensitively); the tree is not empty. Violations raise `EntryError` (an
`InputError`) naming the entry.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from opendepin.crypto import keccak256, keccak_256
from opendepin.errors import InputError
from opendepin.identity.address import parse_address as _parse_address
from opendepin.identity.address import to_checksum_address

EMPTY_ROOT = keccak256(b"opendepin:rewards:empty-tree:v1")
"""The root of an epoch in which no account has a positive cumulative amount yet (a fresh
network's first epochs, before anyone earned). Not zero, because the distributor refuses a
zero root and the network would halt at its first empty epoch; no claim can prove against it
(a proof would need a leaf hashing to this constant)."""

UINT256_LIMIT = 1 << 256
"""Amounts must be below this (they are encoded as uint256)."""

STANDARD_DUMP_FORMAT = "standard-v1"
"""`format` of OpenZeppelin's StandardMerkleTree dump."""
LEAF_ENCODING = ("address", "uint256")
"""ABI types of a leaf's value: (account, cumulative amount)."""

HASH_BYTES = 32
ADDRESS_BYTES = 20
_ADDRESS_PAD = bytes(HASH_BYTES - ADDRESS_BYTES)


class EntryProblem(StrEnum):
    """Why a (account, amount) entry cannot go into a reward tree."""

    BAD_ADDRESS = "bad_address"
    BAD_AMOUNT = "bad_amount"
    NEGATIVE_AMOUNT = "negative_amount"
    AMOUNT_TOO_LARGE = "amount_too_large"
    DUPLICATE_ACCOUNT = "duplicate_account"
    EMPTY_TREE = "empty_tree"
    UNKNOWN_ACCOUNT = "unknown_account"


class EntryError(InputError):
    """An entry of a reward tree is invalid; `problem` says why, `index` which one."""

    def __init__(self, problem: EntryProblem, message: str, index: int | None = None) -> None:
        super().__init__(f"{problem.value}: {message}")
        self.problem = problem
        self.detail = message
        self.index = index


def parse_address(account: str) -> bytes:
    """The 20 bytes of `0x` + 40 hex digits; mixed case must be a valid EIP-55 checksum.

    Raises EntryError (BAD_ADDRESS) with the reason from `identity.address.parse_address`.
    """
    try:
        return _parse_address(account)
    except ValueError as exc:
        raise EntryError(EntryProblem.BAD_ADDRESS, str(exc)) from None


def _check_amount(amount: object, where: str, index: int | None = None) -> int:
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise EntryError(
            EntryProblem.BAD_AMOUNT, f"{where}: amount is not an integer: {amount!r}", index
        )
    if amount < 0:
        raise EntryError(EntryProblem.NEGATIVE_AMOUNT, f"{where}: negative amount {amount}", index)
    if amount >= UINT256_LIMIT:
        raise EntryError(
            EntryProblem.AMOUNT_TOO_LARGE, f"{where}: amount {amount} does not fit uint256", index
        )
    return amount


def _leaf(address20: bytes, amount: int) -> bytes:
    encoded = _ADDRESS_PAD + address20 + amount.to_bytes(HASH_BYTES, "big")  # abi.encode
    return keccak256(keccak256(encoded))


def hash_pair(a: bytes, b: bytes) -> bytes:
    """OpenZeppelin's sorted-pair node hash: keccak256 of the two children, smaller first."""
    return keccak256(a + b if a < b else b + a)


def make_tree(sorted_leaves: Sequence[bytes]) -> list[bytes]:
    """OpenZeppelin's `makeMerkleTree` array for leaves already in tree order.

    Leaf `i` goes to index `len - 1 - i`; internal nodes are filled from the end down to 0.
    """
    n = len(sorted_leaves)
    if n == 0:
        raise EntryError(EntryProblem.EMPTY_TREE, "a Merkle tree needs at least one entry")
    tree: list[bytes] = [b""] * (n - 1)
    tree.extend(reversed(sorted_leaves))
    kc = keccak_256
    done_from = n - 1  # every index >= done_from is computed
    while done_from > 0:
        start = done_from // 2  # children of [start, done_from) are all >= done_from
        lefts = tree[2 * start + 1 : 2 * done_from : 2]
        rights = tree[2 * start + 2 : 2 * done_from + 1 : 2]
        tree[start:done_from] = [
            kc(a + b if a < b else b + a).digest() for a, b in zip(lefts, rights, strict=True)
        ]
        done_from = start
    return tree


def tree_proof(tree: Sequence[bytes], index: int) -> list[bytes]:
    """OpenZeppelin's `getProof`: siblings from node `index` up to the root."""
    proof: list[bytes] = []
    while index > 0:
        proof.append(tree[index + 1 if index % 2 else index - 1])
        index = (index - 1) // 2
    return proof


def verify_proof(root: bytes, leaf: bytes, proof: Sequence[bytes]) -> bool:
    """True if `proof` links `leaf` to `root` (OpenZeppelin `MerkleProof.verify`)."""
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node == root


class RewardTree:
    """A built tree over (account, cumulative amount) entries; gives the root and proofs."""

    __slots__ = ("_amounts", "_leaves", "_tree")

    def __init__(self, tree: list[bytes], leaves: list[bytes], amounts: dict[bytes, int]) -> None:
        """Use `RewardTree.build`."""
        self._tree = tree
        self._leaves = leaves  # sorted ascending
        self._amounts = amounts  # 20-byte address -> amount

    @classmethod
    def build(cls, entries: Sequence[tuple[str, int]]) -> RewardTree:
        """Build the tree of `entries` (account, cumulative amount), in any order.

        Raises EntryError (an InputError) naming the first bad entry by its index.
        """
        if not entries:
            raise EntryError(EntryProblem.EMPTY_TREE, "a Merkle tree needs at least one entry")
        amounts: dict[bytes, int] = {}
        leaves: list[bytes] = []
        append = leaves.append
        kc = keccak_256
        pad = _ADDRESS_PAD
        limit = UINT256_LIMIT
        for index, (account, amount) in enumerate(entries):
            try:
                raw = parse_address(account)
            except EntryError as exc:
                raise EntryError(exc.problem, f"entry {index}: {exc.detail}", index) from None
            if type(amount) is not int or not 0 <= amount < limit:
                _check_amount(amount, f"entry {index} ({account})", index)
            if raw in amounts:
                raise EntryError(
                    EntryProblem.DUPLICATE_ACCOUNT,
                    f"entry {index}: duplicate account {account}",
                    index,
                )
            amounts[raw] = amount
            append(kc(kc(pad + raw + amount.to_bytes(32, "big")).digest()).digest())
        leaves.sort()
        return cls(make_tree(leaves), leaves, amounts)

    @staticmethod
    def leaf_hash(account: str, amount: int) -> bytes:
        """The OpenZeppelin standard leaf of (account, amount)."""
        return _leaf(parse_address(account), _check_amount(amount, account))

    @property
    def root(self) -> bytes:
        """The 32-byte root (what oracles sign and the distributor stores)."""
        return self._tree[0]

    def __len__(self) -> int:
        return len(self._leaves)

    def amount(self, account: str) -> int:
        """The cumulative amount committed for `account` (EntryError if absent)."""
        raw = parse_address(account)
        try:
            return self._amounts[raw]
        except KeyError:
            raise EntryError(
                EntryProblem.UNKNOWN_ACCOUNT, f"{account} is not in the tree"
            ) from None

    @property
    def nodes(self) -> tuple[bytes, ...]:
        """The whole tree array (root first, leaves at the end in reverse sorted order)."""
        return tuple(self._tree)

    def tree_index(self, account: str) -> int:
        """Index of `account`'s leaf in `nodes` (EntryError if absent)."""
        leaf = _leaf(parse_address(account), self.amount(account))
        return 2 * len(self._leaves) - 2 - bisect_left(self._leaves, leaf)

    def proof(self, account: str) -> list[bytes]:
        """Proof for `account`'s leaf, as `MerkleProof.verify` takes it (leaf up to root)."""
        return tree_proof(self._tree, self.tree_index(account))


def standard_dump(entries: Sequence[tuple[str, int]]) -> dict[str, Any]:
    """`entries` (account, cumulative amount) as a `StandardMerkleTree` dump (`standard-v1`).

    `values` keep the order of `entries`; each names its leaf's `treeIndex`. Raises
    EntryError like `RewardTree.build`.
    """
    tree = RewardTree.build(entries)
    return {
        "format": STANDARD_DUMP_FORMAT,
        "leafEncoding": list(LEAF_ENCODING),
        "tree": ["0x" + node.hex() for node in tree.nodes],
        "values": [
            {
                "value": [str(to_checksum_address(parse_address(account))), str(amount)],
                "treeIndex": tree.tree_index(account),
            }
            for account, amount in entries
        ],
    }
