"""Test helpers: epoch inputs built from a simulated population without a chain or ingest."""

from __future__ import annotations

from opendepin.network.settings import NetworkSection, Settings
from opendepin.proofs.heartbeat.simulation import Behaviour, Population
from opendepin.records import ChainSnapshot, DeviceRecord, IngestedReport
from opendepin.types import Address, Epoch

GENESIS_UNIX = 1_893_456_000


def sim_settings() -> Settings:
    return Settings(network=NetworkSection(genesis_unix=GENESIS_UNIX))


def snapshot_of(pop: Population, block: int = 10) -> ChainSnapshot:
    return ChainSnapshot(
        block_number=block,
        entropy=b"\x11" * 32,
        devices={
            d.device_id: DeviceRecord(
                device=d.device_id, owner=Address(d.owner.address), kind="heartbeat", location=d.cell, active=True
            )
            for d in pop.devices
        },
    )


def accepted_reports(pop: Population, settings: Settings, epoch: int) -> list[IngestedReport]:
    """What an ideal ingest would accept for one epoch: no replays, no forgeries, sorted."""
    net = settings.network
    start = net.genesis_unix + epoch * net.epoch_seconds
    seen: set[tuple[str, int]] = set()
    out = []
    owner_ids = pop.by_id()
    for hour in range(24):
        for report in pop.hour_reports(
            network_id=net.network_id, chain_id=net.chain_id, epoch=Epoch(epoch), hour=hour, epoch_start_unix=start
        ):
            dev = owner_ids[report.device]
            if (report.device, report.seq) in seen:
                continue
            if dev.behaviour is Behaviour.FORGER and report.timestamp_ms % 1000 == 1:
                continue  # the forged twin: ingest's signature check drops it
            seen.add((report.device, report.seq))
            out.append(IngestedReport(report=report))
    out.sort(key=lambda r: (r.report.device, r.report.seq))
    return out
