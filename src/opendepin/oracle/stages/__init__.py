"""The oracle's ledgered stages, in order, with what each one reads and writes.

Data flows one way: each stage reads only what the chain, the store, its peers or earlier
stages wrote, and writes only its own files (atomically, before its ledger row), so a stage
is a pure function of files already on disk and re-running one after a crash rewrites the
same bytes. The ledger row records a digest of what the stage read and of what it wrote.

```
stage     reads                                           writes                                  input digest
snapshot  chain at the close block; previous epoch's      snapshot_v1.json, prior_v1.json,        close block + hash, previous
          rewards_v1.json and kinds/*/next_state_v1.json   kinds/<k>/state_v1.json, kinds/<k>/*    epoch's files read
agree     report log (our batch); peers' round records     agreement/batches/*, round_*.json,      our round-0 record
          and batches (docs/agreement.md)                  agreement_v1.json (the decision)
seal      snapshot_v1.json (registry for the checks);      inputs/*.jsonl, inputs/inputs.json,     snapshot sha256 + decision +
          the agreed batches (or, alone, the report log)   inputs/equivocations_v1.json            report-log listing digest
compute   every input file (the manifest's `inputs`)      verdicts_v1.json, explanations_v1.json, digest of every input's
                                                           kinds/<k>/next_state_v1.json,           sha256
                                                           rewards_v1.json, manifest_v1.json
sign      manifest_v1.json (root, total, manifest hash)   our EIP-712 signature (ledger)          manifest sha256
submit    chain next_epoch / roots; peers' signatures     submit_root transaction (ledger)        root
```

The snapshot comes first: sealing checks the agreed reports against the registry at the
close block, which it reads from `snapshot_v1.json` instead of rebuilding it. Agreement comes
before sealing: the oracles first agree which batches of reports count (`oracle.agreement`),
then each seals exactly those, so honest oracles seal identical inputs even when a faulty
peer served them different reports.

One module per stage (`snapshot`, `agree`, `seal`, `compute`, `sign`), each with its `SPEC` and a
`run(ctx, ...) -> StageOutput` that the runner hands to the ledger's `run_once`; submit is the
runner's own (the exchange with peers and the chain). A stage sees the oracle only as a
`StageContext` (`base`), so no stage imports the runner.
"""

from __future__ import annotations

from opendepin.oracle.stages import agree, compute, seal, sign, snapshot
from opendepin.oracle.stages.base import (
    SUBMIT_SPEC,
    Stage,
    StageContext,
    StageSpec,
    latest_settled_epoch,
)

STAGES: tuple[StageSpec, ...] = (snapshot.SPEC, agree.SPEC, seal.SPEC, compute.SPEC, sign.SPEC, SUBMIT_SPEC)
"""The stages in the order the runner runs them."""

__all__ = [
    "STAGES",
    "Stage",
    "StageContext",
    "StageSpec",
    "agree",
    "compute",
    "latest_settled_epoch",
    "seal",
    "sign",
    "snapshot",
]
