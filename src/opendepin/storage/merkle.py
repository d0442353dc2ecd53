"""Piece commitments: a Merkle root over fixed-size leaves, and proofs that one leaf is in it.

A placement record commits to a piece's content with this root; a storage audit asks the node
for one leaf and its path, and anyone can check the answer against the sealed root without
the rest of the piece.

**The tree** is Sia's (and RFC 6962's) shape with Sia's hash: BLAKE2b-256, a leaf hashed as
`H(0x00 ‖ leaf)`, an inner node as `H(0x01 ‖ left ‖ right)`. The domain prefixes stop a
node's 64 bytes from passing as a leaf. The tree is unbalanced with no padding: n leaves split
at the largest power of two below n, so appending never changes the hashes to the left and
the root is computed in one streaming pass with a stack of at most log2(n) subtree roots.
The last leaf may be shorter than the others (a piece need not be a multiple of the leaf).

**Leaf size: 1 KiB, not Sia's 64 bytes.** Sia sends proofs on chain, where every byte costs;
ours travel as reports to the oracles, where hashing cost dominates. In CPython one
BLAKE2b call costs about as much as hashing a kilobyte, so 64-byte leaves commit at ~5 % of
plain hashing speed and 1 KiB leaves at ~50 % (bench/storage.py prints both). A proof is one
leaf plus ⌈log2 n⌉ hashes: 1 KiB + 640 bytes for a 1 GiB piece. Keeping only the leaf hashes
(to fake audits without the data) would not help a cheat anyway: a proof must carry the
leaf's bytes.

Every function here that reads a proof from outside is total: a malformed or lying proof
gives False, never an exception.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import BinaryIO, Final

HASH_BYTES: Final = 32
"""BLAKE2b-256 digests."""
LEAF_SIZE: Final = 1024
"""Bytes per leaf of the network's piece commitments (see the module docstring)."""
LEAF_PREFIX: Final = b"\x00"
NODE_PREFIX: Final = b"\x01"
MAX_PROOF_DEPTH: Final = 64
"""A path longer than this cannot belong to any piece (2**64 leaves)."""
READ_CHUNK: Final = 1 << 20


def leaf_hash(leaf: bytes | bytearray | memoryview) -> bytes:
    """H(0x00 ‖ leaf)."""
    h = hashlib.blake2b(LEAF_PREFIX, digest_size=HASH_BYTES)
    h.update(leaf)
    return h.digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """H(0x01 ‖ left ‖ right)."""
    return hashlib.blake2b(NODE_PREFIX + left + right, digest_size=HASH_BYTES).digest()


