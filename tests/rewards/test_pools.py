"""Pools, pro-rata allocation and cumulative totals: integer parts always add up."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opendepin.errors import StageError
from opendepin.network.settings import PoolsSection
from opendepin.rewards.pools import CumulativeLedger, Pools, allocate

shares_strategy = st.dictionaries(
    st.text(alphabet="0123456789abcdef", min_size=1, max_size=6),
    st.integers(min_value=0, max_value=10**20),
    max_size=30,
)


def test_allocate_rounds_down_and_reports_remainder() -> None:
    allocation = allocate(100, {"a": 1, "b": 1, "c": 1})
    assert allocation.amounts == {"a": 33, "b": 33, "c": 33}
    assert allocation.unallocated == 1


def test_allocate_zero_total_shares_leaves_pool_unallocated() -> None:
    allocation = allocate(500, {"a": 0, "b": 0})
    assert allocation.amounts == {"a": 0, "b": 0}
    assert allocation.unallocated == 500


def test_allocate_empty_shares_leaves_pool_unallocated() -> None:
    assert allocate(7, {}).unallocated == 7


def test_allocate_rejects_negative_share() -> None:
    with pytest.raises(ValueError, match="negative share"):
        allocate(10, {"a": 5, "b": -1})


@settings(max_examples=60, deadline=None)
@given(pool=st.integers(min_value=0, max_value=10**30), shares=shares_strategy)
def test_allocate_amounts_plus_remainder_equal_pool(pool: int, shares: dict[str, int]) -> None:
    allocation = allocate(pool, shares)
    assert sum(allocation.amounts.values()) + allocation.unallocated == pool
    assert all(amount >= 0 for amount in allocation.amounts.values())
    assert allocation.unallocated >= 0
    assert set(allocation.amounts) == set(shares)
    if shares and sum(shares.values()) > 0:
        assert allocation.unallocated < len(shares)  # each key loses less than one unit


@settings(max_examples=30, deadline=None)
@given(pool=st.integers(min_value=0, max_value=10**24), shares=shares_strategy)
def test_allocate_result_independent_of_mapping_order(pool: int, shares: dict[str, int]) -> None:
    forward = allocate(pool, shares)
    backward = allocate(pool, dict(reversed(list(shares.items()))))
    assert forward == backward
    assert list(forward.amounts) == list(backward.amounts) == sorted(shares)


def test_pools_split_by_basis_points() -> None:
    split = Pools({"coverage": 6_000, "heartbeat": 3_000}).split(1_001)
    assert split.amounts == {"coverage": 600, "heartbeat": 300}
    assert split.unallocated == 101


@settings(max_examples=60, deadline=None)
@given(
    emission=st.integers(min_value=0, max_value=10**30),
    bps=st.lists(st.integers(min_value=0, max_value=10_000), max_size=6).filter(
        lambda values: sum(values) <= 10_000
    ),
)
def test_pools_split_sums_to_at_most_emission(emission: int, bps: list[int]) -> None:
    split = Pools({f"kind{i}": v for i, v in enumerate(bps)}).split(emission)
    assert sum(split.amounts.values()) <= emission
    assert sum(split.amounts.values()) + split.unallocated == emission


def test_pools_reject_more_than_whole() -> None:
    with pytest.raises(ValueError, match="more than"):
        Pools({"a": 6_000, "b": 4_001})


def test_pools_from_default_settings_use_all_basis_points() -> None:
    pools = Pools.from_settings(PoolsSection())
    assert pools.split(10_000).unallocated == 0


def test_ledger_accumulates_and_sorts_entries() -> None:
    ledger = CumulativeLedger()
    ledger.apply(0, {"0xbb": 5, "0xAA": 1})
    ledger.apply(1, {"0xbb": 2, "0xcc": 0})
    assert ledger.entries() == [("0xAA", 1), ("0xbb", 7), ("0xcc", 0)]
    assert ledger.total() == 8
    assert ledger.last_epoch == 1


def test_ledger_rejects_repeated_epoch_without_change() -> None:
    ledger = CumulativeLedger({"0xaa": 3}, last_epoch=4)
    with pytest.raises(StageError):
        ledger.apply(4, {"0xaa": 1})
    assert ledger.get("0xaa") == 3


def test_ledger_rejects_negative_amount_without_change() -> None:
    ledger = CumulativeLedger()
    with pytest.raises(ValueError):
        ledger.apply(0, {"0xaa": 5, "0xbb": -1})
    assert len(ledger) == 0
    assert ledger.last_epoch is None


@settings(max_examples=40, deadline=None)
@given(
    epochs=st.lists(
        st.dictionaries(
            st.sampled_from(["0x01", "0x02", "0x03", "0x04"]),
            st.integers(min_value=0, max_value=10**24),
        ),
        max_size=10,
    )
)
def test_ledger_totals_never_decrease(epochs: list[dict[str, int]]) -> None:
    ledger = CumulativeLedger()
    paid = 0
    for epoch, amounts in enumerate(epochs):
        before = dict(ledger.entries())
        ledger.apply(epoch, amounts)
        after = dict(ledger.entries())
        assert all(after[account] >= total for account, total in before.items())
        paid += sum(amounts.values())
        assert ledger.total() == paid
