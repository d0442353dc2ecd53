"""One oracle, built in one place: store, ingest, epoch runner and HTTP routes from settings.

`Oracle.build` is the composition root every caller uses — `depin oracle serve` and
`run-epoch`, `depin demo`, the multi-process recipe and the tests — so an oracle is always
wired the same way and nobody reassigns its parts from outside:

```
settings ─┬─ kinds_for(settings)  the kinds [pools] pays (installed plugins)
          ├─ Store                report log, sealed files, stage ledger (SQLite or PostgreSQL)
          ├─ IngestPipeline/app   POST /v1/reports, validating every paid kind's payloads
          ├─ EpochRunner          snapshot → agree → seal → compute → sign → submit
          ├─ OracleMetrics        the runner's Prometheus registry, served on ingest's /metrics
          └─ routes               /v1/attestations, /v1/rewards/{account}, /v1/epochs/{e}/reports,
                                  /v1/epochs/{e}/agreement/…
```

Ingest and the runner use the same kinds, so an oracle accepts exactly the reports it pays
for. Peers are given at build time; `serve` (which binds the port) drops the oracle's own URL
from them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import APIRouter, FastAPI

from opendepin.chain.accounts import AccountLike
from opendepin.chain.backend import Chain
from opendepin.chain.clients import DistributorClient, RegistryClient
from opendepin.ingest.app import create_app
from opendepin.ingest.pipeline import Clock, default_payload_registry
from opendepin.ingest.registry import RegistryMirror
from opendepin.ingest.server import IngestServer
from opendepin.network.settings import Settings
from opendepin.oracle.agreement.routes import agreement_router
from opendepin.oracle.api import rewards_router
from opendepin.oracle.attestations import AttestationBook, EpochClaim, attestation_router
from opendepin.oracle.metrics import OracleMetrics
from opendepin.oracle.runner import EpochRunner
from opendepin.oracle.sync import reports_router
from opendepin.proofs.kind import Kind
from opendepin.proofs.registry import kinds_for
from opendepin.store import Store
from opendepin.types import Address


def oracle_routers(runner: EpochRunner) -> list[APIRouter]:
    """The oracle's routes over `runner`'s book, store and epoch clock."""
    return [
        attestation_router(runner.book),
        rewards_router(runner.data_dir, runner.ledger),
        reports_router(runner.store, runner.ingest_closed, runner.ingest_close_unix, oracles=lambda: runner.book.oracles),
        agreement_router(runner.data_dir, oracles=lambda: runner.book.oracles),
    ]


def mount_oracle(app: FastAPI, runner: EpochRunner) -> FastAPI:
    """Add the oracle routes of `runner` to an existing app."""
    for router in oracle_routers(runner):
        app.include_router(router)
    return app


@dataclass
class Oracle:
    """One oracle's parts, wired together (build with `Oracle.build`)."""

    settings: Settings
    kinds: dict[str, Kind]
    store: Store
    mirror: RegistryMirror
    runner: EpochRunner
    app: FastAPI
    url: str = ""
    """Base URL once `serve` bound a port."""

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        chain: Chain,
        registry: RegistryClient,
        distributor: DistributorClient,
        signer: AccountLike,
        oracles: Sequence[str] | None = None,
        peers: Sequence[str] = (),
        http: httpx.Client | None = None,
        registry_from_block: int = 0,
        ingest_clock: Clock | None = None,
        data_dir: Path | None = None,
        database_url: str | None = None,
        contracts: Mapping[str, Address] | None = None,
    ) -> Oracle:
        """An oracle for `settings`' network; `oracles` defaults to the distributor's set.

        `data_dir`/`database_url` override `settings.store` (several oracles in one process);
        `ingest_clock` (Unix ms) replaces the wall clock for ingest (simulated time);
        `contracts` are the deployment's addresses (a kind's chain inputs may read them).
        """
        kinds = kinds_for(settings)
        if data_dir is not None:
            store = Store(data_dir, database_url)
        else:
            store = Store.open(settings.store)

        def digest(claim: EpochClaim) -> bytes:
            return distributor.epoch_root_digest(claim.epoch, claim.root, claim.cumulative_total, claim.manifest_hash)

        book = AttestationBook(list(oracles) if oracles is not None else distributor.oracles(), digest)
        metrics = OracleMetrics()
        runner = EpochRunner(
            settings=settings,
            store=store,
            chain=chain,
            registry=registry,
            distributor=distributor,
            signer=signer,
            book=book,
            modules=kinds,
            peers=peers,
            http=http,
            registry_from_block=registry_from_block,
            metrics=metrics,
            contracts=contracts,
        )
        mirror = RegistryMirror()
        mirror.sync(registry, chain.block_number())
        app = create_app(
            settings,
            store,
            mirror,
            clock=ingest_clock,
            payload_registry=default_payload_registry(settings),
            routers=oracle_routers(runner),
            extra_registries=[metrics.registry],
        )
        return cls(settings=settings, kinds=kinds, store=store, mirror=mirror, runner=runner, app=app)

    @property
    def address(self) -> Address:
        return Address(self.runner.signer.address)

    def sync_registry(self) -> int:
        """Bring ingest's registry mirror up to the chain's latest block."""
        return self.mirror.sync(self.runner.registry, self.runner.chain.block_number())

    @contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[IngestServer]:
        """Serve ingest + oracle routes on `host:port` (0: a free port) in a background thread."""
        with IngestServer(self.app, host, port) as server:
            self.url = server.url
            self.set_peers(self.runner.peers)
            yield server

    def set_peers(self, peers: Sequence[str]) -> None:
        """The peer oracles' base URLs (its own URL, if listed, is skipped)."""
        self.runner.peers = tuple(p for p in peers if p.rstrip("/") != self.url)

    def close(self) -> None:
        """Release the store (database connections)."""
        self.store.close()
