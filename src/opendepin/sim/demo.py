"""`depin demo`: a whole network in one process, end to end, from one seed.

```
EmbeddedChain ── deploy Token, DeviceRegistry, RewardDistributor (2-of-3), Credits, Timelock
     │
     ├── register N heartbeat devices, M coverage devices and S storage nodes (device-signed
     │   EIP-712 permits) + assert their H3 cells (coverage spoofers assert cells in other
     │   cities; storage nodes assert none)
     │
     ├── 3 oracles, each: own SQLite store + ingest app on localhost (uvicorn thread)
     │                    + POST/GET /v1/attestations + GET /v1/rewards/{account}
     │                    + GET /v1/epochs/{epoch}/reports (report-set reconciliation)
     │
     └── per epoch, on chain time:  24 hours × (a block at the hour's start = the hour's entropy
                                    block; due coverage devices beacon with it, neighbours
                                    witness; storage nodes file placements of the pieces they
                                    received and prove their challenged pieces, the simulated
                                    placer repairs; every device POSTs its reports to every oracle)
                                    → close the epoch on chain, wait out the report grace
                                    → each oracle seals, snapshots,
                                    verifies, scores, rewards, publishes, signs, exchanges
                                    signatures over HTTP → the first with 2 submits the root
then every owner fetches its proof over HTTP and claims; supply must equal the claims.
```

With storage nodes the summary has a storage section (`StorageSummary`): what the simulated
placer stored and could still read back at the end, how many pieces its repair checker rebuilt,
and per simulated behaviour the nodes' reputation, disqualifications and storage rewards, read
from the published explanations and reward files (never recomputed).

The oracles share nothing but the chain (the world's clock is the chain's clock). Everything
derives from `seed`, so the same seed gives the same roots (the test suite checks it).

Concurrency (`parallel=True`, where `sim.network.fork_available`): the three oracles' work —
ingest, and each epoch's stages — is what costs, and one Python process runs it on one core.
So each oracle's ingest runs in a process forked from this one once the devices are
registered (`forked_ingest`: it reads chain time from its own `SharedClock`), and the
devices' reports reach the three through `DeliveryLanes`: one thread per oracle that sets
the oracle's clock to an hour's delivery time and POSTs the hour's batches, hour after hour,
while this process signs the next hours — no oracle waits for another, and every one ingests
the same batches at the same clock readings as in one process. After each epoch's delivery
each oracle's stages up to its signature (`EpochRunner.prepare`: snapshot, agree over HTTP
with its peers, seal, compute, sign) run in a forked process too (`prepare_forked`). The
oracles' HTTP routes keep being served from this process, from the same files and
databases. Then this process runs the exchange and the submission as before
(`_settle_epoch`, every prepared stage found in the ledger and skipped), visiting the oracles
in `decision_order` so the same oracle sends the same `submit_root` as in one process (its
transaction hash feeds the later blocks' hashes, i.e. the next epochs' entropy). So the
roots, verdicts, explanations, rewards and the summary are the same byte for byte as with
`parallel=False` (tests/sim/test_demo_parallel.py).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import orjson

from opendepin.epochdir import EpochFile
from opendepin.errors import StageError
from opendepin.ingest import IngestServer
from opendepin.oracle.agreement.protocol import faulty_tolerated
from opendepin.oracle.epoch_files import read_format_file, read_verdicts
from opendepin.oracle.runner import EpochStatus, SubmitState
from opendepin.proofs.kind import Explanation, SimHour
from opendepin.proofs.storage.simulation import StorageSimulation
from opendepin.reports import codec
from opendepin.reports.envelope import Report
from opendepin.rewards.files import RewardFile
from opendepin.sim.consumers import DEFAULT_CONSUMERS, ConsumerSummary, DemoConsumers
from opendepin.sim.network import (
    GAS_FUNDING_WEI,
    REGISTRATION_DEADLINE_SECONDS,
    OracleNode,
    SharedClock,
    SimNetwork,
    build_network,
    decision_order,
    fork_available,
    forked_ingest,
    make_oracle,
    prepare_forked,
    register_devices,
    sim_http,
)

SECONDS_PER_HOUR = 3_600
HOURS_PER_EPOCH = 24
INGEST_DELAY_SECONDS = SECONDS_PER_HOUR // 2
"""The demo delivers an hour's heartbeats half an hour into the hour (all are < 30 min old)."""
CLOSE_MARGIN_SECONDS = 60
"""After an epoch, chain time moves this far past its ingest close (end + report grace) and a
block is mined, so the oracles may seal it."""
MAX_EXCHANGE_ROUNDS = 16
ORACLES = 3
DEFAULT_COVERAGE_DEVICES = 48
"""Coverage devices in the default demo (incl. 3 spoofers and a 4-device witness ring)."""
DEFAULT_STORAGE_NODES = 12
"""Storage nodes in the default demo (incl. a deleter, a roots-only node and an offline one)."""
MIN_STORAGE_NODES = 8
"""Fewest storage nodes the demo runs with (the 8 pieces of a segment need 8 nodes)."""
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
class StorageBehaviour:
    """The storage nodes of one simulated behaviour at the demo's end."""

    nodes: int
    paid_nodes: int
    """Nodes that earned storage rewards in some epoch."""
    disqualified: int
    """Nodes disqualified by the last epoch."""
    min_score_ppm: int | None
    """Lowest reputation score among them after the last epoch (None: none published)."""
    max_score_ppm: int | None
    rewards: str
    """Storage rewards of all epochs, base units, decimal string."""


