"""Publishing one computed epoch: verdicts, explanations, kind states, reward file, manifest.

`render_outputs` turns an `EpochComputation` into the bytes of every output file (pure: the
same computation gives the same bytes on every oracle, and `depin audit` re-renders and
compares each one); `publish_epoch` writes them atomically, then the manifest, and returns
the claim the oracles sign.

```
output                              from
verdicts_v1.json                    every kind's invalid verdicts (exclusions included), counts, notes
explanations_v1.json                every kind's per-device explanation (shares, reasons, figures)
kinds/<kind>/next_state_v1.json     a stateful kind's state after the epoch
rewards_v1.json                     cumulative per owner, per-device amounts, the Merkle root
manifest_v1.json                    inputs and outputs by sha256, parameters, root, total, emission
```

The manifest (`rewards.files` `manifest_v1`) lists every input with its sha256 — the sealed
report files and their `inputs.json` (and the equivocation evidence when there is some),
`snapshot_v1.json`, `prior_v1.json`, and each kind's `kinds/<kind>/` input files — the
settings used (`Settings.parameters`), the snapshot block, every output with its sha256, the
root, the cumulative total and the emission. Its `manifest_hash()` goes on chain with the
root, so an auditor who holds the manifest can check it is the one the oracles signed.

Empty tree: before anyone has earned anything the root is 32 zero bytes (nothing can be
claimed against it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opendepin.canonical import canonical_json
from opendepin.epochdir import INPUTS_DIR, KINDS_DIR, EpochFile, KindFile, kind_path
from opendepin.network.settings import Settings
from opendepin.oracle.agreement.service import AGREEMENT_DIR, DECISION_FILE, agreement_dir
from opendepin.oracle.compute import EpochComputation
from opendepin.oracle.epoch_files import atomic_write, verdicts_to_bytes
from opendepin.oracle.shards import paused_gc
from opendepin.records import ChainSnapshot
from opendepin.rewards import files as reward_files
from opendepin.rewards.merkle import EMPTY_ROOT
from opendepin.store.sealing import INPUT_MANIFEST_NAME, read_input_manifest

EXPLANATIONS_FORMAT = "explanations_v1"


@dataclass(frozen=True, slots=True)
class Published:
    """What publishing an epoch produced."""

    root: bytes
    """32-byte Merkle root over (owner, cumulative amount)."""
    cumulative_total: int
    """Sum of cumulative amounts, base units."""
    manifest_hash: bytes
    """keccak256 of the manifest's canonical bytes (signed and put on chain)."""
    manifest_sha256: str
    """sha256 hex of the manifest file (the stage's output digest)."""


def build_reward_file(
    network_id: str, computation: EpochComputation, snapshot: ChainSnapshot
) -> reward_files.RewardFile:
    """The `rewards_v1` contents of a computation (root over positive cumulative amounts)."""
    cumulative = {str(a): v for a, v in computation.cumulative.items() if v > 0}
    if not cumulative:
        return reward_files.RewardFile(
            network=network_id,
            epoch=int(computation.epoch),
            root=EMPTY_ROOT,
            emission=computation.emission,
            unallocated=computation.unallocated,
            owners=(),
        )
    rows = computation.device_owner_rows(snapshot)
    return reward_files.RewardFile.build(
        network=network_id,
        epoch=int(computation.epoch),
        emission=computation.emission,
        unallocated=computation.unallocated,
        cumulative=cumulative,
        epoch_amounts={str(a): v for a, v in computation.owner_amounts.items()},
        devices={str(a): [(str(d), str(k), s, amt) for d, k, s, amt in r if amt > 0] for a, r in rows.items()},
    )


def verdicts_bytes(computation: EpochComputation) -> bytes:
    """`verdicts_v1`: per kind every invalid verdict (sealed order, then exclusions), counts, notes."""
    invalid: dict[str, list[dict[str, Any]]] = {}
    counts: dict[str, dict[str, int]] = {}
    notes: dict[str, dict[str, Any]] = {}
    for kind, outcome in sorted(computation.kinds.items()):
        rows: list[dict[str, Any]] = []
        kind_counts: dict[str, int] = {"valid": outcome.valid_unlisted}
        for v in (*outcome.verdicts, *outcome.excluded):
            if v.reason is None:
                kind_counts["valid"] += 1
                continue
            reason = str(v.reason)
            kind_counts[reason] = kind_counts.get(reason, 0) + 1
            rows.append({"device": v.device, "seq": v.seq, "reason": reason, "details": v.details})
        invalid[kind] = rows
        counts[kind] = kind_counts
        if outcome.notes:
            notes[kind] = dict(outcome.notes)
    return verdicts_to_bytes(int(computation.epoch), invalid, counts, notes)


def explanations_bytes(computation: EpochComputation) -> bytes:
    """`explanations_v1`: per kind, one explanation per device, sorted by device."""
    return canonical_json(
        {
            "format": EXPLANATIONS_FORMAT,
            "epoch": int(computation.epoch),
            "kinds": {
                kind: [e.to_obj() for _, e in sorted(outcome.explanations.items())]
                for kind, outcome in sorted(computation.kinds.items())
            },
        }
    )


