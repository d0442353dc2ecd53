"""A whole simulated network in one process: embedded chain, contracts, devices, oracles.

`build_network` starts an `EmbeddedChain` just before the network's genesis, deploys the
contracts with a governance account and N oracle accounts derived from the seed, and
registers every simulated device (the device key signs the EIP-712 onboarding permit, the
owner sends it) and asserts its location — heartbeat devices from `sim.population` and, when
asked, coverage devices from `sim.coverage` (spoofers assert cells where they are not). `OracleNode` is one oracle: its OWN store (SQLite
file or a PostgreSQL URL), attestation book and epoch runner; nodes share nothing but the
chain. The demo, the runner tests and the benchmarks build on these two.

Simulation time is chain time: `advance_to(unix)` moves the embedded chain's clock, and
ingest apps read their clock from it, so the only shared mutable thing is the chain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from opendepin.chain.accounts import Signer
from opendepin.chain.deploy import Deployment, deploy_network
from opendepin.chain.embedded import EmbeddedChain
from opendepin.network.settings import ChainSection, NetworkSection, PoolsSection, Settings
from opendepin.oracle.attestations import AttestationBook, EpochClaim
from opendepin.oracle.kinds import default_modules
from opendepin.oracle.runner import EpochRunner
from opendepin.sim.coverage import CoverageFleet
from opendepin.sim.population import HEARTBEAT, Population, sim_secret
from opendepin.store import Store

SIM_GENESIS_UNIX = 1_893_456_000
"""2030-01-01T00:00:00Z: a fixed genesis so every run with one seed signs the same bytes."""
PRE_GENESIS_SECONDS = 3_600
"""The chain starts this long before genesis (deployment and registration happen then)."""
GAS_FUNDING_WEI = 10**21
"""Native balance given to every simulated account that sends transactions."""
REGISTRATION_DEADLINE_SECONDS = 86_400


HEARTBEAT_ONLY_BPS = {"heartbeat": 10_000}
WITH_COVERAGE_BPS = {"heartbeat": 4_000, "coverage": 6_000}
"""Pools when the simulation has coverage devices: 40 % heartbeat, 60 % coverage."""


def sim_settings(
    network_id: str = "opendepin-demo", oracle_threshold: int = 2, coverage: bool = False
) -> Settings:
    """Settings for a simulated network: fixed genesis, no onboarding or location fees.

    Without coverage devices the heartbeat pool gets the whole emission; with them the
    emission is split 40/60 between heartbeat and coverage.
    """
    return Settings(
        network=NetworkSection(network_id=network_id, genesis_unix=SIM_GENESIS_UNIX),
        pools=PoolsSection(bps=WITH_COVERAGE_BPS if coverage else HEARTBEAT_ONLY_BPS),
        chain=ChainSection(
            onboarding_fee=0, location_fee=0, location_cooldown_seconds=0, oracle_threshold=oracle_threshold
        ),
    )


@dataclass(slots=True)
class SimNetwork:
    """The chain, contracts and accounts of a simulated network."""

    settings: Settings
    chain: EmbeddedChain
    deployment: Deployment
    governance: Signer
    oracle_signers: list[Signer]
    population: Population
    registered: int = 0
    fleet: CoverageFleet | None = None
    """Coverage devices (None: heartbeat only)."""

    def advance_to(self, unix: int) -> None:
        """Move chain time forward to `unix` (no-op if already there)."""
        now = self.chain.now()
        if unix > now:
            self.chain.time_travel(unix - now)

    def epoch_start(self, epoch: int) -> int:
        return self.settings.network.epoch_start_unix(epoch)

    def digest(self, claim: EpochClaim) -> bytes:
        return self.deployment.distributor(self.chain).epoch_root_digest(
            claim.epoch, claim.root, claim.cumulative_total, claim.manifest_hash
        )


def build_network(
    seed: int,
    devices: int,
    oracles: int = 3,
    settings: Settings | None = None,
    coverage_devices: int = 0,
) -> SimNetwork:
    """Deploy a network on a fresh embedded chain for `devices` heartbeat devices and
    `coverage_devices` coverage devices (owned by the same owners); `register_devices`
    registers them."""
    cfg = settings or sim_settings()
    chain = EmbeddedChain(cfg.network.chain_id, genesis_timestamp=cfg.network.genesis_unix - PRE_GENESIS_SECONDS)
    governance = Signer.from_private_bytes(sim_secret(seed, "governance", 0))
    oracle_signers = [Signer.from_private_bytes(sim_secret(seed, "oracle", i)) for i in range(oracles)]
    population = Population(seed, devices)
    for account in [governance, *oracle_signers, *population.owners]:
        chain.fund(account.address, GAS_FUNDING_WEI)
    deployment = deploy_network(
        chain, cfg, governance, [o.address for o in oracle_signers], guardian=governance.address
    )
    net = SimNetwork(cfg, chain, deployment, governance, oracle_signers, population)
    if coverage_devices:
        net.fleet = CoverageFleet(
            seed,
            coverage_devices,
            population.owners,
            network_id=cfg.network.network_id,
            chain_id=cfg.network.chain_id,
            beacon_interval_seconds=cfg.coverage.beacon_interval_seconds,
        )
    return net


def register_devices(net: SimNetwork, advance: Callable[[int], None] | None = None) -> None:
    """Register every device of the population and assert its location (owner pays gas)."""
    registry = net.deployment.registry(net.chain)
    deadline = net.chain.now() + REGISTRATION_DEADLINE_SECONDS
    for dev in net.population.devices:
        registry.register(dev.key, dev.owner, HEARTBEAT, deadline)
        registry.assert_location(dev.device_id, dev.cell, sender=dev.owner)
        net.registered += 1
        if advance is not None:
            advance(1)
    if net.fleet is not None:
        net.fleet.register(registry, deadline, advance)
        net.registered += len(net.fleet)


@dataclass(slots=True)
class OracleNode:
    """One oracle: its own store, attestation book, runner (and, in the demo, HTTP server)."""

    index: int
    signer: Signer
    store: Store
    book: AttestationBook
    runner: EpochRunner
    url: str = ""
    peers: list[str] = field(default_factory=list)


def make_oracle(
    net: SimNetwork,
    index: int,
    data_dir: Path,
    database_url: str | None = None,
    http: httpx.Client | None = None,
) -> OracleNode:
    """Oracle `index` of the network with its own store under `data_dir`."""
    signer = net.oracle_signers[index]
    store = Store(data_dir, database_url)
    book = AttestationBook([o.address for o in net.oracle_signers], net.digest)
    runner = EpochRunner(
        settings=net.settings,
        store=store,
        chain=net.chain,
        registry=net.deployment.registry(net.chain),
        distributor=net.deployment.distributor(net.chain),
        signer=signer,
        book=book,
        modules=default_modules(net.settings),
        http=http,
        registry_from_block=net.deployment.first_block,
    )
    return OracleNode(index=index, signer=signer, store=store, book=book, runner=runner)
