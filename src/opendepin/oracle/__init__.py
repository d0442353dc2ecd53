"""The oracle: turns an epoch's sealed reports into a signed, submitted reward root.

```
seal → snapshot → compute (verify → score → rewards) → publish → sign → exchange → submit
```

`runner.EpochRunner` drives the stages for one oracle (idempotent through the store's stage
ledger); `compute.compute_epoch` is the pure heart (same inputs, same bytes on every
oracle); `attestations` checks and exchanges oracle signatures over HTTP; `api` serves
`/v1/attestations` and `/v1/rewards/{account}`; `audit.audit_epoch` re-runs a published
epoch from its files. See the README's "A picture of one epoch".
"""

from opendepin.oracle.api import mount_oracle, rewards_router
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
from opendepin.oracle.kinds import default_modules
from opendepin.oracle.runner import (
    CRASH_ENV,
    EpochRunner,
    EpochStatus,
    Stage,
    SubmitState,
    recompute,
)

__all__ = [
    "CRASH_ENV",
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
    "Stage",
    "SubmitState",
    "attestation_router",
    "audit_epoch",
    "compute_epoch",
    "default_modules",
    "exchange",
    "mount_oracle",
    "recompute",
    "rewards_router",
]
