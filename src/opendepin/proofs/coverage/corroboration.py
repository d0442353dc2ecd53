"""Location corroboration: does what independent witnesses heard fit where a beaconer says it is?

A device asserts an H3 cell on chain, and every distance rule reads that cell. A smart spoofer
stands among honest devices, asserts a spot 20–80 km away and turns its real transmit power
down, so each witness's RSSI is *weaker* than free space allows over the asserted distance and
passes every per-report rule. What it cannot fake is how the RSSI its honest neighbours measure
falls with distance from *where it really is*: witnesses 500 m away hear it 20–30 dB louder than
witnesses 5 km away, while from 50 km away every witness is about equally far.

**The model.** Log-distance path loss with log-normal shadowing, the model every radio planner
uses (and `radio.SimulatedRadio` simulates):

```
y_i = A_j − 10·n·log10(d(p, w_i)) + ε_i,      ε_i ~ Normal(0, σ²)
```

`y_i` is witness i's RSSI minus its (capped) antenna gain, `w_i` its asserted position, `p` the
transmitter, `j` the beacon it heard: `A_j` (transmit power and gain, free per beacon, so turning
the power up or down between beacons changes nothing) and the exponent `n ∈ [n_min, n_max]` are
fitted. For a candidate `p` the least-squares fit is closed form (per-beacon centring, one
clamped slope), so its residual `RSS(p)` costs a few array operations.

**The test** is a likelihood ratio: `Λ = (RSS(asserted) − min_p RSS(p)) / σ²`, minimised over a
coarse grid spanning the witnesses and the asserted spot, refined twice around its best point.
No few witnesses decide. Before the test, witnesses whose receptions fit the asserted spot worse
than 3σ on average are left out, at most `trim_ppm` (a fifth) of them, worst first: a claim that
is true is then judged by its consistent majority, and a false claim still by four fifths of
its witnesses. Then the gain of the best spot over the asserted one is split by witness and
at least `min_support_ppm` (half) of the witnesses must themselves fit the best spot better; a
network may also discount the `robust_witnesses` largest shares before Λ is compared
(`location_robust_witnesses`, default 0: in the simulator a discount of even one witness let
low-power spoofers in a dense network through). So hostile radios beside an honest device — or
spoofers reporting its beacons at levels fitted to their own false positions — cannot frame it
unless they are at least as many as its honest witnesses.
When the assertion is true, Λ is small (about χ² with 2 degrees of freedom: the fit merely
gained two free coordinates); when the radio is elsewhere, the asserted spot explains the
RSSI pattern badly and Λ grows with every witness. A location is

* **contradicted** when Λ ≥ `location_lr_threshold` *and* the best spot is at least
  `location_min_offset_m` away (a few hundred metres of error is not worth a penalty). The
  penalty is graded: factor 1 at the threshold falling linearly to 0 at twice it;
* **corroborated** when at least `location_min_witnesses` distinct independent witnesses were
  fitted and it is not contradicted;
* **uncorroborated** otherwise (too little evidence either way; no penalty, but it is said).

Only *independent* evidence counts: valid witness reports of another owner, in good standing
(not in a closed cluster, not themselves contradicted). Witnesses judged too loud for the
asserted distance (`bad_rssi`) are left out although such a reception says the beaconer is
closer than it claims: an absurd level is exactly what a hostile radio next to an honest device
would report to frame it.

Numbers are quantised before any decision (Λ in hundredths, distances in whole metres), so
oracles agree unless a value sits within float rounding of a quantisation step.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, NamedTuple, TypeVar

import numpy as np

from opendepin.cores import usable_cores
from opendepin.proofs.coverage.cells import EARTH_RADIUS_M

COARSE_STEPS: Final = 6
"""Coarse grid: this many points per axis over the search box."""
REFINE_STEPS: Final = 5
"""Each refinement: this many points per axis around the best point so far."""
REFINEMENTS: Final = 2
SEED_SIZES: Final = (2, 3, 5, 8, 13)
"""Candidates besides the grid: the centroids of the 2, 3, 5 … loudest witnesses (the radio is
usually among the witnesses that hear it best; a witness's own spot is a poor candidate, as
its distance there is 0)."""
MIN_LOG_DISTANCE_M: Final = 100.0
"""Distances below this are taken as this: the grid-distance rule already refuses witnesses
closer than a few hundred metres, and log10(d) must not blow up next to a witness."""
MAX_OBSERVATIONS: Final = 4_096
"""Most observations one fit reads (the loudest are kept): bounds the work per device."""


class LocationStatus(StrEnum):
    CORROBORATED = "corroborated"
    UNCORROBORATED = "uncorroborated"
    CONTRADICTED = "contradicted"


class Observation(NamedTuple):
    """One independent witness's reception of one beacon, as the fit reads it (a NamedTuple:
    one is built per reception in the hot path)."""

    witness_lat: float
    """Asserted position of the witness (degrees)."""
    witness_lng: float
    level_cdbm: int
    """RSSI minus the witness's capped antenna gain, centi-dBm."""
    beacon: int
    """Which beacon (any integer identifying it within the device's observations)."""
    witness: str
    """The witness device (distinct witnesses are counted)."""