@dataclass(frozen=True, slots=True)
class StorageSummary:
    """The demo's storage section: the placer's view and the nodes' outcome per behaviour."""

    objects: int
    object_bytes: int
    readable: int
    """Objects that read back byte for byte at the end."""
    pieces_placed: int
    pieces_repaired: int
    segments_repaired: int
    proofs_sent: int
    behaviours: dict[str, StorageBehaviour]
    """Simulated behaviour ("honest", "deleter" …) -> its nodes' outcome."""


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
    kind_devices: dict[str, int] = field(default_factory=dict)
    """Devices simulated per kind."""
    storage: StorageSummary | None = None
    """The storage section (None: no storage nodes ran)."""
    consumers: ConsumerSummary | None = None
    """The demand side (None: no consumers ran)."""
    genesis_minted: str = "0"
    """Tokens minted at deployment (`[chain] genesis_allocations`), base units."""
    burned: str = "0"
    """Tokens burned for credits, base units."""
    unclaimed: str = "0"
    """Rewards the roots grant that nobody claimed yet, base units."""

    @property
    def supply_reconciles(self) -> bool:
        """total supply == genesis + claimed − burned (every token has an origin on record)."""
        expected = int(self.genesis_minted) + int(self.claims_total) - int(self.burned)
        return int(self.supply) == expected

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["top_earners"] = [{"owner": o, "cumulative": a} for o, a in self.top_earners]
        return out


@contextmanager
def _oracle_servers(nodes: list[OracleNode]) -> Iterator[list[IngestServer]]:
    with ExitStack() as stack:
        servers = []
        for node in nodes:
            node.oracle.sync_registry()
            servers.append(stack.enter_context(node.oracle.serve()))
        for node in nodes:
            node.peers = [n.url for n in nodes if n is not node]
            node.oracle.set_peers(node.peers)
        try:
            yield servers
        finally:  # all at once (each waits for its server loop to notice); the stack's stops
            with ThreadPoolExecutor(len(servers) or 1) as stopping:  # then find them stopped
                list(stopping.map(IngestServer.stop, servers))


def _post_reports(http: httpx.Client, url: str, bodies: Sequence[bytes]) -> list[dict[str, Any]]:
    """POST each body to one oracle's ingest, in order; its answers."""
    out = []
    for body in bodies:
        resp = http.post(
            f"{url}/v1/reports", content=body, headers={"content-type": "application/json"}
        )
        resp.raise_for_status()
        out.append(resp.json())
    return out


