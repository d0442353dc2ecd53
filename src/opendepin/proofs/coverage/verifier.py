"""The coverage verifier: an ordered list of small rules, each returning None or `Invalid`.

Rules follow Helium IoT's Proof-of-Coverage checks (see REFERENCES.md and docs/coverage.md).
A report is judged by the first rule that fails, in this order:

```
every report  registered → active → registered for coverage → location asserted → key not denied
beacon        inside the epoch → entropy block known → sent within its entropy window
              → not a duplicate → regular interval → payload regenerates
              → region accepted → on a channel of the region → EIRP within the region's limit
witness       inside the epoch (+ lag) → not a duplicate → not self
              → region accepted → on a channel of the region → RSSI ≥ receiver sensitivity
              → SNR ≥ demodulation floor → SNR consistent with RSSI (noise floor, saturation)
              → beacon exists and data matches → edge not denied → not the beaconer's owner
              → beacon valid → not too late → frequency → region
              → not too close (H3 grid) → not too far → RSSI within free-space bound
then          reciprocity: beaconer witnessed validly / witness beaconed validly in the window
```

After the rules, `trust` judges the epoch's pattern as a whole (location corroboration, closed
clusters, shared receivers, establishment) and scales devices' units; it changes no verdict.

**Radio plausibility** (`regions`, docs/coverage.md): each report's region must be one the
network accepts (`[coverage] regions`), its frequency on one of that region's uplink channels,
a beacon's EIRP within the region's limit, and a witness's RSSI and SNR something a LoRa
receiver can report. `verify_batch` resolves the accepted plans once into `Context.regions`,
so these rules cost a dict lookup and a few integer comparisons per report.

**Order independence.** Rules that compare reports with each other (duplicates, the beacon
interval) walk reports in a canonical order — by device, then sequence number — never in
arrival or input order; verdicts are returned in input order.

**Reciprocity fixed point.** Whether a device witnessed validly depends on other devices'
beacons being valid, which depends on *their* reciprocity, and so on. We do not iterate:
reciprocity is judged in a second phase against activity that passed every *other* rule
(phase 1), this epoch, at any time within it — plus `CoverageHistory` for earlier epochs.
Phase 1 is a pure function of the reports, so the result is unique and independent of
order. A beacon that then fails reciprocity invalidates its witnesses (`invalid_beacon`), but
their phase-1 activity still counts for reciprocity; the cascade stops after one step.

**Geometry** (distance, free-space path loss, grid distance) is computed for all surviving
witnesses at once with numpy in float64 and quantised to integer metres and centi-dBm before
any comparison. Distances are great-circle distances between the centres of the asserted H3
cells (mean Earth radius). Two machines could disagree only if a value lies within ~1e-9 of
a quantisation step, because libm's `sin`/`log10` may differ by one ulp.

**Windowed entropy.** Devices cannot know the epoch's close-block hash while the epoch
runs, so a beacon is built from the hash of a block they could see: the epoch has one
*entropy block* per `entropy_window_seconds` window (the last block at or before the
window's start, listed in `ChainSnapshot.entropy_blocks`), the beacon names the block it
used, and it must be sent within `[block time, block time + window]` (as Helium refreshes
its entropy every minute and rejects reports outside the entropy's window). A block that is
not one of the epoch's entropy blocks is `bad_entropy`; a beacon sent before its block
existed or after the window is `entropy_expired`. Witnesses inherit the beacon's entropy
through the lag rule (±4 s of the beacon). A witness is filed under its *beacon's* epoch
and may be heard up to `max_witness_lag_ms` past that epoch's end (the kind's
`epoch_overhang_ms`, which ingest and reconciliation allow too), so a beacon sent in an
epoch's last second keeps its witnesses.

**Lateness is ingest's.** A report must be *signed* for a time inside its epoch (beacon
`sent_ms`, witness `received_ms`: the device's own, signed claims); whether it *arrived* in
time is decided at ingest (`epoch_closed` after the epoch's end plus
`network.report_grace_seconds`), by the receiving oracle's clock, which is not part of the
sealed inputs — it would differ between oracles and so would their verdicts and claims.

**Witness selection.** At most `max_witnesses_per_beacon` valid witnesses are rewarded per
beacon, the ones with the smallest `keccak256(entropy ‖ beaconer ‖ beacon data ‖ witness)`.
Selecting by arrival order, as Helium does, rewards whoever games latency (a witness
colocated with a fast backhaul, or reporting before it really heard); entropy-keyed
selection cannot be influenced by the devices and is reproducible by anyone.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, NamedTuple

import h3.api.basic_int as h3
import numpy as np
from h3 import H3BaseException

from opendepin.crypto import keccak_256
from opendepin.proofs import rules
from opendepin.proofs.coverage.cells import (
    EARTH_RADIUS_M,
    SPEED_OF_LIGHT_M_PER_S,
    cell_at_resolution,
)
from opendepin.proofs.coverage.denylist import Denylist
from opendepin.proofs.coverage.history import CoverageHistory
from opendepin.proofs.coverage.params import COVERAGE_KIND, MS_PER_SECOND, CoverageParams
from opendepin.proofs.coverage.payload import BeaconPayload, WitnessPayload, beacon_data
from opendepin.proofs.coverage.reasons import CoverageReason, Invalid
from opendepin.proofs.coverage.regions import RegionPlan, accepted_plans, region_plan
from opendepin.proofs.coverage.settings import CoverageSection
from opendepin.records import ChainSnapshot, DeviceRecord, EntropyBlock
from opendepin.types import DeviceId

MIN_PATH_LENGTH_M: Final = 1.0
"""Free-space loss is evaluated at no less than this distance (log10(0) is undefined)."""
CENTI: Final = 100
"""dB -> centi-dB."""

BeaconKey = tuple[DeviceId, int]
"""A beacon's identity: (beaconer, counter)."""