@dataclass(frozen=True, slots=True)
class LocationFit:
    """The outcome of the test for one beaconer."""

    status: LocationStatus
    witnesses: int
    """Distinct witnesses whose receptions were fitted."""
    observations: int
    lr_centi: int
    """Λ × 100, rounded."""
    support_ppm: int
    """Share (ppm) of the fitted witnesses whose own receptions fit the best spot better than
    the asserted one: a contradiction needs at least `min_support_ppm` of them."""
    offset_m: int
    """Distance from the asserted spot to the best-fitting one."""
    best_lat: float
    best_lng: float
    exponent_centi: int
    """Path-loss exponent fitted at the best spot, × 100."""
    trimmed: int = 0
    """Witnesses left out as outliers at the asserted spot (see `FitParams.trim_ppm`)."""

    def summary(self) -> dict[str, int | float]:
        """The figures an explanation publishes."""
        return {
            "witnesses": self.witnesses, "observations": self.observations, "lr": self.lr_centi / 100,
            "support": self.support_ppm / 1_000_000, "offset_m": self.offset_m,
            "exponent": self.exponent_centi / 100, "trimmed": self.trimmed,
        }


@dataclass(frozen=True, slots=True)
class FitParams:
    sigma_cdb: int
    min_exponent_centi: int
    max_exponent_centi: int
    lr_threshold_centi: int
    min_offset_m: int
    min_witnesses: int
    robust_witnesses: int = 0
    """The evidence of this many most influential witnesses is discounted (see `robust`)."""
    min_support_ppm: int = 500_000
    """A contradiction needs this share of witnesses on its side (see the module docstring)."""
    trim_ppm: int = 200_000
    """At most this share of the witnesses — those whose receptions fit the asserted spot worst,
    beyond 3σ — is left out before the test (see the module docstring)."""


_T = TypeVar("_T")
_R = TypeVar("_R")

MAX_FIT_THREADS: Final = 8
"""Most threads the fits of one epoch run on."""
PREPARE_ROWS: Final = 1 << 16
"""Devices are prepared in parts of at least this many observations (see `fit_location_segments`)."""
BATCH_ELEMENTS: Final = 1 << 21
"""Devices are fitted together in batches of about this many (device × candidate × observation)
array elements: vectorised across devices, bounded in memory."""


@dataclass(frozen=True, slots=True)
class _Problem:
    """One beaconer's observations, prepared: local metres around the asserted spot, levels
    centred per beacon, the loudest-first seed points."""

    lat0: float
    lng0: float
    xy: np.ndarray
    y_c: np.ndarray
    groups: np.ndarray
    counts: np.ndarray
    seeds: np.ndarray
    witnesses: int
    who: np.ndarray
    """Dense witness index of each observation (for the per-witness influence)."""
    trimmed: int = 0


@dataclass(frozen=True, slots=True)
class Columns:
    """One device's observations as columns (what `trust` builds without an object per
    reception): witness positions, levels (centi-dBm), beacon ids, and witness ids as integers
    whose order is the witnesses' canonical (id) order."""

    lat: np.ndarray
    lng: np.ndarray
    level: np.ndarray
    beacon: np.ndarray
    who: np.ndarray

    @classmethod
    def of(cls, observations: Sequence[Observation]) -> Columns:
        names = sorted({o.witness for o in observations})
        rank = {w: i for i, w in enumerate(names)}
        return cls(
            np.array([o.witness_lat for o in observations], dtype=np.float64),
            np.array([o.witness_lng for o in observations], dtype=np.float64),
            np.array([o.level_cdbm for o in observations], dtype=np.int64),
            np.array([o.beacon for o in observations], dtype=np.int64),
            np.array([rank[o.witness] for o in observations], dtype=np.int64),
        )