def _report_json(report: Report) -> bytes:
    """One report as compact JSON (orjson writes the same bytes as `json.dumps` with compact
    separators here, only faster; a value orjson cannot write, e.g. an integer beyond 64 bits,
    goes through `json.dumps`)."""
    obj = codec.to_json(report)
    try:
        return orjson.dumps(obj)
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(obj, separators=(",", ":")).encode()


def _batch_body(reports: Sequence[Report]) -> bytes:
    """One batch's request body: `{"reports": [...]}`, compact JSON."""
    return _BODY_OPEN + b",".join([_report_json(r) for r in reports]) + _BODY_CLOSE


_BODY_OPEN = b'{"reports":['
_BODY_CLOSE = b"]}"


def _batch_bodies(reports: Sequence[Report], max_reports: int, max_bytes: int) -> list[bytes]:
    """`reports` in order as request bodies (`_batch_body`'s bytes), as few as the ingest's
    limits allow: at most `max_reports` reports (`ingest.max_batch`) and `max_bytes` bytes
    (`ingest.max_body_bytes`) each. A report too large for any body still goes alone (and is
    refused as the ingest refuses it)."""
    bodies: list[bytes] = []
    parts: list[bytes] = []
    size = len(_BODY_OPEN) + len(_BODY_CLOSE)
    for report in reports:
        part = _report_json(report)
        if parts and (len(parts) >= max_reports or size + 1 + len(part) > max_bytes):
            bodies.append(_BODY_OPEN + b",".join(parts) + _BODY_CLOSE)
            parts, size = [], len(_BODY_OPEN) + len(_BODY_CLOSE)
        size += len(part) + (1 if parts else 0)
        parts.append(part)
    if parts:
        bodies.append(_BODY_OPEN + b",".join(parts) + _BODY_CLOSE)
    return bodies


def _hour_bodies(
    net: SimNetwork, sim_hour: SimHour, consumers: DemoConsumers | None
) -> list[bytes]:
    """The request bodies of one hour: every kind's reports (the consumers' first) in one batch,
    or as few as the ingest's limits allow.

    One batch rather than one per kind: ingest commits (and fsyncs) once per request, and
    answers each the same whatever else the request holds — every check runs per report, a
    device's sequence numbers only have to increase (which they do: a storage node's egress
    reports carry lower seqs than its hour's proofs), and the accepted reports are appended in
    request order — so the report logs, and everything sealed from them, are the same."""
    reports: list[Report] = []
    if consumers is not None:  # first: a node's egress reports carry lower seqs than its hour's
        consumers.before_reports(sim_hour)
        reports += consumers.hour_reports(sim_hour)
    for model in net.models.values():
        reports += model.hour_reports(sim_hour)
    limits = net.settings.ingest
    return _batch_bodies(reports, limits.max_batch, limits.max_body_bytes)


def _close_epoch(net: SimNetwork, epoch: int) -> None:
    """After an epoch's hours: the next epoch's first entropy block at its start, then a block
    past the epoch's ingest close (end + report grace), so the oracles may seal it."""
    net.advance_to(net.epoch_start(epoch + 1))
    net.chain.mine()
    grace = net.settings.network.report_grace_seconds
    net.advance_to(net.epoch_start(epoch + 1) + grace + CLOSE_MARGIN_SECONDS)
    net.chain.mine()


class _Tally:
    """Oracle 0's answers to an epoch's batches: accepted reports and rejections by reason."""

    def __init__(self) -> None:
        self.accepted = 0
        self.rejected: Counter[str] = Counter()

    def add(self, answers: Sequence[dict[str, Any]]) -> None:
        for result in answers:  # one per batch
            self.accepted += int(result["accepted"])
            self.rejected.update(str(r["reason"]) for r in result["results"] if r["reason"])


