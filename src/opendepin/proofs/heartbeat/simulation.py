"""A seeded population of simulated heartbeat devices, honest and dishonest.

The demo and the tests need devices that behave like real ones — and some that cheat — with
everything derived from one seed so two runs with the same seed sign the same bytes:

| behaviour        | what it sends                                         | caught by                      |
|------------------|-------------------------------------------------------|--------------------------------|
| honest           | one heartbeat an hour within ~60 m of its asserted cell | (rewarded)                    |
| wrong_location   | heartbeats ~2 km from its asserted cell                | heartbeat `location_untrusted` |
| replayer         | each heartbeat, then the same signed report again      | ingest `replayed`              |
| forger           | also heartbeats signed by a key that is not the device's | ingest `signer_mismatch`     |
| flaky            | heartbeats in only a few hours of the day              | heartbeat `insufficient_uptime`|

Given the hour's entropy block (`hour_reports(entropy_block=…, entropy=…)`, as the demo's
`SimHour` carries it), every device — honest or not — signs it into its payload as the
liveness challenge and sends within `send_within_seconds` of the hour's start, so the
cheats above are still caught by their own rule, not by a missing challenge.

Keys are derived as `keccak256("opendepin-sim:<seed>:<role>:<index>")` — a simulation
convenience that must never be used for real keys (anyone who knows the seed has them).
Devices sit around a real place (Lisbon by default) and assert the resolution-12 H3 cell
(~11 m edge) of their home position.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

import h3

from opendepin.chain.accounts import Signer
from opendepin.geo import E7
from opendepin.identity import DeviceKey, KeyType
from opendepin.reports.eip712 import report_digest, sign_report
from opendepin.reports.envelope import Report, canonical_payload
from opendepin.sim.keys import sim_owners, sim_secret
from opendepin.types import DeviceId, Epoch, ProofKind

HEARTBEAT = ProofKind("heartbeat")
LISBON_LAT_E7 = 387_223_000
LISBON_LON_E7 = -91_393_000
HOME_SPREAD_E7 = 400_000
"""Devices are placed uniformly within ±0.04° (~4 km) of the centre."""
HONEST_JITTER_E7 = 4_000
"""Honest heartbeats wander up to ±0.0004° (~45 m) from home."""
WRONG_LOCATION_OFFSET_E7 = 200_000
"""Wrong-location devices report ~0.02° (~2 km) away from their asserted cell."""
ASSERTED_CELL_RESOLUTION = 12
SECONDS_PER_HOUR = 3_600
CHALLENGE_SEND_WITHIN_SECONDS = 150
"""With a challenge, devices sign within this long after the hour's start: half the
default 300 s `liveness_window_seconds`, leaving room for a block mined a little before the hour."""
FLAKY_HOURS = 6
"""A flaky device is online this many hours a day (below the 12-hour minimum)."""


class Behaviour(StrEnum):
    """How a simulated device behaves (see the module table)."""

    HONEST = "honest"
    WRONG_LOCATION = "wrong_location"
    REPLAYER = "replayer"
    FORGER = "forger"
    FLAKY = "flaky"


@dataclass(slots=True)
class SimDevice:
    """One simulated device and its device-side state (its sequence counter)."""

    index: int
    """Position in the population."""
    key: DeviceKey
    """The device key (derived from the seed)."""
    owner: Signer
    """Who owns (and registers) the device."""
    behaviour: Behaviour
    """How it behaves."""
    home_lat_e7: int
    """Where it really is, degrees × 10**7."""
    home_lon_e7: int
    cell: int
    """Its asserted H3 cell (resolution 12) as an unsigned int."""
    next_seq: int = 1
    """Next sequence number it will sign."""
    last_report: Report | None = field(default=None, repr=False)

    @property
    def device_id(self) -> DeviceId:
        return self.key.device_id


def behaviour_plan(devices: int, dishonest_per_mille: int = 100) -> list[Behaviour]:
    """Behaviours for `devices` devices: about `dishonest_per_mille`‰ cheat, spread evenly.

    At least one of each dishonest behaviour when there are 8 or more devices, so small
    demos still show every rejection reason.
    """
    dishonest = [Behaviour.WRONG_LOCATION, Behaviour.REPLAYER, Behaviour.FORGER, Behaviour.FLAKY]
    count = max(len(dishonest) if devices >= 2 * len(dishonest) else 0, devices * dishonest_per_mille // 1000)
    plan = [Behaviour.HONEST] * devices
    if count == 0:
        return plan
    stride = devices // count
    for i in range(count):
        plan[i * stride + stride // 2] = dishonest[i % len(dishonest)]
    return plan


class Population:
    """Devices, owners and the reports they send, all derived from `seed`."""

    def __init__(
        self,
        seed: int,
        devices: int,
        owners: Sequence[Signer] | None = None,
        centre_e7: tuple[int, int] = (LISBON_LAT_E7, LISBON_LON_E7),
    ) -> None:
        rng = random.Random(seed)
        self.seed = seed
        self.owners = list(owners) if owners is not None else sim_owners(seed, max(1, devices // 4))
        n_owners = len(self.owners)
        self._forger_key = DeviceKey.from_private_bytes(KeyType.SECP256K1, sim_secret(seed, "forger", 0))
        self.devices: list[SimDevice] = []
        for i, behaviour in enumerate(behaviour_plan(devices)):
            lat = centre_e7[0] + rng.randint(-HOME_SPREAD_E7, HOME_SPREAD_E7)
            lon = centre_e7[1] + rng.randint(-HOME_SPREAD_E7, HOME_SPREAD_E7)
            cell = h3.str_to_int(h3.latlng_to_cell(lat / E7, lon / E7, ASSERTED_CELL_RESOLUTION))
            self.devices.append(
                SimDevice(
                    index=i,
                    key=DeviceKey.from_private_bytes(KeyType.SECP256K1, sim_secret(seed, "device", i)),
                    owner=self.owners[rng.randrange(n_owners)],
                    behaviour=behaviour,
                    home_lat_e7=lat,
                    home_lon_e7=lon,
                    cell=cell,
                )
            )
        self._rng = random.Random(seed ^ 0x5EED)

    def by_id(self) -> dict[DeviceId, SimDevice]:
        return {d.device_id: d for d in self.devices}

    def hour_reports(
        self,
        *,
        network_id: str,
        chain_id: int,
        epoch: Epoch,
        hour: int,
        epoch_start_unix: int,
        entropy_block: int | None = None,
        entropy: bytes | None = None,
        send_within_seconds: int | None = None,
    ) -> Iterator[Report]:
        """Every report the population sends in `hour` (0..23) of `epoch`, in device order.

        Includes the dishonest extras (replays, forgeries); advances sequence counters. With
        `entropy_block` and its hash `entropy` (the hour's entropy block, mined at or before
        the hour's start) every payload carries them as its liveness challenge. Devices sign
        within the first `send_within_seconds` of the hour (at most half an hour; default
        `CHALLENGE_SEND_WITHIN_SECONDS` with a challenge, else half an hour).
        """
        if (entropy_block is None) != (entropy is None):
            raise ValueError("entropy_block and entropy go together")
        if send_within_seconds is None:
            send_within_seconds = CHALLENGE_SEND_WITHIN_SECONDS if entropy is not None else SECONDS_PER_HOUR // 2
        spread_s = max(1, min(send_within_seconds, SECONDS_PER_HOUR // 2))
        challenge = (
            {"challenge_block": entropy_block, "challenge_hash": "0x" + entropy.hex()}
            if entropy_block is not None and entropy is not None
            else {}
        )
        rng = self._rng
        for dev in self.devices:
            if dev.behaviour is Behaviour.FLAKY and hour >= FLAKY_HOURS:
                continue
            offset_s = (dev.index * 37) % spread_s
            ts_ms = (epoch_start_unix + hour * SECONDS_PER_HOUR + offset_s) * 1000
            lat = dev.home_lat_e7 + rng.randint(-HONEST_JITTER_E7, HONEST_JITTER_E7)
            lon = dev.home_lon_e7 + rng.randint(-HONEST_JITTER_E7, HONEST_JITTER_E7)
            if dev.behaviour is Behaviour.WRONG_LOCATION:
                lat += WRONG_LOCATION_OFFSET_E7
            report = Report(
                network_id=network_id,
                chain_id=chain_id,
                device=dev.device_id,
                kind=HEARTBEAT,
                epoch=epoch,
                seq=dev.next_seq,
                timestamp_ms=ts_ms,
                payload=canonical_payload({"lat_e7": lat, "lon_e7": lon, "accuracy_m": 5, **challenge}),
            )
            dev.next_seq += 1
            signed = sign_report(report, dev.key)
            yield signed
            if dev.behaviour is Behaviour.REPLAYER:
                yield signed  # the same signed report again: a replay
            elif dev.behaviour is Behaviour.FORGER:
                forged = Report(
                    network_id=network_id,
                    chain_id=chain_id,
                    device=dev.device_id,
                    kind=HEARTBEAT,
                    epoch=epoch,
                    seq=dev.next_seq,
                    timestamp_ms=ts_ms + 1,
                    payload=report.payload,
                )
                dev.next_seq += 1
                # Signed by a key that is not the device's: ingest must say signer_mismatch.
                yield replace(forged, signature=self._forger_key.sign_digest(report_digest(forged)))
