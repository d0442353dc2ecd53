"""A whole simulated network in one process: embedded chain, contracts, devices, oracles.

`build_network` starts an `EmbeddedChain` just before the network's genesis, deploys the
contracts with a governance account and N oracle accounts derived from the seed, and builds
each running kind's simulation model (`Kind.simulation`) for its device count, all owned by
one set of seeded owners; `register_devices` registers every simulated device (the device key
signs the EIP-712 onboarding permit, the owner sends it) for its kind and asserts its cell
(spoofers assert cells where they are not; storage nodes assert none). When storage runs, the
simulated placer's address (derived from the seed) is the network's one authorised placer.
`OracleNode` is one oracle built by `oracle.node.Oracle.build`: its OWN store (SQLite file or
a PostgreSQL URL), ingest app, attestation book and runner; nodes share nothing but the chain.
The demo, the runner tests and the benchmarks build on these.

Simulation time is chain time: `advance_to(unix)` moves the embedded chain's clock, and
ingest apps read their clock from it, so the only shared mutable thing is the chain.
`sim_hour(epoch, hour)` moves it to an hour's start and mines the hour's entropy block there:
the `SimHour` every kind's model signs its reports for that hour with (heartbeat's liveness
challenge, coverage's beacon entropy), the block the oracles' snapshot reads back.

Oracles in child processes (`fork_available`): the demo may run each oracle's ingest and its
epoch stages in a process forked from the one that owns the chain, so the three oracles use
both cores. A forked oracle reads a copy of the chain as it was at the fork, so its ingest
takes the world's clock from a `SharedClock` (chain time in shared memory, set by the parent
before every delivery) instead of the chain; its stages only read the chain (the snapshot
at the close block, the claim's digest), which the copy answers as the original would.
"""

from __future__ import annotations

import functools
import gc
import importlib
import mmap
import multiprocessing
import ssl
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from opendepin.chain.accounts import Signer
from opendepin.chain.blocks import last_block_at_or_before
from opendepin.chain.clients import DistributorClient
from opendepin.chain.deploy import Deployment, deploy_network
from opendepin.chain.embedded import EmbeddedChain
from opendepin.errors import AgreementPending, StageError
from opendepin.network.settings import (
    ChainSection,
    IngestSection,
    NetworkSection,
    PoolsSection,
    PricingSection,
    Settings,
)
from opendepin.oracle.attestations import AttestationBook, EpochClaim
from opendepin.oracle.node import Oracle
from opendepin.oracle.runner import EpochRunner
from opendepin.proofs.kind import SimHour, SimModel, SimSpec
from opendepin.proofs.registry import get_kind
from opendepin.sim.keys import sim_owners, sim_secret
from opendepin.store import Store
from opendepin.types import Epoch

SIM_GENESIS_UNIX = 1_893_456_000
"""2030-01-01T00:00:00Z: a fixed genesis so every run with one seed signs the same bytes."""
PRE_GENESIS_SECONDS = 3_600
"""The chain starts this long before genesis (deployment and registration happen then)."""
GAS_FUNDING_WEI = 10**21
"""Native balance given to every simulated account that sends transactions."""
REGISTRATION_DEADLINE_SECONDS = 86_400
DEVICES_PER_OWNER = 4
"""The simulated network has one owner per this many devices of its first kind (at least one)."""
SIM_HOUR_SECONDS = 3_600
"""Length of a simulated hour (`sim_hour`): the heartbeat and coverage entropy windows' default."""

HEARTBEAT_ONLY_BPS = {"heartbeat": 10_000}
WITH_COVERAGE_BPS = {"heartbeat": 4_000, "coverage": 6_000}
"""Pools when the simulation has coverage devices: 40 % heartbeat, 60 % coverage."""
WITH_STORAGE_BPS = {"heartbeat": 3_000, "coverage": 4_500, "storage": 2_500}
"""Pools when the simulation has coverage devices and storage nodes: 30 / 45 / 25 %."""
WITH_USAGE_BPS = {"heartbeat": 3_000, "coverage": 4_500, "storage": 2_000, "usage": 500}
"""And with consumers: 5 % for usage (at most the token value of what consumers paid; the
rest flows back to the proof pools)."""


