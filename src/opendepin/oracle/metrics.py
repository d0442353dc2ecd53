"""Prometheus metrics of one oracle, in its own CollectorRegistry.

What an operator watches to know the oracle is keeping up: how long each ledgered stage
takes, whether epochs get sealed and settled, how many signatures it holds for the epoch it
is working on, which peers fail it and how, what the agreement rounds and the seal's import
of agreed reports did. `depin oracle serve` exposes them on the ingest app's `/metrics`,
after ingest's own (`ingest.metrics`), so one scrape of an oracle's port gives both.

A registry per oracle (not the process-global default), as ingest does: the demo and the
tests run several oracles in one process, each with its own numbers. The runner updates the
metrics only when a stage actually ran: a stage skipped because its ledger row exists (every
`advance` walks all stages) is not observed again, so after a restart the counters count
this process's work, never the ledger's history.

| metric | type | labels | meaning |
|---|---|---|---|
| `depin_oracle_stage_seconds` | histogram | `stage` | wall time of a stage run that recorded its ledger row (snapshot, agree: the final step only, seal, compute, sign); submit: the `submit_root` transaction, sent to mined, at the oracle that sent it |
| `depin_oracle_stage_failures_total` | counter | `stage` | stage runs that raised (StageError, chain or store errors); agreement still pending is not a failure |
| `depin_oracle_epochs_sealed_total` | counter | — | epochs whose inputs this oracle sealed |
| `depin_oracle_epochs_settled_total` | counter | — | epochs whose root this oracle saw settled on chain (its own or a peer's transaction) |
| `depin_oracle_roots_submitted_total` | counter | — | `submit_root` transactions this oracle sent and saw mined |
| `depin_oracle_epochs_recovered_total` | counter | — | epochs re-sealed from a peer's agreed set because the chain's root was not ours |
| `depin_oracle_epoch` | gauge | — | the epoch the runner last advanced |
| `depin_oracle_signatures_held` | gauge | — | valid signatures (ours included) held for that epoch's claim |
| `depin_oracle_peer_errors_total` | counter | `kind` | failed peer calls: `agreement_record`, `agreement_batch` (transport, size or deadline), `attestations` (exchange unreachable, refused or answered with unusable signatures; a peer that has not computed the epoch yet is not counted), `recovery` (decision or batch fetch while recovering) |
| `depin_oracle_reports_imported_total` | counter | — | reports of the agreed batches this oracle lacked and imported at seal |
| `depin_oracle_reports_import_refused_total` | counter | `reason` | lines of the agreed batches that failed a check at seal (RejectReason / ImportReason value) |
| `depin_oracle_conflicts_recorded_total` | counter | — | conflicting report versions recorded as equivocation evidence at seal |
| `depin_oracle_agreement_rounds_total` | counter | `ended` | agreement rounds ended: `early` (every oracle's record held) or `deadline` |
| `depin_oracle_agreement_seconds` | histogram | — | agreement start (ingest found closed) to decision, by this oracle's wall clock |
| `depin_oracle_agreement_records_fetched_total` | counter | — | peers' round records fetched and accepted as well-formed |
| `depin_oracle_agreement_batches_fetched_total` | counter | — | report batches downloaded from peers (digest checked) |
| `depin_oracle_agreement_fetched_bytes_total` | counter | — | bytes of those batches |
| `depin_oracle_agreement_refused_total` | counter | — | records, chains or batches refused by the agreement's checks (the reasons are logged: they carry epochs and rounds, too many values for a label) |

Counters are exposed with the `_total` suffix (and prometheus_client's `_created`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from opendepin.oracle.agreement.service import StepReport
from opendepin.oracle.attestations import AttestationReason

STAGE_SECONDS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
"""Stage runs last from milliseconds (sign) to minutes (compute over a large network)."""
AGREEMENT_SECONDS_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1_800.0)
"""Agreement lasts up to (f + 1) × the round length (30 s by default), shorter when every
oracle answers at once."""

_PEER_NOT_FAILING = frozenset({"ok", "http 404", AttestationReason.NOT_READY.value})
"""Exchange outcomes that are not a peer error: usable, or the peer is just behind."""

STAGE_NAMES = ("snapshot", "agree", "seal", "compute", "sign", "submit")
"""The ledgered stages (`oracle.stages.Stage` values), pre-created so each appears at 0."""


class PeerErrorKind(StrEnum):
    """Which peer call failed (the `kind` label of `depin_oracle_peer_errors_total`)."""

    AGREEMENT_RECORD = "agreement_record"
    """Fetching a peer's signed round record."""
    AGREEMENT_BATCH = "agreement_batch"
    """Downloading a report batch a peer's record relays."""
    ATTESTATIONS = "attestations"
    """Pushing our signatures to a peer or pulling its own."""
    RECOVERY = "recovery"
    """Fetching a peer's agreement decision or batches to recover a lost epoch."""


class RoundEnd(StrEnum):
    """How an agreement round ended (the `ended` label)."""

    EARLY = "early"
    """Every oracle's record for the round was held before the deadline."""
    DEADLINE = "deadline"
    """The round's deadline passed first (a peer silent, slow or refused)."""


