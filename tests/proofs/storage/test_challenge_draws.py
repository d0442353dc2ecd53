"""The audit draw: independent per piece, at the configured rate, uniform over leaves."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from opendepin.proofs.storage.challenge import challenged_leaf, is_challenged


def test_rate_matches_the_probability() -> None:
    entropy = os.urandom(32)
    pieces = [i.to_bytes(32, "big") for i in range(20_000)]
    hits = sum(is_challenged(entropy, p, 125_000) for p in pieces)
    assert 2_300 < hits < 2_700  # 2,500 expected; ±8 standard deviations
    assert all(is_challenged(entropy, p, 1_000_000) for p in pieces[:100])
    assert not any(is_challenged(entropy, p, 0) for p in pieces[:100])


def test_windows_draw_independently() -> None:
    piece = os.urandom(32)
    draws = [is_challenged(os.urandom(32), piece, 500_000) for _ in range(2_000)]
    assert 850 < sum(draws) < 1_150


def test_same_inputs_same_draw_and_leaf_in_range() -> None:
    entropy, piece = os.urandom(32), os.urandom(32)
    assert is_challenged(entropy, piece, 300_000) == is_challenged(entropy, piece, 300_000)
    for leaves in (1, 2, 3, 64, 1_000_000):
        assert 0 <= challenged_leaf(entropy, piece, leaves) < leaves
    counts = Counter(challenged_leaf(os.urandom(32), piece, 4) for _ in range(4_000))
    assert all(850 < counts[i] < 1_150 for i in range(4))
    with pytest.raises(ValueError):
        challenged_leaf(entropy, piece, 0)
