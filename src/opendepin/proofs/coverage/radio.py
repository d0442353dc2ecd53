"""Radios: the pluggable edge between a coverage agent and the air.

`Radio` is what the agent needs from hardware: transmit a beacon frame, and hand back the
frames it received from others (each becomes a witness report). A LoRa concentrator driver
implements it on a real device.

`SimulatedRadio` models the channel for a whole population at once, so the demo and the
simulator can run the real agent and verifier code against honest and dishonest devices:

```
path loss (dB)  PL(d) = FSPL(d0, f) + 10·n·log10(d / d0) + X,   X ~ Normal(0, σ)   (d0 = 1 m)
RSSI (dBm)      = tx_power + gain_tx + gain_rx − PL(d)
heard           when RSSI >= sensitivity;  SNR = min(RSSI − noise floor, SNR saturation)
```

log-distance path loss with log-normal shadowing; exponent n ≈ 2.7–3.5 in towns, σ ≈ 4–8 dB.
A LoRa receiver's SNR estimate saturates (around +10..+14 dB) however strong the signal, so
the simulated SNR is capped too; below the noise floor it goes negative, as LoRa demodulates
down to about −20 dB (the verifier's plausibility rules expect exactly this, see `regions`).
Shadowing comes from a seeded `numpy.random.Generator`, so a scenario replays identically.
Positions are *true* positions (where the radio physically is), which for a location
spoofer differ from the asserted H3 cell the verifier sees. Floats are fine here: this is a
model of the physical world; what crosses into reports is rounded to integers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

import numpy as np

from opendepin.proofs.coverage.cells import EARTH_RADIUS_M, SPEED_OF_LIGHT_M_PER_S
from opendepin.types import DeviceId

REFERENCE_DISTANCE_M: Final = 1.0
DEFAULT_SENSITIVITY_CDBM: Final = -13_000
"""−130 dBm: roughly LoRa SF10–SF12 at 125 kHz."""
DEFAULT_NOISE_FLOOR_CDBM: Final = -11_700
"""−117 dBm: thermal noise in 125 kHz plus a 6 dB noise figure."""
DEFAULT_SNR_SATURATION_CDB: Final = 1_200
"""+12 dB: the highest SNR the simulated receiver reports (real ones saturate at +10..+14 dB)."""
MIN_DELAY_MS: Final = 20
MAX_DELAY_MS: Final = 600
"""Receptions are stamped this long after transmission (air time plus processing)."""


@dataclass(frozen=True, slots=True)
class Frame:
    """A beacon frame on air."""

    sender: DeviceId
    data: bytes
    frequency_hz: int
    tx_power_cdbm: int
    antenna_gain_cdbi: int
    sent_ms: int


@dataclass(frozen=True, slots=True)
class Reception:
    """One device hearing one frame."""

    receiver: DeviceId
    frame: Frame
    rssi_cdbm: int
    snr_cdb: int
    frequency_hz: int
    received_ms: int


class Radio(Protocol):
    """What the coverage agent needs from a radio."""

    def transmit(self, frame: Frame) -> None:
        """Put a beacon frame on air."""
        ...

    def receptions(self, receiver: DeviceId) -> list[Reception]:
        """Frames `receiver` heard since the last call (and forget them)."""
        ...


@dataclass(frozen=True, slots=True)
class RadioNode:
    """A simulated radio: where it really is and its antenna."""

    device: DeviceId
    lat_deg: float
    lng_deg: float
    antenna_gain_cdbi: int = 300


@dataclass
class SimulatedRadio:
    """A shared channel for a population of `RadioNode`s (see the module docstring)."""

    nodes: Sequence[RadioNode]
    seed: int = 0
    path_loss_exponent: float = 3.0
    shadowing_sigma_db: float = 6.0
    sensitivity_cdbm: int = DEFAULT_SENSITIVITY_CDBM
    noise_floor_cdbm: int = DEFAULT_NOISE_FLOOR_CDBM
    snr_saturation_cdb: int = DEFAULT_SNR_SATURATION_CDB
    _rng: np.random.Generator = field(init=False, repr=False)
    _index: dict[DeviceId, int] = field(init=False, repr=False)
    _lat: np.ndarray = field(init=False, repr=False)
    _lng: np.ndarray = field(init=False, repr=False)
    _gain_cdb: np.ndarray = field(init=False, repr=False)
    _inbox: dict[DeviceId, list[Reception]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)
        self._index = {n.device: i for i, n in enumerate(self.nodes)}
        self._lat = np.radians([n.lat_deg for n in self.nodes])
        self._lng = np.radians([n.lng_deg for n in self.nodes])
        self._gain_cdb = np.array([n.antenna_gain_cdbi for n in self.nodes], dtype=np.float64)
        self._inbox = {n.device: [] for n in self.nodes}

    def hear(self, frame: Frame) -> list[Reception]:
        """Every other node that hears `frame`, with its RSSI, SNR and reception time."""
        i = self._index[frame.sender]
        lat1, lng1 = self._lat[i], self._lng[i]
        hav = (
            np.sin((self._lat - lat1) / 2) ** 2
            + math.cos(lat1) * np.cos(self._lat) * np.sin((self._lng - lng1) / 2) ** 2
        )
        distance = np.maximum(
            2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(hav, 1.0))), REFERENCE_DISTANCE_M
        )
        fspl_d0 = 20 * math.log10(
            4 * math.pi * REFERENCE_DISTANCE_M * frame.frequency_hz / SPEED_OF_LIGHT_M_PER_S
        )
        shadowing = self._rng.normal(0.0, self.shadowing_sigma_db, len(self.nodes))
        path_loss_db = (
            fspl_d0
            + 10 * self.path_loss_exponent * np.log10(distance / REFERENCE_DISTANCE_M)
            + shadowing
        )
        rssi = (
            frame.tx_power_cdbm + frame.antenna_gain_cdbi + self._gain_cdb - 100 * path_loss_db
        )
        delays = self._rng.integers(MIN_DELAY_MS, MAX_DELAY_MS, len(self.nodes))
        out: list[Reception] = []
        for j in np.flatnonzero(rssi >= self.sensitivity_cdbm).tolist():
            if j == i:
                continue
            r = math.floor(float(rssi[j]))
            out.append(
                Reception(
                    receiver=self.nodes[j].device,
                    frame=frame,
                    rssi_cdbm=r,
                    snr_cdb=min(r - self.noise_floor_cdbm, self.snr_saturation_cdb),
                    frequency_hz=frame.frequency_hz,
                    received_ms=frame.sent_ms + int(delays[j]),
                )
            )
        return out

    def transmit(self, frame: Frame) -> None:
        """Deliver `frame` to every node that hears it (collected by `receptions`)."""
        for reception in self.hear(frame):
            self._inbox[reception.receiver].append(reception)

    def receptions(self, receiver: DeviceId) -> list[Reception]:
        heard, self._inbox[receiver] = self._inbox[receiver], []
        return heard
