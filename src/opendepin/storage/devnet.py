"""A whole storage network in one process, for development: `depin storage devnet`.

```
EmbeddedChain (clock = wall time, a block every BLOCK_SECONDS) ── contracts, 1 oracle (threshold 1)
   │  genesis tokens → consumer ── burned for credits
   ├── N storage nodes   127.0.0.1:P+1 … P+N   own key each, registered as kind "storage",
   │                                            reporters read audit entropy from the chain
   ├── oracle ingest     127.0.0.1:P+N+1        [storage] placers = the gateway's placer key
   └── S3 gateway        127.0.0.1:P            placer key, SQLite metadata D/gateway.db
D/credentials.json  endpoint_url, aws_access_key_id, aws_secret_access_key, region, bucket_prefix
```

Usage and credits: the gateway's placer key is also registered as a device of kind "usage" and
authorised (through the governance timelock) as a `Credits` spender; the gateway meters every
request (`storage.metering`, tables in D/gateway.db), refuses accounts without credits
(`gateway.credits_check`) and serves its usage files at `GET /v1/usage/{epoch}`
(D/usage/<epoch>/; its report spool is D/usage-agent.db).
Epochs (`--epoch-seconds`, default one hour): an epoch driver thread settles each ended
epoch's usage in the next one (`Devnet.settle`: usage file, spends, reports) and runs the
oracle on every epoch whose ingest closed, in order, until its root is on chain — so the
usage of epoch E is paid to the nodes by the oracle's run of E + 1.

Every component is the real one (node app and reporter, oracle `Oracle.build`, gateway
`Gateway`), each uvicorn server on its own thread. The embedded chain is not thread-safe, so
every user after start-up (node reporters, the block clock, the oracle) goes through
`LockedChain`, which serialises calls with one lock.

**A devnet is throw-away.** Its key material derives from D/devnet.seed (32 random bytes,
0600, created on first start; whoever reads it holds every devnet key — never put value
behind them). Kept across restarts on the same D: the seed (so the same node, placer and
consumer addresses), the gateway's metadata and access keys (D/gateway.db, D/gateway-master.key),
the nodes' pieces (D/nodes/node-<i>/) and the access key in D/credentials.json — so objects
stored before a restart read back after it, provided `--nodes` is unchanged. Fresh at every
start: the chain itself (in memory), so contracts, registrations, tokens and credits, and the
oracle's state (D/oracle/ is emptied). Audit windows are AUDIT_WINDOW_SECONDS long so proofs
flow within minutes.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import uvicorn

from opendepin.chain.accounts import Signer
from opendepin.chain.backend import Chain
from opendepin.chain.deploy import Deployment, deploy_network
from opendepin.chain.embedded import EmbeddedChain
from opendepin.crypto import keccak256
from opendepin.errors import ConfigError, DepinError, InputError
from opendepin.identity import DeviceKey, KeyType
from opendepin.network.settings import ChainSection, NetworkSection, PoolsSection, Settings
from opendepin.oracle.node import Oracle
from opendepin.oracle.runner import SubmitState
from opendepin.storage.credits import CreditsLedger, onboard_gateway
from opendepin.storage.directory import NodeDirectory
from opendepin.storage.erasure import Redundancy
from opendepin.storage.gateway import main as gateway_main
from opendepin.storage.gateway.context import Gateway, GatewayConfig
from opendepin.storage.gateway.credits_check import CreditsCheck
from opendepin.storage.gateway.keys import KeyStore, load_master_key
from opendepin.storage.metadata import Metadata
from opendepin.storage.metering import Metering
from opendepin.storage.node.config import STATE_DB, STORAGE_KIND, NodeConfig
from opendepin.storage.node.main import SHUTDOWN_GRACE_SECONDS, prepare_directory
from opendepin.storage.node.reporter import NodeReporter
from opendepin.storage.node.server import NodeApp, create_app
from opendepin.storage.node.store import PieceStore
from opendepin.storage.placer import Placer, PlacerConfig
from opendepin.storage.pricing import Prices
from opendepin.storage.settlement import Settled, Settlement, SettlementConfig
from opendepin.types import ONE_TOKEN, Address, DeviceId

DEFAULT_NODES: Final = 8
DEFAULT_PORT: Final = 9000
HOST: Final = "127.0.0.1"
REGION: Final = "us-east-1"
NETWORK_ID: Final = "opendepin-devnet"
CHAIN_ID: Final = 31337
EPOCH_SECONDS: Final = 3_600
MIN_EPOCH_SECONDS: Final = 60
"""Shortest epoch `--epoch-seconds` accepts (a multiple of the audit window)."""
SHORT_EPOCH_GRACE_SECONDS: Final = 30
"""Report grace of a devnet whose epochs are shorter than the default grace (600 s) allows."""
EPOCH_POLL_SECONDS: Final = 2.0
"""How often the epoch driver looks for an epoch to settle (gateway) and to run (oracle)."""
AUDIT_WINDOW_SECONDS: Final = 60
PROOF_GRACE_SECONDS: Final = 30
BLOCK_SECONDS: Final = 2.0
"""The block clock mines a block at wall time this often (audit windows need entropy blocks)."""
GAS_WEI: Final = 10**21
CONSUMER_TOKENS: Final = 1_000 * ONE_TOKEN
"""Genesis allocation of the consumer account."""
CREDIT_TOKENS: Final = 100 * ONE_TOKEN
"""Of which the consumer burns this much for credits at start."""
START_TIMEOUT_SECONDS: Final = 30.0
SEED_FILE: Final = "devnet.seed"
CREDENTIALS_FILE: Final = "credentials.json"
MAX_CREDENTIALS_BYTES: Final = 4_096
SEED_BYTES: Final = 32
REGISTRATION_DEADLINE_SECONDS: Final = 3_600


def devnet_redundancy(nodes: int) -> Redundancy:
    """4/5/6/8 with eight nodes or more; with fewer, k = n // 2 and every node gets a piece."""
    if nodes < 2:
        raise InputError("--nodes: a devnet needs at least 2 storage nodes")
    if nodes >= 8:
        return Redundancy(4, 5, 6, 8)
    required = max(1, nodes // 2)
    return Redundancy(required, max(required, nodes - 1), nodes, nodes)


USAGE_KIND: Final = "usage"
DEVNET_POOLS: Final = {"heartbeat": 4_000, "storage": 4_000, USAGE_KIND: 2_000}


def check_epoch_seconds(epoch_seconds: int) -> None:
    """InputError unless `epoch_seconds` is a whole number of audit windows, at least the least."""
    if epoch_seconds < MIN_EPOCH_SECONDS or epoch_seconds % AUDIT_WINDOW_SECONDS:
        raise InputError(
            f"--epoch-seconds must be at least {MIN_EPOCH_SECONDS} and a multiple of the "
            f"{AUDIT_WINDOW_SECONDS} s audit window, got {epoch_seconds}"
        )


def devnet_settings(
    genesis_unix: int, placer: str, consumer: str, nodes: int, epoch_seconds: int = EPOCH_SECONDS
) -> Settings:
    """The devnet's network: one oracle (threshold 1), no fees, short audit windows, the
    consumer's genesis tokens, pools for heartbeat, storage and usage."""
    check_epoch_seconds(epoch_seconds)
    default_grace = NetworkSection().report_grace_seconds
    grace = default_grace if epoch_seconds >= 2 * default_grace else SHORT_EPOCH_GRACE_SECONDS
    storage = {
        "placers": [placer],
        "audit_window_seconds": AUDIT_WINDOW_SECONDS,
        "proof_grace_seconds": PROOF_GRACE_SECONDS,
        "redundancy": str(devnet_redundancy(nodes)),
    }
    return Settings(
        network=NetworkSection(
            network_id=NETWORK_ID,
            chain_id=CHAIN_ID,
            epoch_seconds=epoch_seconds,
            genesis_unix=genesis_unix,
            report_grace_seconds=grace,
        ),
        pools=PoolsSection(bps=dict(DEVNET_POOLS)),
        chain=ChainSection(
            onboarding_fee=0,
            location_fee=0,
            location_cooldown_seconds=0,
            oracle_threshold=1,
            genesis_allocations={consumer: CONSUMER_TOKENS},
        ),
        kinds={STORAGE_KIND: storage},
    )


class LockedChain:
    """A `Chain` whose every call holds one lock (the embedded chain is not thread-safe)."""

    def __init__(self, inner: EmbeddedChain) -> None:
        self.inner = inner
        self.lock = threading.RLock()

    @property
    def chain_id(self) -> int:
        return self.inner.chain_id

    def block_number(self) -> int:
        with self.lock:
            return self.inner.block_number()

    def block_hash(self, number: int | None = None) -> bytes:
        with self.lock:
            return self.inner.block_hash(number)

    def timestamp(self, number: int | None = None) -> int:
        with self.lock:
            return self.inner.timestamp(number)

    def deploy(self, contract: Any, *args: Any, sender: Any) -> Address:
        with self.lock:
            return self.inner.deploy(contract, *args, sender=sender)

    def attach(self, contract: Any, address: Address) -> None:
        with self.lock:
            self.inner.attach(contract, address)

    def call(self, address: Address, fn: str, *args: Any) -> Any:
        with self.lock:
            return self.inner.call(address, fn, *args)

    def transact(self, address: Address, fn: str, *args: Any, sender: Any) -> Any:
        with self.lock:
            return self.inner.transact(address, fn, *args, sender=sender)

    def get_logs(
        self, address: Address, event: str, from_block: int = 0, to_block: int | None = None
    ) -> Any:
        with self.lock:
            return self.inner.get_logs(address, event, from_block, to_block)

    def balance(self, address: Address) -> int:
        with self.lock:
            return self.inner.balance(address)

    def fund(self, address: Address, wei: int) -> None:
        with self.lock:
            self.inner.fund(address, wei)

    def code(self, address: Address) -> bytes:
        with self.lock:
            return self.inner.code(address)

    def tick(self) -> int:
        """Move the chain's clock to wall time and mine a block there; its number."""
        with self.lock:
            behind = int(time.time()) - self.inner.now()
            if behind > 0:
                self.inner.time_travel(behind)
            return self.inner.mine()


class ThreadServer:
    """A uvicorn server on a daemon thread: `start` waits until it listens, `stop` until done."""

    def __init__(self, server: uvicorn.Server, name: str) -> None:
        self.server = server
        self.name = name
        self._thread: threading.Thread | None = None

    def start(self) -> ThreadServer:
        self._thread = threading.Thread(target=self.server.run, name=self.name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise DepinError(f"{self.name} did not start (is its port taken?)")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.server.should_exit = True
            self._thread.join(SHUTDOWN_GRACE_SECONDS + 5)
            self._thread = None


def open_seed(directory: Path) -> bytes:
    """D/devnet.seed, created (0600, random) on first start."""
    path = directory / SEED_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(SEED_BYTES))
    if path.stat().st_mode & 0o077:
        raise ConfigError(f"{path}: readable by others (chmod 600 it)")
    raw = path.read_bytes()[: SEED_BYTES + 1]
    if len(raw) != SEED_BYTES:
        raise ConfigError(f"{path}: a devnet seed is {SEED_BYTES} bytes (delete it to start over)")
    return raw


def derive_secret(seed: bytes, role: str, index: int = 0) -> bytes:
    """The devnet key of (role, index): keccak256 of the seed and the role's name."""
    return keccak256(b"opendepin-devnet:" + seed + f":{role}:{index}".encode())


def read_credentials(path: Path) -> dict[str, str] | None:
    """credentials.json as a string map, or None when missing, oversized or malformed."""
    try:
        raw = path.read_bytes()[: MAX_CREDENTIALS_BYTES + 1]
        doc = json.loads(raw) if len(raw) <= MAX_CREDENTIALS_BYTES else None
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or not all(isinstance(v, str) for v in doc.values()):
        return None
    return {str(k): v for k, v in doc.items()}


def write_private_json(path: Path, doc: dict[str, str]) -> None:
    """Write `doc` to `path` atomically, mode 0600."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(doc, fh, indent=2)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


@dataclass
class DevnetNode:
    """One in-process storage node: its config and key, and (while running) its server."""

    config: NodeConfig
    key: DeviceKey
    chain: Chain
    server: ThreadServer | None = None

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.config.port}"

    def start(self) -> None:
        cfg, key, chain = self.config, self.key, self.chain

        def reporter(store: PieceStore) -> NodeReporter:
            return NodeReporter(cfg, key, store, chain=chain, state_path=cfg.directory / STATE_DB)

        app = create_app(NodeApp(cfg, key, reporter_factory=reporter))
        uv = uvicorn.Config(
            app,
            host=cfg.host,
            port=cfg.port,
            lifespan="on",
            access_log=False,
            log_level="warning",
            h11_max_incomplete_event_size=cfg.max_header_bytes,
            timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
        )
        self.server = ThreadServer(uvicorn.Server(uv), f"node {cfg.port}").start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


class Devnet:
    """The devnet's components (see the module docstring); `start`, then `close`."""

    def __init__(
        self,
        directory: Path,
        nodes: int = DEFAULT_NODES,
        port: int = DEFAULT_PORT,
        *,
        echo: Callable[[str], None] = print,
        epoch_seconds: int = EPOCH_SECONDS,
    ) -> None:
        devnet_redundancy(nodes)  # refuse a bad count before anything starts
        check_epoch_seconds(epoch_seconds)  # and a bad epoch length
        self.epoch_seconds = epoch_seconds
        self.directory = directory
        self.port = port
        self.node_count = nodes
        self.echo = echo
        self.nodes: list[DevnetNode] = []
        self._stop = threading.Event()
        self._clock: threading.Thread | None = None
        self._servers: list[ThreadServer] = []
        self._closers: list[Callable[[], None]] = []
        self.chain: LockedChain | None = None
        self.deployment: Deployment | None = None
        self.gateway: Gateway | None = None
        self.settlement: Settlement | None = None
        self.credentials: dict[str, str] = {}
        self.oracle: Oracle | None = None
        self._epochs: threading.Thread | None = None
        self._oracle_cursor = 0
        self._settle_lock = threading.Lock()
        self.settled_epochs: list[int] = []
        """Epochs the oracle put on chain, in order."""

    @property
    def oracle_port(self) -> int:
        return self.port + self.node_count + 1

    def start(self) -> Devnet:
        d = self.directory
        d.mkdir(parents=True, exist_ok=True)
        seed = open_seed(d)
        placer = Signer.from_private_bytes(derive_secret(seed, "placer"))
        consumer = Signer.from_private_bytes(derive_secret(seed, "consumer"))
        governance = Signer.from_private_bytes(derive_secret(seed, "governance"))
        oracle_signer = Signer.from_private_bytes(derive_secret(seed, "oracle"))
        owner = Signer.from_private_bytes(derive_secret(seed, "owner"))
        now = int(time.time())
        genesis = now - now % self.epoch_seconds
        settings = devnet_settings(
            genesis, placer.address, consumer.address, self.node_count, self.epoch_seconds
        )

        # Chain, contracts, registrations and credits: single-threaded, before any server runs.
        raw = EmbeddedChain(CHAIN_ID, genesis_timestamp=now)
        for account in (governance, oracle_signer, owner, consumer, placer):
            raw.fund(account.address, GAS_WEI)
        deployment = deploy_network(
            raw, settings, governance, [oracle_signer.address], guardian=governance.address
        )
        registry = deployment.registry(raw)
        oracle_url = f"http://{HOST}:{self.oracle_port}"
        gateway_device = DeviceKey.from_private_bytes(KeyType.SECP256K1, placer.private_bytes())
        onboard_gateway(
            raw, deployment, gateway_device, owner=owner, governance=governance,
            deadline=now + REGISTRATION_DEADLINE_SECONDS,
        )  # fmt: skip
        for i in range(self.node_count):
            key = DeviceKey.from_private_bytes(KeyType.SECP256K1, derive_secret(seed, "node", i))
            registry.register(key, owner, STORAGE_KIND, now + REGISTRATION_DEADLINE_SECONDS)
            cfg = NodeConfig.from_settings(
                settings,
                d / "nodes" / f"node-{i}",
                host=HOST,
                port=self.port + 1 + i,
                ingest_urls=(oracle_url,),
            )
            prepare_directory(cfg)
            self.nodes.append(DevnetNode(cfg, key, raw))
        purchase = CreditsLedger(raw, deployment).buy(CREDIT_TOKENS, sender=consumer)
        chain = self.chain = LockedChain(raw)
        self.deployment = deployment
        self.echo(
            f"chain     embedded, chain id {CHAIN_ID}, a block every {BLOCK_SECONDS:g} s; "
            f"Token {deployment.address('Token')}, Credits {deployment.address('Credits')}"
        )

        # Oracle (ingest) first: the nodes file their reports with it.
        oracle_dir = d / "oracle"
        shutil.rmtree(oracle_dir, ignore_errors=True)  # its state belonged to an earlier chain
        oracle = Oracle.build(
            settings,
            chain=chain,
            registry=deployment.registry(chain),
            distributor=deployment.distributor(chain),
            signer=oracle_signer,
            oracles=[oracle_signer.address],
            registry_from_block=deployment.first_block,
            data_dir=oracle_dir,
            contracts=deployment.addresses,
        )
        self._closers.append(oracle.close)
        self.oracle = oracle
        serving = oracle.serve(HOST, self.oracle_port)
        serving.__enter__()

        def stop_oracle_server() -> None:
            serving.__exit__(None, None, None)

        self._closers.append(stop_oracle_server)
        self.echo(f"oracle    {oracle.address}, ingest on {oracle.url}")

        for node in self.nodes:
            node.chain = chain
            node.start()
            self.echo(f"node      {node.key.device_id} on {node.url} ({node.config.directory})")

        self._clock = threading.Thread(target=self._run_clock, name="block clock", daemon=True)
        self._clock.start()
        self._start_gateway(settings, placer, oracle, oracle_url)
        self._write_credentials(consumer.address)
        self._epochs = threading.Thread(target=self._run_epochs, name="epochs", daemon=True)
        self._epochs.start()
        self.echo(
            f"consumer  {consumer.address}: {CONSUMER_TOKENS // ONE_TOKEN} genesis tokens, "
            f"{purchase.credits} credits bought with {CREDIT_TOKENS // ONE_TOKEN}; "
            f"credentials in {d / CREDENTIALS_FILE}"
        )
        return self

    def _start_gateway(
        self, settings: Settings, placer: Signer, oracle: Oracle, oracle_url: str
    ) -> None:
        d = self.directory
        assert self.chain is not None and self.deployment is not None
        metadata = Metadata(f"sqlite:///{d / 'gateway.db'}")
        self._closers.append(metadata.close)
        meter = Metering(metadata.engine)
        ledger = CreditsLedger(self.chain, self.deployment)
        n = settings.network
        settlement = Settlement(
            meter,
            ledger,
            placer,
            SettlementConfig(
                n.network_id,
                n.chain_id,
                n.genesis_unix,
                n.epoch_seconds,
                d,
                Prices.from_settings(settings),
                (oracle_url,),
            ),
        )
        self._closers.append(settlement.close)
        self.settlement = settlement
        check = CreditsCheck(ledger.balance, settlement.owed)
        placer_config = PlacerConfig.from_settings(settings)
        directory = NodeDirectory(
            [n.url for n in self.nodes],
            network=NETWORK_ID,
            chain_id=CHAIN_ID,
            registry=oracle.mirror.records(),
        )
        directory.refresh()
        placer_ = Placer(metadata, directory, placer, placer_config)
        placer_.on_fetch = meter.record_fetch
        self._closers.append(placer_.close)
        keys = KeyStore(metadata.engine, load_master_key(d / "gateway-master.key"))
        placer_.clean_abandoned()
        placer_.flush_deletes()
        self.gateway = Gateway(
            placer_, keys, GatewayConfig(region=REGION), authoriser=check, usage=meter
        )
        server = ThreadServer(
            gateway_main.server(
                self.gateway, HOST, self.port, usage_data=settlement.config.data_dir
            ),
            "gateway",
        )
        self._servers.append(server.start())
        usable = sum(1 for e in directory.entries if e.usable)
        self.echo(
            f"gateway   S3 on http://{HOST}:{self.port}, placer {placer.address}, "
            f"{usable}/{len(self.nodes)} nodes, redundancy {placer_config.redundancy}, "
            f"metadata {metadata.url}"
        )

    def _write_credentials(self, account: str) -> None:
        assert self.gateway is not None
        path = self.directory / CREDENTIALS_FILE
        old = read_credentials(path)
        key_id = secret = None
        if old is not None:
            found = self.gateway.keys.lookup(old.get("aws_access_key_id", ""))
            if found == (account, old.get("aws_secret_access_key")):
                key_id, secret = old["aws_access_key_id"], old["aws_secret_access_key"]
        if key_id is None or secret is None:
            key, secret = self.gateway.keys.create(account, time.time_ns() // 1_000_000)
            key_id = key.access_key_id
        self.credentials = {
            "endpoint_url": f"http://{HOST}:{self.port}",
            "aws_access_key_id": key_id,
            "aws_secret_access_key": secret,
            "region": REGION,
            "bucket_prefix": f"dn-{account[2:10].lower()}-",
        }
        write_private_json(path, self.credentials)

    def _run_clock(self) -> None:
        assert self.chain is not None
        while not self._stop.wait(BLOCK_SECONDS):
            self.chain.tick()

    def _run_epochs(self) -> None:
        """The epoch driver: settle each ended epoch's usage, run the oracle on closed epochs.
        One failure is printed and retried at the next poll; it never stops the devnet."""
        while not self._stop.wait(EPOCH_POLL_SECONDS):
            try:
                self.tick_epochs()
            except Exception as exc:  # a node hiccup or a bug: report, retry at the next poll
                self.echo(f"epochs    {type(exc).__name__}: {exc} (retrying)")

    def tick_epochs(self) -> None:
        """One pass of the epoch driver (see `_run_epochs`).

        Gateway: in epoch c, settle c − 1 once (its spends and reports belong to c, so the
        oracle pays that usage when it runs c). Oracle: every epoch whose ingest closed (its
        end + report grace on the chain's clock), in order, until it is on chain."""
        if self.chain is None or self.settlement is None or self.oracle is None:
            return
        now = self.chain.timestamp()
        current = self.oracle.settings.network.clock.epoch_at_ms(now * 1_000)
        target = current - 1
        last = self.settlement.last_settled_epoch()
        if last is not None:
            unfinished = self.settlement.load(last)
            if unfinished is not None and not unfinished.reported:
                self.settle(last)  # a crash or error stopped it half-way: resume, never redo
        if target >= 0 and (last is None or last < target):
            self.settle(target)
        runner = self.oracle.runner
        while runner.ingest_closed(self._oracle_cursor) and not self._stop.is_set():
            self.oracle.sync_registry()
            status = runner.advance(self._oracle_cursor)
            if status.state not in (SubmitState.SUBMITTED, SubmitState.SETTLED_BY_PEER):
                self.echo(f"epoch     {self._oracle_cursor}: {status.state.value}")
                return
            self.echo(f"epoch     {self._oracle_cursor}: root {status.root_hex} on chain")
            self.settled_epochs.append(self._oracle_cursor)
            self._oracle_cursor += 1

    def settle(self, epoch: int) -> Settled:
        """Settle an ended epoch: usage file, spends on chain, usage reports to the oracle."""
        import asyncio

        if self.settlement is None:
            raise DepinError("the devnet is not started")
        with self._settle_lock:  # the epoch driver and a caller never settle at once
            settled = self.settlement.settle(epoch)
            result = asyncio.run(self.settlement.deliver())
        spent = sum(a.spent for a in settled.accounts)
        self.echo(
            f"settled   epoch {epoch}: {spent} credits spent (usage_ref 0x{settled.usage_ref.hex()}), "
            f"reports {result.accepted} accepted, {len(result.rejected)} rejected, "
            f"{result.pending} queued"
        )
        return settled

    def stop_node(self, index: int) -> None:
        """Stop node `index`'s server (unreachable, as if its process were killed)."""
        self.nodes[index].stop()

    def start_node(self, index: int) -> None:
        """Serve node `index` again (same directory, key and port)."""
        self.nodes[index].start()

    def close(self) -> None:
        """Stop every component (gateway first, so no request is cut off mid-way), in reverse."""
        self._stop.set()
        if self._epochs is not None:
            self._epochs.join(START_TIMEOUT_SECONDS)
            self._epochs = None
        for server in reversed(self._servers):
            server.stop()
        self._servers.clear()
        for node in self.nodes:
            node.stop()
        if self._clock is not None:
            self._clock.join(BLOCK_SECONDS + 5)
            self._clock = None
        while self._closers:
            self._closers.pop()()

    def __enter__(self) -> Devnet:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def run(
    directory: Path,
    nodes: int = DEFAULT_NODES,
    port: int = DEFAULT_PORT,
    *,
    echo: Callable[[str], None] = print,
    epoch_seconds: int = EPOCH_SECONDS,
) -> None:
    """Start a devnet, print "ready", serve until SIGTERM/SIGINT, then stop every component.

    The signal handlers go in first, so a signal during start-up also ends in a clean stop."""
    stop = threading.Event()
    handled = (signal.SIGINT, signal.SIGTERM)
    original = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in handled}
    try:
        with Devnet(directory, nodes, port, echo=echo, epoch_seconds=epoch_seconds) as devnet:
            devnet.start()
            echo("ready")
            while not stop.wait(1.0):
                pass
            echo("stopping")
    finally:
        for sig, handler in original.items():
            signal.signal(sig, handler)
    echo("devnet stopped")


def node_ids(devnet: Devnet) -> list[DeviceId]:
    """The devnet's node addresses, in port order."""
    return [DeviceId(n.key.device_id) for n in devnet.nodes]


__all__ = [
    "CREDENTIALS_FILE",
    "DEFAULT_NODES",
    "DEFAULT_PORT",
    "Devnet",
    "LockedChain",
    "devnet_redundancy",
    "devnet_settings",
    "node_ids",
    "read_credentials",
    "run",
]
