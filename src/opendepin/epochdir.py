"""The layout of an epoch directory: one name for every file an epoch holds.

```
<data_dir>/epochs/<epoch>/
  inputs/<kind>_v1.<sha16>.jsonl   sealed reports of one kind (device-signed wire lines)   input
  inputs/inputs.json               the input manifest of the sealed files                  input
  inputs/equivocations_v1.json     evidence of double-signing (only when there is some)    input
  snapshot_v1.json                 registry + entropy at the close block                   input
  prior_v1.json                    cumulative amount per owner before the epoch            input
  kinds/<kind>/state_v1.json       a stateful kind's state before the epoch                input
  kinds/<kind>/<name>              a kind's frozen external inputs (coverage: denylist)    input
  verdicts_v1.json                 per kind: every invalid verdict with its reason          output
  explanations_v1.json             per kind, per device: shares and why (not) rewarded     output
  kinds/<kind>/next_state_v1.json  a stateful kind's state after the epoch                 output
  rewards_v1.json                  reward file (cumulative per owner, Merkle root)         output
  manifest_v1.json                 every input and output by sha256; its hash goes on chain
```

`docs/formats.md` describes each format. Every kind uses the same names for the same roles,
so the stages, `depin audit` and the explorer handle any kind without knowing it.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Final

EPOCHS_DIR: Final = "epochs"
"""Directory of a data dir holding one directory per epoch."""
INPUTS_DIR: Final = "inputs"
"""Sealed inputs of an epoch (written by `store.sealing`)."""
KINDS_DIR: Final = "kinds"
"""Per-kind files of an epoch: `kinds/<kind>/…`."""


class EpochFile(StrEnum):
    """Files at the top of an epoch directory."""

    SNAPSHOT = "snapshot_v1.json"
    PRIOR = "prior_v1.json"
    VERDICTS = "verdicts_v1.json"
    EXPLANATIONS = "explanations_v1.json"
    REWARDS = "rewards_v1.json"
    MANIFEST = "manifest_v1.json"


class KindFile(StrEnum):
    """Files every stateful kind has under `kinds/<kind>/`."""

    STATE = "state_v1.json"
    """The kind's state before the epoch (input)."""
    NEXT_STATE = "next_state_v1.json"
    """The kind's state after the epoch (output; the next epoch's `STATE`)."""


def epoch_dir(data_dir: Path, epoch: int) -> Path:
    """`<data_dir>/epochs/<epoch>`."""
    return data_dir / EPOCHS_DIR / str(epoch)


def kind_path(kind: str, name: str) -> str:
    """Path of a kind's file relative to the epoch directory: `kinds/<kind>/<name>`."""
    return f"{KINDS_DIR}/{kind}/{name}"
