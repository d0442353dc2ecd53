"""Coverage reward units and hex density scaling, in exact rational arithmetic.

**Units per beacon** (Helium IoT's formula; parameters in `CoverageSection`). With `n` the
number of valid witnesses *selected* for a valid beacon (at most `max_witnesses_per_beacon`),
redundancy `R` = 4, decay `d` = 0.8 and cap `C` = 2:

```
beaconer:     n / R                        if n <= R,   else  min(C, C - d^(n-R))
each witness: 1                            if n <= R,   else  (R - (1 - d^(n-R))) / n
```

so a beacon heard by fewer than R devices pays less, and extra witnesses beyond R share a
slowly growing total instead of multiplying rewards. No witnesses, no units for anyone.

**Hex density scaling** discourages piling devices into one area. Devices *active* in the
density window are counted in their H3 resolution-11 parent cell; counts roll up resolution
by resolution (10 → 4). At each resolution a cell's count is clipped to

```
limit = min(max, target × max(occupied_neighbours − N + 1, 1))
```

where `occupied_neighbours` counts cells of its 1-ring (itself included) whose clipped count
is at least `target`, and (N, target, max) come from `density_resolutions`. The clipped
count, not the raw one, is what rolls up to the parent. A device's scale is the product over
resolutions of clipped / unclipped for its ancestors: 1 in an empty area, smaller where
devices crowd together, and always in (0, 1]. (Clipping order does not matter: limit >= target,
so clipping never moves a cell across the "occupied" threshold.)

**Shares.** A device's units (beaconer plus witness) times its scale, in the fixed-point
scale `SHARES_PER_UNIT` = 10**6 per unit, rounded down. Everything is `fractions.Fraction`
until that final floor, so every oracle computes identical integers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from fractions import Fraction
from functools import lru_cache
from typing import Final

import h3.api.basic_int as h3

from coverage_reference.cells import cell_at_resolution

PPM: Final = 1_000_000
SHARES_PER_UNIT: Final = 1_000_000
"""Fixed-point scale of coverage shares: one reward unit at scale 1 is 10**6 shares."""
DENSITY_BASE_RESOLUTION: Final = 11
"""Devices are counted in their parent cell at this resolution."""

DensityConfig = Mapping[int, tuple[int, int, int]]
"""H3 resolution -> (neighbours N, target, max)."""


@lru_cache(maxsize=64)
def beaconer_units(n: int, redundancy: int = 4, decay_ppm: int = 800_000, cap: int = 2) -> Fraction:
    """Units a beacon earns its sender with `n` selected valid witnesses."""
    if n <= redundancy:
        return Fraction(n, redundancy)
    return min(Fraction(cap), cap - Fraction(decay_ppm, PPM) ** (n - redundancy))


@lru_cache(maxsize=64)
def witness_units(n: int, redundancy: int = 4, decay_ppm: int = 800_000) -> Fraction:
    """Units each of `n` selected valid witnesses of one beacon earns."""
    if n <= 0:
        return Fraction(0)
    if n <= redundancy:
        return Fraction(1)
    return (redundancy - (1 - Fraction(decay_ppm, PPM) ** (n - redundancy))) / n


def _limit(config: tuple[int, int, int], occupied: int) -> int:
    neighbours, target, maximum = config
    return min(maximum, target * max(occupied - neighbours + 1, 1))


def hex_density_scales(
    cells: Iterable[int],
    config: DensityConfig,
    base_resolution: int = DENSITY_BASE_RESOLUTION,
) -> dict[int, Fraction]:
    """Scale for each distinct cell in `cells` (one entry per active device, repeats count).

    `cells` are asserted H3 cells at resolution >= `base_resolution`; the result maps each of
    them to its scale in (0, 1].
    """
    cell_list = list(cells)
    unclipped: dict[int, int] = defaultdict(int)
    clipped: dict[int, int] = {}
    for cell in cell_list:
        unclipped[cell_at_resolution(cell, base_resolution)] += 1
    clipped.update(unclipped)

    level = sorted(unclipped)
    for res in sorted((r for r in config if r < base_resolution), reverse=True):
        parents: set[int] = set()
        for child in level:
            parent = h3.cell_to_parent(child, res)
            unclipped[parent] += clipped[child]
            parents.add(parent)
        raw = {p: unclipped[p] for p in parents}
        target = config[res][1]
        for parent in sorted(parents):
            occupied = sum(1 for n in h3.grid_disk(parent, 1) if raw.get(n, 0) >= target)
            clipped[parent] = min(_limit(config[res], occupied), raw[parent])
        level = sorted(parents)

    scales: dict[int, Fraction] = {}
    resolutions = sorted(r for r in config if r < base_resolution)
    for cell in set(cell_list):
        base = cell_at_resolution(cell, base_resolution)
        numerator = denominator = 1
        for res in resolutions:
            parent = h3.cell_to_parent(base, res)
            numerator *= clipped[parent]
            denominator *= unclipped[parent]
        scales[cell] = Fraction(numerator, denominator)
    return scales


def shares_of(units: Fraction, scale: Fraction) -> int:
    """Integer shares for `units` at density `scale`, rounded down."""
    return int(units * scale * SHARES_PER_UNIT)  # int() of a non-negative Fraction is floor
