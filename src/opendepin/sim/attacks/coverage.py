"""Coverage attackers: each produces its reports the way that attacker really could.

An attacker with a real radio runs the real `CoverageAgent` over the epoch's `SimulatedRadio`,
through a *radio adapter* that does what its hardware and firmware would let it do: turn the
transmit power down, rewrite the RSSI it reports, share one receiver between many keys. An
attacker without a radio (a software key) runs the same agent over a `FabricatedRadio`: its
"receptions" are made up, and it can only put into them what it can know — its own members'
beacon data (they are one attacker and share it), or data computed from public inputs. Because
every report is built and signed by the real agent, any field the agent learns to produce (a
beacon secret, say) is produced by the attackers too, and every rule the verifier gains is
measured against them.

| attacker          | radio | what it does |
|-------------------|-------|--------------|
| `spoof_near`      | real  | stands among honest devices, asserts a spot 20–80 km away; transmits at reduced power so honest witnesses' RSSI fits free space over the asserted distance, and reports the RSSI of what it hears attenuated to fit too |
| `ring5`, `ring15`, `ring40` | none  | keys asserting cells ~1.5 km apart where no honest device is, witnessing only each other with log-distance RSSI/SNR over the asserted distances plus noise |
| `ring_weak`       | none  | the 5-ring claiming −135 dBm and −25 dB SNR on every witness |
| `ring_offchannel` | none  | the 5-ring on a 100 kHz carrier |
| `front10_same`    | one   | one receiver among honest devices fronting 10 keys asserting cells 1–3 km around it; every key beacons through it and witnesses everything it hears, identically |
| `front10_noised`  | one   | the same, each key adding its own ±3 dB noise and dropping 30 % of receptions |
| `predict`         | none  | 10 keys inside the honest area witnessing honest beacons they computed from public inputs (`payload.beacon_data` of the previous beacon's counter + 1, the window's entropy block) at the time the public schedule predicts; they beacon and witness each other too |
| `roof10`          | real  | ten radios on one roof among honest devices asserting positions 1–3 km apart; witnesses of each other re-measured to fit the asserted distances, everything else reported truthfully |
| `witness_only`    | real  | radios among honest devices that only witness, never beacon |
| `mover`           | real  | radios among honest devices asserting a new cell 2–5 km from the truth every epoch |
"""

from __future__ import annotations

import inspect
import math
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

import numpy as np

from opendepin.identity import DeviceKey
from opendepin.proofs.coverage import radio as radio_module
from opendepin.proofs.coverage.agent import BeaconSchedule, CoverageAgent, RadioConfig
from opendepin.proofs.coverage.params import CoverageParams
from opendepin.proofs.coverage.payload import (
    BEACON,
    BEACON_DATA_BYTES,
    beacon_data,
)
from opendepin.proofs.coverage.radio import (
    MAX_DELAY_MS,
    MIN_DELAY_MS,
    Frame,
    Radio,
    RadioNode,
    Reception,
)
from opendepin.proofs.coverage.scenario import LISBON
from opendepin.records import EntropyBlock
from opendepin.reports.envelope import Report
from opendepin.sim.attacks.models import (
    RadioModel,
    attack_key,
    bearing_offset,
    cell_of,
    cell_position,
    distance_m,
    fspl_db,
    grid_half_width_m,
    offset,
)
from opendepin.types import DeviceId

HONEST: Final = "honest"
SPOOF_MIN_M: Final = 20_000.0
SPOOF_MAX_M: Final = 80_000.0
RING_OFFSET_M: Final = (45_000.0, 40_000.0)
"""Where rings assert their cells relative to the city centre (no honest device there)."""
RING_SPACING_M: Final = 1_500.0
RING_NOISE_DB: Final = 3.0
"""Noise a ring adds to its made-up RSSI."""
WEAK_RSSI_CDBM: Final = -13_500
WEAK_SNR_CDB: Final = -2_500
OFFCHANNEL_HZ: Final = 100_000
FRONT_NOISE_DB: Final = 3.0
FRONT_DROP: Final = 0.3
CLUSTER_MIN_M: Final = 1_000.0
CLUSTER_MAX_M: Final = 3_000.0
MOVER_MIN_M: Final = 2_000.0
MOVER_MAX_M: Final = 5_000.0
ATTENUATE_MIN_DB: Final = 3.0
ATTENUATE_MAX_DB: Final = 10.0
"""A spoofer reports received RSSI this much below free space over the asserted distance."""


