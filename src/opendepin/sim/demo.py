"""`depin demo`: a whole network in one process, end to end, from one seed.

```
EmbeddedChain ── deploy Token, DeviceRegistry, RewardDistributor (2-of-3), Credits, Timelock
     │
     ├── register N heartbeat devices and M coverage devices (device-signed EIP-712 permits)
     │   + assert their H3 cells (coverage spoofers assert cells in other cities)
     │
     ├── 3 oracles, each: own SQLite store + ingest app on localhost (uvicorn thread)
     │                    + POST/GET /v1/attestations + GET /v1/rewards/{account}
     │                    + GET /v1/epochs/{epoch}/reports (report-set reconciliation)
     │
     └── per epoch, on chain time:  24 hours × (a block at the hour's start = the hour's entropy
                                    block; due coverage devices beacon with it, neighbours
                                    witness; every device POSTs its reports to every oracle)
                                    → close the epoch on chain, wait out the report grace
                                    → each oracle seals, snapshots,
                                    verifies, scores, rewards, publishes, signs, exchanges
                                    signatures over HTTP → the first with 2 submits the root
then every owner fetches its proof over HTTP and claims; supply must equal the claims.
```

The oracles share nothing but the chain (the world's clock is the chain's clock). Everything
derives from `seed`, so the same seed gives the same roots (the test suite checks it).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from opendepin.errors import StageError
from opendepin.ingest import IngestServer, RegistryMirror, create_app
from opendepin.ingest.pipeline import default_payload_registry
from opendepin.oracle.api import rewards_router
from opendepin.oracle.attestations import attestation_router
from opendepin.oracle.coverage_stage import (
    COVERAGE_FILE,
    last_block_at_or_before,
    read_explanations,
)
from opendepin.oracle.epoch_files import (
    REWARDS_FILE,
    SNAPSHOT_FILE,
    VERDICTS_FILE,
    read_snapshot,
    read_verdicts,
)
from opendepin.oracle.runner import EpochStatus, SubmitState
from opendepin.oracle.sync import reports_router
from opendepin.proofs.coverage import COVERAGE
from opendepin.proofs.heartbeat import HEARTBEAT
from opendepin.reports import codec
from opendepin.reports.envelope import Report
from opendepin.rewards.files import RewardFile
from opendepin.sim.network import (
    OracleNode,
    SimNetwork,
    build_network,
    make_oracle,
    register_devices,
    sim_settings,
)
from opendepin.sim.population import SECONDS_PER_HOUR
from opendepin.store.sealing import inputs_dir, read_sealed_reports
from opendepin.types import Epoch

HOURS_PER_EPOCH = 24
INGEST_DELAY_SECONDS = SECONDS_PER_HOUR // 2
"""The demo delivers an hour's heartbeats half an hour into the hour (all are < 30 min old)."""
CLOSE_MARGIN_SECONDS = 60
"""After an epoch, chain time moves this far past its ingest close (end + report grace) and a
block is mined, so the oracles may seal it."""
MAX_EXCHANGE_ROUNDS = 4
ORACLES = 3
DEFAULT_COVERAGE_DEVICES = 48
"""Coverage devices in the default demo (incl. 3 spoofers and a 4-device witness ring)."""
HTTP_TIMEOUT_SECONDS = 30.0
TOP_EARNERS = 5


class Progress(Protocol):
    """Where the demo reports progress (the CLI passes rich progress bars)."""

    def task(self, description: str, total: int) -> Callable[[int], None]:
        """Start a task; returns a function advancing it by n steps."""
        ...


class _NoProgress:
    def task(self, description: str, total: int) -> Callable[[int], None]:
        return lambda n: None


