"""Test helpers: epoch inputs built from a simulated population without a chain or ingest.

Heartbeats answer the liveness challenge (on by default): without a chain, `accepted_reports`
signs the made-up hourly blocks of `proofs.heartbeat.sim.simulated_entropy_blocks`, which
`snapshot_of` holds; on a simulated network, `epoch_reports` mines each hour's block on its
chain (`SimNetwork.sim_hour`) and the population signs it, as in the demo.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
import pytest

from opendepin.errors import AgreementPending
from opendepin.network.settings import NetworkSection, Settings
from opendepin.oracle.attestations import EpochClaim
from opendepin.proofs.heartbeat.sim import simulated_entropy_blocks
from opendepin.proofs.heartbeat.simulation import Behaviour, Population
from opendepin.records import ChainSnapshot, DeviceRecord, IngestedReport
from opendepin.reports.envelope import Report
from opendepin.sim.network import OracleNode, SimNetwork, make_oracle
from opendepin.store.testing import temporary_database_url
from opendepin.types import Address, Epoch

GENESIS_UNIX = 1_893_456_000


def sim_settings() -> Settings:
    return Settings(network=NetworkSection(genesis_unix=GENESIS_UNIX))


def snapshot_of(pop: Population, settings: Settings, epoch: int, block: int = 10) -> ChainSnapshot:
    """The registry of `pop` and `epoch`'s entropy blocks (those `accepted_reports` signs)."""
    return ChainSnapshot(
        block_number=block,
        entropy=b"\x11" * 32,
        entropy_blocks={b.number: b for b in simulated_entropy_blocks(settings, epoch)},
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
    blocks = simulated_entropy_blocks(settings, epoch)
    for hour in range(24):
        for report in pop.hour_reports(
            network_id=net.network_id, chain_id=net.chain_id, epoch=Epoch(epoch), hour=hour, epoch_start_unix=start,
            entropy_block=blocks[hour].number, entropy=blocks[hour].hash,
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


def epoch_reports(net: SimNetwork, epoch: int) -> list[Report]:
    """One epoch of the network's heartbeat reports, every hour signed with the entropy block
    mined on its chain at the hour's start (`SimNetwork.sim_hour`), each (device, seq) once.
    Chain time is left at the last hour's start."""
    model = net.models["heartbeat"]
    out: dict[tuple[str, int], Report] = {}
    for hour in range(24):
        for r in model.hour_reports(net.sim_hour(epoch, hour)):
            out.setdefault((r.device, r.seq), r)
    return list(out.values())


def prepare_all(
    nodes: Sequence[OracleNode],
    epoch: int,
    order: Sequence[int] | None = None,
    after_first_pass: Callable[[], None] | None = None,
    within_seconds: float = 180.0,
    pause: float = 0.25,
) -> list[EpochClaim]:
    """Run `prepare` on every node (in `order` of their indexes) pass after pass until each has
    its claim — the agreement rounds progress as the others publish; claims by node index.

    Bounded by wall time, not by a number of passes: a round whose records are missing ends at
    its deadline, and how many passes fit before it depends on how busy the machine is."""
    claims: dict[int, EpochClaim] = {}
    indexes = list(order) if order is not None else [n.index for n in nodes]
    by_index = {n.index: n for n in nodes}
    give_up = time.monotonic() + within_seconds
    first = True
    while True:
        for i in indexes:
            if i in claims:
                continue
            with contextlib.suppress(AgreementPending):
                claims[i] = by_index[i].runner.prepare(epoch)
        if first and after_first_pass is not None:
            after_first_pass()
        first = False
        if len(claims) == len(nodes):
            return [claims[n.index] for n in nodes]
        if time.monotonic() > give_up:
            raise AssertionError(f"epoch {epoch}: only {sorted(claims)} prepared within {within_seconds} s")
        time.sleep(pause)


ROUND_SECONDS_MARK = "round_seconds"
"""`@pytest.mark.round_seconds(n)`: the test cuts an oracle off, so its rounds end at their
deadlines; the fixtures of the oracle tests shorten the rounds to `n` seconds for it. Tests
where every oracle answers keep the network's default, since their rounds end as soon as
every record is held — a short deadline there only makes the result depend on machine load."""


def round_seconds_of(request: pytest.FixtureRequest) -> int | None:
    mark = request.node.get_closest_marker(ROUND_SECONDS_MARK)
    return None if mark is None else int(mark.args[0])


def quick_rounds(net: SimNetwork, seconds: int | None) -> None:
    """Shorten the network's agreement rounds to `seconds` (tests with a peer that never
    answers); None keeps the default."""
    if seconds is None:
        return
    network = net.settings.network.model_copy(update={"agreement_round_seconds": seconds})
    net.settings = net.settings.model_copy(update={"network": network})


def served_oracles(
    stack: contextlib.ExitStack,
    net: SimNetwork,
    root: Path,
    http: httpx.Client,
    backend: str | None = None,
    count: int = 3,
) -> list[OracleNode]:
    """`count` oracles of `net`, each serving HTTP on a free port with its own store under
    `root` (on a fresh database of `backend`, else the default SQLite file), all sharing `http`;
    each one's peers are the others. Everything is closed with `stack`."""
    nodes = []
    for i in range(count):
        url = stack.enter_context(temporary_database_url(backend, root)) if backend is not None else None
        node = make_oracle(net, i, root / f"oracle-{i}", url, http=http)
        stack.callback(node.oracle.close)
        stack.enter_context(node.oracle.serve())
        nodes.append(node)
    for node in nodes:
        node.oracle.set_peers([n.url for n in nodes if n is not node])
    return nodes
