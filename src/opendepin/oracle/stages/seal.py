"""Seal stage: reconcile report sets with peers, then seal the report log into input files.

Refuses (StageError) until the chain's clock is past the epoch's end plus the report grace
(ingest is still open before). Reads `snapshot_v1.json` (the registry reconciliation checks
peers' reports against), the report log and peers' `GET /v1/epochs/{e}/reports`; writes
`inputs/*.jsonl`, `inputs/inputs.json` and, when a device double-signed,
`inputs/equivocations_v1.json`. Input digest: the snapshot's sha256 and a digest of the
report log's lines for the epoch.
"""

from __future__ import annotations

import hashlib

from opendepin.canonical import canonical_json, sha256_hex
from opendepin.epochdir import EpochFile
from opendepin.errors import StageError
from opendepin.oracle import sync
from opendepin.oracle.epoch_files import read_snapshot
from opendepin.oracle.stages.base import Stage, StageContext, StageSpec
from opendepin.store.ledger import StageOutput
from opendepin.store.sealing import read_equivocations

SPEC = StageSpec(
    Stage.SEAL,
    ("snapshot_v1.json", "report log", "peers"),
    ("inputs/*.jsonl", "inputs/inputs.json", "inputs/equivocations_v1.json"),
)


def run(ctx: StageContext, epoch: int) -> StageOutput:
    """Reconcile with the peers and seal the epoch; the ledger row's parts."""
    if not ctx.ingest_closed(epoch):
        raise StageError(
            f"epoch {epoch}: ingest is still open for it until {ctx.ingest_close_unix(epoch)} "
            f"(its end + {ctx.settings.network.report_grace_seconds} s grace); the chain's "
            f"clock is at {ctx.chain.timestamp()}"
        )
    snapshot_path = ctx.epoch_dir(epoch) / EpochFile.SNAPSHOT
    snapshot_sha = sha256_hex(snapshot_path.read_bytes())
    details: dict[str, object] = {}
    if ctx.peers:
        synced = sync.reconcile(
            epoch=epoch,
            store=ctx.store,
            settings=ctx.settings,
            peers=ctx.peers,
            http=ctx.http,
            devices=lambda: read_snapshot(snapshot_path).devices,
            modules=ctx.modules,
            signer=ctx.signer,
        )
        details = {
            "imported": synced.imported,
            "skipped_peers": list(synced.skipped_peers),
            "refused": dict(synced.refused),
            "conflicts": synced.conflicts,
        }
    log_digest = hashlib.sha256()
    for line in sync.epoch_report_lines(ctx.store, epoch):
        log_digest.update(hashlib.sha256(line).digest())
    read_digest = sha256_hex(canonical_json({"snapshot": snapshot_sha, "report_log": log_digest.hexdigest()}))
    manifest = ctx.store.seal_epoch(epoch)
    if manifest.equivocations is not None:  # devices that double-signed: all their reports left out
        details["equivocations"] = manifest.equivocations.count
        details["excluded_devices"] = sorted(
            {str(e.device) for e in read_equivocations(ctx.store.inputs_dir(epoch))}
        )
    return StageOutput(read_digest, manifest.sha256, {"reports": manifest.total_reports, **details})