@dataclass(frozen=True, slots=True)
class Beacon:
    """A decoded beacon report."""

    index: int
    """Position in the verified batch (verdicts are returned in this order)."""
    device: DeviceId
    seq: int
    epoch: int
    sent_ms: int
    """Transmit time: the envelope's `timestamp_ms`."""
    payload: BeaconPayload


@dataclass(frozen=True, slots=True)
class Witness:
    """A decoded witness report."""

    index: int
    device: DeviceId
    seq: int
    epoch: int
    payload: WitnessPayload


class Geometry(NamedTuple):
    """Radio geometry of one (beacon, witness) pair, quantised to integers.

    (A NamedTuple rather than a frozen dataclass: one is built per witness in the hot path.)
    """

    distance_m: int
    """Great-circle distance between the asserted cell centres."""
    grid_distance: int | None
    """H3 grid distance of the parent cells; None when H3 cannot compute it (far apart)."""
    max_rssi_cdbm: int
    """Strongest RSSI free space allows: tx power + both gains − FSPL, rounded down."""


@dataclass(frozen=True, slots=True)
class Context:
    """Everything the rules look up, built once per epoch."""

    params: CoverageParams
    devices: Mapping[DeviceId, DeviceRecord]
    entropy: bytes
    """Close-block entropy: known only after the epoch, used for witness selection."""
    history: CoverageHistory
    denylist: Denylist
    entropy_blocks: Mapping[int, EntropyBlock] = field(default_factory=dict)
    """The epoch's entropy blocks (by number) that beacons may name."""
    duplicates: frozenset[int] = frozenset()
    """Indices of beacons/witnesses that repeat an earlier report (canonical order)."""
    irregular: Mapping[int, int] = field(default_factory=dict)
    """Beacon index -> ms since the previous counted beacon, for beacons sent too soon."""
    beacons: Mapping[tuple[DeviceId, bytes], Beacon] = field(default_factory=dict)
    """(beaconer, data) -> the (first) beacon carrying that data."""
    beacon_counts: Mapping[DeviceId, int] = field(default_factory=dict)
    """Beacons each beaconer reported this epoch."""
    beacon_phase1: Mapping[int, Invalid | None] = field(default_factory=dict)
    """Beacon index -> phase-1 outcome."""
    windows: Mapping[int, tuple[int, int]] = field(default_factory=dict)
    """Epoch -> [start, end) in ms, for the epochs in the batch (a cache of `params`)."""
    regions: Mapping[str, RegionPlan] = field(default_factory=dict)
    """Every name and alias of the accepted regions (`[coverage] regions`) -> its plan."""


# ---------------------------------------------------------------------------------------------
# Rules about the reporting device (beacons and witnesses alike)


# The shared rules (`opendepin.proofs.rules`), on the device's registry record.


def _shared(found: object) -> Invalid | None:
    if isinstance(found, rules.Invalid):
        assert isinstance(found.reason, CoverageReason)
        return Invalid(found.reason, found.details)
    return None


def verify_registered(device: DeviceId, ctx: Context) -> Invalid | None:
    if device not in ctx.devices:
        return Invalid(CoverageReason.UNKNOWN_DEVICE, f"{device} is not in the registry")
    return None


def verify_active(device: DeviceId, ctx: Context) -> Invalid | None:
    return _shared(rules.active(ctx.devices[device], CoverageReason))


def verify_kind(device: DeviceId, ctx: Context) -> Invalid | None:
    return _shared(rules.device_kind(ctx.devices[device], COVERAGE_KIND, CoverageReason))


def verify_location_asserted(device: DeviceId, ctx: Context) -> Invalid | None:
    """A valid asserted H3 cell (0 — none — and values that are not H3 cells fail alike)."""
    return _shared(rules.location(ctx.devices[device], CoverageReason))


def verify_key_not_denied(device: DeviceId, ctx: Context) -> Invalid | None:
    if ctx.denylist.denies_key(device):
        return Invalid(
            CoverageReason.DENIED, f"{device} is on denylist version {ctx.denylist.version}"
        )
    return None


DEVICE_RULES: Final[tuple[Callable[[DeviceId, Context], Invalid | None], ...]] = (
    verify_registered,
    verify_active,
    verify_kind,
    verify_location_asserted,
    verify_key_not_denied,
)

# ---------------------------------------------------------------------------------------------
# Beacon rules


def _window(epoch: int, sent_ms: int, ctx: Context, overhang_ms: int = 0) -> Invalid | None:
    """`entropy_expired` unless `sent_ms` is in the epoch, or up to `overhang_ms` past its end."""
    window = ctx.windows.get(epoch)
    if window is None:
        window = (ctx.params.epoch_start_ms(epoch), ctx.params.epoch_end_ms(epoch))
    start, end = window
    end += overhang_ms
    if not start <= sent_ms < end:
        return Invalid(
            CoverageReason.ENTROPY_EXPIRED,
            f"sent at {sent_ms} ms, outside epoch {epoch}'s entropy window [{start}, {end})",
        )
    return None


def verify_beacon_entropy_window(b: Beacon, ctx: Context) -> Invalid | None:
    return _window(b.epoch, b.sent_ms, ctx)


def verify_beacon_entropy_known(b: Beacon, ctx: Context) -> Invalid | None:
    if b.payload.entropy_block not in ctx.entropy_blocks:
        return Invalid(
            CoverageReason.BAD_ENTROPY,
            f"block {b.payload.entropy_block} is not one of the epoch's "
            f"{len(ctx.entropy_blocks)} entropy blocks",
        )
    return None