def _noise_rng(*parts: int) -> np.random.Generator:
    return np.random.default_rng([p & 0xFFFF_FFFF for p in parts])


@dataclass
class Member:
    """One key in the simulation (honest or an attacker's) and its device-side state."""

    key: DeviceKey
    role: str
    """`HONEST` or the attacker's scenario name."""
    cell: int
    """Currently asserted H3 cell."""
    agent: CoverageAgent
    phase_ms: int
    """Offset of its beacon in each epoch."""
    position: tuple[float, float] | None
    """Where its radio really is; None for a key without a radio."""
    beacons: bool = True

    @property
    def device(self) -> DeviceId:
        return DeviceId(self.key.device_id)


@dataclass(frozen=True)
class EpochContext:
    """What an attacker may know while an epoch runs: the model, the chain, public history."""

    model: RadioModel
    params: CoverageParams
    epoch: int
    seed: int
    blocks: Sequence[EntropyBlock]
    asserted: dict[DeviceId, tuple[float, float]]
    """Every registered device's asserted cell centre (the chain is public)."""
    previous: Sequence[Report] = ()
    """The previous epoch's reports (published once that epoch closed)."""

    def block_at(self, at_ms: int) -> EntropyBlock | None:
        start = self.params.epoch_start_ms(self.epoch)
        k = (at_ms - start) // (self.params.coverage.entropy_window_seconds * 1_000)
        return self.blocks[k] if 0 <= k < len(self.blocks) else None


def _seeded(seed: int, key: DeviceKey, what: str) -> random.Random:
    return random.Random(f"{seed}:{key.device_id}:{what}")


def make_agent(
    key: DeviceKey, radio: Radio, params: CoverageParams, config: RadioConfig, seed: int
) -> CoverageAgent:
    """The real agent, with seeded beacon times and secrets where it takes them (so a run
    replays; a real device draws both from the OS)."""
    schedule_kwargs: dict[str, Any] = {}
    if "rng" in inspect.signature(BeaconSchedule).parameters:
        schedule_kwargs["rng"] = _seeded(seed, key, "schedule")
    agent_kwargs: dict[str, Any] = {"config": config}
    if "secret_source" in inspect.signature(CoverageAgent).parameters:
        agent_kwargs["secret_source"] = _seeded(seed, key, "secrets").randbytes
    schedule = BeaconSchedule(params.coverage.beacon_interval_seconds, **schedule_kwargs)
    return CoverageAgent(key, radio, "opendepin-dev", 31337, schedule, **agent_kwargs)


def random_schedule() -> bool:
    """True when beacon times are random in [last + interval, last + 2·interval)."""
    return "rng" in inspect.signature(BeaconSchedule).parameters


def next_due_ms(schedule: BeaconSchedule, now_ms: int) -> int:
    """When `schedule` next lets its device beacon, at or after `now_ms`."""
    due: Callable[..., int | None] = schedule.next_due_ms
    if inspect.signature(due).parameters:
        return max(now_ms, int(due(now_ms) or now_ms))
    at = due()
    return now_ms if at is None else max(now_ms, at)


def plausible_rssi_cdbm(
    model: RadioModel, frame: Frame, rx_gain_cdbi: int, d_m: float, rng: np.random.Generator,
    noise_db: float,
) -> int:
    """What a receiver at `d_m` would hear on median log-distance loss, plus noise."""
    db = model.path_loss_db(d_m, frame.frequency_hz) + rng.normal(0.0, noise_db)
    return math.floor(frame.tx_power_cdbm + frame.antenna_gain_cdbi + rx_gain_cdbi - 100 * db)


