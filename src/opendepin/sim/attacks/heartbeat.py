"""Heartbeat attackers, built with the heartbeat simulation's own report builder.

Every heartbeat here comes out of `proofs.heartbeat.simulation.Population.hour_reports`, the
builder the demo and the oracle tests use, so a field it learns to produce (a liveness
challenge, say) is produced for honest devices and attackers alike. An attacker is a
`Population` of its own (keys derived from its own seed) whose devices are moved to where the
attacker puts them, and whose reports are delivered when the attacker could really send them:

| attacker      | what it does |
|---------------|--------------|
| `hb_spoof`    | 5 devices really in Lisbon asserting — and reporting — a spot in Porto. Nothing in a heartbeat can reveal a consistent lie about position; the suite shows what it earns |
| `hb_farm30`   | 30 keys on one machine asserting the same or adjacent resolution-12 cells, each sending a perfect heartbeat every hour |
| `hb_parttime` | 5 devices online 12 minutes a day (from 11:48): in that session each signs one heartbeat for every hour 0–11 (back-dated, with each hour's public challenge block when the builder takes one) and delivers them all; what ingest's freshness check (`reports.verify.check_time` at the arrival time) refuses never reaches the verifier |

Honest devices are a `Population` with every device honest, one heartbeat an hour.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import h3

from opendepin.geo import E7
from opendepin.network.settings import Settings
from opendepin.proofs.heartbeat.simulation import ASSERTED_CELL_RESOLUTION, Behaviour, Population
from opendepin.records import EntropyBlock
from opendepin.reports.envelope import Report
from opendepin.reports.verify import check_time
from opendepin.sim.attacks.models import offset
from opendepin.types import Epoch

HOURS_PER_DAY: Final = 24
PORTO_E7: Final = (411_579_000, -86_291_000)
FARM_SPOT_E7: Final = (387_500_000, -91_600_000)
"""Where the farm machine is (inside the honest area)."""
PARTTIME_SESSION_START_S: Final = 11 * 3_600 + 48 * 60
"""The part-timer is online from 11:48 to 12:00 (12 minutes a day)."""
PARTTIME_CLAIMED_HOURS: Final = 12
ATTACKER_SEED_SALT: Final = 0xA77AC


def _set_home(population: Population, index: int, lat_e7: int, lon_e7: int) -> None:
    dev = population.devices[index]
    dev.home_lat_e7, dev.home_lon_e7 = lat_e7, lon_e7
    dev.cell = h3.str_to_int(h3.latlng_to_cell(lat_e7 / E7, lon_e7 / E7, ASSERTED_CELL_RESOLUTION))
    dev.behaviour = Behaviour.HONEST


def honest_population(seed: int, count: int) -> Population:
    """`count` honest heartbeat devices around Lisbon (the builder's own layout)."""
    pop = Population(seed, count)
    for dev in pop.devices:
        dev.behaviour = Behaviour.HONEST
    return pop


def builder_takes_challenge() -> bool:
    """True when `Population.hour_reports` can put the hour's challenge block in payloads."""
    names = inspect.signature(Population.hour_reports).parameters
    return "entropy_block" in names and "entropy" in names


def hour_reports(
    population: Population, settings: Settings, epoch: int, hour: int, block: EntropyBlock | None
) -> Iterator[Report]:
    """`Population.hour_reports` for one hour (with the hour's challenge block if it takes one)."""
    net = settings.network
    kwargs: dict[str, Any] = {
        "network_id": net.network_id,
        "chain_id": net.chain_id,
        "epoch": Epoch(epoch),
        "hour": hour,
        "epoch_start_unix": net.epoch_start_unix(epoch),
    }
    if block is not None and builder_takes_challenge():
        kwargs["entropy_block"] = block.number
        kwargs["entropy"] = block.hash
    return population.hour_reports(**kwargs)


@dataclass
class HeartbeatAttacker:
    """A population of attacker devices and when their reports reach ingest."""

    name: str
    population: Population

    def epoch_reports(
        self, settings: Settings, epoch: int, blocks: Sequence[EntropyBlock]
    ) -> list[Report]:
        """What ingest accepts from the attacker this epoch (default: a heartbeat every hour)."""
        return [
            r for hour in range(HOURS_PER_DAY)
            for r in hour_reports(self.population, settings, epoch, hour, _block(blocks, hour))
        ]


def _block(blocks: Sequence[EntropyBlock], hour: int) -> EntropyBlock | None:
    return blocks[hour] if 0 <= hour < len(blocks) else None


class PartTimer(HeartbeatAttacker):
    def epoch_reports(
        self, settings: Settings, epoch: int, blocks: Sequence[EntropyBlock]
    ) -> list[Report]:
        net = settings.network
        arrival_ms = (net.epoch_start_unix(epoch) + PARTTIME_SESSION_START_S + 12 * 60) * 1_000
        signed = [
            r for hour in range(PARTTIME_CLAIMED_HOURS)
            for r in hour_reports(self.population, settings, epoch, hour, _block(blocks, hour))
        ]
        # Ingest judges freshness by its own clock at arrival: back-dated beyond the limit is stale.
        return [
            r for r in signed
            if check_time(
                r, arrival_ms, net.report_max_age_seconds, net.report_max_future_seconds,
                net.epoch_seconds, net.genesis_unix,
            ) is None
        ]


def hb_spoof(seed: int, count: int = 5) -> HeartbeatAttacker:
    pop = Population(seed ^ ATTACKER_SEED_SALT ^ 1, count)
    for i in range(count):
        lat, lng = offset(PORTO_E7[0] / E7, PORTO_E7[1] / E7, 300.0 * i, 0.0)
        _set_home(pop, i, round(lat * E7), round(lng * E7))
    return HeartbeatAttacker("hb_spoof", pop)


def hb_farm30(seed: int, count: int = 30) -> HeartbeatAttacker:
    pop = Population(seed ^ ATTACKER_SEED_SALT ^ 2, count)
    for i in range(count):
        # The same spot, or the next res-12 cell over (~10 m steps), each reporting it exactly.
        lat, lng = offset(FARM_SPOT_E7[0] / E7, FARM_SPOT_E7[1] / E7, 10.0 * (i % 3), 10.0 * (i // 10))
        _set_home(pop, i, round(lat * E7), round(lng * E7))
    return HeartbeatAttacker("hb_farm30", pop)


def hb_parttime(seed: int, count: int = 5) -> HeartbeatAttacker:
    pop = Population(seed ^ ATTACKER_SEED_SALT ^ 3, count)
    for dev in pop.devices:
        dev.behaviour = Behaviour.HONEST
    return PartTimer("hb_parttime", pop)


HEARTBEAT_ATTACKERS: Final = {"hb_spoof": hb_spoof, "hb_farm30": hb_farm30, "hb_parttime": hb_parttime}
"""Heartbeat attackers by scenario name."""