def verify_beacon_entropy_fresh(b: Beacon, ctx: Context) -> Invalid | None:
    block = ctx.entropy_blocks[b.payload.entropy_block]
    start_ms = block.timestamp * MS_PER_SECOND
    end_ms = start_ms + ctx.params.coverage.entropy_window_seconds * MS_PER_SECOND
    if not start_ms <= b.sent_ms <= end_ms:
        return Invalid(
            CoverageReason.ENTROPY_EXPIRED,
            f"sent at {b.sent_ms} ms with block {block.number}'s entropy, valid only in "
            f"[{start_ms}, {end_ms}]",
        )
    return None


def verify_beacon_not_duplicate(b: Beacon, ctx: Context) -> Invalid | None:
    if b.index in ctx.duplicates:
        return Invalid(
            CoverageReason.DUPLICATE, f"beacon counter {b.payload.counter} was already reported"
        )
    return None


def verify_beacon_interval(b: Beacon, ctx: Context) -> Invalid | None:
    gap_ms = ctx.irregular.get(b.index)
    if gap_ms is not None:
        return Invalid(
            CoverageReason.IRREGULAR_INTERVAL,
            f"{gap_ms} ms after the previous beacon; the interval is "
            f"{ctx.params.coverage.beacon_interval_seconds} s",
        )
    return None


def verify_beacon_packet(b: Beacon, ctx: Context) -> Invalid | None:
    """The data regenerates from the named entropy block and the secret the beacon reveals.

    Nobody but the beaconer knows the secret before this report is read: it is on air only
    hashed, and oracles serve an epoch's reports only after ingest closed for it (see
    `payload`). So data that matches proves a witness heard the frame — or was told by the
    beaconer (a ring sharing secrets; other rules).
    """
    entropy = ctx.entropy_blocks[b.payload.entropy_block].hash
    expected = beacon_data(entropy, b.device, b.payload.counter, b.payload.secret)
    if b.payload.data != expected:
        return Invalid(
            CoverageReason.INVALID_PACKET,
            f"data 0x{b.payload.data.hex()} != 0x{expected.hex()} regenerated from block "
            f"{b.payload.entropy_block}'s entropy and the revealed secret",
        )
    return None


# Radio plausibility (`regions`): shared by beacons and witnesses.


def _region_accepted(region: str, ctx: Context) -> Invalid | None:
    if region in ctx.regions:
        return None
    why = "is not accepted by this network" if region_plan(region) else "is no known region plan"
    return Invalid(
        CoverageReason.UNKNOWN_REGION,
        f"region {region!r} {why}; accepted: {', '.join(ctx.params.coverage.regions)}",
    )


def _on_channel(frequency_hz: int, region: str, ctx: Context) -> Invalid | None:
    plan = ctx.regions[region]
    if frequency_hz in plan.channel_centres:
        return None
    nearest = plan.nearest_channel_hz(frequency_hz)
    tolerance = ctx.params.coverage.channel_tolerance_hz
    if abs(frequency_hz - nearest) > tolerance:
        return Invalid(
            CoverageReason.OFF_CHANNEL,
            f"{frequency_hz} Hz is {abs(frequency_hz - nearest)} Hz from {plan.name}'s nearest "
            f"uplink channel {nearest} Hz; tolerance {tolerance} Hz",
        )
    return None


def verify_beacon_region(b: Beacon, ctx: Context) -> Invalid | None:
    return _region_accepted(b.payload.region, ctx)


def verify_beacon_channel(b: Beacon, ctx: Context) -> Invalid | None:
    return _on_channel(b.payload.frequency_hz, b.payload.region, ctx)


def verify_beacon_eirp(b: Beacon, ctx: Context) -> Invalid | None:
    """Claimed EIRP (conducted power + antenna gain) within the region's maximum plus a margin."""
    plan = ctx.regions[b.payload.region]
    eirp = b.payload.tx_power_cdbm + b.payload.antenna_gain_cdbi
    limit = plan.max_eirp_cdbm + ctx.params.coverage.eirp_margin_cdb
    if eirp > limit:
        return Invalid(
            CoverageReason.EIRP_EXCEEDED,
            f"EIRP {eirp} cdBm ({b.payload.tx_power_cdbm} cdBm + {b.payload.antenna_gain_cdbi} "
            f"cdBi) > {limit} cdBm: {plan.name} allows {plan.max_eirp_cdbm} cdBm",
        )
    return None


BEACON_RULES: Final[tuple[Callable[[Beacon, Context], Invalid | None], ...]] = (
    verify_beacon_entropy_window,
    verify_beacon_entropy_known,
    verify_beacon_entropy_fresh,
    verify_beacon_not_duplicate,
    verify_beacon_interval,
    verify_beacon_packet,
    verify_beacon_region,
    verify_beacon_channel,
    verify_beacon_eirp,
)

# ---------------------------------------------------------------------------------------------
# Witness rules that need only the witness report


def verify_witness_entropy_window(w: Witness, ctx: Context) -> Invalid | None:
    """Heard inside its epoch — the *beacon's* epoch, as the agent labels it — or up to
    `max_witness_lag_ms` after its end (a beacon sent in the epoch's last second keeps its
    witnesses; the lag rule then ties the witness to a beacon inside the epoch)."""
    return _window(w.epoch, w.payload.received_ms, ctx, ctx.params.coverage.max_witness_lag_ms)


def verify_witness_not_duplicate(w: Witness, ctx: Context) -> Invalid | None:
    if w.index in ctx.duplicates:
        return Invalid(CoverageReason.DUPLICATE, "this device already witnessed this beacon")
    return None


