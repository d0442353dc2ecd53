"""A small simulation model of heartbeat devices, for the demo, the simulator and benchmarks.

Three behaviours, drawn with a caller-seeded `random.Random` so a scenario replays exactly:

- `HONEST`: one heartbeat in every hour of the epoch, within `HONEST_JITTER_M` of its cell
  centre (GPS noise), delivered a few hundred milliseconds later.
- `DISHONEST`: online all day but reporting a position `DISHONEST_MIN_M`–`DISHONEST_MAX_M`
  away from the asserted cell (a spoofed or moved device) — every heartbeat is
  `location_untrusted`.
- `FLAKY`: honest position, but online in only `FLAKY_MIN_HOURS`–`FLAKY_MAX_HOURS` random
  hours, below Helium's 12-hour minimum, so it earns nothing (`insufficient_uptime`).

With the liveness challenge on (`heartbeat.liveness_window_seconds` > 0) every device signs
the hour's entropy block into its payload and beats within the window after that block's
time; `simulated_entropy_blocks` makes up one block per hour (stamped at the hour's start) for
callers without a chain — put the same blocks into the snapshot.

The model only produces payloads and times; signing them into reports is the agent's job
(`DeviceAgent.build_report`), so the simulated devices exercise the real signing path.
Floats are fine here: this is the device side, and payloads are rounded to integers.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from opendepin.crypto import keccak256
from opendepin.network.settings import Settings
from opendepin.proofs.heartbeat.geo import cell_centre, offset_point
from opendepin.proofs.heartbeat.payload import make_payload
from opendepin.proofs.heartbeat.settings import heartbeat_section
from opendepin.proofs.heartbeat.verifier import MS_PER_SECOND
from opendepin.records import EntropyBlock

HONEST_JITTER_M = 120.0
"""Largest GPS error of an honest device, metres."""
DISHONEST_MIN_M = 1_000.0
DISHONEST_MAX_M = 20_000.0
"""Range of a dishonest device's distance from its asserted cell, metres."""
FLAKY_MIN_HOURS = 1
FLAKY_MAX_HOURS = 8
"""Range of hours a flaky device is online in an epoch."""
SIM_ACCURACY_M = 5
"""accuracy_m every simulated fix reports."""


class Behaviour(StrEnum):
    """How a simulated heartbeat device behaves."""

    HONEST = "honest"
    DISHONEST = "dishonest"
    FLAKY = "flaky"


@dataclass(frozen=True, slots=True)
class SimHeartbeat:
    """One simulated heartbeat before signing."""

    timestamp_ms: int
    """Device clock when it signs."""
    payload: dict[str, int | str]
    """The heartbeat payload (`payload.make_payload`)."""


SIM_BLOCKS_PER_HOUR = 300
"""Block numbers of made-up entropy blocks advance this much per hour (12 s blocks)."""


def simulated_entropy_blocks(settings: Settings, epoch: int, seed: int = 0) -> list[EntropyBlock]:
    """One made-up entropy block per `hour_seconds` of `epoch`, stamped at the hour's start."""
    start_ms, end_ms = settings.network.epoch_window_ms(epoch)
    hour_s = heartbeat_section(settings).hour_seconds
    out = []
    for hour in range((end_ms - start_ms) // (hour_s * MS_PER_SECOND)):
        number = (epoch * 10_000 + hour) * SIM_BLOCKS_PER_HOUR
        digest = keccak256(b"opendepin:sim:heartbeat-block:" + seed.to_bytes(8, "big", signed=True) + number.to_bytes(8, "big"))
        out.append(EntropyBlock(number, digest, start_ms // MS_PER_SECOND + hour * hour_s))
    return out


def simulate_device(
    behaviour: Behaviour,
    cell: int,
    epoch: int,
    settings: Settings,
    rng: random.Random,
    blocks: Sequence[EntropyBlock] | None = None,
) -> list[SimHeartbeat]:
    """The heartbeats one device sends during `epoch`, in time order.

    With liveness on, each heartbeat signs its hour's block of `blocks` (one per hour; default
    `simulated_entropy_blocks(settings, epoch)`) within the window after that block.
    """
    centre = cell_centre(cell)
    if centre is None:
        raise ValueError(f"not a valid H3 cell: {cell:#x}")
    start_ms, end_ms = settings.network.epoch_window_ms(epoch)
    section = heartbeat_section(settings)
    hour_ms = section.hour_seconds * MS_PER_SECOND
    n_hours = (end_ms - start_ms) // hour_ms
    window_ms = section.liveness_window_seconds * MS_PER_SECOND
    if window_ms and blocks is None:
        blocks = simulated_entropy_blocks(settings, epoch)
    if behaviour is Behaviour.FLAKY:
        k = rng.randint(FLAKY_MIN_HOURS, min(FLAKY_MAX_HOURS, n_hours))
        hours = sorted(rng.sample(range(n_hours), k))
    else:
        hours = list(range(n_hours))
    if behaviour is Behaviour.DISHONEST:
        low, high = DISHONEST_MIN_M, DISHONEST_MAX_M
    else:
        low, high = 0.0, HONEST_JITTER_M
    out = []
    for hour in hours:
        challenge = None
        if window_ms and blocks is not None:
            block = blocks[hour]
            ts = max(start_ms, block.timestamp * MS_PER_SECOND) + rng.randrange(window_ms)
            challenge = (block.number, block.hash)
        else:
            ts = start_ms + hour * hour_ms + rng.randrange(hour_ms)
        lat, lon = offset_point(centre[0], centre[1], rng.uniform(low, high), rng.uniform(0, 360))
        out.append(
            SimHeartbeat(
                timestamp_ms=ts,
                payload=make_payload(lat, lon, SIM_ACCURACY_M, challenge),
            )
        )
    return out