@dataclass(frozen=True, slots=True)
class EpochSummary:
    """One settled epoch, as the demo prints and writes it."""

    epoch: int
    root: str
    emission: str
    """Base units, decimal string."""
    cumulative_total: str
    rewarded_devices: int
    accepted_reports: int
    rejected_by_reason: dict[str, int]
    """Ingest rejections and invalid verdicts, by reason."""
    signers: list[str]
    """Oracles whose signatures went on chain."""
    submitted_by: int
    """Index of the oracle that sent submit_root."""


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """Everything `depin demo` reports (`--json` writes `to_json()`)."""

    seed: int
    devices: int
    """Heartbeat devices."""
    data_dir: str
    epochs: list[EpochSummary]
    claims_total: str
    supply: str
    top_earners: list[tuple[str, str]]
    """(owner, cumulative base units), highest first."""
    unrewarded: dict[str, dict[str, int]]
    """Last epoch: simulated behaviour -> reason -> devices that earned nothing."""
    oracle_urls: list[str] = field(default_factory=list)
    elapsed_seconds: float = 0.0
    coverage_devices: int = 0

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["top_earners"] = [{"owner": o, "cumulative": a} for o, a in self.top_earners]
        return out


@contextmanager
def _oracle_servers(net: SimNetwork, nodes: list[OracleNode]) -> Iterator[list[IngestServer]]:
    registry = net.deployment.registry(net.chain)

    def clock_ms() -> int:
        return net.chain.now() * 1000

    with ExitStack() as stack:
        servers = []
        for node in nodes:
            mirror = RegistryMirror()
            mirror.sync(registry, net.chain.block_number())
            payloads = default_payload_registry()
            if net.fleet is not None:  # this network accepts coverage reports too
                payloads.register(COVERAGE.kind, COVERAGE.validate_payload)
            app = create_app(
                net.settings,
                node.store,
                mirror,
                clock=clock_ms,
                payload_registry=payloads,
                routers=[
                    attestation_router(node.book),
                    rewards_router(node.runner),
                    reports_router(node.runner),
                ],
            )
            servers.append(stack.enter_context(IngestServer(app)))
        for node, server in zip(nodes, servers, strict=True):
            node.url = server.url
        for node in nodes:
            node.peers = [n.url for n in nodes if n is not node]
            node.runner.peers = tuple(node.peers)
        yield servers


def _deliver_epoch(
    net: SimNetwork, nodes: list[OracleNode], http: httpx.Client, epoch: int, advance: Callable[[int], None]
) -> tuple[int, Counter[str]]:
    """Every hour of `epoch`: all devices POST to every oracle. Returns oracle 0's tallies."""
    cfg = net.settings.network
    start = net.epoch_start(epoch)
    accepted = 0
    rejected: Counter[str] = Counter()
    for hour in range(HOURS_PER_EPOCH):
        hour_start = start + hour * SECONDS_PER_HOUR
        batches = []
        if net.fleet is not None:
            batches.append(_coverage_hour(net, epoch, hour, hour_start))
        net.advance_to(hour_start + INGEST_DELAY_SECONDS)
        batches.insert(
            0,
            list(
                net.population.hour_reports(
                    network_id=cfg.network_id, chain_id=cfg.chain_id, epoch=Epoch(epoch), hour=hour, epoch_start_unix=start
                )
            ),
        )
        for reports in batches:
            body = json.dumps({"reports": [codec.to_json(r) for r in reports]}, separators=(",", ":"))
            for i, node in enumerate(nodes):
                resp = http.post(
                    f"{node.url}/v1/reports", content=body, headers={"content-type": "application/json"}
                )
                resp.raise_for_status()
                if i == 0:
                    result = resp.json()
                    accepted += int(result["accepted"])
                    for r in result["results"]:
                        if r["reason"]:
                            rejected[str(r["reason"])] += 1
        advance(1)
    if net.fleet is not None:  # the next epoch's first entropy block, exactly at its start
        net.advance_to(net.epoch_start(epoch + 1))
        net.chain.mine()
    grace = net.settings.network.report_grace_seconds
    net.advance_to(net.epoch_start(epoch + 1) + grace + CLOSE_MARGIN_SECONDS)
    net.chain.mine()
    return accepted, rejected