def _prepare(asserted: tuple[float, float], c: Columns, p: FitParams, trim: bool = True) -> _Problem | LocationFit:
    lat0, lng0 = asserted
    # Loudest first, ties by witness then beacon: the order every later step depends on.
    order = np.lexsort((c.beacon, c.who, -c.level))[:MAX_OBSERVATIONS]
    beacon = c.beacon[order]
    # A beacon heard once says nothing about distance once its level A_j is fitted.
    _, groups, counts_all = np.unique(beacon, return_inverse=True, return_counts=True)
    keep = counts_all[groups] >= 2
    order = order[keep]
    who_raw = c.who[order]
    names, who = np.unique(who_raw, return_inverse=True)  # `who`: dense witness index
    witnesses = len(names)
    if witnesses < p.min_witnesses:
        return LocationFit(LocationStatus.UNCORROBORATED, witnesses, len(order), 0, 0, 0, lat0, lng0, 0)
    k = math.radians(1.0) * EARTH_RADIUS_M
    lat, lng = c.lat[order], c.lng[order]
    xy = np.stack(((lng - lng0) * k * math.cos(math.radians(lat0)), (lat - lat0) * k), axis=1)
    groups = np.unique(c.beacon[order], return_inverse=True)[1]  # dense 0..K-1 over the kept beacons
    counts = np.bincount(groups).astype(np.float64)
    y = c.level[order] / 100.0
    y_c = y - (np.bincount(groups, weights=y) / counts)[groups]
    sums = np.cumsum(xy, axis=0)
    seeds = np.array([sums[min(n, len(xy)) - 1] / min(n, len(xy)) for n in SEED_SIZES])  # loudest first
    if trim:
        drop = _outliers(xy, y_c, groups, counts, who, p)
        if len(drop):
            keep_rows = ~np.isin(who, drop)
            kept = order[keep_rows]
            trimmed = Columns(c.lat[kept], c.lng[kept], c.level[kept], c.beacon[kept], c.who[kept])
            again = _prepare(asserted, trimmed, p, trim=False)
            return dataclasses.replace(again, trimmed=len(drop))
    return _Problem(lat0, lng0, xy, y_c, groups, counts, seeds, witnesses, who)


def _outliers(
    xy: np.ndarray, y_c: np.ndarray, groups: np.ndarray, counts: np.ndarray, who: np.ndarray, p: FitParams
) -> np.ndarray:
    """Witnesses (dense indexes) to leave out: the worst-fitting at the asserted spot, each
    beyond 3σ on average, at most `trim_ppm` of them."""
    limit = (len(np.unique(who)) * p.trim_ppm) // 1_000_000
    if limit <= 0:
        return np.zeros(0, dtype=np.int64)
    logd = 0.5 * np.log10(np.maximum(xy[:, 0] ** 2 + xy[:, 1] ** 2, MIN_LOG_DISTANCE_M**2))
    logd_c = logd - (np.bincount(groups, weights=logd) / counts)[groups]
    sxx, sxy = float(logd_c @ logd_c), float(logd_c @ y_c)
    n = p.min_exponent_centi / 100.0 if sxx <= 0 else -sxy / (10.0 * sxx)
    n = min(max(n, p.min_exponent_centi / 100.0), p.max_exponent_centi / 100.0)
    r2 = (y_c + 10.0 * n * logd_c) ** 2
    per = np.bincount(who, weights=r2) / np.bincount(who)
    bad = np.flatnonzero(per > 9.0 * (p.sigma_cdb / 100.0) ** 2)
    worst = bad[np.lexsort((bad, -per[bad]))][:limit]
    return np.sort(worst)


@dataclass(frozen=True, slots=True)
class _Rows:
    """Where the rows of problems of `sizes` rows each go when laid out one after another."""

    starts: np.ndarray
    """First row of each problem."""
    problem: np.ndarray
    """Problem of each row."""
    row: np.ndarray
    """Row of each row within its problem."""

    @classmethod
    def of(cls, sizes: np.ndarray) -> _Rows:
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
        problem = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
        return cls(starts, problem, np.arange(int(sizes.sum()), dtype=np.int64) - starts[problem])