def verify_not_self_witness(w: Witness, ctx: Context) -> Invalid | None:
    if w.payload.beaconer == w.device:
        return Invalid(CoverageReason.SELF_WITNESS, "a device cannot witness its own beacon")
    return None


def verify_witness_region(w: Witness, ctx: Context) -> Invalid | None:
    return _region_accepted(w.payload.region, ctx)


def verify_witness_channel(w: Witness, ctx: Context) -> Invalid | None:
    return _on_channel(w.payload.frequency_hz, w.payload.region, ctx)


def verify_witness_sensitivity(w: Witness, ctx: Context) -> Invalid | None:
    """No receiver hears below its sensitivity: a weaker RSSI was never measured."""
    plan = ctx.regions[w.payload.region]
    if w.payload.rssi_cdbm < plan.sensitivity_cdbm:
        return Invalid(
            CoverageReason.BELOW_SENSITIVITY,
            f"RSSI {w.payload.rssi_cdbm} cdBm < {plan.sensitivity_cdbm} cdBm, the weakest a "
            f"{plan.name} LoRa receiver can hear",
        )
    return None


def verify_witness_snr_floor(w: Witness, ctx: Context) -> Invalid | None:
    """LoRa demodulates down to −20 dB SNR (SF12) and no further."""
    plan = ctx.regions[w.payload.region]
    if w.payload.snr_cdb < plan.demodulation_snr_floor_cdb:
        return Invalid(
            CoverageReason.SNR_BELOW_FLOOR,
            f"SNR {w.payload.snr_cdb} cdB < {plan.demodulation_snr_floor_cdb} cdB, below which "
            "LoRa cannot demodulate",
        )
    return None


def verify_witness_snr_consistent(w: Witness, ctx: Context) -> Invalid | None:
    """SNR ≈ RSSI − noise floor, saturating: neither cleaner than the noise allows, nor far worse.

    The implied SNR is `min(RSSI − noise floor, saturation)`; a claim more than
    `snr_excess_margin_cdb` above it is a signal cleaner than physics allows (or than any LoRa
    receiver reports), and one more than `snr_deficit_margin_cdb` below it is a strong signal
    reported as if it were buried in noise. The deficit margin is wide because local noise and
    interference raise a real site's floor; below the noise floor the demodulation floor rules.
    """
    plan = ctx.regions[w.payload.region]
    rssi, snr = w.payload.rssi_cdbm, w.payload.snr_cdb
    implied = min(rssi - plan.noise_floor_cdbm, plan.snr_saturation_cdb)
    cov = ctx.params.coverage
    if snr > implied + cov.snr_excess_margin_cdb:
        return Invalid(
            CoverageReason.SNR_INCONSISTENT,
            f"SNR {snr} cdB > {implied + cov.snr_excess_margin_cdb} cdB: RSSI {rssi} cdBm over "
            f"the {plan.noise_floor_cdbm} cdBm noise floor implies at most {implied} cdB",
        )
    if snr < implied - cov.snr_deficit_margin_cdb:
        return Invalid(
            CoverageReason.SNR_INCONSISTENT,
            f"SNR {snr} cdB < {implied - cov.snr_deficit_margin_cdb} cdB: RSSI {rssi} cdBm over "
            f"the {plan.noise_floor_cdbm} cdBm noise floor implies {implied} cdB",
        )
    return None


WITNESS_RULES: Final[tuple[Callable[[Witness, Context], Invalid | None], ...]] = (
    verify_witness_entropy_window,
    verify_witness_not_duplicate,
    verify_not_self_witness,
    verify_witness_region,
    verify_witness_channel,
    verify_witness_sensitivity,
    verify_witness_snr_floor,
    verify_witness_snr_consistent,
)


def find_beacon(w: Witness, ctx: Context) -> Beacon | Invalid:
    """The beacon `w` heard, or why there is none (`invalid_packet` / `unknown_beacon`)."""
    beacon = ctx.beacons.get((w.payload.beaconer, w.payload.data))
    if beacon is not None:
        return beacon
    count = ctx.beacon_counts.get(w.payload.beaconer, 0)
    if count:
        return Invalid(
            CoverageReason.INVALID_PACKET,
            f"data 0x{w.payload.data.hex()} matches none of {w.payload.beaconer}'s {count} beacons",
        )
    return Invalid(
        CoverageReason.UNKNOWN_BEACON, f"{w.payload.beaconer} reported no beacon this epoch"
    )


# ---------------------------------------------------------------------------------------------
# Witness rules about the (beacon, witness) pair


def verify_edge_not_denied(w: Witness, b: Beacon, ctx: Context) -> Invalid | None:
    if ctx.denylist.denies_edge(b.device, w.device):
        return Invalid(
            CoverageReason.DENIED_EDGE,
            f"edge {b.device}–{w.device} is on denylist version {ctx.denylist.version}",
        )
    return None


def _beacon_invalid(beacon_outcome: Invalid | None) -> Invalid | None:
    if beacon_outcome is None:
        return None
    return Invalid(CoverageReason.INVALID_BEACON, f"the beacon is invalid: {beacon_outcome.reason}")


def verify_beacon_valid(w: Witness, b: Beacon, ctx: Context) -> Invalid | None:
    return _beacon_invalid(ctx.beacon_phase1.get(b.index))


def verify_witness_lag(w: Witness, b: Beacon, ctx: Context) -> Invalid | None:
    lag_ms = w.payload.received_ms - b.sent_ms
    limit_ms = ctx.params.coverage.max_witness_lag_ms
    if abs(lag_ms) > limit_ms:
        return Invalid(
            CoverageReason.TOO_LATE, f"heard {lag_ms} ms after the beacon; limit ±{limit_ms} ms"
        )
    return None


