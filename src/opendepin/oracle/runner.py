"""The oracle epoch runner: seal → snapshot → compute → sign → exchange → submit.

```
stage     reads                                   writes (epoch dir / ledger)              ledger
seal      peers' GET /v1/epochs/{e}/reports       imported reports (log), then             seal
          (reconcile), report log (store)         inputs/*.jsonl + inputs/inputs.json
snapshot  chain at the close block, denylist,     snapshot_v1.json, prior_v1.json,         snapshot
          previous epoch's coverage files         coverage_history_v1.json, denylist_v1.json
compute   sealed files + snapshot + prior         verdicts_v1.json, rewards_v1.json,       compute
          + settings (verify, score, rewards)     coverage_v1.json, manifest_v1.json
sign      manifest (root, total, manifest hash)   our EIP-712 signature (kv)               sign
exchange  peers' GET/POST /v1/attestations        verified peer signatures (memory)        —
submit    chain next_epoch / roots                submit_root tx; tx hash (kv)             submit
```

Verify, score and rewards are one ledger stage (`compute`): they are one pure function
(`compute.compute_epoch`) whose outputs are published together. Every stage is idempotent
through the store's `StageLedger`: a stage whose row exists is skipped, file outputs are
written atomically before the row, and because every stage is a pure function of files
already on disk, re-running one after a crash rewrites the same bytes. Kill the process at
any point, restart it, and it produces the same root.

Never twice on chain: before sending `submit_root` the runner records its intent (kv
`submit:<epoch>`), and it always asks the chain first — if `next_epoch` is past the epoch,
someone (us before a crash, or a peer) already submitted and the runner only checks that the
root on chain is ours. The distributor itself refuses a second root for an epoch
("stale epoch"), so even a race costs at most a reverted call, never a double payment.

When to seal: only once ingest has closed for the epoch — the chain's clock (the latest
block's timestamp) at or past the epoch's end plus `network.report_grace_seconds`, the same
point after which ingest refuses the epoch's reports (`epoch_closed`). Sealing earlier would
cut off reports that other oracles still accept, so their sealed inputs, and claims, would
differ. `ingest_closed(epoch)` tells callers when; `_seal` refuses (StageError) before it. With
peers configured, the seal stage first reconciles report sets with them (`oracle.sync`):
it imports the device-signed reports a peer accepted and this oracle missed, after ingest's
checks minus the clock ones, so oracles that saw different subsets still seal the same files.
A device found to have signed two different reports with one (device, seq) is left out of
the sealed inputs entirely and the evidence is sealed with them (`oracle.sync`, `store.sealing`).

Close block: the last block whose timestamp is before the epoch's end, found by binary
search over block timestamps, so every oracle reads the registry and entropy at the same
block whenever it runs. When the coverage kind runs, the snapshot also lists the epoch's
entropy blocks (per entropy window, the last block at or before its start) and the stage
freezes the coverage history and the denylist into the epoch directory
(`oracle.coverage_stage`).

Crash injection for tests: with `DEPIN_ORACLE_CRASH_AFTER=<stage>` in the environment the
process SIGKILLs itself right after recording that stage (a real, unclean death).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import cast

import httpx
from sqlalchemy import Connection

from opendepin import jsonlimits
from opendepin.chain.accounts import AccountLike
from opendepin.chain.backend import Chain
from opendepin.chain.clients import DistributorClient, RegistryClient
from opendepin.errors import StageError, TransactionReverted
from opendepin.network.settings import Settings
from opendepin.oracle import coverage_stage, sync
from opendepin.oracle.attestations import Attestation, AttestationBook, EpochClaim, exchange
from opendepin.oracle.compute import EpochComputation, compute_epoch
from opendepin.oracle.epoch_files import (
    PRIOR_FILE,
    REWARDS_FILE,
    SNAPSHOT_FILE,
    atomic_write,
    prior_to_bytes,
    read_prior,
    read_snapshot,
    snapshot_to_bytes,
)
from opendepin.oracle.publish import publish_epoch
from opendepin.proofs.base import ChainSnapshot, IngestedReport, ProofModule
from opendepin.proofs.coverage import CoverageModule, CoverageResult
from opendepin.rewards import files as reward_files
from opendepin.store import Store
from opendepin.store.ledger import StageOutput
from opendepin.store.sealing import epoch_dir, inputs_dir, read_equivocations, read_sealed_reports
from opendepin.types import Address, Epoch

CRASH_ENV = "DEPIN_ORACLE_CRASH_AFTER"
"""Environment variable naming a stage after which the process SIGKILLs itself (tests)."""


SENT_CRASH_POINT = "sent"
"""Crash point between a mined submit_root and its ledger row (the dangerous window)."""


class Stage(StrEnum):
    """Ledgered stages of an epoch, in order."""

    SEAL = "seal"
    SNAPSHOT = "snapshot"
    COMPUTE = "compute"
    SIGN = "sign"
    SUBMIT = "submit"


class SubmitState(StrEnum):
    """Where an epoch stands after `EpochRunner.advance`."""

    WAITING = "waiting"
    """Fewer than M signatures so far; call `advance` again after peers computed."""
    SUBMITTED = "submitted"
    """This oracle sent the root."""
    SETTLED_BY_PEER = "settled_by_peer"
    """Another oracle submitted the same root first."""


@dataclass(frozen=True, slots=True)
class EpochStatus:
    """Result of one `advance` call."""

    epoch: int
    state: SubmitState
    claim: EpochClaim
    signers: tuple[Address, ...]
    """Oracles whose signatures we hold (or that went on chain, if we submitted)."""
    tx_hash: str | None = None


def find_close_block(chain: Chain, end_unix: int) -> int:
    """The last block with timestamp < `end_unix` (the state at the epoch's end)."""
    lo, hi = 0, chain.block_number()
    if chain.timestamp(hi) < end_unix:
        raise StageError("the epoch has not ended on chain yet (no block at or after its end)")
    if chain.timestamp(0) >= end_unix:
        return 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if chain.timestamp(mid) < end_unix:
            lo = mid
        else:
            hi = mid
    return lo


def _maybe_crash(stage: Stage) -> None:
    if os.environ.get(CRASH_ENV) == stage.value:
        os.kill(os.getpid(), signal.SIGKILL)


class EpochRunner:
    """One oracle's pipeline over one store, one chain and one signing key.

    Several runners in one process (the demo) share only the chain: each has its own data
    directory, database engine, attestation book and HTTP client.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        chain: Chain,
        registry: RegistryClient,
        distributor: DistributorClient,
        signer: AccountLike,
        book: AttestationBook,
        modules: Mapping[str, ProofModule],
        peers: Sequence[str] = (),
        http: httpx.Client | None = None,
        registry_from_block: int = 0,
    ) -> None:
        self.settings = settings
        self.store = store
        self.data_dir = store.data_dir
        self.chain = chain
        self.registry = registry
        self.distributor = distributor
        self.signer = signer
        self.book = book
        self.modules = dict(modules)
        self.peers = tuple(peers)
        self.http = http or httpx.Client(timeout=5.0)
        self.ledger = store.ledger
        self.registry_from_block = registry_from_block

    # -- paths and time ---------------------------------------------------------------

    def epoch_dir(self, epoch: int) -> Path:
        return epoch_dir(self.data_dir, epoch)

    def epoch_end_unix(self, epoch: int) -> int:
        return self.settings.network.epoch_end_unix(epoch)

    def ingest_close_unix(self, epoch: int) -> int:
        """Unix time from which ingest refuses `epoch`'s reports: its end plus the grace."""
        return self.settings.network.ingest_close_unix(epoch)

    def ingest_closed(self, epoch: int) -> bool:
        """True once the chain's clock (latest block) is at or past `ingest_close_unix`."""
        return self.chain.timestamp() >= self.ingest_close_unix(epoch)

    # -- stages -----------------------------------------------------------------------

    def _seal(self, epoch: int) -> None:
        def run(_conn: Connection) -> StageOutput:
            if not self.ingest_closed(epoch):
                raise StageError(
                    f"epoch {epoch}: ingest is still open for it until {self.ingest_close_unix(epoch)} "
                    f"(its end + {self.settings.network.report_grace_seconds} s grace); the chain's "
                    f"clock is at {self.chain.timestamp()}"
                )
            details: dict[str, object] = {}
            if self.peers:
                synced = sync.reconcile(
                    epoch=epoch,
                    store=self.store,
                    settings=self.settings,
                    peers=self.peers,
                    http=self.http,
                    devices=lambda: self.registry.snapshot(
                        find_close_block(self.chain, self.epoch_end_unix(epoch)),
                        from_block=self.registry_from_block,
                    ),
                    modules=self.modules,
                )
                details = {
                    "imported": synced.imported,
                    "skipped_peers": list(synced.skipped_peers),
                    "refused": dict(synced.refused),
                    "conflicts": synced.conflicts,
                }
            manifest = self.store.seal_epoch(epoch)
            evidence = manifest.equivocations
            if evidence is not None:  # devices that double-signed: all their reports left out
                details["equivocations"] = evidence.count
                details["excluded_devices"] = sorted(
                    {str(e.device) for e in read_equivocations(self.store.inputs_dir(epoch))}
                )
            return StageOutput("", manifest.sha256, {"reports": manifest.total_reports, **details})

        self.ledger.run_once(epoch, Stage.SEAL, run)
        _maybe_crash(Stage.SEAL)

    def _snapshot(self, epoch: int) -> None:
        def run(_conn: Connection) -> StageOutput:
            block = find_close_block(self.chain, self.epoch_end_unix(epoch))
            net = self.settings.network
            start = self.epoch_end_unix(epoch) - net.epoch_seconds
            coverage = coverage_stage.uses_coverage(self.modules)
            snapshot = ChainSnapshot(
                block_number=block,
                entropy=self.chain.block_hash(block),
                devices=self.registry.snapshot(block, from_block=self.registry_from_block),
                entropy_blocks=coverage_stage.read_entropy_blocks(
                    self.chain, start, net.epoch_seconds, self.settings.coverage.entropy_window_seconds, block
                )
                if coverage
                else {},
            )
            d = self.epoch_dir(epoch)
            if coverage:
                coverage_stage.freeze_inputs(d, epoch, start, self.settings)
            snap_sha = atomic_write(d / SNAPSHOT_FILE, snapshot_to_bytes(snapshot))
            prior_sha = atomic_write(d / PRIOR_FILE, prior_to_bytes(epoch, self.prior_cumulative(epoch)))
            return StageOutput("", snap_sha, {"block": block, "prior_sha256": prior_sha})

        self.ledger.run_once(epoch, Stage.SNAPSHOT, run)
        _maybe_crash(Stage.SNAPSHOT)

    def prior_cumulative(self, epoch: int) -> dict[Address, int]:
        """Cumulative amounts before `epoch`: those after epoch - 1, from its prior + amounts."""
        if epoch == 0:
            return {}
        prev = self.epoch_dir(epoch - 1) / REWARDS_FILE
        if not prev.is_file():
            raise StageError(f"epoch {epoch}: the reward file of epoch {epoch - 1} is missing")
        reward_file = reward_files.RewardFile.from_bytes(prev.read_bytes())
        return {Address(o.account): o.cumulative for o in reward_file.owners}

    def _compute(self, epoch: int) -> EpochClaim:
        def run(_conn: Connection) -> StageOutput:
            d = self.epoch_dir(epoch)
            again = recompute_epoch(d, self.settings, self.modules)
            computation, snapshot = again.computation, again.snapshot
            published = publish_epoch(
                d, self.settings.network.network_id, computation, snapshot, self.settings, again.coverage
            )
            return StageOutput(
                "",
                published.manifest_sha256,
                {
                    "root": "0x" + published.root.hex(),
                    "cumulative_total": str(published.cumulative_total),
                    "manifest_hash": "0x" + published.manifest_hash.hex(),
                    "emission": str(computation.emission),
                },
            )

        rec = self.ledger.run_once(epoch, Stage.COMPUTE, run)
        _maybe_crash(Stage.COMPUTE)
        return EpochClaim(
            epoch=epoch,
            root=bytes.fromhex(str(rec.details["root"])[2:]),
            cumulative_total=int(rec.details["cumulative_total"]),
            manifest_hash=bytes.fromhex(str(rec.details["manifest_hash"])[2:]),
        )

    def _sign(self, claim: EpochClaim) -> Attestation:
        def run(_conn: Connection) -> StageOutput:
            digest = self.distributor.epoch_root_digest(
                claim.epoch, claim.root, claim.cumulative_total, claim.manifest_hash
            )
            signature = self.signer.sign_digest(digest)
            return StageOutput(
                claim.root.hex(),
                hashlib.sha256(signature).hexdigest(),
                {"signer": self.signer.address, "signature": "0x" + signature.hex()},
            )

        rec = self.ledger.run_once(claim.epoch, Stage.SIGN, run)
        _maybe_crash(Stage.SIGN)
        att = Attestation(
            claim=claim,
            signer=Address(str(rec.details["signer"])),
            signature=bytes.fromhex(str(rec.details["signature"])[2:]),
        )
        self.book.set_own(att)
        return att

    def prepare(self, epoch: int) -> EpochClaim:
        """Run seal → snapshot → compute → sign (each at most once); return our claim."""
        self._seal(epoch)
        self._snapshot(epoch)
        claim = self._compute(epoch)
        self._sign(claim)
        return claim

    # -- exchange and submit ------------------------------------------------------------

    def advance(self, epoch: int) -> EpochStatus:
        """Prepare the epoch, exchange signatures, and submit once M are held.

        Safe to call repeatedly and after a crash: it never sends a root the chain already has.
        """
        claim = self.prepare(epoch)
        done = self.ledger.done(epoch, Stage.SUBMIT)
        if done is not None:
            return self._status(epoch, claim, done.details)
        if self.distributor.next_epoch() > epoch:
            return self._settled(epoch, claim, SubmitState.SETTLED_BY_PEER, None, self.book.collected(epoch))
        if self.peers:
            exchange(self.book, epoch, self.peers, self.http)
        attestations = self.book.collected(epoch)
        threshold = self.settings.chain.oracle_threshold
        if len(attestations) < threshold:
            return EpochStatus(epoch, SubmitState.WAITING, claim, tuple(a.signer for a in attestations))
        chosen = attestations[:threshold]
        if self.distributor.next_epoch() > epoch:
            return self._settled(epoch, claim, SubmitState.SETTLED_BY_PEER, None, attestations)
        self.ledger.put(f"submit:{epoch}", json.dumps({"state": "sending", "root": "0x" + claim.root.hex()}))
        try:
            receipt = self.distributor.submit_root(
                epoch,
                claim.root,
                claim.cumulative_total,
                claim.manifest_hash,
                [a.signature for a in chosen],
                sender=self.signer,
            )
        except TransactionReverted as exc:
            if self.distributor.next_epoch() > epoch:  # a peer won the race
                # Our transaction reverted, so the mined root is not ours: clear the
                # "sending" intent, which `_settled` would otherwise read as our own.
                self.ledger.put(f"submit:{epoch}", json.dumps({"state": "lost_race"}))
                return self._settled(epoch, claim, SubmitState.SETTLED_BY_PEER, None, attestations)
            raise StageError(f"epoch {epoch}: submit_root reverted: {exc.reason}") from exc
        tx = "0x" + receipt.tx_hash.hex()
        if os.environ.get(CRASH_ENV) == SENT_CRASH_POINT:
            os.kill(os.getpid(), signal.SIGKILL)  # mined, but neither kv nor ledger know yet
        self.ledger.put(f"submit:{epoch}", json.dumps({"state": "mined", "tx": tx}))
        return self._settled(epoch, claim, SubmitState.SUBMITTED, tx, chosen)

    def _settled(
        self,
        epoch: int,
        claim: EpochClaim,
        state: SubmitState,
        tx: str | None,
        attestations: Sequence[Attestation],
    ) -> EpochStatus:
        on_chain = self.distributor.roots(epoch)
        if on_chain != claim.root:
            raise StageError(
                f"epoch {epoch}: the chain holds root 0x{on_chain.hex()}, we computed "
                f"0x{claim.root.hex()} — inputs differ between oracles; run `depin audit`"
            )
        if tx is None:
            # Whoever sent it (a peer, or we before a crash): the chain's event says which tx.
            events = [
                e
                for e in self.distributor.events("RootSubmitted", self.registry_from_block)
                if int(e.args["epoch"]) == epoch
            ]
            tx = "0x" + events[0].tx_hash.hex() if events else None
            intent = json.loads(self.ledger.get(f"submit:{epoch}") or "{}")
            if intent.get("state") == "sending":
                state = SubmitState.SUBMITTED  # our own transaction, mined before a crash
        details = {"state": state.value, "tx": tx, "signers": [a.signer for a in attestations]}
        self.ledger.run_once(
            epoch, Stage.SUBMIT, lambda _c: StageOutput(claim.root.hex(), (tx or "")[2:], details)
        )
        _maybe_crash(Stage.SUBMIT)
        return self._status(epoch, claim, details)

    @staticmethod
    def _status(epoch: int, claim: EpochClaim, details: Mapping[str, object]) -> EpochStatus:
        signers = details.get("signers", [])
        assert isinstance(signers, list)
        tx = details.get("tx")
        return EpochStatus(
            epoch=epoch,
            state=SubmitState(str(details["state"])),
            claim=claim,
            signers=tuple(Address(str(s)) for s in signers),
            tx_hash=str(tx) if tx else None,
        )

    def latest_settled_epoch(self) -> int | None:
        """Highest epoch whose root this oracle saw settled on chain (None if none).

        Answered from the ledger, not the chain, so HTTP handlers never touch the chain.
        """
        root = self.data_dir / "epochs"
        if not root.is_dir():
            return None
        for epoch in sorted((int(p.name) for p in root.iterdir() if p.name.isdigit()), reverse=True):
            if self.ledger.done(epoch, Stage.SUBMIT) is not None:
                return epoch
        return None


@dataclass(frozen=True, slots=True)
class Recomputed:
    """An epoch recomputed from its files."""

    computation: EpochComputation
    snapshot: ChainSnapshot
    coverage: CoverageResult | None = None
    """The coverage stage's full result (activity, explanations) when coverage ran."""


def recompute_epoch(
    directory: Path, settings: Settings, modules: Mapping[str, ProofModule]
) -> Recomputed:
    """Recompute an epoch purely from the files in its directory (runner and audit).

    The coverage kind is re-bound to the history and denylist frozen in the directory.
    """
    snapshot = read_snapshot(directory / SNAPSHOT_FILE)
    prior = read_prior(directory / PRIOR_FILE)
    epoch = Epoch(int(directory.name)) if directory.name.isdigit() else _epoch_of(directory)
    sealed = read_sealed_reports(directory / "inputs")
    reports: dict[str, list[IngestedReport]] = {str(k): v for k, v in sealed.items()}
    bound = dict(modules)
    coverage: CoverageModule | None = None
    if coverage_stage.uses_coverage(bound):
        coverage = coverage_stage.module_for_epoch(directory, settings)
        bound[str(coverage.kind)] = cast(ProofModule, coverage)
    computation = compute_epoch(epoch, reports, snapshot, settings, bound, prior)
    result = None
    if coverage is not None:  # the module remembers the run compute_epoch just did
        kind_reports = list(reports.get(str(coverage.kind), ()))
        result = coverage.run(kind_reports, snapshot, settings)
    return Recomputed(computation, snapshot, result)


def recompute(
    directory: Path, settings: Settings, modules: Mapping[str, ProofModule]
) -> tuple[EpochComputation, ChainSnapshot]:
    """`recompute_epoch` as (computation, snapshot)."""
    again = recompute_epoch(directory, settings, modules)
    return again.computation, again.snapshot


def _epoch_of(directory: Path) -> Epoch:
    obj = jsonlimits.loads((directory / PRIOR_FILE).read_bytes())
    return Epoch(int(obj["epoch"]))


__all__ = [
    "CRASH_ENV",
    "EpochRunner",
    "EpochStatus",
    "Stage",
    "SubmitState",
    "find_close_block",
    "inputs_dir",
    "recompute",
    "recompute_epoch",
]