class DeliveryLanes:
    """One delivery thread per forked oracle ingest, each with the oracle's own clock.

    A lane POSTs an hour's batches to its oracle after setting that oracle's `SharedClock` to
    the hour's delivery time, hour after hour in order, so every oracle ingests exactly the
    batches, at exactly the clock readings, of the one-process demo — but no oracle waits
    for another, and the devices sign the next hours while the oracles still ingest
    (`_deliver_epoch`). An hour counts as delivered (`advance`) once every lane answered it;
    `drain` waits for every hour handed out so far."""

    def __init__(
        self,
        http: httpx.Client,
        url: Callable[[int], str],
        clocks: Sequence[SharedClock],
        stack: ExitStack,
    ) -> None:
        self._http = http
        self._url = url
        self._clocks = list(clocks)
        self._threads = []
        for i in range(len(self._clocks)):  # one worker each: a lane's hours stay in order
            pool = ThreadPoolExecutor(1, thread_name_prefix=f"deliver-{i}")
            stack.callback(pool.shutdown, wait=True, cancel_futures=True)
            self._threads.append(pool)
        self._pending: list[list[Future[list[dict[str, Any]]]]] = []
        self._lock = threading.Lock()

    def _deliver(self, lane: int, unix: int, bodies: list[bytes]) -> list[dict[str, Any]]:
        url = self._url(lane)  # the first hour waits until the oracle's ingest serves
        self._clocks[lane].set(unix)
        return _post_reports(self._http, url, bodies)

    def submit(self, unix: int, bodies: list[bytes], advance: Callable[[int], None]) -> None:
        """Hand one hour's batches, delivered at chain time `unix`, to every lane."""
        left = [len(self._threads)]

        def answered(_: Future[list[dict[str, Any]]]) -> None:
            with self._lock:
                left[0] -= 1
                last = left[0] == 0
            if last:
                advance(1)

        futures = [
            pool.submit(self._deliver, lane, unix, bodies)
            for lane, pool in enumerate(self._threads)
        ]
        for future in futures:
            future.add_done_callback(answered)
        self._pending.append(futures)

    def drain(self, tally: _Tally) -> None:
        """Wait for every hour handed out; oracle 0's answers go to `tally`, in hour order."""
        pending, self._pending = self._pending, []
        for futures in pending:
            answers = [f.result() for f in futures]
            tally.add(answers[0])


def _deliver_epoch(
    net: SimNetwork,
    nodes: list[OracleNode],
    http: httpx.Client,
    epoch: int,
    advance: Callable[[int], None],
    lanes: DeliveryLanes | None = None,
    pool: Executor | None = None,
    consumers: DemoConsumers | None = None,
) -> tuple[int, Counter[str]]:
    """Every hour of `epoch`: all devices POST to every oracle. Returns oracle 0's tallies.

    At each hour's start a block is mined (`SimNetwork.sim_hour`: the hour's entropy block,
    unless the chain is already past it); every kind's model signs its reports for the hour
    with that block, and they are delivered half an hour into the hour, each kind's as one
    batch. `consumers` act at each hour's start, their gateway's and nodes' usage reports go
    with the hour's batches, and their chain work (purchases, spends) follows the hour's
    entropy block, after chain time moved to the delivery.

    With `lanes` (forked ingest: each oracle reads the world's time from its own clock, not
    from the chain) the hours are handed to the oracles' lanes as they are signed and the
    devices go on with the next hours meanwhile; every oracle has answered all before this
    returns. Without them, ingest reads the chain's clock, so each hour is answered before
    the chain moves (`pool` posts an hour's batches to every oracle at once).
    """
    tally = _Tally()
    urls = [node.url for node in nodes]

    def deliver(bodies: list[bytes]) -> list[list[dict[str, Any]]]:
        if pool is None:
            return [_post_reports(http, url, bodies) for url in urls]
        return list(pool.map(_post_reports, [http] * len(urls), urls, [bodies] * len(urls)))

    for hour in range(HOURS_PER_EPOCH):
        sim_hour = net.sim_hour(epoch, hour)
        bodies = _hour_bodies(net, sim_hour, consumers)
        net.advance_to(sim_hour.hour_start_unix + INGEST_DELAY_SECONDS)
        if consumers is not None:
            consumers.after_delivery(net, sim_hour)
        if lanes is not None:
            lanes.submit(net.chain.now(), bodies, advance)
        else:
            tally.add(deliver(bodies)[0])
            advance(1)
    _close_epoch(net, epoch)
    if lanes is not None:
        lanes.drain(tally)
    return tally.accepted, tally.rejected


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
        if (
            submitted is not None
            and SubmitState.WAITING not in states
            and SubmitState.AGREEING not in states
        ):
            return submitted
    raise StageError(f"epoch {epoch} did not settle after {MAX_EXCHANGE_ROUNDS} exchange rounds")


