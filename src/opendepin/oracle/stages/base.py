"""What every stage module shares: the stage names, their declarations and the context a
stage sees of its oracle (see the package docstring for the table)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import httpx

from opendepin.chain.accounts import AccountLike
from opendepin.chain.backend import Chain
from opendepin.chain.clients import DistributorClient, RegistryClient
from opendepin.epochdir import EPOCHS_DIR
from opendepin.network.settings import Settings
from opendepin.oracle.metrics import OracleMetrics
from opendepin.proofs.kind import Kind
from opendepin.store import Store
from opendepin.store.ledger import StageLedger
from opendepin.types import Address


class Stage(StrEnum):
    """Ledgered stages of an epoch, in order."""

    SNAPSHOT = "snapshot"
    AGREE = "agree"
    SEAL = "seal"
    COMPUTE = "compute"
    SIGN = "sign"
    SUBMIT = "submit"


@dataclass(frozen=True, slots=True)
class StageSpec:
    """What one stage reads and writes (paths relative to the epoch directory)."""

    stage: Stage
    reads: tuple[str, ...]
    writes: tuple[str, ...]


class StageContext(Protocol):
    """What a stage may use of its oracle (the runner provides it)."""

    settings: Settings
    store: Store
    chain: Chain
    registry: RegistryClient
    distributor: DistributorClient
    signer: AccountLike
    modules: dict[str, Kind]
    peers: tuple[str, ...]
    http: httpx.Client
    metrics: OracleMetrics
    """Where a stage reports what it did beyond its ledger row (`oracle.metrics`)."""

    @property
    def oracles(self) -> frozenset[Address]: ...
    registry_from_block: int
    contracts: Mapping[str, Address]
    """The deployment's contract addresses by name (kinds' chain inputs read them)."""

    def epoch_dir(self, epoch: int) -> Path: ...

    def ingest_closed(self, epoch: int) -> bool: ...

    def ingest_close_unix(self, epoch: int) -> int: ...


SUBMIT_SPEC = StageSpec(Stage.SUBMIT, ("chain", "peers' signatures"), ("chain: submit_root", "ledger: tx"))


def latest_settled_epoch(data_dir: Path, ledger: StageLedger) -> int | None:
    """Highest epoch whose root this oracle saw settled on chain (None if none).

    Answered from the ledger, not the chain, so HTTP handlers never touch the chain.
    """
    root = data_dir / EPOCHS_DIR
    if not root.is_dir():
        return None
    for epoch in sorted((int(p.name) for p in root.iterdir() if p.name.isdigit()), reverse=True):
        if ledger.done(epoch, Stage.SUBMIT) is not None:
            return epoch
    return None

