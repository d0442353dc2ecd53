"""Seal stage: import the agreed batches, then seal exactly them into input files.

Refuses (StageError) until the chain's clock is past the epoch's end plus the report grace
(ingest is still open before). With an agreement decision (`agree` stage, peers configured)
it imports every line of the decision's sealed batches that this oracle lacks, after
ingest's checks minus the clock ones (`oracle.sync.import_offered`, against the registry in
`snapshot_v1.json`), and seals only the versions of the epoch those batches hold that pass
the checks — so every honest oracle seals the same bytes, whatever its own log held. Alone
(no peers) it seals its own log. Writes `inputs/*.jsonl`, `inputs/inputs.json` and, when a
device double-signed, `inputs/equivocations_v1.json`. Input digest: the snapshot's sha256,
the decision's and a digest of the report log's lines for the epoch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from opendepin.canonical import canonical_json, sha256_hex
from opendepin.epochdir import EpochFile
from opendepin.errors import StageError
from opendepin.oracle import sync
from opendepin.oracle.agreement.service import (
    DECISION_FILE,
    AgreedBatch,
    agreement_dir,
    iter_batch_lines,
    read_agreed,
)
from opendepin.oracle.epoch_files import read_snapshot
from opendepin.oracle.stages.base import Stage, StageContext, StageSpec
from opendepin.store.ledger import StageOutput
from opendepin.store.sealing import read_equivocations

SPEC = StageSpec(
    Stage.SEAL,
    ("snapshot_v1.json", "agreement/agreement_v1.json and its batches", "report log"),
    ("inputs/*.jsonl", "inputs/inputs.json", "inputs/equivocations_v1.json"),
)


def _distinct_batches(sealed: Iterable[AgreedBatch]) -> list[tuple[str, str]]:
    """(batch, origin) of each distinct batch of the decision, in decision order, the first
    origin of each: origins that sent byte-identical report sets sent ONE batch (its id is
    the sha256 of its bytes), and `sync.import_offered` judges a line once however many
    sources hold it, so reading it again would only hash every line again."""
    seen: dict[str, str] = {}
    for b in sealed:
        seen.setdefault(b.batch, b.origin)
    return list(seen.items())


def run(ctx: StageContext, epoch: int, *, reseal: bool = False) -> StageOutput:
    """Import the agreed batches and seal the epoch; the ledger row's parts."""
    if not ctx.ingest_closed(epoch):
        raise StageError(
            f"epoch {epoch}: ingest is still open for it until {ctx.ingest_close_unix(epoch)} "
            f"(its end + {ctx.settings.network.report_grace_seconds} s grace); the chain's "
            f"clock is at {ctx.chain.timestamp()}"
        )
    directory = ctx.epoch_dir(epoch)
    snapshot_path = directory / EpochFile.SNAPSHOT
    snapshot_sha = sha256_hex(snapshot_path.read_bytes())
    details: dict[str, object] = {}
    decision = read_agreed(directory)
    allowed: frozenset[str] | None = None
    decision_sha = ""
    if reseal:
        ctx.store.reopen(epoch)
    logged = ctx.store.reports.epoch_lines(epoch)  # read once: the import and the seal share it
    if decision is not None:
        decision_sha = sha256_hex((agreement_dir(directory) / DECISION_FILE).read_bytes())

        imported = sync.import_offered(
            epoch=epoch,
            store=ctx.store,
            settings=ctx.settings,
            sources=((f"batch {batch[:18]}… of {origin}", iter_batch_lines(directory, batch)) for batch, origin in _distinct_batches(decision.sealed)),
            devices=lambda: read_snapshot(snapshot_path).devices,
            modules=ctx.modules,
            logged=logged,
        )
        allowed = imported.allowed
        details = {
            "imported": imported.result.imported,
            "refused": dict(imported.result.refused),
            "conflicts": imported.result.conflicts,
            "batches": len(decision.sealed),
            "equivocating_oracles": list(decision.equivocators),
        }
    sealed = ctx.store.seal(epoch, allowed, reseal=reseal, logged=logged)
    manifest = sealed.manifest
    log_digest = hashlib.sha256()
    for entry in sealed.log:  # the log as sealed from: by kind, then (device, seq)
        log_digest.update(hashlib.sha256(entry.wire + b"\n").digest())
    read_digest = sha256_hex(
        canonical_json({"snapshot": snapshot_sha, "agreement": decision_sha, "report_log": log_digest.hexdigest()})
    )
    if manifest.equivocations is not None:  # devices that double-signed: all their reports left out
        details["equivocations"] = manifest.equivocations.count
        details["excluded_devices"] = sorted(
            {str(e.device) for e in read_equivocations(ctx.store.inputs_dir(epoch))}
        )
    return StageOutput(read_digest, manifest.sha256, {"reports": manifest.total_reports, **details})