def _settle(
    net: SimNetwork, nodes: list[OracleNode], epoch: int, forked: bool
) -> tuple[EpochStatus, int]:
    """Settle one epoch: (forked) every oracle's stages at once, then exchange and submit
    here in `decision_order`; (else) `_settle_epoch` runs everything in turn."""
    if not forked:
        return _settle_epoch(nodes, epoch)
    prepare_forked(net, nodes, epoch)
    threshold = net.settings.chain.oracle_threshold
    order = decision_order(len(nodes), faulty_tolerated(nodes, threshold))
    return _settle_epoch([nodes[i] for i in order], epoch)


def _unrewarded(net: SimNetwork, node: OracleNode, epoch: int) -> dict[str, dict[str, int]]:
    """For the epoch's unpaid devices: behaviour -> reason -> count, from the published
    explanations (`explanations_v1.json`), never recomputed."""
    d = node.runner.epoch_dir(epoch)
    paid = {
        dev.device
        for owner in RewardFile.from_bytes((d / EpochFile.REWARDS).read_bytes()).owners
        for dev in owner.devices
        if dev.amount > 0
    }
    published = read_format_file(d / EpochFile.EXPLANATIONS, "explanations_v1")["kinds"]
    out: dict[str, Counter[str]] = {}
    for kind_name, model in net.models.items():
        explanations = {str(e["device"]): e for e in published.get(kind_name, [])}
        for dev in model.devices:
            device = dev.key.device_id
            if device in paid:
                continue
            out.setdefault(dev.behaviour, Counter())[_main_reason(explanations.get(device))] += 1
    return {b: dict(sorted(c.items())) for b, c in sorted(out.items())}


def _main_reason(explanation: dict[str, Any] | None) -> str:
    """The reason that says most of a published explanation (`Explanation.main_reason`)."""
    if explanation is None:
        return "no_reports"
    return Explanation.from_obj(explanation).main_reason or "zero_shares"


