"""Region plans: which channels, how much power, and what a receiver can hear, per region.

A coverage device names its regulatory region in every beacon and witness (`"EU868"`, …).
The region fixes what is *physically and legally plausible* about the report, so the
verifier can refuse radio claims no real LoRa radio would make (docs/coverage.md, "Radio
plausibility"):

* **Channels.** Uplinks use 125 kHz LoRa channels at fixed centre frequencies; a beacon or
  witness on 100 kHz, or between two channels, did not happen on the air.
* **Power.** Each region caps the radiated power (EIRP = conducted power + antenna gain). A
  beacon claiming more is either illegal or lying to loosen the free-space RSSI bound.
* **Receiver model.** What a LoRa receiver of the region's bandwidth can report:

  ```
  noise floor (dBm)  N = −174 dBm/Hz + 10·log10(bandwidth) + noise figure   (−117.0 at 125 kHz, NF 6 dB)
  sensitivity        RSSI ≥ −137 dBm (SF12/125 kHz) less a margin            (−142 dBm)
  demodulation       SNR ≥ −20 dB (SF12)
  SNR                ≈ RSSI − N above the noise floor, saturating at +10..+14 dB
  ```

The plans are data, `regions.toml` beside this module (package data), loaded once and
checked strictly. All numbers are integers in the repository's units: Hz, centi-dBm for
powers, centi-dB for gains, SNR and the noise figure. A network chooses which of these
regions it accepts in `[coverage] regions`.

Sources: LoRa Alliance, *RP002-1.0.x LoRaWAN Regional Parameters* (channel plans, default
channels and maximum EIRP: EU868 +16 dBm EIRP / 14 dBm ERP; US915 +30 dBm conducted with
≤ 6 dBi, 36 dBm EIRP; AU915 and IN865 +30 dBm EIRP; AS923 +16 dBm; CN470 +19.15 dBm; KR920
+14 dBm); the channels and `max_eirp` of helium/miner `audit/var-poc-v11-params.erl`
(Helium's region parameters, which all fall on these grids); The Things Network's regional
parameter pages (maximum EIRP per plan); Semtech SX1276 datasheet (SF12/125 kHz sensitivity
−137 dBm, demodulation down to −20 dB SNR) and SX1302 (gateway sensitivity to about
−139..−141 dBm).
"""

from __future__ import annotations

import bisect
import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Final

PLANS_RESOURCE: Final = "regions.toml"
"""The data file (package data of `opendepin.proofs.coverage`)."""
THERMAL_NOISE_CDBM_PER_HZ: Final = -17_400
"""kT at 290 K: −174 dBm in 1 Hz."""
CENTI: Final = 100


def thermal_noise_floor_cdbm(bandwidth_hz: int, noise_figure_cdb: int) -> int:
    """−174 dBm/Hz + 10·log10(bandwidth) + noise figure, rounded to a centi-dBm.

    Evaluated once per plan when the plans load (never per report); −11,703 for 125 kHz and a
    6 dB noise figure.
    """
    if bandwidth_hz <= 0:
        raise ValueError(f"bandwidth must be positive, got {bandwidth_hz} Hz")
    return THERMAL_NOISE_CDBM_PER_HZ + round(CENTI * 10 * math.log10(bandwidth_hz)) + noise_figure_cdb