def verify_frequency(w: Witness, b: Beacon, ctx: Context) -> Invalid | None:
    diff_hz = abs(w.payload.frequency_hz - b.payload.frequency_hz)
    if diff_hz > ctx.params.coverage.max_frequency_diff_hz:
        return Invalid(
            CoverageReason.INVALID_FREQUENCY,
            f"heard on {w.payload.frequency_hz} Hz, sent on {b.payload.frequency_hz} Hz",
        )
    return None


def verify_region(w: Witness, b: Beacon, ctx: Context) -> Invalid | None:
    if w.payload.region != b.payload.region:
        return Invalid(
            CoverageReason.INVALID_REGION,
            f"witness region {w.payload.region!r} != beacon region {b.payload.region!r}",
        )
    return None


def verify_not_same_owner(w: Witness, b: Beacon, ctx: Context) -> Invalid | None:
    """An owner's devices vouching for each other prove nothing: such a witness earns nothing
    and corroborates nothing (`graph`, `corroboration` count only different owners)."""
    mine, theirs = ctx.devices.get(w.device), ctx.devices.get(b.device)
    if mine is None or theirs is None:  # an unregistered beaconer's beacon fails its own rules
        return None
    if mine.owner.lower() == theirs.owner.lower():
        return Invalid(CoverageReason.SAME_OWNER_WITNESS, f"{w.device} and {b.device} are both owned by {mine.owner}")
    return None


PAIR_RULES: Final[tuple[Callable[[Witness, Beacon, Context], Invalid | None], ...]] = (
    verify_edge_not_denied,
    verify_not_same_owner,
    verify_beacon_valid,
    verify_witness_lag,
    verify_frequency,
    verify_region,
)

# ---------------------------------------------------------------------------------------------
# Witness rules about geometry (computed in bulk by `geometries`)


def verify_not_too_close(w: Witness, b: Beacon, g: Geometry, ctx: Context) -> Invalid | None:
    minimum = ctx.params.coverage.min_grid_distance
    if g.grid_distance is not None and g.grid_distance < minimum:
        return Invalid(
            CoverageReason.BELOW_MIN_DISTANCE,
            f"grid distance {g.grid_distance} < {minimum} at resolution "
            f"{ctx.params.coverage.grid_distance_resolution}",
        )
    return None


def verify_not_too_far(w: Witness, b: Beacon, g: Geometry, ctx: Context) -> Invalid | None:
    if g.distance_m > ctx.params.coverage.max_distance_m:
        return Invalid(
            CoverageReason.MAX_DISTANCE_EXCEEDED,
            f"{g.distance_m} m apart; limit {ctx.params.coverage.max_distance_m} m",
        )
    return None


def verify_rssi(w: Witness, b: Beacon, g: Geometry, ctx: Context) -> Invalid | None:
    limit = g.max_rssi_cdbm + ctx.params.coverage.rssi_margin_cdb
    if w.payload.rssi_cdbm > limit:
        return Invalid(
            CoverageReason.BAD_RSSI,
            f"RSSI {w.payload.rssi_cdbm} cdBm > {limit} cdBm allowed by free space over "
            f"{g.distance_m} m",
        )
    return None


GEOMETRY_RULES: Final[
    tuple[Callable[[Witness, Beacon, Geometry, Context], Invalid | None], ...]
] = (verify_not_too_close, verify_not_too_far, verify_rssi)

# ---------------------------------------------------------------------------------------------
# Reciprocity (phase 2)


def verify_beaconer_reciprocity(
    b: Beacon, witnessed: frozenset[DeviceId], ctx: Context
) -> Invalid | None:
    if b.device in witnessed:
        return None
    last = ctx.history.last_valid_witness_ms.get(b.device)
    window_ms = ctx.params.coverage.reciprocity_window_seconds * MS_PER_SECOND
    if last is not None and last >= b.sent_ms - window_ms:
        return None
    return Invalid(
        CoverageReason.NO_VALID_WITNESSES,
        f"{b.device} has no valid witness report this epoch or in the "
        f"{ctx.params.coverage.reciprocity_window_seconds} s before its beacon",
    )


def verify_witness_reciprocity(
    w: Witness, beaconed: frozenset[DeviceId], ctx: Context
) -> Invalid | None:
    if w.device in beaconed:
        return None
    last = ctx.history.last_valid_beacon_ms.get(w.device)
    window_ms = ctx.params.coverage.reciprocity_window_seconds * MS_PER_SECOND
    if last is not None and last >= w.payload.received_ms - window_ms:
        return None
    return Invalid(
        CoverageReason.NO_VALID_BEACONS,
        f"{w.device} has no valid beacon this epoch or in the "
        f"{ctx.params.coverage.reciprocity_window_seconds} s before this reception",
    )


# ---------------------------------------------------------------------------------------------
# Putting it together


@dataclass(frozen=True, slots=True)
class Verification:
    """Outcome of the rules for one batch, before scoring."""

    beacon_outcomes: Mapping[int, Invalid | None]
    """Beacon index -> None (valid) or why not."""
    witness_outcomes: Mapping[int, Invalid | None]
    """Witness index -> None (valid) or why not."""
    selected: Mapping[BeaconKey, tuple[DeviceId, ...]]
    """Valid beacon -> the valid witnesses rewarded for it, in selection order (keys sorted)."""
    beacon_of: Mapping[tuple[DeviceId, bytes], Beacon] = field(default_factory=dict)
    """(beaconer, data) -> the beacon a witness of that data heard (`beacon_index`)."""
    valid: Sequence[tuple[Witness, Beacon]] | None = None
    """Every valid witness report with the beacon it heard, in input order (None: not
    recorded; `trust` then finds them from the outcomes)."""