def run_demo(
    *,
    seed: int = 1,
    devices: int = 200,
    epochs: int = 3,
    data_dir: Path,
    progress: Progress | None = None,
    coverage_devices: int = DEFAULT_COVERAGE_DEVICES,
    storage_nodes: int = DEFAULT_STORAGE_NODES,
    kinds: Mapping[str, int] | None = None,
    parallel: bool = True,
    consumers: int = DEFAULT_CONSUMERS,
) -> DemoSummary:
    """Run the demo network in `data_dir` and return its summary (see the module docstring).

    `kinds` (kind -> devices) selects which installed kinds run; by default heartbeat with
    `devices` devices, coverage with `coverage_devices` and storage with `storage_nodes`.
    `parallel` runs the oracles' ingest and stages in forked processes where the platform
    can fork (see the module docstring); the results are the same either way. With storage
    nodes, `consumers` consumers buy credits and store, list, read back and delete objects
    through a simulated gateway that settles their usage on chain (`sim.consumers`).
    """
    started = time.perf_counter()
    ui = progress or _NoProgress()
    counts = (
        dict(kinds)
        if kinds is not None
        else {"heartbeat": devices, "coverage": coverage_devices, "storage": storage_nodes}
    )
    counts = {k: n for k, n in counts.items() if n > 0}
    deploy = ui.task("deploy contracts", 1)
    net = build_network(seed, counts, ORACLES, consumers=consumers)
    deploy(1)
    register_devices(net, ui.task("register devices", net.device_count))
    demand = None
    storage_model = net.models.get("storage")
    if consumers > 0 and isinstance(storage_model, StorageSimulation):
        demand = DemoConsumers(
            seed=seed, count=consumers, storage=storage_model, settings=net.settings,
            data_dir=data_dir / "gateway",
        )  # fmt: skip
        deadline = net.chain.now() + REGISTRATION_DEADLINE_SECONDS
        demand.register(net, net.owners[0], deadline, GAS_FUNDING_WEI)
    summaries: list[EpochSummary] = []
    unrewarded: dict[str, dict[str, int]] = {}
    with ExitStack() as stack:
        http = stack.enter_context(sim_http(HTTP_TIMEOUT_SECONDS))  # the devices' side
        nodes = []
        for i in range(ORACLES):  # each oracle its own client: oracles share nothing but the chain
            client = stack.enter_context(sim_http(HTTP_TIMEOUT_SECONDS))
            node = make_oracle(net, i, data_dir / f"oracle-{i}", http=client)
            stack.callback(node.oracle.close)
            nodes.append(node)
        stack.enter_context(_oracle_servers(nodes))
        forked = parallel and fork_available()
        ingest = None
        lanes = None
        pool = None
        if forked:  # each oracle's ingest in its own process, on its own clock
            clocks = [SharedClock(net.chain.now()) for _ in nodes]
            ingest = stack.enter_context(forked_ingest(net, nodes, clocks))
            lanes = DeliveryLanes(http, ingest.url, clocks, stack)
        elif parallel:  # one thread per oracle's answer
            pool = stack.enter_context(ThreadPoolExecutor(ORACLES, thread_name_prefix="deliver"))
        for epoch in range(epochs):
            hours = ui.task(f"epoch {epoch}: reports (hours)", HOURS_PER_EPOCH)
            accepted, rejected = _deliver_epoch(
                net, nodes, http, epoch, hours, lanes, pool, demand
            )
            if ingest is not None and epoch == epochs - 1:
                ingest.stop()  # every report is in: the ingest processes exit while we settle
            settle = ui.task(f"epoch {epoch}: oracles settle", 1)
            status, submitter = _settle(net, nodes, epoch, forked)
            settle(1)
            d = nodes[0].runner.epoch_dir(epoch)
            reward_file = RewardFile.from_bytes((d / EpochFile.REWARDS).read_bytes())
            for kind in read_verdicts(d / EpochFile.VERDICTS)["kinds"].values():
                for reason, count in kind["counts"].items():
                    if reason != "valid":
                        rejected[reason] += int(count)
            assert status.claim is not None  # a settled epoch has a claim
            summaries.append(
                EpochSummary(
                    epoch=epoch,
                    root="0x" + status.claim.root.hex(),
                    emission=str(reward_file.emission),
                    cumulative_total=str(status.claim.cumulative_total),
                    rewarded_devices=len(
                        {dv.device for o in reward_file.owners for dv in o.devices if dv.amount > 0}
                    ),
                    accepted_reports=accepted,
                    rejected_by_reason=dict(sorted(rejected.items())),
                    signers=list(status.signers),
                    submitted_by=submitter,
                )
            )
        storage = None
        if epochs:
            unrewarded = _unrewarded(net, nodes[0], epochs - 1)
            storage = _storage_summary(net, nodes[0], epochs)
        claims_total, top = _claim_all(net, nodes[0], http, ui)
        oracle_urls = [n.url for n in nodes]
        consumer_summary = (
            demand.summary(epochs - 1, sum(_kind_rewards(nodes[0], epochs, "usage").values()))
            if demand is not None
            else None
        )
    token = net.deployment.token(net.chain)
    granted = int(summaries[-1].cumulative_total) if summaries else 0
    return DemoSummary(
        seed=seed,
        devices=counts.get("heartbeat", 0),
        data_dir=str(data_dir),
        epochs=summaries,
        claims_total=str(claims_total),
        supply=str(token.total_supply()),
        top_earners=top,
        unrewarded=unrewarded,
        oracle_urls=oracle_urls,
        elapsed_seconds=round(time.perf_counter() - started, 2),
        coverage_devices=counts.get("coverage", 0),
        kind_devices=dict(counts),
        storage=storage,
        consumers=consumer_summary,
        genesis_minted=str(net.settings.chain.genesis_total),
        burned=str(demand.tokens_burned if demand is not None else 0),
        unclaimed=str(granted - claims_total),
    )


