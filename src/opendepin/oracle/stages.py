"""The oracle's ledgered stages, in order, with what each one reads and writes.

Data flows one way: each stage reads only what the chain, the store, its peers or earlier
stages wrote, and writes only its own files (atomically, before its ledger row), so a stage
is a pure function of files already on disk and re-running one after a crash rewrites the
same bytes. The ledger row records a digest of what the stage read and of what it wrote.

```
stage     reads                                           writes                                  input digest
snapshot  chain at the close block; previous epoch's      snapshot_v1.json, prior_v1.json,        close block + hash, previous
          rewards_v1.json and kinds/*/next_state_v1.json   kinds/<k>/state_v1.json, kinds/<k>/*    epoch's files read
seal      snapshot_v1.json (registry for reconciliation);  inputs/*.jsonl, inputs/inputs.json,     snapshot sha256 + report-log
          report log; peers' /v1/epochs/{e}/reports        inputs/equivocations_v1.json            listing digest
compute   every input file (the manifest's `inputs`)      verdicts_v1.json, explanations_v1.json, digest of every input's
                                                           kinds/<k>/next_state_v1.json,           sha256
                                                           rewards_v1.json, manifest_v1.json
sign      manifest_v1.json (root, total, manifest hash)   our EIP-712 signature (ledger)          manifest sha256
submit    chain next_epoch / roots; peers' signatures     submit_root transaction (ledger)        root
```

The snapshot comes first: sealing reconciles with peers against the registry at the close
block, which it reads from `snapshot_v1.json` instead of rebuilding it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from opendepin.epochdir import EPOCHS_DIR
from opendepin.store.ledger import StageLedger


class Stage(StrEnum):
    """Ledgered stages of an epoch, in order."""

    SNAPSHOT = "snapshot"
    SEAL = "seal"
    COMPUTE = "compute"
    SIGN = "sign"
    SUBMIT = "submit"


@dataclass(frozen=True, slots=True)
class StageSpec:
    """What one stage reads and writes (paths relative to the epoch directory)."""

    stage: Stage
    reads: tuple[str, ...]
    writes: tuple[str, ...]


STAGES: tuple[StageSpec, ...] = (
    StageSpec(
        Stage.SNAPSHOT,
        ("chain", "../<e-1>/rewards_v1.json", "../<e-1>/kinds/*/next_state_v1.json"),
        ("snapshot_v1.json", "prior_v1.json", "kinds/*/state_v1.json", "kinds/*/<external inputs>"),
    ),
    StageSpec(
        Stage.SEAL,
        ("snapshot_v1.json", "report log", "peers"),
        ("inputs/*.jsonl", "inputs/inputs.json", "inputs/equivocations_v1.json"),
    ),
    StageSpec(
        Stage.COMPUTE,
        ("inputs/*", "snapshot_v1.json", "prior_v1.json", "kinds/*/state_v1.json", "kinds/*/<external inputs>"),
        ("verdicts_v1.json", "explanations_v1.json", "kinds/*/next_state_v1.json", "rewards_v1.json", "manifest_v1.json"),
    ),
    StageSpec(Stage.SIGN, ("manifest_v1.json",), ("ledger: signature",)),
    StageSpec(Stage.SUBMIT, ("chain", "peers' signatures"), ("chain: submit_root", "ledger: tx")),
)
"""The stages in the order the runner runs them."""


def latest_settled_epoch(data_dir: Path, ledger: StageLedger) -> int | None:
    """Highest epoch whose root this oracle saw settled on chain (None if none).

    Answered from the ledger, not the chain, so HTTP handlers never touch the chain.
    """
    root = data_dir / EPOCHS_DIR
    if not root.is_dir():
        return None
    for epoch in sorted((int(p.name) for p in root.iterdir() if p.name.isdigit()), reverse=True):
        if ledger.done(epoch, Stage.SUBMIT) is not None:
            return epoch
    return None
