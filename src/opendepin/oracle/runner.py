"""The oracle epoch runner: snapshot → agree → seal → compute → sign → exchange → submit.

Each stage is a unit of `oracle.stages` (`snapshot`, `agree`, `seal`, `compute`, `sign`) that
declares what it reads and writes and returns its ledger row; the snapshot stage's work is in
`oracle.epoch_inputs`, input agreement in `oracle.agreement` (`docs/agreement.md`), importing
the agreed reports in `oracle.sync`, the pure computation in `oracle.compute` (through
`oracle.recompute`, the same call `depin audit` makes), the file rendering in
`oracle.publish`, recovery from a losing seal in `oracle.recovery`. This module only orders
them, keeps them exactly-once, and runs the exchange and submission.

Verify, score, explain and reward are one ledger stage (`compute`): they are one pure
function (`compute.compute_epoch`) whose outputs are published together. Every stage is idempotent
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
differ. `ingest_closed(epoch)` tells callers when; agree and seal refuse (StageError) before
it. With peers configured, the oracles first agree on a set of report batches (the agree
stage: f + 1 rounds, `advance` answers `agreeing` meanwhile), then the seal stage imports the
agreed reports this oracle missed, after ingest's checks minus the clock ones, and seals
exactly the agreed set, so oracles that saw different subsets still seal the same files.
A device found to have signed two different reports with one (device, seq) is left out of
the sealed inputs entirely and the evidence is sealed with them (`oracle.sync`, `store.sealing`).

Close block: the last block whose timestamp is before the epoch's end (`chain.blocks`), so
every oracle reads the registry and entropy at the same block whenever it runs. The snapshot
also lists the entropy blocks kinds ask for and freezes each kind's state and external inputs
(`oracle.epoch_inputs`).

Metrics (`oracle.metrics`): the runner times each stage run that records its ledger row
and the `submit_root` transaction, counts stage failures, sealed, settled, submitted and
recovered epochs, the seal's imports and the exchange's failed peers, and keeps the epoch
it works on and the signatures it holds for it as gauges; the agree stage adds its rounds'
numbers. A stage skipped because its row exists is not observed again.

Crash injection for tests: with `DEPIN_ORACLE_CRASH_AFTER=<stage>` in the environment the
process SIGKILLs itself right after recording that stage (a real, unclean death).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import httpx

from opendepin.chain.accounts import AccountLike
from opendepin.chain.backend import Chain
from opendepin.chain.clients import DistributorClient, RegistryClient
from opendepin.errors import AgreementPending, StageError, TransactionReverted
from opendepin.network.settings import Settings
from opendepin.oracle.attestations import Attestation, AttestationBook, EpochClaim, exchange
from opendepin.oracle.epoch_inputs import prior_cumulative
from opendepin.oracle.metrics import OracleMetrics
from opendepin.oracle.recovery import recover
from opendepin.oracle.stages import (
    Stage,
    agree,
    compute,
    latest_settled_epoch,
    seal,
    sign,
    snapshot,
)
from opendepin.proofs.kind import Kind
from opendepin.store import Store
from opendepin.store.ledger import StageOutput, StageRecord
from opendepin.store.sealing import epoch_dir
from opendepin.types import Address

CRASH_ENV = "DEPIN_ORACLE_CRASH_AFTER"
"""Environment variable naming a stage after which the process SIGKILLs itself (tests)."""


SENT_CRASH_POINT = "sent"
"""Crash point between a mined submit_root and its ledger row (the dangerous window)."""


class SubmitState(StrEnum):
    """Where an epoch stands after `EpochRunner.advance`."""

    AGREEING = "agreeing"
    """The oracles' input agreement has not ended yet (no claim yet); call `advance` again."""
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
    claim: EpochClaim | None
    """None only while agreeing."""
    signers: tuple[Address, ...]
    """Oracles whose signatures we hold (or that went on chain, if we submitted)."""
    tx_hash: str | None = None

    @property
    def root_hex(self) -> str:
        """`0x` + the claimed root, or `-` while agreeing."""
        return "-" if self.claim is None else "0x" + self.claim.root.hex()


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
        modules: Mapping[str, Kind],
        peers: Sequence[str] = (),
        http: httpx.Client | None = None,
        registry_from_block: int = 0,
        metrics: OracleMetrics | None = None,
        contracts: Mapping[str, Address] | None = None,
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
        self.contracts: Mapping[str, Address] = dict(contracts or {})
        """The deployment's contract addresses by name (empty: only registry and distributor
        are known, from their clients)."""
        self.metrics = metrics if metrics is not None else OracleMetrics()
        """This oracle's Prometheus metrics (its own registry; `oracle.metrics`)."""

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

    def _run_stage(
        self, epoch: int, stage: Stage, work: Callable[[], StageOutput], *, timed: bool = True
    ) -> tuple[StageRecord, bool]:
        """`ledger.run_once` for (epoch, stage) with the metrics: (its record, whether `work`
        ran here). Only a run that recorded the row is timed; one that raised is counted as a
        failure, except agreement still pending (not an error: the next `advance` goes on)."""
        ran = False

        def run(_conn: object) -> StageOutput:
            nonlocal ran
            ran = True
            return work()

        started = time.perf_counter()
        try:
            rec = self.ledger.run_once(epoch, stage, run)
        except AgreementPending:
            raise
        except Exception:
            self.metrics.stage_failures.labels(stage=stage.value).inc()
            raise
        if ran and timed:
            self.metrics.stage_seconds.labels(stage=stage.value).observe(time.perf_counter() - started)
        return rec, ran

    def _snapshot(self, epoch: int) -> None:
        self._run_stage(epoch, Stage.SNAPSHOT, lambda: snapshot.run(self, epoch))
        _maybe_crash(Stage.SNAPSHOT)

    @property
    def oracles(self) -> frozenset[Address]:
        """The network's oracle set (who may sign roots, records and peer requests)."""
        return self.book.oracles

    def _agree(self, epoch: int) -> None:
        self._run_stage(epoch, Stage.AGREE, lambda: agree.run(self, epoch))
        _maybe_crash(Stage.AGREE)

    def _seal(self, epoch: int) -> None:
        rec, ran = self._run_stage(epoch, Stage.SEAL, lambda: seal.run(self, epoch))
        if ran:
            self.metrics.epochs_sealed.inc()
            self.metrics.record_seal(rec.details)
        _maybe_crash(Stage.SEAL)

    def reseal(self, epoch: int) -> None:
        """Seal `epoch` again, replacing an earlier seal (recovery; its ledger row was forgotten)."""
        rec, ran = self._run_stage(epoch, Stage.SEAL, lambda: seal.run(self, epoch, reseal=True))
        if ran:
            self.metrics.record_seal(rec.details)

    def _compute(self, epoch: int) -> EpochClaim:
        rec, _ = self._run_stage(epoch, Stage.COMPUTE, lambda: compute.run(self, epoch))
        _maybe_crash(Stage.COMPUTE)
        return compute.claim_of(epoch, rec)

    def _sign(self, claim: EpochClaim) -> Attestation:
        rec, _ = self._run_stage(claim.epoch, Stage.SIGN, lambda: sign.run(self, claim))
        _maybe_crash(Stage.SIGN)
        att = sign.attestation_of(claim, rec)
        self.book.set_own(att)
        return att

    def prior_cumulative(self, epoch: int) -> dict[Address, int]:
        """Cumulative amounts before `epoch`: those after epoch - 1."""
        return prior_cumulative(self.epoch_dir(epoch - 1) if epoch > 0 else None)

    def prepare(self, epoch: int) -> EpochClaim:
        """Run snapshot → agree → seal → compute → sign (each at most once); return our claim.

        Raises AgreementPending while the agreement rounds with the peers go on."""
        self._snapshot(epoch)
        self._agree(epoch)
        self._seal(epoch)
        claim = self._compute(epoch)
        self._sign(claim)
        return claim

    # -- exchange and submit ------------------------------------------------------------

    def advance(self, epoch: int) -> EpochStatus:
        """Prepare the epoch, exchange signatures, and submit once M are held.

        Safe to call repeatedly and after a crash: it never sends a root the chain already has.
        """
        self.metrics.epoch.set(epoch)
        try:
            claim = self.prepare(epoch)
        except AgreementPending:
            return EpochStatus(epoch, SubmitState.AGREEING, None, ())
        done = self.ledger.done(epoch, Stage.SUBMIT)
        if done is not None:
            return self._status(epoch, claim, done.details)
        if self.distributor.next_epoch() > epoch:
            return self._settled(epoch, claim, SubmitState.SETTLED_BY_PEER, None, self.book.collected(epoch))
        if self.peers:
            self.metrics.attestation_outcomes(exchange(self.book, epoch, self.peers, self.http).values())
        attestations = self.book.collected(epoch)
        self.metrics.signatures_held.set(len(attestations))
        threshold = self.settings.chain.oracle_threshold
        if len(attestations) < threshold:
            return EpochStatus(epoch, SubmitState.WAITING, claim, tuple(a.signer for a in attestations))
        chosen = attestations[:threshold]
        if self.distributor.next_epoch() > epoch:
            return self._settled(epoch, claim, SubmitState.SETTLED_BY_PEER, None, attestations)
        self.ledger.put(f"submit:{epoch}", json.dumps({"state": "sending", "root": "0x" + claim.root.hex()}))
        started = time.perf_counter()
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
            self.metrics.stage_failures.labels(stage=Stage.SUBMIT.value).inc()
            raise StageError(f"epoch {epoch}: submit_root reverted: {exc.reason}") from exc
        self.metrics.stage_seconds.labels(stage=Stage.SUBMIT.value).observe(time.perf_counter() - started)
        self.metrics.roots_submitted.inc()
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
        events = [
            e for e in self.distributor.events("RootSubmitted", self.registry_from_block) if int(e.args["epoch"]) == epoch
        ]
        # The manifest hash is only emitted: a root can match while the sealed inputs (and so
        # the published files) differ — that is a divergence too.
        settled_manifest = bytes(events[0].args["manifest_hash"]) if events else None
        if on_chain != claim.root or settled_manifest not in (None, claim.manifest_hash):
            recovered = recover(self, epoch, on_chain, settled_manifest)
            if recovered is None:
                self.metrics.stage_failures.labels(stage=Stage.SUBMIT.value).inc()
                raise StageError(
                    f"epoch {epoch}: the chain holds root 0x{on_chain.hex()} (manifest "
                    f"0x{(settled_manifest or b'').hex()}), we computed 0x{claim.root.hex()} (manifest "
                    f"0x{claim.manifest_hash.hex()}) and no peer's agreed set reproduces it — inputs "
                    "differ between oracles; run `depin audit`"
                )
            claim = recovered
            self.metrics.epochs_recovered.inc()
        if tx is None:
            # Whoever sent it (a peer, or we before a crash): the chain's event says which tx.
            tx = "0x" + events[0].tx_hash.hex() if events else None
            intent = json.loads(self.ledger.get(f"submit:{epoch}") or "{}")
            if intent.get("state") == "sending":
                state = SubmitState.SUBMITTED  # our own transaction, mined before a crash
        details = {"state": state.value, "tx": tx, "signers": [a.signer for a in attestations]}
        # Not timed here: the submit stage's time is the transaction's, observed above.
        _, ran = self._run_stage(
            epoch, Stage.SUBMIT, lambda: StageOutput(claim.root.hex(), (tx or "")[2:], details), timed=False
        )
        if ran:
            self.metrics.epochs_settled.inc()
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
        """Highest epoch whose root this oracle saw settled on chain (None if none)."""
        return latest_settled_epoch(self.data_dir, self.ledger)


__all__ = [
    "CRASH_ENV",
    "EpochRunner",
    "EpochStatus",
    "Stage",
    "SubmitState",
]