def demo_pools(kinds: list[str]) -> dict[str, int]:
    """Pools of a simulated network running `kinds`: heartbeat alone gets everything,
    heartbeat + coverage split 40/60, heartbeat + coverage + storage 30/45/25, any other set
    shares equally (remainder to the first)."""
    names = sorted(set(kinds))
    if names == ["heartbeat"]:
        return dict(HEARTBEAT_ONLY_BPS)
    if names == ["coverage", "heartbeat"]:
        return dict(WITH_COVERAGE_BPS)
    if names == ["coverage", "heartbeat", "storage"]:
        return dict(WITH_STORAGE_BPS)
    if names == ["coverage", "heartbeat", "storage", "usage"]:
        return dict(WITH_USAGE_BPS)
    share, rest = divmod(10_000, len(names))
    return {n: share + (rest if i == 0 else 0) for i, n in enumerate(names)}


def sim_settings(
    network_id: str = "opendepin-demo",
    oracle_threshold: int = 2,
    coverage: bool = False,
    kinds: list[str] | None = None,
    storage_placers: Sequence[str] = (),
    consumers: Mapping[str, int] | None = None,
) -> Settings:
    """Settings for a simulated network: fixed genesis, no onboarding or location fees.

    Governance is instant here: `chain.timelock_delay_seconds` stays 0 (the default), which
    `deploy_network` accepts only because the simulation runs on the in-process embedded
    chain (a real node deployment outside chain id 31337 is refused with a zero delay).
    `kinds` names the kinds that run (default: heartbeat, plus coverage if `coverage`).
    `storage_placers` go into `[storage] placers` (the simulated placer's address, so the
    oracles accept its placements) when storage runs. `consumers` (address -> genesis tokens)
    adds the demand side: the usage pool, the consumers' genesis allocations and the demo's
    prices (`sim.consumers`).

    Ingest verifies signatures in its own process (`ingest.verify_workers = 0`): the demo gives
    each oracle a process of its own already (`forked_ingest`), so signature worker processes
    per oracle (by default one per core) would only add interpreters to start and jobs to ship
    between processes on cores the oracles keep busy, and `--sequential` stays one process.
    Where a signature is checked changes no verdict (`ingest.workers`), so no result does.
    """
    running = (
        kinds if kinds is not None else (["heartbeat", "coverage"] if coverage else ["heartbeat"])
    )
    sections: dict[str, Any] = {}
    if "storage" in running:
        sections["storage"] = {"placers": list(storage_placers)}
    pricing = PricingSection()
    if consumers:
        from opendepin.sim.consumers import DEMO_EGRESS_GB_CREDITS, DEMO_STORED_GB_MONTH_CREDITS

        running = [*running, "usage"]
        pricing = PricingSection(
            stored_gb_month_credits=DEMO_STORED_GB_MONTH_CREDITS,
            egress_gb_credits=DEMO_EGRESS_GB_CREDITS,
        )
    return Settings(
        ingest=IngestSection(verify_workers=0),  # no signature workers (see above)
        network=NetworkSection(network_id=network_id, genesis_unix=SIM_GENESIS_UNIX),
        pools=PoolsSection(bps=demo_pools(running)),
        chain=ChainSection(
            onboarding_fee=0,
            location_fee=0,
            location_cooldown_seconds=0,
            oracle_threshold=oracle_threshold,
            genesis_allocations=dict(consumers or {}),
        ),
        pricing=pricing,
        kinds=sections,
    )


def sim_storage_placers(seed: int, kinds: Iterable[str]) -> list[str]:
    """The simulated storage placer's address when storage is among `kinds` (else none)."""
    if "storage" not in kinds:
        return []
    from opendepin.proofs.storage.simulation import placer_signer  # only when storage runs

    return [placer_signer(seed).address]