@dataclass
class _Batch:
    """Padded arrays for a batch of problems (pads are masked out of every sum)."""

    xy: np.ndarray  # (D, N, 2)
    y_c: np.ndarray  # (D, N)
    mask: np.ndarray  # (D, N)
    weights: np.ndarray  # (D, N, K): 1/count of the observation's beacon, 0 for pads
    member: np.ndarray  # (D, K, N): 1 where observation n is of beacon k (0 for pads)
    yy: np.ndarray  # (D,)

    @classmethod
    def of(cls, problems: Sequence[_Problem]) -> _Batch:
        d = len(problems)
        sizes = np.array([len(q.y_c) for q in problems], dtype=np.int64)
        n = int(sizes.max())
        kk = max(len(q.counts) for q in problems)
        xy = np.zeros((d, n, 2))
        y_c = np.zeros((d, n))
        mask = np.zeros((d, n))
        weights = np.zeros((d, n, kk))
        member = np.zeros((d, kk, n))
        # Every problem's rows at once: row i of problem j goes to [j, i] (values copied as
        # they are, so the arrays are the ones a loop over the problems fills).
        at = _Rows.of(sizes)
        groups = np.concatenate([q.groups for q in problems])
        xy[at.problem, at.row] = np.concatenate([q.xy for q in problems])
        y_c[at.problem, at.row] = np.concatenate([q.y_c for q in problems])
        mask[at.problem, at.row] = 1.0
        weights[at.problem, at.row, groups] = 1.0 / np.concatenate([q.counts[q.groups] for q in problems])
        member[at.problem, groups, at.row] = 1.0
        return cls(xy, y_c, mask, weights, member, np.sum(y_c * y_c, axis=1))

    def centred_logd(self, points: np.ndarray) -> np.ndarray:
        """log10 distance from each candidate to each witness, centred per beacon (D, C, N)."""
        dx = points[:, :, None, 0] - self.xy[:, None, :, 0]
        dy = points[:, :, None, 1] - self.xy[:, None, :, 1]
        # 0.5 · log10(max(dx² + dy², MIN²)), computed in place (the same operations, without
        # a new array of D × C × N for each).
        np.multiply(dx, dx, out=dx)
        np.multiply(dy, dy, out=dy)
        np.add(dx, dy, out=dx)
        np.maximum(dx, MIN_LOG_DISTANCE_M**2, out=dx)
        np.log10(dx, out=dx)
        logd = np.multiply(0.5, dx, out=dx)
        means = logd @ self.weights  # (D, C, K): per-beacon mean of log-distance
        out: np.ndarray = np.subtract(logd, means @ self.member, out=logd)
        np.multiply(out, self.mask[:, None, :], out=out)
        return out

    def residuals(self, points: np.ndarray, n: np.ndarray) -> np.ndarray:
        """Squared residual of every observation (D, N) at one point per device, exponent `n`."""
        r = self.y_c + 10.0 * n[:, None] * self.centred_logd(points[:, None, :])[:, 0, :]
        out: np.ndarray = r * r * self.mask
        return out

    def rss(self, points: np.ndarray, n_lo: float, n_hi: float) -> tuple[np.ndarray, np.ndarray]:
        """Residual sum of squares (dB²) and fitted exponent of each (device, candidate point)."""
        logd_c = self.centred_logd(points)
        product = logd_c * logd_c
        sxx = np.sum(product, axis=2)
        sxy = np.sum(np.multiply(logd_c, self.y_c[:, None, :], out=product), axis=2)
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = np.where(sxx > 0, -sxy / (10.0 * sxx), n_lo)
        n = np.clip(slope, n_lo, n_hi)
        rss = self.yy[:, None] + 20.0 * n * sxy + 100.0 * n * n * sxx
        return np.maximum(rss, 0.0), n


