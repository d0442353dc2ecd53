"""Rewards: emission schedule, pools, pro-rata allocation, cumulative totals, Merkle tree, files.

```
EmissionSchedule.emission(epoch) ─▶ Pools.split ─▶ allocate(pool, shares) per kind
      ─▶ CumulativeLedger.apply(epoch, owner amounts) ─▶ RewardTree.build(ledger.entries())
      ─▶ RewardFile (rewards_v1) + EpochManifest (manifest_v1, manifest_hash on chain)
```

All amounts are integer token base units; every step rounds down and names its remainder.
"""

from __future__ import annotations

from opendepin.rewards.emission import EmissionSchedule, ScheduleKind
from opendepin.rewards.files import (
    DeviceReward,
    EpochManifest,
    FileFormatError,
    FileProblem,
    InputFile,
    OutputFile,
    OwnerReward,
    RewardFile,
)
from opendepin.rewards.merkle import EntryError, EntryProblem, RewardTree, verify_proof
from opendepin.rewards.pools import Allocation, CumulativeLedger, Pools, PoolSplit, allocate

__all__ = [
    "Allocation",
    "CumulativeLedger",
    "DeviceReward",
    "EmissionSchedule",
    "EntryError",
    "EntryProblem",
    "EpochManifest",
    "FileFormatError",
    "FileProblem",
    "InputFile",
    "OutputFile",
    "OwnerReward",
    "PoolSplit",
    "Pools",
    "RewardFile",
    "RewardTree",
    "ScheduleKind",
    "allocate",
    "verify_proof",
]