@dataclass(frozen=True, slots=True)
class RegionPlan:
    """One region's channels, power limit and receiver model (integers, see the module docstring)."""

    name: str
    """Canonical name, as devices put it in `region` (e.g. "EU868", "AS923-1")."""
    aliases: tuple[str, ...]
    """Other names devices may use for the same plan (e.g. "AS923")."""
    channels_hz: tuple[int, ...]
    """Centre frequencies of the uplink channels beacons and witnesses may use, ascending."""
    bandwidth_hz: int
    """Channel bandwidth."""
    max_eirp_cdbm: int
    """Largest radiated power allowed: conducted power + antenna gain."""
    sensitivity_cdbm: int
    """Weakest RSSI a receiver can demodulate (SF12), with margin: weaker claims are impossible."""
    demodulation_snr_floor_cdb: int
    """Lowest SNR at which LoRa still demodulates (SF12)."""
    noise_figure_cdb: int
    """Receiver noise figure assumed by the noise floor."""
    noise_floor_cdbm: int
    """Thermal noise in the channel plus the noise figure (`thermal_noise_floor_cdbm`)."""
    snr_saturation_cdb: int
    """Highest SNR a LoRa receiver reports, however strong the signal."""
    channel_centres: frozenset[int] = field(init=False, repr=False, compare=False)
    """`channels_hz` as a set: the verifier's fast path for a report exactly on a channel."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "channel_centres", frozenset(self.channels_hz))

    @property
    def names(self) -> tuple[str, ...]:
        """The canonical name and the aliases."""
        return (self.name, *self.aliases)

    def nearest_channel_hz(self, frequency_hz: int) -> int:
        """The channel centre closest to `frequency_hz` (the lower one on a tie; a bisection)."""
        channels = self.channels_hz
        i = bisect.bisect_left(channels, frequency_hz)
        if i == 0:
            return channels[0]
        if i == len(channels):
            return channels[-1]
        below, above = channels[i - 1], channels[i]
        return below if frequency_hz - below <= above - frequency_hz else above

    def channel_offset_hz(self, frequency_hz: int) -> int:
        """Distance from `frequency_hz` to the nearest channel centre."""
        return abs(frequency_hz - self.nearest_channel_hz(frequency_hz))


_PLAN_KEYS: Final = frozenset(
    {"aliases", "channels_hz", "first_hz", "spacing_hz", "count", "max_eirp_cdbm"}
)
_RECEIVER_KEYS: Final = frozenset(
    {
        "bandwidth_hz",
        "sensitivity_cdbm",
        "demodulation_snr_floor_cdb",
        "noise_figure_cdb",
        "snr_saturation_cdb",
    }
)


def _int(table: Mapping[str, Any], key: str, where: str) -> int:
    value = table.get(key)
    if type(value) is not int:
        raise ValueError(f"{where}: {key} must be an integer, got {value!r}")
    return value


def _channels(table: Mapping[str, Any], where: str) -> tuple[int, ...]:
    if "channels_hz" in table:
        if any(k in table for k in ("first_hz", "spacing_hz", "count")):
            raise ValueError(f"{where}: give channels_hz or a grid (first_hz, spacing_hz, count), not both")
        raw = table["channels_hz"]
        if not isinstance(raw, list) or not raw or any(type(f) is not int or f <= 0 for f in raw):
            raise ValueError(f"{where}: channels_hz must be a non-empty list of positive integers")
        channels = tuple(sorted(set(raw)))
        if len(channels) != len(raw):
            raise ValueError(f"{where}: channels_hz lists a channel twice")
        return channels
    first, spacing, count = (_int(table, k, where) for k in ("first_hz", "spacing_hz", "count"))
    if first <= 0 or spacing <= 0 or count <= 0:
        raise ValueError(f"{where}: first_hz, spacing_hz and count must be positive")
    return tuple(first + k * spacing for k in range(count))


def parse_plans(data: Mapping[str, Any]) -> dict[str, RegionPlan]:
    """Region plans from the parsed `regions.toml` (ValueError naming what is wrong)."""
    receiver = data.get("receiver")
    regions = data.get("regions")
    if not isinstance(receiver, dict) or not isinstance(regions, dict) or not regions:
        raise ValueError("region plans need a [receiver] table and at least one [regions.<name>]")
    if set(receiver) != _RECEIVER_KEYS:
        raise ValueError(f"[receiver] must set exactly {sorted(_RECEIVER_KEYS)}")
    plans: dict[str, RegionPlan] = {}
    seen: set[str] = set()
    for name, table in regions.items():
        where = f"[regions.{name}]"
        if not isinstance(table, dict):
            raise ValueError(f"{where} must be a table")
        unknown = set(table) - _PLAN_KEYS - _RECEIVER_KEYS
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}")
        model = {k: _int(table, k, where) if k in table else receiver[k] for k in _RECEIVER_KEYS}
        aliases = table.get("aliases", [])
        if not isinstance(aliases, list) or any(not isinstance(a, str) or not a for a in aliases):
            raise ValueError(f"{where}: aliases must be a list of names")
        plan = RegionPlan(
            name=name,
            aliases=tuple(aliases),
            channels_hz=_channels(table, where),
            bandwidth_hz=model["bandwidth_hz"],
            max_eirp_cdbm=_int(table, "max_eirp_cdbm", where),
            sensitivity_cdbm=model["sensitivity_cdbm"],
            demodulation_snr_floor_cdb=model["demodulation_snr_floor_cdb"],
            noise_figure_cdb=model["noise_figure_cdb"],
            noise_floor_cdbm=thermal_noise_floor_cdbm(model["bandwidth_hz"], model["noise_figure_cdb"]),
            snr_saturation_cdb=model["snr_saturation_cdb"],
        )
        for label in plan.names:
            if label in seen:
                raise ValueError(f"{where}: region name {label!r} is used twice")
            seen.add(label)
        plans[name] = plan
    return plans


@cache
def region_plans() -> Mapping[str, RegionPlan]:
    """Every known plan by canonical name (loaded once from `regions.toml`)."""
    text = resources.files(__package__).joinpath(PLANS_RESOURCE).read_text(encoding="utf-8")
    return parse_plans(tomllib.loads(text))


@cache
def _by_label() -> Mapping[str, RegionPlan]:
    return {label: plan for plan in region_plans().values() for label in plan.names}


def region_names() -> tuple[str, ...]:
    """Canonical names of every known plan, in file order."""
    return tuple(region_plans())


def region_plan(name: str) -> RegionPlan | None:
    """The plan called `name` (canonical name or alias, case as written), or None."""
    return _by_label().get(name)


def accepted_plans(names: Iterable[str]) -> dict[str, RegionPlan]:
    """Every name and alias of the plans in `names` -> its plan: what a verifier looks up.

    Raises ValueError for a name that is no known plan (settings validate this at load).
    """
    out: dict[str, RegionPlan] = {}
    for name in names:
        plan = region_plan(name)
        if plan is None:
            raise ValueError(f"unknown region {name!r}; known: {', '.join(region_names())}")
        out.update(dict.fromkeys(plan.names, plan))
    return out