def render_outputs(
    network_id: str, computation: EpochComputation, snapshot: ChainSnapshot
) -> dict[str, bytes]:
    """Every output file of the epoch (the manifest aside): relative path -> bytes."""
    return _render(network_id, computation, snapshot)[0]


def _render(
    network_id: str, computation: EpochComputation, snapshot: ChainSnapshot
) -> tuple[dict[str, bytes], bytes]:
    """`render_outputs` and the reward file's root (so it is not parsed back for the manifest)."""
    reward_file = build_reward_file(network_id, computation, snapshot)
    out: dict[str, bytes] = {
        EpochFile.VERDICTS.value: verdicts_bytes(computation),
        EpochFile.EXPLANATIONS.value: explanations_bytes(computation),
        EpochFile.REWARDS.value: reward_file.to_bytes(),
    }
    for kind, outcome in sorted(computation.kinds.items()):
        if outcome.next_state is not None:
            out[kind_path(kind, KindFile.NEXT_STATE)] = outcome.next_state
    return dict(sorted(out.items())), reward_file.root


def input_entries(epoch_dir: Path) -> tuple[reward_files.InputFile, ...]:
    """Manifest `inputs`: sealed files, `inputs.json`, snapshot, prior, kinds' input files and,
    when the oracles agreed on the epoch's batches, the decision (`agreement/agreement_v1.json`,
    byte-identical at every honest oracle): the root's manifest hash then also says which
    oracles' batches were sealed."""
    inputs_dir = epoch_dir / INPUTS_DIR
    sealed = read_input_manifest(inputs_dir)
    entries = [
        reward_files.InputFile(name=f"{INPUTS_DIR}/{f.name}", sha256=f.sha256, size=f.bytes)
        for f in sealed.files
    ]
    if sealed.equivocations is not None:
        e = sealed.equivocations
        entries.append(reward_files.InputFile(name=f"{INPUTS_DIR}/{e.name}", sha256=e.sha256, size=e.bytes))
    for rel in (f"{INPUTS_DIR}/{INPUT_MANIFEST_NAME}", EpochFile.SNAPSHOT.value, EpochFile.PRIOR.value):
        entries.append(reward_files.InputFile.of(rel, (epoch_dir / rel).read_bytes()))
    decision = agreement_dir(epoch_dir) / DECISION_FILE
    if decision.is_file():
        entries.append(reward_files.InputFile.of(f"{AGREEMENT_DIR}/{DECISION_FILE}", decision.read_bytes()))
    kinds_root = epoch_dir / KINDS_DIR
    if kinds_root.is_dir():
        for kind_dir in sorted(p for p in kinds_root.iterdir() if p.is_dir()):
            for path in sorted(kind_dir.iterdir()):
                if path.is_file() and path.name != KindFile.NEXT_STATE and not path.name.startswith("."):
                    rel = kind_path(kind_dir.name, path.name)
                    entries.append(reward_files.InputFile.of(rel, path.read_bytes()))
    return tuple(sorted(entries, key=lambda e: e.name))


def build_manifest(
    epoch_dir: Path,
    network_id: str,
    computation: EpochComputation,
    snapshot: ChainSnapshot,
    settings: Settings,
    outputs: dict[str, bytes],
    root: bytes,
) -> reward_files.EpochManifest:
    """The manifest of an epoch whose inputs are in `epoch_dir` and outputs are `outputs`
    (`root`: the root of the reward file among them)."""
    return reward_files.EpochManifest(
        network=network_id,
        epoch=int(computation.epoch),
        inputs=input_entries(epoch_dir),
        parameters=settings.parameters(),
        snapshot_block=snapshot.block_number,
        outputs=tuple(reward_files.OutputFile.of(name, data) for name, data in sorted(outputs.items())),
        root=root,
        cumulative_total=computation.cumulative_total,
        emission=computation.emission,
    )


def publish_epoch(
    epoch_dir: Path,
    network_id: str,
    computation: EpochComputation,
    snapshot: ChainSnapshot,
    settings: Settings,
) -> Published:
    """Write every output and the manifest for a computed epoch; return the claim parts
    (rendered with the cyclic garbage collector paused: `oracle.shards.paused_gc`)."""
    with paused_gc():
        outputs, root = _render(network_id, computation, snapshot)
    for name, data in outputs.items():
        atomic_write(epoch_dir / name, data)
    manifest = build_manifest(epoch_dir, network_id, computation, snapshot, settings, outputs, root)
    manifest_sha = atomic_write(epoch_dir / EpochFile.MANIFEST, manifest.to_bytes())
    return Published(
        root=manifest.root,
        cumulative_total=computation.cumulative_total,
        manifest_hash=manifest.manifest_hash(),
        manifest_sha256=manifest_sha,
    )