@dataclass(slots=True)
class SimNetwork:
    """The chain, contracts, accounts and simulated devices of a simulated network."""

    settings: Settings
    chain: EmbeddedChain
    deployment: Deployment
    governance: Signer
    oracle_signers: list[Signer]
    owners: list[Signer]
    models: dict[str, SimModel] = field(default_factory=dict)
    """Kind -> its simulation model (in the order kinds were given)."""
    registered: int = 0

    def advance_to(self, unix: int) -> None:
        """Move chain time forward to `unix` (no-op if already there)."""
        now = self.chain.now()
        if unix > now:
            self.chain.time_travel(unix - now)

    def epoch_start(self, epoch: int) -> int:
        return self.settings.network.epoch_start_unix(epoch)

    def sim_hour(self, epoch: int, hour: int) -> SimHour:
        """Hour `hour` of `epoch` as the devices see it at its start: chain time moves there and
        a block is mined (the hour's entropy block, unless the chain is already past the start);
        the entropy block is the last block at or before the start, as the oracles read it."""
        start = self.epoch_start(epoch)
        hour_start = start + hour * SIM_HOUR_SECONDS
        if self.chain.now() <= hour_start:
            self.advance_to(hour_start)
            self.chain.mine()
        block = last_block_at_or_before(self.chain, hour_start, self.chain.block_number())
        return SimHour(
            epoch=Epoch(epoch),
            hour=hour,
            hour_start_unix=hour_start,
            epoch_start_unix=start,
            entropy_block=block,
            entropy=self.chain.block_hash(block),
        )

    def digest(self, claim: EpochClaim) -> bytes:
        return self.deployment.distributor(self.chain).epoch_root_digest(
            claim.epoch, claim.root, claim.cumulative_total, claim.manifest_hash
        )

    @property
    def device_count(self) -> int:
        return sum(len(m.devices) for m in self.models.values())