def _canonical_first(items: Sequence[Any], key: Callable[[Any], Any]) -> tuple[dict[Any, Any], list[Any]]:
    """For each key, the item first in canonical (device, seq, index) order — the one with the
    smallest (seq, index), since the device is part of every key here; ties keep input order,
    as a stable sort would — and the others (the repeats), in input order."""
    first: dict[Any, Any] = {}
    repeats: list[Any] = []
    for x in items:
        k = key(x)
        prev = first.get(k)
        if prev is None:
            first[k] = x
        elif (x.seq, x.index) < (prev.seq, prev.index):
            repeats.append(prev)
            first[k] = x
        else:
            repeats.append(x)
    return first, repeats


def beacon_index(beacons: Sequence[Beacon]) -> dict[tuple[DeviceId, bytes], Beacon]:
    """(beaconer, data) -> the first beacon carrying that data in canonical (device, seq) order:
    the one a witness reporting that data heard."""
    return _canonical_first(beacons, lambda b: (b.device, b.payload.data))[0]


def capped_eirp_cdbm(payload: BeaconPayload, cov: CoverageSection) -> int:
    """A beacon's claimed EIRP with power and gain each capped as the RSSI bound caps them."""
    return min(payload.tx_power_cdbm, cov.max_tx_power_cdbm) + min(payload.antenna_gain_cdbi, cov.max_antenna_gain_cdbi)


def free_space_loss_cdb(path_m: Any, frequency_hz: Any) -> Any:
    """Free-space path loss in centi-dB, rounded up, over `path_m` metres (floats or arrays)."""
    return np.ceil(CENTI * 20 * np.log10(4 * np.pi * path_m * frequency_hz / SPEED_OF_LIGHT_M_PER_S))


def _duplicates_and_intervals(
    beacons: Sequence[Beacon],
    witnesses: Sequence[Witness],
    params: CoverageParams,
    history: CoverageHistory,
) -> tuple[frozenset[int], dict[int, int]]:
    """Repeated reports and too-early beacons, found in canonical (device, seq) order.

    (No sort of the whole batch: the first of a key in (device, seq, index) order is the one
    with the smallest (seq, index), see `_canonical_first`.)"""
    first_beacons, repeated = _canonical_first(beacons, lambda b: (b.device, b.payload.counter))
    duplicates: set[int] = {b.index for b in repeated}
    position = {id(b): i for i, b in enumerate(beacons)}
    by_device: dict[DeviceId, list[Beacon]] = defaultdict(list)
    for b in first_beacons.values():
        by_device[b.device].append(b)
    interval_ms = params.coverage.beacon_interval_seconds * MS_PER_SECOND
    irregular: dict[int, int] = {}
    last_beacon = history.last_beacon_ms
    for device, own in by_device.items():
        last = last_beacon.get(device)
        if len(own) > 1:
            # (sent, seq) as the rule reads them, then canonical order: (index, input position).
            own.sort(key=lambda b: (b.sent_ms, b.seq, b.index, position[id(b)]))
        for b in own:
            if last is not None and b.sent_ms - last < interval_ms:
                irregular[b.index] = b.sent_ms - last
            else:
                last = b.sent_ms
    _, repeated_w = _canonical_first(witnesses, lambda w: (w.device, w.payload.beaconer, w.payload.data))
    duplicates.update(w.index for w in repeated_w)
    return frozenset(duplicates), irregular


def _geometry_columns(
    pairs_w: Sequence[Witness], pairs_b: Sequence[Beacon], ctx: Context
) -> tuple[list[int], list[int | None], list[int]]:
    """Distance (m), grid distance and free-space RSSI bound of each pair, as lists."""
    distance_m, grid, max_rssi = _geometry_arrays(pairs_w, pairs_b, ctx)
    return distance_m.tolist(), grid, max_rssi.tolist()


def _geometry_arrays(
    pairs_w: Sequence[Witness], pairs_b: Sequence[Beacon], ctx: Context
) -> tuple[np.ndarray, list[int | None], np.ndarray]:
    """Distance (m), grid distance and free-space RSSI bound of each pair: each device's cell
    and each pair of parent cells looked up once, the rest as arrays."""
    cov = ctx.params.coverage
    res = cov.grid_distance_resolution
    max_gain = cov.max_antenna_gain_cdbi
    max_tx = cov.max_tx_power_cdbm
    devices = ctx.devices
    b_dev = [b.device for b in pairs_b]
    w_dev = [w.device for w in pairs_w]
    slot = {d: i for i, d in enumerate(dict.fromkeys(b_dev + w_dev))}
    cells = [devices[d].location for d in slot]
    parent_code: dict[int, int] = {}
    parent_of_slot = np.array(
        [parent_code.setdefault(cell_at_resolution(c, res), len(parent_code)) for c in cells], dtype=np.int64
    )
    parents = list(parent_code)
    bs = np.array([slot[d] for d in b_dev], dtype=np.int64)
    ws = np.array([slot[d] for d in w_dev], dtype=np.int64)
    bps = [b.payload for b in pairs_b]
    # Integer budget (each term bounded by the payload's level limits): as `min(...) + ...`.
    budget = (
        np.minimum(np.array([bp.tx_power_cdbm for bp in bps], dtype=np.int64), max_tx)
        + np.minimum(np.array([bp.antenna_gain_cdbi for bp in bps], dtype=np.int64), max_gain)
        + np.minimum(np.array([w.payload.antenna_gain_cdbi for w in pairs_w], dtype=np.int64), max_gain)
    )
    # Grid distance once per distinct pair of parent cells.
    span = len(parents)
    keys, inverse = np.unique(parent_of_slot[bs] * span + parent_of_slot[ws], return_inverse=True)
    distinct: list[int | None] = []
    grid_distance = h3.grid_distance
    for key in keys.tolist():
        a, b = divmod(key, span)
        try:
            distinct.append(grid_distance(parents[a], parents[b]))
        except H3BaseException:
            distinct.append(None)  # H3 cannot path between far-apart cells: certainly not too close
    grid = [distinct[i] for i in inverse.tolist()]
    latlng = np.radians(np.array([h3.cell_to_latlng(c) for c in cells], dtype=np.float64))
    lat1, lng1 = latlng[bs, 0], latlng[bs, 1]
    lat2, lng2 = latlng[ws, 0], latlng[ws, 1]
    hav = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lng2 - lng1) / 2) ** 2
    )
    distance = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(hav, 1.0)))
    distance_m = np.rint(distance).astype(np.int64)
    path = np.maximum(distance, MIN_PATH_LENGTH_M)
    f_hz = np.array([bp.frequency_hz for bp in bps], dtype=np.float64)
    fspl_cdb = free_space_loss_cdb(path, f_hz)
    max_rssi = (budget.astype(np.float64) - fspl_cdb).astype(np.int64)
    return distance_m, grid, max_rssi


