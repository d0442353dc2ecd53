"""Publishing one computed epoch: verdicts, reward file, Merkle tree and manifest.

`publish_epoch` turns an `EpochComputation` into the files of the epoch directory (see
`epoch_files`) and returns the claim the oracles sign. Deterministic: the same computation
and inputs give byte-identical files and the same root on every oracle.

The manifest (`rewards.files` `manifest_v1`) lists every input with its sha256 — the sealed
report files and their `inputs.json`, `snapshot_v1.json`, `prior_v1.json`, and when coverage
runs `coverage_history_v1.json` and (if the network has one) `denylist_v1.json` — the
settings used (`parameters`, plus `denylist_version` when coverage runs), the snapshot block, every output with its sha256, the root, the
cumulative total and the emission. Its `manifest_hash()` goes on chain with the root, so an
auditor who holds the manifest can check it is the one the oracles signed.

Equivocation: when the sealed inputs carry evidence (`inputs/equivocations_v1.json`, see
`store.sealing`), it is listed among the inputs like every sealed file, and each equivocated
(device, seq) becomes an invalid row with reason `equivocated` in `verdicts_v1.json` (counted
like any other reason), derived from the evidence alone so every oracle writes the same bytes.

Empty tree: before anyone has earned anything the root is 32 zero bytes (nothing can be
claimed against it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opendepin.network.settings import Settings
from opendepin.oracle.compute import EpochComputation, exclusion_verdicts
from opendepin.oracle.coverage_stage import (
    COVERAGE_FILE,
    COVERAGE_HISTORY_FILE,
    DENYLIST_FILE,
    CoverageOutput,
)
from opendepin.oracle.epoch_files import (
    INPUTS_DIR,
    MANIFEST_FILE,
    PRIOR_FILE,
    REWARDS_FILE,
    SNAPSHOT_FILE,
    VERDICTS_FILE,
    atomic_write,
    verdicts_to_bytes,
)
from opendepin.proofs.base import ChainSnapshot
from opendepin.proofs.coverage import CoverageResult
from opendepin.proofs.coverage.params import COVERAGE_KIND
from opendepin.rewards import files as reward_files
from opendepin.store.sealing import INPUT_MANIFEST_NAME, read_equivocations, read_input_manifest

DENYLIST_VERSION_PARAMETER = "denylist_version"
"""Manifest parameter naming the coverage denylist version (not a settings field)."""
OPTIONAL_INPUTS = (COVERAGE_HISTORY_FILE, DENYLIST_FILE)
"""Inputs listed in the manifest when present in the epoch directory."""

EMPTY_ROOT = bytes(32)
"""Root published while no account has a positive cumulative amount."""


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


def settings_parameters(settings: Settings) -> dict[str, Any]:
    """The settings that affect an epoch's result, as plain JSON (goes in the manifest)."""
    dumped: dict[str, Any] = json.loads(settings.model_dump_json(exclude={"store", "ingest"}))
    return dumped


def input_entries(epoch_dir: Path) -> tuple[reward_files.InputFile, ...]:
    """Manifest `inputs`: every sealed file, `inputs.json`, the snapshot and prior totals."""
    inputs_dir = epoch_dir / INPUTS_DIR
    sealed = read_input_manifest(inputs_dir)
    entries = [
        reward_files.InputFile(name=f"{INPUTS_DIR}/{f.name}", sha256=f.sha256, size=f.bytes)
        for f in sealed.files
    ]
    if sealed.equivocations is not None:
        e = sealed.equivocations
        entries.append(reward_files.InputFile(name=f"{INPUTS_DIR}/{e.name}", sha256=e.sha256, size=e.bytes))
    for rel in (f"{INPUTS_DIR}/{INPUT_MANIFEST_NAME}", SNAPSHOT_FILE, PRIOR_FILE):
        entries.append(reward_files.InputFile.of(rel, (epoch_dir / rel).read_bytes()))
    for rel in OPTIONAL_INPUTS:
        if (epoch_dir / rel).is_file():
            entries.append(reward_files.InputFile.of(rel, (epoch_dir / rel).read_bytes()))
    return tuple(sorted(entries, key=lambda e: e.name))


def publish_epoch(
    epoch_dir: Path,
    network_id: str,
    computation: EpochComputation,
    snapshot: ChainSnapshot,
    settings: Settings,
    coverage: CoverageResult | None = None,
) -> Published:
    """Write verdicts, reward file and manifest for a computed epoch; return the claim parts.

    `coverage` (the coverage stage's full result, when it ran) adds `coverage_v1.json`.
    """
    epoch = int(computation.epoch)
    invalid: dict[str, list[dict[str, Any]]] = {}
    counts: dict[str, dict[str, int]] = {}
    for kind, outcome in sorted(computation.kinds.items()):
        rows = []
        kind_counts: dict[str, int] = {"valid": 0}
        for v in outcome.verdicts:
            if v.reason is None:
                kind_counts["valid"] += 1
                continue
            reason = str(v.reason.value)
            kind_counts[reason] = kind_counts.get(reason, 0) + 1
            rows.append({"device": v.device, "seq": v.seq, "reason": reason, "details": v.details})
        invalid[kind] = rows
        counts[kind] = kind_counts
    excluded = exclusion_verdicts(epoch, read_equivocations(epoch_dir / INPUTS_DIR))
    for kind, verdicts in sorted(excluded.items()):
        kind_rows = invalid.setdefault(kind, [])
        kind_counts = counts.setdefault(kind, {"valid": 0})
        for v in verdicts:
            reason = str(v.reason)
            kind_counts[reason] = kind_counts.get(reason, 0) + 1
            kind_rows.append({"device": v.device, "seq": v.seq, "reason": reason, "details": v.details})
    notes: dict[str, dict[str, Any]] = {}
    parameters = settings_parameters(settings)
    outputs: list[reward_files.OutputFile] = []
    if coverage is not None:
        notes[str(COVERAGE_KIND)] = {"denylist_version": coverage.denylist_version}
        parameters[DENYLIST_VERSION_PARAMETER] = coverage.denylist_version
        coverage_sha = atomic_write(epoch_dir / COVERAGE_FILE, CoverageOutput(epoch, coverage).to_bytes())
        outputs.append(reward_files.OutputFile(name=COVERAGE_FILE, sha256=coverage_sha))
    verdicts_sha = atomic_write(
        epoch_dir / VERDICTS_FILE, verdicts_to_bytes(epoch, invalid, counts, notes)
    )

    reward_file = build_reward_file(network_id, computation, snapshot)
    rewards_sha = atomic_write(epoch_dir / REWARDS_FILE, reward_file.to_bytes())
    root = reward_file.root
    manifest = reward_files.EpochManifest(
        network=network_id,
        epoch=epoch,
        inputs=input_entries(epoch_dir),
        parameters=parameters,
        snapshot_block=snapshot.block_number,
        outputs=(
            *outputs,
            reward_files.OutputFile(name=REWARDS_FILE, sha256=rewards_sha),
            reward_files.OutputFile(name=VERDICTS_FILE, sha256=verdicts_sha),
        ),
        root=root,
        cumulative_total=computation.cumulative_total,
        emission=computation.emission,
    )
    manifest_bytes = manifest.to_bytes()
    manifest_sha = atomic_write(epoch_dir / MANIFEST_FILE, manifest_bytes)
    return Published(
        root=root,
        cumulative_total=computation.cumulative_total,
        manifest_hash=manifest.manifest_hash(),
        manifest_sha256=manifest_sha,
    )