def _fit_batch(problems: Sequence[_Problem], p: FitParams) -> list[LocationFit]:
    batch = _Batch.of(problems)
    d = len(problems)
    n_lo, n_hi = p.min_exponent_centi / 100.0, p.max_exponent_centi / 100.0
    origin = np.zeros((d, 1, 2))
    rss_asserted, n_asserted = batch.rss(origin, n_lo, n_hi)
    at = _Rows.of(np.array([len(q.y_c) for q in problems], dtype=np.int64))
    xy_all = np.concatenate([q.xy for q in problems])  # every problem has a row
    lo = np.minimum(np.minimum.reduceat(xy_all, at.starts, axis=0), 0.0)
    hi = np.maximum(np.maximum.reduceat(xy_all, at.starts, axis=0), 0.0)
    pad = np.maximum((hi - lo) * 0.1, 500.0)
    lo, hi = lo - pad, hi + pad
    t = np.linspace(0.0, 1.0, COARSE_STEPS)
    gx = lo[:, None, 0] + t[None, :] * (hi - lo)[:, None, 0]
    gy = lo[:, None, 1] + t[None, :] * (hi - lo)[:, None, 1]
    grid = np.stack(
        (np.repeat(gx, COARSE_STEPS, axis=1), np.tile(gy, (1, COARSE_STEPS))), axis=-1
    )  # (D, COARSE², 2)
    seeds = np.stack([q.seeds for q in problems])
    candidates = np.concatenate((origin, seeds, grid), axis=1)
    rss, n = batch.rss(candidates, n_lo, n_hi)
    rows = np.arange(d)
    best = np.argmin(rss, axis=1)
    best_point, best_rss, best_n = candidates[rows, best], rss[rows, best], n[rows, best]
    step = (hi - lo) / (COARSE_STEPS - 1)
    o = np.linspace(-1.0, 1.0, REFINE_STEPS)
    local = np.stack((np.repeat(o, REFINE_STEPS), np.tile(o, REFINE_STEPS)), axis=-1)  # (R², 2)
    for _ in range(REFINEMENTS):
        candidates = best_point[:, None, :] + local[None, :, :] * step[:, None, :]
        rss, n = batch.rss(candidates, n_lo, n_hi)
        i = np.argmin(rss, axis=1)
        better = rss[rows, i] < best_rss
        best_point = np.where(better[:, None], candidates[rows, i], best_point)
        best_n = np.where(better, n[rows, i], best_n)
        best_rss = np.where(better, rss[rows, i], best_rss)
        step = step * 2.0 / (REFINE_STEPS - 1)
    # Robustness: the gain of the best spot over the asserted one, witness by witness; the
    # `robust_witnesses` largest gains are not counted, so no one or two witnesses (a hostile
    # radio reporting an absurd level next to an honest beaconer) can contradict a location.
    gain = batch.residuals(origin[:, 0, :], n_asserted[:, 0]) - batch.residuals(best_point, best_n)
    # Per witness of each problem (one bincount for all: each bin adds in row order, as one
    # bincount per problem would).
    n_witnesses = np.array([len(q.who) and int(q.who.max()) + 1 for q in problems], dtype=np.int64)
    first_witness = np.concatenate(([0], np.cumsum(n_witnesses)[:-1])).astype(np.int64)
    who = np.concatenate([q.who for q in problems]) + first_witness[at.problem]
    per_witness_all = np.bincount(who, weights=gain[at.problem, at.row], minlength=int(n_witnesses.sum()))
    positive = np.add.reduceat((per_witness_all > 0).astype(np.int64), first_witness)
    support = (1_000_000 * positive) // n_witnesses
    discount = np.zeros(d)
    if p.robust_witnesses:
        for j in range(d):
            per_witness = per_witness_all[first_witness[j]:first_witness[j] + n_witnesses[j]]
            top = np.sort(per_witness)[::-1][: p.robust_witnesses]
            discount[j] = float(np.sum(np.maximum(top, 0.0)))
    sigma2 = (p.sigma_cdb / 100.0) ** 2
    k = math.radians(1.0) * EARTH_RADIUS_M
    out = []
    for j, q in enumerate(problems):
        lr = (float(rss_asserted[j, 0]) - float(best_rss[j]) - discount[j]) / sigma2
        lr_centi = max(0, round(100.0 * lr))
        bx, by = float(best_point[j, 0]), float(best_point[j, 1])
        offset_m = round(math.hypot(bx, by))
        support_ppm = int(support[j])
        contradicted = (
            lr_centi >= p.lr_threshold_centi and offset_m >= p.min_offset_m and support_ppm >= p.min_support_ppm
        )
        out.append(LocationFit(
            LocationStatus.CONTRADICTED if contradicted else LocationStatus.CORROBORATED,
            q.witnesses, len(q.y_c), lr_centi, support_ppm, offset_m,
            q.lat0 + by / k, q.lng0 + bx / (k * math.cos(math.radians(q.lat0))), round(100 * float(best_n[j])),
            q.trimmed,
        ))
    return out


def fit_locations(
    problems: Sequence[tuple[tuple[float, float], Sequence[Observation] | Columns]], p: FitParams
) -> list[LocationFit]:
    """`fit_location` for many beaconers at once (vectorised in bounded batches), in order.

    Each device's result is the same as fitting it alone: every device is fitted on its own
    arrays; the batch only shares the loop."""
    prepared = [
        _prepare(asserted, obs if isinstance(obs, Columns) else Columns.of(obs), p) for asserted, obs in problems
    ]
    return _fit_prepared(prepared, p)


def _fit_prepared(prepared: Sequence[_Problem | LocationFit], p: FitParams) -> list[LocationFit]:
    """Fit the prepared problems (in bounded batches of similar size), in order."""
    out: list[LocationFit | None] = [x if isinstance(x, LocationFit) else None for x in prepared]
    todo = sorted((i for i, x in enumerate(prepared) if isinstance(x, _Problem)),
                  key=lambda i: len(_as_problem(prepared[i]).y_c))
    candidates = 1 + len(SEED_SIZES) + COARSE_STEPS * COARSE_STEPS
    chunks: list[list[int]] = []
    start = 0
    while start < len(todo):
        width = len(_as_problem(prepared[todo[start]]).y_c)
        end = start + 1
        while end < len(todo):
            width = max(width, len(_as_problem(prepared[todo[end]]).y_c))
            if (end - start + 1) * width * candidates > BATCH_ELEMENTS:
                break
            end += 1
        chunks.append(todo[start:end])
        start = end
    def fit(chunk: list[int]) -> list[LocationFit]:
        return _fit_batch([_as_problem(prepared[i]) for i in chunk], p)

    for chunk, fits in zip(chunks, _map(fit, chunks), strict=True):
        for i, done in zip(chunk, fits, strict=True):
            out[i] = done
    return [f for f in out if f is not None]


def fit_threads() -> int:
    """Threads the fits run on: the cores this process may use (at most `MAX_FIT_THREADS`)."""
    return min(usable_cores(), MAX_FIT_THREADS)