def _coverage_hour(net: SimNetwork, epoch: int, hour: int, hour_start: int) -> list[Report]:
    """The coverage reports of one hour (one entropy window), signed with its entropy block.

    A block is mined at the hour's start unless the chain is already past it (the first hour
    of an epoch, whose block was mined at the boundary before the close block).
    """
    assert net.fleet is not None
    if net.chain.now() <= hour_start:
        net.advance_to(hour_start)
        net.chain.mine()
    # What a device does: the last block at or before the window's start is its entropy.
    block = last_block_at_or_before(net.chain, hour_start, net.chain.block_number())
    hours_per_epoch = net.settings.network.epoch_seconds // SECONDS_PER_HOUR
    return net.fleet.hour_reports(
        epoch=Epoch(epoch),
        hour_index=epoch * hours_per_epoch + hour,
        hour_start_unix=hour_start,
        entropy_block=block,
        entropy=net.chain.block_hash(block),
    )


def _settle_epoch(nodes: list[OracleNode], epoch: int) -> tuple[EpochStatus, int]:
    """Advance every oracle until the epoch is on chain; returns the submitter's status."""
    submitted: tuple[EpochStatus, int] | None = None
    for _ in range(MAX_EXCHANGE_ROUNDS):
        states = []
        for node in nodes:
            status = node.runner.advance(epoch)
            states.append(status.state)
            if status.state is SubmitState.SUBMITTED and submitted is None:
                submitted = (status, node.index)
        if submitted is not None and SubmitState.WAITING not in states:
            return submitted
    raise StageError(f"epoch {epoch} did not settle after {MAX_EXCHANGE_ROUNDS} exchange rounds")


def _unrewarded(net: SimNetwork, node: OracleNode, epoch: int) -> dict[str, dict[str, int]]:
    """For the epoch's unpaid devices: behaviour -> reason -> count (heartbeat's explanation)."""
    d = node.runner.epoch_dir(epoch)
    snapshot = read_snapshot(d / SNAPSHOT_FILE)
    reports = read_sealed_reports(inputs_dir(node.store.data_dir, epoch)).get(HEARTBEAT.kind, [])
    verdicts = HEARTBEAT.verify(reports, snapshot, net.settings)
    explanations = HEARTBEAT.explain(reports, verdicts, snapshot, net.settings)  # type: ignore[attr-defined]
    paid = {
        dev.device
        for owner in RewardFile.from_bytes((d / REWARDS_FILE).read_bytes()).owners
        for dev in owner.devices
        if dev.amount > 0
    }
    out: dict[str, Counter[str]] = {}
    if net.fleet is not None and (d / COVERAGE_FILE).is_file():
        coverage_explanations = read_explanations(d / COVERAGE_FILE)
        for fleet_dev in net.fleet.devices:
            if fleet_dev.device in paid:
                continue
            out.setdefault(f"coverage_{fleet_dev.role.value}", Counter())[
                _coverage_reason(coverage_explanations.get(fleet_dev.device))
            ] += 1
    for dev in net.population.devices:
        if dev.device_id in paid:
            continue
        exp = explanations.get(dev.device_id)
        if exp is None:
            reason = "no_valid_reports"
        elif exp.invalid:  # the most frequent report-level reason says most
            reason = max(exp.invalid, key=lambda rc: (rc[1], rc[0]))[0]
        else:
            reason = exp.reasons[0] if exp.reasons else "zero_shares"
        out.setdefault(dev.behaviour.value, Counter())[reason] += 1
    return {b: dict(sorted(c.items())) for b, c in sorted(out.items())}


def _coverage_reason(explanation: dict[str, Any] | None) -> str:
    """The most frequent reason among a coverage device's invalid reports (ties: by name)."""
    if explanation is None:
        return "no_reports"
    reasons = Counter(str(n["reason"]) for n in explanation["invalid"])
    if not reasons:
        return "zero_shares"
    return max(reasons.items(), key=lambda rc: (rc[1], rc[0]))[0]


