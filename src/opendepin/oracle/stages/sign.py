"""Sign stage: the oracle's EIP-712 signature over the epoch's claim.

Reads `manifest_v1.json` (its root, cumulative total and manifest hash are the claim); writes
the signature into the ledger. Input digest: the manifest's sha256.
"""

from __future__ import annotations

from opendepin.canonical import sha256_hex
from opendepin.epochdir import EpochFile
from opendepin.oracle.attestations import Attestation, EpochClaim
from opendepin.oracle.stages.base import Stage, StageContext, StageSpec
from opendepin.store.ledger import StageOutput, StageRecord
from opendepin.types import Address

SPEC = StageSpec(Stage.SIGN, ("manifest_v1.json",), ("ledger: signature",))


def run(ctx: StageContext, claim: EpochClaim) -> StageOutput:
    """Sign the claim; the ledger row's parts."""
    digest = ctx.distributor.epoch_root_digest(claim.epoch, claim.root, claim.cumulative_total, claim.manifest_hash)
    signature = ctx.signer.sign_digest(digest)
    manifest_sha = sha256_hex((ctx.epoch_dir(claim.epoch) / EpochFile.MANIFEST).read_bytes())
    return StageOutput(
        manifest_sha,
        sha256_hex(signature),
        {"signer": ctx.signer.address, "signature": "0x" + signature.hex()},
    )


def attestation_of(claim: EpochClaim, record: StageRecord) -> Attestation:
    """Our attestation, as the sign stage's ledger row records it."""
    return Attestation(
        claim=claim,
        signer=Address(str(record.details["signer"])),
        signature=bytes.fromhex(str(record.details["signature"])[2:]),
    )
