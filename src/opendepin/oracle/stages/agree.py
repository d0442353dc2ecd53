"""Agree stage: settle with the peer oracles which report batches every honest oracle seals.

Runs once ingest has closed, between snapshot and seal. With peers configured it runs the
rounds of `oracle.agreement` (Dolev–Strong over signed batches; `docs/agreement.md`) and,
until the last round ended, raises `AgreementPending` (no ledger row: the runner answers
"agreeing" and the next `advance` continues). Reads the report log (our batch, frozen at the
first run) and peers' round records and batches; writes `agreement/*`. Every step's
`StepReport` (fetches, refusals, peer errors, how rounds ended) goes to `ctx.metrics`, and
the decision's step observes how long agreement took. Input digest: our
batch; output digest: the decision's sha256. Without peers the stage records that it had
nobody to agree with and sealing seals this oracle's own log.
"""

from __future__ import annotations

import itertools

from opendepin.canonical import canonical_json, sha256_hex
from opendepin.errors import AgreementPending, StageError
from opendepin.oracle import sync
from opendepin.oracle.agreement.messages import Domain
from opendepin.oracle.agreement.protocol import faulty_tolerated
from opendepin.oracle.agreement.service import Agreement, round_path
from opendepin.oracle.stages.base import Stage, StageContext, StageSpec
from opendepin.store.ledger import StageOutput

SPEC = StageSpec(
    Stage.AGREE,
    ("report log", "peers' round records and batches"),
    ("agreement/batches/*.jsonl", "agreement/round_*.json", "agreement/agreement_v1.json", "agreement/agreement_evidence_v1.json"),
)


def domain_of(ctx: StageContext) -> Domain:
    return Domain(ctx.settings.network.network_id, ctx.settings.network.chain_id)


def agreement_for(ctx: StageContext, epoch: int) -> Agreement:
    oracles = ctx.oracles
    return Agreement(
        domain=domain_of(ctx),
        epoch=epoch,
        epoch_dir=ctx.epoch_dir(epoch),
        oracles=sorted(oracles),
        faulty=faulty_tolerated(oracles, ctx.settings.chain.oracle_threshold),
        signer=ctx.signer,
        peers=ctx.peers,
        http=ctx.http,
        round_seconds=ctx.settings.network.agreement_round_seconds,
        own_lines=lambda: itertools.chain(
            sync.epoch_report_lines(ctx.store, epoch), sync.epoch_conflict_lines(ctx.store, epoch)
        ),
    )


def run(ctx: StageContext, epoch: int) -> StageOutput:
    """Run as many rounds as can end now; the ledger row's parts once agreement decided."""
    if not ctx.ingest_closed(epoch):
        raise StageError(f"epoch {epoch}: ingest is still open for it until {ctx.ingest_close_unix(epoch)}")
    if not ctx.peers:
        alone = sha256_hex(canonical_json({"epoch": epoch, "peers": []}))
        return StageOutput(alone, alone, {"skipped": "no peers configured: this oracle seals its own report set"})
    agreement = agreement_for(ctx, epoch)
    try:
        decision = agreement.step()
    finally:  # what the step did, even when it failed part-way
        ctx.metrics.record_step(agreement.report)
    if decision is None:
        r = agreement.report
        raise AgreementPending(
            f"epoch {epoch}: agreement round {r.round} of {agreement.rounds.last_round} "
            f"(heard {len(agreement.rounds.heard.get(r.round, ()))} of {len(agreement.rounds.oracles)} oracles)"
        )
    ctx.metrics.agreement_seconds.observe(max(0.0, agreement.clock() - agreement.start))
    own = round_path(ctx.epoch_dir(epoch), 0).read_bytes()
    summary = canonical_json(decision.summary())
    return StageOutput(
        sha256_hex(own),
        sha256_hex(summary),
        {
            "batches": len(decision.batches),
            "sealed_batches": len(decision.sealed),
            "equivocating_oracles": list(decision.equivocators),
            "rounds": decision.faulty + 1,
        },
    )