def run_demo(
    *,
    seed: int = 1,
    devices: int = 200,
    epochs: int = 3,
    data_dir: Path,
    progress: Progress | None = None,
    coverage_devices: int = DEFAULT_COVERAGE_DEVICES,
) -> DemoSummary:
    """Run the demo network in `data_dir` and return its summary (see the module docstring)."""
    started = time.perf_counter()
    ui = progress or _NoProgress()
    deploy = ui.task("deploy contracts", 1)
    net = build_network(
        seed, devices, ORACLES, sim_settings(coverage=coverage_devices > 0), coverage_devices
    )
    deploy(1)
    register_devices(net, ui.task("register devices", devices + coverage_devices))
    nodes = [make_oracle(net, i, data_dir / f"oracle-{i}") for i in range(ORACLES)]
    summaries: list[EpochSummary] = []
    unrewarded: dict[str, dict[str, int]] = {}
    with ExitStack() as stack:
        for node in nodes:
            stack.callback(node.store.close)
        stack.enter_context(_oracle_servers(net, nodes))
        http = stack.enter_context(httpx.Client(timeout=HTTP_TIMEOUT_SECONDS))  # the devices' side
        for node in nodes:  # each oracle its own client: oracles share nothing but the chain
            node.runner.http = stack.enter_context(httpx.Client(timeout=HTTP_TIMEOUT_SECONDS))
        for epoch in range(epochs):
            accepted, rejected = _deliver_epoch(
                net, nodes, http, epoch, ui.task(f"epoch {epoch}: heartbeats (hours)", HOURS_PER_EPOCH)
            )
            settle = ui.task(f"epoch {epoch}: oracles settle", 1)
            status, submitter = _settle_epoch(nodes, epoch)
            settle(1)
            d = nodes[0].runner.epoch_dir(epoch)
            reward_file = RewardFile.from_bytes((d / REWARDS_FILE).read_bytes())
            for kind in read_verdicts(d / VERDICTS_FILE)["kinds"].values():
                for reason, count in kind["counts"].items():
                    if reason != "valid":
                        rejected[reason] += int(count)
            summaries.append(
                EpochSummary(
                    epoch=epoch,
                    root="0x" + status.claim.root.hex(),
                    emission=str(reward_file.emission),
                    cumulative_total=str(status.claim.cumulative_total),
                    rewarded_devices=len({dv.device for o in reward_file.owners for dv in o.devices if dv.amount > 0}),
                    accepted_reports=accepted,
                    rejected_by_reason=dict(sorted(rejected.items())),
                    signers=list(status.signers),
                    submitted_by=submitter,
                )
            )
        if epochs:
            unrewarded = _unrewarded(net, nodes[0], epochs - 1)
        claims_total, top = _claim_all(net, nodes[0], http, ui)
        oracle_urls = [n.url for n in nodes]
    token = net.deployment.token(net.chain)
    return DemoSummary(
        seed=seed,
        devices=devices,
        data_dir=str(data_dir),
        epochs=summaries,
        claims_total=str(claims_total),
        supply=str(token.total_supply()),
        top_earners=top,
        unrewarded=unrewarded,
        oracle_urls=oracle_urls,
        elapsed_seconds=round(time.perf_counter() - started, 2),
        coverage_devices=coverage_devices,
    )


def _claim_all(
    net: SimNetwork, node: OracleNode, http: httpx.Client, ui: Progress
) -> tuple[int, list[tuple[str, str]]]:
    """Every owner GETs its proof from an oracle and claims; returns (claimed total, top earners)."""
    distributor = net.deployment.distributor(net.chain)
    owners = {o.address: o for o in net.population.owners}
    advance = ui.task("claims", len(owners))
    earned: list[tuple[int, str]] = []
    for address, signer in sorted(owners.items()):
        resp = http.get(f"{node.url}/v1/rewards/{address}")
        advance(1)
        if resp.status_code == 404:
            continue
        resp.raise_for_status()
        body = resp.json()
        amount = int(body["cumulative_amount"])
        proof = [bytes.fromhex(p[2:]) for p in body["proof"]]
        distributor.claim(signer.address, amount, proof, sender=signer)
        earned.append((amount, address))
    total = sum(distributor.claimed(a) for a in owners)
    top = [(a, str(v)) for v, a in sorted(earned, reverse=True)[:TOP_EARNERS]]
    return total, top