def build_network(
    seed: int,
    devices: int | Mapping[str, int],
    oracles: int = 3,
    settings: Settings | None = None,
    coverage_devices: int = 0,
    consumers: int = 0,
) -> SimNetwork:
    """Deploy a network on a fresh embedded chain with simulated devices.

    `devices` maps kind -> device count; an int means that many heartbeat devices (plus
    `coverage_devices` coverage devices). `register_devices` registers them. With storage
    nodes, `consumers` consumer accounts get genesis tokens and the usage pool runs
    (`sim.consumers.DemoConsumers` drives them).
    """
    counts = (
        dict(devices)
        if isinstance(devices, Mapping)
        else {"heartbeat": devices, "coverage": coverage_devices}
    )
    counts = {k: n for k, n in counts.items() if n > 0}
    placers = sim_storage_placers(seed, counts)
    allocations = None
    if consumers > 0 and "storage" in counts:
        from opendepin.sim.consumers import DemoConsumers

        allocations = DemoConsumers.allocations(seed, consumers)
    cfg = settings or sim_settings(
        kinds=list(counts), storage_placers=placers, consumers=allocations
    )
    chain = EmbeddedChain(
        cfg.network.chain_id, genesis_timestamp=cfg.network.genesis_unix - PRE_GENESIS_SECONDS
    )
    governance = Signer.from_private_bytes(sim_secret(seed, "governance", 0))
    oracle_signers = [
        Signer.from_private_bytes(sim_secret(seed, "oracle", i)) for i in range(oracles)
    ]
    first = next(iter(counts.values()), 1)
    owners = sim_owners(seed, max(1, first // DEVICES_PER_OWNER))
    for account in [governance, *oracle_signers, *owners]:
        chain.fund(account.address, GAS_FUNDING_WEI)
    deployment = deploy_network(
        chain, cfg, governance, [o.address for o in oracle_signers], guardian=governance.address
    )
    net = SimNetwork(cfg, chain, deployment, governance, oracle_signers, owners)
    for kind_name, count in counts.items():
        net.models[kind_name] = get_kind(kind_name).simulation(SimSpec(seed, count, owners, cfg))
    return net


def register_devices(net: SimNetwork, advance: Callable[[int], None] | None = None) -> None:
    """Register every simulated device for its kind and assert its cell (owner pays gas).

    The transactions `RegistryClient.register` and `assert_location` send, in the same order,
    with the fees read once instead of before every transaction: they are set at deployment
    (`[chain] onboarding_fee` / `location_fee`, none in the simulation) and registering
    changes neither, so the repeated reads were view calls answering the same (no block, no
    state). With a fee the clients' own path runs (it approves the fee first)."""
    registry = net.deployment.registry(net.chain)
    deadline = net.chain.now() + REGISTRATION_DEADLINE_SECONDS
    free = registry.onboarding_fee() == 0
    free_cells = registry.location_fee() == 0
    for kind_name, model in net.models.items():
        for dev in model.devices:
            device = dev.key.device_id
            if free and getattr(dev.key, "type", "secp256k1") == "secp256k1":
                digest = registry.register_digest(device, dev.owner.address, kind_name, deadline)
                net.chain.transact(
                    registry.address, "register", device, dev.owner.address, kind_name,
                    deadline, dev.key.sign_digest(digest), sender=dev.owner,
                )  # fmt: skip
            else:
                registry.register(dev.key, dev.owner, kind_name, deadline)
            if dev.asserted_cell:
                if free_cells:
                    net.chain.transact(
                        registry.address, "assert_location", device, dev.asserted_cell,
                        sender=dev.owner,
                    )  # fmt: skip
                else:
                    registry.assert_location(device, dev.asserted_cell, sender=dev.owner)
            net.registered += 1
            if advance is not None:
                advance(1)


@dataclass(slots=True)
class OracleNode:
    """One simulated oracle (an `Oracle` built from the network's settings)."""

    index: int
    signer: Signer
    oracle: Oracle
    peers: list[str] = field(default_factory=list)

    @property
    def store(self) -> Store:
        return self.oracle.store

    @property
    def runner(self) -> EpochRunner:
        return self.oracle.runner

    @property
    def book(self) -> AttestationBook:
        return self.oracle.runner.book

    @property
    def url(self) -> str:
        return self.oracle.url


@functools.cache
def sim_tls() -> ssl.SSLContext:
    """The one TLS context of the simulation's HTTP clients: httpx's default (the CA bundle it
    verifies with), built once. Every `httpx.Client()` builds its own, loading the bundle
    again (~20 ms); the demo makes a dozen clients, forked children included (they inherit
    this one). Its peers speak plain HTTP on localhost anyway."""
    return httpx.create_ssl_context()


def sim_http(timeout: float) -> httpx.Client:
    """An HTTP client as `httpx.Client(timeout=timeout)` makes it, with the shared `sim_tls`."""
    return httpx.Client(timeout=timeout, verify=sim_tls())


def make_oracle(
    net: SimNetwork,
    index: int,
    data_dir: Path,
    database_url: str | None = None,
    http: httpx.Client | None = None,
    distributor: DistributorClient | None = None,
    clock_ms: Callable[[], int] | None = None,
) -> OracleNode:
    """Oracle `index` of the network with its own store under `data_dir`; its ingest reads the
    chain's clock, or `clock_ms` (Unix ms; a forked oracle passes `SharedClock.ms`).
    `distributor` replaces the deployment's client (tests inject a double)."""
    signer = net.oracle_signers[index]

    def chain_clock_ms() -> int:
        return net.chain.now() * 1000

    oracle = Oracle.build(
        net.settings,
        chain=net.chain,
        registry=net.deployment.registry(net.chain),
        distributor=distributor or net.deployment.distributor(net.chain),
        signer=signer,
        oracles=[o.address for o in net.oracle_signers],
        http=http,
        registry_from_block=net.deployment.first_block,
        contracts=net.deployment.addresses,
        ingest_clock=clock_ms or chain_clock_ms,
        data_dir=data_dir,
        database_url=database_url,
    )
    return OracleNode(index=index, signer=signer, oracle=oracle)


# -- oracles in forked processes ---------------------------------------------------------

CHILD_START_TIMEOUT_SECONDS = 60.0
"""How long a forked oracle's ingest may take to start serving."""
CHILD_JOIN_TIMEOUT_SECONDS = 600.0
"""How long the forked oracles' stages of one epoch may take (agreement rounds included)."""
PREPARE_POLL_SECONDS = 0.02
"""Pause between a forked oracle's `prepare` calls while its agreement rounds go on."""
CHILD_HTTP_TIMEOUT_SECONDS = 30.0
"""Timeout of a forked oracle's HTTP client (its peers' agreement routes)."""
INGEST_CHILD_HTTP_TIMEOUT_SECONDS = 5.0
"""Timeout of a forked ingest's runner client (`EpochRunner`'s default; it sends nothing)."""
CHILD_EXIT_HOOKS: list[Callable[[], None]] = []
"""Run in a forked oracle process just before it exits (bench/demo.py hands its timers over)."""


def fork_available() -> bool:
    """Can oracles run in forked child processes here (Linux with the `fork` start method)?"""
    return sys.platform == "linux" and "fork" in multiprocessing.get_all_start_methods()


class SharedClock:
    """Chain time (Unix seconds) in anonymous shared memory: what a forked oracle's ingest reads
    as the world's clock while the parent's chain moves on (`set` before every delivery)."""

    _FORMAT = "<q"

    def __init__(self, unix: int = 0) -> None:
        self._memory = mmap.mmap(-1, struct.calcsize(self._FORMAT))  # MAP_SHARED: seen across fork
        self.set(unix)

    def set(self, unix: int) -> None:
        self._memory[:] = struct.pack(self._FORMAT, unix)

    def unix(self) -> int:
        value: int = struct.unpack(self._FORMAT, self._memory[:])[0]
        return value

    def ms(self) -> int:
        return self.unix() * 1000


def _in_child(work: Callable[..., None], *args: Any) -> None:
    """A forked oracle process's body: `work(*args)`, then the exit hooks."""
    try:
        work(*args)
    finally:
        for hook in CHILD_EXIT_HOOKS:
            hook()


def _serve_ingest(
    net: SimNetwork, index: int, data_dir: Path, clock: SharedClock, conn: Any
) -> None:
    """In a child: oracle `index`'s ingest (its own store in `data_dir`, the world's time from
    `clock`) on a fresh port; sends its URL, serves until the parent sends "stop"."""
    with sim_http(INGEST_CHILD_HTTP_TIMEOUT_SECONDS) as http:  # its runner's (never used here)
        node = make_oracle(net, index, data_dir, http=http, clock_ms=clock.ms)
        try:
            with node.oracle.serve():
                conn.send(node.url)
                conn.recv()
        finally:
            node.oracle.close()


def _prepare(net: SimNetwork, index: int, data_dir: Path, peers: list[str], epoch: int) -> None:
    """In a child: oracle `index`'s stages of `epoch` up to its signature (`EpochRunner.prepare`),
    asking again while the agreement rounds with its peers go on."""
    with sim_http(CHILD_HTTP_TIMEOUT_SECONDS) as http:
        node = make_oracle(net, index, data_dir, http=http)
        try:
            node.oracle.set_peers(peers)
            deadline = time.monotonic() + CHILD_JOIN_TIMEOUT_SECONDS
            while True:
                try:
                    node.runner.prepare(epoch)
                    return
                except AgreementPending:
                    if time.monotonic() > deadline:
                        raise StageError(
                            f"oracle {index}: epoch {epoch}'s agreement did not end"
                        ) from None
                    time.sleep(PREPARE_POLL_SECONDS)
        finally:
            node.oracle.close()


FORK_PRELOADS = ("numpy.ma",)
"""Modules that forked stages would each import on first use, imported in the parent before
it forks (only when their package is loaded already): numpy loads `numpy.ma` on the first
`numpy.unique`, ~40 ms of CPU that every epoch's three children would otherwise repeat."""


def _preload() -> None:
    sim_tls()  # the children's HTTP clients use it
    for name in FORK_PRELOADS:
        if name.partition(".")[0] in sys.modules:
            with suppress(ImportError):
                importlib.import_module(name)


def _fork(name: str, work: Callable[..., None], *args: Any) -> Any:
    """Start `work(*args)` in a forked child. Everything the parent's garbage collector tracks
    is frozen across the fork: the child's collections then never walk (nor, by writing their
    headers, copy) the parent's heap — each full collection in a child would otherwise cost
    a pass over every inherited object and fault in a private copy of its pages."""
    proc = multiprocessing.get_context("fork").Process(
        target=_in_child, args=(work, *args), name=name, daemon=True
    )
    _preload()
    gc.freeze()
    try:
        proc.start()
    finally:
        gc.unfreeze()
    return proc


def _reap(procs: Sequence[Any], timeout: float) -> list[str]:
    """Wait for the children (killing any still running after `timeout`); the failed ones' names."""
    deadline = time.monotonic() + timeout
    failed = []
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()
            proc.join()
        if proc.exitcode != 0:
            failed.append(f"{proc.name} (exit {proc.exitcode})")
    return failed


class ForkedIngest:
    """The oracles' ingest processes of `forked_ingest`: their URLs as they start serving,
    and `stop`, which lets them go before the block ends (the demo, once the last epoch's
    reports are in: they shut down while the oracles settle)."""

    def __init__(self, indices: Sequence[int]) -> None:
        self._indices = list(indices)
        """Oracle index of each position (the order processes are added in)."""
        self._procs: list[Any] = []
        self._conns: list[Any] = []
        self._waits: list[threading.Lock] = []
        """One per position: who asks for its URL first waits for it."""
        self._urls: dict[int, str] = {}
        self._lock = threading.Lock()
        self._stopped = False

    def add(self, proc: Any, conn: Any) -> None:
        """The next oracle's process and the parent's end of its pipe."""
        self._procs.append(proc)
        self._conns.append(conn)
        self._waits.append(threading.Lock())

    def url(self, position: int) -> str:
        """The ingest URL of the `position`-th oracle, waiting until its process serves."""
        with self._waits[position]:
            if position not in self._urls:
                index, conn = self._indices[position], self._conns[position]
                if self._stopped:
                    raise StageError(f"oracle {index}'s ingest process was stopped")
                if not conn.poll(CHILD_START_TIMEOUT_SECONDS):
                    raise StageError(f"oracle {index}'s ingest process did not start")
                try:
                    self._urls[position] = str(conn.recv())
                except EOFError:
                    raise StageError(
                        f"oracle {index}'s ingest process died before serving"
                    ) from None
            return self._urls[position]

    def stop(self) -> None:
        """Ask every ingest process to stop (they finish their requests and exit); idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            for conn in self._conns:
                with suppress(OSError):
                    conn.send("stop")

    def close(self) -> list[str]:
        """Stop and wait for every process; the failed ones' names."""
        self.stop()
        for conn in self._conns:
            conn.close()
        return _reap(self._procs, CHILD_START_TIMEOUT_SECONDS)


@contextmanager
def forked_ingest(
    net: SimNetwork, nodes: list[OracleNode], clocks: SharedClock | Sequence[SharedClock]
) -> Iterator[ForkedIngest]:
    """Each oracle's ingest in a forked process, reading the world's time from its clock
    (`clocks`: one per node, or one for all), until the block ends. One process serves every
    epoch: once the devices are registered, ingest needs nothing of the chain but its clock
    (the registry mirror is synced when the process starts). Yields at once — the processes
    start while the caller goes on; `ForkedIngest.url` waits for one to serve."""
    each = [clocks] * len(nodes) if isinstance(clocks, SharedClock) else list(clocks)
    if len(each) != len(nodes):
        raise StageError(f"{len(nodes)} oracles need {len(nodes)} clocks, not {len(each)}")
    ingest = ForkedIngest([node.index for node in nodes])
    try:
        for node, clock in zip(nodes, each, strict=True):
            mine, theirs = multiprocessing.get_context("fork").Pipe()
            ingest.add(
                _fork(
                    f"oracle-{node.index}-ingest",
                    _serve_ingest,
                    net,
                    node.index,
                    node.store.data_dir,
                    clock,
                    theirs,
                ),
                mine,
            )
            theirs.close()
        yield ingest
    finally:
        failed = ingest.close()
    if failed:
        raise StageError(f"forked ingest failed: {', '.join(failed)}")


def prepare_forked(net: SimNetwork, nodes: list[OracleNode], epoch: int) -> None:
    """Every oracle's `prepare(epoch)` at once, each in a forked process; raises if one failed."""
    procs = [
        _fork(
            f"oracle-{n.index}-epoch-{epoch}",
            _prepare,
            net,
            n.index,
            n.store.data_dir,
            list(n.peers),
            epoch,
        )
        for n in nodes
    ]
    failed = _reap(procs, CHILD_JOIN_TIMEOUT_SECONDS)
    if failed:
        raise StageError(f"epoch {epoch}: forked oracle stages failed: {', '.join(failed)}")


def decision_order(oracles: int, last_round: int) -> list[int]:
    """The order in which the one-process demo's oracles reach the agreement's decision.

    The demo's one-process settlement (`sim.demo`) visits oracles 0, 1, … in turn; each ends
    every round whose records it has heard from all (`Agreement.step`) and, once past
    `last_round`, decides, signs and exchanges in that same call. So the oracle at position M - 1 of this order sends
    `submit_root`, signed by the first M. Which transaction that is matters beyond the epoch:
    its hash goes into every later block hash, so into the next epochs' entropy. After the
    forked stages (`prepare_forked`) the demo lets the oracles exchange in this order, so the
    same oracle sends the same transaction as in one process. (3 oracles, 2-of-3: [1, 2, 0].)
    """
    published: list[set[int]] = [set() for _ in range(oracles)]
    current = [0] * oracles
    order: list[int] = []
    while len(order) < oracles:
        for i in range(oracles):
            if i in order:
                continue
            published[i].add(0)
            while all(current[i] in p for p in published):
                if current[i] < last_round:
                    published[i].add(current[i] + 1)
                current[i] += 1
                if current[i] > last_round:
                    order.append(i)
                    break
    return order
