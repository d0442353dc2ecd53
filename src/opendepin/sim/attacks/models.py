"""Radio and population models the adversarial suite runs in.

Two models of the physical world, each a honest population laid out on a jittered square grid
around Lisbon and a log-distance channel (`proofs.coverage.radio.SimulatedRadio`):

| model     | grid spacing | jitter  | path-loss exponent | shadowing σ | antenna gain | tx power |
|-----------|--------------|---------|--------------------|-------------|--------------|----------|
| `project` | 900 m        | ±150 m  | 3.0                | 6 dB        | 3 dBi        | 14 dBm   |
| `rooftop` | 600 m        | ±100 m  | 2.7                | 5 dB        | 6 dBi        | 10 dBm   |

`project` is the project's own scenario (`proofs.coverage.scenario`: ~900 m grid, the default
`SimulatedRadio`). `rooftop` is a denser network of antennas on roofs: clearer paths (exponent
2.7, less shadowing) and 3 dB more antenna gain — with the conducted power turned down so the
EIRP stays at EU868's +16 dBm, so the gain helps reception only — and every device hears
many more neighbours —
the setting in which fingerprint and density rules are hardest to get right without
penalising honest devices.

Keys are *derived* from the seed, the model and a role (`attack_key`), like
`scenario.simulation_key`: for simulation only — anyone who knows the seed has them.
Floats are fine here: this is a model of the physical world; what crosses into reports is
rounded to integers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import h3.api.basic_int as h3
import numpy as np

from opendepin.crypto import keccak256
from opendepin.identity import DeviceKey, KeyType
from opendepin.proofs.coverage.cells import SPEED_OF_LIGHT_M_PER_S
from opendepin.proofs.coverage.radio import (
    DEFAULT_NOISE_FLOOR_CDBM,
    DEFAULT_SENSITIVITY_CDBM,
    RadioNode,
    SimulatedRadio,
)
from opendepin.proofs.coverage.scenario import ASSERT_RESOLUTION, LISBON, METRES_PER_DEGREE_LAT

KEY_DOMAIN: Final = b"opendepin:sim:attacks:"
DEFAULT_HONEST: Final = 64
"""Honest devices per model unless the caller says otherwise."""
SIM_FREQUENCY_HZ: Final = 868_100_000


@dataclass(frozen=True, slots=True)
class RadioModel:
    """A physical world: where honest devices stand and how radio propagates there."""

    name: str
    spacing_m: float
    """Honest grid spacing."""
    jitter_m: float
    """Each honest device is moved up to this far from its grid point (both axes)."""
    path_loss_exponent: float
    shadowing_sigma_db: float
    antenna_gain_cdbi: int
    """Every device's antenna gain (what it reports and what the channel applies)."""
    tx_power_cdbm: int
    """Conducted transmit power (`project`: the agent's default 14 dBm; `rooftop`: 10 dBm, so
    the EIRP stays at EU868's +16 dBm)."""
    sensitivity_cdbm: int = DEFAULT_SENSITIVITY_CDBM
    noise_floor_cdbm: int = DEFAULT_NOISE_FLOOR_CDBM

    def radio(self, nodes: list[RadioNode], seed: int) -> SimulatedRadio:
        """A fresh channel over `nodes` (re-seeded per epoch by the caller)."""
        return SimulatedRadio(
            nodes,
            seed=seed,
            path_loss_exponent=self.path_loss_exponent,
            shadowing_sigma_db=self.shadowing_sigma_db,
            sensitivity_cdbm=self.sensitivity_cdbm,
            noise_floor_cdbm=self.noise_floor_cdbm,
        )

    def path_loss_db(self, distance_m: float, frequency_hz: int = SIM_FREQUENCY_HZ) -> float:
        """Median log-distance path loss (no shadowing), as `SimulatedRadio` models it."""
        return fspl_db(1.0, frequency_hz) + 10 * self.path_loss_exponent * math.log10(
            max(distance_m, 1.0)
        )


PROJECT: Final = RadioModel("project", 900.0, 150.0, 3.0, 6.0, 300, 1_400)
ROOFTOP: Final = RadioModel("rooftop", 600.0, 100.0, 2.7, 5.0, 600, 1_000)
MODELS: Final = {m.name: m for m in (PROJECT, ROOFTOP)}
"""Models by name (`depin sim attacks --model`)."""


def fspl_db(distance_m: float, frequency_hz: int = SIM_FREQUENCY_HZ) -> float:
    """Free-space path loss at `distance_m` (at least 1 m)."""
    return 20 * math.log10(4 * math.pi * max(distance_m, 1.0) * frequency_hz / SPEED_OF_LIGHT_M_PER_S)


def attack_key(seed: int, model: str, role: str, index: int) -> DeviceKey:
    """Deterministic simulation key `index` of `role` in (`seed`, `model`) — simulation only."""
    raw = keccak256(
        KEY_DOMAIN
        + seed.to_bytes(8, "big", signed=True)
        + model.encode()
        + b":"
        + role.encode()
        + b":"
        + index.to_bytes(4, "big")
    )
    return DeviceKey.from_private_bytes(KeyType.SECP256K1, raw)


def offset(lat: float, lng: float, north_m: float, east_m: float) -> tuple[float, float]:
    """The point `north_m`, `east_m` from (lat, lng) (flat-earth, fine below ~100 km)."""
    return (
        lat + north_m / METRES_PER_DEGREE_LAT,
        lng + east_m / (METRES_PER_DEGREE_LAT * math.cos(math.radians(lat))),
    )


def bearing_offset(lat: float, lng: float, distance_m: float, bearing_rad: float) -> tuple[float, float]:
    return offset(lat, lng, distance_m * math.cos(bearing_rad), distance_m * math.sin(bearing_rad))


def cell_of(lat: float, lng: float) -> int:
    """The asserted-resolution H3 cell containing (lat, lng)."""
    return int(h3.latlng_to_cell(lat, lng, ASSERT_RESOLUTION))


def cell_position(cell: int) -> tuple[float, float]:
    lat, lng = h3.cell_to_latlng(cell)
    return float(lat), float(lng)


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (lat, lng) points."""
    return float(h3.great_circle_distance(a, b, unit="m"))


def honest_grid(
    seed: int, model: RadioModel, count: int, centre: tuple[float, float] = LISBON
) -> list[tuple[float, float]]:
    """`count` positions on the model's jittered square grid around `centre`, seeded."""
    rng = np.random.default_rng([seed, 0x6A1D])
    side = math.ceil(math.sqrt(count)) if count else 0
    out = []
    for i in range(count):
        row, col = divmod(i, side)
        north = (row - (side - 1) / 2) * model.spacing_m + rng.uniform(-model.jitter_m, model.jitter_m)
        east = (col - (side - 1) / 2) * model.spacing_m + rng.uniform(-model.jitter_m, model.jitter_m)
        out.append(offset(*centre, north, east))
    return out


def grid_half_width_m(model: RadioModel, count: int) -> float:
    """Half the side of the honest grid (devices stand within this of the centre)."""
    return (math.ceil(math.sqrt(max(count, 1))) - 1) / 2 * model.spacing_m