def _map(fn: Callable[[_T], _R], items: Sequence[_T]) -> list[_R]:
    """`[fn(x) for x in items]`, on `fit_threads()` threads when there is more than one item.

    The fits are numpy array operations on arrays of a few megabytes, which run without the
    GIL, so threads share the cores without pickling anything. Each item is computed exactly
    as it would be alone — which thread runs it changes no bit. A pool per call (its threads
    start in microseconds) also stays correct in a process forked while another thread of its
    parent held a pool."""
    threads = min(fit_threads(), len(items))
    if threads <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(threads, thread_name_prefix="location-fit") as pool:
        return list(pool.map(fn, items))


# ---------------------------------------------------------------------------------------------
# Many devices at once: `_prepare` on one set of columns for every device (no sort, unique or
# bincount per device), for the epoch's thousands of small problems. The same arithmetic on the same values
# in the same order, so each problem is bit for bit the one `_prepare` builds: per-beacon and
# per-witness sums are `np.bincount`s (which add in row order, bin by bin), prefix sums are
# the same sequential additions as `np.cumsum`, elementwise maths is elementwise, and the two
# dot products of the outlier test run per device on its own contiguous slice, as `_prepare`
# runs them. `test_corroboration` checks the two paths agree on random problems.


@dataclass(frozen=True, slots=True)
class Segments:
    """Many devices' observations as one set of columns: device j's rows are
    `starts[j]:starts[j + 1]` (the same as one `Columns` per device)."""

    asserted: Sequence[tuple[float, float]]
    """Asserted (lat, lng) of each device."""
    starts: np.ndarray
    """len(asserted) + 1 row offsets, non-decreasing, from 0 to the number of rows."""
    lat: np.ndarray
    lng: np.ndarray
    level: np.ndarray
    beacon: np.ndarray
    who: np.ndarray

    @classmethod
    def of(cls, problems: Sequence[tuple[tuple[float, float], Columns]]) -> Segments:
        sizes = [len(c.level) for _, c in problems]
        starts = np.concatenate(([0], np.cumsum(sizes, dtype=np.int64))).astype(np.int64)

        def cat(name: str, dtype: type) -> np.ndarray:
            parts: list[np.ndarray] = [np.asarray(getattr(c, name), dtype=dtype) for _, c in problems]
            return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

        return cls([a for a, _ in problems], starts, cat("lat", np.float64), cat("lng", np.float64),
                   cat("level", np.int64), cat("beacon", np.int64), cat("who", np.int64))

    def parts(self, rows: int) -> list[Segments]:
        """The devices in consecutive parts of about `rows` observations each (at least one
        device per part; one part, `self`, when all fit)."""
        total = int(self.starts[-1])
        n_dev = len(self.asserted)
        if total <= rows or n_dev <= 1:
            return [self]
        cuts = [0]
        for k in range(1, -(-total // rows)):
            cut = int(np.searchsorted(self.starts, k * rows, side="left"))
            if cuts[-1] < cut < n_dev:
                cuts.append(cut)
        cuts.append(n_dev)
        out = []
        for a, b in itertools.pairwise(cuts):
            s, e = int(self.starts[a]), int(self.starts[b])
            out.append(Segments(self.asserted[a:b], self.starts[a:b + 1] - s, self.lat[s:e], self.lng[s:e],
                                self.level[s:e], self.beacon[s:e], self.who[s:e]))
        return out


def _groups_within(dev: np.ndarray, key: np.ndarray, n_dev: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The distinct keys of each device, numbered in (device, key) order: per row its group
    (global) and its group's rank among the device's (what `np.unique(key,
    return_inverse=True)` gives on the device's rows alone); per device its number of groups
    and its first group."""
    n = len(dev)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(n_dev, dtype=np.int64), np.zeros(n_dev, dtype=np.int64)
    low = int(key.min())
    span = int(key.max()) - low + 1
    if n_dev * span < 1 << 62:
        # One int64 per (device, key), ordered as the pairs are: one sort instead of two.
        distinct, gid = np.unique(dev * span + (key - low), return_inverse=True)
        group_dev = distinct // span
    else:
        order = np.lexsort((key, dev))
        d, k = dev[order], key[order]
        new = np.ones(n, dtype=bool)
        new[1:] = (d[1:] != d[:-1]) | (k[1:] != k[:-1])
        gid = np.empty(n, dtype=np.int64)
        gid[order] = np.cumsum(new) - 1
        group_dev = d[new]
    per_dev = np.bincount(group_dev, minlength=n_dev).astype(np.int64)
    first = np.zeros(n_dev, dtype=np.int64)
    first[1:] = np.cumsum(per_dev)[:-1]
    return gid, gid - first[dev], per_dev, first


def _prepare_segments(seg: Segments, p: FitParams, trim: bool = True) -> list[_Problem | LocationFit]:
    """`_prepare` of every device of `seg`, in order (see the section comment)."""
    n_dev = len(seg.asserted)
    if n_dev == 0:
        return []
    dev = np.repeat(np.arange(n_dev, dtype=np.int64), np.diff(seg.starts))
    # Loudest first, ties by witness then beacon, per device; then at most MAX_OBSERVATIONS.
    order = _loudest_first(dev, seg.level, seg.who, seg.beacon)
    rank = np.arange(len(order), dtype=np.int64) - seg.starts[dev[order]]
    order = order[rank < MAX_OBSERVATIONS]
    dev_o = dev[order]
    # A beacon heard once says nothing about distance once its level A_j is fitted.
    gid, _, _, _ = _groups_within(dev_o, seg.beacon[order], n_dev)
    order = order[np.bincount(gid)[gid] >= 2] if len(gid) else order
    dev_o = dev[order]
    observations = np.bincount(dev_o, minlength=n_dev)
    _, _, witnesses, _ = _groups_within(dev_o, seg.who[order], n_dev)
    out: list[_Problem | LocationFit | None] = [None] * n_dev
    active = witnesses >= p.min_witnesses
    for j in np.flatnonzero(~active).tolist():
        lat0, lng0 = seg.asserted[j]
        out[j] = LocationFit(
            LocationStatus.UNCORROBORATED, int(witnesses[j]), int(observations[j]), 0, 0, 0, lat0, lng0, 0
        )
    order = order[active[dev_o]]
    if len(order) == 0:
        return [x for x in out if x is not None]
    dev_o = dev[order]
    who_g, who, _, _ = _groups_within(dev_o, seg.who[order], n_dev)
    groups_g, groups, n_beacons, first_beacon = _groups_within(dev_o, seg.beacon[order], n_dev)
    starts = np.zeros(n_dev + 1, dtype=np.int64)
    starts[1:] = np.cumsum(np.bincount(dev_o, minlength=n_dev))

    k = math.radians(1.0) * EARTH_RADIUS_M
    lat0s = np.array([a[0] for a in seg.asserted], dtype=np.float64)
    lng0s = np.array([a[1] for a in seg.asserted], dtype=np.float64)
    cos0s = np.array([math.cos(math.radians(a[0])) for a in seg.asserted], dtype=np.float64)
    lat, lng = seg.lat[order], seg.lng[order]
    xy = np.stack(((lng - lng0s[dev_o]) * k * cos0s[dev_o], (lat - lat0s[dev_o]) * k), axis=1)
    counts = np.bincount(groups_g).astype(np.float64)
    y = seg.level[order] / 100.0
    y_c = y - (np.bincount(groups_g, weights=y) / counts)[groups_g]
    seeds = _seeds(xy, starts, np.flatnonzero(active))

    if trim:
        drop = _outliers_segments(xy, y_c, groups_g, counts, who_g, who, dev_o, starts, witnesses, active, p)
        witness_dev = np.zeros(len(drop), dtype=np.int64)
        witness_dev[who_g] = dev_o
        dropped = np.bincount(witness_dev[drop], minlength=n_dev)  # witnesses left out, per device
        again = np.flatnonzero(dropped > 0)
        if len(again):
            rows = order[(dropped[dev_o] > 0) & ~drop[who_g]]
            sizes = np.bincount(dev[rows], minlength=n_dev)[again]
            trimmed = Segments(
                [seg.asserted[j] for j in again.tolist()],
                np.concatenate(([0], np.cumsum(sizes))).astype(np.int64),
                seg.lat[rows], seg.lng[rows], seg.level[rows], seg.beacon[rows], seg.who[rows],
            )
            for j, x in zip(again.tolist(), _prepare_segments(trimmed, p, trim=False), strict=True):
                out[j] = dataclasses.replace(x, trimmed=int(dropped[j]))

    for j, row in zip(np.flatnonzero(active).tolist(), range(len(seeds)), strict=True):
        if out[j] is not None:
            continue
        s, e = int(starts[j]), int(starts[j + 1])
        b0 = int(first_beacon[j])
        lat_j, lng_j = seg.asserted[j]
        out[j] = _Problem(lat_j, lng_j, xy[s:e], y_c[s:e], groups[s:e], counts[b0:b0 + int(n_beacons[j])],
                          seeds[row], int(witnesses[j]), who[s:e])
    return [x for x in out if x is not None]


def _loudest_first(dev: np.ndarray, level: np.ndarray, who: np.ndarray, beacon: np.ndarray) -> np.ndarray:
    """`np.lexsort((beacon, who, -level, dev))`, as two stable sorts of one int64 key each
    (by witness and beacon, then by device and level) when the keys fit."""
    if len(dev) == 0:
        return np.zeros(0, dtype=np.int64)
    span_w = int(who.max()) - int(who.min()) + 1
    span_b = int(beacon.max()) - int(beacon.min()) + 1
    span_q = int(level.max()) - int(level.min()) + 1
    if span_w * span_b >= 1 << 62 or (int(dev.max()) + 1) * span_q >= 1 << 62:
        return np.lexsort((beacon, who, -level, dev))
    w, b, q = who - who.min(), beacon - beacon.min(), level.max() - level
    order = np.argsort(w * span_b + b, kind="stable")
    return order[np.argsort((dev * span_q + q)[order], kind="stable")]


def _seeds(xy: np.ndarray, starts: np.ndarray, devices: np.ndarray) -> np.ndarray:
    """`_prepare`'s seed points of each of `devices` (at least one row each): the centroids of
    its 2, 3, 5 … first rows, from the running sums `np.cumsum` adds (one row at a time)."""
    s = starts[devices]
    length = starts[devices + 1] - s
    acc = xy[s]
    sums = [acc]
    for j in range(1, max(SEED_SIZES)):
        has = j < length
        acc = np.where(has[:, None], acc + xy[np.where(has, s + j, s)], acc)
        sums.append(acc)
    running = np.stack(sums)  # (max(SEED_SIZES), devices, 2)
    cols = []
    for n in SEED_SIZES:
        m = np.minimum(n, length)
        cols.append(running[m - 1, np.arange(len(devices))] / m[:, None])
    return np.stack(cols, axis=1)  # (devices, len(SEED_SIZES), 2)


def _outliers_segments(
    xy: np.ndarray, y_c: np.ndarray, groups: np.ndarray, counts: np.ndarray, who_g: np.ndarray,
    who: np.ndarray, dev: np.ndarray, starts: np.ndarray, witnesses: np.ndarray, active: np.ndarray,
    p: FitParams,
) -> np.ndarray:
    """`_outliers` of every active device: a mask over the (device, witness) groups `who_g`
    numbers, true for each witness to leave out."""
    n_groups = int(who_g.max()) + 1
    limit = (witnesses * p.trim_ppm) // 1_000_000
    todo = np.flatnonzero(active & (limit > 0))
    drop = np.zeros(n_groups, dtype=bool)
    if len(todo) == 0:
        return drop
    logd = 0.5 * np.log10(np.maximum(xy[:, 0] ** 2 + xy[:, 1] ** 2, MIN_LOG_DISTANCE_M**2))
    logd_c = logd - (np.bincount(groups, weights=logd) / counts)[groups]
    lo, hi = p.min_exponent_centi / 100.0, p.max_exponent_centi / 100.0
    ten_n = np.zeros(len(starts) - 1)
    for j in todo.tolist():
        s, e = int(starts[j]), int(starts[j + 1])
        seg_c = logd_c[s:e]
        sxx, sxy = float(seg_c @ seg_c), float(seg_c @ y_c[s:e])
        n = lo if sxx <= 0 else -sxy / (10.0 * sxx)
        n = min(max(n, lo), hi)
        ten_n[j] = 10.0 * n
    r2 = (y_c + ten_n[dev] * logd_c) ** 2
    per = np.bincount(who_g, weights=r2) / np.bincount(who_g)
    group_dev = np.zeros(n_groups, dtype=np.int64)
    group_dev[who_g] = dev
    group_who = np.zeros(n_groups, dtype=np.int64)
    group_who[who_g] = who
    todo_mask = np.zeros(len(starts) - 1, dtype=bool)
    todo_mask[todo] = True
    bad = np.flatnonzero((per > 9.0 * (p.sigma_cdb / 100.0) ** 2) & todo_mask[group_dev])
    if len(bad) == 0:
        return drop
    # Worst first (ties by witness), per device, the first `limit` of them.
    bad = bad[np.lexsort((group_who[bad], -per[bad], group_dev[bad]))]
    bd = group_dev[bad]
    first = np.searchsorted(bd, bd, side="left")
    drop[bad[np.arange(len(bad)) - first < limit[bd]]] = True
    return drop


def fit_location_segments(seg: Segments, p: FitParams) -> list[LocationFit]:
    """`fit_locations` of every device of `seg` (one `Columns` each), in order: the same fits,
    prepared without a numpy call per device (in parts of about `PREPARE_ROWS` rows, on
    `fit_threads()` threads: a device is prepared from its own rows alone)."""
    parts = seg.parts(max(PREPARE_ROWS, -(-int(seg.starts[-1]) // fit_threads())))
    return _fit_prepared([x for part in _map(lambda s: _prepare_segments(s, p), parts) for x in part], p)


def _as_problem(x: _Problem | LocationFit) -> _Problem:
    assert isinstance(x, _Problem)
    return x


def fit_location(
    asserted: tuple[float, float], observations: Sequence[Observation], p: FitParams
) -> LocationFit:
    """Test `asserted` (lat, lng) against `observations` (see the module docstring)."""
    return fit_locations([(asserted, observations)], p)[0]


__all__ = [
    "Columns", "FitParams", "LocationFit", "LocationStatus", "Observation", "Segments", "fit_location",
    "fit_location_segments", "fit_locations",
]
