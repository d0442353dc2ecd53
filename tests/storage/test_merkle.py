"""Piece commitments: the streaming root equals the recursive definition, proofs verify, lies fail."""

from __future__ import annotations

import hashlib
import io
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opendepin.storage import merkle


def reference_root(data: bytes, leaf_size: int) -> bytes:
    """RFC 6962's MTH written straight from its definition (split at the largest power of two < n)."""
    leaves = [data[i : i + leaf_size] for i in range(0, len(data), leaf_size)] or [b""]

    def mth(items: list[bytes]) -> bytes:
        if len(items) == 1:
            return hashlib.blake2b(b"\x00" + items[0], digest_size=32).digest()
        k = 1
        while k * 2 < len(items):
            k *= 2
        return hashlib.blake2b(b"\x01" + mth(items[:k]) + mth(items[k:]), digest_size=32).digest()

    return mth(leaves)


@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 1023, 1024, 1025, 3 * 1024, 5000, 64 * 1024 + 7])
def test_root_matches_the_definition(size: int) -> None:
    data = os.urandom(size)
    assert merkle.merkle_root(data) == reference_root(data, merkle.LEAF_SIZE)
    assert merkle.merkle_root(data, 7) == reference_root(data, 7)


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=5000), cuts=st.lists(st.integers(0, 5000), max_size=8), leaf=st.integers(1, 300))
def test_streaming_in_any_chunks_gives_the_same_root(data: bytes, cuts: list[int], leaf: int) -> None:
    builder = merkle.RootBuilder(leaf)
    last = 0
    for cut in [*sorted(c for c in cuts if c <= len(data)), len(data)]:
        builder.update(data[last:cut])
        last = cut
    assert builder.size == len(data)
    assert builder.root() == reference_root(data, leaf)


def test_root_of_file_streams() -> None:
    data = os.urandom(3 * merkle.READ_CHUNK + 11)
    assert merkle.root_of_file(io.BytesIO(data)) == (merkle.merkle_root(data), len(data))


@pytest.mark.parametrize("leaves", [1, 2, 3, 64, 65])
def test_every_leaf_proves_and_a_changed_leaf_does_not(leaves: int) -> None:
    data = os.urandom(leaves * 100 - 37) if leaves > 1 else os.urandom(50)
    root = merkle.merkle_root(data, 100)
    n = merkle.leaf_count(len(data), 100)
    assert n == leaves
    for index in range(n):
        leaf, path = merkle.build_proof(data, index, 100)
        assert len(path) == merkle.path_length(n, index)
        assert merkle.verify_proof(root, len(data), index, leaf, path, 100)
        flipped = bytes([leaf[0] ^ 1]) + leaf[1:]
        assert not merkle.verify_proof(root, len(data), index, flipped, path, 100)
        if n > 1:
            assert not merkle.verify_proof(root, len(data), (index + 1) % n, leaf, path, 100)


def test_a_million_leaves() -> None:
    data = bytes(i % 251 for i in range(1_000_000))  # leaf_size 1: a million one-byte leaves
    root = merkle.merkle_root(data, 1)
    levels = merkle.tree_levels(merkle.leaf_hashes(data, 1))
    assert levels[-1] == [root]
    for index in (0, 1, 524_287, 524_288, 999_998, 999_999):
        leaf, path = merkle.leaf_of(data, index, 1), merkle.proof_from_levels(levels, index)
        assert len(path) == merkle.path_length(1_000_000, index)
        assert merkle.verify_proof(root, len(data), index, leaf, path, 1)
        assert not merkle.verify_proof(root, len(data), index, bytes([leaf[0] ^ 1]), path, 1)


@pytest.mark.parametrize("leaves", [1, 2, 3, 5, 7, 64, 100, 1000])
def test_levels_give_the_recursive_paths(leaves: int) -> None:
    hashes = [hashlib.blake2b(i.to_bytes(4, "big"), digest_size=32).digest() for i in range(leaves)]
    levels = merkle.tree_levels(hashes)
    assert levels[-1] == [merkle.root_of_leaf_hashes(hashes)]
    for index in range(leaves):
        assert merkle.proof_from_levels(levels, index) == recursive_path(hashes, index)


def recursive_path(hashes: list[bytes], index: int) -> list[bytes]:
    """The audit path by RFC 6962's recursive definition, leaf first."""
    if len(hashes) == 1:
        return []
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    if index < k:
        return [*recursive_path(hashes[:k], index), merkle.root_of_leaf_hashes(hashes[k:])]
    return [*recursive_path(hashes[k:], index - k), merkle.root_of_leaf_hashes(hashes[:k])]


@settings(max_examples=200, deadline=None)
@given(
    root=st.binary(max_size=40),
    size=st.integers(-5, 10**12),
    index=st.integers(-5, 10**9),
    leaf=st.binary(max_size=1100),
    path=st.lists(st.binary(max_size=40), max_size=70),
)
def test_verify_is_total(root: bytes, size: int, index: int, leaf: bytes, path: list[bytes]) -> None:
    assert merkle.verify_proof(root, size, index, leaf, path) in (True, False)


def test_verify_rejects_wrong_types_without_raising() -> None:
    assert not merkle.verify_proof("x" * 32, 10, 0, b"", [])  # type: ignore[arg-type]
    assert not merkle.verify_proof(bytes(32), 10, 0, b"x" * 10, None)  # type: ignore[arg-type]
    assert not merkle.verify_proof(bytes(32), 10, 0, b"x" * 10, ["a" * 32])  # type: ignore[list-item]
    assert not merkle.verify_proof(bytes(32), 2048, 0, b"x" * 1024, [bytes(32)] * 65)