def geometries(pairs: Sequence[tuple[Witness, Beacon]], ctx: Context) -> list[Geometry]:
    """Distance, grid distance and free-space RSSI bound for each pair, vectorised."""
    if not pairs:
        return []
    distance_m, grid, max_rssi = _geometry_columns([w for w, _ in pairs], [b for _, b in pairs], ctx)
    return list(map(Geometry, distance_m, grid, max_rssi))


def _first_failure(rules: Sequence[Callable[..., Invalid | None]], *args: object) -> Invalid | None:
    for rule in rules:
        outcome = rule(*args)
        if outcome is not None:
            return outcome
    return None


class _Owners(dict[DeviceId, "str | None"]):
    """Device -> its owner, lower-cased (None when unregistered), looked up on first use."""

    def __init__(self, devices: Mapping[DeviceId, DeviceRecord]) -> None:
        super().__init__()
        self.devices = devices

    def __missing__(self, device: DeviceId) -> str | None:
        record = self.devices.get(device)
        owner = self[device] = None if record is None else record.owner.lower()
        return owner


def verify_batch(
    beacons: Sequence[Beacon],
    witnesses: Sequence[Witness],
    snapshot: ChainSnapshot,
    params: CoverageParams,
    history: CoverageHistory,
    denylist: Denylist,
) -> Verification:
    """Run every rule over one epoch's decoded beacons and witnesses.

    Each rule list has a fused fast path: one expression that holds exactly when every rule
    of the list passes (the same comparisons, on the same values). When it does not hold, the
    rules themselves run, in order, so every failure is the rule's own `Invalid`."""
    duplicates, irregular = _duplicates_and_intervals(beacons, witnesses, params, history)
    index = beacon_index(beacons)
    counts = Counter(b.device for b in beacons)
    ctx = Context(
        params=params,
        devices=snapshot.devices,
        entropy=snapshot.entropy,
        history=history,
        denylist=denylist,
        entropy_blocks=snapshot.entropy_blocks,
        duplicates=duplicates,
        irregular=irregular,
        beacons=index,
        beacon_counts=counts,
        regions=accepted_plans(params.coverage.regions),
        windows={
            e: (params.epoch_start_ms(e), params.epoch_end_ms(e))
            for e in {b.epoch for b in beacons} | {w.epoch for w in witnesses}
        },
    )
    cov = params.coverage
    windows, regions, blocks = ctx.windows, ctx.regions, ctx.entropy_blocks
    devices = snapshot.devices

    device_outcome: dict[DeviceId, Invalid | None] = {}

    def check_device(device: DeviceId) -> Invalid | None:
        if device not in device_outcome:
            device_outcome[device] = _first_failure(DEVICE_RULES, device, ctx)
        return device_outcome[device]

    # Phase 1: every rule except reciprocity.
    entropy_window_ms = cov.entropy_window_seconds * MS_PER_SECOND
    eirp_margin = cov.eirp_margin_cdb
    beacon_outcome: dict[int, Invalid | None] = {}
    for b in beacons:
        outcome = check_device(b.device)
        if outcome is None:
            bp = b.payload
            window = windows.get(b.epoch)
            block = blocks.get(bp.entropy_block)
            plan = regions.get(bp.region)
            if not (
                window is not None
                and window[0] <= b.sent_ms < window[1]
                and block is not None
                and block.timestamp * MS_PER_SECOND <= b.sent_ms <= block.timestamp * MS_PER_SECOND + entropy_window_ms
                and b.index not in duplicates
                and b.index not in irregular
                and bp.data == beacon_data(block.hash, b.device, bp.counter, bp.secret)
                and plan is not None
                and bp.frequency_hz in plan.channel_centres
                and bp.tx_power_cdbm + bp.antenna_gain_cdbi <= plan.max_eirp_cdbm + eirp_margin
            ):
                outcome = _first_failure(BEACON_RULES, b, ctx)
        beacon_outcome[b.index] = outcome
    ctx = replace(ctx, beacon_phase1=beacon_outcome)

    lag_ms = cov.max_witness_lag_ms
    excess, deficit = cov.snr_excess_margin_cdb, cov.snr_deficit_margin_cdb
    max_freq_diff = cov.max_frequency_diff_hz
    deny_edges = bool(denylist.edges)
    owner_of = _Owners(devices)

    witness_outcome: dict[int, Invalid | None] = {}
    survivors_w: list[Witness] = []
    survivors_b: list[Beacon] = []
    for d in {w.device for w in witnesses}:
        check_device(d)
    for w in witnesses:
        device = w.device
        outcome = device_outcome[device]
        if outcome is None:
            p = w.payload
            window = windows.get(w.epoch)
            plan = regions.get(p.region)
            if not (
                window is not None
                and window[0] <= p.received_ms < window[1] + lag_ms
                and w.index not in duplicates
                and p.beaconer != device
                and plan is not None
                and p.frequency_hz in plan.channel_centres
                and p.rssi_cdbm >= plan.sensitivity_cdbm
                and p.snr_cdb >= plan.demodulation_snr_floor_cdb
                and (
                    (implied := min(p.rssi_cdbm - plan.noise_floor_cdbm, plan.snr_saturation_cdb)) - deficit
                    <= p.snr_cdb
                    <= implied + excess
                )
            ):
                outcome = _first_failure(WITNESS_RULES, w, ctx)
            if outcome is None:
                hit = index.get((p.beaconer, p.data))
                if hit is None:
                    found = find_beacon(w, ctx)
                    assert isinstance(found, Invalid)
                    outcome = found
                else:
                    b = hit
                    bp = b.payload
                    theirs = owner_of[b.device]
                    if not (
                        not deny_edges
                        and (theirs is None or owner_of[device] != theirs)
                        and beacon_outcome.get(b.index) is None
                        and abs(p.received_ms - b.sent_ms) <= lag_ms
                        and abs(p.frequency_hz - bp.frequency_hz) <= max_freq_diff
                        and p.region == bp.region
                    ):
                        outcome = _first_failure(PAIR_RULES, w, b, ctx)
                    if outcome is None:
                        survivors_w.append(w)
                        survivors_b.append(b)
        witness_outcome[w.index] = outcome
    if survivors_w:
        minimum = cov.min_grid_distance
        max_distance = cov.max_distance_m
        margin = cov.rssi_margin_cdb
        distance_m, grid, max_rssi = _geometry_arrays(survivors_w, survivors_b, ctx)
        rssi = np.array([w.payload.rssi_cdbm for w in survivors_w], dtype=np.int64)
        near = np.array([g is not None and g < minimum for g in grid], dtype=bool)
        passes = ~near & (distance_m <= max_distance) & (rssi <= max_rssi + margin)
        # (`witness_outcome` already holds None for every survivor.)
        for k in np.flatnonzero(~passes).tolist():
            w, b = survivors_w[k], survivors_b[k]
            g = Geometry(int(distance_m[k]), grid[k], int(max_rssi[k]))
            witness_outcome[w.index] = _first_failure(GEOMETRY_RULES, w, b, g, ctx)

    # Phase 2: reciprocity against phase-1 activity (see the module docstring).
    beaconed = frozenset(b.device for b in beacons if beacon_outcome[b.index] is None)
    # (A witness valid in phase 1 is a survivor whose geometry passed: the others already
    # hold their reason, which phase 2 does not change.)
    witnessed = frozenset(w.device for w in survivors_w if witness_outcome[w.index] is None)
    final_beacon: dict[int, Invalid | None] = {}
    for b in beacons:
        outcome = beacon_outcome[b.index]
        final_beacon[b.index] = outcome or (
            None if b.device in witnessed else verify_beaconer_reciprocity(b, witnessed, ctx)
        )
    final_witness = witness_outcome  # updated in place: its order stays the input order
    valid_by_beacon: dict[int, list[DeviceId]] = defaultdict(list)
    valid: list[tuple[Witness, Beacon]] = []
    for w, b in zip(survivors_w, survivors_b, strict=True):
        if witness_outcome[w.index] is not None:
            continue
        b_final = final_beacon[b.index]
        if b_final is not None:
            final_witness[w.index] = _beacon_invalid(b_final)
        elif w.device not in beaconed and (lonely := verify_witness_reciprocity(w, beaconed, ctx)) is not None:
            final_witness[w.index] = lonely
        else:
            valid_by_beacon[b.index].append(w.device)
            valid.append((w, b))

    return Verification(final_beacon, final_witness, _select(beacons, valid_by_beacon, ctx), index, valid)


