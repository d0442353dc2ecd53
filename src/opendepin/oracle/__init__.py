"""The oracle: turns an epoch's sealed reports into a signed, submitted reward root.

```
snapshot → seal → compute (every kind: verify → score → explain) → rewards → publish → sign → exchange → submit
```

`node.Oracle.build` wires one oracle from settings (store, ingest, runner, routes);
`runner.EpochRunner` drives the stages (`stages` declares what each reads and writes;
idempotent through the store's stage ledger); `compute.compute_epoch` is the pure heart (same
inputs, same bytes on every oracle); `attestations` checks and exchanges oracle signatures
over HTTP; `api` serves `/v1/rewards/{account}`; `audit.audit_epoch` re-runs a published
epoch from its files. See the README's "A picture of one epoch".
"""

from opendepin.oracle.api import rewards_router
from opendepin.oracle.attestations import (
    Attestation,
    AttestationBook,
    AttestationReason,
    AttestationRejected,
    EpochClaim,
    attestation_router,
    exchange,
)
from opendepin.oracle.audit import AuditResult, audit_epoch
from opendepin.oracle.compute import EpochComputation, KindOutcome, compute_epoch
from opendepin.oracle.node import Oracle, mount_oracle, oracle_routers
from opendepin.oracle.recompute import recompute, recompute_epoch
from opendepin.oracle.runner import (
    CRASH_ENV,
    EpochRunner,
    EpochStatus,
    Stage,
    SubmitState,
)
from opendepin.oracle.stages import STAGES, StageSpec

__all__ = [
    "CRASH_ENV",
    "STAGES",
    "Attestation",
    "AttestationBook",
    "AttestationReason",
    "AttestationRejected",
    "AuditResult",
    "EpochClaim",
    "EpochComputation",
    "EpochRunner",
    "EpochStatus",
    "KindOutcome",
    "Oracle",
    "Stage",
    "StageSpec",
    "SubmitState",
    "attestation_router",
    "audit_epoch",
    "compute_epoch",
    "exchange",
    "mount_oracle",
    "oracle_routers",
    "recompute",
    "recompute_epoch",
    "rewards_router",
]
