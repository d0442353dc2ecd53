"""A shard of heartbeats judged straight from its sealed lines: the epoch's hot path.

`HeartbeatKind.compute_shard` takes decoded reports: one `Report` per line (its canonical
payload re-encoded, its signature decoded), then `assess_all` decodes every payload again
into a `HeartbeatPayload`, wraps each outcome in an `Assessment` and a `Verdict`, and
`tally` walks them once more. For an epoch of millions of heartbeats that is most of the
cost, and none of it changes an outcome. `compute_lines` does the same work in one pass
over the lines:

```
line ──msgspec──▶ typed struct ──usual shape? (wirestruct.usual_envelope + UsualPayload)────┐
   rules 1–7 inline (the device's registry record looked up once per run of its lines)      │
   rule 8 (seen), 9 (liveness), 10 (distance → trust)  ──▶ TallyBuilder (scorer)            │
   anything unusual ──▶ the line decoded by the oracle (decode) and `assess` from rule 1 ◀─────┘
```

Only invalid verdicts are built (the shard runner publishes nothing else per report), and a
stationary device's repeated fix is measured once (distance and cap cell cached per run).

**Why the result is the reference's.** The fast path takes a line only when it can prove
what the reference would conclude: the wire object has exactly the shape `codec.loads_fast`
decodes without help (`codec.usual_wire`; the device already seen, so its checksummed id is
known), and the payload has exactly the keys and types `parse_payload` accepts, so the
canonical payload the reference would build decodes back to this same object. The line is
decoded by a msgspec struct decoder (`reports.wirestruct`: the parse, the key sets, the exact
types and the integer ranges in one C pass); it takes a line only where it decodes the same
values as the stdlib parser, and hands every other line to the slow path. Rules 1–7 are
the same comparisons `_passes_first_rules` makes; a report failing any of them, or whose
(device, seq) was seen, is judged by `assess` itself (rules 1–7 hold no state, and nothing
was added to `seen` yet), so its reason and message are the rule's own. Rules 9 and 10 run
the verifier's own functions when they fail. The property test
(`tests/proofs/heartbeat/test_lines.py`) compares `compute_lines` with `compute_shard` on
random epochs with every fault and on lines of every unusual shape.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any

import msgspec

from opendepin.geo import cell_centre, distance_from
from opendepin.network.settings import Settings
from opendepin.proofs.heartbeat.payload import (
    _HASH_RE,
    LAT_E7_LIMIT,
    LON_E7_LIMIT,
    MAX_ACCURACY_M,
    MAX_BLOCK_NUMBER,
    HeartbeatPayload,
)
from opendepin.proofs.heartbeat.scorer import TallyBuilder, fix_cell, fix_cells
from opendepin.proofs.heartbeat.settings import heartbeat_section
from opendepin.proofs.heartbeat.verifier import (
    HEARTBEAT_KIND,
    MS_PER_SECOND,
    assess,
    challenge_hour,
    verify_liveness,
    verify_location_trust,
)
from opendepin.proofs.kind import ShardLines
from opendepin.proofs.rules import Invalid
from opendepin.records import ChainSnapshot, DeviceRecord, IngestedReport, Verdict
from opendepin.reports.codec import device_id
from opendepin.reports.wirestruct import DecodeError, envelope_decoder, usual_envelope
from opendepin.types import DeviceId


class UsualPayload(msgspec.Struct, forbid_unknown_fields=True):
    """A heartbeat payload of the usual shape, as `parse_payload` accepts it unchanged: exact
    JSON integers in range and no other keys (an absent optional key is UNSET; null is refused)."""

    lat_e7: Annotated[int, msgspec.Meta(ge=-LAT_E7_LIMIT, le=LAT_E7_LIMIT)]
    lon_e7: Annotated[int, msgspec.Meta(ge=-LON_E7_LIMIT, le=LON_E7_LIMIT)]
    accuracy_m: Annotated[int, msgspec.Meta(ge=0, le=MAX_ACCURACY_M)] | msgspec.UnsetType = msgspec.UNSET
    challenge_block: Annotated[int, msgspec.Meta(ge=0, le=MAX_BLOCK_NUMBER)] | msgspec.UnsetType = msgspec.UNSET
    challenge_hash: str | msgspec.UnsetType = msgspec.UNSET


UNSET = msgspec.UNSET
_LINE = envelope_decoder("HeartbeatLine", UsualPayload)
"""Decodes a sealed heartbeat line of the usual shape (`reports.wirestruct`)."""


def compute_lines(
    lines: Sequence[bytes],
    snapshot: ChainSnapshot,
    settings: Settings,
    decode: Callable[[int], IngestedReport],
) -> ShardLines:
    """`compute_shard` on the reports these sealed lines hold, with the invalid verdicts only.

    `decode(i)` is the oracle's decoder of line i (`LineShardedKind`): called for every line
    the fast path does not take, it raises for a line that holds no report."""
    section = heartbeat_section(settings)
    network = settings.network
    liveness_ms = section.liveness_window_seconds * MS_PER_SECOND
    hour_ms = section.hour_seconds * MS_PER_SECOND
    full, partial = section.full_trust_meters, section.partial_trust_meters
    devices = snapshot.devices
    blocks = snapshot.entropy_blocks
    builder = TallyBuilder(section)
    seen: set[tuple[DeviceId, int]] = set()
    windows: dict[int, tuple[int, int]] = {}
    invalid: list[tuple[int, Verdict]] = []
    decode_line = _LINE.decode
    cell_of_fix = fix_cells(section)
    last_device: DeviceId | None = None
    centre: tuple[float, float] | None = None
    measure: Callable[[int, int], int] | None = None  # distance_to_cell_m to the centre
    last_fix: tuple[int, int, int, int, str] | None = None  # lat, lon, distance, trust, cell
    last_epoch = -1
    window = (0, 0)
    # The valid heartbeats of the current run of `last_device`'s lines, merged into the
    # builder when the device changes (`TallyBuilder.merge_run`).
    run_hours: dict[int, int] = {}
    run_count = 0
    run_farthest = -1
    run_fixes: dict[str, int] = {}

    def slow(index: int) -> None:
        """The line decoded as the reference decodes it and judged by `assess` from rule 1."""
        ingested = decode(index)
        report = ingested.report
        a = assess(ingested, snapshot, settings, seen, section)
        verdict = a.verdict
        if not verdict.valid:
            invalid.append((index, verdict))
            builder.invalid(report.device, str(verdict.reason))
            return
        assert a.payload is not None and a.location is not None  # a valid assessment has both
        payload = a.payload
        start_ms = _window(windows, network, report.epoch)[0]
        if a.challenge is not None:
            hour = challenge_hour(a.challenge, start_ms, hour_ms)
        else:
            hour = (report.timestamp_ms - start_ms) // hour_ms
        builder.valid(
            report.device,
            hour,
            a.location.trust_quarters,
            a.location.distance_m,
            fix_cell(payload.lat_e7, payload.lon_e7, section),
        )

    known: dict[str, DeviceId] = {}  # wire device -> checksummed id, for this shard
    for index, line in enumerate(lines):
        if not (line.startswith(b"{") and line.endswith(b"}")):  # what the decoder refuses
            slow(index)
            continue
        try:
            wire = decode_line(line)
        except DecodeError:
            slow(index)
            continue
        device = known.get(wire.device)
        if device is None:  # a device's first line in this shard: its checksummed id
            device = device_id(wire.device)
            if device is None:
                slow(index)
                continue
            known[wire.device] = device
        if wire.kind != HEARTBEAT_KIND or not usual_envelope(wire):
            slow(index)
            continue
        epoch, seq, ts, payload_obj = wire.epoch, wire.seq, wire.timestampMs, wire.payload
        if device is not last_device:
            if run_count and last_device is not None:
                builder.merge_run(last_device, run_hours, run_count, run_farthest, run_fixes)
                run_hours, run_count, run_farthest, run_fixes = {}, 0, -1, {}
            last_device, last_fix = device, None
            centre = _centre(devices.get(device))
            measure = distance_from(centre) if centre is not None else None
        if centre is None or measure is None:
            slow(index)
            continue
        # the challenge: both keys or neither, a lower-case hash (the payload's other keys,
        # types and ranges: UsualPayload)
        block_number = payload_obj.challenge_block
        text = payload_obj.challenge_hash
        if block_number is UNSET and text is UNSET:
            block_number = block_hash = None
        elif block_number is UNSET or text is UNSET or _HASH_RE.fullmatch(text) is None:
            slow(index)
            continue
        else:
            block_hash = bytes.fromhex(text[2:])
        lat, lon = payload_obj.lat_e7, payload_obj.lon_e7
        if epoch != last_epoch:
            last_epoch, window = epoch, _window(windows, network, epoch)
        key = (device, seq)
        if not window[0] <= ts < window[1] or key in seen:
            slow(index)
            continue
        seen.add(key)
        start_ms = window[0]
        if liveness_ms:
            block = blocks.get(block_number) if block_number is not None else None
            if (
                block is None
                or block_hash != block.hash
                or not block.timestamp * MS_PER_SECOND <= ts <= block.timestamp * MS_PER_SECOND + liveness_ms
            ):
                report = decode(index).report
                bad = verify_liveness(report, _payload(payload_obj, block_hash), snapshot, section)
                assert isinstance(bad, Invalid)  # the same tests failed above
                invalid.append((index, Verdict(device, seq, bad.reason, bad.details)))
                builder.invalid(device, str(bad.reason))
                continue
            hour = challenge_hour(block, start_ms, hour_ms)
        else:
            hour = (ts - start_ms) // hour_ms
        if last_fix is not None and last_fix[0] == lat and last_fix[1] == lon:
            distance, trust, cell = last_fix[2], last_fix[3], last_fix[4]
        else:
            distance = measure(lat, lon)
            trust = 4 if distance <= full else 1 if distance <= partial else 0
            cell = cell_of_fix(lat, lon) if trust else ""
            last_fix = (lat, lon, distance, trust, cell)
        if not trust:
            untrusted = verify_location_trust(_payload(payload_obj, block_hash), centre, section)
            assert isinstance(untrusted, Invalid)  # the same distance, the same thresholds
            invalid.append((index, Verdict(device, seq, untrusted.reason, untrusted.details)))
            builder.invalid(device, str(untrusted.reason))
            continue
        # builder.valid(device, hour, trust, distance, cell), kept in locals for the run
        best = run_hours.get(hour)
        if best is None or best < trust:
            run_hours[hour] = trust
        run_count += 1
        if run_farthest < distance:
            run_farthest = distance
        run_fixes[cell] = run_fixes.get(cell, 0) + 1
    if run_count and last_device is not None:
        builder.merge_run(last_device, run_hours, run_count, run_farthest, run_fixes)
    return ShardLines(len(lines), tuple(invalid), builder.finish(snapshot))


def _window(windows: dict[int, tuple[int, int]], network: Any, epoch: int) -> tuple[int, int]:
    window = windows.get(epoch)
    if window is None:
        window = windows[epoch] = network.epoch_window_ms(epoch)
    return window


def _centre(record: DeviceRecord | None) -> tuple[float, float] | None:
    """The asserted cell's centre when rules 2–5 pass for this device, else None."""
    if record is None or not record.active or record.kind != HEARTBEAT_KIND:
        return None
    return cell_centre(record.location)


def _payload(p: UsualPayload, block_hash: bytes | None) -> HeartbeatPayload:
    """The `HeartbeatPayload` a usual payload parses to (`block_hash`: its challenge hash's bytes)."""
    return HeartbeatPayload(
        lat_e7=p.lat_e7,
        lon_e7=p.lon_e7,
        accuracy_m=None if p.accuracy_m is UNSET else p.accuracy_m,
        challenge_block=None if p.challenge_block is UNSET else p.challenge_block,
        challenge_hash=block_hash,
    )


__all__ = ["compute_lines"]