class OracleMetrics:
    """The counters, gauges and histograms one oracle's runner and stages update."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.stage_seconds = Histogram(
            "depin_oracle_stage_seconds",
            "Wall time of a stage run that recorded its ledger row; submit: the submit_root transaction.",
            ["stage"],
            buckets=STAGE_SECONDS_BUCKETS,
            registry=r,
        )
        self.stage_failures = Counter(
            "depin_oracle_stage_failures", "Stage runs that raised an error.", ["stage"], registry=r
        )
        self.epochs_sealed = Counter("depin_oracle_epochs_sealed", "Epochs whose inputs were sealed.", registry=r)
        self.epochs_settled = Counter(
            "depin_oracle_epochs_settled", "Epochs seen settled on chain (by us or a peer).", registry=r
        )
        self.roots_submitted = Counter(
            "depin_oracle_roots_submitted", "submit_root transactions sent by this oracle and mined.", registry=r
        )
        self.epochs_recovered = Counter(
            "depin_oracle_epochs_recovered", "Epochs re-sealed from a peer's agreed set.", registry=r
        )
        self.epoch = Gauge("depin_oracle_epoch", "The epoch the runner last advanced.", registry=r)
        self.signatures_held = Gauge(
            "depin_oracle_signatures_held", "Valid signatures held for that epoch's claim.", registry=r
        )
        self.peer_errors = Counter(
            "depin_oracle_peer_errors", "Failed calls to peer oracles, by kind of call.", ["kind"], registry=r
        )
        self.reports_imported = Counter(
            "depin_oracle_reports_imported", "Reports of the agreed batches imported at seal.", registry=r
        )
        self.reports_import_refused = Counter(
            "depin_oracle_reports_import_refused",
            "Lines of the agreed batches that failed a check at seal, by reason.",
            ["reason"],
            registry=r,
        )
        self.conflicts_recorded = Counter(
            "depin_oracle_conflicts_recorded", "Conflicting report versions recorded at seal.", registry=r
        )
        self.agreement_rounds = Counter(
            "depin_oracle_agreement_rounds",
            "Agreement rounds ended, early (all records held) or at the deadline.",
            ["ended"],
            registry=r,
        )
        self.agreement_seconds = Histogram(
            "depin_oracle_agreement_seconds",
            "Agreement start to decision, seconds (this oracle's wall clock).",
            buckets=AGREEMENT_SECONDS_BUCKETS,
            registry=r,
        )
        self.agreement_records_fetched = Counter(
            "depin_oracle_agreement_records_fetched", "Peers' round records fetched.", registry=r
        )
        self.agreement_batches_fetched = Counter(
            "depin_oracle_agreement_batches_fetched", "Report batches downloaded from peers.", registry=r
        )
        self.agreement_fetched_bytes = Counter(
            "depin_oracle_agreement_fetched_bytes", "Bytes of report batches downloaded from peers.", registry=r
        )
        self.agreement_refused = Counter(
            "depin_oracle_agreement_refused", "Records, chains or batches refused by the agreement's checks.",
            registry=r,
        )
        # Every labelled series exists from the start, at 0: a dashboard or alert can tell
        # "no errors" from "this oracle does not export that metric".
        for stage in STAGE_NAMES:
            self.stage_seconds.labels(stage=stage)
            self.stage_failures.labels(stage=stage)
        for kind in PeerErrorKind:
            self.peer_errors.labels(kind=kind.value)
        for end in RoundEnd:
            self.agreement_rounds.labels(ended=end.value)

    def peer_error(self, kind: PeerErrorKind, count: int = 1) -> None:
        """Count `count` failed calls of `kind`."""
        if count:
            self.peer_errors.labels(kind=kind.value).inc(count)

    def record_step(self, report: StepReport) -> None:
        """Add what one agreement `step` did (its `StepReport`)."""
        self.peer_error(PeerErrorKind.AGREEMENT_RECORD, report.record_errors)
        self.peer_error(PeerErrorKind.AGREEMENT_BATCH, report.batch_errors)
        self.agreement_records_fetched.inc(report.fetched_records)
        self.agreement_batches_fetched.inc(report.fetched_batches)
        self.agreement_fetched_bytes.inc(report.fetched_bytes)
        self.agreement_refused.inc(sum(report.refused.values()))
        self.agreement_rounds.labels(ended=RoundEnd.EARLY.value).inc(report.rounds_ended_early)
        self.agreement_rounds.labels(ended=RoundEnd.DEADLINE.value).inc(report.rounds_ended_at_deadline)

    def record_seal(self, details: Mapping[str, object]) -> None:
        """Add what a seal stage imported from the agreed batches (its ledger row's details)."""
        imported = details.get("imported")
        if isinstance(imported, int):
            self.reports_imported.inc(imported)
        conflicts = details.get("conflicts")
        if isinstance(conflicts, int):
            self.conflicts_recorded.inc(conflicts)
        refused = details.get("refused")
        if isinstance(refused, Mapping):
            for reason, count in refused.items():
                if isinstance(count, int) and count:
                    self.reports_import_refused.labels(reason=str(reason)).inc(count)

    def attestation_outcomes(self, outcomes: Iterable[str]) -> None:
        """Count the failed peers of one signature exchange (`attestations.exchange`'s
        per-peer outcomes). A peer that has not computed the epoch yet (404, `not_ready`)
        is behind, not failing; unreachable, unreadable, refused or wrong answers count."""
        self.peer_error(PeerErrorKind.ATTESTATIONS, sum(1 for o in outcomes if o not in _PEER_NOT_FAILING))

    def render(self) -> bytes:
        """The text exposition format."""
        return bytes(generate_latest(self.registry))


__all__ = [
    "OracleMetrics",
    "PeerErrorKind",
    "RoundEnd",
]