SNR_SATURATION_CDB: Final[int] = getattr(radio_module, "DEFAULT_SNR_SATURATION_CDB", 10**6)
"""Where the simulated receiver's SNR saturates (attackers mirror the real radio)."""


def snr_for(model: RadioModel, rssi_cdbm: int) -> int:
    """The SNR a real receiver reports at `rssi_cdbm`: over the noise floor, saturating."""
    return min(rssi_cdbm - model.noise_floor_cdbm, SNR_SATURATION_CDB)


class _Inbox:
    def __init__(self) -> None:
        self.inbox: dict[DeviceId, list[Reception]] = defaultdict(list)

    def receptions(self, receiver: DeviceId) -> list[Reception]:
        heard = self.inbox.pop(receiver, [])
        return heard


class FabricatedRadio(_Inbox):
    """A software "channel" among an attacker's keys: made-up receptions of each other's beacons.

    RSSI is the model's median log-distance loss over the *asserted* distance plus noise, SNR
    the RSSI over the noise floor (or the fixed values of `rssi_cdbm`/`snr_cdb`); a reception
    the model says would be below sensitivity is left out, as a careful faker would.
    """

    def __init__(
        self, model: RadioModel, members: dict[DeviceId, tuple[float, float]], seed: int,
        rssi_cdbm: int | None = None, snr_cdb: int | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.members = members
        self.rng = _noise_rng(seed, 0xFAB)
        self.rssi_cdbm = rssi_cdbm
        self.snr_cdb = snr_cdb

    def transmit(self, frame: Frame) -> None:
        src = self.members[frame.sender]
        for receiver, pos in self.members.items():
            if receiver == frame.sender:
                continue
            d = distance_m(src, pos)
            rssi = (
                self.rssi_cdbm
                if self.rssi_cdbm is not None
                else plausible_rssi_cdbm(
                    self.model, frame, self.model.antenna_gain_cdbi, d, self.rng, RING_NOISE_DB
                )
            )
            if self.rssi_cdbm is None and rssi < self.model.sensitivity_cdbm:
                continue
            snr = (
                self.snr_cdb
                if self.snr_cdb is not None
                else snr_for(self.model, rssi) + int(self.rng.normal(0.0, 50.0))
            )
            delay = int(self.rng.integers(MIN_DELAY_MS, MAX_DELAY_MS))
            self.inbox[receiver].append(
                Reception(receiver, frame, rssi, snr, frame.frequency_hz, frame.sent_ms + delay)
            )


@dataclass
class SpoofingRadio:
    """A real radio whose firmware lies: quieter on air, and reported RSSI fitted to a far spot."""

    inner: Radio
    device: DeviceId
    ctx: EpochContext
    reduce_cdb: int
    rng: np.random.Generator

    def transmit(self, frame: Frame) -> None:
        self.inner.transmit(replace(frame, tx_power_cdbm=frame.tx_power_cdbm - self.reduce_cdb))

    def receptions(self, receiver: DeviceId) -> list[Reception]:
        out = []
        mine = self.ctx.asserted[self.device]
        for r in self.inner.receptions(receiver):
            sender = self.ctx.asserted.get(r.frame.sender)
            if sender is None:
                continue
            bound = (
                r.frame.tx_power_cdbm + r.frame.antenna_gain_cdbi + self.ctx.model.antenna_gain_cdbi
                - 100 * fspl_db(distance_m(mine, sender), r.frequency_hz)
            )
            fake = math.floor(bound - 100 * self.rng.uniform(ATTENUATE_MIN_DB, ATTENUATE_MAX_DB))
            rssi = min(r.rssi_cdbm, fake)
            if rssi < self.ctx.model.sensitivity_cdbm:
                continue
            out.append(replace(r, rssi_cdbm=rssi, snr_cdb=min(r.snr_cdb, snr_for(self.ctx.model, rssi))))
        return out


@dataclass
class FrontRadio:
    """One physical receiver shared by many keys (each key also transmits through it)."""

    inner: Radio
    physical: DeviceId
    keys: Sequence[DeviceId]
    noised: bool
    rng: np.random.Generator
    _boxes: dict[DeviceId, list[Reception]] = field(default_factory=dict)

    def transmit(self, frame: Frame) -> None:
        self.inner.transmit(frame)

    def _pull(self) -> None:
        heard = [r for r in self.inner.receptions(self.physical) if r.frame.sender not in self.keys]
        for k in self.keys:
            if k != self.physical:
                self.inner.receptions(k)  # co-located nodes: the same radio, already counted
            box = self._boxes.setdefault(k, [])
            for r in heard:
                if self.noised:
                    if self.rng.random() < FRONT_DROP:
                        continue
                    delta = math.floor(100 * self.rng.uniform(-FRONT_NOISE_DB, FRONT_NOISE_DB))
                    rssi = r.rssi_cdbm + delta
                    r = replace(r, rssi_cdbm=rssi, snr_cdb=min(r.snr_cdb + delta, SNR_SATURATION_CDB))
                box.append(replace(r, receiver=k))

    def receptions(self, receiver: DeviceId) -> list[Reception]:
        self._pull()
        return self._boxes.pop(receiver, [])


@dataclass
class RoofRadio:
    """A real radio on a shared roof: roof-mates' frames re-measured to fit the asserted distance."""

    inner: Radio
    device: DeviceId
    mates: frozenset[DeviceId]
    ctx: EpochContext
    rng: np.random.Generator

    def transmit(self, frame: Frame) -> None:
        self.inner.transmit(frame)

    def receptions(self, receiver: DeviceId) -> list[Reception]:
        out = []
        for r in self.inner.receptions(receiver):
            if r.frame.sender in self.mates:
                d = distance_m(self.ctx.asserted[self.device], self.ctx.asserted[r.frame.sender])
                rssi = plausible_rssi_cdbm(
                    self.ctx.model, r.frame, self.ctx.model.antenna_gain_cdbi, d, self.rng,
                    self.ctx.model.shadowing_sigma_db,
                )
                if rssi < self.ctx.model.sensitivity_cdbm:
                    continue
                r = replace(r, rssi_cdbm=rssi, snr_cdb=snr_for(self.ctx.model, rssi))
            out.append(r)
        return out


@dataclass
class PredictingRadio:
    """No radio: the fleet's own fabricated channel plus honest beacons computed in advance."""

    fleet: FabricatedRadio
    predicted: dict[DeviceId, list[Reception]]

    def transmit(self, frame: Frame) -> None:
        self.fleet.transmit(frame)

    def receptions(self, receiver: DeviceId) -> list[Reception]:
        return self.fleet.receptions(receiver) + self.predicted.pop(receiver, [])


def predicted_data(entropy: bytes, beaconer: DeviceId, counter: int) -> bytes:
    """The beacon data as public inputs give it (`beacon_data` without a secret, if it needs one).

    If beacons carry a secret the attacker cannot know, it guesses zero bytes — the best it
    can do, and wrong.
    """
    call: Callable[..., bytes] = beacon_data
    if len(inspect.signature(beacon_data).parameters) <= 3:
        return call(entropy, beaconer, counter)
    return call(entropy, beaconer, counter, bytes(BEACON_DATA_BYTES))


# ---------------------------------------------------------------------------------------------
# Attackers


class CoverageAttacker:
    """Base attacker: members, the physical nodes they add to the channel, per-epoch binding."""

    name: str = "attacker"

    def __init__(self, seed: int, model: RadioModel, params: CoverageParams, honest: int) -> None:
        self.seed = seed
        self.model = model
        self.params = params
        self.honest = honest
        self.members: list[Member] = []
        self.rng = _noise_rng(seed, 0xA77, _name_tag(self.name))
        self.config = RadioConfig(tx_power_cdbm=model.tx_power_cdbm, antenna_gain_cdbi=model.antenna_gain_cdbi)

    def _member(
        self, index: int, cell: int, position: tuple[float, float] | None, radio: Radio,
        config: RadioConfig | None = None, beacons: bool = True,
    ) -> Member:
        key = attack_key(self.seed, self.model.name, self.name, index)
        cfg = config if config is not None else self.config
        agent = make_agent(key, radio, self.params, cfg, self.seed)
        phase = int(self.rng.integers(0, self.params.epoch_seconds * 750))
        m = Member(key, self.name, cell, agent, phase, position, beacons)
        self.members.append(m)
        return m

    def among_honest(self) -> tuple[float, float]:
        """A random spot inside the honest grid."""
        half = grid_half_width_m(self.model, self.honest)
        n, e = self.rng.uniform(-half, half, 2)
        return offset(*LISBON, float(n), float(e))

    def nodes(self) -> list[RadioNode]:
        """Physical radios this attacker puts on air (co-located keys share a position)."""
        return [
            RadioNode(m.device, *m.position, self.model.antenna_gain_cdbi)
            for m in self.members
            if m.position is not None
        ]

    def before_epoch(self, epoch: int) -> None:
        """Change asserted cells before the epoch's snapshot is taken (default: never)."""

    def bind(self, radio: Radio, ctx: EpochContext) -> None:
        """Point every member's agent at this epoch's channel (through its adapter)."""
        for m in self.members:
            m.agent.radio = radio


def _name_tag(name: str) -> int:
    return int.from_bytes(name.encode()[:4].ljust(4, b"\0"), "big")


class SpoofNear(CoverageAttacker):
    name = "spoof_near"
    count = 5

    def __init__(self, seed: int, model: RadioModel, params: CoverageParams, honest: int) -> None:
        super().__init__(seed, model, params, honest)
        self.reduce: dict[DeviceId, int] = {}
        for i in range(self.count):
            pos = self.among_honest()
            d = float(self.rng.uniform(SPOOF_MIN_M, SPOOF_MAX_M))
            claim = bearing_offset(*pos, d, float(self.rng.uniform(0, 2 * math.pi)))
            m = self._member(i, cell_of(*claim), pos, NOWHERE)
            # Quiet enough that a neighbour half a grid step away stays under free space over
            # the asserted distance, with two sigmas of shadowing to spare.
            near = model.path_loss_db(model.spacing_m / 2) - 2 * model.shadowing_sigma_db
            self.reduce[m.device] = max(0, math.ceil(100 * (fspl_db(d) - near)))

    def bind(self, radio: Radio, ctx: EpochContext) -> None:
        for m in self.members:
            m.agent.radio = SpoofingRadio(
                radio, m.device, ctx, self.reduce[m.device], _noise_rng(ctx.seed, ctx.epoch, 0x5F)
            )


def ring_cells(n: int) -> list[tuple[float, float]]:
    """`n` asserted spots ~1.5 km apart on a square grid far from the honest area."""
    base = offset(*LISBON, *RING_OFFSET_M)
    side = math.ceil(math.sqrt(n))
    return [
        offset(*base, (i // side) * RING_SPACING_M, (i % side) * RING_SPACING_M) for i in range(n)
    ]


class Ring(CoverageAttacker):
    """Software keys witnessing only each other."""

    name = "ring5"
    count = 5
    rssi_cdbm: int | None = None
    snr_cdb: int | None = None
    frequency_hz: int | None = None

    def __init__(self, seed: int, model: RadioModel, params: CoverageParams, honest: int) -> None:
        super().__init__(seed, model, params, honest)
        config = (
            replace(self.config, frequency_hz=self.frequency_hz)
            if self.frequency_hz is not None
            else self.config
        )
        for i, spot in enumerate(ring_cells(self.count)):
            self._member(i, cell_of(*spot), None, NOWHERE, config)

    def bind(self, radio: Radio, ctx: EpochContext) -> None:
        fab = FabricatedRadio(
            self.model,
            {m.device: ctx.asserted[m.device] for m in self.members},
            ctx.seed * 7 + ctx.epoch,
            self.rssi_cdbm,
            self.snr_cdb,
        )
        for m in self.members:
            m.agent.radio = fab


class Ring15(Ring):
    name = "ring15"
    count = 15


class Ring40(Ring):
    """The cheapest cheat against the closed-cluster rule: a ring bigger than
    `min_cluster_devices` (32). Only the cost of 40 identities stands against it."""

    name = "ring40"
    count = 40


class RingWeak(Ring):
    name = "ring_weak"
    rssi_cdbm = WEAK_RSSI_CDBM
    snr_cdb = WEAK_SNR_CDB


class RingOffchannel(Ring):
    name = "ring_offchannel"
    frequency_hz = OFFCHANNEL_HZ


class Front(CoverageAttacker):
    """One real receiver fronting ten keys."""

    name = "front10_same"
    count = 10
    noised = False

    def __init__(self, seed: int, model: RadioModel, params: CoverageParams, honest: int) -> None:
        super().__init__(seed, model, params, honest)
        pos = self.among_honest()
        for i in range(self.count):
            d = float(self.rng.uniform(CLUSTER_MIN_M, CLUSTER_MAX_M))
            claim = bearing_offset(*pos, d, float(self.rng.uniform(0, 2 * math.pi)))
            self._member(i, cell_of(*claim), pos, NOWHERE)

    def bind(self, radio: Radio, ctx: EpochContext) -> None:
        keys = [m.device for m in self.members]
        front = FrontRadio(radio, keys[0], keys, self.noised, _noise_rng(ctx.seed, ctx.epoch, 0xF0))
        for m in self.members:
            m.agent.radio = front


class FrontNoised(Front):
    name = "front10_noised"
    noised = True


class Predict(CoverageAttacker):
    """Radio-less keys computing honest beacons from public inputs."""

    name = "predict"
    count = 10

    def __init__(self, seed: int, model: RadioModel, params: CoverageParams, honest: int) -> None:
        super().__init__(seed, model, params, honest)
        for i in range(self.count):
            self._member(i, cell_of(*self.among_honest()), None, NOWHERE)

    def bind(self, radio: Radio, ctx: EpochContext) -> None:
        mine = {m.device: ctx.asserted[m.device] for m in self.members}
        fleet = FabricatedRadio(self.model, mine, ctx.seed * 11 + ctx.epoch)
        rng = _noise_rng(ctx.seed, ctx.epoch, 0x9D)
        predicted: dict[DeviceId, list[Reception]] = defaultdict(list)
        interval_ms = self.params.coverage.beacon_interval_seconds * 1_000
        # The public schedule: the next beacon one interval after the last (midway through
        # [last + interval, last + 2·interval) when times are random), the counter one up.
        gap_ms = interval_ms * 3 // 2 if random_schedule() else interval_ms
        last: dict[DeviceId, Report] = {}
        for r in ctx.previous:
            if r.device in mine or r.device not in ctx.asserted:
                continue
            newer = r.device not in last or r.timestamp_ms > last[r.device].timestamp_ms
            if newer and r.payload_obj().get("type") == BEACON:
                last[r.device] = r
        end_ms = self.params.epoch_end_ms(ctx.epoch)
        for device, r in sorted(last.items()):
            obj = r.payload_obj()
            k = 1
            while gap_ms > 0 and (at_ms := r.timestamp_ms + k * gap_ms) < end_ms:
                block = ctx.block_at(at_ms)
                k += 1
                if block is None:
                    continue
                data = predicted_data(block.hash, device, int(obj["counter"]) + k - 1)
                frame = Frame(
                    device, data, int(obj["frequency_hz"]), int(obj["tx_power_cdbm"]),
                    int(obj["antenna_gain_cdbi"]), at_ms,
                )
                for w, pos in mine.items():
                    d = distance_m(pos, ctx.asserted[device])
                    rssi = plausible_rssi_cdbm(
                        self.model, frame, self.model.antenna_gain_cdbi, d, rng, RING_NOISE_DB
                    )
                    if rssi < self.model.sensitivity_cdbm:
                        continue
                    delay = int(rng.integers(MIN_DELAY_MS, MAX_DELAY_MS))
                    predicted[w].append(
                        Reception(w, frame, rssi, snr_for(self.model, rssi),
                                  frame.frequency_hz, at_ms + delay)
                    )
        prediction = PredictingRadio(fleet, predicted)
        for m in self.members:
            m.agent.radio = prediction


class Roof(CoverageAttacker):
    name = "roof10"
    count = 10

    def __init__(self, seed: int, model: RadioModel, params: CoverageParams, honest: int) -> None:
        super().__init__(seed, model, params, honest)
        roof = self.among_honest()
        for i in range(self.count):
            pos = offset(*roof, *self.rng.uniform(-3, 3, 2))
            d = float(self.rng.uniform(CLUSTER_MIN_M, CLUSTER_MAX_M))
            claim = bearing_offset(*roof, d, float(self.rng.uniform(0, 2 * math.pi)))
            self._member(i, cell_of(*claim), pos, NOWHERE)

    def bind(self, radio: Radio, ctx: EpochContext) -> None:
        mates = frozenset(m.device for m in self.members)
        for m in self.members:
            m.agent.radio = RoofRadio(
                radio, m.device, mates, ctx, _noise_rng(ctx.seed, ctx.epoch, int(m.device[2:10], 16))
            )


class WitnessOnly(CoverageAttacker):
    name = "witness_only"
    count = 5

    def __init__(self, seed: int, model: RadioModel, params: CoverageParams, honest: int) -> None:
        super().__init__(seed, model, params, honest)
        for i in range(self.count):
            pos = self.among_honest()
            self._member(i, cell_of(*pos), pos, NOWHERE, beacons=False)


class Mover(CoverageAttacker):
    name = "mover"
    count = 5

    def __init__(self, seed: int, model: RadioModel, params: CoverageParams, honest: int) -> None:
        super().__init__(seed, model, params, honest)
        for i in range(self.count):
            pos = self.among_honest()
            self._member(i, cell_of(*pos), pos, NOWHERE)

    def before_epoch(self, epoch: int) -> None:
        rng = _noise_rng(self.seed, epoch, 0x30E)
        for m in self.members:
            assert m.position is not None
            d = float(rng.uniform(MOVER_MIN_M, MOVER_MAX_M))
            m.cell = cell_of(*bearing_offset(*m.position, d, float(rng.uniform(0, 2 * math.pi))))


class _Nowhere:
    """Placeholder radio until `bind` points an agent at the epoch's channel."""

    def transmit(self, frame: Frame) -> None:
        raise RuntimeError("attacker agent used before bind()")

    def receptions(self, receiver: DeviceId) -> list[Reception]:
        return []


NOWHERE: Final = _Nowhere()

COVERAGE_ATTACKERS: Final[dict[str, type[CoverageAttacker]]] = {
    cls.name: cls
    for cls in (
        SpoofNear, Ring, Ring15, Ring40, RingWeak, RingOffchannel, Front, FrontNoised, Predict, Roof,
        WitnessOnly, Mover,
    )
}
"""Coverage attackers by scenario name."""


def asserted_positions(members: Sequence[Member]) -> dict[DeviceId, tuple[float, float]]:
    return {m.device: cell_position(m.cell) for m in members}
