"""Recomputing an epoch purely from the files in its directory (the runner and `depin audit`).

The compute stage and an auditor call the same function on the same files, so what the
oracles publish is exactly what anyone re-running the epoch gets.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from opendepin import jsonlimits
from opendepin.epochdir import INPUTS_DIR, EpochFile
from opendepin.network.settings import Settings
from opendepin.oracle.compute import EpochComputation, compute_epoch, kind_job, kind_pool
from opendepin.oracle.epoch_files import read_prior, read_snapshot
from opendepin.oracle.epoch_inputs import read_kind_files
from opendepin.oracle.executors import Executor, InlineExecutor, executor_for
from opendepin.oracle.shards import ShardedKindResult, compute_sharded, paused_gc, sharded_kinds
from opendepin.proofs.kind import Kind, ShardedKind
from opendepin.records import ChainSnapshot, IngestedReport
from opendepin.store.sealing import read_equivocations, read_input_manifest, read_sealed_reports
from opendepin.types import Epoch


@dataclass(frozen=True, slots=True)
class Recomputed:
    """An epoch recomputed from its files."""

    computation: EpochComputation
    snapshot: ChainSnapshot


def epoch_of(directory: Path) -> Epoch:
    """The epoch number of an epoch directory (its name, else its prior file's)."""
    if directory.name.isdigit():
        return Epoch(int(directory.name))
    obj = jsonlimits.loads((directory / EpochFile.PRIOR).read_bytes())
    return Epoch(int(obj["epoch"]))


def recompute_epoch(
    directory: Path,
    settings: Settings,
    kinds: Mapping[str, Kind],
    executor: Executor | None = None,
    *,
    shard: bool = True,
) -> Recomputed:
    """Recompute an epoch from `directory` with `settings` and `kinds`.

    Kinds that split by device and have more than `compute.shard_reports` sealed reports are
    computed in shards on `executor` (default: the one `compute.executor` names, closed
    afterwards); a kind that judges sealed lines itself (`LineShardedKind`) with fewer is
    computed as one shard in this process. The result is the same either way
    (`oracle.shards`); `shard=False` computes every kind from decoded reports (the reference
    the tests compare with). The cyclic garbage collector is paused meanwhile
    (`oracle.shards.paused_gc`).
    """
    with paused_gc():
        return _recompute_epoch(directory, settings, kinds, executor, shard)


def _recompute_epoch(
    directory: Path,
    settings: Settings,
    kinds: Mapping[str, Kind],
    executor: Executor | None,
    shard: bool,
) -> Recomputed:
    snapshot = read_snapshot(directory / EpochFile.SNAPSHOT)
    prior = read_prior(directory / EpochFile.PRIOR)
    inputs_dir = directory / INPUTS_DIR
    manifest = read_input_manifest(inputs_dir)
    split = sharded_kinds(kinds, manifest.files, settings) if shard else {}
    sealed = read_sealed_reports(inputs_dir, {str(f.kind) for f in manifest.files} - set(split))
    reports: dict[str, list[IngestedReport]] = {str(k): v for k, v in sealed.items()}
    files = read_kind_files(directory, kinds)
    states = {k: f.state for k, f in files.items()}
    kind_inputs = {k: f.inputs for k, f in files.items()}
    epoch = epoch_of(directory)
    done: dict[str, ShardedKindResult] = {}
    if split:
        own = executor is None
        preload = sorted({type(kinds[name]).__module__ for name in split})
        pool: list[Executor] = [executor] if executor is not None else []

        def runner_for(count: int) -> Executor:
            """The executor for a kind of `count` reports: one shard needs no workers."""
            if count <= settings.compute.shard_reports:
                return InlineExecutor()
            if not pool:
                pool.append(executor_for(settings.compute.executor, settings.compute.workers, preload))
            return pool[0]

        try:
            with tempfile.TemporaryDirectory(prefix=".shards-", dir=directory) as work:
                for name, sealed_file in sorted(split.items()):
                    module = kinds[name]
                    assert isinstance(module, ShardedKind)
                    job = kind_job(
                        epoch, name, module, (), snapshot, settings,
                        kind_pool(epoch, settings, name), states, kind_inputs,
                    )
                    done[name] = compute_sharded(
                        module,
                        job,
                        inputs_dir / sealed_file.name,
                        sealed_file,
                        runner_for(sealed_file.count),
                        Path(work) / name,
                    )
        finally:
            if own and pool:
                pool[0].close()
    computation = compute_epoch(
        epoch,
        reports,
        snapshot,
        settings,
        kinds,
        prior,
        states=states,
        kind_inputs=kind_inputs,
        equivocations=read_equivocations(inputs_dir),
        sharded=done,
    )
    return Recomputed(computation, snapshot)


def recompute(
    directory: Path, settings: Settings, kinds: Mapping[str, Kind]
) -> tuple[EpochComputation, ChainSnapshot]:
    """`recompute_epoch` as (computation, snapshot)."""
    again = recompute_epoch(directory, settings, kinds)
    return again.computation, again.snapshot