def _kind_rewards(node: OracleNode, epochs: int, kind: str) -> Counter[str]:
    """Device (lower case) -> what the published reward files paid it for `kind` over
    `epochs` (base units)."""
    rewards: Counter[str] = Counter()
    for epoch in range(epochs):
        path = node.runner.epoch_dir(epoch) / EpochFile.REWARDS
        for owner in RewardFile.from_bytes(path.read_bytes()).owners:
            for dev in owner.devices:
                if dev.kind == kind:
                    rewards[dev.device.lower()] += dev.amount
    return rewards


def _score_ppm(explanation: Mapping[str, Any]) -> int | None:
    """The reputation score of a published storage explanation (None: it has none)."""
    reputation = explanation.get("reputation")
    holder = reputation if isinstance(reputation, Mapping) else explanation
    value = holder.get("score_ppm")
    return value if isinstance(value, int) else None


def _is_disqualified(explanation: Mapping[str, Any]) -> bool:
    """Does a published storage explanation say the node is disqualified?"""
    flag = explanation.get("disqualified")
    reasons = explanation.get("reasons", ())
    return (flag is not None and flag is not False) or "disqualified" in reasons


def _storage_summary(net: SimNetwork, node: OracleNode, epochs: int) -> StorageSummary | None:
    """The storage section: the simulated placer's facts, and per behaviour what the oracles
    published (explanations of the last epoch, storage rewards of every epoch)."""
    model = net.models.get("storage")
    if not isinstance(model, StorageSimulation):
        return None
    rewards = _kind_rewards(node, epochs, "storage")
    last = node.runner.epoch_dir(epochs - 1) / EpochFile.EXPLANATIONS
    published = read_format_file(last, "explanations_v1")["kinds"].get("storage", [])
    explained = {str(e["device"]).lower(): e for e in published}
    groups: dict[str, list[str]] = {}
    for device, label in model.behaviours().items():
        groups.setdefault(label.removeprefix("storage_"), []).append(str(device).lower())
    behaviours = {}
    for behaviour, members in sorted(groups.items()):
        scores = [s for d in members if (s := _score_ppm(explained.get(d, {}))) is not None]
        behaviours[behaviour] = StorageBehaviour(
            nodes=len(members),
            paid_nodes=sum(rewards[d] > 0 for d in members),
            disqualified=sum(_is_disqualified(explained.get(d, {})) for d in members),
            min_score_ppm=min(scores) if scores else None,
            max_score_ppm=max(scores) if scores else None,
            rewards=str(sum(rewards[d] for d in members)),
        )
    facts = model.facts()
    return StorageSummary(
        objects=facts.objects,
        object_bytes=facts.object_bytes,
        readable=facts.readable,
        pieces_placed=facts.pieces_placed,
        pieces_repaired=facts.pieces_repaired,
        segments_repaired=facts.segments_repaired,
        proofs_sent=facts.proofs_sent,
        behaviours=behaviours,
    )


def _claim_all(
    net: SimNetwork, node: OracleNode, http: httpx.Client, ui: Progress
) -> tuple[int, list[tuple[str, str]]]:
    """Every owner GETs its proof from an oracle and claims; returns (claimed total, top earners)."""
    distributor = net.deployment.distributor(net.chain)
    owners = {o.address: o for o in net.owners}
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