def leaf_count(size: int, leaf_size: int = LEAF_SIZE) -> int:
    """Leaves of a piece of `size` bytes (an empty piece has one empty leaf)."""
    return max(1, -(-size // leaf_size))


class RootBuilder:
    """Streaming root: feed bytes in any chunks, then `root()`.

    Keeps a stack of (height, hash) of complete power-of-two subtrees, merging equal heights
    as leaves arrive; `root()` folds the stack right to left, which is exactly the
    split-at-the-largest-power-of-two tree.
    """

    __slots__ = ("_buffer", "_leaf_size", "_stack", "size")

    def __init__(self, leaf_size: int = LEAF_SIZE) -> None:
        if leaf_size < 1:
            raise ValueError("leaf_size must be >= 1")
        self._leaf_size = leaf_size
        self._buffer = bytearray()
        self._stack: list[tuple[int, bytes]] = []
        self.size = 0

    def _push(self, digest: bytes) -> None:
        stack = self._stack
        height = 0
        while stack and stack[-1][0] == height:
            digest = node_hash(stack.pop()[1], digest)
            height += 1
        stack.append((height, digest))

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes to the piece."""
        view = memoryview(data)
        self.size += len(view)
        size = self._leaf_size
        if self._buffer:
            need = size - len(self._buffer)
            self._buffer += view[:need]
            view = view[need:]
            if len(self._buffer) == size and len(view) > 0:
                self._push(leaf_hash(self._buffer))
                self._buffer.clear()
        # whole leaves straight from the caller's buffer; keep the last (possibly full) leaf
        # back, so a piece ending on a leaf boundary does not gain an empty leaf
        full = (len(view) - 1) // size if len(view) else 0
        b2 = hashlib.blake2b
        push = self._push
        for i in range(full):
            h = b2(LEAF_PREFIX, digest_size=HASH_BYTES)
            h.update(view[i * size : (i + 1) * size])
            push(h.digest())
        rest = view[full * size :]
        if rest:
            if self._buffer:  # only possible when the buffer is full and nothing followed
                self._push(leaf_hash(self._buffer))
                self._buffer.clear()
            self._buffer += rest

    def root(self) -> bytes:
        """The root of everything fed so far (the builder stays usable)."""
        stack = list(self._stack)
        last = leaf_hash(self._buffer)
        if not stack:
            return last
        digest = last
        for _, left in reversed(stack):
            digest = node_hash(left, digest)
        return digest


def merkle_root(data: bytes | bytearray | memoryview, leaf_size: int = LEAF_SIZE) -> bytes:
    """The commitment of `data`."""
    builder = RootBuilder(leaf_size)
    builder.update(data)
    return builder.root()


def root_of_file(stream: BinaryIO, leaf_size: int = LEAF_SIZE) -> tuple[bytes, int]:
    """(root, size) of everything readable from `stream`, in bounded memory."""
    builder = RootBuilder(leaf_size)
    while chunk := stream.read(READ_CHUNK):
        builder.update(chunk)
    return builder.root(), builder.size


def root_of_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """The root over already-hashed leaves (tests, and proofs over huge leaf counts)."""
    if not hashes:
        raise ValueError("no leaves")
    level = list(hashes)
    return _subtree(level, 0, len(level))


def _split(n: int) -> int:
    """The largest power of two strictly below n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _subtree(hashes: Sequence[bytes], lo: int, hi: int) -> bytes:
    n = hi - lo
    if n == 1:
        return hashes[lo]
    k = _split(n)
    return node_hash(_subtree(hashes, lo, lo + k), _subtree(hashes, lo + k, hi))


def tree_levels(hashes: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree over `hashes`, leaves first, root last.

    Built bottom-up: adjacent nodes pair, an odd last node moves up unpaired. That is the
    split-at-the-largest-power-of-two tree (its left subtrees are perfect), so the levels give
    every path in O(log n) after one O(n) build — for proving many leaves of one piece.
    """
    if not hashes:
        raise ValueError("no leaves")
    levels = [list(hashes)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        above = [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
        if len(below) % 2:
            above.append(below[-1])
        levels.append(above)
    return levels


def proof_from_levels(levels: Sequence[Sequence[bytes]], index: int) -> list[bytes]:
    """The path of leaf `index` from `tree_levels`: sibling hashes from the leaf up."""
    if not 0 <= index < len(levels[0]):
        raise ValueError(f"leaf {index} out of range (0..{len(levels[0]) - 1})")
    path: list[bytes] = []
    for level in levels[:-1]:
        sibling = index ^ 1
        if sibling < len(level):  # else this node moved up unpaired: no sibling here
            path.append(level[sibling])
        index //= 2
    return path


def proof_from_leaf_hashes(hashes: Sequence[bytes], index: int) -> list[bytes]:
    """The path of leaf `index`: sibling hashes from the leaf up to the root."""
    return proof_from_levels(tree_levels(hashes), index)


def leaf_hashes(data: bytes | bytearray | memoryview, leaf_size: int = LEAF_SIZE) -> list[bytes]:
    """Every leaf's hash."""
    view = memoryview(data)
    n = leaf_count(len(view), leaf_size)
    return [leaf_hash(view[i * leaf_size : (i + 1) * leaf_size]) for i in range(n)]


def leaf_of(data: bytes | bytearray | memoryview, index: int, leaf_size: int = LEAF_SIZE) -> bytes:
    """The bytes of leaf `index`."""
    return bytes(memoryview(data)[index * leaf_size : (index + 1) * leaf_size])


def build_proof(
    data: bytes | bytearray | memoryview, index: int, leaf_size: int = LEAF_SIZE
) -> tuple[bytes, list[bytes]]:
    """(leaf, path) proving leaf `index` of `data` (hashes the whole piece once)."""
    return leaf_of(data, index, leaf_size), proof_from_leaf_hashes(leaf_hashes(data, leaf_size), index)


def path_length(leaves: int, index: int) -> int:
    """How many siblings the path of leaf `index` in a tree of `leaves` leaves has."""
    depth = 0
    lo, hi = 0, leaves
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            hi = lo + k
        else:
            lo = lo + k
        depth += 1
    return depth


def verify_proof(
    root: bytes,
    size: int,
    index: int,
    leaf: bytes,
    path: Iterable[bytes],
    leaf_size: int = LEAF_SIZE,
) -> bool:
    """Is `leaf` leaf `index` of a piece of `size` bytes whose root is `root`?

    Checks the leaf's length (full, or the remainder for the last leaf), the path's length for
    that position in that tree, and the hashes. Total: False for anything malformed.
    """
    try:
        siblings = list(path)
    except TypeError:
        return False
    if not (isinstance(root, bytes) and len(root) == HASH_BYTES and isinstance(leaf, bytes)):
        return False
    if not (isinstance(size, int) and isinstance(index, int)) or size < 0 or leaf_size < 1:
        return False
    leaves = leaf_count(size, leaf_size)
    if not 0 <= index < leaves or len(siblings) > MAX_PROOF_DEPTH:
        return False
    expected_len = min(leaf_size, size - index * leaf_size) if size else 0
    if len(leaf) != expected_len:
        return False
    if any(not isinstance(s, bytes) or len(s) != HASH_BYTES for s in siblings):
        return False
    # walk down the split structure to learn, per level, whether we are the left or right child
    sides: list[bool] = []  # True: our subtree is the right child
    lo, hi = 0, leaves
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            sides.append(False)
            hi = lo + k
        else:
            sides.append(True)
            lo = lo + k
    if len(sides) != len(siblings):
        return False
    digest = leaf_hash(leaf)
    for sibling, is_right in zip(siblings, reversed(sides), strict=True):
        digest = node_hash(sibling, digest) if is_right else node_hash(digest, sibling)
    return digest == root


__all__ = [
    "HASH_BYTES",
    "LEAF_SIZE",
    "RootBuilder",
    "build_proof",
    "leaf_count",
    "leaf_hash",
    "leaf_hashes",
    "leaf_of",
    "merkle_root",
    "node_hash",
    "path_length",
    "proof_from_leaf_hashes",
    "proof_from_levels",
    "root_of_file",
    "root_of_leaf_hashes",
    "tree_levels",
    "verify_proof",
]