class _AddressBytes(dict[DeviceId, bytes]):
    """Device -> its address as 20 bytes, converted on first use."""

    def __missing__(self, device: DeviceId) -> bytes:
        out = self[device] = bytes.fromhex(device[2:])
        return out


def _select(
    beacons: Sequence[Beacon], valid_by_beacon: Mapping[int, list[DeviceId]], ctx: Context
) -> dict[BeaconKey, tuple[DeviceId, ...]]:
    """Up to the cap of each beacon's valid witnesses (their devices, in input order), by
    keccak(entropy ‖ beacon ‖ witness)."""
    cap = ctx.params.coverage.max_witnesses_per_beacon
    raw = _AddressBytes()
    selected: dict[BeaconKey, tuple[DeviceId, ...]] = {}
    entropy = ctx.entropy
    for b in sorted(beacons, key=lambda b: (b.device, b.payload.counter)):
        heard_by = valid_by_beacon.get(b.index)
        if not heard_by:
            continue
        prefix = entropy + raw[b.device] + b.payload.data
        # (A beacon's valid witnesses are distinct devices — a repeat is a duplicate — so no
        # two keys are equal and the devices' order is the witnesses' order.)
        keyed = sorted([(keccak_256(prefix + raw[d]).digest(), d) for d in heard_by])
        selected[b.device, b.payload.counter] = tuple(d for _, d in keyed[:cap])
    return selected
