"""Erasure coding: any k of n pieces rebuild the segment; repair rebuilds exactly the lost pieces."""

from __future__ import annotations

import itertools
import os
import random

import pytest
import zfec

from opendepin.storage.erasure import (
    STORJ,
    Redundancy,
    decode_segment,
    encode_segment,
    piece_size,
    rebuild_pieces,
    segment_ranges,
)


@pytest.mark.parametrize("length", [0, 1, 3, 4, 5, 1000, 65_537])
def test_every_k_subset_decodes(length: int) -> None:
    segment = os.urandom(length)
    pieces = encode_segment(segment, 4, 8)
    assert len(pieces) == 8 and {len(p) for p in pieces} == {piece_size(length, 4)}
    for subset in itertools.combinations(range(8), 4):
        assert decode_segment({i: pieces[i] for i in subset}, 4, 8, length) == segment


def test_systematic_pieces_are_the_segment() -> None:
    segment = os.urandom(4000)
    pieces = encode_segment(segment, 4, 8)
    assert b"".join(pieces[:4]) == segment


def test_matches_raw_zfec() -> None:
    segment = os.urandom(4096)
    ours = encode_segment(segment, 3, 7)
    blocks = [segment[i * 1366 : (i + 1) * 1366].ljust(1366, b"\x00") for i in range(3)]
    assert [bytes(b) for b in zfec.Encoder(3, 7).encode(blocks)] == ours


def test_too_few_or_wrong_sized_pieces_refused() -> None:
    pieces = encode_segment(os.urandom(100), 4, 8)
    with pytest.raises(ValueError, match="need 4"):
        decode_segment({0: pieces[0], 5: pieces[5], 7: pieces[7]}, 4, 8, 100)
    with pytest.raises(ValueError, match="bytes"):
        decode_segment({0: pieces[0], 1: pieces[1], 2: pieces[2], 3: pieces[3] + b"x"}, 4, 8, 100)


def test_rebuild_restores_exactly_the_missing_pieces() -> None:
    rng = random.Random(7)
    segment = rng.randbytes(10_000)
    pieces = encode_segment(segment, 4, 8)
    for _ in range(20):
        keep = rng.sample(range(8), 4)
        lost = [i for i in range(8) if i not in keep]
        rebuilt = rebuild_pieces({i: pieces[i] for i in keep}, 4, 8, len(segment), lost)
        assert rebuilt == {i: pieces[i] for i in lost}


def test_storj_scheme_round_trips() -> None:
    segment = os.urandom(29 * 256 + 5)
    pieces = encode_segment(segment, STORJ.required, STORJ.total)
    chosen = random.Random(1).sample(range(STORJ.total), STORJ.required)
    assert decode_segment({i: pieces[i] for i in chosen}, STORJ.required, STORJ.total, len(segment)) == segment


def test_redundancy_is_validated() -> None:
    assert str(Redundancy()) == "4/5/6/8"
    for bad in [(0, 1, 2, 3), (4, 3, 6, 8), (4, 6, 6, 8), (4, 5, 9, 8), (4, 5, 6, 300)]:
        with pytest.raises(ValueError):
            Redundancy(*bad)


def test_segment_ranges() -> None:
    assert segment_ranges(0, 10) == [(0, 0)]
    assert segment_ranges(25, 10) == [(0, 10), (10, 10), (20, 5)]
    assert segment_ranges(20, 10) == [(0, 10), (10, 10)]
