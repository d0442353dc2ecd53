"""Emission schedule: how many token base units each epoch mints.

Two schedules are supported (chosen by `EmissionSection.schedule`):

* **halving** — `amount(e) = per_epoch >> (e // halving_epochs)`: the amount halves every
  `halving_epochs` epochs (Bitcoin-style), the shift rounding down.
* **exponential** — `amount(e) = floor(per_epoch * (1 - ppm / 1_000_000) ** e)`: a constant
  per-epoch decay of `ppm` parts per million.

Rounding (exponential). The amount is the *exact* floor of the real-number product
`per_epoch * (1_000_000 - ppm) ** e / 1_000_000 ** e`, as `Fraction` arithmetic would give it,
not the result of rounding epoch by epoch. It is computed fast and still exactly: a fixed-point
value with `FIXED_POINT_FRACTION_BITS` fractional bits is carried from epoch to epoch (each
step truncates, so after `e` steps it is at most `e` units of 2**-bits below the true value and
never above it); whenever the truncation could have changed the integer part (the carried
value is within `e` units below an integer) the epoch is recomputed with exact big-integer
powers. Amounts are cached, so iterating all epochs up to ~10**5 takes milliseconds.

Supply cap. With `supply_cap` set, emission is clipped so the cumulative emission never
exceeds the cap: `cumulative(e) = min(cap, sum of raw amounts 0..e)` and
`emission(e) = cumulative(e) - cumulative(e - 1)`. The epoch that reaches the cap gets the
part that still fits; every later epoch gets 0.

Everything is integer base units (18 decimals); no floats anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from opendepin.network.settings import EmissionSection

PPM_DENOMINATOR = 1_000_000
"""Parts per million: the denominator of `decay_ppm_per_epoch`."""

FIXED_POINT_FRACTION_BITS = 64
"""Fractional bits of the fixed-point value carried between exponential epochs."""


class ScheduleKind(StrEnum):
    """Name of an emission schedule, as written in network.toml."""

    HALVING = "halving"
    EXPONENTIAL = "exponential"


def exponential_amount_exact(per_epoch: int, decay_ppm: int, epoch: int) -> int:
    """`floor(per_epoch * (1 - decay_ppm/1e6) ** epoch)` with exact big-integer powers.

    The reference definition; `EmissionSchedule` computes the same numbers faster.
    """
    _check_epoch(epoch)
    keep = PPM_DENOMINATOR - decay_ppm
    numerator: int = per_epoch * keep**epoch
    denominator: int = PPM_DENOMINATOR**epoch
    return numerator // denominator


@dataclass(slots=True)
class _ExponentialCache:
    """Raw (uncapped) exponential amounts and prefix sums computed so far."""

    amounts: list[int] = field(default_factory=list)
    prefix: list[int] = field(default_factory=list)
    fixed: int = 0
    """Carried fixed-point value for the next epoch (true value minus < len(amounts) units)."""
    zero_from: int | None = None
    """First epoch whose amount is 0 (all later ones are 0 too), once reached."""


def _extend_exponential(
    cache: _ExponentialCache,
    per_epoch: int,
    decay_ppm: int,
    upto: int,
    fraction_bits: int = FIXED_POINT_FRACTION_BITS,
) -> None:
    """Fill `cache` with raw amounts for epochs 0..upto (inclusive)."""
    keep = PPM_DENOMINATOR - decay_ppm
    one = 1 << fraction_bits
    mask = one - 1
    amounts, prefix = cache.amounts, cache.prefix
    if not amounts:
        cache.fixed = per_epoch << fraction_bits
    fixed = cache.fixed
    running = prefix[-1] if prefix else 0
    for epoch in range(len(amounts), upto + 1):
        if cache.zero_from is not None:
            amount = 0
        else:
            # `fixed` is below the true scaled value by less than `epoch` units; if adding that
            # much could carry into the integer part, settle the epoch exactly.
            if (fixed & mask) + epoch >= one:
                amount = exponential_amount_exact(per_epoch, decay_ppm, epoch)
            else:
                amount = fixed >> fraction_bits
            if amount == 0:
                cache.zero_from = epoch
            fixed = fixed * keep // PPM_DENOMINATOR
        running += amount
        amounts.append(amount)
        prefix.append(running)
    cache.fixed = fixed


def _check_epoch(epoch: int) -> None:
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch}")


@dataclass(frozen=True, slots=True)
class EmissionSchedule:
    """Per-epoch emission in base units, from the `[emission]` settings section."""

    per_epoch: int
    """Emission of epoch 0, base units."""
    kind: ScheduleKind = ScheduleKind.HALVING
    """Which schedule applies."""
    halving_epochs: int = 730
    """Halving period in epochs (kind=halving)."""
    decay_ppm_per_epoch: int = 0
    """Per-epoch decay in parts per million (kind=exponential)."""
    supply_cap: int | None = None
    """Cap on all emission ever, base units; None = uncapped."""
    _cache: _ExponentialCache = field(
        default_factory=_ExponentialCache, compare=False, repr=False, hash=False
    )

    def __post_init__(self) -> None:
        if self.per_epoch < 0:
            raise ValueError("per_epoch must be >= 0")
        if self.halving_epochs <= 0:
            raise ValueError("halving_epochs must be > 0")
        if not 0 <= self.decay_ppm_per_epoch < PPM_DENOMINATOR:
            raise ValueError("decay_ppm_per_epoch must be in [0, 1_000_000)")
        if self.supply_cap is not None and self.supply_cap < 0:
            raise ValueError("supply_cap must be >= 0")

    @classmethod
    def from_settings(cls, section: EmissionSection) -> EmissionSchedule:
        """The schedule a network's `[emission]` section describes."""
        return cls(
            per_epoch=section.per_epoch,
            kind=ScheduleKind(section.schedule),
            halving_epochs=section.halving_epochs,
            decay_ppm_per_epoch=section.decay_ppm_per_epoch,
            supply_cap=section.supply_cap,
        )

    def raw_amount(self, epoch: int) -> int:
        """Amount of `epoch` before the supply cap is applied."""
        _check_epoch(epoch)
        if self.kind is ScheduleKind.HALVING:
            return self.per_epoch >> (epoch // self.halving_epochs)
        self._fill(epoch)
        return self._cache.amounts[epoch]

    def raw_cumulative(self, epoch: int) -> int:
        """Sum of raw amounts of epochs 0..epoch (inclusive), before the cap."""
        _check_epoch(epoch)
        if self.kind is ScheduleKind.HALVING:
            periods, offset = divmod(epoch, self.halving_epochs)
            full = 0
            # Amounts are 0 after bit_length() halvings, so the loop is short.
            for period in range(min(periods, self.per_epoch.bit_length())):
                full += self.halving_epochs * (self.per_epoch >> period)
            return full + (offset + 1) * (self.per_epoch >> periods)
        self._fill(epoch)
        return self._cache.prefix[epoch]

    def cumulative(self, epoch: int) -> int:
        """Total emission of epochs 0..epoch (inclusive), never above the supply cap."""
        raw = self.raw_cumulative(epoch)
        return raw if self.supply_cap is None else min(raw, self.supply_cap)

    def emission(self, epoch: int) -> int:
        """Tokens (base units) epoch `epoch` mints, after the supply cap."""
        before = self.cumulative(epoch - 1) if epoch > 0 else 0
        return self.cumulative(epoch) - before

    def _fill(self, epoch: int) -> None:
        cache = self._cache
        if len(cache.amounts) <= epoch:
            _extend_exponential(cache, self.per_epoch, self.decay_ppm_per_epoch, epoch)
