"""Compute stage: every kind's verdicts, shares, explanations and state, rewards, publishing.

Reads every input file of the epoch directory (what the manifest will list as `inputs`);
writes `verdicts_v1.json`, `explanations_v1.json`, `kinds/*/next_state_v1.json`,
`rewards_v1.json` and `manifest_v1.json` — all out of the one pure `compute.compute_epoch`
(through `oracle.recompute`, the call `depin audit` makes too). Input digest: sha256 over every
input's name and sha256.
"""

from __future__ import annotations

from opendepin.canonical import canonical_json, sha256_hex
from opendepin.oracle.attestations import EpochClaim
from opendepin.oracle.publish import input_entries, publish_epoch
from opendepin.oracle.recompute import recompute_epoch
from opendepin.oracle.stages.base import Stage, StageContext, StageSpec
from opendepin.store.ledger import StageOutput, StageRecord

SPEC = StageSpec(
    Stage.COMPUTE,
    ("inputs/*", "snapshot_v1.json", "prior_v1.json", "kinds/*/state_v1.json", "kinds/*/<external inputs>"),
    ("verdicts_v1.json", "explanations_v1.json", "kinds/*/next_state_v1.json", "rewards_v1.json", "manifest_v1.json"),
)


def run(ctx: StageContext, epoch: int) -> StageOutput:
    """Compute and publish the epoch; the ledger row's parts (the claim in its details)."""
    d = ctx.epoch_dir(epoch)
    read_digest = sha256_hex(canonical_json({e.name: e.sha256 for e in input_entries(d)}))
    again = recompute_epoch(d, ctx.settings, ctx.modules)
    computation, snapshot = again.computation, again.snapshot
    published = publish_epoch(d, ctx.settings.network.network_id, computation, snapshot, ctx.settings)
    return StageOutput(
        read_digest,
        published.manifest_sha256,
        {
            "root": "0x" + published.root.hex(),
            "cumulative_total": str(published.cumulative_total),
            "manifest_hash": "0x" + published.manifest_hash.hex(),
            "emission": str(computation.emission),
        },
    )


def claim_of(epoch: int, record: StageRecord) -> EpochClaim:
    """The claim a compute stage's ledger row records."""
    return EpochClaim(
        epoch=epoch,
        root=bytes.fromhex(str(record.details["root"])[2:]),
        cumulative_total=int(record.details["cumulative_total"]),
        manifest_hash=bytes.fromhex(str(record.details["manifest_hash"])[2:]),
    )
