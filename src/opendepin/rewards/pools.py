"""Splitting an epoch's emission into pools, pools into amounts, amounts into cumulative totals.

Three integer steps, each rounding down and naming what rounding leaves over:

1. `Pools.split(emission)`: each proof kind gets `emission * bps // 10_000` base units
   (basis points from the `[pools]` section, summing to at most 10_000). Whatever is not
   handed to a kind (unassigned basis points plus rounding) is `PoolSplit.unallocated`.
2. `allocate(pool, shares)`: each key k gets `pool * shares[k] // total_shares`. The
   rounding remainder is `Allocation.unallocated`; with zero total shares the whole pool is.
3. `CumulativeLedger`: the running per-owner totals that the Merkle root commits to
   (owners claim their cumulative amount; the contract pays the difference).

Invariants (checked by property tests in tests/rewards/test_pools.py):

* `sum(split.amounts.values()) + split.unallocated == emission`
* `sum(allocation.amounts.values()) + allocation.unallocated == pool`
* no amount is negative, and a cumulative total never decreases.

Results do not depend on the iteration order of the input mappings: each amount is a
function of its own share and the total only, and result dicts are ordered by sorted key.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from opendepin.errors import StageError
from opendepin.network.settings import PoolsSection

BPS_DENOMINATOR = 10_000
"""Basis points in a whole."""


class _SortableKey(Hashable, Protocol):
    def __lt__(self, other: Any, /) -> bool: ...


K = TypeVar("K", bound=_SortableKey)


@dataclass(frozen=True, slots=True)
class Allocation(Generic[K]):
    """A pool divided among keys in proportion to their shares."""

    pool: int
    """The amount divided, base units."""
    amounts: dict[K, int]
    """Base units per key (every key of the input, 0 for zero shares), ordered by key."""
    unallocated: int
    """What rounding down (or zero total shares) left over: pool - sum(amounts)."""


def allocate(pool: int, shares: Mapping[K, int], withheld: int = 0) -> Allocation[K]:
    """Divide `pool` among `shares` pro rata, rounding each amount down.

    amount_k = pool * share_k // (total_shares + withheld); the remainder is `unallocated`.
    `withheld` shares (`KindResult.withheld_shares`) take their part of the pool but go to
    nobody, so that part stays unallocated too.
    Raises ValueError on a negative pool or a negative share (a scorer bug, not user input).
    """
    if pool < 0:
        raise ValueError(f"pool must be >= 0, got {pool}")
    if withheld < 0:
        raise ValueError(f"withheld shares must be >= 0, got {withheld}")
    total = withheld
    for key, share in shares.items():
        if share < 0:
            raise ValueError(f"negative share {share} for {key!r}")
        total += share
    keys = sorted(shares)
    if total == 0:
        return Allocation(pool=pool, amounts=dict.fromkeys(keys, 0), unallocated=pool)
    amounts = {key: pool * shares[key] // total for key in keys}
    unallocated = pool - sum(amounts.values())
    return Allocation(pool=pool, amounts=amounts, unallocated=unallocated)


@dataclass(frozen=True, slots=True)
class PoolSplit:
    """An epoch's emission divided by proof kind."""

    emission: int
    """The epoch's emission, base units."""
    amounts: dict[str, int]
    """Pool per proof kind, base units, ordered by kind."""
    unallocated: int
    """emission - sum(amounts): unassigned basis points plus rounding."""


@dataclass(frozen=True, slots=True)
class Pools:
    """Basis points of each epoch's emission per proof kind (sum <= 10_000)."""

    bps: Mapping[str, int]
    """Proof kind -> basis points."""

    def __post_init__(self) -> None:
        for kind, value in self.bps.items():
            if value < 0:
                raise ValueError(f"pool {kind!r}: basis points must be >= 0, got {value}")
        total = sum(self.bps.values())
        if total > BPS_DENOMINATOR:
            raise ValueError(f"pools sum to {total} basis points, more than {BPS_DENOMINATOR}")

    @classmethod
    def from_settings(cls, section: PoolsSection) -> Pools:
        """The pools a network's `[pools]` section describes."""
        return cls(bps=dict(section.bps))

    def split(self, emission: int) -> PoolSplit:
        """Each kind's pool: emission * bps // 10_000; the rest is unallocated."""
        if emission < 0:
            raise ValueError(f"emission must be >= 0, got {emission}")
        amounts = {kind: emission * self.bps[kind] // BPS_DENOMINATOR for kind in sorted(self.bps)}
        return PoolSplit(
            emission=emission, amounts=amounts, unallocated=emission - sum(amounts.values())
        )


class CumulativeLedger:
    """Cumulative reward per owner account across epochs (what the Merkle root commits to).

    Accounts are used as given (callers pass EIP-55 checksummed addresses); two spellings of
    one address would be two accounts, which `RewardTree.build` then rejects as a duplicate.
    Epochs must be applied in increasing order, each at most once.
    """

    __slots__ = ("_last_epoch", "_totals")

    def __init__(
        self, totals: Mapping[str, int] | None = None, last_epoch: int | None = None
    ) -> None:
        """Start empty, or resume from `totals` as published after `last_epoch`."""
        self._totals: dict[str, int] = {}
        self._last_epoch = last_epoch
        for account, amount in (totals or {}).items():
            if amount < 0:
                raise ValueError(f"negative cumulative total {amount} for {account}")
            self._totals[account] = amount

    @property
    def last_epoch(self) -> int | None:
        """The last epoch applied (None before the first)."""
        return self._last_epoch

    def apply(self, epoch: int, amounts: Mapping[str, int]) -> None:
        """Add one epoch's per-owner amounts to the totals.

        Raises StageError if `epoch` is not after the last applied epoch (so an epoch can
        never be counted twice) and ValueError on a negative amount (totals never decrease).
        Nothing changes when it raises.
        """
        if self._last_epoch is not None and epoch <= self._last_epoch:
            raise StageError(
                f"epoch {epoch} applied after epoch {self._last_epoch}: ledger epochs must increase"
            )
        for account, amount in amounts.items():
            if amount < 0:
                raise ValueError(f"negative amount {amount} for {account} in epoch {epoch}")
        for account, amount in amounts.items():
            self._totals[account] = self._totals.get(account, 0) + amount
        self._last_epoch = epoch

    def get(self, account: str) -> int:
        """Cumulative total of `account` (0 if never paid)."""
        return self._totals.get(account, 0)

    def total(self) -> int:
        """Sum of all cumulative totals (the distributor's cumulative total)."""
        return sum(self._totals.values())

    def __len__(self) -> int:
        return len(self._totals)

    def entries(self) -> list[tuple[str, int]]:
        """(account, cumulative) pairs sorted by lower-cased account, then account."""
        return sorted(self._totals.items(), key=_account_sort_key)

    def items(self) -> Iterable[tuple[str, int]]:
        """Unordered view of (account, cumulative) pairs."""
        return self._totals.items()


def _account_sort_key(item: tuple[str, int]) -> tuple[str, str]:
    return (item[0].lower(), item[0])
