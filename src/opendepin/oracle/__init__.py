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

from __future__ import annotations

from typing import TYPE_CHECKING

from opendepin.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "rewards_router": "opendepin.oracle.api",
    "Attestation": "opendepin.oracle.attestations",
    "AttestationBook": "opendepin.oracle.attestations",
    "AttestationReason": "opendepin.oracle.attestations",
    "AttestationRejected": "opendepin.oracle.attestations",
    "EpochClaim": "opendepin.oracle.attestations",
    "attestation_router": "opendepin.oracle.attestations",
    "exchange": "opendepin.oracle.attestations",
    "AuditResult": "opendepin.oracle.audit",
    "audit_epoch": "opendepin.oracle.audit",
    "EpochComputation": "opendepin.oracle.compute",
    "KindOutcome": "opendepin.oracle.compute",
    "compute_epoch": "opendepin.oracle.compute",
    "Oracle": "opendepin.oracle.node",
    "mount_oracle": "opendepin.oracle.node",
    "oracle_routers": "opendepin.oracle.node",
    "recompute": "opendepin.oracle.recompute",
    "recompute_epoch": "opendepin.oracle.recompute",
    "CRASH_ENV": "opendepin.oracle.runner",
    "EpochRunner": "opendepin.oracle.runner",
    "EpochStatus": "opendepin.oracle.runner",
    "Stage": "opendepin.oracle.runner",
    "SubmitState": "opendepin.oracle.runner",
    "STAGES": "opendepin.oracle.stages",
    "StageSpec": "opendepin.oracle.stages",
}
"""Name -> module: imported on first use, so a shard worker importing `oracle.shards`
does not load the HTTP stack (FastAPI, the ingest app) the node needs."""

if TYPE_CHECKING:
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

__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
